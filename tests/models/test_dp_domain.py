"""A DP model's input domain: bounds and categories declared, or found under DP from a declared share of
ε in the model's own BudgetAccountant (so the run spends exactly ε), or refused before anything leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from diffprivlib.accountant import BudgetAccountant

from privml.errors import PrivmlError
from privml.models.dp_domain import DomainSpec, dp_bounds, private_domain, select_categories
from privml.models.estimators import fit_model

ZIPS = ["12***", "13***", "14***", "*"]


def _table(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n).round(1)
    frame = pd.DataFrame({
        "age": age.astype(str),
        "zip": rng.choice(["12***", "13***", "*"], n),  # 14*** is a candidate no row has
        "band": np.where(age >= 50, "[50-80)", "[20-50)"),  # a generalized range column
    })
    y = np.where(age + rng.normal(0, 5, n) > 50, ">50K", "<=50K")
    return frame, y


SPEC = DomainSpec(ranges={"age": (0, 150), "band": (0, 150)}, candidates={"zip": ZIPS},
                  bounds_share=0.2, categories_share=0.1)


@pytest.mark.parametrize("kind", ["dp_logreg", "dp_nb", "dp_rf"])
@pytest.mark.parametrize("epsilon", [0.5, 3.0])
def test_the_accountant_includes_the_bounds_and_categories_epsilon(kind: str, epsilon: float) -> None:
    X, y = _table()
    fitted = fit_model(kind, X, y, columns=["age", "zip", "band"], numeric=["age"], bounds={}, epsilon=epsilon,
                       domain=SPEC, seed=1)
    assert fitted.epsilon_spent == pytest.approx(epsilon, rel=1e-12)  # accountant.total(): bounds + categories + model
    parts = fitted.epsilon_parts
    assert parts is not None and set(parts) == {"bounds", "categories", "model"}
    assert parts["bounds"] == pytest.approx(0.2 * epsilon) and parts["categories"] == pytest.approx(0.1 * epsilon)
    assert sum(parts.values()) == pytest.approx(epsilon, rel=1e-12)
    assert fitted.domain is not None
    assert fitted.domain.sources == {"age": "DP bounds", "band": "DP bounds", "zip": "DP selection"}
    encoder = fitted.pipeline.named_steps["encode"]
    assert encoder.numeric_clipped_.all() and encoder.declared_categories_ == ["zip"]
    assert fitted.pipeline.predict(X).shape == (len(X),)


def test_each_dp_quantile_costs_its_split_of_the_bounds_share() -> None:
    X, y = _table()
    accountant = BudgetAccountant(epsilon=2.0, delta=0)
    private_domain(X, y, columns=["age", "zip", "band"], numeric=["age"], spec=SPEC, epsilon=2.0,
                   accountant=accountant, seed=0)
    spent = [e for e, _ in accountant.spent_budget]
    bounds_each = 0.2 * 2.0 / (2 * 2)  # share·ε / (2 quantiles · 2 columns)
    assert spent[:4] == pytest.approx([bounds_each] * 4)
    assert spent[4:] == pytest.approx([0.1 * 2.0])  # one column selected: the whole categories share
    assert accountant.remaining()[0] == pytest.approx(2.0 - 0.4 - 0.2)


def test_dp_bounds_land_near_the_quantiles_within_the_public_range_only() -> None:
    values = np.random.default_rng(0).uniform(20, 80, 5000)
    values[:3] = [1e9, -1e9, np.nan]  # outliers and a missing value: clipped / ignored, never the bounds
    low, high = dp_bounds(values, outer=(0, 150), epsilon=5.0, accountant=BudgetAccountant(epsilon=5.0),
                          quantiles=(0.01, 0.99), seed=0)
    assert 0 <= low < high <= 150
    assert low == pytest.approx(20.6, abs=1.5) and high == pytest.approx(79.4, abs=1.5)


def test_category_selection_spends_its_share_and_keeps_only_candidates_that_occur() -> None:
    labels = pd.Series(["a"] * 500 + ["b"] * 300 + ["secret"] * 400 + ["c|d"] * 200)
    accountant = BudgetAccountant(epsilon=1.0, delta=0)
    kept = select_categories(labels, ["a", "b", "c", "d", "never"], epsilon=1.0, accountant=accountant,
                             min_count=None, seed=0)
    assert accountant.total()[0] == pytest.approx(1.0)
    assert kept == ["a", "b", "c", "d"]  # "secret" is no candidate: a value the data chose never appears
    # at a small ε the noise can keep an empty candidate; the threshold ln(10)/ε keeps it rarely
    kept_rare = [select_categories(pd.Series(["a"] * 50), ["a", "never"], epsilon=0.1,
                                   accountant=BudgetAccountant(epsilon=0.1), min_count=None, seed=s)
                 for s in range(200)]
    assert sum("never" in k for k in kept_rare) <= 20  # at most 5% expected (10% leaves room for chance)


def test_a_numeric_label_gets_bounds_for_a_model_that_needs_them() -> None:
    X, _ = _table()
    y = np.random.default_rng(1).uniform(0, 50, len(X))
    spec = DomainSpec(ranges={"age": (0, 150), "band": (0, 150), "target": (0, 1000)}, categories={"zip": ZIPS},
                      bounds_share=0.3, label="target", label_bounds=True)
    accountant = BudgetAccountant(epsilon=3.0, delta=0)
    found = private_domain(X, y, columns=["age", "zip", "band"], numeric=["age"], spec=spec, epsilon=3.0,
                           accountant=accountant)
    low, high = found.bounds["target"]
    assert 0 <= low < high <= 1000 and found.sources["target"] == "DP bounds"
    assert found.epsilon_parts == {"bounds": pytest.approx(0.9), "categories": 0.0}
    with pytest.raises(PrivmlError, match=r"numeric column\(s\) without declared bounds .*: target$"):
        private_domain(X, y, columns=["age", "zip"], numeric=["age"], epsilon=1.0,
                       accountant=BudgetAccountant(epsilon=1.0),
                       spec=DomainSpec(bounds={"age": (0, 150)}, categories={"zip": ZIPS}, label="target",
                                       label_bounds=True))


@pytest.mark.parametrize("spec, message", [
    (DomainSpec(), r"without declared bounds .*: age, band; categorical column\(s\) without declared "
                   r"categories .*: zip$"),
    (DomainSpec(bounds_share=0.1, categories_share=0.1, ranges={"age": (0, 150)}),
     r"public outer range \(columns.<name>.range\) for: band; .*candidate domain .* for: zip$"),
])
def test_a_domain_left_to_the_data_is_refused_naming_columns_never_values(spec: DomainSpec, message: str) -> None:
    X, y = _table()
    accountant = BudgetAccountant(epsilon=1.0, delta=0)
    with pytest.raises(PrivmlError, match=message) as caught:
        private_domain(X, y, columns=["age", "zip", "band"], numeric=["age"], spec=spec, epsilon=1.0,
                       accountant=accountant)
    assert caught.value.exit_code == 2
    assert not {"12***", "13***", "[20-50)", "[50-80)"} & set(str(caught.value).replace(",", " ").split())
    assert accountant.total()[0] == 0  # refused before anything was spent


def test_a_range_column_with_declared_labels_and_no_bounds_is_one_hot_over_those_labels() -> None:
    X, y = _table()
    fitted = fit_model("dp_nb", X, y, columns=["age", "zip", "band"], numeric=["age"], bounds={"age": (0, 150)},
                       categories={"zip": ZIPS, "band": ["[20-50)", "[50-80)"]}, epsilon=1.0)
    encoder = fitted.pipeline.named_steps["encode"]
    assert encoder.interval_columns_ == [] and encoder.declared_categories_ == ["zip", "band"]
    assert fitted.epsilon_parts == {"bounds": 0.0, "categories": 0.0, "model": pytest.approx(1.0)}
