"""`anonymity.missing: value`: a missing quasi-identifier cell is its own value on that column's axis.

As ARX treats NULL: in global recoding the missing cell is one more leaf of the column's hierarchy that
stays itself at every level below the top and generalizes only to the top (`*`); in Mondrian it sits
at its own position just below the axis's smallest value, so a strict cut can put the missing rows on
their own side and the region of missing rows is cut further on the other quasi-identifiers only. A
partition holding only missing cells on an axis releases them as missing (empty); one that mixes
missing and present cells releases `*` on that axis. k, l and t count the classes with missing cells
like any other class.

Only a column whose fitted rows had missing cells gets the extra leaf or position, so a table without
missing values is anonymized exactly as under the other rules; a missing cell the fitted model never saw
is released as `*`, as any value outside the model is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity.axes import axis_values
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.hierarchy import ROOT, Hierarchy
from privml.anonymity.models import Constraints, SensitiveColumn, classes_ok
from privml.anonymity.mondrian import MondrianResult, MondrianTree, mondrian

# The hierarchy leaf and box label of a missing cell. It never leaves the engine (`release` turns it
# back into a missing value) and no text read from a table can equal it (a NUL byte leads it).
MISSING = "\x00missing"
RULE = "value"


def as_value(config: AnonymityConfig) -> bool:
    """Whether the engine's config asks for missing cells as their own value (states fitted before the
    rule existed carry no `missing` and keep refusing missing cells)."""
    return config.missing == RULE


def fill(values: pd.Series) -> pd.Series:
    """The column with each missing cell replaced by the MISSING leaf (as text, what hierarchies hold)."""
    text = values.astype(str)
    return text.where(values.notna().to_numpy(), MISSING)


def with_missing_leaf(hierarchy: Hierarchy, values: pd.Series) -> Hierarchy:
    """`hierarchy` plus a MISSING row (itself at every level, the top at the top) when `values` has a
    missing cell; the hierarchy unchanged otherwise."""
    if not values.isna().any() or MISSING in hierarchy.leaves:
        return hierarchy
    top = hierarchy.rows[0][-1] if hierarchy.height > 1 else ROOT
    row = [MISSING] * (hierarchy.height - 1) + [top] if hierarchy.height > 1 else [MISSING]
    return Hierarchy(hierarchy.column, [*hierarchy.rows, row], spec=hierarchy.spec, source="hierarchy")


def with_missing_position(axis: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    """The Mondrian axis with `missing`: the position of a missing cell, one below the smallest value the
    axis holds (-1 for categories, whose codes start at 0), when `values` has a missing cell."""
    missing = values.isna().to_numpy()
    if not missing.any():
        return axis
    if axis["kind"] == "category":
        position = -1.0
    else:
        present = axis_values(axis, values[~missing], strict=False)
        present = present[~np.isnan(present)]
        position = float(np.floor(present.min())) - 1.0 if len(present) else -1.0
    return {**axis, "missing": position}


def positions(axis: dict[str, Any], values: pd.Series, *, strict: bool) -> np.ndarray:
    """Axis positions of a column: a missing cell at the axis's missing position; a present value below
    the fitted range is read as the axis's lowest value, so it never lands on the missing side of a cut."""
    if "missing" not in axis:
        return axis_values(axis, values, strict=strict)
    missing = values.isna().to_numpy()
    x = np.full(len(values), float(axis["missing"]))
    if (~missing).any():
        x[~missing] = clip_present(axis, axis_values(axis, values[~missing], strict=strict))
    return x


def clip_present(axis: dict[str, Any], x: np.ndarray) -> np.ndarray:
    floor = float(axis["missing"]) + 1.0
    return np.where(x < floor, floor, x)  # NaN (not on the axis) stays NaN


def box_label(axis: dict[str, Any], low: float, high: float) -> str | None:
    """The label of a box on an axis with a missing position: MISSING for missing cells only, `*` for a
    box mixing missing and present cells; None when the box holds present values only."""
    if "missing" not in axis or low != axis["missing"]:
        return None
    return MISSING if high == axis["missing"] else ROOT


