"""The safety net at anonymize time: a column that scan would call an identifier is not emitted as a
feature unless the policy says `role: feature` with `allow_unique: true`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from privml.cli import main
from privml.io import write_table
from privml.sampledata import generate

CANARY = "QZX8NET"


def _table(tmp_path: Path) -> Path:
    frame = generate(600, seed=3)[["age", "sex", "income", "readmitted"]].copy()
    rng = np.random.default_rng(0)
    frame["device"] = [f"{CANARY}{x:09d}" for x in rng.choice(10**9, len(frame), replace=False)]  # near-unique
    frame["surname"] = [f"Okonkwo{CANARY}"] * len(frame)  # the name says identifier
    path = tmp_path / "raw.csv"
    write_table(frame, path)
    return path


def _policy(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text("columns:\n  age: {role: feature}\n  income: {role: feature}\n  readmitted: {role: label}\n"
                    + extra)
    return path


@pytest.mark.parametrize("column, spec, why", [
    ("device", "{role: feature}", "unique_id"),
    ("surname", "{role: feature}", "person_name"),
    ("device", "{role: sensitive}", "unique_id"),
])
def test_an_identifier_kept_as_a_feature_is_refused(tmp_path, capsys, column, spec, why):
    raw = _table(tmp_path)
    out = tmp_path / "out"
    code = main(["anonymize", str(raw), "--policy", str(_policy(tmp_path, f"  {column}: {spec}\n")), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert f"column '{column}'" in err and why in err and "allow_unique" in err
    assert CANARY not in err and not out.exists()


def test_allow_unique_lets_a_feature_through_and_is_recorded(tmp_path, capsys):
    raw = _table(tmp_path)
    out = tmp_path / "out"
    policy = _policy(tmp_path, "  device: {role: feature, allow_unique: true}\n")
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(out), "--json"]) == 0
    assert "allow_unique: true" in (out / "policy.yaml").read_text()
    assert json.loads(capsys.readouterr().out)["rows_out"] == 600


def test_allow_unique_is_only_for_features(tmp_path, capsys):
    raw = _table(tmp_path)
    policy = _policy(tmp_path, "  device: {role: identifier, action: drop, allow_unique: true}\n")
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(tmp_path / "out")]) == 2
    assert "columns.device.allow_unique" in capsys.readouterr().err


def test_the_anonymize_job_refuses_too(tmp_path):
    from processing import anonymize as job

    raw = _table(tmp_path)
    (tmp_path / "in").mkdir()
    raw.rename(tmp_path / "in" / "raw.csv")
    failure = tmp_path / "message"
    out = tmp_path / "out"
    out.mkdir()
    import os

    os.environ["PRIVML_FAILURE_FILE"] = str(failure)
    try:
        code = job.main(["--policy", str(_policy(tmp_path, "  device: {role: feature}\n")),
                         "--input", str(tmp_path / "in"), "--output", str(out)])
    finally:
        del os.environ["PRIVML_FAILURE_FILE"]
    assert code == 1
    assert "column 'device'" in failure.read_text() and CANARY not in failure.read_text()
    assert not any(p.is_file() for p in out.rglob("*"))
