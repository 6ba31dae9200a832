"""Outputs appear whole or not at all: write to an unnamed file, give it its name on success.

Where the filesystem allows (Linux, O_TMPFILE: ext4, xfs, btrfs, tmpfs), the partial output is created
unlinked in the target directory: it has no name until it is complete, so a process killed mid-write
(even by SIGKILL) leaves nothing behind: the kernel frees the blocks when the descriptor goes. Elsewhere
it is a hidden `.NAME.*.partial` sibling, removed on every exit path Python sees but left by a SIGKILL.
"""

from __future__ import annotations

import contextlib
import errno
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
    unnamed = _open_unnamed(parent, mode, path)
    try:
        fd = unnamed if unnamed is not None else os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise PrivmlError(f"cannot write {path}: {exc.strerror}") from None
    try:
        try:
            yield fd
            if fsync:
                os.fsync(fd)
            if unnamed is not None:  # complete: only now does the data get a name
                _link_unnamed(fd, tmp)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if fsync:
            _fsync_dir(parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _link_unnamed(fd: int, name: Path) -> None:
    # linkat(AT_SYMLINK_FOLLOW) on the /proc link; os.link calls plain link(2), which refuses it, unless
    # a directory descriptor is given
    directory = os.open(name.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", name.name, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


def _open_unnamed(parent: Path, mode: int, path: Path) -> int | None:
    """An O_TMPFILE descriptor in `parent`, or None where the platform or filesystem has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(parent, flag | os.O_WRONLY, mode)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None
        raise PrivmlError(f"cannot write {path}: {exc.strerror}") from None


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
