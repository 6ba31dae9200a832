"""Global recoding on Spark: the histogram of distinct quasi-identifier tuples by one Spark aggregation,
the lattice search on the driver over that histogram, the chosen node applied per partition.

The histogram holds, per distinct tuple of the quasi-identifiers and the sensitive attributes (what
l-diversity and t-closeness need), its row count; its size grows with the distinct tuples, not the rows.
The search is the in-memory engine's own, run on the histogram (`AnonymityEngine.fit_histogram`,
privml/anonymity/histogram.py), so the node, its loss and the suppressed classes are the in-memory ones.
A suppressed class is a set of generalized tuples: the workers drop the rows whose released tuple is in it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from privml.anonymity.config import AnonymityConfig
from privml.anonymity.engine import AnonymityEngine
from privml.io.rows import no_table_rows
from privml.spark.errors import driver_errors

COUNT = "__privml_rows"


def tuple_histogram(frame: Any, columns: list[str]) -> pd.DataFrame:
    """Distinct tuples of `columns` with their row counts (column COUNT), collected on the driver."""
    with driver_errors("the quasi-identifier histogram"):
        counted = frame.groupBy(*columns).count().withColumnRenamed("count", COUNT).toPandas()
    counted = counted.astype({c: object for c in columns})
    for column in columns:
        counted[column] = counted[column].where(counted[column].notna(), None)
    # a deterministic order, so the driver's fit does not depend on how the partitions were laid out
    counted = counted.sort_values(columns, na_position="first", kind="stable")
    # a line stands for many rows, none known here: errors on the lines name no row number
    return counted.set_axis(no_table_rows(len(counted)))


def fit_recoding(config: AnonymityConfig, histogram: pd.DataFrame) -> tuple[AnonymityEngine, set[tuple]]:
    """The fitted engine (the in-memory engine's search, on the histogram: privml.anonymity.histogram)
    and the released quasi-identifier tuples of its suppressed classes."""
    from privml.anonymity.histogram import TupleHistogram

    qis, sensitive = list(config.quasi_identifiers), list(config.sensitive)
    lines = TupleHistogram.from_counts(histogram, qis, sensitive, count_column=COUNT)
    engine = AnonymityEngine(config)
    suppressed_lines = engine.fit_histogram(lines)
    if not suppressed_lines.any():
        return engine, set()
    cells = pd.DataFrame({c: lines.values[c][lines.codes[suppressed_lines, j]] for j, c in enumerate(qis)})
    released = engine.transform(cells.astype(object).where(cells.notna(), None))
    return engine, {tuple(r) for r in released[qis].itertuples(index=False)}
