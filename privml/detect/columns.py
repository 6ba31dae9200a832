"""Classify one column from a bounded sample of its values.

Evidence comes from the values: each validator runs once over the column's distinct values and its
share is weighted by how often each value occurs. The column's name is a weak hint only: it lowers the
share a type needs (a column called `email` that is 60% valid emails is an email column) and it is the
only evidence for what values cannot show (an `age` column looks like any small integer). A column
called `c7` full of emails is an email column.

Nothing here returns or logs a value: a `ColumnClass` holds the type, a confidence and a sentence of
evidence made of counts and shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from privml.detect.names import single_names
from privml.recognizers import patterns as p
from privml.recognizers.identifiers import far_above_chance, recognize
from privml.recognizers.lexicons import HEALTH_TERMS, SEX_VALUES
from privml.recognizers.text import find_pii_spans

__all__ = ["ColumnClass", "as_text", "classify_values"]

# Share of sampled values that must validate, without / with a name hint that agrees.
_STRUCTURED = ("email", "credit_card", "ssn", "iban", "ip_address", "phone", "url")
_THRESHOLD = {"postcode": 0.97, "street_address": 0.7, "person_name": 0.7, "date": 0.9}
_DEFAULT_THRESHOLD = 0.8
_HINTED_THRESHOLD = 0.5
_FREE_TEXT_SAMPLE = 2000  # distinct texts searched for PII spans


@dataclass(frozen=True)
class ColumnClass:
    # a PII type, "health" / "special_category" (sensitive), "age", "sex", "label", "free_text", or None
    pii_type: str | None
    confidence: float
    kind: str  # "empty", "numeric", "text", "categorical", "free_text"
    evidence: str  # counts and shares only, never a value


def as_text(values: pd.Series) -> pd.Series:
    values = values.dropna()
    if pd.api.types.is_float_dtype(values.dtype) and len(values):
        # 34.0 → "34": integers read into a float column (because of missing values) keep their shape.
        whole = bool((values % 1 == 0).all()) and float(values.abs().max()) < 2**53
        values = values.astype("int64") if whole else values
    text = values.astype(str).str.strip()
    return text[text != ""]


def classify_values(hints: set[str], text: pd.Series, counts: pd.Series) -> ColumnClass:
    """The PII type (or role hint) a column's values show, helped by the hints from its name."""
    uniq = pd.Series(counts.index.astype(str), dtype="str")
    weight = counts.to_numpy(dtype=float) / counts.sum()
    n = int(counts.sum())

    def share(mask: np.ndarray) -> float:
        return float(weight[mask].sum())

    def result(kind_: str, pii: str | None, conf: float, what: str) -> ColumnClass:
        agrees = "; column name agrees" if pii in hints else ""
        return ColumnClass(pii, round(min(conf, 1.0), 3), kind_, f"{conf:.0%} of {n} sampled values {what}{agrees}")

    def needed(kind_: str) -> float:
        return _HINTED_THRESHOLD if kind_ in hints else _THRESHOLD.get(kind_, _DEFAULT_THRESHOLD)

    # 1. Structured identifiers: the best-supported type wins.
    scores = {kind: share(p.VALIDATORS[kind](uniq)) for kind in _STRUCTURED}
    best = max(scores, key=lambda k: (scores[k], k in hints))
    if scores[best] >= needed(best):
        return result("text", best, scores[best], f"are valid {best.replace('_', ' ')}s")
    # A card column where many values fail Luhn is still a card column when the valid share is far
    # above the one in ten that random digit strings reach.
    card_shaped = share(p.card_shaped(uniq))
    if card_shaped >= 0.8 and scores["credit_card"] > 0 and far_above_chance(
            scores["credit_card"] / card_shaped, p.CARD_CHANCE, int(card_shaped * n), floor=0.3):
        return result("text", "credit_card", scores["credit_card"],
                      f"are valid card numbers (Luhn and issuer), far above the {p.CARD_CHANCE:.0%} of "
                      f"random digit strings")
    found = recognize(uniq, weight, n, hints)
    if found is not None:
        kind, rate, why = found
        return result("text", kind, rate, why)

    numbers = pd.to_numeric(uniq, errors="coerce")
    numeric_share = share(numbers.notna().to_numpy())

    # 2. Dates, told apart into dates of birth and other dates.
    dates = p.parse_dates(uniq)
    date_share = share(dates.notna().to_numpy())
    if date_share >= needed("date") and not (numeric_share > 0.5 and "date" not in hints):
        kind = "date_of_birth" if _looks_like_birth_dates(dates, weight, hints) else "date"
        return result("text", kind, date_share, "are dates")

    # 3. Postcodes. Amounts such as incomes pass a ZIP's shape, so a ZIP column must also have one
    # length throughout and no excess of round numbers.
    separated = share(p.fullmatch(uniq, p.POSTCODE_SEPARATED))
    if "postcode" in hints or _zip_shaped(uniq, weight) or separated >= 0.9:
        pc_share = share(p.is_postcode(uniq))
        if pc_share >= needed("postcode"):
            return result("categorical", "postcode", pc_share, "are valid postcodes")

    # 4. Street addresses and person names.
    addr_share = share(p.is_street_address(uniq))
    if addr_share >= needed("street_address"):
        return result("text", "street_address", addr_share, "are street addresses")
    # People's names are many: a handful of values repeated over thousands of rows ("White", "Black"
    # in a race column) are categories, even where the lexicon knows them as surnames.
    if numeric_share < 0.5 and len(uniq) >= min(20, 0.05 * n):
        name_score = p.name_scores(uniq)
        name_share = share(name_score >= 0.5)
        if name_share >= needed("person_name") and float(weight @ name_score) >= 0.5 * needed("person_name"):
            return result("text", "person_name", name_share, "are person names")
        names = single_names(uniq, weight)
        if names is not None:
            return ColumnClass("person_name", round(names.hit_rate, 3), "text", names.evidence())

    # 5. Numbers: what only the name can tell (age, label, an unformatted SSN or phone number).
    if numeric_share >= 0.98:
        return _numeric(uniq, numbers, weight, hints, n, result)

    # 6. Free text: PII found inside sentences.
    words = uniq.str.count(r"\s+").to_numpy() + 1
    letters = uniq.str.count(r"[^\W\d_]").to_numpy()
    if float(weight @ words) >= 3 and float(weight @ letters) >= 12:
        return _free_text(uniq, weight, n)

    # 7. Low-cardinality categories: sex, health conditions, a label.
    lowered = uniq.str.lower()
    if len(uniq) <= 5 and lowered.isin(SEX_VALUES).all() and len(uniq) >= 2:
        return result("categorical", "sex", 1.0, "are sex/gender codes")
    health = share(lowered.map(_mentions_health).to_numpy(dtype=bool))
    if health >= needed("health") or ("health" in hints and len(uniq) <= 500):
        return result("categorical", "health", max(health, 0.6), "name health conditions")
    if "special_category" in hints and len(uniq) <= 500:
        return result("categorical", "special_category", 0.6, "are categories of special (sensitive) data")
    if "label" in hints and len(uniq) <= 20:
        return result("categorical", "label", 0.6, "are class labels (from the column name)")
    return ColumnClass(None, round(1.0 - max(scores.values()), 3), "categorical",
                       f"no PII type matched {n} sampled values")


