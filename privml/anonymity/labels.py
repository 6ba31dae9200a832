"""The released cells of every Mondrian partition, kept as codes into each column's distinct labels.

A fit on a large table has hundreds of thousands of partitions but few distinct labels per column (an
age box `30-39` is shared by many partitions). Keeping one string per partition and column costs a
Python object each, in memory and in a saved model (skops writes every object of a list as its own
entry, which made saving a streaming Mondrian fit slower than fitting it). Here each column keeps its
distinct labels once and an int32 array says which one each partition releases; skops writes that
array as one block.

State: {"values": [labels of column 0, ...], "codes": int32 array (partitions, columns)}. States saved
before this form hold the labels as a list of rows (one list of strings per partition);
`PartitionLabels.from_state` reads both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class PartitionLabels:
    """values[j]: the distinct labels of quasi-identifier j; codes[p, j]: partition p's label index."""

    values: list[list[str]]
    codes: np.ndarray

    @classmethod
    def from_columns(cls, columns: Sequence[Sequence[str]], partitions: int) -> PartitionLabels:
        """From each column's label per partition (`columns[j][p]`)."""
        codes = np.zeros((partitions, len(columns)), dtype=np.int32)
        values: list[list[str]] = []
        for j, column in enumerate(columns):
            local, uniques = pd.factorize(pd.Index(list(column), dtype=object), sort=False)
            codes[:, j] = local
            values.append([str(u) for u in uniques])
        return cls(values, codes)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[str]]) -> PartitionLabels:
        """From one row of labels per partition (the form states were saved in before this one)."""
        width = len(rows[0]) if len(rows) else 0
        return cls.from_columns([[row[j] for row in rows] for j in range(width)], len(rows))

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def width(self) -> int:
        return len(self.values)

    def column(self, j: int, partitions: np.ndarray) -> np.ndarray:
        """The labels (object array) column j releases for each partition in `partitions`."""
        return np.asarray(self.values[j], dtype=object)[self.codes[partitions, j]]

    def row(self, partition: int) -> list[str]:
        return [self.values[j][int(self.codes[partition, j])] for j in range(self.width)]

    def get_state(self) -> dict[str, Any]:
        return {"values": [list(v) for v in self.values], "codes": self.codes}

    @classmethod
    def from_state(cls, state: dict[str, Any] | Sequence[Sequence[str]] | None) -> PartitionLabels:
        if state is None:
            return cls([], np.zeros((0, 0), dtype=np.int32))
        if isinstance(state, dict):
            values = [[str(v) for v in column] for column in state["values"]]
            codes = np.asarray(state["codes"], dtype=np.int32)
            return cls(values, codes.reshape(-1, len(values)) if values else np.zeros((0, 0), dtype=np.int32))
        return cls.from_rows([list(row) for row in state])
