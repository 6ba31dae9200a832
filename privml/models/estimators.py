"""The registry of model kinds and the model pipeline each one builds: FeatureEncoder → classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from privml.errors import PrivmlError
from privml.models import dp
from privml.models.dp_domain import DomainSpec, PrivateDomain, private_domain
from privml.models.features import FeatureEncoder, is_numeric_column


@dataclass(frozen=True)
class ModelKind:
    name: str
    description: str
    private: bool  # ε-differentially private: needs dp_epsilon > 0 and declared bounds


MODEL_KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind("hgb", "histogram gradient boosting (scikit-learn), the default", private=False),
        ModelKind("logreg", "logistic regression (scikit-learn)", private=False),
        ModelKind("dp_logreg", "ε-DP logistic regression, objective perturbation (diffprivlib)", private=True),
        ModelKind("dp_nb", "ε-DP Gaussian naive Bayes (diffprivlib)", private=True),
        ModelKind("dp_rf", "ε-DP random forest (diffprivlib)", private=True),
    )
}
DEFAULT_KIND = "hgb"
DEFAULT_DP_KIND = "dp_logreg"


def resolve_kind(kind: str | None, epsilon: float) -> str:
    """The model kind for the hyperparameters `model` (None = not given) and `dp_epsilon`.

    No model and ε > 0 means the DP default (dp_logreg); a non-private model with ε > 0, or a private
    one with ε = 0, is a contradiction and refused rather than silently resolved.
    """
    if epsilon < 0 or epsilon != epsilon:
        raise PrivmlError("hyperparameter dp_epsilon: must be a number >= 0 (0 = no differential privacy)")
    if kind is None:
        return DEFAULT_DP_KIND if epsilon > 0 else DEFAULT_KIND
    if kind not in MODEL_KINDS:
        raise PrivmlError(f"hyperparameter model: unknown model '{kind}' (known: {', '.join(MODEL_KINDS)})")
    private = MODEL_KINDS[kind].private
    if private and epsilon == 0:
        raise PrivmlError(f"hyperparameter dp_epsilon: model '{kind}' is differentially private and needs ε > 0")
    if not private and epsilon > 0:
        raise PrivmlError(
            f"hyperparameter model: '{kind}' is not differentially private but dp_epsilon is {epsilon}; "
            f"use one of {', '.join(k for k, v in MODEL_KINDS.items() if v.private)}"
        )
    return kind


@dataclass
class FittedModel:
    pipeline: Pipeline  # [("encode", FeatureEncoder), ("classifier", estimator)]
    kind: str
    epsilon_spent: float | None
    # DP only: how the input domain was obtained, and ε per part ("bounds", "categories", "model")
    domain: PrivateDomain | None = None
    epsilon_parts: dict[str, float] | None = None


def fit_model(
    kind: str,
    X: Any,
    y: np.ndarray,
    *,
    columns: Sequence[str],
    numeric: Sequence[str] | None,
    bounds: Mapping[str, tuple[float, float]],
    epsilon: float = 0.0,
    seed: int = 0,
    categories: Mapping[str, Sequence[str]] | None = None,
    domain: DomainSpec | None = None,
) -> FittedModel:
    """Encode and fit one model kind on an (anonymized) table; `bounds` and `categories` are what the
    policy declares; `domain` (DP models): the policy's declarations and ε shares for the input domain
    (default: `bounds` and `categories` only, no share)."""
    spec = MODEL_KINDS[kind]
    found: PrivateDomain | None = None
    if spec.private:
        # the input domain first, from the same accountant: the model spends what is left of ε
        accountant = dp.make_accountant(epsilon)
        domain = domain or DomainSpec(bounds=dict(bounds), categories=dict(categories or {}))
        if kind in dp.LABEL_BOUNDED_KINDS:
            domain = replace(domain, label_bounds=True)
        numeric = list(numeric) if numeric is not None else [c for c in columns if is_numeric_column(X[c])]
        found = private_domain(X, y, columns=columns, numeric=numeric, spec=domain, epsilon=epsilon,
                               accountant=accountant, seed=seed)
        bounds, categories = found.bounds, found.categories
    encoder = FeatureEncoder(
        columns=list(columns), numeric=numeric, bounds=dict(bounds), require_bounds=spec.private,
        block_norm=kind == "dp_logreg", categories=dict(categories or {}), require_categories=spec.private,
    )
    matrix = encoder.fit_transform(X)
    classes = np.unique(y)
    parts: dict[str, float] | None = None
    if found is not None:
        model_epsilon = float(accountant.remaining()[0])
        clf = dp.make_dp_classifier(
            kind, epsilon=model_epsilon, accountant=accountant, bounds=encoder.output_bounds(),
            classes=classes, seed=seed,
        )
        dp.fit_without_leaks(clf, matrix, y)
        spent: float | None = dp.epsilon_spent(accountant)
        dp.detach_accountant(clf)
        parts = {**found.epsilon_parts, "model": model_epsilon}
    else:
        clf = _plain_classifier(kind, seed, len(matrix))
        clf.fit(matrix, y)
        spent = None
    return FittedModel(Pipeline([("encode", encoder), ("classifier", clf)]), kind, spent, found, parts)


# Above this many training rows the default model stops boosting when the loss on a held-out
# VALIDATION_FRACTION of the TRAIN split has not improved for N_ITER_NO_CHANGE rounds (scikit-learn's own
# rule for early_stopping="auto"); below it there is too little data to hold some out, and a fixed
# SMALL_TABLE_ITERATIONS rounds are run. The test split is never consulted.
EARLY_STOPPING_MIN_ROWS = 10_000
VALIDATION_FRACTION = 0.1
N_ITER_NO_CHANGE = 10
MAX_ITERATIONS = 500
SMALL_TABLE_ITERATIONS = 200


def hgb_classifier(n_rows: int, seed: int) -> HistGradientBoostingClassifier:
    """The default model for a training table of n_rows rows (see EARLY_STOPPING_MIN_ROWS)."""
    early = n_rows > EARLY_STOPPING_MIN_ROWS
    return HistGradientBoostingClassifier(
        random_state=seed, learning_rate=0.1, early_stopping=early,
        max_iter=MAX_ITERATIONS if early else SMALL_TABLE_ITERATIONS,
        validation_fraction=VALIDATION_FRACTION, n_iter_no_change=N_ITER_NO_CHANGE,
    )


def _plain_classifier(kind: str, seed: int, n_rows: int) -> Any:
    if kind == "hgb":
        return hgb_classifier(n_rows, seed)
    if kind == "logreg":
        return LogisticRegression(max_iter=1000, C=1.0)
    raise PrivmlError(f"unknown model '{kind}'")
