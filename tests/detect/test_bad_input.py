"""Bad input to scan and anonymize: one line naming the row or the field, exit 2, nothing written.
Ragged rows never shift columns; a label must be a label; custom recognizers must compile."""

from __future__ import annotations

from pathlib import Path

import pytest

from privml.cli import main

CANARY = "QZX9LEAK"


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


AGE_POLICY = "columns:\n  name: {role: identifier, action: drop}\n  age: {role: feature}\n  y: {role: label}\n"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert CANARY not in err
    return err


@pytest.mark.parametrize("body, row", [
    # two extra fields on the first data row: pandas would take the first two columns as an index
    (f"{CANARY} A,x,34,1,0\n{CANARY} B,40,0\n", 1),
    # a short row: pandas would pad it with missing values
    (f"{CANARY} A,34,1\n{CANARY} B,40\n{CANARY} C,41,0\n", 2),
    # a long row further down
    (f"{CANARY} A,34,1\n{CANARY} B,40,0\n{CANARY} C,41,0,9\n", 3),
])
def test_a_ragged_row_is_an_error_naming_it(tmp_path, capsys, body, row):
    raw = tmp_path / "raw.csv"
    raw.write_text("name,age,y\n" + body)
    out = tmp_path / "out"
    code = main(["anonymize", str(raw), "--policy", str(_policy(tmp_path, AGE_POLICY)), "-o", str(out)])
    err = _one_error_line(capsys)
    assert code == 2 and f"data row {row}" in err and "fields" in err
    assert not out.exists()


def test_ragged_rows_can_be_skipped_and_counted(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    raw.write_text("name,age,y\n" + "".join(f"{CANARY} {i},{30 + i},{i % 2}\n" for i in range(20))
                   + f"{CANARY} X,x,99,1,0\n{CANARY} Y,50\n")
    policy = _policy(tmp_path, AGE_POLICY + "bad_rows: skip\n")
    out = tmp_path / "out"
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(out), "--json"]) == 0
    report = (out / "report.json").read_text()
    assert '"bad_rows_skipped": 2' in report and '"rows_in": 20' in report
    assert CANARY not in (out / "data.csv").read_text()


def test_scan_names_a_ragged_line(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b,c\n" + "1,2,3\n" * 100 + f"{CANARY},2\n" + "1,2,3\n" * 10)
    assert main(["scan", str(raw)]) == 2
    err = _one_error_line(capsys)
    assert "line 102 has 2 fields, the header has 3" in err


@pytest.mark.parametrize("label, why", [
    ("constant", "constant"),
    ("email", "identifier"),
    ("nope", "no such column"),
])
def test_a_label_that_cannot_be_one_is_refused_before_anything_runs(tmp_path, capsys, label, why):
    raw = tmp_path / "raw.csv"
    rows = "".join(f"user{i}.{CANARY}@example.com,1,{i % 2}\n" for i in range(60))
    raw.write_text("email,constant,y\n" + rows)
    policy = _policy(tmp_path, "columns:\n  email: {role: identifier, action: drop}\n  constant: {role: feature}\n")
    out = tmp_path / "out"
    code = main(["anonymize", str(raw), "--policy", str(policy), "-o", str(out), "--label", label])
    err = _one_error_line(capsys)
    assert code == 2 and f"--label {label}" in err and why in err
    assert not out.exists()
    assert main(["scan", str(raw), "--label", label, "--policy-out", str(tmp_path / "p.yaml")]) == 2
    assert why in _one_error_line(capsys) and not (tmp_path / "p.yaml").exists()


@pytest.mark.parametrize("recognizer, field, why", [
    ("{name: emp, regex: 'E\\d{6}', validator: luhnn}", "detection.recognizers.0.validator", "unknown validator"),
    ("{name: emp, regex: 'E[0-9'}", "detection.recognizers.0.regex", "does not compile"),
])
def test_a_broken_custom_recognizer_names_its_field(tmp_path, capsys, recognizer, field, why):
    raw = tmp_path / "raw.csv"
    raw.write_text("a,y\n" + "1,0\n" * 10)
    rules = _policy(tmp_path, f"detection:\n  recognizers:\n    - {recognizer}\n")
    out = tmp_path / "p.yaml"
    assert main(["scan", str(raw), "--rules", str(rules), "--policy-out", str(out)]) == 2
    err = _one_error_line(capsys)
    assert field in err and why in err and not out.exists()
    policy = _policy(tmp_path, f"columns:\n  a: {{role: feature}}\ndetection:\n  recognizers:\n    - {recognizer}\n")
    assert main(["anonymize", str(raw), "--policy", str(policy), "-o", str(tmp_path / "out")]) == 2
    assert field in _one_error_line(capsys) and not (tmp_path / "out").exists()


def test_a_line_over_the_cap_is_an_error_naming_it(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n" + "1,2\n" * 50 + "1," + CANARY * 2000 + "\n" + "1,2\n")
    assert main(["scan", str(raw), "--max-line", "4k"]) == 2
    assert "line 52 is longer than the 4.0 KB limit" in _one_error_line(capsys)
