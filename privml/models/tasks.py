"""What a model predicts: a class of two (binary), a class of several (multiclass) or a number (regression).

The task is decided once, by Train, from the label column of the (anonymized) train split, unless the
run forces it (`privml run --task`, the pipeline's `Task` parameter, the `task` hyperparameter):

- a label whose every value is a number and which has more than REGRESSION_MIN_DISTINCT distinct
  values is a regression target (scikit-learn's diabetes `target`: 214 distinct values in 442 rows);
- otherwise it is a classification label: binary with two distinct values, multiclass with more
  (a numeric code of at most REGRESSION_MIN_DISTINCT values, such as a 1-5 rating, stays classes).

A forced task is checked against the label: regression needs numbers, binary exactly two classes,
multiclass at least three. Every error names the column and rows, never a value (invariant 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from privml.errors import PrivmlError
from privml.models.features import numeric_view

TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION = ("binary", "multiclass")
# More distinct numeric values than this: a quantity, not a set of classes.
REGRESSION_MIN_DISTINCT = 20


@dataclass(frozen=True)
class TaskChoice:
    task: str
    reason: str  # why, for the run output: "label 'target' is numeric with 214 distinct values"

    def line(self) -> str:
        return f"task: {self.task} ({self.reason})"


def check_task_name(requested: str | None) -> str | None:
    """A requested task (None or empty: infer it from the label), or PrivmlError for an unknown one."""
    if requested is None or not str(requested).strip():
        return None
    name = str(requested).strip().lower()
    if name not in TASKS:
        raise PrivmlError(f"task '{requested}': unknown (known: {', '.join(TASKS)}; empty = from the label)")
    return name


def is_classification(task: str) -> bool:
    return task in CLASSIFICATION


def choose_task(requested: str | None, y: pd.Series, column: str) -> TaskChoice:
    """The task for label column `column` with values `y` (see the module docstring), and why."""
    forced = check_task_name(requested)
    present = y.dropna()
    if present.empty:
        raise PrivmlError(f"label column '{column}' has no values")
    numbers = numeric_view(present)
    numeric = not numbers.isna().any()
    distinct = int(numbers.nunique()) if numeric else int(present.astype(str).nunique())
    if distinct < 2:
        raise PrivmlError(f"label column '{column}' is constant (one distinct value in {len(present)} rows): "
                          "there is nothing to learn")
    kind = "numeric" if numeric else "not numeric"
    if forced is None:
        if numeric and distinct > REGRESSION_MIN_DISTINCT:
            return TaskChoice("regression", f"label '{column}' is numeric with {distinct} distinct values")
        task = "binary" if distinct == 2 else "multiclass"
        why = (f"label '{column}' has {distinct} distinct values" if not numeric or distinct == 2 else
               f"label '{column}' is numeric with {distinct} distinct values, at most {REGRESSION_MIN_DISTINCT}")
        return TaskChoice(task, why)
    if forced == "regression" and not numeric:
        rows = np.flatnonzero((numeric_view(y).isna() & y.notna()).to_numpy())
        raise PrivmlError(f"task regression: label column '{column}' is not numeric: {len(rows)} of {len(y)} "
                          f"row(s) are not numbers (first: row {rows[0] + 1})")
    if forced == "binary" and distinct != 2:
        raise PrivmlError(f"task binary: label column '{column}' has {distinct} distinct values, not 2 "
                          "(use task multiclass or regression)")
    if forced == "multiclass" and distinct < 3:
        raise PrivmlError(f"task multiclass: label column '{column}' has 2 distinct values (use task binary)")
    return TaskChoice(forced, f"forced by the Task parameter; label '{column}' is {kind} with {distinct} "
                              "distinct values")


def looks_like_regression(y: pd.Series) -> bool:
    """The inference rule alone, without raising: every present value a number, more than
    REGRESSION_MIN_DISTINCT distinct ones (Anonymize's split stratifies such a label by its deciles)."""
    present = y.dropna()
    numbers = numeric_view(present)
    return bool(len(present)) and not numbers.isna().any() and int(numbers.nunique()) > REGRESSION_MIN_DISTINCT


def resolve_task(requested: str | None, y: pd.Series, column: str) -> str:
    """The task name only (the seam the other modules use); raises PrivmlError (exit 2) on bad input."""
    return choose_task(requested, y, column).task


def task_of_metadata(metadata: dict) -> str:
    """A model's task from its metadata.json; a model saved before tasks existed is a classifier."""
    task = metadata.get("task")
    if task in TASKS:
        return str(task)
    return "binary" if len(metadata.get("classes") or []) == 2 else "multiclass"
