"""The SageMaker scikit-learn image's Python stack, rebuilt from PyPI for contract tests.

`image_env()` builds, once per machine, a venv under ~/.cache/privml-tests/ holding what the serving and
training toolkits of `sagemaker-scikit-learn:1.4-2-py312` run on (the versions its requirements.txt pins:
aws/sagemaker-scikit-learn-container, tag v1.4-2-py312) plus privml's runtime dependencies, as an image
that already holds them would. privml itself is never installed there. Each test gets a `Container`: a
fresh venv layered on that image (a .pth file), so the toolkit's own `pip install` steps land in the
container and the cached image stays as built.

The build needs PyPI. When pip cannot reach the index at all, the tests that need the image skip, and say
so loudly; any other build failure is an error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.packaging import read_project

# From the image's requirements.txt (tag v1.4-2-py312): the serving and training toolkits and what they
# import. sagemaker-containers 2.8.6.post2 pins flask 1.1.1, which needs these old Jinja2/MarkupSafe.
IMAGE_STACK = (
    "sagemaker-containers==2.8.6.post2",
    "sagemaker-training==4.8.0",
    "Flask==1.1.1",
    "Werkzeug==2.0.3",
    "itsdangerous==2.0.1",
    "jinja2<3.0",
    "MarkupSafe<2.0",
    "gunicorn==23.0.0",
    "gevent",
    "protobuf==3.20.2",
    "six==1.16.0",
    "setuptools==80.9.0",
    "wheel",
    "retrying==1.3.3",
)
CACHE = Path(os.environ.get("PRIVML_TEST_CACHE", Path.home() / ".cache" / "privml-tests"))


def _requirements() -> list[str]:
    return [*IMAGE_STACK, *read_project().requirements]


def _key(requirements: list[str]) -> str:
    text = json.dumps([sys.version, *requirements])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          check=False, **kwargs)  # type: ignore[call-overload]


def _index_reachable(python: Path, scratch: Path) -> bool:
    probe = _run([str(python), "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", str(scratch),
                  "six==1.16.0"], timeout=120)
    return probe.returncode == 0


def _patch_for_python3_10_plus(site: Path) -> None:
    """What the image's Dockerfile does to sagemaker-containers: `collections.Mapping` is
    `collections.abc.Mapping` since Python 3.10 (docker/1.4-2-py312/final/Dockerfile.cpu)."""
    for package in ("sagemaker_containers", "sagemaker_training"):
        mapping = site / package / "_mapping.py"
        if mapping.is_file():
            text = mapping.read_text()
            mapping.write_text(text.replace("collections.Mapping", "collections.abc.Mapping").replace(
                "collections.abc.abc.", "collections.abc."))


def _site_packages(venv: Path) -> Path:
    rel = Path(sysconfig.get_path("purelib", vars={"base": ".", "platbase": "."}))
    return venv / rel


def image_env() -> Path:
    """The cached image venv (built on first use, under a lock so parallel workers build it once)."""
    requirements = _requirements()
    venv = CACHE / f"sklearn-1.4-2-stack-{_key(requirements)}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / "BUILT").is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        made = _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
        assert made.returncode == 0, made.stderr
        python = venv / "bin" / "python"
        if not _index_reachable(python, CACHE / "probe"):
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip("SKIPPED LOUDLY: pip cannot reach the package index, so the SageMaker toolkit image "
                        "cannot be built; the serving/training contract tests did not run")
        for step in (["pip>=25.3"], requirements):  # a current pip: `pip install .` always builds PEP 517
            done = _run([str(python), "-m", "pip", "install", "-q", *step], timeout=1800)
            assert done.returncode == 0, (f"building the toolkit image failed:\n{done.stdout[-3000:]}\n"
                                          f"{done.stderr[-3000:]}")
        _patch_for_python3_10_plus(_site_packages(venv))
        (venv / "BUILT").write_text("\n".join(requirements) + "\n")
    return venv


@dataclass(frozen=True)
class Container:
    """A fresh interpreter environment on top of the image: what one container run may change."""

    root: Path
    image: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR")}
        # no host pip configuration: the container's pip sees only what the artifact and image give it
        return {**keep, "PATH": f"{self.bin}:{self.image / 'bin'}:/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1", "PIP_CONFIG_FILE": os.devnull, "OMP_NUM_THREADS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", **extra}


def new_container(root: Path) -> Container:
    image = image_env()
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(root)], timeout=120)
    assert made.returncode == 0, made.stderr
    site = _site_packages(root)
    # addsitedir, not a bare path: the image's own .pth files (setuptools' distutils shim) apply too
    (site / "zz_image.pth").write_text(f"import site; site.addsitedir({str(_site_packages(image))!r})\n")
    # the image's console scripts, on this interpreter (their shebangs name the image's)
    for script in ("gunicorn",):
        wrapper = root / "bin" / script
        wrapper.write_text(f"#!{root / 'bin' / 'python'}\nimport sys\nfrom gunicorn.app.wsgiapp import run\n"
                           "sys.exit(run())\n")
        wrapper.chmod(0o755)
    return Container(root, image)
