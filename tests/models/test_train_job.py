"""training/train.py through the SageMaker training contract: a job directory laid out like /opt/ml,
the script run as a subprocess with SM_* variables and `--name value` hyperparameters."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from privml.models.persistence import load_model
from privml.sampledata import generate
from tests.models.jobs import JobDir, call_training, read_csv, run_training


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_job_writes_the_model_artifact(trained_job: JobDir) -> None:
    model_dir = trained_job.model_dir
    assert sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()) == [
        "code/privml_inference.py", "code/requirements.txt", "metadata.json", "model.skops",
    ]  # no code/wheels/: the script ran from the repository, with no wheels beside it
    assert not trained_job.failure.exists()
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["model"] == "hgb" and meta["label"] == "readmitted" and meta["classes"] == ["0", "1"]
    assert meta["epsilon_spent"] is None and meta["dp_scope"] is None and meta["seed"] == 3
    assert "phone" in read_csv(trained_job.channel("train") / "data.csv").columns  # released by the policy...
    assert meta["excluded_identifier_columns"] == ["phone"] and "phone" not in meta["feature_columns"]  # ...unused
    assert set(meta["metrics"]) == {"train", "validation"}
    assert 0.5 < meta["metrics"]["validation"]["accuracy"] <= 1
    # lineage: the hashes are those of the channel files the job read
    by_input = {(i["input"], i["file"]): i["sha256"] for i in meta["inputs"]}
    assert by_input[("train", "data.csv")] == _sha(trained_job.channel("train") / "data.csv")
    assert by_input[("transformer", "transformer.skops")] == _sha(
        trained_job.channel("transformer") / "transformer.skops")
    assert meta["controls"]["sources"] == ["resourceconfig.json"]
    assert "def transform_fn" in (model_dir / "code" / "privml_inference.py").read_text()
    requirements = (model_dir / "code" / "requirements.txt").read_text().splitlines()
    assert "--no-index" in requirements and "--find-links wheels" in requirements
    assert any(line.startswith("privml==") for line in requirements)


def test_model_artifact_serves_raw_rows_through_the_fitted_transformer(trained_job: JobDir) -> None:
    pipeline = load_model(trained_job.model_dir / "model.skops")
    assert [name for name, _ in pipeline.steps] == ["privacy", "model"]
    raw = generate(25, seed=99).drop(columns=["readmitted"])  # identifiers and all, as a request would
    proba = pipeline.predict_proba(raw)
    assert proba.shape == (25, 2) and np.allclose(proba.sum(axis=1), 1)
    # served, the privacy step computes only the columns the model reads (and the quasi-identifiers the
    # anonymity model routes on): identifier columns are never transformed, so no secret is derived for them
    meta = json.loads((trained_job.model_dir / "metadata.json").read_text())
    released = list(pipeline.named_steps["privacy"].transform(raw).columns)
    assert set(meta["feature_columns"]) <= set(released)
    assert meta["excluded_identifier_columns"] and not set(released) & set(meta["excluded_identifier_columns"])


SEXES = ["F", "M"]
EDUCATION = ["Assoc", "Bachelors", "Doctorate", "HS-grad", "Masters", "Some-college", "Some-school"]
DIAGNOSES = ["Anxiety disorder", "Asthma", "COPD", "Chronic kidney disease", "Coronary artery disease", "Depression",
             "Heart failure", "Hypertension", "Migraine", "Osteoarthritis", "Pneumonia", "Type 2 diabetes"]


def _dp_policy(job: JobDir, **changes: dict) -> None:
    """The job's policy with a DP model's input domain given: declared categories, plus `changes`."""
    import yaml

    path = job.channel("transformer") / "policy.yaml"
    policy = yaml.safe_load(path.read_text())
    for name, values in (("sex", SEXES), ("education", EDUCATION), ("diagnosis", DIAGNOSES),
                         ("zip_code", [f"{i:03d}**" for i in range(1000)])):
        policy["columns"][name]["categories"] = values
    for name, fields in changes.items():
        if name == "differential_privacy":
            policy[name] = fields
        else:
            policy["columns"][name].update(fields)
    path.write_text(yaml.safe_dump(policy))


def test_dp_training_job_spends_exactly_the_declared_budget(job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    _dp_policy(job_copy)
    hps = {"model": "dp_logreg", "dp_epsilon": "0.5", "seed": "1"}
    assert call_training(job_copy, hps, monkeypatch) == 0
    meta = json.loads((job_copy.model_dir / "metadata.json").read_text())
    assert meta["model"] == "dp_logreg" and meta["differential_privacy"] is True
    assert meta["dp_epsilon"] == 0.5 and meta["epsilon_spent"] == pytest.approx(0.5, abs=1e-12)
    assert meta["epsilon_parts"] == {"bounds": 0.0, "categories": 0.0, "model": pytest.approx(0.5, abs=1e-12)}
    assert "not covered by ε" not in meta["dp_scope"]
    assert meta["declared_bounds"] == {"income": [0, 250000], "hours_per_week": [0, 100], "num_visits": [0, 30]}
    assert load_model(job_copy.model_dir / "model.skops").named_steps["model"].named_steps[
        "classifier"].accountant is None  # the run's accountant is not saved in the model


def test_dp_training_job_spends_its_declared_shares_on_bounds_and_categories(
        job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    _dp_policy(job_copy, income={"bounds": None, "range": [0, 10_000_000]},
               zip_code={"categories": None, "candidates": [f"{i:03d}**" for i in range(1000)]},
               differential_privacy={"bounds_share": 0.2, "categories_share": 0.1})
    assert call_training(job_copy, {"model": "dp_nb", "dp_epsilon": "2", "seed": "1"}, monkeypatch) == 0
    meta = json.loads((job_copy.model_dir / "metadata.json").read_text())
    assert meta["epsilon_spent"] == pytest.approx(2.0, abs=1e-12)
    assert meta["epsilon_parts"] == {"bounds": pytest.approx(0.4), "categories": pytest.approx(0.2),
                                     "model": pytest.approx(1.4)}
    assert meta["dp_domain"]["income"] == "DP bounds" and meta["dp_domain"]["zip_code"] == "DP selection"
    low, high = meta["dp_bounds"]["income"]
    assert 0 <= low < high <= 10_000_000
    assert "found under DP from a declared share of ε (income, zip_code)" in meta["dp_scope"]


def test_dp_training_job_refuses_undeclared_categories(job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    # today's main trained this model and said "not covered by ε"; the categories now must be declared or selected
    returncode = call_training(job_copy, {"model": "dp_logreg", "dp_epsilon": "1"}, monkeypatch)
    message = _assert_failed(job_copy, returncode, "categorical column(s) without declared categories",
                             "sex, zip_code, diagnosis, education")
    assert "Depression" not in message and "764**" not in message


def _assert_failed(job: JobDir, returncode: int, *needles: str) -> str:
    assert returncode != 0
    message = job.failure.read_text()
    assert message.count("\n") == 1 and message.startswith("privml training failed: ")
    for needle in needles:
        assert needle in message, message
    assert list(job.model_dir.iterdir()) == []  # no model, no partial output
    return message


def _rewrite_train(job: JobDir, change) -> None:
    path = job.channel("train") / "data.csv"
    frame = read_csv(path)
    frame = change(frame)
    frame.to_csv(path, index=False)


def test_empty_train_channel_fails_clearly(job_copy: JobDir, tmp_path: Path) -> None:
    (job_copy.channel("train") / "data.csv").unlink()
    result = run_training(job_copy, {}, cwd=tmp_path)  # a real process: the exit status is the job's
    assert result.returncode == 2
    _assert_failed(job_copy, result.returncode, "train channel is empty")
    assert "train channel is empty" in result.stderr


def test_train_file_with_header_only_fails_clearly(job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    path = job_copy.channel("train") / "data.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    _assert_failed(job_copy, call_training(job_copy, {}, monkeypatch), "train channel", "no data rows")


def test_missing_label_column_fails_clearly(job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    _rewrite_train(job_copy, lambda f: f.drop(columns=["readmitted"]))
    _assert_failed(job_copy, call_training(job_copy, {}, monkeypatch), "label column 'readmitted' is missing")


def test_constant_label_fails_clearly(job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    _rewrite_train(job_copy, lambda f: f.assign(readmitted="1"))
    _assert_failed(job_copy, call_training(job_copy, {}, monkeypatch), "'readmitted' is constant")


def test_feature_of_the_wrong_type_fails_without_quoting_the_value(
    job_copy: JobDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Jane Roe 555-0100"

    def corrupt(frame):
        frame.loc[7, "income"] = secret
        return frame

    _rewrite_train(job_copy, corrupt)
    message = _assert_failed(
        job_copy, call_training(job_copy, {}, monkeypatch), "column 'income' is numeric", "(first: row 8)"
    )
    assert secret not in message


def test_contradictory_hyperparameters_fail(job_copy: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    returncode = call_training(job_copy, {"model": "hgb", "dp_epsilon": "1"}, monkeypatch)
    _assert_failed(job_copy, returncode, "not differentially private")
