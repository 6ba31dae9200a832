"""Re-identification risk of a released table, with ARX's definitions (RiskModelSampleSummary,
RiskModelSampleUniqueness), over the records that are not suppressed:

- prosecutor: highest risk 1 / smallest class; average ("success rate") number of classes / number
  of records; records at risk = share of records whose 1 / class size exceeds the threshold;
- sample uniqueness: share of records alone in their class;
- journalist (given a population table generalized the same way): with F the class's size in the
  population, highest 1 / min F, records at risk where 1 / F > threshold, average
  max(classes / sum F, sum(f / F) / records).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity.encoding import factorize_column, group_ids

DEFAULT_THRESHOLD = 0.2


def class_ids_of(df: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, int]:
    """Equivalence class per row of the table on the given columns (values compared as text)."""
    if len(df) == 0:
        return np.zeros(0, dtype=np.int64), 0
    codes, cards = [], []
    for col in columns:
        c, n = factorize_column(df[col])
        codes.append(c)
        cards.append(n)
    return group_ids(codes, cards)


def prosecutor(sizes: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> dict[str, float]:
    sizes = np.asarray(sizes, dtype=np.int64)
    sizes = sizes[sizes > 0]
    if len(sizes) == 0:
        return {"prosecutor_max": 0.0, "prosecutor_avg": 0.0, "sample_uniqueness": 0.0,
                "records_above_threshold": 0.0, "threshold": threshold, "classes": 0}
    records = float(sizes.sum())
    return {
        "prosecutor_max": 1.0 / float(sizes.min()),
        "prosecutor_avg": len(sizes) / records,
        "sample_uniqueness": float(np.sum(sizes == 1)) / records,
        "records_above_threshold": float(sizes[1.0 / sizes > threshold].sum()) / records,
        "threshold": threshold,
        "classes": len(sizes),
    }


def journalist(sample_keys: pd.Series, population_keys: pd.Series,
               threshold: float = DEFAULT_THRESHOLD) -> dict[str, float]:
    """Journalist risk from the class key of every sample record and every population record."""
    f = sample_keys.value_counts()
    population = population_keys.value_counts()
    big_f = population.reindex(f.index).fillna(0).to_numpy(dtype=float)
    small_f = f.to_numpy(dtype=float)
    big_f = np.maximum(big_f, small_f)  # the sample is part of the population
    records = small_f.sum()
    if records == 0:
        return {"journalist_max": 0.0, "journalist_avg": 0.0, "journalist_records_above_threshold": 0.0}
    return {
        "journalist_max": float(1.0 / big_f.min()),
        "journalist_avg": float(max(len(small_f) / big_f.sum(), np.sum(small_f / big_f) / records)),
        "journalist_records_above_threshold": float(small_f[1.0 / big_f > threshold].sum() / records),
    }


def row_keys(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A hashable key per row over the given columns (for matching sample and population classes)."""
    if not columns:
        return pd.Series(["" for _ in range(len(df))], index=df.index)
    parts = [df[c].astype(str) for c in columns]
    key = parts[0].str.len().astype(str) + ":" + parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part.str.len().astype(str) + ":" + part
    return key


def size_histogram(sizes: np.ndarray) -> dict[str, Any]:
    """Class-size histogram in buckets (1, 2, 3, 4, 5-9, 10-19, 20-49, 50-99, 100-999, 1000+)."""
    edges = [1, 2, 3, 4, 5, 10, 20, 50, 100, 1000]
    sizes = np.asarray(sizes, dtype=np.int64)
    sizes = sizes[sizes > 0]
    labels, classes, records = [], [], []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] - 1 if i + 1 < len(edges) else None
        mask = (sizes >= lo) & (sizes <= hi) if hi is not None else sizes >= lo
        labels.append(str(lo) if hi == lo else (f"{lo}-{hi}" if hi is not None else f"{lo}+"))
        classes.append(int(mask.sum()))
        records.append(int(sizes[mask].sum()))
    return {"buckets": labels, "classes": classes, "records": records}
