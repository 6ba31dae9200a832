"""Outputs appear whole or not at all: write to a temporary sibling, rename on success."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from privml.errors import PrivmlError

# A directory privml wrote carries this marker, so a rerun may replace it; any other non-empty
# directory is the user's and is never overwritten.
OUTPUT_MARKER = ".privml-output"


@contextlib.contextmanager
def atomic_output(path: Path, *, fsync: bool = True, mode: int = 0o600) -> Iterator[int]:
    """Yield a file descriptor; on a clean exit the data appears at `path`, else nothing does.

    The temporary file lives in the same directory (so the rename is atomic) with mode 0600 from birth.
    """
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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, mode=mode) as fd:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that becomes `path` only if the block completes.

    On any exception the temporary directory is removed and `path` is untouched.
    """
    target = Path(path)
    if target.exists():
        if not target.is_dir():
            raise PrivmlError(f"{target}: exists and is not a directory")
        if any(target.iterdir()) and not (target / OUTPUT_MARKER).exists():
            raise PrivmlError(f"{target}: directory is not empty and was not written by privml; choose another")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        (tmp / OUTPUT_MARKER).write_text("written by privml\n", encoding="utf-8")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
