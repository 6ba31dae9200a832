"""Privacy models over equivalence classes: k-anonymity, l-diversity (distinct, entropy,
recursive-(c,l)) and t-closeness (equal and ordered distance).

Everything works on a dense class id per row, so the same code is a *check* on any table and the
*constraint* the algorithms meet (a class that fails is suppressed, or a split that would create one
is refused). The semantics follow ARX: entropy l-diversity compares the class's sensitive-value
entropy with log(l); recursive-(c,l) asks r1 < c * (r_l + ... + r_m) over the class's value counts in
descending order; t-closeness compares the class's sensitive distribution with the whole table's,
by half the L1 distance (equal) or the ordered earth mover's distance, sum_i |cumsum(p - q)_i| / (m-1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

_DENSE_CELLS = 4_000_000  # classes x values above which the ordered distance is computed in chunks


@dataclass
class SensitiveColumn:
    """One sensitive attribute as codes; for the ordered distance codes follow the value order."""

    name: str
    codes: np.ndarray
    n_values: int
    q: np.ndarray  # distribution over the whole table
    weights: np.ndarray | None = None  # rows per line (None: one each; a tuple histogram weighs by counts)

    @classmethod
    def encode(cls, name: str, values: pd.Series, weights: np.ndarray | None = None) -> SensitiveColumn:
        text = values.astype(str)
        distinct = pd.unique(text)
        numeric = pd.to_numeric(pd.Series(distinct), errors="coerce")
        if len(distinct) and not numeric.isna().any():
            order = [distinct[i] for i in np.argsort(numeric.to_numpy(), kind="stable")]
        else:
            order = sorted(distinct)
        index = pd.Index(order)
        codes = index.get_indexer(text).astype(np.int64)
        q = np.bincount(codes, weights=weights, minlength=len(order)).astype(float)
        q /= max(q.sum(), 1.0)
        return cls(name, codes, len(order), q, None if weights is None else np.asarray(weights, dtype=np.int64))

    @classmethod
    def encode_lines(cls, name: str, distinct: pd.Series, codes: np.ndarray,
                     weights: np.ndarray | None = None) -> SensitiveColumn:
        """`encode` of the column whose line i holds distinct[codes[i]] (a tuple histogram's), with the
        text and the value order worked out once per distinct value rather than per line. Every distinct
        value is on some line, so the order and codes are those `encode` gives on the lines."""
        per_value = cls.encode(name, distinct)
        line_codes = per_value.codes[codes]
        q = np.bincount(line_codes, weights=weights, minlength=per_value.n_values).astype(float)
        q /= max(q.sum(), 1.0)
        line_weights = None if weights is None else np.asarray(weights, dtype=np.int64)
        return cls(name, line_codes, per_value.n_values, q, line_weights)

    def subset(self, rows: np.ndarray) -> SensitiveColumn:
        """The same column restricted to some rows, keeping the whole table's distribution."""
        weights = None if self.weights is None else self.weights[rows]
        return SensitiveColumn(self.name, self.codes[rows], self.n_values, self.q, weights)


@dataclass(frozen=True)
class Constraints:
    k: int = 1
    l_kind: Literal["distinct", "entropy", "recursive"] | None = None
    l: float = 1.0  # noqa: E741
    c: float | None = None
    t: float | None = None
    t_distance: Literal["equal", "ordered"] = "equal"
    sensitive: tuple[str, ...] = field(default_factory=tuple)

    @property
    def needs_sensitive(self) -> bool:
        return self.l_kind is not None or self.t is not None


def _pairs(class_ids: np.ndarray, n_classes: int, col: SensitiveColumn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (class, value) pairs with their counts, sorted by class then value."""
    key = class_ids * col.n_values + col.codes
    if col.weights is None:
        pair, count = np.unique(key, return_counts=True)
    else:
        pair, inverse = np.unique(key, return_inverse=True)
        count = np.bincount(inverse.ravel(), weights=col.weights, minlength=len(pair)).astype(np.int64)
        pair, count = pair[count > 0], count[count > 0]
    return pair // col.n_values, pair % col.n_values, count


def distinct_l(class_ids: np.ndarray, n_classes: int, col: SensitiveColumn) -> np.ndarray:
    cls, _, _ = _pairs(class_ids, n_classes, col)
    return np.bincount(cls, minlength=n_classes)


def entropy_l(class_ids: np.ndarray, n_classes: int, col: SensitiveColumn) -> np.ndarray:
    """exp(entropy) of each class's sensitive values: the largest l it is entropy-l-diverse for."""
    cls, _, count = _pairs(class_ids, n_classes, col)
    sizes = np.bincount(cls, weights=count, minlength=n_classes)
    p = count / sizes[cls]
    h = np.bincount(cls, weights=-p * np.log(p), minlength=n_classes)
    return np.exp(h)


def recursive_cl_ok(class_ids: np.ndarray, n_classes: int, col: SensitiveColumn, c: float, l: float) -> np.ndarray:  # noqa: E741
    cls, _, count = _pairs(class_ids, n_classes, col)
    order = np.lexsort((-count, cls))
    cls, count = cls[order], count[order]
    starts = np.searchsorted(cls, np.arange(n_classes))
    rank = np.arange(len(cls)) - starts[cls]
    r1 = np.zeros(n_classes)
    np.maximum.at(r1, cls, count)
    li = math.ceil(l)
    tail = np.bincount(cls, weights=np.where(rank >= li - 1, count, 0), minlength=n_classes)
    distinct = np.bincount(cls, minlength=n_classes)
    return (distinct >= li) & (r1 < c * tail)


def t_distance(class_ids: np.ndarray, n_classes: int, col: SensitiveColumn, distance: str) -> np.ndarray:
    """Each class's distance from the table's distribution of the sensitive attribute."""
    if distance == "equal":
        cls, val, count = _pairs(class_ids, n_classes, col)
        sizes = np.bincount(cls, weights=count, minlength=n_classes)
        p = count / sizes[cls]
        q = col.q[val]
        inside = np.bincount(cls, weights=np.abs(p - q) - q, minlength=n_classes)
        return np.clip(0.5 * (inside + 1.0), 0.0, 1.0)
    m = col.n_values
    if m <= 1:
        return np.zeros(n_classes)
    out = np.empty(n_classes)
    step = max(1, _DENSE_CELLS // m)
    order = np.argsort(class_ids, kind="stable")
    sorted_ids = class_ids[order]
    bounds = np.searchsorted(sorted_ids, np.arange(0, n_classes + step, step).clip(max=n_classes))
    for i, lo in enumerate(range(0, n_classes, step)):
        hi = min(lo + step, n_classes)
        rows = order[bounds[i]:bounds[i + 1]]
        local = class_ids[rows] - lo
        weights = None if col.weights is None else col.weights[rows]
        hist = np.bincount(local * m + col.codes[rows], weights=weights, minlength=(hi - lo) * m).reshape(hi - lo, m)
        p = hist / hist.sum(axis=1, keepdims=True)
        out[lo:hi] = np.abs(np.cumsum(p - col.q, axis=1)).sum(axis=1) / (m - 1)
    return out


def classes_ok(
    class_ids: np.ndarray, n_classes: int, sizes: np.ndarray, constraints: Constraints,
    sensitive: list[SensitiveColumn],
) -> np.ndarray:
    """Which classes satisfy every privacy model in `constraints`."""
    ok = sizes >= constraints.k
    for col in sensitive:
        if constraints.l_kind == "distinct":
            ok &= distinct_l(class_ids, n_classes, col) >= constraints.l
        elif constraints.l_kind == "entropy":
            ok &= entropy_l(class_ids, n_classes, col) >= constraints.l * (1 - 1e-12)
        elif constraints.l_kind == "recursive":
            ok &= recursive_cl_ok(class_ids, n_classes, col, constraints.c or 1.0, constraints.l)
        if constraints.t is not None:
            ok &= t_distance(class_ids, n_classes, col, constraints.t_distance) <= constraints.t + 1e-12
    return ok


@dataclass
class Measured:
    """The privacy models a released table achieves (over its non-suppressed rows)."""

    k: int
    l_distinct: int | None = None
    l_entropy: float | None = None
    t: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {"k": self.k}
        if self.l_distinct is not None:
            out["l"] = self.l_distinct
            out["l_entropy"] = self.l_entropy
        if self.t is not None:
            out["t"] = self.t
        return out


def measure(class_ids: np.ndarray, n_classes: int, sensitive: list[SensitiveColumn],
            t_distance_kind: str | None = None, weights: np.ndarray | None = None) -> Measured:
    """`weights`: rows per line of `class_ids` (a tuple histogram's counts; None: one each)."""
    if len(class_ids) == 0:
        return Measured(k=0)
    sizes = np.bincount(class_ids, weights=weights, minlength=n_classes).astype(np.int64)
    present = sizes > 0
    result = Measured(k=int(sizes[present].min()))
    if sensitive:
        result.l_distinct = int(min(distinct_l(class_ids, n_classes, s)[present].min() for s in sensitive))
        result.l_entropy = float(min(entropy_l(class_ids, n_classes, s)[present].min() for s in sensitive))
        kind = t_distance_kind or "equal"
        result.t = float(max(t_distance(class_ids, n_classes, s, kind)[present].max() for s in sensitive))
    return result
