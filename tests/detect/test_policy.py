"""propose_policy: a valid policy that round-trips through YAML, with the agreed action per type."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from privml.detect import propose_policy, scan_table
from privml.detect.policy import KEY_NAME, KEY_REFERENCE, PROPOSALS
from privml.policy import Role, dump_policy, parse_policy
from privml.sampledata import generate
from privml.transforms import technique_class
from tests.detect.corpus import hidden_table


@pytest.fixture(scope="module")
def sample_policy():
    return propose_policy(scan_table(generate(2000, seed=3)))


def test_round_trips_through_yaml(sample_policy) -> None:
    again = parse_policy(yaml.safe_load(dump_policy(sample_policy)), source="proposed.yaml")
    assert again == sample_policy


def test_actions_per_type(sample_policy) -> None:
    cols = sample_policy.columns
    expect = {
        "email": ("tokenize", {}), "phone": ("mask", {"keep_last": 2}), "ssn": ("drop", {}),
        "credit_card": ("mask", {"keep_last": 4}), "name": ("pseudonymize", {"kind": "name"}),
        "street_address": ("drop", {}), "notes": ("drop", {}), "ip_address": ("tokenize", {}),
        "date_of_birth": ("generalize", {"date": "year"}), "zip_code": ("generalize", {"prefix": 3}),
    }
    for name, (action, params) in expect.items():
        assert (cols[name].action, cols[name].params) == (action, params), name
    assert cols["email"].key == KEY_NAME and cols["ssn"].key is None
    assert sample_policy.keys == {KEY_NAME: KEY_REFERENCE}
    assert set(sample_policy.quasi_identifiers) == {"age", "sex", "zip_code", "date_of_birth", "admission_date"}
    assert sample_policy.sensitive_attributes == ["diagnosis"] and sample_policy.label == "readmitted"
    assert sample_policy.anonymity is not None
    assert (sample_policy.anonymity.algorithm, sample_policy.anonymity.k) == ("mondrian", 5)
    assert cols["age"].hierarchy == {"type": "interval", "width": 5, "levels": 3}


def test_every_proposal_is_a_valid_action() -> None:
    for kind, proposal in PROPOSALS.items():
        technique = technique_class(proposal.action)
        technique.Params.model_validate(proposal.params)
        assert proposal.needs_key == technique.needs_key, kind


def test_hidden_names_still_give_a_valid_policy() -> None:
    frame, _ = hidden_table(2000, 3, as_strings=True)  # the table test_scan uses (cached)
    policy = propose_policy(scan_table(frame))
    assert parse_policy(yaml.safe_load(dump_policy(policy))) == policy
    assert sum(c.role is Role.LABEL for c in policy.columns.values()) <= 1


def test_no_quasi_identifiers_no_anonymity_and_no_unused_key() -> None:
    policy = propose_policy(scan_table(pd.DataFrame({"x": range(20), "ssn": ["123-45-6789"] * 20})))
    assert policy.anonymity is None and policy.keys == {}
    assert policy.columns["ssn"].action == "drop"
