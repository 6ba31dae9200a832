"""HistGradientBoostingClassifier, compiled: every tree at once, bit-identical to `predict_proba`; and
HistGradientBoostingRegressor (squared error: baseline + the sum of the trees, no link), bit-identical to
`predict` (`_CompiledBoostingRegressor`, over the same node tables).

Only the shape privml's training job fits is compiled (privml/models/estimators.py: log loss, numeric
features as the feature encoder writes them, at most 31 leaves per tree by default): numeric splits, with
missing values, on trees of up to 64 leaves. Anything else (categorical splits, bigger trees, other losses)
raises `Unsupported`, so `compile_classifier` returns None and the estimator itself serves; the served
model counts that (`privml.serving.model.ServedModel.classifier_fallback`).

Two tree loops, both over the same node tables:
* native: the C kernel (_trees.c), when the optional extension was built (the local install with a
  compiler, and the privml image, whose Dockerfile compiles and checks it);
* numpy: QuickScorer (quickscorer.py), by row up to BY_ROW_MAX_ROWS rows, bit-sliced beyond; the pure
  wheel shipped to the scikit-learn images serves with it.
"""

from __future__ import annotations

import importlib
from array import array
from collections import deque
from typing import Any

import numpy as np

from privml.models.compiled.base import (
    CompiledClassifier,
    CompiledRegressor,
    Unsupported,
    binary_proba,
    expit_one,
    frozen,
    softmax,
)
from privml.models.compiled.quickscorer import MAX_LEAVES, SLICE_ROWS, QuickScorer

try:  # the C tree loop (_trees.c), built at install time when a compiler is there
    _trees: Any = importlib.import_module("privml.models.compiled._trees")
except ImportError as exc:  # no compiler, or the pure wheel pipelines/packaging.py builds: the numpy path
    _trees = None
    NATIVE_UNAVAILABLE: str | None = f"privml.models.compiled._trees did not import: {exc}"
else:
    NATIVE_UNAVAILABLE = None

# Up to BY_ROW_MAX_ROWS rows, QuickScorer keeps one leaf bitvector per (row, tree); more rows are bit-sliced,
# one uint64 of row bits per test (SLICE_ROWS = 64 rows at a time). Measured on the endpoint model (200 trees,
# 31 leaves, 1 thread): by row ~10 µs/row flat, bit-sliced ~150 µs per chunk, the same at ~16 rows.
BY_ROW_MAX_ROWS = 16
NATIVE_MAX_NODES = 2**31 - 1  # the limits of _trees.prepare
NATIVE_MAX_FEATURES = 2**29
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "depth",
                "is_leaf", "is_categorical")


