"""Mondrian on Spark: distributed top-level cuts, the in-memory Mondrian per partition, one stitched tree.

1. The histogram of distinct (quasi-identifier, sensitive) tuples (one Spark aggregation) gives the axes
   (the in-memory engine's own `axes_for`, on the weighted tuples) and, on the driver, the top-level
   cuts: Mondrian's median cuts over the weighted tuples, each child meeting the targets, until every
   part holds at most `max_partition_rows` rows (what one executor sorts in memory).
2. Every row is routed to its part (mapInPandas) and each part is partitioned by the in-memory Mondrian
   (`privml.anonymity.mondrian`, applyInPandas), with the sensitive attributes coded in the whole
   table's value order and the whole table's distribution: t-closeness is measured against the global
   distribution, not the part's.
3. The driver stitches each part's split tree under its top-level leaf: ONE MondrianTree routes every
   row, at fit time and when serving, and the engine is the in-memory engine's type with the same state.
4. The released classes are the distinct released tuples, as in memory: partitions whose boxes carry
   the same labels are one class, even across parts (a hierarchy's generalization can label two
   disjoint boxes alike). Each part met the targets (k, l, t against the global distribution) for its
   own partitions; the driver checks every class of the release again and raises CheckFailed if one
   falls short, then writes the report through the engine's `record_fit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity import missing as missing_cells
from privml.anonymity import risk as risk_mod
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.engine import AnonymityEngine, unmet_message, whole_table_message
from privml.anonymity.models import Constraints, SensitiveColumn, classes_ok, measure
from privml.anonymity.mondrian import MondrianTree, mondrian, ncp
from privml.errors import CheckFailed, PrivmlError
from privml.spark.errors import driver_errors, in_worker, in_worker_frame
from privml.spark.recoding import COUNT, tuple_histogram

PART = "__privml_part"
DEFAULT_MAX_PARTITION_ROWS = 1_000_000


@dataclass
class GlobalSensitive:
    """A sensitive attribute coded in the whole table's value order, with the whole table's distribution."""

    name: str
    order: list[str]
    q: np.ndarray

    def column(self, values: pd.Series) -> SensitiveColumn:
        codes = pd.Index(self.order).get_indexer(values.astype(str)).astype(np.int64)
        return SensitiveColumn(self.name, codes, len(self.order), self.q)


def _value_order(values: pd.Series) -> list[str]:
    """The order SensitiveColumn.encode gives a column's values (numeric when all parse, else text)."""
    text = values.astype(str)
    distinct = pd.unique(text)
    numeric = pd.to_numeric(pd.Series(distinct), errors="coerce")
    if len(distinct) and not numeric.isna().any():
        return [str(distinct[i]) for i in np.argsort(numeric.to_numpy(), kind="stable")]
    return sorted(str(v) for v in distinct)


def _positions(axes: dict[str, dict[str, Any]], frame: pd.DataFrame, qis: list[str], *, strict: bool) -> np.ndarray:
    if not len(frame):
        return np.zeros((0, len(qis)))
    return np.column_stack([missing_cells.positions(axes[c], frame[c], strict=strict) for c in qis])


