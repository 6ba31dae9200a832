"""The model-level half of bench_privacy_utility.py: what the trained model reveals (the membership audit
of privml.models.membership) beside what it is worth (accuracy, balanced accuracy, R²).

- Adult, for raw, Mondrian k=10 and DP logistic regression ε=1: accuracy, balanced accuracy, and the
  audit's AUC and TPR at 0.1% FPR (members: training rows as the model saw them; non-members: test rows
  through the same transform), the larger over the loss-threshold and shadow-model attacks.
- Regression, on scikit-learn's diabetes table and on the sample data's regression target (when
  privml.sampledata has one): R² of LinearRegression on raw data (the anchor: scikit-learn's model),
  on a Mondrian k=10 release (age and sex as quasi-identifiers; the model reads the released ranges'
  midpoints), and of diffprivlib's DP LinearRegression at ε = 1 and 10 (configured as privml's
  dp_linreg: the FeatureEncoder's declared output bounds, the label's declared bounds), the median over
  seeds with the range: on a few hundred rows the functional mechanism's noise can make the normal
  equations ill-conditioned, and one draw's R² of -1e8 would swamp a mean.

Declared bounds for the DP regressions are the tables' documented ranges (diabetes: the ranges its
documentation gives; the sample data: the generator's), as a policy would declare them: none is learned
from the rows the model is fitted on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from privml.models.features import FeatureEncoder
from privml.models.membership import audit

K = 10
REGRESSION_EPSILONS = (1.0, 10.0)
TARGET_R2_GAP = 0.05  # k=10 regression R² within 0.05 of raw
TARGET_DP_AUC = 0.52  # the membership audit of the DP model at ε=1


@dataclass
class AuditedRow:
    name: str
    accuracy: float
    balanced_accuracy: float
    auc: float
    tpr_at_01pct: float | None
    attacks: dict


def audited(name: str, model: object, members: tuple, non_members: tuple, X_test: pd.DataFrame,
            y_test: np.ndarray, seed: int = 0) -> AuditedRow:
    """Utility on the test split and the membership audit of `model` (one OpenMP thread: the shadow
    models' boosting threads spin on a shared machine, 83 s instead of 1.2 s per shadow model measured)."""
    predicted = model.predict(X_test)
    with threadpool_limits(limits=1, user_api="openmp"):
        result = audit(model, members, non_members, task="binary", seed=seed)
    ran = [a for a in result["attacks"].values() if a is not None]
    low = [a["tpr_at_0.1pct_fpr"] for a in ran if a["tpr_at_0.1pct_fpr"] is not None]
    return AuditedRow(name, float(np.mean(predicted == y_test)), float(balanced_accuracy_score(y_test, predicted)),
                      max(a["auc"] for a in ran), max(low) if low else None, result["attacks"])


@dataclass
class RegressionTable:
    name: str
    frame: pd.DataFrame
    label: str
    quasi_identifiers: list[str]
    bounds: dict[str, tuple[float, float]]  # every feature and the label, declared


def diabetes() -> RegressionTable:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    # the ranges the data set's documentation gives (rounded outwards), as a policy would declare them
    bounds = {"age": (18.0, 80.0), "sex": (1.0, 2.0), "bmi": (15.0, 45.0), "bp": (60.0, 135.0),
              "s1": (95.0, 305.0), "s2": (40.0, 245.0), "s3": (20.0, 100.0), "s4": (2.0, 10.0),
              "s5": (3.0, 6.5), "s6": (55.0, 125.0), "target": (25.0, 346.0)}
    # age and sex: what an outsider knows of a patient; bmi, blood pressure and the serum figures are
    # measurements taken in the study, not quasi-identifiers
    return RegressionTable("diabetes", frame, "target", ["age", "sex"], bounds)


def sample_regression(rows: int = 5000) -> RegressionTable | None:
    """The sample data's regression target, if privml.sampledata has one (total_charges)."""
    from privml.sampledata import generate

    frame = generate(rows, 0)
    if "total_charges" not in frame.columns:
        return None
    features = ["age", "income", "hours_per_week", "num_visits"]
    table = frame[[*features, "sex", "total_charges"]].copy()
    for col in (*features, "total_charges"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    table = table.dropna()
    bounds = {"age": (0.0, 120.0), "income": (0.0, 250_000.0), "hours_per_week": (0.0, 100.0),
              "num_visits": (0.0, 30.0), "total_charges": (0.0, float(np.ceil(table["total_charges"].max() / 1e4)
                                                                        * 1e4))}
    return RegressionTable("sample data total_charges", table, "total_charges", ["age", "sex"], bounds)


def regression_r2(table: RegressionTable, *, dp_seeds: int, anonymize: Callable) -> dict[str, tuple[float, str]]:
    """R² on a 70/30 split of the table, with a note: raw, Mondrian k=10, DP ε = 1 and 10 (median over
    dp_seeds)."""
    y = table.frame[table.label].to_numpy(dtype=float)
    X = table.frame.drop(columns=[table.label])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    columns = list(X.columns)
    feature_bounds = {c: b for c, b in table.bounds.items() if c in columns}

    def fit_score(train: pd.DataFrame, y_fit: np.ndarray, test: pd.DataFrame) -> float:
        encoder = FeatureEncoder(columns=columns, numeric=None, bounds=feature_bounds)
        model = LinearRegression().fit(encoder.fit_transform(train), y_fit)
        return float(r2_score(y_test, model.predict(encoder.transform(test))))

    out = {"raw": (fit_score(X_train, y_train, X_test), f"{len(X_train)} train / {len(X_test)} test rows")}
    released, kept, test = anonymize(table, X_train, X_test)
    out[f"k={K}"] = (fit_score(released, y_train[kept], test),
                     f"QIs {', '.join(table.quasi_identifiers)}; {len(released)} train rows kept")
    from diffprivlib.models import LinearRegression as DPLinearRegression

    encoder = FeatureEncoder(columns=columns, numeric=None, bounds=feature_bounds, require_bounds=True)
    A_train, A_test = encoder.fit_transform(X_train), encoder.transform(X_test)
    lower, upper = encoder.output_bounds()
    for eps in REGRESSION_EPSILONS:
        scores = []
        for seed in range(dp_seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = DPLinearRegression(epsilon=eps, bounds_X=(lower, upper), bounds_y=table.bounds[table.label],
                                           random_state=seed).fit(A_train, y_train)
            scores.append(float(r2_score(y_test, model.predict(A_test))))
        out[f"DP ε={eps:g}"] = (float(np.median(scores)),
                                f"median of {dp_seeds} draws, range {min(scores):.3g} to {max(scores):.3g}")
    return out


def mondrian(table: RegressionTable, X_train: pd.DataFrame, X_test: pd.DataFrame) -> tuple:
    """Mondrian k=10 fitted on the training rows (no suppression), the test rows through the same cuts."""
    from privml.anonymity.engine import AnonymityEngine
    from privml.policy import parse_policy
    from privml.policy.engine_config import anonymity_config

    cols = {}
    for col in X_train.columns:
        spec: dict = {"role": "quasi_identifier" if col in table.quasi_identifiers else "feature", "action": "keep"}
        if col in table.bounds:
            spec["bounds"] = list(table.bounds[col])
        cols[col] = spec
    cols[table.label] = {"role": "label", "action": "keep"}
    policy = parse_policy({"version": 1, "columns": cols,
                           "anonymity": {"algorithm": "mondrian", "k": K, "max_suppression": 0.0}}, source="bench")
    engine = AnonymityEngine(anonymity_config(policy))
    released = engine.fit_transform(X_train)
    return released, X_train.index.get_indexer(released.index), engine.transform(X_test)