def _mentions_health(value: str) -> bool:
    return any(w in HEALTH_TERMS for w in re.split(r"[\s,;/()]+", value))


def _zip_shaped(uniq: pd.Series, weight: np.ndarray) -> bool:
    lengths = uniq.str.len().to_numpy()
    one_length = float(weight[(lengths == 5)].sum()) >= 0.97 or float(weight[(lengths == 10)].sum()) >= 0.97
    round_share = float(weight[uniq.str.endswith("0").to_numpy(dtype=bool)].sum())
    non_digit = float(weight[~uniq.str.fullmatch(r"[\d\-]+").to_numpy(dtype=bool)].sum())
    return (one_length and round_share <= 0.5) or non_digit > 0.5


def _looks_like_birth_dates(dates: pd.Series, weight: np.ndarray, hints: set[str]) -> bool:
    if "date_of_birth" in hints:
        return True
    if "date" in hints:
        return False
    valid = dates.notna().to_numpy()
    if not valid.any():
        return False
    years = dates[valid].dt.year.to_numpy()
    w = weight[valid] / weight[valid].sum()
    order = np.argsort(years)
    cum = np.cumsum(w[order])
    median_year = years[order][np.searchsorted(cum, 0.5)]
    # Birth dates span generations and lie well in the past; event dates cluster within a few years.
    return bool(years.max() - years.min() >= 25 and median_year <= datetime.now().year - 15)


