"""What the model card shows beyond the headline metrics, computed on the anonymized test split:

- classification: the confusion matrix and calibration (a reliability table of predicted probability
  against observed frequency in ten equal-width bins, and the expected calibration error: the row-weighted
  mean gap between the two, as in Naeini et al. 2015 and Guo et al., On Calibration of Modern Neural
  Networks, 2017);
- regression: a residual summary (quantiles of y − ŷ, and RMSE / MAE / bias per bucket of the prediction);
- per group of each declared sensitive attribute: the same metrics per group, and the largest gap between
  groups.

Every figure is an aggregate over at least `min_group_rows` rows: a group (or a bin, or a bucket) with fewer
is not shown — a figure of a small group can reveal something about the few people in it — and the output
says how many were left out, without naming them. Group names are the attribute's values as they are in the
anonymized split; the caller passes only declared sensitive attributes, never an identifier.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

MIN_GROUP_ROWS = 20
CALIBRATION_BINS = 10
RESIDUAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
RESIDUAL_BUCKETS = 5
MAX_GROUPS_SHOWN = 50
MISSING_GROUP = "(missing)"


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _significant(value: float) -> float:
    return float(f"{value:.4g}")


# --- classification ---------------------------------------------------------------------------------------

def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Counts of test rows by true class (rows) and predicted class (columns), in the model's class order."""
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for true, pred in zip(y_true, y_pred, strict=True):
        if true in index:
            counts[index[true], index[pred]] += 1
    return {"labels": [str(c) for c in classes], "counts": counts.tolist(),
            "rows": "true class", "columns": "predicted class"}


def calibration(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any], *,
                bins: int = CALIBRATION_BINS, min_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """Reliability bins and ECE: for two classes on the positive (second) class's probability; for more, on
    the top label (the predicted class's probability against how often it is right)."""
    classes = np.asarray(classes)
    if len(classes) == 2:
        score = proba[:, 1]
        hit = (y_true == classes[1]).astype(float)
        kind = f"probability of class {classes[1]}"
    else:
        score = proba.max(axis=1)
        hit = (classes[np.argmax(proba, axis=1)] == y_true).astype(float)
        kind = "top-label confidence (probability of the predicted class)"
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1], right=False), 0, bins - 1)
    table, ece, hidden = [], 0.0, 0
    for b in range(bins):
        members = which == b
        rows = int(members.sum())
        mean_predicted = float(score[members].mean()) if rows else None
        observed = float(hit[members].mean()) if rows else None
        if rows:
            ece += rows / len(score) * abs(observed - mean_predicted)  # type: ignore[operator]
        shown = rows >= min_rows
        hidden += int(0 < rows < min_rows)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "rows": rows if shown else None,
                      "mean_predicted": _round(mean_predicted) if shown else None,
                      "observed": _round(observed) if shown else None})
    return {"kind": kind, "bins": table, "ece": _round(ece), "suppressed_bins": hidden}


def _classification_group_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a group where one class is never predicted
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    out: dict[str, Any] = {"accuracy": float(np.mean(y_true == y_pred)), "balanced_accuracy": balanced}
    if len(classes) == 2:
        positive = classes[1]
        actual = y_true == positive
        out["positive_rate"] = float(np.mean(y_pred == positive))
        out["true_positive_rate"] = float(np.mean(y_pred[actual] == positive)) if actual.any() else None
    return {k: _round(v) for k, v in out.items()}


# --- regression -------------------------------------------------------------------------------------------

def _regression_group_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    residual = y_true - y_pred
    return {"rmse": _round(float(np.sqrt(np.mean(residual ** 2)))), "mae": _round(float(np.mean(np.abs(residual)))),
            "mean_residual": _round(float(np.mean(residual)))}


