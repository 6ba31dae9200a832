"""Mondrian axes: how a quasi-identifier column becomes an ordered number line, and back into a label.

An axis is plain data: {"kind": "numeric", "integer": bool}, {"kind": "date"} (days since 1970), or
{"kind": "category", "categories": [...], "generalizations": [hierarchy rows, optional]}; without a
hierarchy the categories are in `cooccurrence_order` (the engine fits it; the state keeps the list). Values not on
the axis (an unseen category, a non-number) become NaN, which the split tree routes left and the
label renders as the root `*`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from privml.anonymity.hierarchy import ROOT
from privml.errors import PrivmlError


def per_distinct(values: pd.Series, compute: Callable[[pd.Series], Any]) -> np.ndarray:
    """An elementwise `compute` run once per distinct value of `values` and spread back by code: parsing
    text is the cost, and a quasi-identifier column (a batch, a histogram's lines) has far fewer
    distinct values than cells."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return np.asarray(compute(pd.Series(uniques, dtype=values.dtype)))[codes]


def days_since_epoch(values: pd.Series) -> np.ndarray:
    """Dates as days since 1970-01-01 (NaN where a value is not a date)."""
    stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    days = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    return np.floor(days.to_numpy(dtype=float, na_value=np.nan))


def axis_values(axis: dict[str, Any], values: pd.Series, *, strict: bool) -> np.ndarray:
    if axis["kind"] == "date":
        return per_distinct(values, days_since_epoch)
    if axis["kind"] == "numeric":
        return per_distinct(values, lambda v: pd.to_numeric(v, errors="coerce").to_numpy(dtype=float))
    categories = pd.Index(axis["categories"])
    codes = per_distinct(values, lambda v: categories.get_indexer(v.astype(str))).astype(float)
    if strict and (codes < 0).any():
        raise PrivmlError("anonymity: a category is missing from the column's hierarchy")
    codes[codes < 0] = np.nan
    return codes


def box_label(axis: dict[str, Any], low: float, high: float) -> str:
    if axis["kind"] == "date":
        lo, hi = (str((pd.Timestamp("1970-01-01") + pd.Timedelta(days=v)).date()) for v in (low, high))
        return lo if lo == hi else f"{lo}..{hi}"
    if axis["kind"] == "numeric":
        number_text = (lambda v: str(int(v))) if axis.get("integer") else (lambda v: f"{v:g}")
        if low == high:
            return number_text(low)
        return f"{number_text(low)}-{number_text(high)}" if low >= 0 else f"[{number_text(low)}, {number_text(high)}]"
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


# A co-occurring column with more levels than this keeps its most frequent ones and pools the rest:
# the seriation needs each category's profile, not every rare level, and this bounds the contingency
# table at (categories × MAX_PROFILE_LEVELS per column).
MAX_PROFILE_LEVELS = 64
NUMERIC_PROFILE_BINS = 10
DENSE_COUNT_CELLS = 4_000_000  # above (32 MB of counts): the contingency table is counted sparse


def profile_codes(axis: dict[str, Any], values: pd.Series, weights: np.ndarray | None = None) -> np.ndarray:
    """Small integer codes of a column for co-occurrence profiles: numbers and dates by decile of their
    axis value, categories by value (the most frequent MAX_PROFILE_LEVELS - 1, the rest pooled).
    `weights`: rows per value (distinct tuples with their counts); the deciles are then the rows'."""
    if axis["kind"] in ("numeric", "date"):
        x = axis_values(axis, values, strict=False)
        probabilities = np.linspace(0, 1, NUMERIC_PROFILE_BINS + 1)[1:-1]
        quantiles = np.nanquantile(x, probabilities) if weights is None else _row_quantiles(x, weights, probabilities)
        edges = np.unique(quantiles)
        return np.searchsorted(edges, x, side="right")
    codes, uniques = pd.factorize(values.astype(str))
    if len(uniques) > MAX_PROFILE_LEVELS:
        counts = np.bincount(codes, weights=weights)
        top = np.argsort(-counts, kind="stable")[: MAX_PROFILE_LEVELS - 1]
        remap = np.full(len(uniques), MAX_PROFILE_LEVELS - 1)
        remap[top] = np.arange(len(top))
        codes = remap[codes]
    return codes


def _row_quantiles(x: np.ndarray, weights: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """np.nanquantile (linear) of the rows that lines x with `weights` stand for, without the rows:
    the two order statistics around each quantile, interpolated by numpy itself on them."""
    present = ~np.isnan(x)
    x, weights = x[present], np.asarray(weights, dtype=np.int64)[present]
    order = np.argsort(x, kind="stable")
    x, ends = x[order], np.cumsum(weights[order])  # the sorted rows' value at position i: x[first end > i]
    n = int(ends[-1]) if len(ends) else 0
    if n == 0:
        return np.full(len(probabilities), np.nan)
    out = np.empty(len(probabilities))
    for i, q in enumerate(probabilities):
        virtual = (n - 1) * q
        below = int(np.floor(virtual))
        lo = x[np.searchsorted(ends, below, side="right")]
        hi = x[np.searchsorted(ends, min(below + 1, n - 1), side="right")]
        out[i] = np.quantile(np.array([lo, hi]), virtual - below)
    return out


def cooccurrence_order(values: pd.Series, others: list[np.ndarray], weights: np.ndarray | None = None) -> list[str]:
    """A column's categories ordered so that categories that co-occur alike with the other columns are
    neighbours: the first axis of a correspondence analysis of the category × (other columns' levels)
    contingency table (a classic seriation). Label-free: `others` are the other quasi-identifiers only.

    Why: Mondrian cuts a categorical axis at its median code, so the order decides which categories end
    up in one box. First appearance is arbitrary; with this order a cut separates categories whose rows
    look different (e.g. the education levels fall roughly in order of schooling), and a box's value set
    groups categories that resemble each other. Ties, a constant column and the lack of other columns
    keep first-appearance order; the result is deterministic (stable sort, fixed sign).
    """
    codes, uniques = pd.factorize(values.astype(str))
    categories = [str(u) for u in uniques]
    if len(categories) < 3 or not others:
        return categories
    widths = [int(other.max()) + 1 for other in others]
    shape = (len(categories), int(sum(widths)))
    if shape[0] * shape[1] <= DENSE_COUNT_CELLS:  # one bincount per column: no sort of n pairs
        counts = sparse.csr_matrix(np.hstack([
            np.bincount(codes * w + other, weights=weights, minlength=shape[0] * w).reshape(shape[0], w)
            for other, w in zip(others, widths, strict=True)
        ]).astype(float))
    else:
        offsets = np.concatenate(([0], np.cumsum(widths)[:-1]))
        level = np.concatenate([other + off for other, off in zip(others, offsets, strict=True)])
        cells = np.ones(len(level)) if weights is None else np.tile(np.asarray(weights, dtype=float), len(others))
        counts = sparse.csr_matrix((cells, (np.tile(codes, len(others)), level)), shape=shape)
    p = counts / counts.sum()
    rows = np.asarray(p.sum(axis=1)).ravel()
    cols = np.asarray(p.sum(axis=0)).ravel()
    used = cols > 0
    p, cols = p[:, used], cols[used]
    # CA: the leading singular pair of D_r^-1/2 (P - r c') D_c^-1/2, found through its small
    # (levels × levels) Gram matrix, which equals D_c^-1/2 (P' D_r^-1 P - c c') D_c^-1/2
    scaled = p.multiply(1 / np.sqrt(cols)[None, :]).tocsr()
    gram = (scaled.T @ sparse.diags(1 / rows) @ scaled).toarray() - np.outer(np.sqrt(cols), np.sqrt(cols))
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    if eigenvalues[-1] <= 1e-12:
        return categories
    # row scores (up to a constant shift): D_r^-1 P D_c^-1/2 v
    score = np.asarray(scaled @ eigenvectors[:, -1]).ravel() / rows
    score = score - score.mean()
    score = np.round(score / np.abs(score).max(), 12)  # insensitive to float noise in ties
    if score[-1] < score[0]:
        score = -score
    return [categories[i] for i in np.argsort(score, kind="stable")]
