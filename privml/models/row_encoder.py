"""The fitted FeatureEncoder applied to a few rows of released cells without pandas.

`FeatureEncoder.row_encoder()` builds this from its fitted state. It gives what `FeatureEncoder.transform`
gives: the scaled block (numeric columns, then range midpoints), the one-hot block, then the value-set
member block, times the row scale. Cells that are not plain numbers in numeric columns raise
`NotCompiled` (pandas' number parsing owns those).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from privml.models.cell_labels import MISSING, SUPPRESSED, range_midpoint, set_members
from privml.rowform import Cell, NotCompiled, plain_number

_MAX_MIDPOINTS = 4096  # labels of generalized ranges: a small, fixed set


class FittedOneHot(Protocol):
    """The part of a fitted `sklearn.preprocessing.OneHotEncoder` the row encoder reads."""

    @property
    def categories_(self) -> Sequence[np.ndarray]: ...


class FittedFeatureLayout(Protocol):
    """The fitted state of a `privml.models.features.FeatureEncoder` that the row encoder reads. Named
    here rather than imported: the encoder builds this module's RowEncoder, so this module stays below it."""

    @property
    def feature_columns_(self) -> Sequence[str]: ...
    @property
    def numeric_columns_(self) -> Sequence[str]: ...
    @property
    def interval_columns_(self) -> Sequence[str]: ...
    @property
    def categorical_columns_(self) -> Sequence[str]: ...
    @property
    def set_members_(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def numeric_low_(self) -> np.ndarray: ...
    @property
    def numeric_high_(self) -> np.ndarray: ...
    @property
    def numeric_fill_(self) -> np.ndarray: ...
    @property
    def numeric_clipped_(self) -> np.ndarray: ...
    @property
    def onehot_(self) -> FittedOneHot | None: ...
    @property
    def n_features_out_(self) -> int: ...
    @property
    def row_scale_(self) -> float: ...


class RowEncoder:
    """Columns of released cells (in `columns` order) → the encoder's feature matrix."""

    def __init__(self, encoder: FittedFeatureLayout) -> None:
        self.columns: list[str] = list(encoder.feature_columns_)
        at = {c: i for i, c in enumerate(self.columns)}
        self._numeric = [at[c] for c in encoder.numeric_columns_]
        self._intervals = [at[c] for c in encoder.interval_columns_]
        self._scaling = list(zip(encoder.numeric_low_.tolist(), encoder.numeric_high_.tolist(),
                                 encoder.numeric_fill_.tolist(), encoder.numeric_clipped_.tolist(), strict=True))
        self._midpoints: dict[str, float] = {}
        # the scaled block: (column, cell → its scaled value), numeric columns then range midpoints
        self._scalers: list[tuple[int, Callable[[Cell], float]]] = [
            (i, self._scaler(k, numeric=k < len(self._numeric)))
            for k, i in enumerate(self._numeric + self._intervals)]
        offset = len(self._scaling)
        self._onehot: list[tuple[int, dict[str, int]]] = []
        if encoder.onehot_ is not None:
            for col, categories in zip(encoder.categorical_columns_, encoder.onehot_.categories_, strict=True):
                self._onehot.append((at[col], {str(v): offset + i for i, v in enumerate(categories)}))
                offset += len(categories)
        self._members: list[tuple[int, dict[str, int]]] = []
        for col, vocabulary in encoder.set_members_.items():
            self._members.append((at[col], {m: offset + i for i, m in enumerate(vocabulary)}))
            offset += len(vocabulary)
        if offset != encoder.n_features_out_:
            raise NotCompiled  # an encoder layout this module does not know: never guess
        self.n_features = offset
        self._row_scale = float(encoder.row_scale_)

    def _midpoint(self, cell: Cell) -> float:
        label = SUPPRESSED if cell is None else cell
        mid = self._midpoints.get(label)
        if mid is None:
            mid = range_midpoint(label)
            if len(self._midpoints) < _MAX_MIDPOINTS:
                self._midpoints[label] = mid
        return mid

    def _scaler(self, k: int, *, numeric: bool) -> Callable[[Cell], float]:
        """Cell → scaled block column k, in the same float64 operations as the numpy form: a missing value
        (or a range without a midpoint) takes the fitted fill, unclipped; others are clipped if fitted so."""
        low, high, fill, clipped = self._scaling[k]
        midpoint = self._midpoint

        def scale_number(cell: Cell) -> float:
            if cell is None:
                v = fill
            else:  # a plain number is never NaN
                v = plain_number(cell)
                if clipped:
                    v = min(max(v, low), high)
            return (v - low) / (high - low)

        def scale_range(cell: Cell) -> float:
            v = midpoint(cell)
            if v != v:  # NaN: no midpoint
                v = fill
            elif clipped:
                v = min(max(v, low), high)
            return (v - low) / (high - low)

        return scale_number if numeric else scale_range

    def encode_one(self, row: Sequence[Cell]) -> list[float]:
        """One row's features as a list, the same values as `encode` (one row is the common request, and
        numpy's per-call cost dominates it)."""
        x = [0.0] * self.n_features
        for k, (i, scale) in enumerate(self._scalers):
            x[k] = scale(row[i])
        for i, index in self._onehot:
            cell = row[i]
            j = index.get(MISSING if cell is None else cell)
            if j is not None:
                x[j] = 1.0
        for i, index in self._members:
            for j, share in _member_shares(index, row[i]):
                x[j] = share
        if self._row_scale != 1.0:
            x = [v * self._row_scale for v in x]
        return x

    def encode(self, columns: Sequence[Sequence[Cell]], n_rows: int) -> np.ndarray:
        """`columns`: the released cells of each of `self.columns`, column by column."""
        # Python computes each column's values or flat positions; numpy writes each block in one call
        # rather than one item assignment per cell
        width = self.n_features
        out = np.zeros((n_rows, width))
        if self._scalers:
            block = [[scale(cell) for cell in columns[i]] for i, scale in self._scalers]
            out[:, :len(block)] = np.array(block).T
        flat = out.reshape(-1)  # a view: out is C-contiguous
        ones: list[int] = []
        for i, index in self._onehot:
            for r, cell in enumerate(columns[i]):
                j = index.get(MISSING if cell is None else cell)
                if j is not None:  # unseen categories encode as all zeros (handle_unknown="ignore")
                    ones.append(r * width + j)
        if ones:
            flat[ones] = 1.0
        if self._members:
            at: list[int] = []
            shares: list[float] = []
            for i, index in self._members:
                for r, cell in enumerate(columns[i]):
                    for j, share in _member_shares(index, cell):
                        at.append(r * width + j)
                        shares.append(share)
            if at:
                flat[at] = shares
        if self._row_scale != 1.0:
            out *= self._row_scale
        return out


def _member_shares(index: dict[str, int], cell: Cell) -> list[tuple[int, float]]:
    """A value-set cell's feature positions and their share (1 / the number of members)."""
    members = set_members(MISSING if cell is None else cell)
    return [(j, 1.0 / len(members)) for m in members if (j := index.get(m)) is not None]