def _numeric(uniq, numbers, weight, hints, n, result) -> ColumnClass:
    digits = uniq.str.fullmatch(r"\d+").to_numpy(dtype=bool)
    if "ssn" in hints:
        ok = share_of(weight, digits & p.is_ssn(uniq.str.replace(r"^(\d{3})(\d{2})(\d{4})$", r"\1-\2-\3", regex=True)))
        if ok >= _HINTED_THRESHOLD:
            return result("text", "ssn", ok, "are valid SSNs (unformatted)")
    if "phone" in hints:
        ok = share_of(weight, digits & np.array([p.phone_ok(t) for t in uniq], dtype=bool))
        if ok >= _HINTED_THRESHOLD:
            return result("text", "phone", ok, "are valid phone numbers (unformatted)")
    whole = numbers.notna() & (numbers % 1 == 0)
    if "age" in hints:
        ok = share_of(weight, (whole & numbers.between(0, 125)).to_numpy(dtype=bool))
        if ok >= 0.95:
            return result("numeric", "age", ok, "are ages in years")
    # Sensitive attributes coded as numbers (religion 1-5, sex 1/2) show only in the name.
    if "sex" in hints and len(uniq) <= 3:
        return result("numeric", "sex", 0.6, "are sex codes (from the column name)")
    if "special_category" in hints and len(uniq) <= 500:
        return result("numeric", "special_category", 0.6, "are coded special-category data (from the column name)")
    if "health" in hints and len(uniq) <= 500:
        return result("numeric", "health", 0.6, "are coded health data (from the column name)")
    if "label" in hints and len(uniq) <= 20:
        return result("numeric", "label", 0.6, "are class labels (from the column name)")
    return ColumnClass(None, 1.0, "numeric", f"{n} sampled values are numbers")


def share_of(weight: np.ndarray, mask: np.ndarray) -> float:
    return float(weight[mask].sum())


def _free_text(uniq: pd.Series, weight: np.ndarray, n: int) -> ColumnClass:
    if len(uniq) > _FREE_TEXT_SAMPLE:
        keep = np.random.default_rng(0).choice(len(uniq), _FREE_TEXT_SAMPLE, replace=False)
        uniq, weight = uniq.iloc[keep], weight[keep] / weight[keep].sum()
    structured = np.zeros(len(uniq), dtype=bool)
    named = np.zeros(len(uniq), dtype=bool)
    kinds: dict[str, float] = {}
    for i, text in enumerate(uniq.to_numpy(dtype=object)):
        spans = find_pii_spans(text)
        for s in {s.kind for s in spans}:
            kinds[s] = kinds.get(s, 0.0) + weight[i]
        named[i] = any(s.kind == "person_name" for s in spans)
        structured[i] = any(s.kind != "person_name" for s in spans)
    structured_share, name_share = share_of(weight, structured), share_of(weight, named)
    any_share = share_of(weight, structured | named)
    found = ", ".join(f"{k.replace('_', ' ')} {v:.0%}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    # A few structured hits (an email, a phone number) are enough; names alone need more support
    # because capitalized word pairs occur in any prose.
    if (structured_share >= 0.02 and structured.sum() >= 2) or name_share >= 0.1:
        return ColumnClass("free_text_pii", round(min(1.0, 0.5 + any_share / 2), 3), "free_text",
                           f"{any_share:.0%} of {n} sampled texts contain PII ({found})")
    return ColumnClass("free_text", round(1.0 - any_share, 3), "free_text",
                       f"free text; no PII found in {n} sampled texts")
