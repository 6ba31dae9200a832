"""processing/evaluate.py through the processing contract: evaluation.json in the shape the
ConditionStep's JsonGet reads, the model card, the gates, and bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from privml.models.evaluation import evaluate
from privml.sampledata import generate
from tests.models.jobs import EVALUATE_SCRIPT, JobDir, run_script

PROCESSING_CONFIG = {
    "ProcessingJobName": "evaluate-1",
    "NetworkConfig": {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
    },
    "ProcessingResources": {"ClusterConfig": {
        "InstanceType": "ml.m5.large", "InstanceCount": 1,
        "VolumeKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
    "ProcessingOutputConfig": {"KmsKeyId": "alias/privml-data", "Outputs": []},
}


def _processing_job(root: Path, trained: JobDir, anonymized: Path) -> Path:
    """/opt/ml laid out for the Evaluate job: model.tar.gz as the training step packs it, test, report."""
    proc = root / "opt" / "ml" / "processing"
    (proc / "input" / "model").mkdir(parents=True)
    with tarfile.open(proc / "input" / "model" / "model.tar.gz", "w:gz") as tar:
        for path in sorted(trained.model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(trained.model_dir).as_posix(), recursive=False)
    shutil.copytree(anonymized / "train", proc / "input" / "train")
    shutil.copytree(anonymized / "test", proc / "input" / "test")
    shutil.copytree(anonymized / "report", proc / "input" / "report")
    (proc / "output" / "evaluation").mkdir(parents=True)
    (root / "opt" / "ml" / "config").mkdir(parents=True)
    (root / "opt" / "ml" / "config" / "processingjobconfig.json").write_text(json.dumps(PROCESSING_CONFIG))
    return proc


def _args(proc: Path, *extra: str) -> list[str]:
    return ["--model-dir", str(proc / "input" / "model"), "--train", str(proc / "input" / "train"),
            "--test", str(proc / "input" / "test"),
            "--report", str(proc / "input" / "report"), "--output", str(proc / "output" / "evaluation"), *extra]


def test_evaluation_job_writes_the_property_file_and_the_card(
    tmp_path: Path, trained_job: JobDir, anonymized: Path
) -> None:
    proc = _processing_job(tmp_path, trained_job, anonymized)
    result = run_script(EVALUATE_SCRIPT, _args(proc, "--quality-threshold", "0.5", "--k", "1"), {}, tmp_path)
    assert result.returncode == 0, result.stderr
    out = proc / "output" / "evaluation"
    evaluation = json.loads((out / "evaluation.json").read_text())
    # exactly the shape the ConditionStep's JsonGet paths read (docs/architecture.md, The evaluation property file)
    assert set(evaluation) == {"task", "metrics", "baseline", "quality", "privacy", "membership", "gates"}
    assert evaluation["task"] == "binary"
    assert evaluation["baseline"]["predictor"] == "majority class"
    assert set(evaluation["baseline"]["metrics"]) == set(evaluation["metrics"])
    assert evaluation["baseline"]["metrics"]["balanced_accuracy"] == 0.5  # the majority class: 1 / classes
    assert evaluation["quality"] == {
        "metric": "balanced_accuracy", "model": evaluation["metrics"]["balanced_accuracy"], "baseline": 0.5,
        "margin": 0.05, "threshold": 0.5, "threshold_metric": "accuracy"}
    audit = evaluation["membership"]
    assert audit["members"] == audit["non_members"] == len(pd.read_csv(proc / "input/test/data.csv"))
    assert set(audit["attacks"]) == {"loss_threshold", "shadow"}
    for figures in audit["attacks"].values():
        assert set(figures) == {"auc", "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr", "advantage"}
        assert figures["tpr_at_0.1pct_fpr"] is None  # a few hundred non-members cannot resolve 0.1% FPR
    assert audit["advantage"] == max(a["advantage"] for a in audit["attacks"].values())
    assert any("cannot resolve 0.1% FPR" in note for note in audit["notes"])
    assert audit["gate"] == {"max_advantage": None, "source": "off", "passed": None}
    assert set(evaluation["metrics"]) == {"accuracy", "balanced_accuracy", "roc_auc", "f1", "brier"}
    assert all(isinstance(v, float) for v in evaluation["metrics"].values())
    assert set(evaluation["privacy"]) == {"k", "l", "t", "prosecutor_max", "epsilon_spent"}
    assert isinstance(evaluation["privacy"]["k"], int) and isinstance(evaluation["privacy"]["prosecutor_max"], float)
    assert set(evaluation["gates"]) == {"quality_passed", "privacy_passed", "passed", "reason"}
    assert evaluation["gates"]["passed"] in (0, 1) and type(evaluation["gates"]["passed"]) is int
    assert evaluation["gates"] == {"quality_passed": 1, "privacy_passed": 1, "passed": 1,
                                   "reason": "all gates passed"}

    card = json.loads((out / "model_card.json").read_text())
    assert card["metrics"]["test"] == evaluation["metrics"]
    lineage = {(i["input"], i["file"]): i["sha256"] for i in card["data_lineage"]["evaluation_inputs"]}
    assert ("train", "data.csv") in lineage
    assert lineage[("test", "data.csv")] == hashlib.sha256((proc / "input/test/data.csv").read_bytes()).hexdigest()
    assert ("model", "model.tar.gz") in lineage and ("report", "report.json") in lineage
    assert {i["input"] for i in card["data_lineage"]["training_inputs"]} == {"train", "validation", "transformer"}
    controls = card["controls"]["evaluation"]
    assert controls["network_isolation"] is True and controls["vpc"] is True
    assert controls["inter_container_encryption"] is True
    assert controls["volume_kms_key"] == "arn:aws:kms:us-east-1:<account>:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert controls["output_kms_key"] == "alias/privml-data"
    assert card["controls"]["training"]["sources"] == ["resourceconfig.json"]
    markdown = (out / "model_card.md").read_text()
    for heading in ("# Model card: hgb", "## Metrics", "## Privacy", "## Data lineage (SHA-256)", "## Controls"):
        assert heading in markdown

    # invariant 1: no identifier of the raw sample in anything the pipeline wrote
    raw = generate(1500, 0)
    written = "".join(p.read_text() for p in [*out.iterdir(), trained_job.model_dir / "metadata.json"]
                      if p.suffix in (".json", ".md"))
    for column in ("name", "email", "street_address", "ssn"):
        assert not any(value in written for value in raw[column].astype(str).head(300)), column
    # digits-only values could match inside a hash or a metric by chance: look for them as JSON strings
    assert not any(f'"{value}"' in written for value in raw["zip_code"].astype(str)), "zip_code"


def test_gates_fail_with_a_reason_the_fail_step_can_show(
    tmp_path: Path, trained_job: JobDir, anonymized: Path
) -> None:
    proc = _processing_job(tmp_path, trained_job, anonymized)
    result = evaluate(model_dir=proc / "input/model", train_dir=proc / "input/train", test_dir=proc / "input/test",
                      report_dir=proc / "input/report", output_dir=proc / "output/evaluation",
                      quality_threshold=0.99, k_required=5)
    assert result["gates"]["passed"] == 0
    assert result["gates"]["quality_passed"] == 0 and result["gates"]["privacy_passed"] == 0
    assert "< quality threshold 0.99" in result["gates"]["reason"]
    assert "k 1 < required 5" in result["gates"]["reason"]  # no k-anonymity in this report: k is 1, not assumed


def test_privacy_targets_from_the_report_are_gated(tmp_path: Path, trained_job: JobDir, anonymized: Path) -> None:
    proc = _processing_job(tmp_path, trained_job, anonymized)
    report = {"k": 12, "l": 2.0, "t": 0.4, "risk": {"prosecutor_max": 1 / 12},
              "anonymity": {"k": 10, "l_diversity": {"l": 3}, "t_closeness": {"t": 0.3}, "max_risk": 0.1}}
    (proc / "input/report/report.json").write_text(json.dumps(report))
    result = evaluate(model_dir=proc / "input/model", train_dir=proc / "input/train", test_dir=proc / "input/test",
                      report_dir=proc / "input/report", output_dir=proc / "output/evaluation", quality_margin=0.0)
    assert result["privacy"] == {"k": 12, "l": 2.0, "t": 0.4, "prosecutor_max": pytest.approx(1 / 12),
                                 "epsilon_spent": None}
    assert result["gates"]["privacy_passed"] == 0 and result["gates"]["quality_passed"] == 1
    assert result["gates"]["reason"] == "l 2 < required 3; t 0.4 > allowed 0.3"


def test_missing_report_fails_the_job_with_no_output(tmp_path: Path, trained_job: JobDir, anonymized: Path) -> None:
    proc = _processing_job(tmp_path, trained_job, anonymized)
    (proc / "input/report/report.json").unlink()
    result = run_script(EVALUATE_SCRIPT, _args(proc), {}, tmp_path)
    assert result.returncode == 2
    message = (tmp_path / "opt/ml/output/message").read_text()
    assert message.startswith("privml evaluation failed: report input: no report.json")
    assert list((proc / "output" / "evaluation").iterdir()) == []


def test_an_empty_train_split_fails_the_job_with_no_output(
    tmp_path: Path, trained_job: JobDir, anonymized: Path
) -> None:
    # the baseline's labels and the audit's members come from it: no silent fallback to the test split
    proc = _processing_job(tmp_path, trained_job, anonymized)
    (proc / "input/train/data.csv").unlink()
    result = run_script(EVALUATE_SCRIPT, _args(proc), {}, tmp_path)
    assert result.returncode == 2
    message = (tmp_path / "opt/ml/output/message").read_text()
    assert message.startswith("privml evaluation failed: train channel is empty")
    assert list((proc / "output" / "evaluation").iterdir()) == []
