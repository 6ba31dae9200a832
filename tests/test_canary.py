"""Canaries planted in every identifier column and in the free text never come out of scan + anonymize:
not in any output file, not in logs, not in printed output, not in the text of an exception."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from privml.cli import main
from privml.io import read_table, write_table
from privml.sampledata import generate

CANARIES = {
    "name": "Qwcanary Zxcanary",
    "email": "canary.qz81@example.org",
    "phone": "+1-617-555-0147",
    "ssn": "219-09-9999",
    "credit_card": "4539 1488 0343 6467",
    "street_address": "4242 Canaryville Road",
    "ip_address": "203.0.113.77",
}
NOTE = "Called canary.note77@example.org and 617-555-0188 about SSN 219-09-9998."
NOTE_CANARIES = ["canary.note77@example.org", "617-555-0188", "219-09-9998"]


def planted(tmp_path: Path) -> Path:
    frame = generate(rows=3000, seed=7)
    rows = list(range(0, 3000, 100))
    for column, canary in CANARIES.items():
        frame.loc[rows, column] = canary
    frame.loc[rows, "notes"] = NOTE
    path = tmp_path / "raw.csv"
    write_table(frame, path)
    return path


def leaks(text: str) -> list[str]:
    fragments = ["qwcanary", "zxcanary", "canaryville", "canary.qz81", "canary.note77"]
    needles = [*CANARIES.values(), *NOTE_CANARIES, *fragments]
    return [n for n in needles if n.lower() in text.lower()]


@pytest.mark.slow
def test_no_canary_survives_scan_and_anonymize(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    raw = planted(tmp_path)
    policy = tmp_path / "policy.yaml"
    out = tmp_path / "out"
    assert main(["-v", "scan", str(raw), "--policy-out", str(policy)]) == 0
    assert main(["-v", "scan", str(raw), "--json"]) == 0
    assert main(["-v", "anonymize", str(raw), "--policy", str(policy), "-o", str(out), "--split", "0.7,0.15,0.15"]) == 0
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(tmp_path / "json"), "--json"]) == 0

    printed = capsys.readouterr()
    assert leaks(printed.out + printed.err) == []
    assert leaks(caplog.text) == []
    assert leaks(policy.read_text()) == []
    for path in [*out.rglob("*"), *(tmp_path / "json").rglob("*")]:
        if path.is_file():
            assert leaks(path.read_bytes().decode("utf-8", errors="replace")) == [], path.name
    assert (out / "train" / "data.csv").exists() and (out / "report.html").exists()
    # the anonymized data still has every row's non-identifying content
    assert len(read_table(out / "train" / "data.csv")) > 1000


def test_errors_about_planted_rows_name_rows_not_values(tmp_path, capsys):
    raw = planted(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("columns:\n  email: {role: identifier, action: generalize, params: {width: 5}}\n")
    code = main(["anonymize", str(raw), "--policy", str(policy), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "column 'email'" in err and "rows 1" in err
    assert leaks(err) == []
