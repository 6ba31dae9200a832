"""classify_column on single columns: formats, thresholds and the name as a weak hint."""

from __future__ import annotations

import numpy as np
import pandas as pd

from privml.detect.hints import name_hints
from privml.detect.verdict import classify_column


def test_name_hints() -> None:
    assert "email" in name_hints("E-Mail Address")
    assert "postcode" in name_hints("zipCode".lower())
    assert "ssn" in name_hints("customer_ssn") and "ssn" not in name_hints("lesson")
    assert "age" in name_hints("age") and "age" not in name_hints("page_views")
    assert name_hints("c7") == set()


def test_a_few_bad_values_do_not_hide_a_type() -> None:
    values = pd.Series(["jane@example.com"] * 90 + ["n/a"] * 5 + [None] * 5)
    result = classify_column("c1", values)
    assert result.pii_type == "email" and 0.9 <= result.confidence < 1.0
    assert "jane" not in result.evidence


def test_hint_lowers_the_threshold_but_values_still_decide() -> None:
    half = pd.Series(["jane@example.com"] * 60 + ["unknown"] * 40)
    assert classify_column("c1", half).pii_type is None
    assert classify_column("contact_email", half).pii_type == "email"
    numbers = pd.Series(np.arange(100).astype(str))
    # Numbers are not emails, but a column named for an identifier stays one, and the evidence says why.
    named = classify_column("contact_email", numbers)
    assert named.pii_type == "email" and named.evidence.startswith("the column name says email (values:")


def test_dates_of_birth_are_told_from_event_dates() -> None:
    rng = np.random.default_rng(0)
    births = pd.Series(pd.to_datetime("1930-01-01") + pd.to_timedelta(rng.integers(0, 70 * 365, 300), unit="D"))
    events = pd.Series(pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, 300), unit="D"))
    assert classify_column("c1", births.dt.strftime("%m/%d/%Y")).pii_type == "date_of_birth"
    assert classify_column("c2", events.dt.strftime("%Y-%m-%d")).pii_type == "date"
    assert classify_column("visit_date", births.dt.strftime("%Y-%m-%d")).pii_type == "date"  # the name decides


def test_incomes_are_not_zip_codes() -> None:
    rng = np.random.default_rng(1)
    incomes = pd.Series((rng.integers(200, 990, 500) * 100).astype(str))
    assert classify_column("c1", incomes).pii_type is None
    zips = pd.Series([f"{z:05d}" for z in rng.choice([94105, 10001, 60614, 2139, 73301], 500)])
    assert classify_column("c2", zips).pii_type == "postcode"


def test_a_few_repeated_surnames_are_categories_not_names() -> None:
    race = pd.Series(["White", "Black", "Asian-Pac-Islander", "Other"] * 250)
    assert classify_column("c1", race).pii_type is None
    assert classify_column("race", race).pii_type == "special_category"  # sensitive, by its name
    names = pd.Series(["Maria Garcia", "John Smith", "Emily White", "Jacob Black"] * 3)
    assert classify_column("c2", names).pii_type == "person_name"  # a small table: few rows, all names


def test_sex_health_and_label() -> None:
    assert classify_column("c1", pd.Series(["Male", "Female"] * 50)).pii_type == "sex"
    assert classify_column("c2", pd.Series(["Asthma", "Type 2 diabetes", "Migraine"] * 30)).pii_type == "health"
    assert classify_column("target", pd.Series(["0", "1"] * 50)).pii_type == "label"
    assert classify_column("c3", pd.Series(["0", "1"] * 50)).pii_type is None


def test_numeric_dtypes_and_floats() -> None:
    assert classify_column("c1", pd.Series([1.0, 2.0, np.nan])).kind == "numeric"
    assert classify_column("age", pd.Series([34.0, 51.0, 72.0])).pii_type == "age"
    cards = pd.Series([4111111111111111, 5500000000000004] * 20, dtype="int64")
    assert classify_column("c2", cards).pii_type == "credit_card"


def test_unformatted_ssns_and_phones_need_the_name_and_are_identifiers_anyway() -> None:
    rng = np.random.default_rng(2)
    ssns = pd.Series([f"{a:03d}{g:02d}{s:04d}" for a, g, s in zip(rng.integers(1, 899, 200), rng.integers(1, 99, 200),
                                                                  rng.integers(1, 9999, 200), strict=True)])
    # Nine digits could be anything, but nearly all distinct nine-digit codes identify their rows.
    assert classify_column("c1", ssns).pii_type == "unique_id"
    assert classify_column("member_ssn", ssns).pii_type == "ssn"
    phones = pd.Series([f"{a}{e}{n:04d}" for a, e, n in zip(rng.integers(201, 989, 200), rng.integers(201, 999, 200),
                                                            rng.integers(0, 9999, 200), strict=True)])
    assert classify_column("c2", phones).pii_type == "unique_id"
    assert classify_column("mobile", phones).pii_type == "phone"
