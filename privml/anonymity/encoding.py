"""Integer encoding of quasi-identifiers: each column once, each generalization level as a code map.

For a column with a hierarchy of height h, `maps[l]` sends a leaf index (hierarchy row) to the code
of its generalization at level l, and `labels[l]` turns that code back into text. Everything the
lattice search does is integer arithmetic on these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from privml.anonymity.hierarchy import Hierarchy, leaf_index


@dataclass
class LevelMaps:
    """Code maps of one hierarchy: maps[l][leaf] -> code at level l; labels[l][code] -> text."""

    maps: list[np.ndarray]
    labels: list[list[str]]

    @classmethod
    def of(cls, hierarchy: Hierarchy) -> LevelMaps:
        maps, labels = [], []
        for level in range(hierarchy.height):
            column = [row[level] for row in hierarchy.rows]
            codes, uniques = pd.factorize(pd.Index(column), sort=False)
            maps.append(codes.astype(np.int64))
            labels.append([str(u) for u in uniques])
        return cls(maps, labels)

    @property
    def height(self) -> int:
        return len(self.maps)

    def cardinality(self, level: int) -> int:
        return len(self.labels[level])


@dataclass
class EncodedTable:
    """The quasi-identifiers of one table: leaf codes (rows x columns) and each column's level maps."""

    columns: list[str]
    codes: np.ndarray  # int64, shape (n, d): hierarchy row index of each cell
    levels: list[LevelMaps]
    # rows each line of `codes` stands for (None: one each). A tuple histogram
    # (privml.anonymity.histogram) is a table whose lines are distinct tuples weighted by their counts.
    weights: np.ndarray | None = None

    @classmethod
    def encode(cls, df: pd.DataFrame, hierarchies: dict[str, Hierarchy]) -> EncodedTable:
        columns = list(hierarchies)
        codes = np.empty((len(df), len(columns)), dtype=np.int64)
        for j, col in enumerate(columns):
            codes[:, j] = leaf_index(hierarchies[col], df[col], strict=True)
        return cls(columns, codes, [LevelMaps.of(hierarchies[c]) for c in columns])

    @property
    def heights(self) -> list[int]:
        return [lm.height for lm in self.levels]

    @property
    def n_rows(self) -> int:
        """Rows of the table (the sum of the weights when lines are weighted)."""
        return len(self.codes) if self.weights is None else int(self.weights.sum())


def combine_keys(columns: list[np.ndarray], cardinalities: list[int]) -> np.ndarray:
    """One int64 key per row for a tuple of code columns (mixed radix; re-ranks if it would overflow)."""
    key = np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
    space = 1
    for col, card in zip(columns, cardinalities, strict=True):
        card = max(int(card), 1)
        if space * card >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64)
            space = int(key.max()) + 1 if len(key) else 1
        key = key * card + col
        space *= card
    return key


def group_ids(columns: list[np.ndarray], cardinalities: list[int]) -> tuple[np.ndarray, int]:
    """Dense class id per row (0..m-1) for the tuples formed by the code columns."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    key = combine_keys(columns, cardinalities)
    _, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.astype(np.int64)
    return inverse, int(inverse.max()) + 1


def factorize_column(values: pd.Series) -> tuple[np.ndarray, int]:
    # a missing cell is one more value: under pandas 3, astype(str) keeps NaN, whose sentinel code -1
    # would collide with another tuple's key in combine_keys
    codes, uniques = pd.factorize(values.astype(str), sort=False, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)
