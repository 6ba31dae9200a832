"""The anonymity engine fitted on a table read in batches, with bounded memory.

    engine = fit_streaming(config, batches)     # batches(): a fresh iterator of frames per pass

`batches` is called once per pass and yields the quasi-identifier and sensitive columns (as the column
techniques left them) with the rows' positions in the table as index. The fitted engine is the one
`AnonymityEngine.fit` gives on the whole table (same state, same report):

- global recoding: pass 1 counts the tuple histogram (`privml.anonymity.histogram`) and the lattice
  is searched on it; when the chosen node suppresses rows, pass 2 finds their positions. Memory grows
  with the distinct tuples, not the rows.
- Mondrian: the same one-pass histogram, its lines in the order the rows first show them; Mondrian
  partitions the lines weighted by their counts (`mondrian(..., weights=)`: sizes, medians and k count
  rows), which gives the cuts, boxes and labels of the rows, and no row is suppressed.
Memory grows with the distinct (quasi-identifier, sensitive) tuples, not the rows; every other column
stays on disk until the write pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from privml.anonymity import missing as missing_cells
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.hierarchy import leaf_index
from privml.anonymity.histogram import HistogramBuilder, TupleHistogram

Batches = Callable[[], Iterable[pd.DataFrame]]


def fit_streaming(config: AnonymityConfig, batches: Batches) -> AnonymityEngine:
    engine = AnonymityEngine(config)
    histogram = build_histogram(engine, batches)
    suppressed = engine.fit_histogram(histogram)
    if suppressed.any():
        engine.suppressed_index_ = [int(i) for frame in batches()
                                    for i in frame.index[suppressed_mask(engine, histogram, suppressed, frame)]]
    return engine


def build_histogram(engine: AnonymityEngine, batches: Batches) -> TupleHistogram:
    """Pass 1 of global recoding: the tuple histogram of the table."""
    builder = HistogramBuilder(engine.quasi_identifiers, engine.sensitive)
    for frame in batches():
        builder.add(frame)
    return builder.result()


def suppressed_mask(engine: AnonymityEngine, histogram: TupleHistogram, suppressed_lines: np.ndarray,
                    frame: pd.DataFrame) -> np.ndarray:
    """Which rows of `frame` the fit suppressed: those whose quasi-identifier tuple is in a suppressed
    class (suppression is decided per class, so per quasi-identifier tuple)."""
    qis = engine.quasi_identifiers
    d = len(qis)
    if not suppressed_lines.any() or not len(frame):
        return np.zeros(len(frame), dtype=bool)
    as_value = missing_cells.as_value(engine.config)

    def leaves(col: str, values: pd.Series) -> np.ndarray:
        text = missing_cells.fill(values) if as_value else values
        return leaf_index(engine.hierarchies_[col], text, strict=False)

    # the suppressed tuples and the batch's tuples, both as hierarchy leaf codes
    lines = histogram.codes[suppressed_lines, :d]
    target = [leaves(c, pd.Series(histogram.values[c][lines[:, j]], dtype=object)) for j, c in enumerate(qis)]
    rows = [leaves(c, frame[c]) for c in qis]
    suppressed = pd.MultiIndex.from_arrays(target)
    return np.asarray(pd.MultiIndex.from_arrays(rows).isin(suppressed))
