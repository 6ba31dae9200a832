"""Differentially private classifiers (diffprivlib) on the FeatureEncoder's bounded space.

Privacy comes from three things, none of them learned from the training data:
- feature bounds: numeric columns are clipped to the bounds declared in the policy
  (`policy.columns[name].bounds`) and scaled to [0, 1]; one-hot columns are in [0, 1] by construction;
- the data norm: the encoder divides each row by sqrt(number of columns), so every row has L2 norm <= 1
  and logistic regression is told `data_norm=1` (the plain use, sqrt of the one-hot feature count,
  overstates the norm ~4x on adult and pays for it in noise);
- the budget: one BudgetAccountant per training run with the declared ε as its budget; the input domain
  (bounds and categories the policy does not declare, privml.models.dp_domain) spends its declared share
  first, the model spends the rest, and the run reports `accountant.total()` (= ε) with the parts.

Regularization of DP logistic regression follows ε (public): objective perturbation's noise is fixed by
ε and the data norm, and low-curvature directions (rare categories) are pushed furthest, so the less
budget, the stronger the regularization. C = 0.03·ε (clipped to [0.003, 1]) was chosen on adult at
ε ∈ {0.1, 1, 10}; see bench/bench_privacy_utility.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from diffprivlib.accountant import BudgetAccountant
from diffprivlib.models import GaussianNB, LogisticRegression, RandomForestClassifier
from diffprivlib.models import LinearRegression as DPLinearRegression
from diffprivlib.utils import PrivacyLeakWarning

from privml.errors import PrivmlError

DP_KINDS = ("dp_logreg", "dp_nb", "dp_rf")
# DP models whose sensitivity also needs the label's bounds (declared, or DP bounds: privml.models.dp_domain)
LABEL_BOUNDED_KINDS = ("dp_linreg",)


def logreg_c(epsilon: float) -> float:
    """The regularization parameter C for DP logistic regression at budget ε."""
    return float(min(1.0, max(0.003, 0.03 * epsilon)))


def make_accountant(epsilon: float) -> BudgetAccountant:
    if not epsilon > 0:
        raise PrivmlError(f"dp_epsilon must be > 0 for a differentially private model (got {epsilon})")
    return BudgetAccountant(epsilon=epsilon, delta=0.0)


def make_dp_classifier(
    kind: str,
    *,
    epsilon: float,
    accountant: BudgetAccountant,
    bounds: tuple[np.ndarray, np.ndarray],
    classes: Sequence[Any],
    seed: int,
) -> Any:
    """An unfitted diffprivlib classifier for `kind`, spending exactly `epsilon` from `accountant`."""
    if kind == "dp_logreg":
        # every row has L2 norm <= 1: FeatureEncoder(block_norm=True) guarantees it
        return LogisticRegression(
            epsilon=epsilon, data_norm=1.0, C=logreg_c(epsilon), max_iter=300,
            random_state=seed, accountant=accountant,
        )
    if kind == "dp_nb":
        return GaussianNB(epsilon=epsilon, bounds=bounds, random_state=seed, accountant=accountant)
    if kind == "dp_rf":
        return RandomForestClassifier(
            n_estimators=10, max_depth=8, epsilon=epsilon, bounds=bounds, classes=list(classes),
            random_state=seed, accountant=accountant, n_jobs=1,
        )
    raise PrivmlError(f"unknown differentially private model '{kind}' (known: {', '.join(DP_KINDS)})")


def fit_without_leaks(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit a diffprivlib model; a PrivacyLeakWarning (a bound or norm learned from data) is an error.

    diffprivlib 0.6.6's forest turns the labels into float codes before its trees count them against the
    declared `classes`, so with labels other than 0..n-1 (strings, as the jobs read them) every count is
    zero and each leaf's class is a coin flip whatever ε. The forest is therefore fitted on the codes
    0..n-1 and given its labels back afterwards; the classes stay declared, never read from the data.
    """
    if isinstance(estimator, RandomForestClassifier):
        labels = np.asarray(estimator.classes)
        codes = np.searchsorted(labels, y)
        if not np.array_equal(labels[np.minimum(codes, len(labels) - 1)], y):
            raise PrivmlError("the training labels include a class the model was not declared with")
        estimator.set_params(classes=list(range(len(labels))))
        try:
            _fit(estimator, X, codes)
        finally:
            estimator.set_params(classes=labels.tolist())
        estimator.classes_ = labels
        return estimator
    return _fit(estimator, X, y)


def _fit(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        # diffprivlib 0.6.6 passes an option scipy deprecates; nothing the caller can act on
        warnings.filterwarnings("ignore", message=".*L-BFGS-B solver are deprecated", category=DeprecationWarning)
        try:
            return estimator.fit(X, y)
        except PrivacyLeakWarning as exc:
            raise PrivmlError(f"differentially private training would leak: {exc}") from None


def epsilon_spent(accountant: BudgetAccountant) -> float:
    return float(accountant.total()[0])


def detach_accountant(estimator: Any) -> None:
    """Drop the run's accountant from the fitted model: a saved model carries no training-run state."""
    template = getattr(estimator, "estimator", None)
    for est in [estimator, template, *getattr(estimator, "estimators_", [])]:
        if hasattr(est, "accountant"):
            est.accountant = None


def dp_linreg(
    *,
    epsilon: float,
    accountant: BudgetAccountant,
    bounds_X: tuple[np.ndarray, np.ndarray],
    bounds_y: tuple[float, float] | None,
    seed: int,
) -> Any:
    """An unfitted ε-DP linear regression (diffprivlib's functional mechanism), spending exactly `epsilon`.

    bounds_X: the FeatureEncoder's output bounds (declared, not learned); bounds_y: the label's declared
    bounds (`bounds` on the label column). Without either, diffprivlib would read them from the data and
    leak, so both are required. Rows and labels outside them are clipped by diffprivlib before fitting,
    and predictions after it (BoundedDPLinearRegression).
    """
    if bounds_y is None:
        raise PrivmlError("dp_linreg needs the label's declared bounds (`bounds: [min, max]` on the label column)")
    low, high = float(bounds_y[0]), float(bounds_y[1])
    if not low < high:
        raise PrivmlError("dp_linreg: the label's bounds must be [min, max] with min < max")
    return BoundedDPLinearRegression(epsilon=epsilon, bounds_X=bounds_X, bounds_y=(low, high), random_state=seed,
                                     accountant=accountant)


class BoundedDPLinearRegression(DPLinearRegression):
    """diffprivlib's LinearRegression whose predictions are clipped to the declared label bounds.

    The functional mechanism perturbs the quadratic objective; with many features and few rows the noisy
    objective is often not convex and its minimizer runs off, predicting far outside any value the label
    can take (on 1,000 sample rows, RMSE in the millions for a label bounded by [0, 40000]). Clipping to
    the declared bounds is post-processing of the ε-DP model: it costs no privacy and reads no data.
    """

    def predict(self, X: Any) -> np.ndarray:
        low, high = self.bounds_y
        return np.clip(super().predict(X), float(np.min(low)), float(np.max(high)))
