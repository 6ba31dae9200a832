"""The figures of a fit made on a tuple histogram (`privml.anonymity.histogram`) instead of rows.

`AnonymityEngine.fit_histogram` searches (global recoding) or partitions (Mondrian) the histogram's
lines weighted by their counts; what is measured afterwards, the released classes' sizes, the privacy
models they reach and the risk before and after, is computed here on the lines, so the report is the
one a fit on the rows would write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity import missing as missing_cells
from privml.anonymity import risk as risk_mod
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.encoding import group_ids
from privml.anonymity.histogram import HistogramSearch, TupleHistogram
from privml.anonymity.labels import PartitionLabels
from privml.anonymity.models import Constraints, Measured, SensitiveColumn, measure
from privml.anonymity.mondrian import MondrianTree
from privml.errors import PrivmlError
from privml.io.rows import first_data_row


@dataclass
class FitFigures:
    """What `AnonymityEngine.record_fit` reads besides the constraints, utility and transformation."""

    n: int
    suppressed: int
    sizes: np.ndarray
    before_sizes: np.ndarray
    achieved: Measured
    after: dict[str, Any]
    before: dict[str, Any]

    def as_args(self) -> tuple[Any, ...]:
        """In `record_fit`'s order, after the constraints."""
        return self.n, self.suppressed, self.sizes, self.before_sizes, self.achieved, self.after, self.before


def sizes_before(histogram: TupleHistogram) -> np.ndarray:
    """Rows per distinct quasi-identifier tuple: the classes before any generalization."""
    d = len(histogram.quasi_identifiers)
    _, before_ids = np.unique(histogram.codes[:, :d], axis=0, return_inverse=True)
    return np.bincount(before_ids.ravel(), weights=histogram.counts).astype(np.int64)


def recoding_figures(histogram: TupleHistogram, found: HistogramSearch, constraints: Constraints,
                     threshold: float) -> FitFigures:
    """The released classes of the node global recoding chose, on the histogram's lines."""
    d = len(histogram.quasi_identifiers)
    suppressed = found.result.suppressed_rows
    kept = np.flatnonzero(~suppressed)
    levels, node = found.table.levels, found.result.node
    generalized = [levels[j].maps[int(node[j])][found.table.codes[kept, j]] for j in range(d)]
    ids, n_classes = group_ids(generalized, [lm.cardinality(int(node[j])) for j, lm in enumerate(levels)])
    kept_weights = histogram.counts[kept]
    sizes = np.bincount(ids, weights=kept_weights, minlength=n_classes).astype(np.int64)
    achieved = measure(ids, n_classes, [s.subset(kept) for s in found.sensitive], constraints.t_distance,
                       weights=kept_weights)
    before_sizes = sizes_before(histogram)
    return FitFigures(histogram.n_rows, int(histogram.counts[suppressed].sum()), sizes, before_sizes, achieved,
                      risk_mod.prosecutor(sizes, threshold), risk_mod.prosecutor(before_sizes, threshold))


def histogram_lines(histogram: TupleHistogram, config: AnonymityConfig) -> tuple[pd.DataFrame, list[SensitiveColumn]]:
    """The histogram's lines as cells (what Mondrian's axes are fitted on) and its sensitive columns
    weighted by the lines' counts; an empty cell is refused unless `missing: value` makes it a value."""
    # indexed by the table rows where the lines first show: the axes' errors name those rows
    lines = pd.DataFrame({c: pd.Series(histogram.values[c][histogram.codes[:, j]], dtype="str")
                          for j, c in enumerate(histogram.columns)}).set_axis(histogram.line_index())
    as_value = missing_cells.as_value(config)
    for col in [*([] if as_value else histogram.quasi_identifiers), *histogram.sensitive]:
        if lines[col].isna().any():
            raise PrivmlError(f"column {col}: {first_data_row(lines[col], lines[col].isna())} is empty")
    first = len(histogram.quasi_identifiers)
    sensitive = [SensitiveColumn.encode_lines(s, pd.Series(histogram.values[s], dtype=object),
                                              histogram.codes[:, j], weights=histogram.counts)
                 for j, s in enumerate(histogram.sensitive, start=first)]
    return lines, sensitive


def mondrian_figures(histogram: TupleHistogram, lines: pd.DataFrame, axes: dict[str, dict[str, Any]],
                     tree: MondrianTree | None, labels: PartitionLabels, sensitive: list[SensitiveColumn],
                     constraints: Constraints, threshold: float) -> FitFigures:
    """The released classes of a Mondrian fit on the histogram's lines: partitions whose boxes have the
    same labels are one class, as on rows."""
    qis, d, counts = histogram.quasi_identifiers, len(histogram.quasi_identifiers), histogram.counts
    x = np.column_stack([missing_cells.positions(axes[c], lines[c], strict=True) for c in qis])
    partition = tree.route(x) if tree is not None else np.zeros(len(lines), dtype=np.int64)
    # labels are distinct per column in PartitionLabels, so their codes say which boxes read alike
    class_of_partition, n_classes = group_ids([labels.codes[:, j].astype(np.int64) for j in range(d)],
                                              [len(labels.values[j]) for j in range(d)])
    ids = class_of_partition[partition]
    sizes = np.bincount(ids, weights=counts, minlength=n_classes).astype(np.int64)
    before_sizes = sizes_before(histogram)
    achieved = measure(ids, n_classes, sensitive, constraints.t_distance, weights=counts)
    return FitFigures(histogram.n_rows, 0, sizes, before_sizes, achieved,
                      risk_mod.prosecutor(sizes, threshold), risk_mod.prosecutor(before_sizes, threshold))
