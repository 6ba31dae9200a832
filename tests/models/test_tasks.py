"""Tasks: binary, multiclass and regression, chosen from the label or forced, and the regression models
(hgb, ridge, dp_linreg) with their metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

from privml.errors import PrivmlError
from privml.models.estimators import MODEL_KINDS, check_kind_task, fit_model, resolve_kind
from privml.models.metrics import METRIC_NAMES, metric_names, model_metrics, regression_metrics
from privml.models.tasks import TASKS, check_task_name, choose_task, resolve_task, task_of_metadata


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


def test_the_rule_reads_the_label(diabetes: pd.DataFrame) -> None:
    choice = choose_task(None, diabetes["target"], "target")
    assert choice.line() == "task: regression (label 'target' is numeric with 214 distinct values)"
    # as the splits hold it: text
    assert resolve_task(None, diabetes["target"].astype(str), "target") == "regression"
    assert resolve_task(None, pd.Series(["0", "1", "1", "0"]), "y") == "binary"
    assert resolve_task(None, pd.Series(["a", "b", "c"] * 30), "y") == "multiclass"
    rating = pd.Series(np.arange(200) % 5 + 1)  # a 1-5 rating: numbers, but classes
    choice = choose_task(None, rating, "stars")
    assert choice.task == "multiclass" and "at most 20" in choice.reason
    many_codes = pd.Series([f"c{i}" for i in range(100)])  # text stays classes however many
    assert resolve_task(None, many_codes, "code") == "multiclass"
    assert resolve_task(None, pd.Series(np.arange(21.0)), "x") == "regression"
    assert resolve_task(None, pd.Series(np.arange(20.0)), "x") == "multiclass"


def test_a_forced_task_is_checked_against_the_label(diabetes: pd.DataFrame) -> None:
    assert resolve_task("regression", pd.Series([0, 1, 1, 0]), "y") == "regression"
    assert resolve_task("multiclass", diabetes["target"], "target") == "multiclass"
    assert choose_task("Regression", diabetes["target"], "target").reason.startswith("forced")
    text = pd.Series(["12.5", "SECRET-VALUE", "3", None, "n/a"])
    with pytest.raises(PrivmlError, match=r"label column 'y' is not numeric: 2 of 5 row\(s\) .*first: row 2") as err:
        resolve_task("regression", text, "y")
    assert "SECRET-VALUE" not in str(err.value) and "n/a" not in str(err.value)
    with pytest.raises(PrivmlError, match="has 3 distinct values, not 2"):
        resolve_task("binary", pd.Series(["a", "b", "c"]), "y")
    with pytest.raises(PrivmlError, match="use task binary"):
        resolve_task("multiclass", pd.Series(["a", "b"]), "y")


@pytest.mark.parametrize("task", [None, *TASKS])
def test_a_constant_label_is_refused_whatever_the_task(task: str | None) -> None:
    with pytest.raises(PrivmlError, match="label column 'y' is constant"):
        resolve_task(task, pd.Series(["7"] * 50), "y")


def test_unknown_task() -> None:
    assert check_task_name("") is None and check_task_name(None) is None
    with pytest.raises(PrivmlError, match=r"task 'clustering': unknown \(known: binary, multiclass, regression"):
        check_task_name("clustering")


def test_old_metadata_means_classification() -> None:
    assert task_of_metadata({"classes": ["0", "1"]}) == "binary"
    assert task_of_metadata({"classes": ["a", "b", "c"]}) == "multiclass"
    assert task_of_metadata({"task": "regression", "classes": None}) == "regression"


def test_regression_metrics_are_sklearns() -> None:
    rng = np.random.default_rng(0)
    y, pred = rng.normal(10, 3, 200), rng.normal(10, 3, 200)
    got = regression_metrics(y, pred)
    assert tuple(got) == metric_names("regression") == ("rmse", "mae", "r2")
    assert got["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, pred)), abs=1e-6)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, pred), abs=1e-6)
    assert got["r2"] == pytest.approx(r2_score(y, pred), abs=1e-6)
    assert regression_metrics([3.0, 3.0], [2.0, 4.0])["r2"] == 0.0  # constant truth: no NaN in the property file
    assert metric_names("binary") == metric_names(None) == METRIC_NAMES


def test_kinds_and_tasks() -> None:
    assert {k for k, v in MODEL_KINDS.items() if "regression" in v.tasks} == {"hgb", "ridge", "dp_linreg"}
    assert resolve_kind(None, 1.0, "regression") == "dp_linreg"
    assert resolve_kind(None, 1.0, "binary") == "dp_logreg"
    with pytest.raises(PrivmlError, match=r"model 'logreg' cannot learn a regression target.*ridge"):
        resolve_kind("logreg", 0.0, "regression")
    with pytest.raises(PrivmlError, match=r"model 'dp_linreg' cannot learn a binary classification label.*dp_logreg"):
        check_kind_task("dp_linreg", "binary")
    with pytest.raises(PrivmlError, match="'ridge' cannot learn a multiclass"):
        resolve_kind("ridge", 0.0, "multiclass")


@pytest.mark.parametrize("kind", ["hgb", "ridge"])
def test_diabetes_trains_as_regression(diabetes: pd.DataFrame, kind: str) -> None:
    columns = [c for c in diabetes.columns if c != "target"]
    train, test = train_test_split(diabetes, test_size=0.3, random_state=0)
    task = resolve_task(None, train["target"], "target")
    fitted = fit_model(kind, train[columns], train["target"].to_numpy(), columns=columns, numeric=columns,
                       bounds={}, task=task)
    assert fitted.task == "regression"
    estimator = fitted.pipeline.named_steps["classifier"]  # the step keeps its name
    assert type(estimator).__name__ == {"hgb": "HistGradientBoostingRegressor", "ridge": "Ridge"}[kind]
    metrics = model_metrics(fitted.pipeline, test[columns], test["target"].astype(str))  # task from the model
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert metrics["r2"] > 0.3, metrics


def test_dp_linreg_spends_epsilon_within_declared_bounds(diabetes: pd.DataFrame) -> None:
    columns = [c for c in diabetes.columns if c != "target"]
    bounds = {c: (-0.25, 0.25) for c in columns}
    y = diabetes["target"].to_numpy()
    with pytest.raises(PrivmlError, match="needs declared bounds for the label"):
        fit_model("dp_linreg", diabetes[columns], y, columns=columns, numeric=columns, bounds=bounds,
                  epsilon=1.0, task="regression")
    with pytest.raises(PrivmlError, match="declared bounds"):  # the features' bounds too
        fit_model("dp_linreg", diabetes[columns], y, columns=columns, numeric=columns, bounds={},
                  epsilon=1.0, task="regression", label_bounds=(0, 400))
    fitted = fit_model("dp_linreg", diabetes[columns], y, columns=columns, numeric=columns, bounds=bounds,
                       epsilon=1.0, task="regression", label_bounds=(0, 400), seed=1)
    assert fitted.epsilon_spent == pytest.approx(1.0)
    estimator = fitted.pipeline.named_steps["classifier"]
    from diffprivlib.models import LinearRegression as DPLinearRegression

    assert isinstance(estimator, DPLinearRegression) and estimator.accountant is None
    assert np.min(estimator.bounds_y[0]) == 0.0 and np.max(estimator.bounds_y[1]) == 400.0
    predicted = fitted.pipeline.predict(diabetes[columns])
    assert np.isfinite(predicted).all() and predicted.min() >= 0 and predicted.max() <= 400
