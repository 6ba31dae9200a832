"""Quasi-identifiers by measured risk: which columns make records unique, alone, in pairs, and added to
the quasi-identifiers found by type.

This follows ARX's attribute risk analysis (arx.deidentifier.org, "Analyze risk" → quasi-identifiers;
the measures of Motwani and Xu, "Efficient algorithms for masking and finding quasi-identifiers",
2007): per attribute combination the *distinction* (distinct combinations over records) and the
*separation* (share of record pairs the combination tells apart), and here also the share of records
the combination makes unique, which is what a linkage attack needs.

A categorical feature becomes a proposed quasi-identifier when adding it to the quasi-identifiers
makes at least `MIN_GAIN` more of the sampled records unique, or when it makes that share unique
together with one other candidate, unless the quasi-identifiers found by type already make most
records unique (`SATURATED`). The figures are the evidence.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd

from privml.detect.results import ColumnScan
from privml.policy import Role

__all__ = ["MIN_GAIN", "distinction", "propose_quasi_identifiers", "separation", "unique_share"]

MIN_GAIN = 0.01
SATURATED = 0.5
_MAX_CATEGORIES = 200
_MAX_CANDIDATES = 30


def _codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One integer per record for the combination of `columns` (missing is a value of its own)."""
    if not columns:
        return np.zeros(len(frame), dtype=np.int64)
    combined = np.zeros(len(frame), dtype=np.int64)
    for name in columns:
        codes, uniques = pd.factorize(_as_keys(frame[name]), use_na_sentinel=False)
        combined = combined * (len(uniques) + 1) + codes
        combined = pd.factorize(combined)[0].astype(np.int64)  # keep the numbers small
    return combined


def _as_keys(values: pd.Series) -> pd.Series:
    """Values as hashable keys (a cell may hold a dict or a list); missing stays missing."""
    return values.astype(str).where(values.notna(), None)


def unique_share(frame: pd.DataFrame, columns: list[str]) -> float:
    if not len(frame):
        return 0.0
    counts = np.bincount(_codes(frame, columns))
    return float(counts[counts == 1].sum() / len(frame))


def distinction(frame: pd.DataFrame, columns: list[str]) -> float:
    return float(len(np.unique(_codes(frame, columns))) / max(len(frame), 1))


def separation(frame: pd.DataFrame, columns: list[str]) -> float:
    n = len(frame)
    if n < 2:
        return 0.0
    counts = np.bincount(_codes(frame, columns)).astype(float)
    return float(1.0 - (counts * (counts - 1)).sum() / (n * (n - 1)))


def _candidate(col: ColumnScan, values: pd.Series) -> bool:
    from privml.transforms import technique_class

    if col.role is not Role.FEATURE or not technique_class(col.action).releases_unchanged or col.pii_type is not None:
        return False
    present = _as_keys(values).dropna()
    distinct = present.nunique()
    if distinct < 2 or distinct > min(_MAX_CATEGORIES, 0.5 * max(len(present), 1)):
        return False
    numeric = pd.to_numeric(present.astype(str), errors="coerce").notna().mean() >= 0.98
    return not numeric or distinct <= 20  # a numeric feature with many values is a measurement


def propose_quasi_identifiers(sample: pd.DataFrame, columns: list[ColumnScan]) -> list[ColumnScan]:
    """`columns` with the features that measurably make records unique turned into quasi-identifiers."""
    positions = {str(name): i for i, name in enumerate(sample.columns)}
    frame = sample.set_axis([str(c) for c in sample.columns], axis=1)
    base = [c.name for c in columns if c.role is Role.QUASI_IDENTIFIER and c.name in positions]
    candidates = [c.name for c in columns if c.name in positions and _candidate(c, frame[c.name])]
    candidates = candidates[:_MAX_CANDIDATES]
    if not candidates or len(frame) < 50:
        return columns
    base_unique = unique_share(frame, base)
    pair_best: dict[str, tuple[float, str]] = {}
    for a, b in itertools.combinations(candidates, 2):
        share = unique_share(frame, [a, b])
        for one, other in ((a, b), (b, a)):
            if share > pair_best.get(one, (-1.0, ""))[0]:
                pair_best[one] = (share, other)
    out = []
    for col in columns:
        if col.name not in candidates:
            out.append(col)
            continue
        gain = unique_share(frame, [*base, col.name]) - base_unique
        pair_share, partner = pair_best.get(col.name, (0.0, ""))
        figures = (f"measured risk: distinction {distinction(frame, [col.name]):.3f}, separation "
                   f"{separation(frame, [col.name]):.3f}; added to the quasi-identifiers "
                   f"({', '.join(base) or 'none'}) it makes {gain:.1%} more sampled records unique "
                   f"({base_unique:.1%} before); with {partner or '-'} it makes {pair_share:.1%} unique")
        if base_unique >= SATURATED:
            # The quasi-identifiers found by type already single out most records: the engine must
            # generalize them whatever else is declared, and more quasi-identifiers would only cost utility.
            figures += f"; not proposed: the quasi-identifiers already make {base_unique:.0%} of records unique"
        if base_unique < SATURATED and (gain >= MIN_GAIN or pair_share >= MIN_GAIN):
            out.append(replace(col, role=Role.QUASI_IDENTIFIER, pii_type="quasi_identifier",
                               evidence=f"{figures}; {col.evidence}"))
        else:
            out.append(replace(col, evidence=f"{figures}; {col.evidence}"))
    return out