def residual_summary(y_true: np.ndarray, y_pred: np.ndarray, *, buckets: int = RESIDUAL_BUCKETS,
                     min_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """Quantiles of the residual y − ŷ, and the errors per bucket of the prediction (equal-count buckets)."""
    residual = y_true - y_pred
    quantiles = {f"p{round(q * 100):02d}": _round(float(np.quantile(residual, q))) for q in RESIDUAL_QUANTILES}
    order = np.argsort(y_pred, kind="stable")
    table, hidden = [], 0
    for chunk in np.array_split(order, buckets):
        if not len(chunk):
            continue
        shown = len(chunk) >= min_rows
        hidden += int(not shown)
        table.append({
            "prediction_from": _significant(float(y_pred[chunk].min())) if shown else None,
            "prediction_to": _significant(float(y_pred[chunk].max())) if shown else None,
            "rows": len(chunk) if shown else None,
            **(_regression_group_metrics(y_true[chunk], y_pred[chunk]) if shown
               else {"rmse": None, "mae": None, "mean_residual": None}),
        })
    return {"quantiles": quantiles, "mean": _round(float(residual.mean())), "std": _round(float(residual.std())),
            **_regression_group_metrics(y_true, y_pred), "by_prediction_bucket": table, "suppressed_buckets": hidden}


# --- per group --------------------------------------------------------------------------------------------

def per_group(values: pd.Series, y_true: np.ndarray, y_pred: np.ndarray, *, task: str, classes: Sequence[Any],
              min_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """The metrics per group of one attribute, groups under `min_rows` rows left out (counted, not named),
    and per metric the gap between the best and the worst group shown."""
    names = values.astype("string").fillna(MISSING_GROUP).to_numpy()
    labels, counts = np.unique(names, return_counts=True)
    by_size = sorted(zip(labels, counts, strict=True), key=lambda item: (-item[1], str(item[0])))
    shown = [(name, int(n)) for name, n in by_size if n >= min_rows]
    groups = []
    for name, n in shown[:MAX_GROUPS_SHOWN]:
        members = names == name
        metrics = (_regression_group_metrics(y_true[members], y_pred[members]) if task == "regression"
                   else _classification_group_metrics(y_true[members], y_pred[members], classes))
        groups.append({"group": str(name), "rows": n, **metrics})
    metric_names = [k for k in (groups[0] if groups else {}) if k not in ("group", "rows")]
    gaps = {}
    for metric in metric_names:
        scored = [(g[metric], g["group"]) for g in groups if g[metric] is not None]
        if len(scored) >= 2:
            low, high = min(scored), max(scored)
            gaps[metric] = {"gap": _round(high[0] - low[0]), "highest": high[1], "lowest": low[1]}
    headline = "mae" if task == "regression" else "accuracy"
    return {
        "groups": groups,
        "suppressed_groups": len(by_size) - len(shown),
        "suppressed_rows": int(sum(n for _, n in by_size if n < min_rows)),
        "groups_not_listed": max(0, len(shown) - MAX_GROUPS_SHOWN),
        "gaps": gaps,
        "largest_gap": {"metric": headline, **gaps[headline]} if headline in gaps else None,
    }


def diagnostics(model: Any, X: Any, y: Any, *, task: str, classes: Sequence[Any] | None,
                groups: Mapping[str, pd.Series], min_group_rows: int = MIN_GROUP_ROWS) -> dict[str, Any]:
    """The card's diagnostics of a fitted model (the model step: encoder + estimator) on (X, y).

    `task`: "binary", "multiclass" or "regression"; `classes`: the model's classes (None for regression);
    `groups`: per declared sensitive attribute, its values on the rows of X (same order)."""
    y_true = np.asarray(y)
    out: dict[str, Any] = {"task": task, "rows": len(y_true), "min_group_rows": min_group_rows}
    if task == "regression":
        y_true = y_true.astype(float)
        y_pred = np.asarray(model.predict(X), dtype=float)
        out["residuals"] = residual_summary(y_true, y_pred, min_rows=min_group_rows)
        model_classes: Sequence[Any] = []
    else:
        model_classes = list(model.classes_) if classes is None else list(getattr(model, "classes_", classes))
        proba = np.asarray(model.predict_proba(X), dtype=float)
        y_pred = np.asarray(model_classes, dtype=object)[np.argmax(proba, axis=1)]
        y_true = y_true.astype(object)
        out["confusion_matrix"] = confusion_matrix(y_true, y_pred, model_classes)
        out["calibration"] = calibration(y_true, proba, model_classes, min_rows=min_group_rows)
    out["per_group"] = {
        name: per_group(values.reset_index(drop=True), y_true, y_pred, task=task, classes=model_classes,
                        min_rows=min_group_rows)
        for name, values in groups.items()
    }
    return out


def sensitive_groups(test: pd.DataFrame, report: Mapping[str, Any]) -> dict[str, pd.Series]:
    """The declared sensitive attributes of the Anonymize report that are in the test split, as released
    there (never a column the policy calls an identifier, whatever else it says)."""
    roles = {name: (spec or {}).get("role") for name, spec in (report.get("columns") or {}).items()}
    return {name: test[name] for name in report.get("sensitive_attributes") or []
            if name in test.columns and roles.get(name) != "identifier"}


def card_diagnostics(model: Any, test: pd.DataFrame, features: Sequence[str], y: Any, *,
                     report: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`diagnostics` as Evaluate calls it: the task from the model's metadata (an old one without it is
    classification, binary with two classes), the groups from the report's sensitive attributes."""
    classes = metadata.get("classes")
    task = metadata.get("task") or ("binary" if classes is not None and len(classes) == 2 else "multiclass")
    return diagnostics(model, test[list(features)], y, task=task, classes=None if task == "regression" else classes,
                       groups=sensitive_groups(test, report))