class _CompiledBoosting(CompiledClassifier):
    """The trees as flat node tables over a widened input z (see `_widen`): node i goes to
    `successor[i] + (z[column[i]] > threshold[i])`, a leaf being its own successor; trees are contiguous
    node ranges starting at `roots`."""

    __slots__ = ("_baseline", "_column", "_n_iterations", "_n_trees_per_iteration", "_native", "_quickscorer",
                 "_successor", "_threshold", "_value")

    def __init__(self, clf: Any, native: bool = True) -> None:
        """native=False: always the numpy path (tests, bench), even where the C kernel would serve."""
        loss = type(clf._loss).__name__
        if loss not in ("HalfBinomialLoss", "HalfMultinomialLoss", "HalfSquaredError"):
            raise Unsupported(f"loss {loss}")
        if clf.is_categorical_ is not None or clf._preprocessor is not None:
            raise Unsupported("categorical features")
        per_iteration = int(clf.n_trees_per_iteration_)
        predictors = clf._predictors
        if not predictors or any(len(it) != per_iteration for it in predictors):
            raise Unsupported("predictor layout")
        n_features = int(clf.n_features_in_)
        trees = [p for it in predictors for p in it]  # tree t = iteration t // k, class t % k
        for p in trees:
            names = p.nodes.dtype.names or ()
            if any(f not in names for f in _NODE_FIELDS):
                raise Unsupported("node record layout")
            if int(p.nodes["is_leaf"].sum()) > MAX_LEAVES:
                raise Unsupported(f"a tree of over {MAX_LEAVES} leaves")
            if p.nodes["is_categorical"].any():
                raise Unsupported("categorical splits")

        columns: list[np.ndarray] = []
        thresholds: list[np.ndarray] = []
        successors: list[np.ndarray] = []
        values: list[np.ndarray] = []
        offset = 0
        for p in trees:
            order = _children_adjacent_order(p.nodes)
            nodes = p.nodes[order]
            new_id = np.empty(len(order), dtype=np.intp)
            new_id[order] = np.arange(len(order))
            n_nodes = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            successor = np.where(leaf, np.arange(n_nodes), new_id[nodes["left"].astype(np.intp)]) + offset
            if not np.array_equal(new_id[nodes["right"][~leaf].astype(np.intp)], successor[~leaf] - offset + 1):
                raise Unsupported("tree layout")
            column = np.zeros(n_nodes, dtype=np.intp)
            threshold = np.full(n_nodes, np.inf)  # a leaf: z > inf is never true, it stays put
            for i in np.flatnonzero(~leaf):
                node = nodes[i]
                raw = int(node["feature_idx"])
                t = float(node["num_threshold"])
                if np.isnan(t):
                    raise Unsupported("NaN threshold")
                if node["missing_go_to_left"]:
                    column[i], threshold[i] = n_features + raw, t  # NaN read as -inf: always left
                elif t == np.inf:
                    column[i], threshold[i] = 2 * n_features + raw, 0.5  # present (0) left, missing (1) right
                else:
                    column[i], threshold[i] = raw, t  # NaN read as +inf: right (t < inf)
            columns.append(column)
            thresholds.append(threshold)
            successors.append(successor)
            values.append(np.where(leaf, nodes["value"], 0.0))
            offset += n_nodes

        roots = np.cumsum([0] + [len(c) for c in columns])[:-1]
        self._column = frozen(np.concatenate(columns))
        self._threshold = frozen(np.concatenate(thresholds))
        self._successor = frozen(np.concatenate(successors))
        self._value = frozen(np.concatenate(values))
        self._quickscorer = QuickScorer.build(self._column, self._threshold, self._successor, self._value, roots)
        self._baseline = frozen(np.asarray(clf._baseline_prediction, dtype=np.float64).reshape(per_iteration))
        self._n_iterations = len(predictors)
        self._n_trees_per_iteration = per_iteration
        self._native = self._native_forest(roots, n_features) if native else None
        # a regressor has no classes: _CompiledBoostingRegressor reads decision_function only
        self.classes_ = frozen(getattr(clf, "classes_", ()))
        self.n_features_in_ = n_features

    def _native_forest(self, roots: np.ndarray, n_features: int) -> object | None:
        """The one place that picks the loop: the C kernel's forest, or None for the numpy path."""
        if _trees is None:
            return None
        if len(self._column) >= NATIVE_MAX_NODES or n_features >= NATIVE_MAX_FEATURES:  # int32 ids, 29-bit columns
            return None
        # prepare checks every index (a bad table raises ValueError, which compile_classifier turns into None)
        return _trees.prepare(self._column.astype(np.int64), self._threshold, self._successor.astype(np.int64),
                              self._value, np.asarray(roots, dtype=np.int64), self._baseline, n_features,
                              self._n_iterations, self._n_trees_per_iteration)

    @property
    def path(self) -> str:
        """Which tree loop decision_function runs: "native" (the C kernel) or "numpy"."""
        return "native" if self._native is not None else "numpy"

    def _widen(self, X: np.ndarray) -> np.ndarray:
        """z = [X with NaN as +inf | X with NaN as -inf | isnan(X)]: sklearn's per-node missing-value
        choices folded into the input, so every split is the same test z[column] > threshold."""
        n, d = X.shape
        z = np.empty((n, 3 * d))
        missing = np.isnan(X)
        np.copyto(z[:, :d], X)
        np.copyto(z[:, d:2 * d], X)
        z[:, :d][missing] = np.inf
        z[:, d:2 * d][missing] = -np.inf
        z[:, 2 * d:] = missing
        return z

    def decision_function(self, X: Any) -> np.ndarray:
        X = self._check(X)
        n = X.shape[0]
        per_iteration = self._n_trees_per_iteration
        if self._native is not None:
            raw = np.empty((n, per_iteration))
            _trees.raw_scores(self._native, np.ascontiguousarray(X), raw)
            return raw[:, 0] if per_iteration == 1 else raw
        if n <= BY_ROW_MAX_ROWS:
            values = self._quickscorer.leaf_values_by_row(self._widen(X))
        else:
            values = np.concatenate([self._quickscorer.leaf_values_sliced(self._widen(X[i:i + SLICE_ROWS]))
                                     for i in range(0, n, SLICE_ROWS)])
        acc = np.empty((n, self._n_iterations + 1, per_iteration))
        acc[:, 0, :] = self._baseline
        acc[:, 1:, :] = values.reshape(n, self._n_iterations, per_iteration)
        # sklearn adds baseline, then each iteration's leaf value, in this order: same sums, same bits.
        raw = np.add.accumulate(acc, axis=1)[:, -1, :]
        return raw[:, 0] if per_iteration == 1 else raw

    def _proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        return binary_proba(decision) if decision.ndim == 1 else softmax(decision)

    def raw_one(self, x: list[float]) -> float | None:
        """One row's raw score by the C kernel without numpy (one tree per iteration only), else None."""
        if self._native is None or self._n_trees_per_iteration != 1 or len(x) != self.n_features_in_:
            return None
        # the kernel takes any 2-d float64 buffer: stdlib arrays cost less than numpy's for one row
        features = memoryview(array("d", x)).cast("B").cast("d", (1, len(x)))
        out = array("d", (0.0,))
        _trees.raw_scores(self._native, features, memoryview(out).cast("B").cast("d", (1, 1)))
        return out[0]

    def predict_proba_one(self, x: list[float]) -> list[float]:
        raw = self.raw_one(x)
        if raw is None:
            return super().predict_proba_one(x)
        p1 = expit_one(raw)
        return [1.0 - p1, p1]  # HalfBinomialLoss.predict_proba, as binary_proba computes it


