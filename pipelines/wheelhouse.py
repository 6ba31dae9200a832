"""The dependencies of the jobs, for an image profile: build a wheelhouse, and prove it resolves.

`build_wheelhouse` runs `pip download --only-binary=:all:` with the profile's Python version, implementation,
ABI and platform tags for privml's job requirement set (plus the serving stack and the build requirements for
the privml image, which installs from the same directory). It writes `requirements.txt`, the set it was
built for, into the directory.

`check_wheelhouse` is the proof: pip's own resolver, as a dry run, installing `privml` exactly as a job's
bootstrap does (`--no-index --find-links` over the wheelhouse and the privml wheel) for the profile's tags,
with `--ignore-installed` so nothing the image or this machine holds can stand in for a missing wheel. pip
runs with no configuration file and no PIP_* variables, so a find-links or index of this machine's pip
config cannot make it pass either. A failed resolution names the requirement pip could not satisfy.

`check_against_index` is local mode's answer when no wheelhouse is configured: the same resolution against
the package index (this machine's pip configuration), cached per machine by a hash of the requirement set
and the profile; when pip cannot reach the index the result says "unchecked", never "passed".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelines import packaging
from pipelines.images.profiles import ImageProfile
from privml.errors import PrivmlError

How = Literal["wheelhouse", "index", "image", "unchecked"]
REQUIREMENTS_FILE = "requirements.txt"
BUILD_REQUIREMENTS_FILE = "build-requirements.txt"  # privml image only: what builds privml's wheel
_PIP_TIMEOUT_SECONDS = 900
MIN_PIP = "24.2"  # the first pip whose `install --python-version` applies Requires-Python for that version
_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._\-\[\]]*)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement ([^\s]+)")
_NETWORK_MARKERS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name",
                    "Name or service not known", "Network is unreachable", "ConnectTimeoutError",
                    "ProxyError", "Connection refused", "Read timed out")


@dataclass
class Resolution:
    """The outcome of a dependency check for one profile."""

    profile: str
    how: How
    detail: str
    packages: dict[str, str] = field(default_factory=dict)  # resolved name -> version
    replaces: dict[str, str] = field(default_factory=dict)  # image package -> "held -> installed"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_requirements(profile: ImageProfile) -> list[str]:
    """The requirement set jobs on this profile install (plus the serving stack where privml serves itself)."""
    project = packaging.read_project()
    return list(project.requirement_set(serving=profile.kind == "privml"))


def _build_requirements() -> list[str]:
    import tomllib

    doc = tomllib.loads((packaging.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(doc.get("build-system", {}).get("requires", []))


def _isolated_env() -> dict[str, str]:
    """The environment of an offline pip: no config file, no PIP_* variable (find-links, index, constraints)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _require_pip() -> None:
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        found = version("pip")
    except PackageNotFoundError:
        raise PrivmlError(f"the dependency check needs pip in {sys.executable}'s environment") from None
    if Version(found) < Version(MIN_PIP):
        raise PrivmlError(f"pip {found} checks Requires-Python against this interpreter, not the image's: "
                          f"the dependency check needs pip >= {MIN_PIP} (pip install -U 'pip>={MIN_PIP}')")


