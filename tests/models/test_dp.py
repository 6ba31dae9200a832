"""Differentially private training: every diffprivlib model imports and fits, the accountant spends
exactly the declared budget, and bounds come from the policy — never from the data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from diffprivlib.accountant import BudgetAccountant
from diffprivlib.utils import BudgetError, PrivacyLeakWarning

from privml.errors import PrivmlError
from privml.models import dp
from privml.models.estimators import fit_model, resolve_kind
from privml.models.features import FeatureEncoder

DP_KINDS = ["dp_logreg", "dp_nb", "dp_rf"]
# the zip values are declared: a DP model's categories never come from the data
ZIPS = {"zip": ["12***", "13***", "*"]}


def _table(low: float, high: float, n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.uniform(low, high, n).round(1)
    frame = pd.DataFrame({"age": age.astype(str), "zip": rng.choice(["12***", "13***", "*"], n)})
    y = np.where(age + rng.normal(0, 5, n) > (low + high) / 2, ">50K", "<=50K")
    return frame, y


def test_diffprivlib_models_import_and_fit_on_this_scikit_learn() -> None:
    # diffprivlib 0.6.6 breaks on scikit-learn >= 1.8; this is the canary for a dependency bump
    from diffprivlib.models import GaussianNB, LogisticRegression, RandomForestClassifier

    X = np.random.default_rng(0).uniform(0, 1, (60, 3))
    y = (X[:, 0] > 0.5).astype(int)
    bounds = (np.zeros(3), np.ones(3))
    for model in (
        LogisticRegression(epsilon=1.0, data_norm=np.sqrt(3)),
        GaussianNB(epsilon=1.0, bounds=bounds),
        RandomForestClassifier(n_estimators=3, epsilon=1.0, bounds=bounds, classes=[0, 1]),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error", PrivacyLeakWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            model.fit(X, y)
        assert model.predict_proba(X).shape == (60, 2)


@pytest.mark.parametrize("kind", DP_KINDS)
@pytest.mark.parametrize("epsilon", [0.1, 2.0])
def test_accountant_spends_exactly_the_declared_budget(kind: str, epsilon: float) -> None:
    X, y = _table(17, 90)
    fitted = fit_model(kind, X, y, columns=["age", "zip"], numeric=["age"], bounds={"age": (17, 90)},
                       epsilon=epsilon, seed=0, categories=ZIPS)
    assert fitted.epsilon_spent == pytest.approx(epsilon, rel=1e-12)
    assert fitted.pipeline.predict(X).shape == (len(X),)


def test_accountant_refuses_to_spend_past_the_budget() -> None:
    accountant = dp.make_accountant(1.0)
    X, y = _table(17, 90)
    enc = FeatureEncoder(bounds={"age": (17, 90)}, require_bounds=True, block_norm=True).fit(X)
    model = dp.make_dp_classifier("dp_logreg", epsilon=1.0, accountant=accountant, bounds=enc.output_bounds(),
                                  classes=np.unique(y), seed=0)
    dp.fit_without_leaks(model, enc.transform(X), y)
    assert dp.epsilon_spent(accountant) == 1.0 and accountant.remaining()[0] == pytest.approx(0)
    with pytest.raises(BudgetError):
        dp.fit_without_leaks(model, enc.transform(X), y)
    assert isinstance(accountant, BudgetAccountant)


@pytest.mark.parametrize("kind", DP_KINDS)
def test_bounds_come_from_the_policy_not_the_data(kind: str) -> None:
    """Two data sets over different ranges, one declared bound: the same encoding and the same model
    bounds. Learned bounds would differ between the two (and diffprivlib would warn, which is an error)."""
    declared = {"age": (0.0, 200.0)}
    encoders, models = [], []
    for low, high in ((20, 40), (60, 90)):
        X, y = _table(low, high)
        fitted = fit_model(kind, X, y, columns=["age", "zip"], numeric=["age"], bounds=declared, epsilon=1.0,
                           categories=ZIPS)
        encoders.append(fitted.pipeline.named_steps["encode"])
        models.append(fitted.pipeline.named_steps["classifier"])
    for enc in encoders:
        assert enc.numeric_low_.tolist() == [0.0] and enc.numeric_high_.tolist() == [200.0]
        probe = pd.DataFrame({"age": ["100", "500", "-3"], "zip": ["*", "*", "*"]})
        scaled = enc.transform(probe)[:, 0] / enc.row_scale_
        assert scaled.tolist() == [0.5, 1.0, 0.0]  # mapped with the declared bounds, clipped to them
    if kind != "dp_logreg":
        for model in models:
            low, high = model.bounds
            assert np.all(low == 0) and np.all(high == encoders[0].row_scale_)


def test_logreg_rows_have_norm_at_most_one_even_out_of_bounds() -> None:
    X, y = _table(17, 90)
    fitted = fit_model("dp_logreg", X, y, columns=["age", "zip"], numeric=["age"], bounds={"age": (17, 90)},
                       epsilon=1.0, categories=ZIPS)
    model = fitted.pipeline.named_steps["classifier"]
    assert model.data_norm == 1.0
    wild = pd.DataFrame({"age": ["1000", "-50", "40"], "zip": ["99***", "*", "12***"]})
    norms = np.linalg.norm(fitted.pipeline.named_steps["encode"].transform(wild), axis=1)
    assert np.all(norms <= 1.0 + 1e-12)


def test_numeric_feature_without_declared_bounds_is_refused_under_dp() -> None:
    X, y = _table(17, 90)
    with pytest.raises(PrivmlError, match=r"without declared bounds .*: age$"):
        fit_model("dp_nb", X, y, columns=["age", "zip"], numeric=["age"], bounds={}, epsilon=1.0, categories=ZIPS)


def test_model_and_epsilon_resolution() -> None:
    assert resolve_kind(None, 0) == "hgb"
    assert resolve_kind(None, 1.0) == "dp_logreg"
    assert resolve_kind("dp_rf", 0.5) == "dp_rf"
    with pytest.raises(PrivmlError, match="needs ε > 0"):
        resolve_kind("dp_nb", 0)
    with pytest.raises(PrivmlError, match="not differentially private"):
        resolve_kind("logreg", 1.0)
    with pytest.raises(PrivmlError, match="unknown model"):
        resolve_kind("xgboost", 0)
    with pytest.raises(PrivmlError, match=">= 0"):
        resolve_kind(None, -1)


def test_regularization_follows_the_budget_only() -> None:
    assert dp.logreg_c(0.1) < dp.logreg_c(1.0) < dp.logreg_c(10.0) <= 1.0


@pytest.mark.parametrize("labels", [np.array([0, 1]), np.array(["no", "yes"]), np.array(["<=50K", ">50K"])])
def test_dp_forest_learns_from_labels_of_any_kind(labels: np.ndarray) -> None:
    """diffprivlib 0.6.6's forest compares float codes with the declared classes: with string labels every
    leaf count was zero and predictions were coin flips whatever ε. Fitted through privml it learns."""
    rng = np.random.default_rng(0)
    X = rng.random((4000, 1))
    y = labels[(X[:, 0] > 0.5).astype(int)]
    accountant = dp.make_accountant(50.0)
    model = dp.make_dp_classifier("dp_rf", epsilon=50.0, accountant=accountant,
                                  bounds=(np.zeros(1), np.ones(1)), classes=labels, seed=0)
    dp.fit_without_leaks(model, X, y)
    assert list(model.classes_) == list(labels) and list(model.classes) == list(labels)
    test = rng.random((2000, 1))
    accuracy = np.mean(model.predict(test) == labels[(test[:, 0] > 0.5).astype(int)])
    assert accuracy > 0.8  # coin-flip leaves give ~0.5
    assert dp.epsilon_spent(accountant) == pytest.approx(50.0)


def test_dp_forest_refuses_an_undeclared_label() -> None:
    model = dp.make_dp_classifier("dp_rf", epsilon=1.0, accountant=dp.make_accountant(1.0),
                                  bounds=(np.zeros(1), np.ones(1)), classes=np.array(["a", "b"]), seed=0)
    with pytest.raises(PrivmlError, match="not declared"):
        dp.fit_without_leaks(model, np.zeros((3, 1)), np.array(["a", "b", "c"]))
