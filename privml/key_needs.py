"""Which derived secrets a policy's keyed techniques need, and which of them the served model needs.

The key-preparation step derives exactly these (and nothing else) for the network-isolated jobs: all of
them for the Anonymize job, and for the endpoint only those of columns the model can read. Identifier
columns are never model features (training leaves them out whatever their action), so the endpoint
never needs their secrets; the label is never transformed.
"""

from __future__ import annotations

from privml.crypto.key_file import SecretNeed
from privml.policy import Policy, Role
from privml.transforms import technique_class


def keyed_columns(policy: Policy) -> dict[str, str]:
    """Column → its keyed action, for every column whose action needs a key."""
    return {name: spec.action for name, spec in policy.columns.items()
            if spec.role is not Role.LABEL and technique_class(spec.action).needs_key}


def secret_needs(policy: Policy, *, served_only: bool = False) -> list[SecretNeed]:
    """The (key reference, purpose, length) triples the policy's keyed techniques derive, in column order,
    without repeats. `served_only`: only those of columns the served model reads (not identifiers)."""
    needs: list[SecretNeed] = []
    for name in keyed_columns(policy):
        spec = policy.columns[name]
        if served_only and spec.role is Role.IDENTIFIER:
            continue
        cls = technique_class(spec.action)
        assert spec.key is not None  # the policy validator requires a key for keyed actions
        need = SecretNeed(policy.keys[spec.key], cls.purpose, cls.secret_length)
        if need not in needs:
            needs.append(need)
    return needs
