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


# Identifier columns whose canaries match no pattern: opaque shapes that only the column name or the
# column's uniqueness can give away. Added to the sample data under names a user's export might use.
OPAQUE = {
    "passport_number": "Qz~PASS~{i:04d}",
    "nachname": "Qz~NACH~{i:04d}",
    "device_id": "Qz~DEVI~{i:04d}",
    "username": "Qz~USER~{i:04d}",
    "patient_id": "Qz~PATI~{i:04d}",
    "steuer_id": "Qz~STEU~{i:04d}",
    "field_7": "Qz~FLD7~{i:04d}",  # no hint: near-unique codes
}
OPAQUE_EVERY_ROW = {"name", "email", "phone", "ssn", "credit_card", "street_address", "ip_address"}


def _opaque_table(tmp_path: Path) -> Path:
    import numpy as np

    frame = generate(rows=2500, seed=11)
    rng = np.random.default_rng(3)
    for column, shape in OPAQUE.items():
        frame[column] = [shape.format(i=int(i)) for i in rng.permutation(len(frame))]
    for column in OPAQUE_EVERY_ROW:  # the sample data's own identifier columns, in no known shape
        frame[column] = [f"Qz~{column[:4].upper()}~{i:04d}" for i in range(len(frame))]
    path = tmp_path / "raw.csv"
    write_table(frame, path)
    return path


def _opaque_leaks(text: str) -> int:
    return text.count("Qz~")


@pytest.mark.slow
def test_no_opaque_canary_reaches_a_split_a_report_a_log_or_the_model(tmp_path, capsys, caplog):
    import zipfile

    from privml.anonymize import anonymize_table, split_rows
    from privml.models.persistence import dumps_model
    from privml.models.training import TrainingRequest, train_on_splits
    from privml.policy import Role, load_policy

    caplog.set_level(logging.DEBUG)
    raw = _opaque_table(tmp_path)
    policy_path = tmp_path / "policy.yaml"
    out = tmp_path / "out"
    assert main(["-v", "scan", str(raw), "--policy-out", str(policy_path)]) == 0
    assert main(["-v", "anonymize", str(raw), "--policy", str(policy_path), "-o", str(out),
                 "--split", "0.7,0.15,0.15"]) == 0
    policy = load_policy(policy_path)
    for column in [*OPAQUE, *OPAQUE_EVERY_ROW]:  # every one proposed as an identifier, none kept
        assert policy.columns[column].role is Role.IDENTIFIER, column
    printed = capsys.readouterr()
    assert _opaque_leaks(printed.out + printed.err + caplog.text) == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert _opaque_leaks(path.read_bytes().decode("utf-8", errors="replace")) == 0, path.name

    # Train as the training job does, on the anonymized splits, and search inside the model file.
    result = anonymize_table(read_table(raw), policy)
    splits = split_rows(result.data, (0.7, 0.15, 0.15), label=policy.label, seed=0)
    trained = train_on_splits(splits["train"], splits["validation"], result.transformer, policy,
                              TrainingRequest(model="logreg", dp_epsilon=0.0, label=None, seed=0))
    model = tmp_path / "model.skops"
    model.write_bytes(dumps_model(trained.pipeline))
    with zipfile.ZipFile(model) as archive:
        for member in archive.namelist():
            assert _opaque_leaks(archive.read(member).decode("utf-8", errors="replace")) == 0, member