def release(column: np.ndarray | pd.Series) -> Any:
    """Released cells with MISSING turned back into a missing value."""
    if isinstance(column, pd.Series):
        return column.where(column.to_numpy() != MISSING, None)
    return np.where(column == MISSING, None, column)


def count_missing(frame: pd.DataFrame, columns: list[str]) -> dict[str, int]:
    """Missing cells per column, for the report (columns without any left out)."""
    counts = frame[[c for c in columns if c in frame.columns]].isna().sum()
    return {str(c): int(n) for c, n in counts.items() if n}


def cell_position(axis: dict[str, Any], position: Any) -> Any:
    """A one-cell axis position function (`cell -> float`, None for a missing cell) made to read missing
    cells as `positions` does: the axis's missing position, present values clipped to its floor."""
    if "missing" not in axis:
        return position
    missing, floor = float(axis["missing"]), float(axis["missing"]) + 1.0

    def read(cell: Any) -> float:
        if cell is None:
            return missing
        value = position(cell)
        return floor if value < floor else value  # NaN (not on the axis) stays NaN

    return read


def mondrian_regions(x: np.ndarray, axes: list[dict[str, Any]], constraints: Constraints,
                     sensitive: list[SensitiveColumn], weights: np.ndarray | None = None) -> MondrianResult:
    """Mondrian with missing cells on their own side: while a set of rows has, on some axis, both missing
    and present cells and both sides would meet the constraints, it is cut there (missing | present);
    each region left is then partitioned by `mondrian` on every axis (an axis missing throughout a region
    is constant there, so it is never cut). A region too small to part from its present rows keeps them
    together, and its boxes that mix them release `*` on that axis (`box_label`)."""
    missing_at = [float(a["missing"]) if "missing" in a else None for a in axes]
    dims: list[int] = []
    thresholds: list[float] = []
    lefts: list[int] = []
    rights: list[int] = []
    parts: list[int] = []
    partition_of_row = np.zeros(len(x), dtype=np.int64)
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []

    def meets(rows: np.ndarray) -> bool:
        size = len(rows) if weights is None else int(weights[rows].sum())
        return bool(classes_ok(np.zeros(len(rows), dtype=np.int64), 1, np.array([size]), constraints,
                               [s.subset(rows) for s in sensitive])[0])

    def region(rows: np.ndarray) -> int:
        result = mondrian(x[rows], constraints, [s.subset(rows) for s in sensitive],
                          None if weights is None else weights[rows])
        tree, base, first = result.tree, len(dims), len(lows)
        internal = tree.dim >= 0
        dims.extend(tree.dim.tolist())
        thresholds.extend(tree.threshold.tolist())
        lefts.extend(np.where(internal, tree.left + base, tree.left).tolist())
        rights.extend(np.where(internal, tree.right + base, tree.right).tolist())
        parts.extend(np.where(internal, tree.partition, tree.partition + first).tolist())
        partition_of_row[rows] = result.partition_of_row + first
        lows.extend(result.low)
        highs.extend(result.high)
        return base

    def build(rows: np.ndarray) -> int:
        for j, position in enumerate(missing_at):
            if position is None:
                continue
            missing = x[rows, j] == position
            if missing.any() and not missing.all() and meets(rows[missing]) and meets(rows[~missing]):
                node = len(dims)
                dims.append(j), thresholds.append(position + 0.5), lefts.append(-1), rights.append(-1)
                parts.append(-1)
                lefts[node] = build(rows[missing])
                rights[node] = build(rows[~missing])
                return node
        return region(rows)

    build(np.arange(len(x)))
    tree = MondrianTree(np.asarray(dims, dtype=np.int64), np.asarray(thresholds, dtype=float),
                        np.asarray(lefts, dtype=np.int64), np.asarray(rights, dtype=np.int64),
                        np.asarray(parts, dtype=np.int64))
    return MondrianResult(tree, partition_of_row, len(lows), np.asarray(lows).reshape(-1, x.shape[1]),
                          np.asarray(highs).reshape(-1, x.shape[1]))
