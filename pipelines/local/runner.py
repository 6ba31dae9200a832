"""Run one host of a job as a subprocess that sees only what the definition shipped to it.

The "image" is this interpreter's standard library and site-packages, read-only, without `.pth`
processing (so the editable install of privml and the repository are invisible). The job's shipped
wheels (any `*.whl` in its inputs that this interpreter can load, as `pip install --no-index --find-links
<code>/wheels` would find them; wheels built for the image profile's Python are proved by the dependency
check instead, pipelines/local/dependencies.py) are unpacked into the job's own image layer; privml is
importable only from there. The
interpreter runs isolated (`-I -S -B`) from a bootstrap copied into the job directory, with a cwd
inside the job directory and HOME/TMPDIR pointing into it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from pipelines.local.controls import JobControls, sandbox_prefix
from pipelines.local.jobdir import HostDir
from privml.errors import PrivmlError
from privml.workspace import private_dir

BOOT_SOURCE = Path(__file__).with_name("job_boot.py")
IMAGE_LAYER = "_image"
# Distributions the "image" never provides: the job must bring them in its code input.
NOT_IN_IMAGE = frozenset({"privml"})
_SYSTEM_READ_ROOTS = ("/usr", "/lib", "/lib64", "/etc", "/dev", "/proc", "/sys", "/bin")
_REQ_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_sys_path() -> list[str]:
    """The stdlib and site-packages entries of this interpreter's sys.path, nothing from the repo."""
    paths = sysconfig.get_paths()
    keep = [paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]]
    dynload = [p for p in sys.path if p.endswith("lib-dynload")]
    zips = [p for p in sys.path if p.endswith(".zip") and "python3" in Path(p).name]
    out: list[str] = []
    for entry in zips + keep[:2] + dynload + keep[2:]:
        if entry and entry not in out:
            out.append(entry)
    return out


def image_distributions() -> set[str]:
    names = set()
    for entry in image_sys_path():
        for dist in metadata.distributions(path=[entry]):
            name = dist.metadata.get("Name")
            if name:
                names.add(_normalize(name))
    return names - NOT_IN_IMAGE


def _extract_private(archive: zipfile.ZipFile, layer: Path) -> None:
    """`extractall`, but every directory it makes is 0700 like the rest of the job's tree (zipfile's
    makedirs would give them the umask's mode)."""
    for member in archive.infolist():
        target = layer / member.filename
        if member.is_dir():
            private_dir(target)
            continue
        private_dir(target.parent)
        archive.extract(member, layer)


