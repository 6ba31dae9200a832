"""What every compiled classifier is, and the links (expit, softmax) computed as scikit-learn computes them."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from scipy.special import expit

from privml.errors import PrivmlError


class Unsupported(Exception):
    """This fitted model uses something the compiled path does not reproduce exactly."""


def frozen(array: Any, dtype: Any = None) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


class CompiledClassifier(ABC):
    """A fitted classifier's prediction, precomputed: `predict_proba`, `predict`, `classes_`.

    Input: a float64 matrix (n, n_features_in_) — what the estimator itself was fit on.
    """

    __slots__ = ("classes_", "n_features_in_")
    classes_: np.ndarray
    n_features_in_: int

    def _check(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            got = X.shape[1] if X.ndim == 2 else f"{X.ndim}-d input"
            raise PrivmlError(f"the model expects a matrix with {self.n_features_in_} features, got {got}")
        return X

    @abstractmethod
    def decision_function(self, X: Any) -> np.ndarray:
        """Raw predictions, shape (n,) for two classes, else (n, n_classes)."""

    @abstractmethod
    def _proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        """The estimator's link applied to decision_function's output."""

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._proba_from_decision(self.decision_function(X))

    def predict_proba_one(self, x: list[float]) -> list[float]:
        """One row's probabilities from its features as a list: the same values as `predict_proba`. A request
        of one row is the common case, and numpy's per-call cost dominates it; subclasses avoid numpy."""
        return self.predict_proba(np.array([x], dtype=np.float64))[0].tolist()

    def predict(self, X: Any) -> np.ndarray:
        decision = self.decision_function(X)
        encoded = (decision > 0).astype(int) if decision.ndim == 1 else np.argmax(decision, axis=1)
        return self.classes_[encoded]

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> Any:
        raise TypeError("a compiled model is built from the loaded estimator at serving time, never saved")


class CompiledRegressor(ABC):
    """A fitted regressor's prediction, precomputed: `predict` (n,) and `predict_one` (a float), the
    estimator's own numbers. Input as for CompiledClassifier."""

    n_features_in_: int

    @abstractmethod
    def predict(self, X: Any) -> np.ndarray:
        """The estimator's predict(X)."""

    def predict_one(self, x: list[float]) -> float:
        return float(self.predict(np.array([x], dtype=np.float64))[0])


def binary_proba(raw: np.ndarray) -> np.ndarray:
    # HalfBinomialLoss.predict_proba
    proba = np.empty((raw.shape[0], 2), dtype=raw.dtype)
    proba[:, 1] = expit(raw)
    proba[:, 0] = 1 - proba[:, 1]
    return proba


def expit_one(raw: float) -> float:
    """scipy.special.expit for one float, bit for bit: 1 / (1 + exp(-x)), with the same libm exp (tests
    compare the two over a wide range)."""
    try:
        return 1.0 / (1.0 + math.exp(-raw))
    except OverflowError:  # exp(-x) beyond the float range: expit gives 0
        return 0.0


def softmax(raw: np.ndarray) -> np.ndarray:
    # sklearn.utils.extmath.softmax, operation for operation
    out = np.array(raw, dtype=raw.dtype, copy=True)
    out -= out.max(axis=1).reshape(-1, 1)
    np.exp(out, out=out)
    out /= out.sum(axis=1).reshape(-1, 1)
    return out
