"""`privml risk` and the HTML report."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from privml.anonymity.engine import AnonymityEngine
from privml.policy.engine_config import anonymity_config
from privml.report.html import render_report

from .conftest import REPO, make_policy

SECRET = "Unique-Surname-Qx"


def run(*args):
    return subprocess.run([sys.executable, "-m", "privml", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def sample(tmp_path):
    df = pd.DataFrame({"zip": ["130", "130", "130", "148", "148", "148", SECRET],
                       "age": ["20", "20", "20", "40", "40", "40", "40"],
                       "disease": ["flu", "flu", "cancer", "flu", "hiv", "cancer", "cancer"]})
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    return path


def test_risk_json(tmp_path):
    proc = run("risk", str(sample(tmp_path)), "--quasi", "zip,age", "--sensitive", "disease", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["k"] == 1 and out["l"] == 1
    assert out["risk"]["prosecutor_max"] == 1.0
    assert out["risk"]["sample_uniqueness"] == 1 / 7
    assert SECRET not in proc.stdout


def test_risk_population_and_text(tmp_path):
    path = sample(tmp_path)
    proc = run("risk", str(path), "--quasi", "age", "--population", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "journalist risk" in proc.stdout and "k-anonymity: k = 3" in proc.stdout


def test_risk_bad_column_exit_2(tmp_path):
    proc = run("risk", str(sample(tmp_path)), "--quasi", "nope")
    assert proc.returncode == 2
    assert "nope" in proc.stderr and proc.stderr.count("\n") == 1


def test_html_report_has_charts_and_no_values():
    df = pd.DataFrame({"zip": ["130", "131", "130", "148", "149", "148"] * 3,
                       "age": ["21", "22", "23", "41", "42", "43"] * 3})
    df.loc[0, "zip"] = SECRET
    policy = make_policy({"zip": None, "age": {"type": "interval", "width": 10, "levels": 2}},
                         {"algorithm": "global_recoding", "k": 3, "max_suppression": 0.1})
    engine = AnonymityEngine(anonymity_config(policy))
    engine.fit(df)
    page = render_report(engine.report())
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    assert SECRET not in page and "130" not in page
    assert "Re-identification risk" in page and "Transformation" in page


def test_report_measures_each_split_on_its_own(tmp_path):
    from privml.cli import main
    from privml.sampledata import generate

    raw = tmp_path / "raw.csv"
    generate(rows=3000, seed=5).to_csv(raw, index=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "columns:\n"
        "  age: {role: quasi_identifier, action: keep}\n"
        "  sex: {role: quasi_identifier, action: keep}\n"
        "  education: {role: quasi_identifier, action: keep}\n"
        "  readmitted: {role: label}\n"
        "unlisted_columns: drop\n"
        "anonymity: {algorithm: mondrian, k: 5}\n"
    )
    out = tmp_path / "out"
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(out), "--split", "0.7,0.15,0.15"]) == 0
    report = json.loads((out / "report.json").read_text())
    splits = report["splits"]
    assert set(splits) == {"train", "validation", "test"}
    assert sum(s["rows"] for s in splits.values()) == report["rows_out"]
    assert report["k"] >= 5
    # a 15% split of 5-anonymous classes keeps few whole classes: its own smallest class is below k
    assert splits["test"]["k"] < 5 and 0 < splits["test"]["rows_below_k"] <= 1
    assert splits["train"]["classes"] > splits["test"]["classes"]
    assert "<h2>Splits</h2>" in (out / "report.html").read_text()