def _pip(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    _require_pip()
    try:
        return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                              timeout=_PIP_TIMEOUT_SECONDS, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise PrivmlError(f"pip did not finish within {_PIP_TIMEOUT_SECONDS} s") from None


def _errors(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("ERROR:")]
    return " / ".join(lines[:3]) or (stderr.strip().splitlines() or ["pip failed"])[-1]


def _missing(stderr: str) -> list[str]:
    names = _NO_MATCH.findall(stderr) or _NO_VERSION.findall(stderr)
    return sorted(dict.fromkeys(names))


def build_wheelhouse(profile: ImageProfile, out_dir: Path) -> dict[str, Any]:
    """`pip download` the job requirement set for the profile into out_dir; then prove it resolves."""
    requirements = job_requirements(profile)
    build = _build_requirements() if profile.kind == "privml" else []  # docker/Dockerfile builds privml too
    out_dir.mkdir(parents=True, exist_ok=True)
    header = f"# privml {packaging.read_project().version}, image profile {profile.name}: "
    (out_dir / REQUIREMENTS_FILE).write_text(
        header + "the job requirement set\n" + "\n".join(requirements) + "\n", encoding="utf-8")
    if build:
        (out_dir / BUILD_REQUIREMENTS_FILE).write_text(
            header + "what builds the privml wheel\n" + "\n".join(build) + "\n", encoding="utf-8")
    started = time.perf_counter()
    result = _pip(["download", "--dest", str(out_dir), *profile.pip_target_options(), *requirements, *build])
    if result.returncode != 0:
        missing = _missing(result.stderr)
        what = f"no wheel of {', '.join(missing)} for" if missing else "cannot download the requirement set for"
        raise PrivmlError(f"--profile {profile.name}: {what} Python {profile.python_version} "
                          f"({profile.abi}, {profile.platforms[0]}): {_errors(result.stderr)}")
    resolution = check_wheelhouse(profile, out_dir)
    return {"profile": profile.name, "wheelhouse": str(out_dir), "wheels": len(list(out_dir.glob("*.whl"))),
            "download_seconds": round(time.perf_counter() - started - resolution.seconds, 1),
            "resolution": resolution.to_dict()}


def _dry_run(profile: ImageProfile, requirement: str, find_links: list[Path], *, offline: bool,
             extra: list[str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="privml-resolve-") as target:
        args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-", "--target", target,
                *profile.pip_target_options(), *(extra or [])]
        if offline:
            args += ["--no-index", "--isolated"]
        for directory in find_links:
            args += ["--find-links", str(directory)]
        result = _pip([*args, requirement], env=_isolated_env() if offline else None)
    packages: dict[str, str] = {}
    if result.returncode == 0:
        try:
            report = json.loads(result.stdout)
        except ValueError:
            raise PrivmlError("pip's resolution report is not JSON") from None
        packages = {packaging.normalize(item["metadata"]["name"]): item["metadata"]["version"]
                    for item in report.get("install", [])}
    return result, packages


def _replaces(profile: ImageProfile, packages: dict[str, str]) -> dict[str, str]:
    """Image packages whose pinned version the job install replaces (pip would reinstall them)."""
    out = {}
    for name, held in profile.packages.items():
        installed = packages.get(packaging.normalize(name))
        if installed and re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", held) and held != installed:
            out[packaging.normalize(name)] = f"{held} -> {installed}"
    return out


def _privml_requirement(profile: ImageProfile) -> str:
    return f"privml[{packaging.SERVE_EXTRA}]" if profile.kind == "privml" else "privml"


def check_wheelhouse(profile: ImageProfile, wheelhouse: Path, *, field_name: str = "code.wheelhouse") -> Resolution:
    """Prove, offline, that `pip install --no-index --find-links` of the job bundle resolves for the profile.

    Raises PrivmlError (exit 2) naming the requirement pip could not satisfy."""
    if not wheelhouse.is_dir():
        raise PrivmlError(f"{field_name}: {wheelhouse} is not a directory")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privml-wheel-") as tmp:
        wheel_dir = packaging.build_privml_wheel(Path(tmp)).parent
        result, packages = _dry_run(profile, _privml_requirement(profile), [wheelhouse, wheel_dir], offline=True)
    seconds = round(time.perf_counter() - started, 2)
    if result.returncode != 0:
        missing = _missing(result.stderr)
        named = f"no wheel satisfies {', '.join(missing)}; " if missing else ""
        raise PrivmlError(
            f"{field_name}: {wheelhouse} does not resolve for image profile {profile.name} (Python "
            f"{profile.python_version}, {profile.abi}, {profile.platforms[0]}): {named}pip: {_errors(result.stderr)} "
            f"(rebuild it with `privml wheelhouse --profile {profile.name} -o {wheelhouse}`)")
    return Resolution(profile.name, "wheelhouse",
                      f"resolved offline by pip against the wheelhouse {wheelhouse} ({len(packages)} distributions)",
                      packages, _replaces(profile, packages), seconds)


def cache_dir() -> Path:
    """Per machine, not per workspace: the index resolution of one requirement set holds for every run."""
    base = os.environ.get("PRIVML_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "privml")
    return Path(base) / "resolutions"


def _cache_key(profile: ImageProfile) -> str:
    project = packaging.read_project()
    material = {"requires_python": project.requires_python, "requirements": job_requirements(profile),
                "target": profile.pip_target_options()}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]


def check_against_index(profile: ImageProfile) -> Resolution:
    """Resolve the job requirement set for the profile against the package index (no wheelhouse configured).

    A resolution pip refuses raises PrivmlError; an index pip cannot reach gives how="unchecked"."""
    key = _cache_key(profile)
    cached = cache_dir() / f"{key}.json"
    try:
        entry = json.loads(cached.read_text(encoding="utf-8"))
        return Resolution(**{**entry, "detail": entry["detail"] + " (cached on this machine)", "seconds": 0.0})
    except (OSError, ValueError, TypeError, KeyError):
        pass
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privml-wheel-") as tmp:
        wheel_dir = packaging.build_privml_wheel(Path(tmp)).parent
        # Short timeouts: with no index reachable this answers "unchecked" in seconds, not minutes of retries.
        result, packages = _dry_run(profile, _privml_requirement(profile), [wheel_dir], offline=False,
                                    extra=["--timeout", "15", "--retries", "1"])
    seconds = round(time.perf_counter() - started, 2)
    if result.returncode != 0:
        if any(marker in result.stderr for marker in _NETWORK_MARKERS):
            return Resolution(profile.name, "unchecked",
                              "unchecked: no wheelhouse is configured and pip could not reach the package index",
                              seconds=seconds)
        missing = _missing(result.stderr)
        named = f"nothing on the index satisfies {', '.join(missing)}; " if missing else ""
        raise PrivmlError(f"image profile {profile.name}: privml's job requirement set does not resolve for "
                          f"Python {profile.python_version} ({profile.abi}, {profile.platforms[0]}): {named}"
                          f"pip: {_errors(result.stderr)}")
    resolution = Resolution(profile.name, "index",
                            "resolved by pip against the package index, not a wheelhouse "
                            f"({len(packages)} distributions)", packages, _replaces(profile, packages), seconds)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_path.write_text(json.dumps(resolution.to_dict()), encoding="utf-8")
    tmp_path.replace(cached)
    return resolution


def image_holds_privml(profile: ImageProfile) -> Resolution:
    return Resolution(profile.name, "image", "the image holds privml and its dependencies (installed at build "
                      "time from a wheelhouse resolved for this profile; docker/Dockerfile); nothing is installed "
                      "at run time")


def check_profile(profile: ImageProfile, wheelhouse: Path | None, *, offline_only: bool) -> Resolution:
    """The check a run makes for one profile: the image's own, the wheelhouse's, or (local mode without a
    wheelhouse) the index's. `offline_only` (AWS): no wheelhouse is an error naming code.wheelhouse."""
    if profile.holds_privml:
        return image_holds_privml(profile)
    if wheelhouse is not None:
        return check_wheelhouse(profile, wheelhouse)
    if offline_only:
        raise PrivmlError(
            f"code.wheelhouse: jobs run in network isolation and cannot pip install; the image of profile "
            f"{profile.name} does not hold privml's dependencies: build a wheelhouse with `privml wheelhouse "
            f"--profile {profile.name} -o DIR` and set code.wheelhouse: DIR (or use the privml image: `privml image`)")
    return check_against_index(profile)
