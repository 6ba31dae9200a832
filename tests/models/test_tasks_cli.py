"""`privml run --local|--aws --task`: the Task parameter, checked against the label before any job starts
or anything is stored (exit 2), and `--task` unknown refused for --aws too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privml.cli import main
from privml.io import write_table


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "ws"))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 300), "amount": rng.normal(50, 10, 300).round(2),
                          "grade": rng.choice(["CANARY-low", "mid", "high"], 300),
                          "flat": [4] * 300, "outcome": rng.integers(0, 2, 300)})
    path = tmp_path / "mine.csv"
    write_table(frame, path)
    return path


def _stored(tmp_path: Path) -> list[Path]:
    objects = tmp_path / "ws" / "objects"
    return [p for p in objects.rglob("*") if p.is_file() and not p.name.startswith(".")] if objects.exists() else []


@pytest.mark.parametrize("extra, message", [
    (["--label", "grade", "--task", "regression"], "task regression: label column 'grade' is not numeric"),
    (["--label", "flat", "--task", "regression"], "is constant"),
    (["--label", "outcome", "--task", "clustering"], "task 'clustering': unknown"),
    (["--label", "outcome", "--param", "Task=ordinal"], "task 'ordinal': unknown"),
    (["--label", "outcome", "--task", "binary", "--param", "Task=regression"], "name the task once"),
    (["--label", "amount", "--param", "ModelKind=logreg"], "model 'logreg' cannot learn a regression target"),
    (["--label", "outcome", "--param", "ModelKind=ridge"], "model 'ridge' cannot learn a binary"),
    (["--label", "amount", "--param", "DpEpsilon=1"], "dp_linreg needs declared bounds for the label 'amount'"),
])
def test_a_bad_task_stops_the_run_before_anything_is_stored(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                             extra: list[str], message: str) -> None:
    assert main(["run", "--local", "--data", str(table), "--no-endpoint", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "CANARY" not in err
    assert _stored(tmp_path) == []


def test_run_aws_task_is_the_task_parameter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.aws

    seen: dict[str, object] = {}

    def fake_run_on_aws(config: object, *, waivers: object, parameters: dict[str, str]) -> dict[str, str]:
        seen.update(parameters)
        return {"execution_arn": "arn:test"}

    config = tmp_path / "config.yaml"
    config.write_text("x: 1\n")
    monkeypatch.setattr(pipelines.aws, "run_on_aws", fake_run_on_aws)
    monkeypatch.setattr("pipelines.config.PipelineConfig.load", staticmethod(lambda path: object()))
    assert main(["run", "--aws", "--config", str(config), "--task", "Regression"]) == 0
    assert seen["Task"] == "regression"
    assert main(["run", "--aws", "--config", str(config), "--task", "nope"]) == 2


def test_the_definition_hands_the_task_to_train() -> None:
    from pipelines.config import PipelineConfig
    from pipelines.definition import build_definition

    definition = build_definition(PipelineConfig.local_defaults())
    assert {"Name": "Task", "Type": "String", "DefaultValue": ""} in definition["Parameters"]
    (train,) = [s for s in definition["Steps"] if s["Name"] == "Train"]
    assert train["Arguments"]["HyperParameters"]["task"] == {"Get": "Parameters.Task"}
