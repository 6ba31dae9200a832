"""FeatureEncoder on anonymized values: generalized labels are categories, and what they still say
(a range's midpoint, a value set's members) becomes features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privml.errors import PrivmlError
from privml.models.cell_labels import MISSING, range_midpoint
from privml.models.features import FeatureEncoder, is_interval_column


def test_range_labels() -> None:
    assert range_midpoint("[30-40)") == 35.0
    assert range_midpoint("25-34") == 29.5
    assert range_midpoint("39") == 39.0
    assert np.isnan(range_midpoint("*")) and np.isnan(range_midpoint("Bachelors"))
    assert is_interval_column(pd.Series(["[30-40)", "*", "41", None]))
    assert not is_interval_column(pd.Series(["12", "13"]))  # plain numbers: a numeric column
    assert not is_interval_column(pd.Series(["[30-40)", "Bachelors"]))


def test_generalized_columns_are_categories_with_extra_features() -> None:
    train = pd.DataFrame({
        "age": ["[30-40)", "[40-50)", "*", "[30-40)"],
        "marital": ["Divorced|Separated", "Married", "Married", "*"],
        "hours": ["40", "38", "50", "20"],
    })
    enc = FeatureEncoder(bounds={"age": (0, 100)}).fit(train)
    assert enc.numeric_columns_ == ["hours"]
    assert enc.categorical_columns_ == ["age", "marital"]
    assert enc.interval_columns_ == ["age"]
    assert enc.set_members_ == {"marital": ["Divorced", "Married", "Separated"]}
    names = list(enc.get_feature_names_out())
    out = pd.DataFrame(enc.transform(train), columns=names)
    assert out["age_midpoint"].tolist() == [0.35, 0.45, 0.5, 0.35]  # "*" → the middle of the declared bounds
    assert out["marital_has_Divorced"].tolist() == [0.5, 0, 0, 0]
    assert out["marital_has_Married"].tolist() == [0, 1, 1, 0]
    assert out["age_[30-40)"].tolist() == [1, 0, 0, 1]
    # unseen labels at serving time: ignored by the one-hot, still placed by their midpoint
    unseen = enc.transform(pd.DataFrame({"age": ["[50-60)"], "marital": ["Widowed"], "hours": ["x"]}))
    assert unseen.shape == (1, len(names)) and np.isfinite(unseen).all()


def test_block_norm_bounds_every_row_including_expansions() -> None:
    train = pd.DataFrame({"age": ["[30-40)", "[40-50)"], "m": ["a|b", "c"], "n": ["1", "2"]})
    enc = FeatureEncoder(bounds={"age": (0, 100), "n": (0, 10)}, require_bounds=True, block_norm=True).fit(train)
    wild = pd.DataFrame({"age": ["[500-600)", "*"], "m": ["a|b", "zzz"], "n": ["99", "-4"]})
    assert np.all(np.linalg.norm(enc.transform(wild), axis=1) <= 1 + 1e-12)
    low, high = enc.output_bounds()
    assert np.all(low == 0) and np.all(high == enc.row_scale_)


def test_interval_column_without_bounds_gets_no_midpoint_under_dp() -> None:
    train = pd.DataFrame({"age": ["[30-40)", "[40-50)"], "n": ["1", "2"]})
    enc = FeatureEncoder(bounds={"n": (0, 10)}, require_bounds=True).fit(train)
    assert enc.interval_columns_ == []
    with pytest.raises(PrivmlError, match="missing for n"):
        FeatureEncoder(require_bounds=True).fit(train)


def test_encoder_needs_a_table() -> None:
    # An array is a table of columns x0, x1, ... (scikit-learn's default names), so an encoder that names
    # its columns refuses one, naming them; an encoder that takes every column encodes it.
    with pytest.raises(PrivmlError, match="missing from the data: age"):
        FeatureEncoder(columns=["age"]).fit(np.zeros((2, 2)))
    assert FeatureEncoder().fit(np.array([[1.0, 3.0], [2.0, 5.0]])).get_feature_names_out().tolist() == ["x0", "x1"]
    enc = FeatureEncoder(columns=["a"]).fit(pd.DataFrame({"a": ["x", "y"]}))
    with pytest.raises(PrivmlError, match="missing from the data: a"):
        enc.transform(pd.DataFrame({"b": ["x"]}))


def test_declared_categories_fix_the_encoding_whatever_the_data() -> None:
    declared = {"sex": ["F", "M", "X"], "marital": ["Divorced", "Married", "Separated", "Widowed"]}
    a = pd.DataFrame({"sex": ["F", "F", None], "marital": ["Married", "Divorced|Separated", "Married"]})
    b = pd.DataFrame({"sex": ["M", "Q", "M"], "marital": ["Widowed", "Married", "Married|Widowed"]})
    enc_a = FeatureEncoder(categories=declared).fit(a)
    enc_b = FeatureEncoder(categories=declared).fit(b)
    # the layout is the policy's, not the data's: two different tables give the same features
    assert list(enc_a.get_feature_names_out()) == list(enc_b.get_feature_names_out())
    assert enc_a.declared_categories_ == ["sex", "marital"]
    assert enc_a.set_members_["marital"] == declared["marital"]
    out = pd.DataFrame(enc_b.transform(b), columns=enc_b.get_feature_names_out())
    assert out["sex_X"].tolist() == [0, 0, 0]  # declared, never seen: a column all the same
    assert out[[c for c in out.columns if c.startswith("sex_")]].sum(axis=1).tolist() == [1, 0, 1]  # "Q": zeros
    assert out["marital_has_Widowed"].tolist() == [1, 0, 0.5]
    learned = FeatureEncoder(categories={"sex": declared["sex"]}).fit(b)
    assert learned.declared_categories_ == ["sex"]  # marital's values still come from the data


def test_policy_categories_must_be_distinct_values() -> None:
    from privml.policy import parse_policy

    base = {"columns": {"sex": {"role": "feature", "categories": ["F", "M"]}}}
    assert parse_policy(base, source="t").columns["sex"].categories == ["F", "M"]
    for bad in ([], ["F", "F"]):
        with pytest.raises(PrivmlError, match="categories"):
            parse_policy({"columns": {"sex": {"role": "feature", "categories": bad}}}, source="t")


def test_dp_encoding_refuses_categories_from_the_data_and_scope_says_what_was_found() -> None:
    from privml.models.training import dp_scope

    train = pd.DataFrame({"sex": ["F", "M"], "edu": ["BA", "MA"], "n": ["1", "2"]})
    with pytest.raises(PrivmlError, match=r"needs declared categories .*: missing for edu$"):
        FeatureEncoder(bounds={"n": (0, 10)}, require_bounds=True, require_categories=True,
                       categories={"sex": ["F", "M"]}).fit(train)
    fully = FeatureEncoder(bounds={"n": (0, 10)}, require_bounds=True, require_categories=True,
                           categories={"sex": ["F", "M"], "edu": ["BA", "MA", "PhD"]}).fit(train)
    assert "not covered by ε" not in dp_scope(fully)
    assert "found under DP from a declared share of ε (edu)" in dp_scope(fully, {"edu": "DP selection",
                                                                                 "sex": "declared categories"})
    # a model saved before categories were required still says which values came from the data
    legacy = FeatureEncoder(bounds={"n": (0, 10)}, require_bounds=True, categories={"sex": ["F", "M"]}).fit(train)
    assert "the values of edu were taken from the data and are not covered by ε" in dp_scope(legacy)


def test_dp_encodes_a_bounded_range_column_by_its_midpoint_alone() -> None:
    """Under DP the one-hot of generalized ranges would list which ranges occur: the bounded midpoint is
    the column's only feature, and it counts once in the row norm."""
    train = pd.DataFrame({"age": ["[20-30)", "[30-40)", "*"], "sex": ["F", "M", "F"]})
    enc = FeatureEncoder(bounds={"age": (0, 100)}, require_bounds=True, require_categories=True, block_norm=True,
                         categories={"sex": ["F", "M"]}).fit(train)
    assert enc.interval_columns_ == ["age"] and enc.categorical_columns_ == ["sex"]
    assert list(enc.get_feature_names_out()) == ["age_midpoint", "sex_F", "sex_M", f"sex_{MISSING}"]
    assert enc.row_scale_ == pytest.approx(1 / np.sqrt(2))
    assert np.allclose(enc.transform(train)[:2, 0] / enc.row_scale_, [0.25, 0.35])
