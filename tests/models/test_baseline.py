"""The quality gate against the trivial predictor (privml.models.baseline, privml.models.gates): a model
that only predicts the majority class fails it however high its accuracy, the margin is stated, and
the absolute threshold stays available."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from privml.models import gates
from privml.models.baseline import fit_baseline, predictor_name
from privml.models.evaluation import evaluate, score
from privml.models.persistence import dumps_model, loads_model
from tests.models.jobs import JobDir

LABEL = "readmitted"


def test_the_baseline_is_fitted_on_the_training_labels_only() -> None:
    y_train = np.array(["a"] * 7 + ["b"] * 3)
    clf = fit_baseline(y_train, "binary")
    X_test = pd.DataFrame({"x": range(4)})
    assert list(clf.predict(X_test)) == ["a"] * 4
    assert clf.predict_proba(X_test)[0].tolist() == pytest.approx([0.7, 0.3])  # the training frequencies
    reg = fit_baseline(np.array([1.0, 2.0, 6.0]), "regression")
    assert reg.predict(X_test).tolist() == [3.0] * 4
    assert predictor_name("regression") == "training mean" and predictor_name("multiclass") == "majority class"


def test_regression_quality_is_r2_against_the_training_mean() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=400)})
    y = 3 * X["x"].to_numpy() + rng.normal(scale=0.5, size=400)
    baseline = score(fit_baseline(y[:300], "regression"), X[300:], y[300:], "regression")
    assert baseline["r2"] == pytest.approx(0.0, abs=0.05)
    good = {"r2": 0.9, "rmse": 0.5, "mae": 0.4}
    entry, failures = gates.quality("regression", good, baseline, margin=0.05, threshold=None,
                                    predictor="training mean")
    assert failures == [] and entry["metric"] == "r2" and entry["threshold"] is None
    _, failures = gates.quality("regression", {**good, "r2": baseline["r2"] + 0.01}, baseline, margin=0.05,
                                threshold=0.5, predictor="training mean")
    assert failures[0].startswith("r2 ") and "training mean baseline" in failures[0]
    assert failures[1].endswith("< quality threshold 0.5")


def _imbalanced_splits(anonymized: Path, dest: Path, minority_share: float = 0.1) -> Path:
    """train/test/report of the sample anonymization with the positive class cut to ~minority_share."""
    for split in ("train", "test"):
        frame = pd.read_csv(anonymized / split / "data.csv", dtype=str, keep_default_na=False)
        majority = frame[frame[LABEL] == "0"]
        minority = frame[frame[LABEL] == "1"]
        keep = int(len(majority) * minority_share / (1 - minority_share))
        (dest / split).mkdir(parents=True)
        pd.concat([majority, minority.head(keep)]).to_csv(dest / split / "data.csv", index=False)
    shutil.copytree(anonymized / "report", dest / "report")
    return dest


def _majority_only_model(trained: JobDir, train_csv: Path, dest: Path) -> Path:
    """The trained pipeline with its classifier replaced by one regularized into the majority class."""
    pipeline = loads_model((trained.model_dir / "model.skops").read_bytes())
    metadata = json.loads((trained.model_dir / "metadata.json").read_text())
    model = pipeline.named_steps["model"]
    train = pd.read_csv(train_csv, dtype=str, keep_default_na=False)
    dumb = Pipeline([("encode", model.named_steps["encode"]), ("classifier", LogisticRegression(C=1e-9))])
    dumb.fit(train[metadata["feature_columns"]], train[LABEL].to_numpy())
    assert set(dumb.predict(train[metadata["feature_columns"]])) == {"0"}  # only ever the majority class
    dest.mkdir()
    (dest / "model.skops").write_bytes(dumps_model(Pipeline([("privacy", pipeline.named_steps["privacy"]),
                                                             ("model", dumb)])))
    (dest / "metadata.json").write_text(json.dumps(metadata))
    return dest


def test_the_baseline_gate_fails_a_model_that_only_predicts_the_majority_class(
    tmp_path: Path, trained_job: JobDir, anonymized: Path
) -> None:
    splits = _imbalanced_splits(anonymized, tmp_path / "splits")
    model_dir = _majority_only_model(trained_job, splits / "train" / "data.csv", tmp_path / "model")
    result = evaluate(model_dir=model_dir, train_dir=splits / "train", test_dir=splits / "test",
                      report_dir=splits / "report", output_dir=tmp_path / "out", quality_threshold=0.7, k_required=1)
    # ~90% accuracy: the absolute gate of 0.7 alone (the old default) let this model through
    assert result["metrics"]["accuracy"] > 0.85
    assert result["quality"]["model"] == result["quality"]["baseline"] == 0.5
    assert result["gates"]["quality_passed"] == 0 and result["gates"]["passed"] == 0
    assert result["gates"]["reason"] == ("balanced_accuracy 0.5000 does not beat the majority class baseline 0.5000 "
                                         "by the margin 0.05 (needs >= 0.5500)")
    written = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert written["gates"] == result["gates"] and written["baseline"]["predictor"] == "majority class"


def test_the_real_model_beats_the_baseline_and_zero_turns_the_threshold_off(
    tmp_path: Path, trained_job: JobDir, anonymized: Path
) -> None:
    result = evaluate(model_dir=trained_job.model_dir, train_dir=anonymized / "train", test_dir=anonymized / "test",
                      report_dir=anonymized / "report", output_dir=tmp_path / "out", quality_threshold=0.0,
                      k_required=1)
    assert result["quality"]["threshold"] is None and result["quality"]["threshold_metric"] is None
    assert result["quality"]["model"] >= result["quality"]["baseline"] + 0.05
    assert result["gates"]["quality_passed"] == 1


@pytest.mark.parametrize(("argument", "value", "message"), [
    ("quality_margin", -0.1, "--quality-margin must be between 0 and 1"),
    ("quality_threshold", 1.5, "--quality-threshold must be between 0 and 1"),
    ("max_membership_advantage", 2.0, "--max-membership-advantage must be between 0 and 1"),
])
def test_gate_settings_out_of_range_are_refused(tmp_path: Path, argument: str, value: float, message: str) -> None:
    from privml.errors import PrivmlError

    with pytest.raises(PrivmlError, match=message):
        evaluate(model_dir=tmp_path, train_dir=tmp_path, test_dir=tmp_path, report_dir=tmp_path,
                 output_dir=tmp_path / "out", **{argument: value})
