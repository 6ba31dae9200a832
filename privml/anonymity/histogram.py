"""The histogram of distinct quasi-identifier tuples, and global recoding searched on it.

ARX searches its generalization lattice on the distinct quasi-identifier tuples and their counts, not
on rows. `TupleHistogram` is that table: one line per distinct (quasi-identifier values, sensitive
values) combination with the number of rows holding it. It carries everything the privacy models
need — class sizes (k), the sensitive values per class with their counts (distinct, entropy and
recursive l-diversity, t-closeness against the whole table's distribution) — so the search's cost
grows with distinct tuples, not rows. It is built in one pass over record batches (`HistogramBuilder`,
bounded by the distinct lines), or by any engine that can count groups (a Spark `groupBy().count()`,
then `TupleHistogram.from_counts` on the driver).

`search_histogram` runs the same lattice search as the in-memory engine (`privml.anonymity.lattice`)
on the histogram's lines weighted by their counts, and gives the same node and the same loss.
Values live in memory only: a histogram is never written anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from privml.anonymity import missing as missing_cells
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.encoding import EncodedTable, LevelMaps, combine_keys
from privml.anonymity.hierarchy import Hierarchy, leaf_index, load_hierarchy
from privml.anonymity.lattice import SearchResult, search
from privml.anonymity.metrics import Metric, make_metric
from privml.anonymity.models import Constraints, SensitiveColumn
from privml.errors import PrivmlError
from privml.io.rows import first_data_row, no_table_rows


@dataclass
class TupleHistogram:
    """Distinct (quasi-identifier, sensitive) value combinations of a table and their row counts.

    `values[c]` is the distinct values of column c (object array; a missing cell is None), `codes`
    the (lines, columns) int32 index into them, columns in `quasi_identifiers + sensitive` order, and
    `counts` the rows of each line. Lines are unique; their order carries no meaning. `first_rows`:
    the 0-based table row where each line first shows (errors name it), None when the lines came
    counted (`from_counts`).
    """

    quasi_identifiers: list[str]
    sensitive: list[str]
    values: dict[str, np.ndarray]
    codes: np.ndarray
    counts: np.ndarray
    first_rows: np.ndarray | None = None

    def line_index(self) -> pd.Index:
        """The index of the lines as cells: the table rows where they first show, for error messages."""
        return no_table_rows(len(self)) if self.first_rows is None else pd.Index(self.first_rows)

    def value_index(self, column: str) -> pd.Index:
        """The index of `values[column]` as cells: the table row where each value first shows."""
        if self.first_rows is None:
            return no_table_rows(len(self.values[column]))
        first = np.full(len(self.values[column]), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, self.codes[:, self.columns.index(column)], self.first_rows)
        return pd.Index(first)

    def column_values(self, column: str) -> pd.Series:
        """`values[column]` as a Series indexed by the table rows where each first shows."""
        return pd.Series(self.values[column], index=self.value_index(column), dtype=object)

    @property
    def columns(self) -> list[str]:
        return [*self.quasi_identifiers, *self.sensitive]

    @property
    def n_rows(self) -> int:
        return int(self.counts.sum())

    def __len__(self) -> int:
        return len(self.counts)

    @classmethod
    def from_counts(cls, counted: pd.DataFrame, quasi_identifiers: list[str], sensitive: list[str],
                    count_column: str = "count") -> TupleHistogram:
        """A histogram from a table of groups and their counts (one row per group, e.g. a Spark
        `groupBy(*quasi_identifiers, *sensitive).count().toPandas()`); groups that repeat are summed."""
        builder = HistogramBuilder(quasi_identifiers, sensitive)
        builder.add(counted, counts=counted[count_column].to_numpy(dtype=np.int64))
        return builder.result()


@dataclass
class HistogramBuilder:
    """Counts the histogram batch by batch; memory grows with the distinct lines only.

    Each column's distinct values get codes in first-appearance order; a batch is reduced to its
    distinct lines at once and the pending reductions are merged when they outgrow `merge_lines` and
    twice the lines the last merge left (a table with about `merge_lines` distinct lines would
    otherwise be merged, i.e. sorted whole, after every batch).
    """

    quasi_identifiers: list[str]
    sensitive: list[str]
    merge_lines: int = 1 << 20
    _vocab: dict[str, dict[object, int]] = field(default_factory=dict)
    _pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    _rows_known: bool = True
    _pending_lines: int = 0
    _merged_lines: int = 0

    def __post_init__(self) -> None:
        self._vocab = {c: {} for c in [*self.quasi_identifiers, *self.sensitive]}

    def _encode(self, column: str, values: pd.Series) -> np.ndarray:
        vocab = self._vocab[column]
        local, uniques = pd.factorize(values, use_na_sentinel=False)
        mapped = np.empty(len(uniques), dtype=np.int32)
        for i, value in enumerate(uniques.tolist()):
            value = None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
            mapped[i] = vocab.setdefault(value, len(vocab))
        return mapped[local]

    def add(self, frame: pd.DataFrame, counts: np.ndarray | None = None) -> None:
        """Count one batch (or, with `counts`, a batch of already counted groups)."""
        columns = [*self.quasi_identifiers, *self.sensitive]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise PrivmlError(f"column {missing[0]}: listed in the policy but not in the table")
        if not len(frame):
            return
        codes = np.column_stack([self._encode(c, frame[c]) for c in columns])
        weights = np.ones(len(frame), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        # a batch's rows are its index when it is the readers' (the table's positions, privml.io.rows)
        index = frame.index
        self._rows_known &= counts is None and index.name is None and pd.api.types.is_integer_dtype(index.dtype)
        rows = index.to_numpy(dtype=np.int64) if self._rows_known else np.zeros(len(frame), dtype=np.int64)
        self._pending.append(_reduce(codes, weights, rows, [len(self._vocab[c]) for c in columns]))
        self._pending_lines += len(self._pending[-1][1])
        if self._pending_lines > max(self.merge_lines, 2 * self._merged_lines) and len(self._pending) > 1:
            self._merge()

    def _merge(self) -> None:
        columns = [*self.quasi_identifiers, *self.sensitive]
        codes = np.concatenate([c for c, _, _ in self._pending])
        weights = np.concatenate([w for _, w, _ in self._pending])
        rows = np.concatenate([r for _, _, r in self._pending])
        self._pending = [_reduce(codes, weights, rows, [len(self._vocab[c]) for c in columns])]
        self._pending_lines = self._merged_lines = len(self._pending[0][1])

    def result(self) -> TupleHistogram:
        columns = [*self.quasi_identifiers, *self.sensitive]
        if self._pending:
            self._merge()
            codes, counts, rows = self._pending[0]
        else:
            codes, counts = np.zeros((0, len(columns)), dtype=np.int32), np.zeros(0, dtype=np.int64)
            rows = np.zeros(0, dtype=np.int64)
        values = {c: np.array(list(self._vocab[c]), dtype=object) for c in columns}
        return TupleHistogram(list(self.quasi_identifiers), list(self.sensitive), values, codes, counts,
                              first_rows=rows if self._rows_known else None)


def _reduce(codes: np.ndarray, weights: np.ndarray, rows: np.ndarray,
            cardinalities: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct lines of `codes`, their summed weights and the row each first shows in (the pending
    reductions are concatenated in row order, so a line's first occurrence is its first row)."""
    key = combine_keys([codes[:, j] for j in range(codes.shape[1])], cardinalities)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(first)).astype(np.int64)
    # lines in order of first appearance: the first line holding a value is then where the value first
    # appears in the rows, so orders that follow first appearance (Mondrian's categories) are the rows'
    order = np.argsort(first, kind="stable")
    return codes[first[order]], counts[order], rows[first[order]]


