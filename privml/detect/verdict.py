"""A column's verdict from all the evidence: its values, its name and its statistics.

`classify_values` (privml.detect.columns) says what the values show. On top of it stand three rules that
hold whatever the patterns say:

1. a column whose name says identifier (`ssn`, `nachname`, `passport_no`, privml.detect.hints) is
   never proposed as `keep`: it is that identifier even where no value validates;
2. a near-unique column of codes or integers (not a continuous measurement, privml.detect.profile) is
   an identifier: it singles out its rows whatever its format;
3. a column whose validator pass rate is far above chance is that type (privml.recognizers.identifiers),
   with the rate in the evidence.

User-declared recognizers and allow/deny lists (the policy's `detection:` section) come first. Every
verdict carries its evidence: counts, shares and statistics, never a value.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privml.detect.columns import ColumnClass, as_text, classify_values
from privml.detect.hints import fold_name, identifier_hint, name_hints
from privml.detect.profile import looks_like_code, profile_values
from privml.recognizers.identifiers import VALIDATORS

__all__ = ["IDENTIFIER_TYPES", "CustomRecognizer", "DetectionRules", "classify_column", "rules_from_policy",
           "value_digest"]

# Types whose columns identify people directly: scan proposes role `identifier` for each.
IDENTIFIER_TYPES = frozenset({
    "email", "phone", "ssn", "credit_card", "iban", "ip_address", "url", "person_name", "street_address",
    "free_text_pii", "national_id", "passport", "bank_account", "medical_record", "device_id", "vin",
    "username", "secret", "person_id", "lat_long", "aws_access_key", "uuid", "mac_address", "imei",
    "uk_nino", "nhs_number", "ca_sin", "es_dni", "it_codice_fiscale", "fr_insee", "de_tax_id", "in_aadhaar",
    "au_tfn", "us_itin", "us_ein", "aba_routing", "swift_bic", "handle", "unique_id", "custom", "denied",
})


def value_digest(value: str) -> str:
    """How a deny-listed value is recorded in a written policy: its SHA-256, never the value."""
    return "sha256:" + hashlib.sha256(value.strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CustomRecognizer:
    name: str
    regex: re.Pattern[str]
    validator: str | None = None
    hints: tuple[str, ...] = ()
    min_share: float = 0.5


@dataclass(frozen=True)
class DetectionRules:
    recognizers: tuple[CustomRecognizer, ...] = ()
    allow: frozenset[str] = frozenset()  # values never flagged (placeholders such as "N/A")
    deny: frozenset[str] = frozenset()  # values, or their `value_digest`, always flagged


def classify_column(name: str, values: pd.Series, rules: DetectionRules | None = None) -> ColumnClass:
    """The verdict on one column from a sample of its values and its name."""
    rules = rules or DetectionRules()
    text = as_text(values)
    if rules.allow:
        text = text[~text.isin(rules.allow)]
    id_hint = identifier_hint(name)
    if text.empty:
        if id_hint:
            return ColumnClass(id_hint, 0.5, "empty", f"no values in the sample; the column name says {_said(id_hint)}")
        return ColumnClass(None, 0.0, "empty", "no non-missing values in the sample")
    counts = text.value_counts()
    uniq = pd.Series(counts.index.astype(str), dtype="str")
    weight = counts.to_numpy(dtype=float) / counts.sum()
    n = int(counts.sum())
    typed_text, typed_counts = _for_types(text, counts)
    profile = profile_values(text, counts, typed_counts)
    stats = profile.describe()

    if rules.deny:
        denied = _denied(uniq, rules.deny)
        if denied.any():
            return ColumnClass("denied", 1.0, "text", f"{int(counts[denied.tolist()].sum())} of {n} sampled values "
                               f"are on the policy's deny list; {stats}")
    custom = _custom(name, uniq, weight, n, rules.recognizers)
    if custom is not None:
        return ColumnClass("custom", round(custom[1], 3), "text", f"{custom[2]}; {stats}")

    hints = name_hints(name)
    cls = classify_values(hints, typed_text, typed_counts)
    if cls.pii_type in IDENTIFIER_TYPES:
        return _with(cls, stats)
    if id_hint is not None:  # rule 1
        seen = f"values: {cls.evidence}" if cls.pii_type is None else f"values look like {cls.pii_type}"
        return ColumnClass(id_hint, max(cls.confidence, 0.6) if cls.pii_type is None else 0.6, cls.kind,
                           f"the column name says {_said(id_hint)} ({seen}); {stats}")
    if profile.near_unique and cls.pii_type in (None, "label", "free_text"):  # rule 2
        is_code, why = looks_like_code(profile, uniq, weight)
        if is_code:
            return ColumnClass("unique_id", round(profile.distinct_ratio, 3), cls.kind,
                               f"near-unique: {why}; {stats}")
    return _with(cls, stats)


# Type shares come from at most this many rows of the sample: a share estimated from 800 rows is within
# about 3 points of the whole sample's, and the per-value checks are the cost of a scan.
TYPE_ROWS = 800


def _for_types(text: pd.Series, counts: pd.Series) -> tuple[pd.Series, pd.Series]:
    if len(counts) <= TYPE_ROWS or len(text) <= TYPE_ROWS:
        return text, counts
    rows = text.sample(n=TYPE_ROWS, random_state=0)
    return rows, rows.value_counts()


def _said(kind: str) -> str:
    return kind.replace("_", " ")


def _with(cls: ColumnClass, stats: str) -> ColumnClass:
    return ColumnClass(cls.pii_type, cls.confidence, cls.kind, f"{cls.evidence}; {stats}")


def _denied(uniq: pd.Series, deny: frozenset[str]) -> np.ndarray:
    plain = uniq.isin(deny).to_numpy(dtype=bool)
    if any(d.startswith("sha256:") for d in deny):
        plain |= np.array([value_digest(v) in deny for v in uniq.to_numpy(dtype=object)], dtype=bool)
    return plain


def _custom(name: str, uniq: pd.Series, weight: np.ndarray, n: int,
            recognizers: tuple[CustomRecognizer, ...]) -> tuple[str, float, str] | None:
    folded = fold_name(name)
    for rec in recognizers:
        hinted = any(h and h in folded for h in (fold_name(h) for h in rec.hints))
        shaped = np.array([bool(rec.regex.fullmatch(v)) for v in uniq.to_numpy(dtype=object)], dtype=bool)
        if rec.validator is not None:
            check = VALIDATORS[rec.validator]
            idx = np.flatnonzero(shaped)
            shaped[idx] = [check(v) for v in uniq.to_numpy(dtype=object)[idx]]
        rate = float(weight[shaped].sum())
        what = f"match custom recognizer '{rec.name}'" + (f" and pass {rec.validator}" if rec.validator else "")
        if hinted or rate >= rec.min_share:  # a name hint is enough, as for the built-in identifiers
            agrees = "; the column name matches its hints" if hinted else ""
            return rec.name, max(rate, 0.6 if hinted else 0.0), f"{rate:.0%} of {n} sampled values {what}{agrees}"
    return None


def rules_from_policy(detection: Any) -> DetectionRules:
    """The policy's `detection:` section (privml.policy.DetectionPolicy, or None) as rules for scan."""
    if detection is None:
        return DetectionRules()
    return DetectionRules(
        recognizers=tuple(
            CustomRecognizer(name=r.name, regex=re.compile(r.regex), validator=r.validator, hints=tuple(r.hints),
                             min_share=r.min_share)
            for r in detection.recognizers
        ),
        allow=frozenset(v.strip() for v in detection.allow),
        deny=frozenset(v.strip() for v in detection.deny),
    )
