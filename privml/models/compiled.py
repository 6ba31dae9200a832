"""Compiled serving path for the classifiers privml trains: the same probabilities, without the per-call cost.

`HistGradientBoostingClassifier.predict_proba` on a handful of rows spends milliseconds in input validation
and a Python loop over its per-iteration tree predictors. `compile_classifier` flattens the fitted model
once into read-only numpy arrays and predicts every tree at once, in vectorized steps:

* the per-node choices sklearn makes at predict time (NaN → `missing_go_to_left`; a threshold of +inf
  splitting "present" from "missing"; categorical bitsets) are folded into a widened input `z`, built
  once per call, so that every split is the same test `z[col] > thr` (true → right child):
  X with NaN → +inf (NaN goes right), X with NaN → -inf (NaN goes left), isnan(X) (present vs missing),
  and one 0/1 column per categorical split (looked up from the category's ordinal code);
* up to FEW_ROWS rows, one row at a time: nodes are grouped by the z column they read, so all splits'
  outcomes are one np.repeat of z and one compare; then `max depth` gathers of "successor of node"
  walk all trees (a leaf is its own successor);
* more rows: nodes renumbered so that a right child is its left child + 1, and all (tree, row) pairs
  descend together, `node = left[node] + (z[col[node]] > thr[node])`, one step per depth level (deepest
  trees first, so a step touches only trees still descending), in chunks of CHUNK_ROWS rows;
* leaf values are summed in sklearn's order (baseline, then iteration 0, 1, …) with a sequential
  accumulate, so raw predictions are bit-identical to sklearn's, and the link (expit / softmax) is
  computed as sklearn computes it.

Anything else (diffprivlib models, subclasses, other losses, an unverified scikit-learn version, string
categories, a NaN threshold) compiles to None: the caller keeps using the estimator. A compiled model
copies what it needs (no reference into the estimator), its arrays are read-only and calls mutate
nothing shared, so concurrent calls are safe. It is built in memory at serving time and refuses pickling.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import Any, NamedTuple

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from privml.errors import PrivmlError

# The HGB internals read below (_predictors, TreePredictor.nodes' record dtype, _baseline_prediction,
# _loss, _preprocessor, _bin_mapper) were checked against these scikit-learn releases only.
VERIFIED_SKLEARN = ("1.7",)
# Up to FEW_ROWS rows, evaluating every node once per row beats descending level by level; above it, rows
# are predicted in chunks that keep the level-by-level temporaries in cache (measured on 200 trees).
FEW_ROWS = 4
CHUNK_ROWS = 128
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "depth",
                "is_leaf", "is_categorical", "bitset_idx")


def sklearn_verified(version: str = sklearn.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in VERIFIED_SKLEARN


def _frozen(array: Any, dtype: Any = None) -> np.ndarray:
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


def _binary_proba(raw: np.ndarray) -> np.ndarray:
    # HalfBinomialLoss.predict_proba
    proba = np.empty((raw.shape[0], 2), dtype=raw.dtype)
    proba[:, 1] = expit(raw)
    proba[:, 0] = 1 - proba[:, 1]
    return proba


def _softmax(raw: np.ndarray) -> np.ndarray:
    # sklearn.utils.extmath.softmax, operation for operation
    out = np.array(raw, dtype=raw.dtype, copy=True)
    out -= out.max(axis=1).reshape(-1, 1)
    np.exp(out, out=out)
    out /= out.sum(axis=1).reshape(-1, 1)
    return out


# ---------------------------------------------------------------- logistic regression


class _CompiledLogistic(CompiledClassifier):
    __slots__ = ("_coef_t", "_intercept", "_ovr")

    def __init__(self, clf: LogisticRegression) -> None:
        classes = clf.classes_
        ovr = clf.multi_class in ("ovr", "warn") or (
            clf.multi_class in ("auto", "deprecated") and (classes.size <= 2 or clf.solver == "liblinear")
        )
        self.classes_ = _frozen(classes)
        self.n_features_in_ = int(clf.coef_.shape[1])
        self._coef_t = _frozen(np.asarray(clf.coef_, dtype=np.float64).T)
        self._intercept = _frozen(np.asarray(clf.intercept_, dtype=np.float64))
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
        return _softmax(np.c_[-decision, decision] if decision.ndim == 1 else decision)


# ---------------------------------------------------------------- histogram gradient boosting


class _Unsupported(Exception):
    """This fitted model uses something the compiled path does not reproduce exactly."""


class _CategoricalColumn(NamedTuple):
    """Ordinal codes of one raw categorical column → the 0/1 columns of the splits on it."""

    column: int  # in X
    categories: np.ndarray  # sorted, as the estimator's OrdinalEncoder learnt them (code = position)
    lut: np.ndarray  # (codes + 1 for missing/unknown, splits): 1.0 where the split sends the code right
    start: int  # first of its z columns


class _CompiledBoosting(CompiledClassifier):
    # Two layouts of the same nodes. A row at a time: nodes grouped by the z column they read, so every
    # node's comparison is one np.repeat of z and one vector compare, then pointer chasing (_g_*). Many rows:
    # children adjacent (right = left + 1), trees deepest first, one vectorized step per depth level.
    __slots__ = ("_baseline", "_categorical", "_col", "_depth_active", "_g_counts", "_g_leaf_next", "_g_left",
                 "_g_right", "_g_roots", "_g_thr", "_g_value", "_inverse_order", "_left", "_max_depth",
                 "_n_iter", "_n_trees_per_iter", "_roots", "_thr", "_value", "_width")

    def __init__(self, clf: Any) -> None:
        loss = type(clf._loss).__name__
        if loss not in ("HalfBinomialLoss", "HalfMultinomialLoss"):
            raise _Unsupported(f"loss {loss}")
        k = int(clf.n_trees_per_iteration_)
        predictors = clf._predictors
        if not predictors or any(len(it) != k for it in predictors):
            raise _Unsupported("predictor layout")
        d = int(clf.n_features_in_)
        feature_to_raw, cat_specs = _feature_layout(clf, d)

        trees = [p for it in predictors for p in it]  # tree t = iteration t // k, class t % k
        for p in trees:
            names = p.nodes.dtype.names or ()
            if any(f not in names for f in _NODE_FIELDS):
                raise _Unsupported("node record layout")
        known_bitsets, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()

        # The widened input: [NaN→+inf | NaN→-inf | isnan | one column per categorical split].
        cat_splits: dict[int, list[tuple[np.ndarray, int, int]]] = {}  # raw column → (go_right, tree, node)
        cols: list[np.ndarray] = []
        thrs: list[np.ndarray] = []
        lefts: list[np.ndarray] = []
        values: list[np.ndarray] = []
        depths: list[int] = []
        offset = 0
        for p in trees:
            order = _children_adjacent_order(p.nodes)
            nodes = p.nodes[order]
            new_id = np.empty(len(order), dtype=np.intp)
            new_id[order] = np.arange(len(order))
            n_nodes = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            left = np.where(leaf, np.arange(n_nodes), new_id[nodes["left"].astype(np.intp)]) + offset
            if not np.array_equal(new_id[nodes["right"][~leaf].astype(np.intp)], left[~leaf] - offset + 1):
                raise _Unsupported("tree layout")
            col = np.zeros(n_nodes, dtype=np.intp)
            thr = np.full(n_nodes, np.inf)  # a leaf: z > inf is never true, it stays put
            for i in np.flatnonzero(~leaf):
                node = nodes[i]
                raw = feature_to_raw[int(node["feature_idx"])]
                go_left_missing = bool(node["missing_go_to_left"])
                if node["is_categorical"]:
                    spec = cat_specs.get(raw)
                    if spec is None:
                        raise _Unsupported("categorical split on a numeric column")
                    go_right = _categorical_routing(
                        spec, p.raw_left_cat_bitsets[int(node["bitset_idx"])],
                        known_bitsets[int(f_idx_map[int(node["feature_idx"])])], go_left_missing)
                    cat_splits.setdefault(raw, []).append((go_right, len(cols), int(i)))
                    thr[i] = 0.5  # col is set below, once every categorical split is known
                    continue
                t = float(node["num_threshold"])
                if np.isnan(t):
                    raise _Unsupported("NaN threshold")
                if go_left_missing:
                    col[i], thr[i] = d + raw, t  # NaN read as -inf: always left
                elif t == np.inf:
                    col[i], thr[i] = 2 * d + raw, 0.5  # present (0) left, missing (1) right
                else:
                    col[i], thr[i] = raw, t  # NaN read as +inf: right (t < inf)
            cols.append(col)
            thrs.append(thr)
            lefts.append(left)
            values.append(np.where(leaf, nodes["value"], 0.0))
            depths.append(int(nodes["depth"].max()))
            offset += n_nodes

        # Each categorical column's splits get adjacent z columns, filled from one lookup table per column.
        width = 3 * d
        categorical = []
        for raw, splits in sorted(cat_splits.items()):
            for j, (_, tree, i) in enumerate(splits):
                cols[tree][i] = width + j
            lut = _frozen(np.column_stack([go_right for go_right, _, _ in splits]), np.float64)
            categorical.append(_CategoricalColumn(raw, _frozen(cat_specs[raw]), lut, width))
            width += len(splits)

        # Deepest trees first, so step s only touches the trees still descending.
        order = np.argsort(-np.asarray(depths), kind="stable")
        starts = np.cumsum([0] + [len(c) for c in cols])[:-1]
        max_depth = max(depths)
        sorted_depths = np.asarray(depths)[order]
        self._depth_active = tuple(int(np.count_nonzero(sorted_depths > s)) for s in range(max_depth))
        self._roots = _frozen(starts[order], np.intp)
        self._inverse_order = _frozen(np.argsort(order), np.intp)
        col, thr, left = np.concatenate(cols), np.concatenate(thrs), np.concatenate(lefts)
        value = np.concatenate(values)
        self._col, self._thr, self._left, self._value = _frozen(col), _frozen(thr), _frozen(left), _frozen(value)
        self._max_depth = max_depth

        split = np.flatnonzero(left != np.arange(len(left)))  # a leaf is its own successor
        split = split[np.argsort(col[split], kind="stable")]
        perm = np.concatenate((split, np.flatnonzero(left == np.arange(len(left)))))
        new_id = np.empty(len(perm), dtype=np.intp)
        new_id[perm] = np.arange(len(perm))
        self._g_counts = _frozen(np.bincount(col[split], minlength=width), np.intp)
        self._g_thr = _frozen(thr[split])
        self._g_left = _frozen(new_id[left[split]])
        self._g_right = _frozen(new_id[left[split] + 1])
        self._g_leaf_next = _frozen(np.arange(len(split), len(perm)), np.intp)
        self._g_roots = _frozen(new_id[starts], np.intp)  # sklearn's tree order
        self._g_value = _frozen(value[perm])
        self._width = width
        self._categorical = tuple(categorical)
        self._baseline = _frozen(np.asarray(clf._baseline_prediction, dtype=np.float64).reshape(k))
        self._n_iter = len(predictors)
        self._n_trees_per_iter = k
        self.classes_ = _frozen(clf.classes_)
        self.n_features_in_ = d

    def _widen(self, X: np.ndarray) -> np.ndarray:
        n, d = X.shape
        z = np.empty((n, self._width))
        missing = np.isnan(X)
        np.copyto(z[:, :d], X)
        np.copyto(z[:, d:2 * d], X)
        z[:, :d][missing] = np.inf
        z[:, d:2 * d][missing] = -np.inf
        z[:, 2 * d:3 * d] = missing
        for c in self._categorical:
            x = X[:, c.column]
            cats = c.categories
            pos = np.minimum(np.searchsorted(cats, x), len(cats) - 1)
            code = np.where(cats[pos] == x, pos, len(cats))  # unknown or NaN: the last LUT row
            z[:, c.start:c.start + c.lut.shape[1]] = c.lut[code]
        return z

    def decision_function(self, X: Any) -> np.ndarray:
        X = self._check(X)
        n = X.shape[0]
        if n <= FEW_ROWS:
            values = np.empty((n, len(self._g_roots)))
            for i, z in enumerate(self._widen(X)):
                values[i] = self._leaf_values_one(z)
        else:
            values = np.concatenate([self._leaf_values_many(self._widen(X[i:i + CHUNK_ROWS]))
                                     for i in range(0, n, CHUNK_ROWS)])
        k = self._n_trees_per_iter
        acc = np.empty((n, self._n_iter + 1, k))
        acc[:, 0, :] = self._baseline
        acc[:, 1:, :] = values.reshape(n, self._n_iter, k)
        # sklearn adds baseline, then each iteration's leaf value, in this order: same sums, same bits.
        raw = np.add.accumulate(acc, axis=1)[:, -1, :]
        return raw[:, 0] if k == 1 else raw

    def _proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        return _binary_proba(decision) if decision.ndim == 1 else _softmax(decision)

    def _leaf_values_one(self, z: np.ndarray) -> np.ndarray:
        """One row's leaf value per tree, in sklearn's tree order: every node's successor, then pointer chasing."""
        successor = np.concatenate((
            np.where(np.repeat(z, self._g_counts) > self._g_thr, self._g_right, self._g_left), self._g_leaf_next))
        node = self._g_roots
        for _ in range(self._max_depth):
            node = successor[node]
        return self._g_value[node]

    def _leaf_values_many(self, z: np.ndarray) -> np.ndarray:
        """(n, trees) leaf values: all rows descend together, one vectorized step per depth level."""
        n = z.shape[0]
        col, thr, left = self._col, self._thr, self._left
        # (tree, row) layout: the trees still descending at a step are a contiguous block of rows.
        zf = np.ascontiguousarray(z.T).ravel()
        col_offset = col * n
        rows = np.arange(n)
        node = np.repeat(self._roots[:, None], n, axis=1)
        for active in self._depth_active:
            current = node[:active]
            offset = col_offset.take(current)
            offset += rows
            step = left.take(current)
            step += zf.take(offset) > thr.take(current)
            node[:active] = step
        return self._value.take(node[self._inverse_order]).T


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
        raise _Unsupported("unreachable nodes")
    return np.asarray(order, dtype=np.intp)


