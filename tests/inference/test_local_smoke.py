"""`run --local`'s smoke request goes to the model artifact loaded the way the serving container loads
it (pipelines.local.run_local.smoke_request): what the container would refuse, the run refuses."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sklearn.pipeline import Pipeline

from pipelines.definition import SERVING_ENV
from pipelines.local.run_local import smoke_request
from privml.errors import PrivmlError
from privml.models import training
from tests.inference.model_factory import LABEL, raw_table
from tests.inference.test_container import _artifact


def _rows() -> tuple[bytes, int]:
    return raw_table(3, seed=8).drop(columns=[LABEL]).to_csv(index=False).encode(), 3


def test_the_smoke_request_is_answered_by_the_unpacked_artifact(fitted_model: Pipeline, tmp_path: Path,
                                                                model_workspace: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    result = smoke_request(_artifact(fitted_model, tmp_path, model_workspace), model_workspace, *_rows())
    assert result["smoke_request"]["status"] == 200 and result["smoke_request"]["predictions"] == 3
    assert result["url"].startswith("https://127.0.0.1:")
    assert result["serving"]["program"] == SERVING_ENV["SAGEMAKER_PROGRAM"] == training.PROGRAM


def _without(archive: bytes, name: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            if member.name != name:
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return out.getvalue()


def test_an_artifact_without_its_wheels_is_not_served(fitted_model: Pipeline, tmp_path: Path,
                                                      model_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2 as local mode sees it: the serving container could not install privml."""
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    archive = _artifact(fitted_model, tmp_path, model_workspace)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        wheel = next(n for n in tar.getnames() if n.startswith("code/wheels/privml-"))
    with pytest.raises(PrivmlError, match="no wheel for privml=="):
        smoke_request(_without(archive, wheel), model_workspace, *_rows())


def test_a_shadowed_program_name_is_not_served(fitted_model: Pipeline, tmp_path: Path, model_workspace: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 3 as local mode sees it: SAGEMAKER_PROGRAM=inference.py names the installed package."""
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    monkeypatch.setitem(SERVING_ENV, "SAGEMAKER_PROGRAM", "inference.py")
    archive = _artifact(fitted_model, tmp_path, model_workspace)
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name == f"code/{training.PROGRAM}":
                member.name = "code/inference.py"
            dst.addfile(member, data)
    with pytest.raises(PrivmlError, match="the container would import the installed"):
        smoke_request(out.getvalue(), model_workspace, *_rows())
