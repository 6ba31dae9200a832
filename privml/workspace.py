"""Where privml keeps its local state: key store, object store, run records, credentials.

Found as git finds a repository: `$PRIVML_WORKSPACE` if set, else the nearest `.privml` folder in the
working folder or one of its parents (the walk stops at the filesystem root, at a mount boundary and at
any folder listed in `$PRIVML_CEILING_DIRECTORIES`, as GIT_CEILING_DIRECTORIES does), else a new
`.privml` in the working folder, announced on stderr. Commands that need keys or records that already
exist (`require_workspace`) never create one: they stop with "no privml workspace found", exit 2.

Every directory privml creates in a workspace is mode 0700 (`private_dir`). Job directories live in
`scratch/<run>/` while a local run executes; a runner that dies (kill -9) cannot wipe its own, so the
next privml command to start wipes the scratch of every run whose process is gone (`wipe_stale_scratch`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from privml.errors import PrivmlError

ENV_VAR = "PRIVML_WORKSPACE"
CEILING_ENV_VAR = "PRIVML_CEILING_DIRECTORIES"  # os.pathsep-separated folders the search never enters
DIRNAME = ".privml"
KEY_STORE = Path("kms") / "keystore.json"
SCRATCH = "scratch"
OWNER_FILE = "owner.pid"  # a run's scratch directory: the process id of the runner that owns it
# kept until the run's own recovery rolls its publications back (they hold object-store URIs, no data)
_RECOVERY_FILES = ("journal-*.json", OWNER_FILE)


class NoWorkspace(PrivmlError):
    """A command that needs existing keys or records found no workspace: exit 2."""


def _ceilings() -> set[Path]:
    raw = os.environ.get(CEILING_ENV_VAR, "")
    return {Path(part).expanduser().resolve() for part in raw.split(os.pathsep) if part.strip()}


def search_path(start: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for a `.privml`, nearest first: `start` (the working folder) and its parents,
    up to the filesystem root, the last folder on the same device, or a ceiling (excluded)."""
    current = Path(start or os.getcwd()).resolve()
    ceilings = _ceilings()
    try:
        device = current.stat().st_dev
    except OSError:
        return [current]
    folders = []
    while current not in ceilings:
        folders.append(current)
        parent = current.parent
        if parent == current:
            break
        try:
            if parent.stat().st_dev != device:  # a mount boundary, as git stops at one
                break
        except OSError:
            break
        current = parent
    return folders


def find_workspace(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The workspace in use, without creating anything: $PRIVML_WORKSPACE, else the nearest `.privml`."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    for folder in search_path(start):
        if (folder / DIRNAME).is_dir():
            return folder / DIRNAME
    return None


def _path(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    return find_workspace() or Path.cwd().resolve() / DIRNAME


_announced: set[Path] = set()


def workspace_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace directory: the explicit argument, else $PRIVML_WORKSPACE, else the nearest `.privml`
    here or in a parent folder, else a new `./.privml` (said on stderr once)."""
    path = _path(explicit)
    if not explicit and not os.environ.get(ENV_VAR) and not path.exists() and path not in _announced:
        _announced.add(path)
        logging.getLogger("privml").warning(
            "created a new workspace %s (no %s in this folder or its parents; set %s to use another)",
            path, DIRNAME, ENV_VAR)
    return private_dir(path)


def require_workspace(*, keys: bool = True) -> Path:
    """The workspace of a command that needs what is already in it (keys, objects, records): never creates
    one. Raises NoWorkspace naming where it searched; with `keys`, also when the workspace has no key store."""
    path = find_workspace()
    if path is None:
        searched = search_path()
        where = f"{searched[0]}" + (f" and {len(searched) - 1} parent folder(s) up to {searched[-1]}"
                                    if len(searched) > 1 else "")
        raise NoWorkspace(f"no privml workspace found (searched for {DIRNAME} in {where}; "
                          f"set {ENV_VAR} or run from the folder where you made your keys)")
    if not path.is_dir():
        raise NoWorkspace(f"no privml workspace found ({ENV_VAR}={path} does not exist)")
    if keys and not (path / KEY_STORE).is_file():
        raise NoWorkspace(f"no privml workspace found with keys: {path} has no key store ({KEY_STORE} not found)")
    return path


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
