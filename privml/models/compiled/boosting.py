"""HistGradientBoostingClassifier, compiled: every tree at once, bit-identical to `predict_proba`."""

from __future__ import annotations

import importlib
from array import array
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from privml.models.compiled.base import (
    CompiledClassifier,
    Unsupported,
    binary_proba,
    expit_one,
    frozen,
    softmax,
)
from privml.models.compiled.quickscorer import SLICE_ROWS, _QuickScorer

try:  # the C tree loop (_trees.c), built at install time when a compiler is there
    _trees: Any = importlib.import_module("privml.models.compiled._trees")
except ImportError as exc:  # no compiler, or the pure wheel pipelines/packaging.py builds: the numpy paths
    _trees = None
    NATIVE_UNAVAILABLE: str | None = f"privml.models.compiled._trees did not import: {exc}"
else:
    NATIVE_UNAVAILABLE = None

# Trees of up to 64 leaves (QuickScorer): up to QS_ROWS rows, one leaf bitvector per (row, tree); more
# rows, bit-sliced, one uint64 of row bits per test (so SLICE_ROWS = 64 rows at a time). Trees with more
# leaves: up to FEW_ROWS rows, every node evaluated once per row; more, all rows descend level by level in
# chunks of CHUNK_ROWS rows. QS_ROWS measured on the endpoint model (200 trees, 31 leaves, 1 thread): by row
# and bit-sliced cost the same at ~16 rows (by row ~10 µs/row flat; bit-sliced ~150 µs per chunk, then less).
QS_ROWS = 16
FEW_ROWS = 4
CHUNK_ROWS = 128
NATIVE_MAX_NODES = 2**31 - 1  # the limits of _trees.prepare
NATIVE_MAX_FEATURES = 2**29
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "depth",
                "is_leaf", "is_categorical", "bitset_idx")


class _CategoricalColumn(NamedTuple):
    """Ordinal codes of one raw categorical column → the 0/1 columns of the splits on it."""

    column: int  # in X
    categories: np.ndarray  # sorted, as the estimator's OrdinalEncoder learnt them (code = position)
    lut: np.ndarray  # (codes + 1 for missing/unknown, splits): 1.0 where the split sends the code right
    start: int  # first of its z columns


