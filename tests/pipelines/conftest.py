"""Fixtures for the pipeline tests: one definition built per session (a build takes seconds)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import PipelineConfig
from pipelines.definition import JOB_SCRIPTS, BuildArtifacts, build_definition_with_artifacts

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's fake account
REGION = "us-east-1"


def key(purpose: str, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{purpose}-0000-1111-2222-333344445555"


def raw_config(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "region": REGION,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/privml-execution",
        "bucket": "privml-test-bucket",
        "prefix": "privml",
        "kms": {p: key(p) for p in ("data", "volume", "model", "endpoint", "capture")},
        "network": {"subnets": ["subnet-0123456789abcdef0"], "security_group_ids": ["sg-0123456789abcdef0"]},
        "tags": {"project": "privml-tests"},
    }
    raw.update(overrides)
    return raw


def make_config(**overrides: Any) -> PipelineConfig:
    return PipelineConfig.from_mapping(raw_config(**overrides), sdk_config={})


def scripts_root(tmp: Path) -> Path:
    """The repository when every job script exists; otherwise placeholders in a tmp dir (never the repo)."""
    if all((REPO / script).is_file() for script in JOB_SCRIPTS.values()):
        return REPO
    for script in JOB_SCRIPTS.values():
        target = tmp / script
        target.parent.mkdir(parents=True, exist_ok=True)
        source = REPO / script
        target.write_bytes(source.read_bytes() if source.is_file() else b"raise SystemExit('placeholder')\n")
    return tmp


@dataclass
class Built:
    config: PipelineConfig
    definition: dict
    artifacts: BuildArtifacts
    scripts: Path
    connections: list  # non-loopback socket connections attempted during the build


class _NetworkGuard:
    """Records (and refuses) every connection that is not to loopback."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []
        self._original = socket.socket.connect

    def __enter__(self) -> _NetworkGuard:
        guard = self

        def connect(sock: socket.socket, address: Any) -> Any:
            host = address[0] if isinstance(address, tuple) else str(address)
            if host not in ("127.0.0.1", "::1", "localhost") and not str(address).startswith("/"):
                guard.attempts.append(address)
                raise OSError("network disabled in this test")
            return guard._original(sock, address)

        socket.socket.connect = connect  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        socket.socket.connect = self._original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def sdk_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the SDK's defaults config at a file of ours, so a developer's own file cannot leak in."""
    path = tmp_path_factory.mktemp("sdkconfig") / "config.yaml"
    path.write_text("SchemaVersion: '1.0'\n")
    saved = {v: os.environ.get(v) for v in ("SAGEMAKER_USER_CONFIG_OVERRIDE", "SAGEMAKER_ADMIN_CONFIG_OVERRIDE")}
    for var in saved:
        os.environ[var] = str(path)
    yield path
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, sdk_config_file: Path) -> Built:
    config = make_config()
    root = scripts_root(tmp_path_factory.mktemp("scripts"))
    with _NetworkGuard() as guard:
        definition, artifacts = build_definition_with_artifacts(config, scripts_root=root)
    return Built(config, definition, artifacts, root, guard.attempts)


def steps_by_name(definition: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}

    def walk(steps: list[dict]) -> None:
        for step in steps:
            out[step["Name"]] = step
            if step["Type"] == "Condition":
                walk(step["Arguments"]["IfSteps"])
                walk(step["Arguments"]["ElseSteps"])

    walk(definition["Steps"])
    return out
