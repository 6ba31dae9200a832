"""Metrics against scikit-learn's own definitions, on hand-checkable inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from privml.models.metrics import METRIC_NAMES, classification_metrics


def test_binary_metrics() -> None:
    y = np.array(["a", "b", "b", "a", "b"])
    proba_b = np.array([0.1, 0.8, 0.4, 0.3, 0.9])
    out = classification_metrics(y, np.column_stack([1 - proba_b, proba_b]), ["a", "b"])
    assert tuple(out) == METRIC_NAMES
    assert out["accuracy"] == pytest.approx(0.8)  # the 0.4 one is wrong
    assert out["balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert out["f1"] == pytest.approx(0.8)  # precision 1, recall 2/3
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y == "b", proba_b))
    assert out["brier"] == pytest.approx(brier_score_loss(y == "b", proba_b))


def test_multiclass_and_single_class_present() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]])
    out = classification_metrics(y, proba, [0, 1, 2])
    assert out["accuracy"] == pytest.approx(0.75)
    assert 0 < out["roc_auc"] <= 1 and 0 <= out["brier"] <= 1
    single = classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]), [0, 1])
    assert single["roc_auc"] == 0.5 and single["accuracy"] == 0.5
