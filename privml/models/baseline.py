"""The trivial predictor the quality gate compares a model with, fitted on the TRAIN labels only.

Classification: the majority class of the training labels, with the training class frequencies as its
probabilities (scikit-learn's DummyClassifier(strategy="prior")): its balanced accuracy is exactly
1 / number of classes and its ROC AUC 0.5, whatever the class balance, which is what makes it the
yardstick an absolute accuracy threshold is not (on a table whose majority class is 90%, a useless
model has 90% accuracy). Regression: the training mean (DummyRegressor(strategy="mean")), whose R² on
a test split is 0 up to the difference between the training and the test mean.

The test split is never consulted to fit it: a baseline fitted on the test labels would be a little
better than trivial and hide a small real gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor

REGRESSION = "regression"
PREDICTORS = {"classification": "majority class", REGRESSION: "training mean"}


def predictor_name(task: str) -> str:
    """How evaluation.json and the card name the baseline of a task."""
    return PREDICTORS[REGRESSION] if task == REGRESSION else PREDICTORS["classification"]


def fit_baseline(y_train: Sequence[Any], task: str) -> Any:
    """The trivial predictor for `task`, fitted on the training labels (features are ignored).

    It takes any X at predict time (it ignores it), so the same metrics code that scores the model
    scores it on the same test split.
    """
    y = np.asarray(y_train)
    placeholder = np.zeros((len(y), 1))
    if task == REGRESSION:
        return DummyRegressor(strategy="mean").fit(placeholder, y.astype(float))
    return DummyClassifier(strategy="prior").fit(placeholder, y)
