"""Writing a file so that readers and crashes see either the old file or the whole new one: write to a
temporary file in the same directory (mode 0600), fsync, rename over the target; remove it on failure."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from privml.errors import PrivmlError


@contextlib.contextmanager
def atomic_output(path: Path, *, fsync: bool = True, mode: int = 0o600) -> Iterator[int]:
    """Yield a file descriptor; on a clean exit the data appears at `path`, else nothing does."""
    parent = path.parent
    if not parent.is_dir():
        raise PrivmlError(f"output directory does not exist: {parent}")
    if path.is_dir():
        raise PrivmlError(f"output is a directory, not a file: {path}")
    tmp = parent / f".{path.name}.{secrets.token_hex(6)}.partial"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise PrivmlError(f"cannot write {path}: {exc.strerror}") from None
    try:
        try:
            yield fd
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if fsync:
            _fsync_dir(parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