class _CompiledBoostingRegressor(CompiledRegressor):
    """HistGradientBoostingRegressor with squared error: `predict` is the raw score (identity link)."""

    __slots__ = ("_trees", "n_features_in_")

    def __init__(self, reg: Any, native: bool = True) -> None:
        if type(reg._loss).__name__ != "HalfSquaredError":
            raise Unsupported(f"loss {type(reg._loss).__name__}")
        self._trees = _CompiledBoosting(reg, native=native)
        self.n_features_in_ = self._trees.n_features_in_

    @property
    def path(self) -> str:
        return self._trees.path

    def predict(self, X: Any) -> np.ndarray:
        return self._trees.decision_function(X)

    def predict_one(self, x: list[float]) -> float:
        raw = self._trees.raw_one(x)
        return float(self.predict(np.array([x], dtype=np.float64))[0]) if raw is None else raw

    def __reduce__(self) -> Any:
        raise TypeError("a compiled model is built from the loaded estimator at serving time, never saved")


def _children_adjacent_order(nodes: np.ndarray) -> np.ndarray:
    """Old node ids in a breadth-first order where every split's right child follows its left child."""
    order = [0]
    queue = deque([0])
    while queue:
        i = queue.popleft()
        if not nodes[i]["is_leaf"]:
            pair = (int(nodes[i]["left"]), int(nodes[i]["right"]))
            order.extend(pair)
            queue.extend(pair)
    if len(order) != len(nodes):
        raise Unsupported("unreachable nodes")
    return np.asarray(order, dtype=np.intp)
