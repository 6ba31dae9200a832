"""Scan a table: per column the detected PII type, a confidence, and the proposed role and action.

`scan_table` reads a bounded random sample of rows (at most `sample_rows`, drawn without replacement
with a seeded generator, so the cost does not grow with the table) and classifies each column from
its values. Every example it shows is masked down to the value's shape (`xxxx.xxx@xxxxx.xxx`,
`###-##-####`): a scan result never carries a raw value, so it is safe to print, log and store.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from privml.detect.proposals import proposal_for
from privml.detect.results import ColumnScan, ScanResult
from privml.detect.risk import propose_quasi_identifiers
from privml.detect.verdict import IDENTIFIER_TYPES, DetectionRules, classify_column
from privml.errors import PrivmlError

__all__ = ["ColumnScan", "ScanResult", "check_label", "draw_sample", "mask_example", "scan_table"]

DEFAULT_SAMPLE_ROWS = 5000
_EXAMPLE_CHARS = 40


def mask_example(value: object) -> str:
    """The shape of a value: letters → `x`/`X`, digits → `#`, other characters kept; long values cut."""
    text = str(value)
    cut = len(text) > _EXAMPLE_CHARS
    text = text[:_EXAMPLE_CHARS]
    text = re.sub(r"[0-9]", "#", text)
    text = re.sub(r"[^\W\d_]", lambda m: "X" if m.group().isupper() else "x", text)
    # Digits outside ASCII and other letters-or-digits classes the two passes missed.
    text = "".join(ch if not ch.isalnum() or ch in "xX" else "#" for ch in text)
    return text + ("…" if cut else "")


def draw_sample(df: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most `rows` rows drawn without replacement, kept in table order; the whole table if smaller."""
    if len(df) <= rows:
        return df
    idx = np.random.default_rng(seed).choice(len(df), size=rows, replace=False)
    return df.iloc[np.sort(idx)]


def scan_table(df: pd.DataFrame, *, sample_rows: int = DEFAULT_SAMPLE_ROWS, seed: int = 0,
               rows_total: int | None = None, rules: DetectionRules | None = None,
               label: str | None = None) -> ScanResult:
    """Detect each column's kind of personal data on a sample of `df`. `rows_total`: the size of the
    table `df` was sampled from, when it is a sample already (`privml.io.sample_table`). `rules`: the
    policy's custom recognizers and allow/deny lists. `label`: the column the user names as the label
    (checked: present, not constant, not an identifier); without it a label is proposed only where
    the column name says so, and the evidence says that."""
    if sample_rows < 1:
        raise ValueError("sample_rows must be at least 1")
    sample = draw_sample(df, sample_rows, seed)
    if label is not None:
        check_label(sample, label, rules)
    columns: list[ColumnScan] = []
    has_label = label is not None
    for position, name in enumerate(df.columns):
        values = sample.iloc[:, position]
        try:
            cls = classify_column(str(name), values, rules)
        except Exception as exc:  # a library error may quote a value; name the column and the error type only
            raise PrivmlError(f"column '{name}': could not be scanned ({type(exc).__name__})") from None
        pii_type = cls.pii_type
        evidence = cls.evidence
        if str(name) == label:
            pii_type, evidence = "label", f"named as the label by --label; {evidence}"
        elif pii_type == "label":
            if has_label:  # a policy has at most one label; later candidates stay features
                pii_type = None
            has_label = True
        proposal = proposal_for(pii_type)
        present = values.dropna()
        columns.append(ColumnScan(
            name=str(name),
            pii_type=pii_type,
            confidence=cls.confidence,
            role=proposal.role,
            action=proposal.action,
            params=dict(proposal.params),
            hierarchy=dict(proposal.hierarchy) if proposal.hierarchy else None,
            example=mask_example(present.iloc[0]) if len(present) else "",
            evidence=evidence,
            numeric=bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").notna().all()),
        ))
    columns = propose_quasi_identifiers(sample, columns)
    return ScanResult(columns=columns, rows_total=len(df) if rows_total is None else rows_total,
                      rows_sampled=len(sample), seed=seed)


def check_label(frame: pd.DataFrame, label: str, rules: DetectionRules | None = None) -> None:
    """A label a model can learn and that identifies no one: present, with two or more values, not an
    identifier by name, values or uniqueness. Raises PrivmlError (exit 2) naming the column."""
    if label not in frame.columns:
        raise PrivmlError(f"--label {label}: no such column")
    values = frame[label].dropna()
    values = values[values.astype(str).str.strip() != ""]
    if values.nunique() < 2:
        raise PrivmlError(f"--label {label}: the column is constant (a label needs at least two values)")
    cls = classify_column(label, frame[label], rules)
    if cls.pii_type in IDENTIFIER_TYPES:
        raise PrivmlError(f"--label {label}: the column is an identifier ({cls.pii_type}), not a label")

