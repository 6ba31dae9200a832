"""Generalization hierarchies: the ARX CSV format and built-ins (numeric intervals, dates, prefixes).

A hierarchy is a table: one row per original value, followed by ever coarser generalizations; every
row has the same depth and the last level is the root (`*`). Errors name the column and the row
number, never a value (invariant 1).

Built-ins are materialized from the values seen at fit time and keep their spec, so a value first
seen at transform time is generalized by the same rule (an ARX table maps unseen values to `*`).
In a policy, a column's `hierarchy:` is either a path to an ARX CSV file or one of:

    {type: interval, width: 10, levels: 3}      # 30-39, 20-39, 0-39, * (width doubles per level)
    {type: interval, widths: [5, 10, 50], origin: 0}
    {type: date, levels: [month, quarter, year, decade], format: "%Y-%m-%d"}   # default month, year
    {type: prefix, levels: 3, mask: "*"}        # postcodes: 7501*, 750**, 75***, *
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.errors import PrivmlError
from privml.io.rows import data_row

ROOT = "*"


class Hierarchy:
    """A validated generalization table for one column."""

    def __init__(self, column: str, rows: list[list[str]], spec: dict[str, Any] | None = None,
                 source: str = "hierarchy") -> None:
        self.column = column
        self.spec = spec
        _validate(column, rows, source)
        self.rows = rows
        self.height = len(rows[0])
        self.leaves = [r[0] for r in rows]

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_csv(cls, column: str, path: str | Path) -> Hierarchy:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PrivmlError(f"column {column}: hierarchy file {path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PrivmlError(f"column {column}: cannot read hierarchy file {path} ({type(exc).__name__})") from None
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise PrivmlError(f"column {column}: hierarchy file {path} is empty")
        delimiter = ";" if ";" in lines[0] else ","
        rows = [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]
        return cls(column, rows, source=f"hierarchy file {path.name}")

    @classmethod
    def builtin(cls, column: str, spec: dict[str, Any], values: pd.Series) -> Hierarchy:
        distinct = sorted(set(values.dropna().astype(str)))
        rows = [[v, *generalize_builtin(spec, v, column)] for v in distinct]
        if not rows:
            raise PrivmlError(f"column {column}: no values to build a hierarchy from")
        return cls(column, rows, spec=dict(spec), source="built-in hierarchy")

    @classmethod
    def flat(cls, column: str, values: pd.Series) -> Hierarchy:
        """Two levels: the value or `*` (a column listed without a hierarchy)."""
        distinct = sorted(set(values.dropna().astype(str)))
        return cls(column, [[v, ROOT] for v in distinct], spec={"type": "flat"}, source="flat hierarchy")

    # -- use ---------------------------------------------------------------------------------------
    def generalize_unseen(self, value: str) -> list[str]:
        """The levels above level 0 for a value not in the table."""
        if self.spec is not None and self.spec.get("type") not in (None, "flat"):
            try:
                return generalize_builtin(self.spec, value, self.column)
            except PrivmlError:
                pass
        return [ROOT] * (self.height - 1)

    def get_state(self) -> dict[str, Any]:
        return {"column": self.column, "rows": self.rows, "spec": self.spec}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Hierarchy:
        return cls(state["column"], [list(r) for r in state["rows"]], spec=state.get("spec"))


def load_hierarchy(column: str, raw: str | dict[str, Any] | None, values: pd.Series,
                   resolve: Any = None) -> Hierarchy:
    """The hierarchy a policy asks for: a path (ARX CSV), a built-in spec dict, or None (flat)."""
    if raw is None:
        return Hierarchy.flat(column, values)
    if isinstance(raw, str):
        path = resolve(raw) if resolve is not None else Path(raw)
        return Hierarchy.from_csv(column, path)
    if isinstance(raw, dict):
        kind = raw.get("type")
        if kind not in BUILTINS:
            raise PrivmlError(
                f"column {column}: hierarchy type must be one of {', '.join(sorted(BUILTINS))}"
            )
        return Hierarchy.builtin(column, raw, values)
    raise PrivmlError(f"column {column}: hierarchy must be a file path or a mapping with `type:`")


def _validate(column: str, rows: list[list[str]], source: str) -> None:
    if not rows:
        raise PrivmlError(f"column {column}: {source} has no rows")
    depth = len(rows[0])
    if depth < 1:
        raise PrivmlError(f"column {column}: {source} row 1 is empty")
    seen: dict[str, int] = {}
    parent: list[dict[str, str]] = [{} for _ in range(depth)]
    for i, row in enumerate(rows, start=1):
        if len(row) != depth:
            raise PrivmlError(
                f"column {column}: {source} row {i} has {len(row)} levels, row 1 has {depth} "
                "(every row must have the same depth)"
            )
        if any(cell == "" for cell in row):
            raise PrivmlError(f"column {column}: {source} row {i} has an empty cell")
        if row[0] in seen:
            raise PrivmlError(f"column {column}: {source} row {i} repeats the value of row {seen[row[0]]}")
        seen[row[0]] = i
        # A hierarchy is a tree: a generalized value has one parent on the next level.
        for level in range(1, depth - 1):
            up = parent[level].setdefault(row[level], row[level + 1])
            if up != row[level + 1]:
                raise PrivmlError(
                    f"column {column}: {source} row {i} level {level} has two different parents "
                    "(a hierarchy must be a tree)"
                )
    if depth > 1 and len({r[-1] for r in rows}) != 1:
        raise PrivmlError(f"column {column}: {source} has more than one value on its top level")


# -- built-ins -------------------------------------------------------------------------------------
BUILTINS = {"interval", "date", "prefix"}


def generalize_builtin(spec: dict[str, Any], value: str, column: str) -> list[str]:
    kind = spec.get("type")
    if kind == "interval":
        return _interval_levels(spec, value, column)
    if kind == "date":
        return _date_levels(spec, value, column)
    if kind == "prefix":
        return _prefix_levels(spec, value)
    raise PrivmlError(f"column {column}: unknown hierarchy type")


def _interval_levels(spec: dict[str, Any], value: str, column: str) -> list[str]:
    """Intervals of width `width`, doubling per level for `levels` levels (or explicit `widths`), then `*`."""
    widths = spec.get("widths")
    if widths is None:
        width = float(spec.get("width", 10))
        levels = int(spec.get("levels", 3))
        widths = [width * 2**i for i in range(levels)]
    if not widths or any(float(w) <= 0 for w in widths):
        raise PrivmlError(f"column {column}: interval hierarchy widths must be positive")
    origin = float(spec.get("origin", 0))
    try:
        x = float(value)
    except ValueError:
        raise PrivmlError(f"column {column}: interval hierarchy needs numbers") from None
    if not math.isfinite(x):  # NaN, or an infinity no interval holds (its floor would overflow)
        raise PrivmlError(f"column {column}: interval hierarchy needs numbers")
    out = []
    for w in widths:
        w = float(w)
        lo = origin + math.floor((x - origin) / w) * w
        hi = lo + w
        if lo.is_integer() and hi.is_integer():
            out.append(f"{int(lo)}-{int(hi) - 1}" if w >= 1 and x.is_integer() else f"[{int(lo)}, {int(hi)})")
        else:
            out.append(f"[{lo:g}, {hi:g})")
    return [*out, ROOT]


def _date_levels(spec: dict[str, Any], value: str, column: str) -> list[str]:
    """Calendar levels (`month`, `quarter`, `year`, `decade`; default month, year), then `*`."""
    levels = spec.get("levels", ["month", "year"])
    ts = pd.to_datetime(value, errors="coerce", format=spec.get("format"))
    if pd.isna(ts):
        raise PrivmlError(f"column {column}: date hierarchy needs dates")
    out = []
    for level in levels:
        if level == "month":
            out.append(f"{ts.year:04d}-{ts.month:02d}")
        elif level == "quarter":
            out.append(f"{ts.year:04d}-Q{(ts.month - 1) // 3 + 1}")
        elif level == "year":
            out.append(f"{ts.year:04d}")
        elif level == "decade":
            out.append(f"{ts.year // 10 * 10:04d}s")
        else:
            raise PrivmlError(f"column {column}: date hierarchy levels are month, quarter, year, decade")
    return [*out, ROOT]


def _prefix_levels(spec: dict[str, Any], value: str) -> list[str]:
    """Postcode-style: level i masks the last i characters with `*`, for `levels` levels, then `*`."""
    levels = int(spec.get("levels", 3))
    mask = str(spec.get("mask", "*"))
    out = []
    for i in range(1, levels + 1):
        keep = max(len(value) - i, 0)
        out.append(value[:keep] + mask * (len(value) - keep))
    return [*out, ROOT]


def leaf_index(hierarchy: Hierarchy, values: pd.Series, *, strict: bool) -> np.ndarray:
    """Index of each value's hierarchy row; -1 for a value the hierarchy lacks (strict: an error
    naming the first such data row)."""
    index = pd.Index(hierarchy.leaves)
    # factorize first: the hierarchy lookup then runs once per distinct value, not per row
    local, uniques = pd.factorize(values.astype(str), sort=False, use_na_sentinel=False)
    codes = index.get_indexer(pd.Index(np.asarray(uniques, dtype=object)))[local]
    if strict and (codes < 0).any():
        row = data_row(values, int(np.flatnonzero(codes < 0)[0]))
        raise PrivmlError(f"column {hierarchy.column}: {row} has a value missing from the column's hierarchy")
    return codes.astype(np.int64)

