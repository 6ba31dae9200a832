"""`sample_table`: a seeded uniform sample of a table of any size, read in bounded chunks, so `privml scan`
judges the whole file rather than its head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privml.cli import main
from privml.errors import PrivmlError
from privml.io import sample_table


def _sorted_file(tmp_path: Path, n: int = 6000, suffix: str = ".csv") -> Path:
    """A table sorted so that `contact` is empty for its first 80% of rows and holds emails after."""
    later = int(n * 0.8)
    frame = pd.DataFrame({
        "row": [str(i) for i in range(n)],
        "contact": [None] * later + [f"person{i}@example.org" for i in range(n - later)],
    })
    path = tmp_path / f"sorted{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sample_is_uniform_seeded_and_in_file_order(tmp_path: Path, suffix: str) -> None:
    path = _sorted_file(tmp_path, suffix=suffix)
    sample, total = sample_table(path, 500, seed=3, chunk_rows=700)
    assert total == 6000 and len(sample) == 500
    rows = sample["row"].astype(int).to_numpy()
    assert (np.diff(rows) > 0).all()  # file order, no repeats
    assert 2400 < rows.mean() < 3600  # spread over the whole file, not its head
    again, _ = sample_table(path, 500, seed=3, chunk_rows=1900)
    assert again.equals(sample)  # the keys are one seeded stream: chunking does not change the draw
    other, _ = sample_table(path, 500, seed=4, chunk_rows=700)
    assert set(other["row"]) != set(sample["row"])
    assert sample_table(path, 500, seed=3, chunk_rows=700)[0].equals(sample)  # seeded


def test_small_table_comes_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    path.write_text("a,b\n1,x\n2,\n")
    sample, total = sample_table(path, 100)
    assert total == 2 and sample["a"].tolist() == ["1", "2"] and pd.isna(sample["b"].iloc[1])


def test_errors_name_the_line_of_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 5000 + b"\xff,3\n")
    with pytest.raises(PrivmlError, match="invalid bytes on line 5002"):
        sample_table(path, 10, chunk_rows=1000)


def test_scan_finds_a_column_that_is_empty_at_the_head_of_the_file(tmp_path: Path, capsys) -> None:
    path = _sorted_file(tmp_path)
    assert main(["scan", str(path), "--sample-rows", "400", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    columns = result["columns"]
    contact = next(c for c in columns if c["name"] == "contact") if isinstance(columns, list) else columns["contact"]
    assert contact["pii_type"] == "email"
    assert result["rows_total"] == 6000 and result["rows_sampled"] == 400
