"""The local executor on small hand-written definitions: expressions, conditions, failures, caching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKET, Defs, definition

from pipelines.local.executor import LocalExecutor
from pipelines.local.records import read_record
from privml.errors import KeyUnavailable

WRITE_JSON = """
import json, os, sys
out = "/opt/ml/processing/output/eval"
os.makedirs(out, exist_ok=True)
payload = {"metrics": {"accuracy": float(sys.argv[2])}, "gates": {"passed": int(sys.argv[4]), "reason": sys.argv[6]},
           "argv": sys.argv[1:]}
with open(os.path.join(out, "evaluation.json"), "w") as fh:
    json.dump(payload, fh)
"""

ECHO_INPUT = """
import os, pathlib, sys
src = pathlib.Path("/opt/ml/processing/input/data")
out = pathlib.Path("/opt/ml/processing/output/echo")
out.mkdir(parents=True, exist_ok=True)
(out / "seen.txt").write_text(",".join(sorted(p.name for p in src.iterdir())) + "|" + " ".join(sys.argv[1:]))
"""


def run(defn: dict[str, Any], store: Any, kms: Any, workspace: Path, **kw: Any) -> dict[str, Any]:
    return LocalExecutor(defn, store=store, kms=kms, workspace=workspace, **kw).run()


def evaluate_then_gate(defs: Defs, accuracy: Any = 0.9, passed: int = 1, reason: str = "all good") -> dict[str, Any]:
    code = defs.code("evaluate", WRITE_JSON)
    evaluate = Defs.processing(
        "Evaluate", code, "evaluate.py",
        outputs=[("evaluation", f"s3://{BUCKET}/out/eval", "/opt/ml/processing/output/eval")],
        args=["--accuracy", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Accuracy"}]}},
              "--passed", str(passed), "--reason", reason],
        property_files=[{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                         "FilePath": "evaluation.json"}],
    )
    jget = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                            "Path": "metrics.accuracy"}}
    fail = {"Name": "GateFailed", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {"On": "", "Values": [
        "Gate failed: ", {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                          "Path": "gates.reason"}}]}}}}
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [
            {"Type": "Equals", "LeftValue": {"Std:JsonGet": {"PropertyFile": {
                "Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}, "Path": "gates.passed"}}, "RightValue": 1},
            {"Type": "GreaterThanOrEqualTo", "LeftValue": jget, "RightValue": {"Get": "Parameters.Threshold"}},
        ],
        "IfSteps": [], "ElseSteps": [fail]}}
    params = [{"Name": "Accuracy", "Type": "Float", "DefaultValue": accuracy},
              {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.8}]
    return definition([evaluate, gate], params)


def test_get_join_jsonget_and_condition_true(defs: Defs, store: Any, kms: Any, workspace: Path) -> None:
    record = run(evaluate_then_gate(defs, accuracy=0.9), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["Gate"]["outcome"] is True
    assert steps["GateFailed"]["status"] == "Skipped"
    # Std:Join turned the Float parameter into the job's argument; the property file went through the store
    payload = json.loads(store.get_bytes(f"s3://{BUCKET}/out/eval/evaluation.json"))
    assert payload["argv"][:2] == ["--accuracy", "0.9"]
    assert read_record(workspace, record["run_id"])["status"] == "Succeeded"


def test_parameter_override_makes_condition_false_and_failstep_message(defs: Defs, store: Any, kms: Any,
                                                                     workspace: Path) -> None:
    defn = evaluate_then_gate(defs, accuracy=0.9, passed=0, reason="k below target")
    record = run(defn, store, kms, workspace, parameters={"Accuracy": 0.5})
    assert record["status"] == "Failed"
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["Gate"]["outcome"] is False
    assert steps["GateFailed"]["status"] == "Failed"
    assert steps["GateFailed"]["failure_reason"] == "Gate failed: k below target"
    assert record["failure_reason"] == "GateFailed: Gate failed: k below target"


def test_get_on_step_property_feeds_downstream_input(defs: Defs, store: Any, kms: Any, workspace: Path) -> None:
    defs.put(f"s3://{BUCKET}/raw/a.csv", b"x\n1\n")
    defs.put(f"s3://{BUCKET}/raw/b.csv", b"x\n2\n")
    first = Defs.processing("First", defs.code("echo", ECHO_INPUT), "echo.py",
                            inputs=[("data", f"s3://{BUCKET}/raw", "/opt/ml/processing/input/data")],
                            outputs=[("echo", f"s3://{BUCKET}/out/first", "/opt/ml/processing/output/echo")],
                            args=["--from", {"Get": "Execution.PipelineExecutionId"}])
    ref = {"Get": "Steps.First.ProcessingOutputConfig.Outputs['echo'].S3Output.S3Uri"}
    second = Defs.processing("Second", defs.code("echo2", ECHO_INPUT.replace("echo.py", "")), "echo2.py",
                             inputs=[("data", ref, "/opt/ml/processing/input/data")],
                             outputs=[("echo", f"s3://{BUCKET}/out/second", "/opt/ml/processing/output/echo")])
    # listed in reverse: the data reference alone must order them
    record = run(definition([second, first]), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    assert [s["name"] for s in record["steps"]] == ["First", "Second"]
    first_seen = store.get_bytes(f"s3://{BUCKET}/out/first/seen.txt").decode()
    assert first_seen == f"a.csv,b.csv|--from {record['run_id']}"
    assert store.get_bytes(f"s3://{BUCKET}/out/second/seen.txt").decode().startswith("seen.txt|")


def test_failing_job_reason_reaches_record_and_publishes_nothing(defs: Defs, store: Any, kms: Any,
                                                                workspace: Path) -> None:
    code = defs.code("failing", """
        import pathlib
        out = pathlib.Path("/opt/ml/processing/output/part")
        out.mkdir(parents=True, exist_ok=True)
        (out / "half.csv").write_text("partial")
        pathlib.Path("/opt/ml/output").mkdir(parents=True, exist_ok=True)
        pathlib.Path("/opt/ml/output/message").write_text("column 'age' has no values in range")
        raise SystemExit(3)
    """)
    failing = Defs.processing("Anonymize", code, "failing.py",
                              outputs=[("part", f"s3://{BUCKET}/out/part", "/opt/ml/processing/output/part")])
    after = Defs.processing("After", defs.code("after", "print('ran')"), "after.py", depends_on=["Anonymize"])
    record = run(definition([failing, after]), store, kms, workspace)
    assert record["status"] == "Failed"
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["Anonymize"]["failure_reason"] == "column 'age' has no values in range"
    assert steps["After"]["status"] == "NotRun"
    assert store.list(f"s3://{BUCKET}/out/") == []
    assert not (workspace / "scratch" / record["run_id"]).exists()  # job directory wiped


def test_exception_without_failure_file_reports_its_type_only(defs: Defs, store: Any, kms: Any,
                                                              workspace: Path) -> None:
    code = defs.code("boom", "raise ValueError('unparseable value: Jane Canary')")
    record = run(definition([Defs.processing("Boom", code, "boom.py")]), store, kms, workspace)
    reason = record["steps"][0]["failure_reason"]
    assert reason.startswith("exit code 1: ValueError (message withheld")
    assert "Jane" not in json.dumps(record)


def test_cache_hit_and_miss(defs: Defs, store: Any, kms: Any, workspace: Path) -> None:
    defs.put(f"s3://{BUCKET}/raw/a.csv", b"x\n1\n")
    step = Defs.processing("Echo", defs.code("echo", ECHO_INPUT), "echo.py", cache=True,
                           inputs=[("data", f"s3://{BUCKET}/raw", "/opt/ml/processing/input/data")],
                           outputs=[("echo", f"s3://{BUCKET}/out/echo", "/opt/ml/processing/output/echo")])
    first = run(definition([step]), store, kms, workspace)
    second = run(definition([step]), store, kms, workspace)
    assert first["steps"][0]["cache"] == "miss"
    assert second["steps"][0]["cache"] == "hit"
    assert second["steps"][0]["job_name"] == first["steps"][0]["job_name"]
    assert second["timing"]["jobs_seconds"] == 0
    defs.put(f"s3://{BUCKET}/raw/b.csv", b"x\n2\n")  # changed input → re-run
    third = run(definition([step]), store, kms, workspace)
    assert third["steps"][0]["cache"] == "miss"
    assert store.get_bytes(f"s3://{BUCKET}/out/echo/seen.txt").decode().startswith("a.csv,b.csv|")
    store.delete(f"s3://{BUCKET}/out/echo/seen.txt")  # outputs gone → re-run
    fourth = run(definition([step]), store, kms, workspace)
    assert fourth["steps"][0]["cache"] == "miss"


def test_missing_or_unknown_output_key_is_an_error_before_anything_runs(defs: Defs, store: Any, kms: Any,
                                                                         workspace: Path) -> None:
    code = defs.code("noop", "print('ran')")
    for key in (None, "alias/not-there"):
        step = Defs.processing("Noop", code, "noop.py", key=key)
        with pytest.raises(KeyUnavailable, match="Noop"):
            run(definition([step]), store, kms, workspace)


def test_unsupported_step_type_named(store: Any, kms: Any, workspace: Path) -> None:
    from privml.errors import PrivmlError

    defn = definition([{"Name": "Score", "Type": "Transform", "Arguments": {}}])
    with pytest.raises(PrivmlError, match=r"Score \(Transform\)"):
        LocalExecutor(defn, store=store, kms=kms, workspace=workspace)


def test_a_failing_put_rolls_back_what_the_step_already_published(defs: Defs, store: Any, kms: Any,
                                                                 workspace: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    code = defs.code("three", """
        import pathlib
        out = pathlib.Path("/opt/ml/processing/output/out"); out.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            (out / f"part-{i}.csv").write_text("x")
    """)
    step = Defs.processing("Three", code, "three.py",
                           outputs=[("out", f"s3://{BUCKET}/out/three", "/opt/ml/processing/output/out")])
    real_put, calls = store.put_file, []

    def flaky_put(uri: str, *args: Any, **kwargs: Any) -> None:
        calls.append(uri)
        if len(calls) == 3:
            raise OSError("disk full")
        real_put(uri, *args, **kwargs)

    monkeypatch.setattr(store, "put_file", flaky_put)
    with pytest.raises(OSError, match="disk full"):
        run(definition([step]), store, kms, workspace)
    assert store.list(f"s3://{BUCKET}/out/") == []  # the two objects put before the failure are gone
    record = read_record(workspace, next((workspace / "runs").iterdir()).name)
    assert record["status"] == "Failed" and record["failure_reason"] == "internal error: OSError"
    assert not (workspace / "scratch" / record["run_id"]).exists()