# -- 1. top-level cuts on the driver ---------------------------------------------------------------
def top_level_cuts(x: np.ndarray, weights: np.ndarray, sensitive: list[SensitiveColumn], constraints: Constraints,
                   spread: np.ndarray, max_rows: int) -> tuple[MondrianTree, np.ndarray]:
    """Median cuts over weighted distinct tuples until each part has at most `max_rows` rows. Returns the
    tree (its leaves' `partition` = the part id) and each tuple's part."""
    dims: list[int] = []
    thresholds: list[float] = []
    lefts: list[int] = []
    rights: list[int] = []
    parts: list[int] = []
    part_of_tuple = np.zeros(len(x), dtype=np.int64)
    k = max(int(constraints.k), 1)

    def meets(rows: np.ndarray) -> bool:
        counts = weights[rows]
        expanded = [SensitiveColumn(s.name, np.repeat(s.codes[rows], counts), s.n_values, s.q) for s in sensitive]
        n = int(counts.sum())
        return bool(classes_ok(np.zeros(n, dtype=np.int64), 1, np.array([n]), constraints, expanded)[0])

    def leaf(rows: np.ndarray) -> int:
        node = len(dims)
        dims.append(-1), thresholds.append(0.0), lefts.append(-1), rights.append(-1)
        parts.append(int(max(parts) + 1 if parts and max(parts) >= 0 else 0))
        part_of_tuple[rows] = parts[node]
        return node

    def build(rows: np.ndarray) -> int:
        n = int(weights[rows].sum())
        if n <= max_rows or n < 2 * k:
            return leaf(rows)
        width = (x[rows].max(axis=0) - x[rows].min(axis=0)) / spread
        for dim in np.argsort(-width, kind="stable"):
            if width[dim] <= 0:
                break
            values = x[rows, dim]
            distinct, inverse = np.unique(values, return_inverse=True)
            below = np.cumsum(np.bincount(inverse, weights=weights[rows]))[:-1]  # rows <= distinct[i]
            ok = (below >= k) & (n - below >= k)
            for i in np.flatnonzero(ok)[np.argsort(np.abs(2 * below[ok] - n), kind="stable")][:8]:
                left_rows, right_rows = rows[values <= distinct[i]], rows[values > distinct[i]]
                if constraints.needs_sensitive and not (meets(left_rows) and meets(right_rows)):
                    continue
                node = len(dims)
                dims.append(int(dim)), thresholds.append(float((distinct[i] + distinct[i + 1]) / 2.0))
                lefts.append(-1), rights.append(-1), parts.append(-1)
                lefts[node] = build(left_rows)
                rights[node] = build(right_rows)
                return node
        return leaf(rows)

    build(np.arange(len(x)))
    tree = MondrianTree(np.asarray(dims, dtype=np.int64), np.asarray(thresholds, dtype=float),
                        np.asarray(lefts, dtype=np.int64), np.asarray(rights, dtype=np.int64),
                        np.asarray(parts, dtype=np.int64))
    return tree, part_of_tuple


# -- 2. the in-memory Mondrian per part --------------------------------------------------------------
def _partition_body(axes: dict[str, dict[str, Any]], qis: list[str], sensitive: list[GlobalSensitive],
                    constraints: Constraints) -> Any:
    def body(frame: pd.DataFrame) -> pd.DataFrame:
        part = int(frame[PART].iloc[0])
        x = _positions(axes, frame, qis, strict=True)
        columns = [s.column(frame[s.name]) for s in sensitive]
        if any("missing" in axes[c] for c in qis):
            result = missing_cells.mondrian_regions(x, [axes[c] for c in qis], constraints, columns)
        else:
            result = mondrian(x, constraints, columns)
        sizes = np.bincount(result.partition_of_row, minlength=result.n_partitions)
        payload = {"tree": result.tree.get_state(), "low": result.low.tolist(), "high": result.high.tolist(),
                   "sizes": sizes.tolist()}
        return pd.DataFrame({PART: [part], "result": [json.dumps(payload)]})

    return in_worker_frame(body)


# -- 3. one tree -----------------------------------------------------------------------------------
def stitch(top: MondrianTree, subtrees: dict[int, MondrianTree]) -> tuple[MondrianTree, dict[int, int]]:
    """Each top-level leaf (part p) replaced by part p's tree; returns the tree and each part's first
    global partition id (parts numbered in order, their partitions consecutively)."""
    dims, thresholds = top.dim.tolist(), top.threshold.tolist()
    lefts, rights, partitions = top.left.tolist(), top.right.tolist(), top.partition.tolist()
    first: dict[int, int] = {}
    offset = 0
    for part in sorted(subtrees):
        first[part] = offset
        offset += int((subtrees[part].dim < 0).sum())
    for node in range(len(top.dim)):
        if top.dim[node] >= 0:
            continue
        part = int(top.partition[node])
        sub = subtrees[part]
        index = {0: node, **{i: len(dims) + i - 1 for i in range(1, len(sub.dim))}}
        rows = []
        for i in range(len(sub.dim)):
            internal = sub.dim[i] >= 0
            rows.append((int(sub.dim[i]), float(sub.threshold[i]),
                         index[int(sub.left[i])] if internal else -1, index[int(sub.right[i])] if internal else -1,
                         -1 if internal else int(sub.partition[i]) + first[part]))
        dims[node], thresholds[node], lefts[node], rights[node], partitions[node] = rows[0]
        for row in rows[1:]:
            dims.append(row[0]), thresholds.append(row[1]), lefts.append(row[2]), rights.append(row[3])
            partitions.append(row[4])
    return MondrianTree(np.asarray(dims, dtype=np.int64), np.asarray(thresholds, dtype=float),
                        np.asarray(lefts, dtype=np.int64), np.asarray(rights, dtype=np.int64),
                        np.asarray(partitions, dtype=np.int64)), first


