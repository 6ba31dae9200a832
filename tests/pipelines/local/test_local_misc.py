"""Audit refusal and waivers, progress output, and the sandbox without namespaces (path mapping)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKET, Defs, definition

from pipelines.local import controls
from pipelines.local.executor import LocalExecutor
from pipelines.local.progress import Progress
from pipelines.local.run_local import _audit
from privml.errors import CheckFailed


def test_audit_refuses_a_definition_without_network_isolation_unless_waived(defs: Defs) -> None:
    step = Defs.processing("Anonymize", "s3://b/code", "x.py", isolation=False)
    defn = definition([step])
    with pytest.raises(CheckFailed, match="fails the audit") as exc:
        _audit(defn, None, ())
    rule_ids = str(exc.value).split("(")[1].split(")")[0].split(", ")
    result = _audit(defn, None, rule_ids)
    assert result["findings"] == [] or all(not f["blocking"] for f in result["findings"])
    assert {f["rule_id"] for f in result["waived"]} == set(rule_ids)


def test_progress_lines_and_bar() -> None:
    out = io.StringIO()
    progress = Progress(2, stream=out, bar=True)
    progress.step_started("Anonymize", "Processing")
    time.sleep(0.7)  # the bar redraws every 0.5 s while a step runs
    progress.step_finished("Anonymize", "Succeeded", 0.7, "1 host(s)")
    progress.close()
    text = out.getvalue()
    assert "[1/2] Anonymize (Processing) …" in text
    assert "[" + "-" * 24 + "] 0/2 Anonymize" in text
    assert "Anonymize: ok in 0.7s — 1 host(s)" in text
    quiet = io.StringIO()
    Progress(1, stream=quiet, enabled=False).line("x")
    assert quiet.getvalue() == ""


ARGS_JOB = """
import argparse, pathlib, socket
p = argparse.ArgumentParser(); p.add_argument("--input"); p.add_argument("--output"); p.add_argument("--host")
a = p.parse_args()
files = sorted(x.name for x in pathlib.Path(a.input).iterdir())
pathlib.Path(a.output).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.output) / "seen.txt").write_text(",".join(files))
if a.host:
    socket.create_connection((a.host, 443), timeout=2)
"""


def test_without_namespaces_container_paths_are_mapped_and_isolation_emulated(
        defs: Defs, store: Any, kms: Any, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelines.local.jobs.namespaces_available", lambda: False)
    defs.put(f"s3://{BUCKET}/raw/a.csv", b"x\n1\n")
    code = defs.code("args", ARGS_JOB)

    def step(extra: list[str]) -> dict[str, Any]:
        return Defs.processing(
            "Args", code, "args.py", inputs=[("data", f"s3://{BUCKET}/raw", "/opt/ml/processing/input/data")],
            outputs=[("out", f"s3://{BUCKET}/out/args", "/opt/ml/processing/output/out")],
            args=["--input", "/opt/ml/processing/input/data", "--output=/opt/ml/processing/output/out", *extra])

    record = LocalExecutor(definition([step([])]), store=store, kms=kms, workspace=workspace).run()
    assert record["status"] == "Succeeded", record["failure_reason"]
    assert store.get_bytes(f"s3://{BUCKET}/out/args/seen.txt") == b"a.csv"
    applied = record["steps"][0]["controls"]
    assert applied["network_isolation"].startswith("emulated")
    assert applied["filesystem"].startswith("container paths in arguments and environment mapped")
    record = LocalExecutor(definition([step(["--host", "example.com"])]), store=store, kms=kms,
                           workspace=workspace).run()
    assert "network isolation: outbound connection to example.com:443 refused" in \
        record["steps"][0]["failure_reason"]


def test_namespace_probe_is_cached_and_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    controls.namespaces_available.cache_clear()
    monkeypatch.setenv("PRIVML_LOCAL_NO_NAMESPACES", "1")
    assert controls.namespaces_available() is False
    controls.namespaces_available.cache_clear()