def install_shipped_wheels(hd: HostDir, search_dirs: list[Path]) -> list[str]:
    """Unpack every shipped wheel into the job's image layer; check that what they require is either in
    the image or shipped too (as pip --no-index would). Returns the distribution names installed."""
    layer = private_dir(hd.root / IMAGE_LAYER)
    wheels = sorted({w for d in search_dirs if d.is_dir() for w in d.rglob("*.whl")})
    # A wheelhouse built for the image profile's Python (say cp312) cannot load in this interpreter; the
    # dependency check proved it for the profile, and here this interpreter's own packages stand in for it.
    wheels = [w for w in wheels if _runs_here(w)]
    installed: dict[str, list[str]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise PrivmlError(f"shipped wheel {wheel.name} has an unsafe member path")
            _extract_private(zf, layer)
            meta_name = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
            requires: list[str] = []
            name = _normalize(wheel.name.split("-", 1)[0])
            if meta_name:
                meta = Parser().parsestr(zf.read(meta_name).decode("utf-8", "replace"))
                name = _normalize(meta.get("Name", name))
                requires = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
            installed[name] = requires
    if installed:
        available = image_distributions() | set(installed)
        missing = sorted({
            _normalize(m.group(1)) for reqs in installed.values() for r in reqs
            if (m := _REQ_NAME.match(r)) and _normalize(m.group(1)) not in available
        })
        if missing:
            raise JobSetupError(
                f"shipped wheels require {', '.join(missing)}, which neither the image nor the job's "
                "wheelhouse provides (pip install --no-index would fail)"
            )
    return sorted(installed)


def _runs_here(wheel: Path) -> bool:
    from packaging.tags import sys_tags
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename:
        return True  # not ours to judge: unpacking it fails or succeeds as before
    return not tags.isdisjoint(set(sys_tags()))


def check_requirements(requirements: Path | None, shipped: list[str]) -> None:
    """A training job's requirements file (sourcecode.json): each must be in the image or shipped."""
    if requirements is None:
        return
    if not requirements.is_file():
        raise JobSetupError(f"requirements file {requirements.name} named by sourcecode.json is not in the code")
    available = image_distributions() | set(shipped)
    missing = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = _REQ_NAME.match(line)
        if m and _normalize(m.group(1)) not in available:
            missing.append(_normalize(m.group(1)))
    if missing:
        raise JobSetupError(
            f"requirements {', '.join(sorted(missing))} are neither in the image nor shipped as wheels; "
            "local mode installs nothing from the network"
        )


class JobSetupError(PrivmlError):
    """The job cannot start as shipped (a packaging mistake): fails the step with this reason."""


@dataclass
class HostResult:
    host: str
    returncode: int
    seconds: float
    stderr_tail: str
    timed_out: bool = False


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the runner dies (kill -9 of the runner kills its jobs)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_host(
    hd: HostDir,
    script: str,
    args: list[str],
    cwd: Path,
    controls: JobControls,
    key_store: Path | None = None,
) -> tuple[subprocess.Popen[bytes], float]:
    if not hd.host_path(script).is_file():
        raise JobSetupError(f"entry script {Path(script).name} was not shipped to the job")
    boot = hd.root / IMAGE_LAYER / "boot.py"
    private_dir(boot.parent)
    boot.write_bytes(BOOT_SOURCE.read_bytes())
    layer = str(hd.root / IMAGE_LAYER)
    image = image_sys_path()
    sandbox = {
        "sys_path": [layer, *image],
        "read_roots": [str(hd.root), *image, sys.base_prefix, sys.prefix, *_SYSTEM_READ_ROOTS],
        "write_roots": [str(hd.root), *(["/opt/ml"] if hd.mounted else [])],
        "parent_pid": os.getpid(),
        "network_isolation": controls.no_network,
        "own_network_namespace": controls.no_network and hd.mounted,
        "script": str(script),
        "args": args,
    }
    kms_env: dict[str, str] = {}
    if key_store is not None:
        # Only a step the definition lets call KMS (the key-preparation step) gets here: the local KMS stands
        # in for AWS KMS, so the job may read the key store (and take its lock), through a workspace of its
        # own that holds nothing else. Every other job gets no key store and no credentials at all.
        job_ws = hd.root / "privml-workspace"
        private_dir(job_ws)
        link = job_ws / "kms"
        if not link.exists():
            link.symlink_to(key_store.parent, target_is_directory=True)
        sandbox["read_roots"].append(str(key_store.parent))
        sandbox["write_roots"].append(str(key_store.parent / ".keystore.lock"))
        kms_env = {"PRIVML_WORKSPACE": str(job_ws), "PRIVML_KEY_PROVIDER": "local"}
        passphrase = os.environ.get("PRIVML_KEYSTORE_PASSPHRASE")
        if passphrase:
            kms_env["PRIVML_KEYSTORE_PASSPHRASE"] = passphrase
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(hd.root / "home"),
        "TMPDIR": str(hd.scratch),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        # One OpenMP thread per job unless the user says otherwise: on a shared, oversubscribed machine
        # OpenMP's barriers make scikit-learn's HistGradientBoosting ~100x slower with 2 threads (measured).
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        **hd.env,
        **kms_env,  # after the request's Environment: its PRIVML_KEY_PROVIDER=aws means the local KMS here
        "PRIVML_JOB_SANDBOX": json.dumps(sandbox),
    }
    command = [*sandbox_prefix(controls, hd.root / "opt/ml", hd.mounted), sys.executable, "-I", "-S", "-B", str(boot)]
    log_dir = hd.root / "logs"
    private_dir(log_dir)
    stdout = open(log_dir / "stdout", "wb")  # noqa: SIM115 - closed by wait_host
    stderr = open(log_dir / "stderr", "wb")  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            preexec_fn=_die_with_parent)
    stdout.close()
    stderr.close()
    return proc, started


def wait_host(hd: HostDir, proc: subprocess.Popen[bytes], started: float, timeout: float | None) -> HostResult:
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        timed_out = True
    seconds = time.perf_counter() - started
    tail = ""
    err = hd.root / "logs" / "stderr"
    if err.is_file():
        with open(err, "rb") as fh:
            fh.seek(max(0, err.stat().st_size - 4096))
            tail = fh.read().decode("utf-8", "replace")
    return HostResult(host=hd.host, returncode=proc.returncode, seconds=seconds, stderr_tail=tail,
                      timed_out=timed_out)
