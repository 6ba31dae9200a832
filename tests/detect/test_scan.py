"""scan_table: detection quality on columns whose names say nothing, no raw value in any output, and a
bounded sample."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

from privml.detect import scan as scan_module
from privml.detect import scan_table
from privml.detect.scan import draw_sample, mask_example
from privml.policy import Role
from privml.sampledata import generate
from tests.detect.corpus import IDENTIFIER_TYPES, hidden_table


def precision_recall(result, truth: dict[str, str | None]) -> tuple[float, float, list[str]]:
    """Over identifier columns: a hit is a column proposed as an identifier with its true PII type."""
    predicted = {c.name: c.pii_type for c in result.columns if c.role is Role.IDENTIFIER}
    actual = {name for name, kind in truth.items() if kind in IDENTIFIER_TYPES}
    hits = {name for name, kind in predicted.items() if truth[name] == kind and name in actual}
    misses = sorted(actual - hits) + sorted(set(predicted) - hits)
    return len(hits) / max(len(predicted), 1), len(hits) / len(actual), misses


@pytest.mark.parametrize("as_strings", [False, True], ids=["typed", "csv-strings"])
@pytest.mark.parametrize("seed", [3, 4])
def test_detection_quality_without_column_name_hints(seed: int, as_strings: bool) -> None:
    frame, truth = hidden_table(2000, seed, as_strings=as_strings)
    result = scan_table(frame, sample_rows=2000, seed=seed)
    precision, recall, misses = precision_recall(result, truth)
    n_ids = sum(kind in IDENTIFIER_TYPES for kind in truth.values())
    assert n_ids >= 25 and len(truth) - n_ids >= 20  # the test means something: many of both
    assert precision >= 0.95, misses
    assert recall >= 0.95, misses
    # Quasi-identifiers and the sensitive attribute are recognized from values too.
    for name, kind in truth.items():
        if kind in {"postcode", "date_of_birth", "date", "sex", "health"}:
            assert result.column(name).pii_type == kind, name


def test_sample_data_scan_proposes_the_expected_roles() -> None:
    result = scan_table(generate(3000, seed=1))
    roles = {c.name: c.role for c in result.columns}
    assert {n for n, r in roles.items() if r is Role.IDENTIFIER} == {
        "name", "email", "phone", "ssn", "credit_card", "street_address", "ip_address", "notes"}
    assert {n for n, r in roles.items() if r is Role.QUASI_IDENTIFIER} == {
        "age", "sex", "zip_code", "date_of_birth", "admission_date"}
    assert roles["diagnosis"] is Role.SENSITIVE
    assert roles["readmitted"] is Role.LABEL
    assert {roles[n] for n in ("income", "hours_per_week", "education", "num_visits")} == {Role.FEATURE}
    col = result.column("credit_card")
    assert (col.action, col.params) == ("mask", {"keep_last": 4})
    assert result.column("ssn").action == "drop"
    assert 0.9 <= result.column("email").confidence <= 1.0


def test_values_decide_the_type_and_an_identifier_name_is_never_kept() -> None:
    rng = np.random.default_rng(0)
    emails = generate(500, seed=2)["email"]
    frame = pd.DataFrame({
        "c7": emails,  # no name, emails: an email column
        "email": [f"{x:.3f}" for x in rng.random(500)],  # named like emails, holds numbers: not emails
        "phone": [f"{x:010d}" for x in rng.integers(2_000_000_000, 9_999_999_999, 500)],  # bare digits + name
        "age": rng.integers(18, 90, 500),  # only the name can say this is an age
    })
    result = scan_table(frame)
    assert result.column("c7").pii_type == "email"
    # Named like emails, holds numbers: not emails by value, but a column called `email` is never kept.
    named = result.column("email")
    assert named.role is Role.IDENTIFIER and named.action != "keep"
    assert named.evidence.startswith("the column name says email")
    assert result.column("age").pii_type == "age"
    assert result.column("phone").role is Role.IDENTIFIER  # unformatted digits, named phone → phone


CANARY = "QZX7CANARY"


def _plant_canaries(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """A unique canary in every column, in the rows a scan is sure to sample and show."""
    frame = frame.astype(str)
    values = {
        "name": f"Maria {CANARY}a", "email": f"{CANARY.lower()}b@example.com", "phone": "(212) 867-5309",
        "ssn": "219-73-4681", "credit_card": "4929 1234 5678 9012", "ip_address": "203.0.113.77",
        "street_address": f"4321 {CANARY}c Street", "notes": f"Call {CANARY}d Smith at {CANARY.lower()}e@x.org",
        "zip_code": "73019", "date_of_birth": "1961-07-13", "diagnosis": f"{CANARY}f",
    }
    planted = []
    for i, col in enumerate(frame.columns):
        value = values.get(col, f"{CANARY}{i}")
        frame.loc[frame.index[:5], col] = value
        planted.append(value)
    return frame, planted


def _fragments(value: str) -> set[str]:
    """Every run of 4+ letters/digits in a planted value: none of them may appear in any output."""
    return {m.lower() for m in re.findall(r"[A-Za-z0-9]{4,}", value)} - {"example", "street", "call", "smith"}


def test_scan_never_outputs_a_raw_value(caplog: pytest.LogCaptureFixture) -> None:
    from privml.detect import propose_policy
    from privml.policy import dump_policy

    frame, planted = _plant_canaries(generate(400, seed=5))
    caplog.set_level(logging.DEBUG)
    result = scan_table(frame)
    outputs = [json.dumps(result.to_dict()), result.to_text(), repr(result), dump_policy(propose_policy(result)),
               caplog.text]
    text = "\n".join(outputs).lower()
    for value in planted:
        for fragment in _fragments(value):
            assert fragment not in text, "a fragment of a planted value leaked into scan output"
    # The examples are shapes: they do come from the planted first rows.
    assert result.column("ssn").example == "###-##-####"
    assert result.column("email").example == "xxx#xxxxxxx@xxxxxxx.xxx"


def test_mask_example_keeps_only_the_shape() -> None:
    assert mask_example("jane.doe@example.com") == "xxxx.xxx@xxxxxxx.xxx"
    assert mask_example("123-45-6789") == "###-##-####"
    assert mask_example("Ærøskøbing 12") == "Xxxxxxxxxx ##"
    assert mask_example("١٢٣") == "###"  # non-ASCII digits
    long = mask_example("word " * 30)
    assert long.endswith("…") and len(long) == 41


def test_scan_reads_a_bounded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = scan_module.classify_column

    def spy(name: str, values: pd.Series, *rest):
        seen.append(len(values))
        return real(name, values, *rest)

    monkeypatch.setattr(scan_module, "classify_column", spy)
    frame = generate(30_000, seed=6)
    result = scan_table(frame, sample_rows=700, seed=1)
    assert seen and max(seen) == 700
    assert (result.rows_total, result.rows_sampled) == (30_000, 700)


def test_sample_is_seeded_and_spread_over_the_table() -> None:
    frame = pd.DataFrame({"i": np.arange(100_000)})
    a, b, c = draw_sample(frame, 1000, 0), draw_sample(frame, 1000, 0), draw_sample(frame, 1000, 1)
    assert a["i"].tolist() == b["i"].tolist() != c["i"].tolist()
    assert a["i"].is_unique and a["i"].is_monotonic_increasing
    assert a["i"].min() < 5_000 and a["i"].max() > 95_000  # not just the head
    small = frame.head(10)
    assert draw_sample(small, 1000, 0) is small


def test_scan_result_is_json_and_deterministic() -> None:
    frame = generate(1500, seed=8)
    first, second = scan_table(frame, seed=2).to_dict(), scan_table(frame, seed=2).to_dict()
    assert first == second
    payload = json.loads(json.dumps(first))
    assert payload["rows_total"] == 1500 and len(payload["columns"]) == len(frame.columns)
    assert set(payload["columns"][0]) >= {"name", "pii_type", "confidence", "role", "action", "params", "example"}


def test_empty_and_missing_columns() -> None:
    frame = pd.DataFrame({"empty": [None] * 10, "mostly_missing": [None] * 9 + ["a@b.com"], "x": range(10)})
    result = scan_table(frame)
    assert result.column("empty").pii_type is None and result.column("empty").example == ""
    assert result.column("mostly_missing").pii_type == "email"  # judged on the values present
    assert scan_table(frame.iloc[:0]).rows_sampled == 0


def test_odd_dtypes_do_not_break_the_scan() -> None:
    frame = pd.DataFrame({
        "big": [1e20, 2.0, np.nan], "mixed": [b"x", 1, "y"], "objects": [{"k": 1}, [1], None],
        "when": pd.to_datetime(["2020-01-01", "2021-06-01", None]), "flag": [True, False, True],
        "cat": pd.Categorical(["a", "b", "a"]), "inf": [np.inf, -np.inf, 1.0],
    })
    result = scan_table(frame)
    assert result.column("when").pii_type == "date"
    assert {c.role for c in result.columns if c.name != "when"} == {Role.FEATURE}


def test_an_internal_error_names_the_column_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from privml.errors import PrivmlError

    def broken(name: str, values: pd.Series, *rest):
        raise ValueError(f"cannot parse {values.iloc[0]!r}")

    monkeypatch.setattr(scan_module, "classify_column", broken)
    with pytest.raises(PrivmlError) as info:
        scan_table(pd.DataFrame({"secret_col": [f"{CANARY}@example.com"]}))
    assert "secret_col" in str(info.value) and CANARY not in str(info.value)


def test_a_label_is_proposed_only_with_a_stated_reason() -> None:
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame({"outcome": rng.integers(0, 2, n), "flag_b": rng.integers(0, 2, n),
                          "visits": rng.poisson(3, n)})
    scan = scan_table(frame)
    labels = [c for c in scan.columns if c.role is Role.LABEL]
    assert [c.name for c in labels] == ["outcome"]  # by its name; a 0/1 column named otherwise is a feature
    assert "class labels (from the column name)" in labels[0].evidence
    named = scan_table(frame, label="flag_b")
    assert [c.name for c in named.columns if c.role is Role.LABEL] == ["flag_b"]  # one label: the one named
    assert named.column("flag_b").evidence.startswith("named as the label by --label")
    assert scan_table(frame.drop(columns=["outcome"])).with_role(Role.LABEL) == []  # no reason, no label
