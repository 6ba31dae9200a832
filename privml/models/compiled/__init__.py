"""Compiled serving path for the classifiers privml trains: the same probabilities, without the per-call cost.

`HistGradientBoostingClassifier.predict_proba` on a handful of rows spends milliseconds in input validation
and a Python loop over its per-iteration tree predictors. `compile_classifier` flattens the fitted model
once into read-only node tables and predicts every tree at once (boosting.py: the C kernel `_trees` when
it is built, else QuickScorer in numpy, quickscorer.py); LogisticRegression is one matrix product
(linear.py). Probabilities are bit-identical to the estimator's: leaf values are summed in sklearn's
order and the links (expit, softmax) computed as sklearn computes them.

Only what privml trains is compiled: HistGradientBoostingClassifier with log loss on numeric features
(with missing values) and trees of up to 64 leaves, and LogisticRegression; exactly those classes, fitted,
under a verified scikit-learn version. Regressors (`compile_regressor`): HistGradientBoostingRegressor
with squared error (the same trees, baseline + sum, no link) and Ridge; diffprivlib's LinearRegression is
not compiled (it is a subclass) and its estimator serves. Anything else (diffprivlib models, subclasses,
categorical splits, bigger trees, other losses) compiles to None and the estimator serves;
`unsupported_reason` says why, for the served model's counters. A compiled model copies what it needs
(no reference into the estimator), its arrays are read-only and calls mutate nothing shared, so
concurrent calls are safe. It is built in memory at serving time and refuses pickling.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

import sklearn

from privml.models.compiled.base import CompiledClassifier, CompiledRegressor, Unsupported
from privml.models.compiled.boosting import BY_ROW_MAX_ROWS, _CompiledBoosting, _CompiledBoostingRegressor
from privml.models.compiled.linear import _CompiledLinearRegressor, _CompiledLogistic
from privml.models.compiled.quickscorer import MAX_LEAVES, SLICE_ROWS

__all__ = ["BY_ROW_MAX_ROWS", "MAX_LEAVES", "SLICE_ROWS", "CompiledClassifier", "CompiledRegressor",
           "compile_classifier", "compile_regressor", "sklearn_verified", "unsupported_reason"]

# The HGB internals `boosting.py` reads (_predictors, TreePredictor.nodes' record dtype,
# _baseline_prediction, _loss, _preprocessor, _bin_mapper) were checked against these releases only.
VERIFIED_SKLEARN = ("1.7",)


def sklearn_verified(version: str = sklearn.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in VERIFIED_SKLEARN


# Why compile_classifier returned None for a classifier it saw, for `unsupported_reason`.
_REASONS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def compile_classifier(clf: Any) -> CompiledClassifier | None:
    """A compiled copy of a fitted classifier's predict/predict_proba, or None where it is not supported
    (see the module docstring). None means: keep calling the estimator."""
    compiled, reason = _compile(clf)
    if reason is not None:
        with contextlib.suppress(TypeError):  # not weak-referenceable: nothing to remember it by
            _REASONS[clf] = reason
    return compiled


def compile_regressor(reg: Any) -> CompiledRegressor | None:
    """A compiled copy of a fitted regressor's predict, or None where it is not supported (the module
    docstring); None means: keep calling the estimator, and `unsupported_reason` says why."""
    compiled, reason = _compile_regressor(reg)
    if reason is not None:
        with contextlib.suppress(TypeError):
            _REASONS[reg] = reason
    return compiled


def _compile_regressor(reg: Any) -> tuple[CompiledRegressor | None, str | None]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    if not sklearn_verified():
        return None, f"scikit-learn {sklearn.__version__} is not a verified release"
    try:
        if type(reg) is Ridge and hasattr(reg, "coef_"):
            return _CompiledLinearRegressor(reg), None
        if type(reg) is HistGradientBoostingRegressor and hasattr(reg, "_predictors"):
            return _CompiledBoostingRegressor(reg), None
    except Unsupported as exc:
        return None, str(exc)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        return None, f"{type(reg).__name__}: {type(exc).__name__} while compiling"
    return None, f"{type(reg).__module__}.{type(reg).__name__} is not a compiled kind"


def unsupported_reason(clf: Any) -> str | None:
    """Why `compile_classifier(clf)` returned None (None when it compiled, or was never asked)."""
    try:
        return _REASONS.get(clf)
    except TypeError:
        return None


def _compile(clf: Any) -> tuple[CompiledClassifier | None, str | None]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if not sklearn_verified():
        return None, f"scikit-learn {sklearn.__version__} is not a verified release"
    try:
        if type(clf) is LogisticRegression and hasattr(clf, "coef_"):
            return _CompiledLogistic(clf), None
        if type(clf) is HistGradientBoostingClassifier and hasattr(clf, "_predictors"):
            return _CompiledBoosting(clf), None
    except Unsupported as exc:
        return None, str(exc)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        return None, f"{type(clf).__name__}: {type(exc).__name__} while compiling"
    return None, f"{type(clf).__module__}.{type(clf).__name__} is not a compiled kind"
