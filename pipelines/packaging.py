"""Ship the job code and its dependencies to jobs that run in network isolation.

Each job's code input is a bundle directory: the entry script, the job runner (privml/job_runner.py, as
`job_runner.py`: it runs before privml is importable) and `wheels/` holding a wheel of the `privml`
library and, when configured, the wheels of its runtime dependencies. The runner runs
`pip install --no-index --isolated --find-links <code>/wheels privml` when privml is not importable.

The wheel declares the job requirement set (pyproject's dependencies minus the names
`[tool.privml.requirements]` keeps on the user's machine) and a `serve` extra with the serving stack, so
what a job installs is exactly what `privml wheelhouse` downloads and the resolution check proves.

The privml wheel is assembled here with zipfile rather than by `pip wheel`: building through pip
needs a build backend from PyPI (build isolation) or the `wheel` package, and a definition must be
buildable with no network at all. The archive is deterministic (fixed timestamps, sorted entries),
so the same source gives the same bytes and the same code hash in S3.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from privml.errors import PrivmlError

REPO_ROOT = Path(__file__).resolve().parent.parent
JOB_RUNNER = Path("privml/job_runner.py")  # shipped in every bundle as BUNDLE_RUNNER, beside the entry script
BUNDLE_RUNNER = "job_runner.py"
# The library the jobs import; the orchestration packages (pipelines/) stay on the user's machine.
SHIPPED_PACKAGES = ("privml", "inference")  # the model artifact carries the serving handler
SERVE_EXTRA = "serve"
_DATA_SUFFIXES = (".py", ".typed", ".json", ".yaml", ".yml", ".html", ".css", ".txt", ".csv", ".j2", ".txt.gz")
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    requires_python: str
    # What the jobs import: the privml wheel's Requires-Dist. The SageMaker SDK alone would add hundreds of
    # megabytes (mlflow) to a wheelhouse for nothing, and moto is a test double.
    requirements: tuple[str, ...]
    serving_requirements: tuple[str, ...] = ()  # the wheel's `serve` extra
    orchestration_requirements: tuple[str, ...] = ()  # never shipped

    def requirement_set(self, *, serving: bool = False) -> tuple[str, ...]:
        return self.requirements + (self.serving_requirements if serving else ())


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise PrivmlError(f"pyproject.toml: unreadable requirement {requirement!r}")
    return normalize(match.group(1))


def read_project(root: Path = REPO_ROOT) -> Project:
    try:
        doc = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PrivmlError(f"{root / 'pyproject.toml'}: cannot read the project metadata ({exc})") from None
    project = doc["project"]
    groups = doc.get("tool", {}).get("privml", {}).get("requirements", {})
    orchestration = {normalize(n) for n in groups.get("orchestration", [])}
    serving = {normalize(n) for n in groups.get("serving", [])}
    dependencies = list(project.get("dependencies", []))
    unknown = (orchestration | serving) - {requirement_name(r) for r in dependencies}
    if unknown:
        raise PrivmlError(f"pyproject.toml: [tool.privml.requirements] names {', '.join(sorted(unknown))}, "
                          "which are not in project.dependencies")

    def group(names: set[str] | None) -> tuple[str, ...]:
        if names is None:
            return tuple(r for r in dependencies if requirement_name(r) not in orchestration | serving)
        return tuple(r for r in dependencies if requirement_name(r) in names)

    return Project(project["name"], project["version"], project.get("requires-python", ""), group(None),
                   group(serving), group(orchestration))


def _in_extra(requirement: str, extra: str) -> str:
    """`uvloop>=0.19; sys_platform != 'win32'` -> `uvloop>=0.19; (sys_platform != "win32") and extra == "serve"`."""
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    condition = f'extra == "{extra}"'
    marker = f"({parsed.marker}) and {condition}" if parsed.marker else condition
    parsed.marker = None
    return f"{parsed}; {marker}"


def wheel_metadata(project: Project) -> str:
    """The METADATA of the privml wheel: the job requirement set, and the serving stack as the `serve` extra."""
    lines = ["Metadata-Version: 2.1", f"Name: {project.name}", f"Version: {project.version}"]
    if project.requires_python:
        lines.append(f"Requires-Python: {project.requires_python}")
    lines += [f"Requires-Dist: {r}" for r in project.requirements]
    if project.serving_requirements:
        lines.append(f"Provides-Extra: {SERVE_EXTRA}")
        lines += [f"Requires-Dist: {_in_extra(r, SERVE_EXTRA)}" for r in project.serving_requirements]
    return "\n".join(lines) + "\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _package_files(root: Path) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for package in SHIPPED_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or not path.name.endswith(_DATA_SUFFIXES):
                continue
            files.append((path.relative_to(root).as_posix(), path.read_bytes()))
    return files


def build_privml_wheel(out_dir: Path, root: Path = REPO_ROOT) -> Path:
    """Write `privml-<version>-py3-none-any.whl` into out_dir and return its path."""
    project = read_project(root)
    dist = f"{normalize(project.name).replace('-', '_')}-{project.version}"
    info = f"{dist}.dist-info"
    entries = _package_files(root)
    entries.append((f"{info}/METADATA", wheel_metadata(project).encode()))
    entries.append(
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: privml\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    )
    entries.append((f"{info}/top_level.txt", ("\n".join(SHIPPED_PACKAGES) + "\n").encode()))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    record += f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{dist}-py3-none-any.whl"
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            item = zipfile.ZipInfo(name, date_time=_EPOCH)
            item.external_attr = 0o644 << 16
            item.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(item, data)
    tmp.replace(target)
    return target


def make_bundle(entry_script: Path, bundle_dir: Path, privml_wheel: Path, wheelhouse: Path | None) -> Path:
    """Lay out one job's code input: the entry script, the job runner and `wheels/`. Returns the bundle
    directory."""
    if not entry_script.is_file():
        raise PrivmlError(f"{entry_script}: job entry script not found")
    wheels = bundle_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    shutil.copy2(entry_script, bundle_dir / entry_script.name)
    shutil.copy2(REPO_ROOT / JOB_RUNNER, bundle_dir / BUNDLE_RUNNER)
    shutil.copy2(privml_wheel, wheels / privml_wheel.name)
    if wheelhouse is not None:
        if not wheelhouse.is_dir():
            raise PrivmlError(f"code.wheelhouse: {wheelhouse} is not a directory")
        for wheel in sorted(wheelhouse.glob("*.whl")):
            if normalize(wheel.name.split("-", 1)[0]) != "privml":
                shutil.copy2(wheel, wheels / wheel.name)
    return bundle_dir


def tree_digest(directory: Path) -> str:
    """A short content hash of a directory tree (names and bytes), for content-addressed S3 keys."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
