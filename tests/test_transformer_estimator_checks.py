"""PrivacyTransformer against scikit-learn's own estimator checks (`parametrize_with_checks`, 1.7).

Every check that does not feed a NumPy array passes: construction, `get_params`/`set_params`, cloning,
the repr, tags, refusing to transform before `fit`. The checks that feed an array are expected to fail,
for one reason: a PrivacyTransformer matches the columns of its input to the policy **by name** and
refuses anything without column names. Accepting a positional array would let a column shift put an
identifier's raw values under another column's action (`keep`, say) and into the output, which invariant 1
forbids (docs/architecture.md, Invariants). `test_positional_input_is_refused` holds it to that refusal,
and `test_the_excluded_checks_hold_on_a_dataframe` asserts on a DataFrame what the main excluded checks
assert on arrays.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from privml.errors import PrivmlError
from privml.transformer import PrivacyTransformer

_POSITIONAL = ("matches columns to the policy by name and refuses an array without column names "
               "(a positional column would put an identifier's values under another column's action: "
               "invariant 1)")
_EXPECTED_FAILURES = {name: _POSITIONAL for name in (
    "check_complex_data", "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimator_sparse_tag",
    "check_estimators_dtypes", "check_estimators_empty_data_messages", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit1d", "check_fit2d_1feature", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes",
)}
_POLICY = {"version": 1, "columns": {"x0": {"role": "feature", "action": "keep"},
                                     "x1": {"role": "identifier", "action": "drop"}}}


@parametrize_with_checks([PrivacyTransformer(policy=_POLICY)], expected_failed_checks=lambda _: _EXPECTED_FAILURES)
def test_sklearn_compatible_estimator(estimator, check) -> None:
    check(estimator)


def test_positional_input_is_refused() -> None:
    # The reason for every exclusion above, as a test: no array form of the table is accepted.
    table = pd.DataFrame({"x0": ["1", "2"], "x1": ["alice@example.com", "bob@example.com"]})
    transformer = PrivacyTransformer(policy=_POLICY).fit(table)
    assert transformer.transform(table).columns.tolist() == ["x0"]
    for positional in (table.to_numpy(), table.to_numpy().tolist(), np.asarray([["1", "alice@example.com"]])):
        with pytest.raises(PrivmlError, match="DataFrame"):
            PrivacyTransformer(policy=_POLICY).fit(positional)
        with pytest.raises(PrivmlError, match="DataFrame"):
            transformer.transform(positional)


def test_the_excluded_checks_hold_on_a_dataframe() -> None:
    policy = {"version": 1, "columns": {
        "email": {"role": "identifier", "action": "mask", "params": {"keep_email_domain": True}},
        "ssn": {"role": "identifier", "action": "drop"},
        "age": {"role": "quasi_identifier", "action": "generalize", "params": {"width": 10}},
        "city": {"role": "feature", "action": "keep"},
        "notes": {"role": "feature", "action": "redact"},
    }}
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "email": [f"user{i}@example.org" for i in range(40)],
        "ssn": [f"123-45-{i:04d}" for i in range(40)],
        "age": [str(v) for v in rng.integers(18, 90, 40)],
        "city": rng.choice(["Boston", "Austin", "Lyon"], 40),
        "notes": ["call back"] * 20 + [None] * 20,
    })
    before = table.copy()
    transformer = PrivacyTransformer(policy=policy)
    assert transformer.fit(table) is transformer  # check_estimators_fit_returns_self
    assert transformer.n_features_in_ == 5 and list(transformer.feature_names_in_) == list(table.columns)
    out = transformer.transform(table)
    pd.testing.assert_frame_equal(table, before)  # the input is not modified
    state = copy.deepcopy(transformer.__dict__)
    transformer.transform(table)
    assert transformer.__dict__.keys() == state.keys()  # check_dict_unchanged: transform learns nothing
    # check_transformer_general: fit_transform is fit then transform (no anonymity model: nothing suppressed)
    pd.testing.assert_frame_equal(clone(transformer).fit_transform(table), out)
    # check_fit_idempotent: refitting gives the same result
    pd.testing.assert_frame_equal(transformer.fit(table).transform(table), out)
    # check_methods_subset_invariance and check_methods_sample_order_invariance: rows are independent
    pd.testing.assert_frame_equal(transformer.transform(table.iloc[[5]]), out.iloc[[5]])
    order = rng.permutation(len(table))
    pd.testing.assert_frame_equal(transformer.transform(table.iloc[order]), out.iloc[order])
    assert out.columns.tolist() == ["email", "age", "city", "notes"]
    assert not out["email"].str.contains("user1@").any()
