"""Which table row an error names (privml.io.rows): the readers' index, the position otherwise, never a
caller's column, and no number where the rows are unknown."""

from __future__ import annotations

import pandas as pd

from privml.io.rows import data_row, first_data_row, no_table_rows, table_rows


def test_the_readers_index_is_the_table_row():
    batch = pd.Series(["a", "b", "c"], index=pd.RangeIndex(1_000_000, 1_000_003))
    assert table_rows(batch.index, [0, 2]) == [1_000_001, 1_000_003]
    assert data_row(batch, 1) == "data row 1000002"


def test_a_split_keeps_the_rows_it_took():
    split = pd.Series(["a", "b"], index=[4, 17])
    assert first_data_row(split, split == "b") == "data row 18"


def test_a_named_integer_index_is_the_callers_column_and_never_named():
    by_id = pd.Series(["a", "b"], index=pd.Index([912_345_678, 912_345_679], name="patient_id"))
    assert data_row(by_id, 1) == "data row 2"


def test_any_other_index_names_the_position():
    assert data_row(pd.Series(["a", "b"], index=["x", "y"]), 1) == "data row 2"


def test_cells_whose_rows_are_unknown_are_named_without_a_number():
    counted = pd.Series(["a", "b"], index=no_table_rows(2))
    assert table_rows(counted.index, [1]) is None
    assert data_row(counted, 1) == "a data row"
