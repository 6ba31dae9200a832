"""The default model's early stopping: on a held-out part of the TRAIN split, only for large tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from privml.models import estimators
from privml.models.estimators import EARLY_STOPPING_MIN_ROWS, fit_model, hgb_classifier


def test_early_stopping_only_above_the_row_threshold() -> None:
    small = hgb_classifier(EARLY_STOPPING_MIN_ROWS, seed=3)
    large = hgb_classifier(EARLY_STOPPING_MIN_ROWS + 1, seed=3)
    assert small.early_stopping is False and small.max_iter == estimators.SMALL_TABLE_ITERATIONS
    assert large.early_stopping is True and large.max_iter == estimators.MAX_ITERATIONS
    assert large.validation_fraction == estimators.VALIDATION_FRACTION and large.random_state == 3


def test_default_model_stops_early_on_a_large_table() -> None:
    rng = np.random.default_rng(0)
    n = EARLY_STOPPING_MIN_ROWS + 2000
    x = rng.normal(size=n)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=n)})
    y = np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    fitted = fit_model("hgb", X, y, columns=["x", "noise"], numeric=None, bounds={})
    clf = fitted.pipeline.named_steps["classifier"]
    assert clf.early_stopping is True
    assert clf.n_iter_ < estimators.MAX_ITERATIONS  # stopped on the held-out loss, not the cap
    assert np.mean(fitted.pipeline.predict(X) == y) > 0.8
    small = fit_model("hgb", X.iloc[:500], y[:500], columns=["x", "noise"], numeric=None, bounds={})
    assert small.pipeline.named_steps["classifier"].n_iter_ == estimators.SMALL_TABLE_ITERATIONS
