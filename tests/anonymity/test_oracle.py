"""The ARX reference results on the Adult data (examples/data/adult/README.md), to 1e-9 relative."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.risk import class_ids_of, prosecutor
from privml.policy.engine_config import anonymity_config

from .conftest import ADULT, ADULT_COLUMNS, REPO, adult_policy


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * abs(b)


def test_raw_risk_matches_arx(adult):
    ids, n = class_ids_of(adult, ADULT_COLUMNS)
    sizes = np.bincount(ids, minlength=n)
    r = prosecutor(sizes)
    assert r["classes"] == 19502
    assert close(r["sample_uniqueness"], 0.5142895033485844)
    assert close(r["prosecutor_avg"], 0.6465751607983555)


def test_k5_four_percent_entropy_matches_arx(adult):
    engine = AnonymityEngine(anonymity_config(adult_policy(k=5, max_suppression=0.04, metric="entropy")))
    released = engine.fit_transform(adult)
    report = engine.report()
    assert [report["transformation"][c] for c in ADULT_COLUMNS] == [1, 0, 1, 1, 3, 2, 2, 0, 1]
    assert close(report["utility"]["information_loss"], 255559.85455731067)
    assert report["suppressed_rows"] <= int(0.04 * len(adult))
    assert report["k"] >= 5 and report["risk"]["prosecutor_max"] <= 0.2
    assert len(released) == len(adult) - report["suppressed_rows"]
    assert close(report["risk_before"]["sample_uniqueness"], 0.5142895033485844)


def test_k5_no_suppression_entropy_matches_arx(adult):
    engine = AnonymityEngine(anonymity_config(adult_policy(k=5, max_suppression=0.0, metric="entropy")))
    engine.fit(adult)
    report = engine.report()
    assert close(report["utility"]["information_loss"], 407289.5388925293)
    assert report["suppressed_rows"] == 0


@pytest.mark.slow
def test_cli_reproduces_oracle(tmp_path, adult):
    # The example's hierarchy paths are relative to the policy file: any working directory will do.
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "privml", "anonymize", str(ADULT / "adult.csv"), "--policy",
         str(REPO / "examples" / "adult_arx.yaml"), "-o", str(out), "--json"],
        cwd=cwd, capture_output=True, text=True, env={**os.environ}, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert close(report["utility"]["information_loss"], 255559.85455731067)
