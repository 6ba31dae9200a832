"""Compiled LogisticRegression: `privml.models.compiled.compile_classifier` builds it, same probabilities as
sklearn's predict_proba (LinearClassifierMixin.decision_function, then its one-vs-rest or softmax link).
Compiled Ridge: `compile_regressor`, the same numbers as LinearModel._decision_function (X @ coef_.T +
intercept_)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, Ridge

from privml.models.compiled.base import CompiledClassifier, CompiledRegressor, Unsupported, frozen, softmax


class _CompiledLogistic(CompiledClassifier):
    __slots__ = ("_coef_t", "_intercept", "_ovr")

    def __init__(self, clf: LogisticRegression) -> None:
        classes = clf.classes_
        ovr = clf.multi_class in ("ovr", "warn") or (
            clf.multi_class in ("auto", "deprecated") and (classes.size <= 2 or clf.solver == "liblinear")
        )
        self.classes_ = frozen(classes)
        self.n_features_in_ = int(clf.coef_.shape[1])
        self._coef_t = frozen(np.asarray(clf.coef_, dtype=np.float64).T)
        self._intercept = frozen(np.asarray(clf.intercept_, dtype=np.float64))
        self._ovr = bool(ovr)

    def decision_function(self, X: Any) -> np.ndarray:
        scores = self._check(X) @ self._coef_t + self._intercept
        return scores.reshape(-1) if scores.shape[1] == 1 else scores

    def _proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        if self._ovr:  # LinearClassifierMixin._predict_proba_lr
            prob = expit(decision)
            if prob.ndim == 1:
                return np.vstack([1 - prob, prob]).T
            prob /= prob.sum(axis=1).reshape((prob.shape[0], -1))
            return prob
        return softmax(np.c_[-decision, decision] if decision.ndim == 1 else decision)


class _CompiledLinearRegressor(CompiledRegressor):
    __slots__ = ("_coef_t", "_intercept", "n_features_in_")

    def __init__(self, reg: Ridge) -> None:
        coef = np.asarray(reg.coef_, dtype=np.float64)
        if coef.ndim != 1:
            raise Unsupported("a regressor of several targets")
        self.n_features_in_ = int(coef.shape[0])
        self._coef_t = frozen(coef.T)
        self._intercept = float(reg.intercept_)

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features")
        return X @ self._coef_t + self._intercept

    def __reduce__(self) -> Any:
        raise TypeError("a compiled model is built from the loaded estimator at serving time, never saved")
