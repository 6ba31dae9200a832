"""The anonymity engine fitted on a table read in batches, with bounded memory.

    engine = fit_streaming(config, batches)     # batches(): a fresh iterator of frames per pass

`batches` is called once per pass and yields the quasi-identifier and sensitive columns (as the column
techniques left them) with the rows' positions in the table as index. The fitted engine is the one
`AnonymityEngine.fit` gives on the whole table (same state, same report):

- global recoding: pass 1 counts the tuple histogram (`privml.anonymity.histogram`) and the lattice
  is searched on it; when the chosen node suppresses rows, pass 2 finds their positions. Memory grows
  with the distinct tuples, not the rows.
- Mondrian: one pass keeps the quasi-identifier and sensitive columns only, as codes into each
  column's distinct values (int32 per cell), and fits the in-memory Mondrian on those (every other
  column stays on disk). Memory grows with rows × quasi-identifiers.
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
from privml.errors import PrivmlError

Batches = Callable[[], Iterable[pd.DataFrame]]


def fit_streaming(config: AnonymityConfig, batches: Batches) -> AnonymityEngine:
    engine = AnonymityEngine(config)
    if config.algorithm == "global_recoding":
        histogram = build_histogram(engine, batches)
        suppressed = engine.fit_histogram(histogram)
        if suppressed.any():
            engine.suppressed_index_ = [int(i) for frame in batches()
                                        for i in frame.index[suppressed_mask(engine, histogram, suppressed, frame)]]
        return engine
    engine.fit(_compact_columns(engine, batches))
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


def _compact_columns(engine: AnonymityEngine, batches: Batches) -> pd.DataFrame:
    """The quasi-identifier and sensitive columns of the whole table, each held as int32 codes into its
    distinct values (a categorical column), with the rows' positions as index."""
    columns = [*engine.quasi_identifiers, *engine.sensitive]
    vocab: dict[str, dict[object, int]] = {c: {} for c in columns}
    codes: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    index: list[np.ndarray] = []
    for frame in batches():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise PrivmlError(f"column {missing[0]}: listed in the policy but not in the table")
        index.append(np.asarray(frame.index, dtype=np.int64))
        for col in columns:
            local, uniques = pd.factorize(frame[col], use_na_sentinel=True)
            known = vocab[col]
            mapped = np.array([known.setdefault(str(u), len(known)) for u in uniques.tolist()] + [-1],
                              dtype=np.int32)
            codes[col].append(mapped[local])  # -1 (a missing cell) indexes the appended -1
    out = {}
    for col in columns:
        categories = pd.Index(list(vocab[col]), dtype=object)
        joined = np.concatenate(codes[col]) if codes[col] else np.zeros(0, dtype=np.int32)
        out[col] = pd.Categorical.from_codes(joined, categories=categories)
    frame = pd.DataFrame(out, index=pd.Index(np.concatenate(index) if index else np.zeros(0, dtype=np.int64)))
    return frame.astype("str")  # the engine reads strings, as read_table gives them