class _CompiledBoosting(CompiledClassifier):
    # _qs: QuickScorer tables, None if a tree has over 64 leaves; then two layouts of the same nodes. A row
    # at a time: nodes grouped by the z column they read, so every node's comparison is one np.repeat of z
    # and one vector compare, then pointer chasing (_g_*). Many rows: children adjacent (right = left + 1),
    # trees deepest first, one vectorized step per depth level.
    # _native: the C kernel's checked copy of col/thr/left/value (see _native_forest), None on the numpy paths.
    __slots__ = ("_baseline", "_categorical", "_col", "_depth_active", "_g_counts", "_g_leaf_next", "_g_left",
                 "_g_right", "_g_roots", "_g_thr", "_g_value", "_inverse_order", "_left", "_max_depth",
                 "_n_iter", "_n_trees_per_iter", "_native", "_qs", "_roots", "_thr", "_value", "_width")

    def __init__(self, clf: Any, native: bool = True) -> None:
        """native=False: always the numpy paths (tests, bench), even where the C kernel would serve."""
        loss = type(clf._loss).__name__
        if loss not in ("HalfBinomialLoss", "HalfMultinomialLoss"):
            raise Unsupported(f"loss {loss}")
        k = int(clf.n_trees_per_iteration_)
        predictors = clf._predictors
        if not predictors or any(len(it) != k for it in predictors):
            raise Unsupported("predictor layout")
        d = int(clf.n_features_in_)
        feature_to_raw, cat_specs = _feature_layout(clf, d)

        trees = [p for it in predictors for p in it]  # tree t = iteration t // k, class t % k
        for p in trees:
            names = p.nodes.dtype.names or ()
            if any(f not in names for f in _NODE_FIELDS):
                raise Unsupported("node record layout")
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
                raise Unsupported("tree layout")
            col = np.zeros(n_nodes, dtype=np.intp)
            thr = np.full(n_nodes, np.inf)  # a leaf: z > inf is never true, it stays put
            for i in np.flatnonzero(~leaf):
                node = nodes[i]
                raw = feature_to_raw[int(node["feature_idx"])]
                go_left_missing = bool(node["missing_go_to_left"])
                if node["is_categorical"]:
                    spec = cat_specs.get(raw)
                    if spec is None:
                        raise Unsupported("categorical split on a numeric column")
                    go_right = _categorical_routing(
                        spec, p.raw_left_cat_bitsets[int(node["bitset_idx"])],
                        known_bitsets[int(f_idx_map[int(node["feature_idx"])])], go_left_missing)
                    cat_splits.setdefault(raw, []).append((go_right, len(cols), int(i)))
                    thr[i] = 0.5  # col is set below, once every categorical split is known
                    continue
                t = float(node["num_threshold"])
                if np.isnan(t):
                    raise Unsupported("NaN threshold")
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
            lut = frozen(np.column_stack([go_right for go_right, _, _ in splits]), np.float64)
            categorical.append(_CategoricalColumn(raw, frozen(cat_specs[raw]), lut, width))
            width += len(splits)

        # Deepest trees first, so step s only touches the trees still descending.
        order = np.argsort(-np.asarray(depths), kind="stable")
        starts = np.cumsum([0] + [len(c) for c in cols])[:-1]
        max_depth = max(depths)
        sorted_depths = np.asarray(depths)[order]
        self._depth_active = tuple(int(np.count_nonzero(sorted_depths > s)) for s in range(max_depth))
        self._roots = frozen(starts[order], np.intp)
        self._inverse_order = frozen(np.argsort(order), np.intp)
        col, thr, left = np.concatenate(cols), np.concatenate(thrs), np.concatenate(lefts)
        value = np.concatenate(values)
        self._col, self._thr, self._left, self._value = frozen(col), frozen(thr), frozen(left), frozen(value)
        self._max_depth = max_depth

        split = np.flatnonzero(left != np.arange(len(left)))  # a leaf is its own successor
        split = split[np.argsort(col[split], kind="stable")]
        perm = np.concatenate((split, np.flatnonzero(left == np.arange(len(left)))))
        new_id = np.empty(len(perm), dtype=np.intp)
        new_id[perm] = np.arange(len(perm))
        self._g_counts = frozen(np.bincount(col[split], minlength=width), np.intp)
        self._g_thr = frozen(thr[split])
        self._g_left = frozen(new_id[left[split]])
        self._g_right = frozen(new_id[left[split] + 1])
        self._g_leaf_next = frozen(np.arange(len(split), len(perm)), np.intp)
        self._g_roots = frozen(new_id[starts], np.intp)  # sklearn's tree order
        self._g_value = frozen(value[perm])
        self._qs = _QuickScorer.build(col, thr, left, value, starts)
        self._width = width
        self._categorical = tuple(categorical)
        self._baseline = frozen(np.asarray(clf._baseline_prediction, dtype=np.float64).reshape(k))
        self._n_iter = len(predictors)
        self._n_trees_per_iter = k
        self._native = self._native_forest(starts, d) if native else None
        self.classes_ = frozen(clf.classes_)
        self.n_features_in_ = d

    def _native_forest(self, starts: np.ndarray, d: int) -> object | None:
        """The one place that picks the path: the C kernel's forest, or None for the numpy paths."""
        if _trees is None or self._categorical:  # categorical z columns come from lookup tables: numpy only
            return None
        if len(self._col) >= NATIVE_MAX_NODES or d >= NATIVE_MAX_FEATURES:  # its int32 node ids, 29-bit columns
            return None
        # prepare checks every index (a bad table raises ValueError, which compile_classifier turns into None)
        return _trees.prepare(self._col.astype(np.int64), self._thr, self._left.astype(np.int64), self._value,
                              np.asarray(starts, dtype=np.int64), self._baseline, d, self._n_iter,
                              self._n_trees_per_iter)

    @property
    def path(self) -> str:
        """Which tree loop decision_function runs: "native" (the C kernel) or "numpy"."""
        return "native" if self._native is not None else "numpy"

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
        k = self._n_trees_per_iter
        if self._native is not None:
            raw = np.empty((n, k))
            _trees.raw_scores(self._native, np.ascontiguousarray(X), raw)
            return raw[:, 0] if k == 1 else raw
        qs = self._qs
        if qs is not None and n <= QS_ROWS:
            values = qs.leaf_values_by_row(self._widen(X))
        elif qs is not None:
            values = np.concatenate([qs.leaf_values_sliced(self._widen(X[i:i + SLICE_ROWS]))
                                     for i in range(0, n, SLICE_ROWS)])
        elif n <= FEW_ROWS:
            values = np.empty((n, len(self._g_roots)))
            for i, z in enumerate(self._widen(X)):
                values[i] = self._leaf_values_one(z)
        else:
            values = np.concatenate([self._leaf_values_many(self._widen(X[i:i + CHUNK_ROWS]))
                                     for i in range(0, n, CHUNK_ROWS)])
        acc = np.empty((n, self._n_iter + 1, k))
        acc[:, 0, :] = self._baseline
        acc[:, 1:, :] = values.reshape(n, self._n_iter, k)
        # sklearn adds baseline, then each iteration's leaf value, in this order: same sums, same bits.
        raw = np.add.accumulate(acc, axis=1)[:, -1, :]
        return raw[:, 0] if k == 1 else raw

    def _proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        return binary_proba(decision) if decision.ndim == 1 else softmax(decision)

    def predict_proba_one(self, x: list[float]) -> list[float]:
        if self._native is None or self._n_trees_per_iter != 1 or len(x) != self.n_features_in_:
            return super().predict_proba_one(x)
        # the kernel takes any 2-d float64 buffer: stdlib arrays cost less than numpy's for one row
        features = memoryview(array("d", x)).cast("B").cast("d", (1, len(x)))
        out = array("d", (0.0,))
        _trees.raw_scores(self._native, features, memoryview(out).cast("B").cast("d", (1, 1)))
        p1 = expit_one(out[0])
        return [1.0 - p1, p1]  # HalfBinomialLoss.predict_proba, as binary_proba computes it

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
        raise Unsupported("unreachable nodes")
    return np.asarray(order, dtype=np.intp)


def _feature_layout(clf: Any, d: int) -> tuple[list[int], dict[int, np.ndarray]]:
    """Tree feature index → raw column, and the categories (sorted floats) of each categorical raw column."""
    if clf.is_categorical_ is None:
        if clf._preprocessor is not None:
            raise Unsupported("preprocessor without categorical features")
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
        raise Unsupported("categorical preprocessing layout")
    specs = {}
    for raw, cats in zip(categorical.tolist(), encoder.categories_, strict=True):
        if cats.dtype.kind != "f":
            raise Unsupported("non-numeric categories")
        cats = np.asarray(cats, dtype=np.float64)
        cats = cats[~np.isnan(cats)]  # NaN (sorted last) is encoded as missing
        if len(cats) == 0 or np.any(np.diff(cats) <= 0):
            raise Unsupported("categories")
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
