"""Mondrian axes: how a quasi-identifier column becomes an ordered number line, and back into a label.

An axis is plain data: {"kind": "numeric", "integer": bool}, {"kind": "date"} (days since 1970), or
{"kind": "category", "categories": [...], "generalizations": [hierarchy rows, optional]}. Values not on
the axis (an unseen category, a non-number) become NaN, which the split tree routes left and the
label renders as the root `*`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity.hierarchy import ROOT
from privml.errors import PrivmlError


def days_since_epoch(values: pd.Series) -> np.ndarray:
    """Dates as days since 1970-01-01 (NaN where a value is not a date)."""
    stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    days = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    return np.floor(days.to_numpy(dtype=float, na_value=np.nan))


def axis_values(axis: dict[str, Any], values: pd.Series, *, strict: bool) -> np.ndarray:
    if axis["kind"] == "date":
        return days_since_epoch(values)
    if axis["kind"] == "numeric":
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    codes = pd.Index(axis["categories"]).get_indexer(values.astype(str)).astype(float)
    if strict and (codes < 0).any():
        raise PrivmlError("anonymity: a category is missing from the column's hierarchy")
    codes[codes < 0] = np.nan
    return codes


def box_label(axis: dict[str, Any], low: float, high: float) -> str:
    if axis["kind"] == "date":
        lo, hi = (str((pd.Timestamp("1970-01-01") + pd.Timedelta(days=v)).date()) for v in (low, high))
        return lo if lo == hi else f"{lo}..{hi}"
    if axis["kind"] == "numeric":
        fmt = (lambda v: str(int(v))) if axis.get("integer") else (lambda v: f"{v:g}")
        if low == high:
            return fmt(low)
        return f"{fmt(low)}-{fmt(high)}" if low >= 0 else f"[{fmt(low)}, {fmt(high)}]"
    cats = axis["categories"]
    lo, hi = int(low), int(high)
    if lo == hi:
        return cats[lo]
    rows = axis.get("generalizations")
    if rows:
        for level in range(1, len(rows[lo])):
            if len({r[level] for r in rows[lo:hi + 1]}) == 1:
                return rows[lo][level]
        return ROOT
    if lo == 0 and hi == len(cats) - 1:
        return ROOT
    return "|".join(cats[lo:hi + 1])
