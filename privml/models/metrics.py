"""Model metrics for the training metadata, the evaluation property file and the model card.

Classification: accuracy, balanced accuracy, ROC AUC, F1, Brier (METRIC_NAMES). Regression: RMSE, MAE
and R² (REGRESSION_METRIC_NAMES), on the label's own scale."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

METRIC_NAMES = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "brier")
REGRESSION_METRIC_NAMES = ("rmse", "mae", "r2")


def metric_names(task: str | None) -> tuple[str, ...]:
    """The metric keys of a task's metrics (classification's for None: a model saved before tasks)."""
    return REGRESSION_METRIC_NAMES if task == "regression" else METRIC_NAMES


def regression_metrics(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """RMSE, MAE and R² of predictions. R² of a constant y_true is undefined: reported as 0.0 (no
    variance explained), never NaN, so the property file stays valid JSON."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    r2 = float(r2_score(y_true, y_pred)) if len(y_true) > 1 and np.ptp(y_true) > 0 else 0.0
    out = {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": r2,
    }
    return {name: round(out[name], 6) for name in REGRESSION_METRIC_NAMES}


def classification_metrics(y_true: Sequence[Any], proba: np.ndarray, classes: Sequence[Any]) -> dict[str, float]:
    """accuracy, balanced accuracy, ROC AUC, F1 and the Brier score from predicted class probabilities.

    Binary: F1 and ROC AUC for the second class in sorted order (the positive class), Brier on its
    probability. More classes: macro F1, one-vs-rest ROC AUC, multi-class Brier (mean over rows of the
    summed squared error, divided by 2 so that both definitions agree on two classes).
    ROC AUC is NaN-free: with one class present in y_true it is reported as 0.5 (no ranking information).
    """
    classes = np.asarray(classes)
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    y_pred = classes[np.argmax(proba, axis=1)]
    onehot = (y_true[:, None] == classes[None, :]).astype(float)
    with warnings.catch_warnings():
        # a split where the model predicts a class absent from y_true is legitimate, not a warning
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "brier": float(np.mean(np.sum((proba - onehot) ** 2, axis=1)) / 2),
    }
    present = np.unique(y_true)
    if len(classes) == 2:
        out["f1"] = float(f1_score(y_true, y_pred, pos_label=classes[1], zero_division=0))
        out["roc_auc"] = float(roc_auc_score(y_true == classes[1], proba[:, 1])) if len(present) == 2 else 0.5
    else:
        out["f1"] = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
        if len(present) == len(classes):
            out["roc_auc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", labels=list(classes)))
        else:
            out["roc_auc"] = 0.5
    return {name: round(out[name], 6) for name in METRIC_NAMES}


def model_metrics(model: Any, X: Any, y_true: Sequence[Any], task: str | None = None) -> dict[str, float]:
    """Metrics of a fitted model on (X, y_true). task None: regression for a model without predict_proba,
    else classification (anything with predict_proba and classes_). Regression labels may arrive as the
    text the splits hold: they are read as numbers."""
    if task is None:
        task = "multiclass" if hasattr(model, "predict_proba") else "regression"
    if task == "regression":
        return regression_metrics(np.asarray(y_true, dtype=float), model.predict(X))
    return classification_metrics(y_true, model.predict_proba(X), model.classes_)
