"""Where privml keeps its local state: key store, object store, run records, credentials.

Every directory privml creates in a workspace is mode 0700 (`private_dir`). Job directories live in
`scratch/<run>/` while a local run executes; a runner that dies (kill -9) cannot wipe its own, so the
next privml command to start wipes the scratch of every run whose process is gone (`wipe_stale_scratch`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

ENV_VAR = "PRIVML_WORKSPACE"
SCRATCH = "scratch"
OWNER_FILE = "owner.pid"  # a run's scratch directory: the process id of the runner that owns it
# kept until the run's own recovery rolls its publications back (they hold object-store URIs, no data)
_RECOVERY_FILES = ("journal-*.json", OWNER_FILE)


def _path(explicit: str | os.PathLike[str] | None) -> Path:
    raw = explicit or os.environ.get(ENV_VAR) or ".privml"
    return Path(raw).expanduser().resolve()


def workspace_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace directory: the explicit argument, else $PRIVML_WORKSPACE, else ./.privml."""
    return private_dir(_path(explicit))


def private_dir(path: Path) -> Path:
    """`mkdir -p` whose every created directory is 0700 (`mkdir(parents=True)` gives the parents it
    creates the umask's mode, typically 0755)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    return path


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal still exists)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _overwrite_and_remove(path: Path) -> None:
    """Overwrite a regular file with random bytes, then unlink it (the best user space can do: on
    copy-on-write or flash storage old blocks may survive)."""
    with contextlib.suppress(OSError):
        if not path.is_symlink() and path.is_file():
            remaining = path.stat().st_size
            with open(path, "r+b", buffering=0) as fh:
                while remaining > 0:
                    chunk = min(remaining, 1 << 20)
                    fh.write(os.urandom(chunk))
                    remaining -= chunk
                os.fsync(fh.fileno())
    with contextlib.suppress(OSError):
        path.unlink()


def _just_created(run: Path) -> bool:
    """A runner creates its scratch directory, then writes its owner file: do not race it."""
    import time

    with contextlib.suppress(OSError):
        return time.time() - run.stat().st_mtime < 60
    return False


def wipe_stale_scratch(explicit: str | os.PathLike[str] | None = None) -> list[str]:
    """Wipe the job data in `scratch/<run>/` of every run whose runner process is gone; returns the run
    ids wiped. Journals and the owner file stay for the run's recovery (pipelines/local/executor.py)."""
    scratch = _path(explicit) / SCRATCH
    if not scratch.is_dir():
        return []
    wiped = []
    for run in sorted(p for p in scratch.iterdir() if p.is_dir() and not p.is_symlink()):
        try:
            pid = int((run / OWNER_FILE).read_text())
        except (OSError, ValueError):
            pid = 0
        if process_alive(pid) or (pid == 0 and _just_created(run)):
            continue
        kept = {p for pattern in _RECOVERY_FILES for p in run.glob(pattern)}
        for dirpath, dirs, files in os.walk(run, topdown=False, followlinks=False):
            for name in files:
                file = Path(dirpath) / name
                if file not in kept:
                    _overwrite_and_remove(file)
            for name in dirs:
                directory = Path(dirpath) / name
                if directory.is_symlink():
                    directory.unlink(missing_ok=True)
                else:
                    shutil.rmtree(directory, ignore_errors=True)
        if not kept:
            shutil.rmtree(run, ignore_errors=True)
        wiped.append(run.name)
    return wiped