def _feature_layout(clf: Any, d: int) -> tuple[list[int], dict[int, np.ndarray]]:
    """Tree feature index → raw column, and the categories (sorted floats) of each categorical raw column."""
    if clf.is_categorical_ is None:
        if clf._preprocessor is not None:
            raise _Unsupported("preprocessor without categorical features")
        return list(range(d)), {}
    mask = np.asarray(clf.is_categorical_, dtype=bool)
    pre = clf._preprocessor
    encoder = pre.named_transformers_["encoder"]
    categorical = np.flatnonzero(mask)
    # _preprocess_X's ColumnTransformer puts the encoded categorical columns first, then the numeric ones.
    layout = [*categorical.tolist(), *np.flatnonzero(~mask).tolist()]
    if (len(layout) != d or type(encoder).__name__ != "OrdinalEncoder"
            or not np.array_equal(np.flatnonzero(clf._is_categorical_remapped), np.arange(len(categorical)))
            or list(pre.output_indices_["encoder"].indices(d)[:2]) != [0, len(categorical)]):
        raise _Unsupported("categorical preprocessing layout")
    specs = {}
    for raw, cats in zip(categorical.tolist(), encoder.categories_, strict=True):
        if cats.dtype.kind != "f":
            raise _Unsupported("non-numeric categories")
        cats = np.asarray(cats, dtype=np.float64)
        cats = cats[~np.isnan(cats)]  # NaN (sorted last) is encoded as missing
        if len(cats) == 0 or np.any(np.diff(cats) <= 0):
            raise _Unsupported("categories")
        specs[raw] = cats
    return layout, specs