def fit_mondrian(config: AnonymityConfig, frame: Any, *, max_partition_rows: int = DEFAULT_MAX_PARTITION_ROWS,
                 ) -> AnonymityEngine:
    """The fitted engine over the Spark DataFrame `frame` (the anonymized columns, every row)."""
    from pyspark import StorageLevel

    columns = [*config.quasi_identifiers, *[s for s in config.sensitive if s not in config.quasi_identifiers]]
    # read twice (the histogram, then the routing): computed once, not the column techniques twice
    anonymized = frame.select(*columns).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return _fit_mondrian(config, anonymized, columns, max_partition_rows)
    finally:
        anonymized.unpersist()


def _fit_mondrian(config: AnonymityConfig, frame: Any, columns: list[str], max_partition_rows: int,
                  ) -> AnonymityEngine:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    qis, sens = list(config.quasi_identifiers), list(config.sensitive)
    engine = AnonymityEngine(config)
    constraints = engine.constraints()
    histogram = tuple_histogram(frame, columns)
    weights = histogram[COUNT].to_numpy(dtype=np.int64)
    n = int(weights.sum())
    if constraints.k > n:
        raise PrivmlError(f"anonymity: k={constraints.k} is larger than the table ({n} rows)")
    for col in [*([] if missing_cells.as_value(config) else qis), *sens]:
        if histogram[col].isna().any():
            raise PrivmlError(f"column {col}: has empty cells (anonymity.missing decides what they mean)")
    # the in-memory engine's axes, fitted on the weighted distinct tuples (no expansion to rows)
    axes = engine.axes_for(histogram[qis], weights)
    x = _positions(axes, histogram, qis, strict=True)
    spread = x.max(axis=0) - x.min(axis=0)
    spread = np.where(spread == 0, 1.0, spread)
    global_sensitive = [GlobalSensitive(s, _value_order(histogram[s]),
                                        _distribution(histogram[s], weights, _value_order(histogram[s])))
                        for s in sens]
    tuple_sensitive = [g.column(histogram[g.name]) for g in global_sensitive]
    whole = [SensitiveColumn(c.name, np.repeat(c.codes, weights), c.n_values, c.q) for c in tuple_sensitive]
    if not classes_ok(np.zeros(n, dtype=np.int64), 1, np.array([n]), constraints, whole)[0]:
        raise CheckFailed(whole_table_message(constraints, whole))
    top, _ = top_level_cuts(x, weights, tuple_sensitive, constraints, spread, max(max_partition_rows, 2))

    def route(batches: Any) -> Any:
        for batch in batches:
            batch = batch.astype(object).where(batch.notna(), None)
            batch[PART] = top.route(_positions(axes, batch, qis, strict=True))
            yield batch

    schema = StructType([*frame.schema.fields, StructField(PART, LongType(), False)])
    routed = frame.mapInPandas(in_worker(route), schema)
    out_schema = StructType([StructField(PART, LongType(), False), StructField("result", StringType(), False)])
    body = _partition_body(axes, qis, global_sensitive, constraints)
    with driver_errors("Mondrian's partitions"):
        results = routed.groupBy(PART).applyInPandas(body, out_schema).toPandas()
    payloads = {int(p): json.loads(r) for p, r in zip(results[PART], results["result"], strict=True)}
    subtrees = {p: MondrianTree.from_state(v["tree"]) for p, v in payloads.items()}
    tree, _ = stitch(top, subtrees)
    order = sorted(payloads)
    low = np.concatenate([np.asarray(payloads[p]["low"], dtype=float).reshape(-1, len(qis)) for p in order])
    high = np.concatenate([np.asarray(payloads[p]["high"], dtype=float).reshape(-1, len(qis)) for p in order])
    sizes = np.concatenate([np.asarray(payloads[p]["sizes"], dtype=np.int64) for p in order])
    engine.set_mondrian_boxes(axes, tree, low, high)
    _record_fit(engine, constraints, histogram, weights, tuple_sensitive, low, high, sizes, spread,
                parts=int((top.dim < 0).sum()))
    return engine


