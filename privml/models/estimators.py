"""The registry of model kinds and the model pipeline each one builds: FeatureEncoder → estimator.

A kind serves classification, regression or both (`ModelKind.tasks`): `hgb` is
HistGradientBoostingClassifier for a binary or multiclass label and HistGradientBoostingRegressor for a
regression target, with the same early-stopping rule; `ridge` and `dp_linreg` are regression only, the
others classification only. The pipeline's steps keep their names ("encode", "classifier") whatever the
task, so models saved before regression existed load and score as they did."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from privml.errors import PrivmlError
from privml.models import dp, progress
from privml.models.dp_domain import DomainSpec, PrivateDomain, private_domain
from privml.models.features import FeatureEncoder, is_numeric_column
from privml.models.tasks import CLASSIFICATION, TASKS, is_classification


@dataclass(frozen=True)
class ModelKind:
    name: str
    description: str
    private: bool  # ε-differentially private: needs dp_epsilon > 0 and declared bounds
    tasks: tuple[str, ...] = CLASSIFICATION  # the tasks it can be trained for


MODEL_KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind("hgb", "histogram gradient boosting (scikit-learn), the default", private=False, tasks=TASKS),
        ModelKind("logreg", "logistic regression (scikit-learn)", private=False),
        ModelKind("dp_logreg", "ε-DP logistic regression, objective perturbation (diffprivlib)", private=True),
        ModelKind("dp_nb", "ε-DP Gaussian naive Bayes (diffprivlib)", private=True),
        ModelKind("dp_rf", "ε-DP random forest (diffprivlib)", private=True),
        ModelKind("ridge", "ridge regression (scikit-learn)", private=False, tasks=("regression",)),
        ModelKind("dp_linreg", "ε-DP linear regression, functional mechanism (diffprivlib)", private=True,
                  tasks=("regression",)),
    )
}
DEFAULT_KIND = "hgb"
DEFAULT_DP_KIND = "dp_logreg"
DEFAULT_DP_REGRESSION_KIND = "dp_linreg"


def resolve_kind(kind: str | None, epsilon: float, task: str | None = None) -> str:
    """The model kind for the hyperparameters `model` (None = not given) and `dp_epsilon`, for `task`
    (None: not known yet; the kind is checked against it once it is).

    No model and ε > 0 means the DP default (dp_logreg, or dp_linreg for regression); a non-private model
    with ε > 0, a private one with ε = 0, or a kind that cannot learn the task is a contradiction and
    refused rather than silently resolved.
    """
    if epsilon < 0 or epsilon != epsilon:
        raise PrivmlError("hyperparameter dp_epsilon: must be a number >= 0 (0 = no differential privacy)")
    if kind is None:
        if epsilon > 0:
            return DEFAULT_DP_REGRESSION_KIND if task == "regression" else DEFAULT_DP_KIND
        return DEFAULT_KIND
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
    if task is not None:
        check_kind_task(kind, task)
    return kind


def check_kind_task(kind: str, task: str) -> None:
    """A classifier for a regression target, or a regressor for classes, is refused (exit 2)."""
    if task in MODEL_KINDS[kind].tasks:
        return
    fitting = [k for k, v in MODEL_KINDS.items() if task in v.tasks and v.private == MODEL_KINDS[kind].private]
    what = "a regression target" if task == "regression" else f"a {task} classification label"
    raise PrivmlError(f"model '{kind}' cannot learn {what} (task {task}); use one of {', '.join(fitting)}")


@dataclass
class FittedModel:
    pipeline: Pipeline  # [("encode", FeatureEncoder), ("classifier", estimator)] (a regressor too)
    kind: str
    epsilon_spent: float | None
    task: str = "binary"
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
    task: str | None = None,
    label_bounds: tuple[float, float] | None = None,
    domain: DomainSpec | None = None,
) -> FittedModel:
    """Encode and fit one model kind on an (anonymized) table; `bounds`, `categories` and `label_bounds`
    (the label's, for dp_linreg) are what the policy declares; `domain` (DP models): the policy's
    declarations and ε shares for the input domain (default: `bounds`, `categories` and `label_bounds`
    only, no share). task None: binary or multiclass from y; for "regression" y holds numbers."""
    if task is None:
        task = "binary" if len(np.unique(y)) == 2 else "multiclass"
    check_kind_task(kind, task)
    spec = MODEL_KINDS[kind]
    found: PrivateDomain | None = None
    accountant = None
    if spec.private:
        # the input domain first, from the same accountant: the model spends what is left of ε
        accountant = dp.make_accountant(epsilon)
        domain = domain or DomainSpec(bounds=dict(bounds), categories=dict(categories or {}))
        if kind in dp.LABEL_BOUNDED_KINDS:
            label = domain.label or LABEL_PLACEHOLDER
            findable = domain.bounds_share > 0 and label in domain.ranges
            if label_bounds is None and label not in domain.bounds and not findable:
                raise PrivmlError(f"model '{kind}' needs declared bounds for the label (`bounds: [min, max]` on the "
                                  "label column in the policy, or a public `range` on it and "
                                  "`differential_privacy.bounds_share`): learning them from the data would leak")
            declared = {label: tuple(label_bounds)} if label_bounds is not None else {}
            domain = replace(domain, label_bounds=True, label=label, bounds={**declared, **domain.bounds})
        numeric = list(numeric) if numeric is not None else [c for c in columns if is_numeric_column(X[c])]
        found = private_domain(X, y, columns=columns, numeric=numeric, spec=domain, epsilon=epsilon,
                               accountant=accountant, seed=seed)
        bounds, categories = found.bounds, found.categories
        if kind in dp.LABEL_BOUNDED_KINDS:
            label_bounds = found.bounds[domain.label]
    encoder = FeatureEncoder(
        columns=list(columns), numeric=numeric,
        bounds=dict(bounds),
        require_bounds=spec.private, block_norm=kind == "dp_logreg", categories=dict(categories or {}),
        require_categories=spec.private,
    )
    matrix = encoder.fit_transform(X)
    parts: dict[str, float] | None = None
    if found is not None:
        model_epsilon = float(accountant.remaining()[0])
        parts = {**found.epsilon_parts, "model": model_epsilon}
    if not is_classification(task):
        reg, spent = _fit_regressor(kind, encoder, matrix, np.asarray(y, dtype=float), accountant=accountant,
                                    seed=seed, label_bounds=label_bounds)
        return FittedModel(Pipeline([("encode", encoder), ("classifier", reg)]), kind, spent, "regression",
                           found, parts)
    classes = np.unique(y)
    if found is not None:
        clf = dp.make_dp_classifier(
            kind, epsilon=model_epsilon, accountant=accountant, bounds=encoder.output_bounds(),
            classes=classes, seed=seed,
        )
        dp.fit_without_leaks(clf, matrix, y)
        spent: float | None = dp.epsilon_spent(accountant)
        dp.detach_accountant(clf)
    else:
        clf = _plain_classifier(kind, seed, len(matrix))
        progress.fit(clf, matrix, y, what=f"training {kind}")
        spent = None
    return FittedModel(Pipeline([("encode", encoder), ("classifier", clf)]), kind, spent, task, found, parts)


# The label's key in a DomainSpec built without a policy (a direct fit_model call): never a column name.
LABEL_PLACEHOLDER = "<label>"


def _fit_regressor(kind: str, encoder: FeatureEncoder, matrix: np.ndarray, y: np.ndarray, *, accountant: Any,
                   seed: int, label_bounds: tuple[float, float] | None) -> tuple[Any, float | None]:
    """The fitted regressor and the ε it spent (None: not DP); a DP one spends what `accountant` has left."""
    if MODEL_KINDS[kind].private:
        if label_bounds is None:
            raise PrivmlError(f"model '{kind}' needs bounds for the label (`bounds: [min, max]` on the label "
                              "column in the policy, or a `differential_privacy.bounds_share` with a `range`): "
                              "learning them from the data would leak")
        reg = dp.dp_linreg(epsilon=float(accountant.remaining()[0]), accountant=accountant,
                           bounds_X=encoder.output_bounds(), bounds_y=label_bounds, seed=seed)
        dp.fit_without_leaks(reg, matrix, y)
        spent = dp.epsilon_spent(accountant)
        dp.detach_accountant(reg)
        return reg, spent
    reg = _plain_regressor(kind, seed, len(matrix))
    progress.fit(reg, matrix, y, what=f"training {kind}")
    return reg, None


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


# Squared error fits a small table's noise faster than log loss: with the fixed SMALL_TABLE_ITERATIONS
# rounds and nothing held out, a slower rate shrinks it. On scikit-learn's diabetes (442 rows), 5-fold R²
# per fold: 0.07/0.42/0.54/0.28/0.43 at 0.1, 0.18/0.47/0.58/0.40/0.50 at 0.03.
SMALL_TABLE_REGRESSION_LEARNING_RATE = 0.03


def hgb_regressor(n_rows: int, seed: int) -> HistGradientBoostingRegressor:
    """The default model for a regression target: hgb_classifier's early-stopping rule, squared error."""
    early = n_rows > EARLY_STOPPING_MIN_ROWS
    return HistGradientBoostingRegressor(
        random_state=seed, learning_rate=0.1 if early else SMALL_TABLE_REGRESSION_LEARNING_RATE,
        early_stopping=early,
        max_iter=MAX_ITERATIONS if early else SMALL_TABLE_ITERATIONS,
        validation_fraction=VALIDATION_FRACTION, n_iter_no_change=N_ITER_NO_CHANGE,
    )


def _plain_regressor(kind: str, seed: int, n_rows: int) -> Any:
    if kind == "hgb":
        return hgb_regressor(n_rows, seed)
    if kind == "ridge":
        return Ridge(alpha=1.0)
    raise PrivmlError(f"unknown regression model '{kind}'")


def _plain_classifier(kind: str, seed: int, n_rows: int) -> Any:
    if kind == "hgb":
        return hgb_classifier(n_rows, seed)
    if kind == "logreg":
        return LogisticRegression(max_iter=1000, C=1.0)
    raise PrivmlError(f"unknown model '{kind}'")
