"""Fitting Mondrian's axes: each quasi-identifier's kind (number, date, categories) and, for categories
without a hierarchy, their order (`axes.cooccurrence_order`). `AnonymityEngine.axes_for` is the entry
point; the in-memory, histogram and Spark fits all come through it, so they share the axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity import missing as missing_cells
from privml.anonymity.axes import cooccurrence_order, days_since_epoch, per_distinct, profile_codes
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.hierarchy import leaf_index, load_hierarchy
from privml.errors import PrivmlError
from privml.io.rows import data_row


def fit_axes(config: AnonymityConfig, df: pd.DataFrame, weights: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Every column of `df`'s axis (see `AnonymityEngine.axes_for`)."""
    as_value = missing_cells.as_value(config)
    axes = {col: fit_axis(config, col, df[col].dropna() if as_value else df[col]) for col in df.columns}
    if as_value:  # each axis's missing position; the co-occurrence profiles see MISSING as one more value
        axes = {col: missing_cells.with_missing_position(axis, df[col]) for col, axis in axes.items()}
        df = pd.DataFrame({col: missing_cells.fill(df[col]) for col in df.columns}, index=df.index)
    free = [c for c, a in axes.items() if a["kind"] == "category" and "generalizations" not in a]
    if free and len(axes) > 1:
        profiles = {col: profile_codes(axes[col], df[col], weights) for col in df.columns}
        for col in free:
            others = [profiles[c] for c in df.columns if c != col]
            present = set(axes[col]["categories"])  # a missing cell is not a category
            axes[col]["categories"] = [c for c in cooccurrence_order(df[col], others, weights) if c in present]
    return axes


def fit_axis(config: AnonymityConfig, col: str, values: pd.Series) -> dict[str, Any]:
    """How a column becomes a Mondrian axis: numeric, or categories (hierarchy leaf order, else
    first appearance until `fit_axes` reorders them)."""
    dtype = config.dtypes.get(col, "auto")
    spec = config.hierarchies.get(col)
    if dtype == "date" or (isinstance(spec, dict) and spec.get("type") == "date"):
        days = per_distinct(values, days_since_epoch)
        if np.isnan(days).any():
            row = data_row(values, int(np.flatnonzero(np.isnan(days))[0]))
            raise PrivmlError(f"column {col}: {row} is not a date")
        return {"kind": "date"}
    if dtype in ("numeric", "auto") and not isinstance(spec, str):
        parsed = per_distinct(values, lambda v: pd.to_numeric(v, errors="coerce").to_numpy(dtype=float))
        if not np.isnan(parsed).any():
            return {"kind": "numeric", "integer": bool((parsed == np.floor(parsed)).all())}
        if dtype == "numeric":
            row = data_row(values, int(np.flatnonzero(np.isnan(parsed))[0]))
            raise PrivmlError(f"column {col}: {row} is not a number")
    if spec is not None:  # an ARX file or a built-in (e.g. postcode prefixes)
        hierarchy = load_hierarchy(col, spec, values)
        leaf_index(hierarchy, values, strict=True)
        present = set(values.astype(str))
        rows = [r for r in hierarchy.rows if r[0] in present]
        # a box over several categories is labelled with their lowest common generalization
        return {"kind": "category", "categories": [r[0] for r in rows], "generalizations": rows}
    return {"kind": "category", "categories": [str(v) for v in pd.unique(values.astype(str))]}