def _distribution(values: pd.Series, weights: np.ndarray, order: list[str]) -> np.ndarray:
    codes = pd.Index(order).get_indexer(values.astype(str))
    q = np.bincount(codes, weights=weights, minlength=len(order)).astype(float)
    return q / max(q.sum(), 1.0)


def released_classes(engine: AnonymityEngine, histogram: pd.DataFrame) -> tuple[np.ndarray, int]:
    """The equivalence class of each distinct tuple in the release: its released quasi-identifiers,
    compared as text, as in memory. Partitions whose boxes have the same labels are one class, even
    when they lie in different top-level parts."""
    qis = engine.quasi_identifiers
    return risk_mod.class_ids_of(engine.transform(histogram[qis]), qis)


def check_released_classes(constraints: Constraints, max_suppression: float, class_of_tuple: np.ndarray,
                           n_classes: int, weights: np.ndarray, sensitive: list[SensitiveColumn]) -> None:
    """CheckFailed unless every released class meets the targets (k, l, t). Each part's Mondrian met them
    for its own partitions; a class made of partitions of several parts is checked here as one."""
    sizes = np.bincount(class_of_tuple, weights=weights, minlength=n_classes).astype(np.int64)
    weighted = [SensitiveColumn(s.name, s.codes, s.n_values, s.q, weights) for s in sensitive]
    ok = classes_ok(class_of_tuple, n_classes, sizes, constraints, weighted)
    if not ok[sizes > 0].all():
        failing = int((~ok & (sizes > 0)).sum())
        raise CheckFailed(unmet_message(constraints, max_suppression, "not every class of the Spark release")
                          + f" ({failing} class(es) fall short)")


def _record_fit(engine: AnonymityEngine, constraints: Constraints, histogram: pd.DataFrame, weights: np.ndarray,
                sensitive: list[SensitiveColumn], low: np.ndarray, high: np.ndarray, sizes: np.ndarray,
                spread: np.ndarray, *, parts: int) -> None:
    """The engine's report, as `AnonymityEngine.record_fit` writes it for every engine: the figures
    measured on the released classes, NCP on the partitions' boxes."""
    config = engine.config
    qis = list(config.quasi_identifiers)
    n = int(weights.sum())
    class_of_tuple, n_classes = released_classes(engine, histogram)
    check_released_classes(constraints, float(config.max_suppression), class_of_tuple, n_classes, weights,
                           sensitive)
    class_sizes = np.bincount(class_of_tuple, weights=weights, minlength=n_classes).astype(np.int64)
    weighted = [SensitiveColumn(s.name, s.codes, s.n_values, s.q, weights) for s in sensitive]
    achieved = measure(class_of_tuple, n_classes, weighted, constraints.t_distance, weights=weights)
    threshold = float(config.risk_threshold)
    before_sizes = histogram.groupby(qis, dropna=False, sort=False)[COUNT].sum().to_numpy(dtype=np.int64)
    widths = (high - low) / spread
    per_column = {col: float(np.sum(widths[:, j] * sizes) / n) for j, col in enumerate(qis)}
    total = ncp(low, high, sizes, spread)
    utility = {"metric": "ncp", "information_loss": total, "ncp": total, "per_column": per_column,
               "ncp_per_column": per_column}
    engine.record_fit(constraints, n, 0, class_sizes, before_sizes, achieved,
                      risk_mod.prosecutor(class_sizes, threshold), risk_mod.prosecutor(before_sizes, threshold),
                      utility, {"algorithm": "mondrian", "partitions": len(sizes), "spark_parts": parts})