def _categorical_routing(categories: np.ndarray, left_bitset: np.ndarray, known_bitset: np.ndarray,
                         go_left_missing: bool) -> np.ndarray:
    """1.0 where a code goes right, per code 0..n-1 then one row for missing/unknown (_predictor.pyx)."""
    codes = np.arange(len(categories))
    in_left = (left_bitset[codes // 32] >> (codes % 32)) & 1
    known = (known_bitset[codes // 32] >> (codes % 32)) & 1
    missing_right = 0.0 if go_left_missing else 1.0
    right = np.where(in_left == 1, 0.0, np.where(known == 1, 1.0, missing_right))
    return np.append(right, missing_right)


# ---------------------------------------------------------------- entry point


def compile_classifier(clf: Any) -> CompiledClassifier | None:
    """A compiled copy of a fitted classifier's predict/predict_proba, or None where it is not supported.

    Supported: HistGradientBoostingClassifier (log loss; numeric features with missing values, numeric
    native categorical features) and LogisticRegression — exactly those classes, fitted, under a
    verified scikit-learn version. None means: keep calling the estimator.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not sklearn_verified():
        return None
    try:
        if type(clf) is LogisticRegression and hasattr(clf, "coef_"):
            return _CompiledLogistic(clf)
        if type(clf) is HistGradientBoostingClassifier and hasattr(clf, "_predictors"):
            return _CompiledBoosting(clf)
    except (_Unsupported, AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None
    return None
