"""`run --local --data FILE`: the label is settled before anything is stored or any job starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privml.cli import main
from privml.io import write_table


@pytest.fixture
def table(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "ws"))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 300), "score": rng.normal(0, 1, 300).round(3),
                          "outcome_flag": rng.integers(0, 2, 300), "constant": ["x"] * 300,
                          "contact": [f"person{i}@example.org" for i in range(300)]})
    path = tmp_path / "mine.csv"
    write_table(frame, path)
    return path


def _stored(tmp_path: Path) -> list[Path]:
    objects = tmp_path / "ws" / "objects"
    # the bucket's own settings file aside, nothing: no data, no policy
    return [p for p in objects.rglob("*") if p.is_file() and not p.name.startswith(".")] if objects.exists() else []


@pytest.mark.parametrize("extra, message", [
    ([], "no label column"),
    (["--label", "constant"], "constant"),
    (["--label", "missing"], "no such column"),
    (["--label", "contact"], "is an identifier"),
    (["--label", "outcome_flag", "--param", "Label=score"], "name the label once"),
])
def test_a_missing_or_bad_label_stops_the_run_before_anything_is_stored(table, tmp_path, capsys, extra, message):
    assert main(["run", "--local", "--data", str(table), "--no-endpoint", *extra]) == 2
    assert message in capsys.readouterr().err
    assert _stored(tmp_path) == []


def test_an_identifier_label_with_a_policy_is_refused_before_anything_is_stored(table, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("columns:\n  age: {role: feature, action: keep}\n")
    code = main(["run", "--local", "--data", str(table), "--policy", str(policy), "--no-endpoint",
                 "--label", "contact"])
    err = capsys.readouterr().err
    assert code == 2 and "--label contact" in err and len(err.strip().splitlines()) == 1
    assert "@example.org" not in err  # the column is named, never a value
    assert _stored(tmp_path) == []


def test_anonymize_job_checks_the_label_argument_before_writing(tmp_path, monkeypatch):
    import yaml

    from processing.anonymize import main as anonymize_main

    rng = np.random.default_rng(1)
    data = tmp_path / "in"
    data.mkdir()
    write_table(pd.DataFrame({"age": rng.integers(18, 90, 200), "outcome": rng.integers(0, 2, 200),
                              "constant": ["x"] * 200}), data / "t.csv")
    policy = tmp_path / "policy.yaml"
    policy.write_text("columns:\n  age: {role: feature, action: keep}\n  constant: {role: feature, action: drop}\n")
    out, failure = tmp_path / "out", tmp_path / "failure"
    monkeypatch.setenv("PRIVML_FAILURE_FILE", str(failure))
    args = ["--policy", str(policy), "--input", str(data), "--output", str(out)]
    assert anonymize_main([*args, "--label=constant"]) == 2
    assert "--label constant" in failure.read_text()
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    assert anonymize_main([*args, "--label=outcome"]) == 0
    handed_to_train = yaml.safe_load((out / "transformer" / "policy.yaml").read_text())
    assert handed_to_train["columns"]["outcome"]["role"] == "label"


def test_run_aws_label_sets_the_parameter_and_refuses_two_labels():
    from pipelines.run_cli import _with_label
    from privml.errors import PrivmlError

    assert _with_label({"K": "5"}, "outcome") == {"K": "5", "Label": "outcome"}
    assert _with_label({"K": "5"}, None) == {"K": "5"}
    with pytest.raises(PrivmlError, match="name the label once"):
        _with_label({"Label": "a"}, "b")
