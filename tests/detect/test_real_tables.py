"""Real tables nobody here wrote: scikit-learn's bundled data sets invent no identifier, and on the
Adult census data the quasi-identifiers are proposed by measured risk (ARX's attribute risk)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn import datasets

from privml.detect import scan_table
from privml.io import sample_table
from privml.policy import Role

ADULT = Path(__file__).resolve().parents[2] / "examples" / "data" / "adult" / "adult.csv"


@pytest.mark.parametrize("loader", [datasets.load_iris, datasets.load_wine, datasets.load_breast_cancer,
                                    datasets.load_diabetes, datasets.load_digits], ids=lambda f: f.__name__)
def test_bundled_data_sets_have_no_identifier(loader):
    frame = loader(as_frame=True).frame
    as_csv = frame.astype(str)  # what reading their CSV export gives
    for table in (frame, as_csv):
        result = scan_table(table)
        flagged = [(c.name, c.pii_type, c.evidence[:80]) for c in result.columns if c.role is Role.IDENTIFIER]
        assert flagged == []


def test_adult_quasi_identifiers_by_measured_risk():
    frame, total = sample_table(ADULT, 5000, sep=";")
    result = scan_table(frame, rows_total=total)
    roles = {c.name: c.role for c in result.columns}
    assert not [n for n, r in roles.items() if r is Role.IDENTIFIER]
    quasi = {n for n, r in roles.items() if r is Role.QUASI_IDENTIFIER}
    # by type: age and sex; by measured risk: the demographics that make records unique together
    assert {"age", "sex"} <= quasi
    assert {"marital-status", "education", "native-country", "occupation"} <= quasi, quasi
    assert roles["salary-class"] is Role.LABEL
    risky = result.column("occupation").evidence
    assert "measured risk" in risky and "more sampled records unique" in risky