# -- global recoding on the histogram ------------------------------------------------------------------

@dataclass
class HistogramSearch:
    """The search's answer on a histogram: `result.suppressed_rows` is per histogram line."""

    result: SearchResult
    table: EncodedTable  # the lines as leaf codes, weighted by their counts
    metric: Metric
    hierarchies: dict[str, Hierarchy]
    sensitive: list[SensitiveColumn]  # per line, weighted


def fit_hierarchies(histogram: TupleHistogram, config: AnonymityConfig) -> dict[str, Hierarchy]:
    """Each quasi-identifier's hierarchy, as the in-memory engine builds it from the whole column (a
    flat or built-in hierarchy depends only on the distinct values; `missing: value` adds a leaf)."""
    out = {}
    for col in histogram.quasi_identifiers:
        values = pd.Series(histogram.values[col], dtype=object)
        hierarchy = load_hierarchy(col, config.hierarchies.get(col), values)
        if missing_cells.as_value(config):
            hierarchy = missing_cells.with_missing_leaf(hierarchy, values)
        out[col] = hierarchy
    return out


def encode_histogram(histogram: TupleHistogram, hierarchies: Mapping[str, Hierarchy],
                     config: AnonymityConfig) -> tuple[EncodedTable, list[SensitiveColumn]]:
    """The histogram's lines as hierarchy leaf codes weighted by their counts, and its sensitive
    columns as the models read them (per line, weighted)."""
    qis = histogram.quasi_identifiers
    leaf_of_value = []
    for col in qis:
        values = histogram.column_values(col)
        if missing_cells.as_value(config):
            values = missing_cells.fill(values)
        elif values.isna().any():
            raise PrivmlError(f"column {col}: {first_data_row(values, values.isna())} is empty")
        leaf_of_value.append(leaf_index(hierarchies[col], values, strict=True))
    codes = np.empty((len(histogram), len(qis)), dtype=np.int64)
    for j, leaves in enumerate(leaf_of_value):
        codes[:, j] = leaves[histogram.codes[:, j]]
    table = EncodedTable(list(qis), codes, [LevelMaps.of(hierarchies[c]) for c in qis], weights=histogram.counts)
    sensitive = []
    for j, col in enumerate(histogram.sensitive, start=len(qis)):
        values = histogram.column_values(col)
        if values.isna().any():
            raise PrivmlError(f"column {col}: {first_data_row(values, values.isna())} is empty")
        sensitive.append(SensitiveColumn.encode_lines(col, values, histogram.codes[:, j], weights=histogram.counts))
    return table, sensitive


def search_histogram(histogram: TupleHistogram, config: AnonymityConfig, constraints: Constraints,
                     hierarchies: Mapping[str, Hierarchy] | None = None) -> HistogramSearch | None:
    """Global recoding's lattice search on the histogram: the anonymous node with the least loss under
    `config.metric` and `config.max_suppression`, or None when no node is anonymous. The same search,
    node and loss as the in-memory engine on the rows the histogram counts."""
    hierarchies = dict(hierarchies) if hierarchies is not None else fit_hierarchies(histogram, config)
    table, sensitive = encode_histogram(histogram, hierarchies, config)
    metric = make_metric(config.metric, table)
    result = search(table, constraints, sensitive, float(config.max_suppression), metric)
    if result is None:
        return None
    return HistogramSearch(result, table, metric, hierarchies, sensitive)
