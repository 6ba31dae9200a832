"""Run records: `<workspace>/runs/<run_id>/record.json`.

A record holds step names, statuses, timings, the controls applied, failure reasons, artifact URIs and
aggregate privacy and model figures — no data values, no key material, no credentials. It is stored as
plaintext JSON (mode 0600, written atomically) on purpose: it is the audit trail of what ran under which
controls, and it must stay readable by `privml runs list|show` when a key has been disabled or
scheduled for deletion (crypto-shredding the data must not erase the evidence of how it was processed).
Everything a record points to (splits, reports, models) stays encrypted in the object store.

A record whose runner process died (kill -9, power loss) cannot update itself: whatever reads records
(`read_record`, `list_records`, the next run) marks it Failed, "interrupted", once its process is gone.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError
from privml.io.atomic import atomic_output
from privml.workspace import private_dir, process_alive

RECORD = "record.json"
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{5,62}$")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def runs_dir(workspace: Path) -> Path:
    return private_dir(workspace / "runs")


def run_dir(workspace: Path, run_id: str) -> Path:
    if not _RUN_ID.match(run_id):
        raise PrivmlError(f"not a run id: {run_id!r}")
    return runs_dir(workspace) / run_id


def write_record(workspace: Path, record: dict[str, Any]) -> Path:
    directory = run_dir(workspace, record["run_id"])
    private_dir(directory)
    path = directory / RECORD
    write_json(path, record)
    return path


def write_json(path: Path, payload: Any) -> None:
    data = json.dumps(payload, indent=2, default=str).encode()
    with atomic_output(path, fsync=False) as fd:
        os.write(fd, data)


def read_record(workspace: Path, run_id: str) -> dict[str, Any]:
    path = run_dir(workspace, run_id) / RECORD
    if not path.is_file():
        raise PrivmlError(f"no run {run_id} in {runs_dir(workspace)}")
    try:
        return _settled(workspace, json.loads(path.read_text()))
    except ValueError:
        raise PrivmlError(f"run record {path} is not valid JSON") from None


def _raw_records(workspace: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(runs_dir(workspace).glob(f"*/{RECORD}")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            records.append({"run_id": path.parent.name, "status": "Unreadable"})
    return sorted(records, key=lambda r: str(r.get("started_at", "")))


def list_records(workspace: Path) -> list[dict[str, Any]]:
    return [_settled(workspace, record) for record in _raw_records(workspace)]


def _interrupted(record: dict[str, Any]) -> bool:
    if record.get("status") != "Executing":
        return False
    try:
        pid = int(record.get("pid", 0) or 0)
    except (TypeError, ValueError):
        pid = 0
    return not process_alive(pid)


def _settled(workspace: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The record, marked Failed ("interrupted") and saved so when its runner process is gone."""
    if not _interrupted(record):
        return record
    record["status"] = "Failed"
    record["failure_reason"] = "interrupted: the runner process ended before the execution finished"
    record.pop("pid", None)
    for step in record.get("steps", []):
        if step.get("status") == "Executing":
            step["status"] = "Failed"
            step["failure_reason"] = "interrupted"
    if _RUN_ID.match(str(record.get("run_id", ""))):
        write_record(workspace, record)
    return record


def mark_interrupted(workspace: Path) -> list[str]:
    """Records still `Executing` whose runner process is gone become `Failed` (interrupted)."""
    fixed = []
    for record in _raw_records(workspace):
        if _interrupted(record):
            _settled(workspace, record)
            fixed.append(record["run_id"])
    return fixed


def epsilon_on_data(records: list[dict[str, Any]]) -> dict[str, float]:
    """run id → ε spent on that run's input data by it and every earlier run on the same data (the same
    SHA-256 of the input table), in start order; runs that trained no DP model are left out. Sequential
    composition: retraining on the same rows spends the budget again."""
    totals: dict[str, float] = {}
    out = {}
    for record in sorted(records, key=lambda r: str(r.get("started_at", ""))):
        dp = record.get("dp") or {}
        spent, data = dp.get("epsilon_spent"), dp.get("data_sha256")
        if spent is None or not data:
            continue
        totals[data] = totals.get(data, 0.0) + float(spent)
        out[str(record.get("run_id"))] = totals[data]
    return out
