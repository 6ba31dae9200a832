"""Shared fixtures: every test gets its own workspace, so no test touches ./.privml or another's keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# The Adult data and ARX's hierarchies ship with the repository (examples/data/adult/NOTICE): every test
# that reads them runs from a plain clone.
ADULT = REPO / "examples" / "data" / "adult"


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path_factory.mktemp("workspace")
    monkeypatch.setenv("PRIVML_WORKSPACE", str(ws))
    monkeypatch.delenv("PRIVML_KEY_PROVIDER", raising=False)
    # The SageMaker SDK must never phone home from a test.
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        if var in os.environ:
            monkeypatch.delenv(var)
    return ws


@pytest.fixture
def workspace(_isolated_workspace: Path) -> Path:
    return _isolated_workspace
