"""A regression run through the real training contract: sample data anonymized, `total_charges` as the
label, training/train.py run as the container runs it; the task decided once, from the train split, and
written to metadata.json; bad input refused with exit 2 and no model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from privml.models.persistence import load_model
from privml.sampledata import generate
from tests.models.jobs import JobDir, call_training, make_anonymized, make_training_job, run_training, sample_policy

LABEL = "total_charges"


def regression_policy() -> dict[str, Any]:
    policy = sample_policy()
    policy["columns"]["readmitted"] = {"role": "feature", "action": "drop"}
    policy["columns"][LABEL] = {"role": "label", "action": "keep", "dtype": "numeric", "bounds": [0, 40000]}
    return policy


def declare_categories(job: JobDir) -> None:
    """A DP model's categorical inputs need declared values: the test declares those its train split holds
    (in a real policy they come from what is public about the columns, never from the data)."""
    import yaml

    policy_path = job.channel("transformer") / "policy.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    train = pd.read_csv(job.channel("train") / "data.csv", dtype=str, keep_default_na=False)
    for name in ("sex", "zip_code", "diagnosis", "education"):
        policy["columns"][name]["categories"] = sorted(train[name].unique().tolist())
    policy_path.write_text(yaml.safe_dump(policy))


@pytest.fixture(scope="module")
def regression_splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(tmp_path_factory.mktemp("anon-workspace")))
        return make_anonymized(tmp_path_factory.mktemp("regression") / "out", rows=1500, seed=2,
                               policy=regression_policy())


@pytest.fixture(scope="module")
def regression_job(tmp_path_factory: pytest.TempPathFactory, regression_splits: Path) -> tuple[JobDir, Any]:
    root = tmp_path_factory.mktemp("trained-regression") / "opt_ml"
    hps = {"model": "hgb", "seed": "1"}
    job = make_training_job(root, regression_splits, hps)
    result = run_training(job, hps, cwd=root.parent)
    assert result.returncode == 0, result.stderr
    return job, result


def test_a_regression_label_trains_a_regressor_through_the_contract(regression_job: tuple[JobDir, Any]) -> None:
    job, result = regression_job
    meta = json.loads((job.model_dir / "metadata.json").read_text())
    assert meta["task"] == "regression" and meta["estimator"] == "HistGradientBoostingRegressor"
    assert meta["task_reason"].startswith(f"label '{LABEL}' is numeric with ")
    assert meta["classes"] is None and meta["label_bounds"] == [0, 40000]
    assert set(meta["metrics"]["validation"]) == {"rmse", "mae", "r2"}
    assert meta["metrics"]["validation"]["r2"] > 0.5, meta["metrics"]
    # the job's log and summary say which task and why
    out = result.stdout + result.stderr
    assert f"task: regression (label '{LABEL}' is numeric with" in out and "r2 " in out
    pipeline = load_model(job.model_dir / "model.skops")
    raw = generate(20, seed=77).drop(columns=["readmitted", LABEL])
    predicted = pipeline.predict(raw)
    assert predicted.dtype.kind == "f" and predicted.shape == (20,) and np.ptp(predicted) > 0
    assert not hasattr(pipeline, "predict_proba")


@pytest.mark.parametrize("hps, estimator", [
    ({"model": "ridge"}, "Ridge"),
    ({"dp_epsilon": "10"}, "BoundedDPLinearRegression"),  # ε alone: the DP default for the task, dp_linreg
    ({"model": "hgb", "task": "regression"}, "HistGradientBoostingRegressor"),
])
def test_the_other_regressors(tmp_path: Path, regression_splits: Path, monkeypatch: pytest.MonkeyPatch,
                              hps: dict[str, str], estimator: str) -> None:
    job = make_training_job(tmp_path / "opt_ml", regression_splits, hps)
    if "dp_epsilon" in hps:
        declare_categories(job)
    assert call_training(job, hps, monkeypatch) == 0, job.failure.read_text() if job.failure.exists() else ""
    meta = json.loads((job.model_dir / "metadata.json").read_text())
    assert meta["task"] == "regression" and meta["estimator"] == estimator
    if "dp_epsilon" in hps:
        assert meta["model"] == "dp_linreg" and meta["epsilon_spent"] == pytest.approx(10.0)
        # noisy, but never outside what the label can be: predictions are clipped to its declared bounds
        assert meta["metrics"]["validation"]["rmse"] <= 40000
    else:
        assert meta["metrics"]["validation"]["r2"] > 0.5


def test_a_classifier_kind_for_a_regression_target_is_refused(tmp_path: Path, regression_splits: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    hps = {"model": "logreg", "task": "regression"}
    job = make_training_job(tmp_path / "opt_ml", regression_splits, hps)
    assert call_training(job, hps, monkeypatch) == 2
    assert "model 'logreg' cannot learn a regression target" in job.failure.read_text()
    assert not (job.model_dir / "model.skops").exists()


def _corrupt_label(job: JobDir, values: Any) -> None:
    for split in ("train", "validation"):
        path = job.channel(split) / "data.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame[LABEL] = values(len(frame))
        frame.to_csv(path, index=False)


@pytest.mark.parametrize("hps, values, message", [
    ({"task": "regression"}, lambda n: ["CANARY-TEXT"] * (n - 5) + ["1"] * 5,
     f"task regression: label column '{LABEL}' is not numeric"),
    ({"task": "regression"}, lambda n: ["1200"] * n, f"label column '{LABEL}' is constant"),
    ({}, lambda n: ["1200"] * n, f"label column '{LABEL}' is constant"),
    ({"task": "ordinal"}, None, "task 'ordinal': unknown"),
    ({"model": "dp_logreg", "dp_epsilon": "1"}, None, "model 'dp_logreg' cannot learn a regression target"),
])
def test_bad_task_input_is_exit_2_and_no_model(tmp_path: Path, regression_splits: Path,
                                               monkeypatch: pytest.MonkeyPatch, hps: dict[str, str],
                                               values: Any, message: str) -> None:
    job = make_training_job(tmp_path / "opt_ml", regression_splits, hps)
    if values is not None:
        _corrupt_label(job, values)
    assert call_training(job, hps, monkeypatch) == 2
    failure = job.failure.read_text()
    assert message in failure and "CANARY" not in failure
    assert not any(job.model_dir.iterdir())


def test_dp_linreg_without_label_bounds_is_refused(tmp_path: Path, regression_splits: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    hps = {"model": "dp_linreg", "dp_epsilon": "1"}
    job = make_training_job(tmp_path / "opt_ml", regression_splits, hps)
    policy_path = job.channel("transformer") / "policy.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    del policy["columns"][LABEL]["bounds"]
    policy_path.write_text(yaml.safe_dump(policy))
    declare_categories(job)  # so that the label's bounds are all that is missing
    assert call_training(job, hps, monkeypatch) == 2
    assert "needs declared bounds for the label" in job.failure.read_text()
