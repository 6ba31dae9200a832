"""TableStream reads, batch by batch, the frames `read_table` reads: an empty cell (quoted or not) is
missing, decided while Arrow parses; "NA", "null", "NaN" and blanks stay the strings they are."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from privml.errors import PrivmlError
from privml.io import read_table
from privml.io.stream import TableStream

# Cells pandas or Arrow would read as missing under their defaults; only the empty ones are.
CSV = (
    'id,word,note,blank\n'
    '1,NA,"",\n'
    '2,null,x,""\n'
    '3,,NaN,\n'
    '4,"",None,\n'
    '5, ,#N/A,\n'
    '6,"  ",nan,\n'
    '7,N/A,"a ""quoted"" word",\n'
    '8,-,"two\nlines",\n'
)


def streamed(paths: list[Path], batch_rows: int, columns: list[str] | None = None) -> list[pd.DataFrame]:
    return list(TableStream(paths, batch_rows=batch_rows).batches(columns))


@pytest.mark.parametrize("batch_rows", [1, 3, 8, 1000])
def test_batches_are_the_frame_read_table_reads(tmp_path, batch_rows):
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    expected = read_table(path)
    batches = streamed([path], batch_rows)
    assert [len(b) for b in batches][:-1] == [batch_rows] * (len(batches) - 1)
    pd.testing.assert_frame_equal(pd.concat(batches), expected)
    assert expected["word"].isna().tolist() == [False, False, True, True, False, False, False, False]
    assert expected["note"].isna().tolist() == [True] + [False] * 7
    assert expected["blank"].isna().all()  # a column empty in every batch is missing, not ""
    assert expected["word"].tolist()[:2] == ["NA", "null"] and expected["word"][4] == " "


def test_files_one_after_the_other_continue_the_index_and_keep_the_columns_asked_for(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(CSV, encoding="utf-8")
    second.write_text(CSV.replace("\n1,", "\n9,"), encoding="utf-8")
    expected = pd.concat([read_table(first), read_table(second)], ignore_index=True)[["word", "blank"]]
    batches = streamed([first, second], 5, ["blank", "word"])
    assert [b.index[0] for b in batches] == [0, 5, 8, 13]  # a batch does not span files
    pd.testing.assert_frame_equal(pd.concat(batches), expected)


def test_an_empty_cell_is_missing_whatever_the_delimiter(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text(CSV.replace(",", "\t").replace('"a ""quoted"" word"', "plain"), encoding="utf-8")
    pd.testing.assert_frame_equal(pd.concat(streamed([path], 2)), read_table(path))


def test_a_row_longer_than_a_read_block_is_refused_by_its_limit_never_quoted(tmp_path):
    from privml.io.stream import CSV_BLOCK_BYTES

    note = "S" * (2 * CSV_BLOCK_BYTES + 10) + "\nline two"  # with or without a line break
    path = tmp_path / "long.csv"
    path.write_text(f"id,note\n1,short\n2,\"{note}\"\n3,short\n", encoding="utf-8")
    with pytest.raises(PrivmlError, match="longer than 2 MB") as info:
        list(TableStream([path]).batches())
    assert "SSSS" not in str(info.value) and "line two" not in str(info.value)
