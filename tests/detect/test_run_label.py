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
                          "outcome_flag": rng.integers(0, 2, 300), "constant": ["x"] * 300})
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
])
def test_a_missing_or_bad_label_stops_the_run_before_anything_is_stored(table, tmp_path, capsys, extra, message):
    assert main(["run", "--local", "--data", str(table), "--no-endpoint", *extra]) == 2
    assert message in capsys.readouterr().err
    assert _stored(tmp_path) == []
