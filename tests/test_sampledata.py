"""The sample table: deterministic, realistic, internally consistent and learnable."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from privml.recognizers import patterns as p
from privml.recognizers.text import find_pii_spans
from privml.sampledata import COLUMNS, generate


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(4000, seed=0)


def _all(validator, values: pd.Series) -> bool:
    return bool(validator(pd.Series(values.unique(), dtype="str")).all())


def test_deterministic_per_seed(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, generate(4000, seed=0))
    other = generate(4000, seed=1)
    assert not (other["email"] == frame["email"]).all()
    assert generate(10, seed=0).shape == (10, len(COLUMNS)) and generate(0).shape == (0, len(COLUMNS))


def test_columns_and_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == COLUMNS
    ints = {"age", "income", "hours_per_week", "num_visits", "readmitted", "total_charges"}
    for col in COLUMNS:
        expected = "int64" if col in ints else "str"
        assert str(frame[col].dtype) == expected, col
    assert not frame.isna().any().any()


def test_identifiers_are_valid(frame: pd.DataFrame) -> None:
    for col, validator in [("email", p.is_email), ("phone", p.is_phone), ("ssn", p.is_ssn),
                           ("credit_card", p.is_credit_card), ("ip_address", p.is_ip_address),
                           ("zip_code", p.is_postcode), ("name", p.is_person_name)]:
        assert _all(validator, frame[col]), col
    assert frame["credit_card"].str.replace(" ", "").map(p.luhn_ok).all()
    versions = {ipaddress.ip_address(x).version for x in frame["ip_address"]}
    assert versions == {4, 6}
    assert p.is_street_address(pd.Series(frame["street_address"].unique(), dtype="str")).mean() > 0.99
    # Realistic: names and emails repeat rarely, SSNs not at all in 4,000 rows.
    assert frame["ssn"].is_unique or frame["ssn"].duplicated().sum() <= 2
    assert frame["name"].nunique() > 3000


def test_email_belongs_to_the_person(frame: pd.DataFrame) -> None:
    last = frame["name"].str.split(" ").str[-1].str.lower()
    assert np.mean([la in e for la, e in zip(last, frame["email"], strict=True)]) > 0.99


def test_age_matches_date_of_birth(frame: pd.DataFrame) -> None:
    dob = pd.to_datetime(frame["date_of_birth"])
    adm = pd.to_datetime(frame["admission_date"])
    before = (adm.dt.month * 100 + adm.dt.day) < (dob.dt.month * 100 + dob.dt.day)
    assert (adm.dt.year - dob.dt.year - before.astype(int) == frame["age"]).all()
    assert frame["age"].between(18, 100).all()
    assert set(frame["sex"]) == {"F", "M"}


def test_notes_mention_the_same_person(frame: pd.DataFrame) -> None:
    with_pii = 0
    for name, email, phone, note in frame[["name", "email", "phone", "notes"]].head(500).itertuples(index=False):
        spans = find_pii_spans(note)
        if spans:
            with_pii += 1
            found = [note[s.start:s.end] for s in spans]
            assert all(f in (name, email, phone) or f[0].isdigit() for f in found)
    assert 0.6 < with_pii / 500 < 0.95


def test_label_is_learnable(frame: pd.DataFrame) -> None:
    data = generate(5000, seed=2)
    x = pd.get_dummies(data[["age", "income", "hours_per_week", "num_visits", "education", "diagnosis"]],
                       columns=["education", "diagnosis"]).astype(float)
    x["income"] = np.log(x["income"])
    x = (x - x.mean()) / x.std()
    x_train, x_test, y_train, y_test = train_test_split(x, data["readmitted"], random_state=0)
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    majority = max(y_test.mean(), 1 - y_test.mean())
    assert model.score(x_test, y_test) > majority + 0.1


def test_rejects_negative_rows() -> None:
    with pytest.raises(ValueError):
        generate(-1)
