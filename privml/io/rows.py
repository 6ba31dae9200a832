"""Which row of the user's table a cell is, for error messages (they name rows, never values).

The readers index a table's rows by their positions in it (`read_table`: 0..n-1; `TableStream`: a batch
starts where the previous one ended) and every step before the engines keeps that index (a split, the
rows left after `anonymity.missing: suppress`), so an unnamed integer index + 1 is the 1-based data row.
Any other index says nothing about the table and the cell's position + 1 is named instead; a NAMED
integer index is a column of the caller's (`set_index("patient_id")`) whose values must never reach a
message. Cells that stand for many rows (a histogram's distinct values or lines, counted elsewhere) carry
the index `NO_TABLE_ROWS` when their rows are unknown, and are then named without a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

NO_TABLE_ROWS = "privml: table rows unknown"


def no_table_rows(n: int) -> pd.Index:
    """The index of `n` cells whose table rows are unknown."""
    return pd.RangeIndex(n, name=NO_TABLE_ROWS)


def table_rows(index: pd.Index, positions: Sequence[int] | np.ndarray) -> list[int] | None:
    """The 1-based table rows of the cells at these positions; None when the index says they are unknown."""
    at = np.asarray(positions, dtype=np.int64)
    if index.name == NO_TABLE_ROWS:
        return None
    if pd.api.types.is_integer_dtype(index.dtype) and index.name is None:
        return [int(i) + 1 for i in index.to_numpy()[at]]
    return [int(i) + 1 for i in at]


def data_row(values: pd.Series | pd.Index, position: int) -> str:
    """'data row N' for the cell at `position`, or 'a data row' when its row is unknown."""
    index = values if isinstance(values, pd.Index) else values.index
    rows = table_rows(index, [position])
    return f"data row {rows[0]}" if rows else "a data row"


def first_data_row(values: pd.Series, mask: np.ndarray | pd.Series) -> str:
    """`data_row` of the first cell `mask` marks."""
    return data_row(values, int(np.flatnonzero(np.asarray(mask))[0]))
