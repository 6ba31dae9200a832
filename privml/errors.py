"""The error types every layer raises; the CLI maps them to exit codes.

Messages name files, columns, fields and rows — never a value from the data (invariant 1).
"""

from __future__ import annotations


class PrivmlError(Exception):
    """Bad usage or bad input: exit code 2."""

    exit_code = 2


class CheckFailed(PrivmlError):
    """The input was fine but a check failed (privacy target missed, audit finding): exit code 1."""

    exit_code = 1


class KeyUnavailable(PrivmlError):
    """A key is unknown, disabled, deleted or the key store is unusable."""


class IntegrityError(PrivmlError):
    """Authenticated data failed authentication (tampering, wrong key or wrong context)."""
