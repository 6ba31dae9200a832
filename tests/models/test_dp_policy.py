"""The policy's side of a DP model's input domain: `scan` writes commented `bounds`/`categories`
placeholders (never the sample's min, max or values), the fields an ε share needs validate, and the
preflight names the inputs a policy leaves to the data."""

from __future__ import annotations

import pytest
import yaml

from privml.detect import scan_table
from privml.detect.policy import policy_yaml, propose_policy
from privml.errors import PrivmlError
from privml.models.dp_policy import check_dp_policy, domain_gaps, domain_spec
from privml.policy import parse_policy
from privml.sampledata import generate


def test_scan_proposes_commented_bounds_and_categories_placeholders_not_the_data() -> None:
    frame = generate(300, seed=0)
    scan = scan_table(frame)
    text = policy_yaml(propose_policy(scan), scan)
    parsed = parse_policy(yaml.safe_load(text))  # still a valid policy: the placeholders are comments
    assert all(col.bounds is None and col.categories is None for col in parsed.columns.values())
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    joined = " ".join(line.removeprefix("#").strip() for line in comments)  # placeholders wrap over lines
    assert joined.count("bounds: [MIN, MAX]") == 6  # age, income, hours_per_week, num_visits, total_charges, the label
    assert joined.count("categories: [...]") == 6  # sex, zip_code (a prefix), two dates, diagnosis, education
    assert joined.count("public limits of income's values") == 1
    assert joined.count("public limits of the label readmitted") == 1
    dp_lines = joined[joined.index("bounds: [MIN, MAX]"):]
    for column in ("age", "income", "hours_per_week", "num_visits"):
        low, high = frame[column].min(), frame[column].max()
        assert f"[{low}, {high}]" not in dp_lines and f"{low}, {high}" not in dp_lines
    for value in frame["education"].unique():
        assert value not in dp_lines  # no value of the data in a placeholder


def test_the_dp_fields_validate() -> None:
    policy = parse_policy({
        "columns": {"a": {"role": "feature", "range": [0, 10]}, "b": {"role": "feature", "candidates": ["x", "y"]}},
        "differential_privacy": {"bounds_share": 0.1, "categories_share": 0.2, "bounds_quantiles": [0.05, 0.95]},
    })
    spec = domain_spec(policy, label=None)
    assert spec.ranges == {"a": (0.0, 10.0)} and spec.candidates == {"b": ["x", "y"]}
    assert (spec.bounds_share, spec.categories_share, spec.quantiles) == (0.1, 0.2, (0.05, 0.95))
    for bad, message in [
        ({"columns": {"a": {"role": "feature", "range": [5, 1]}}}, "columns.a.range: must be .min, max."),
        ({"columns": {"a": {"role": "feature", "candidates": ["x", "x"]}}}, "distinct"),
        ({"columns": {"a": {"role": "feature"}},
          "differential_privacy": {"bounds_share": 0.6, "categories_share": 0.4}}, "must be below 1"),
        ({"columns": {"a": {"role": "feature"}}, "differential_privacy": {"bounds_quantiles": [0.9, 0.1]}},
         "low < high"),
        ({"columns": {"a": {"role": "feature"}}, "differential_privacy": {"bounds_share": 1.5}}, "less than 1"),
    ]:
        with pytest.raises(PrivmlError, match=message):
            parse_policy(bad, source="p.yaml")


def test_the_preflight_names_the_inputs_without_a_domain() -> None:
    policy = parse_policy({
        "columns": {
            "id": {"role": "identifier", "action": "drop"},
            "gone": {"role": "feature", "action": "drop"},
            "age": {"role": "quasi_identifier", "bounds": [0, 150]},
            "income": {"role": "feature", "range": [0, 1e7]},
            "region": {"role": "feature", "candidates": ["n", "s"]},
            "sex": {"role": "feature", "categories": ["F", "M"]},
            "amount": {"role": "label"},
        },
    })
    assert domain_gaps(policy) == ["income", "region"]  # a range or candidates alone spend nothing: no share
    assert domain_gaps(policy, label_bounds=True) == ["income", "region", "amount"]
    shared = policy.model_copy(update={"differential_privacy": parse_policy({
        "columns": {}, "differential_privacy": {"bounds_share": 0.1, "categories_share": 0.1}}).differential_privacy})
    assert domain_gaps(shared) == []
    with pytest.raises(PrivmlError, match=r"p.yaml: a differentially private model .*: missing for income, region$"):
        check_dp_policy(policy, source="p.yaml")
