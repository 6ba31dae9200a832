"""The compiled HGB scorer's C kernel (privml/models/compiled/_trees.c) and its numpy fallback, each bit for bit
against scikit-learn; and the kernel's refusal of tables it could read out of bounds."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.ensemble import HistGradientBoostingClassifier

from privml.models import compiled
from privml.models.compiled import boosting, compile_classifier
from privml.models.compiled.boosting import _CompiledBoosting

REPO = Path(__file__).resolve().parents[2]
native_built = pytest.mark.skipif(boosting._trees is None, reason=f"C kernel not built: {boosting.NATIVE_UNAVAILABLE}")
PATHS = [pytest.param(True, id="native", marks=native_built), pytest.param(False, id="numpy")]


def _rows(seed: int, n: int, d: int, missing: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100, size=d)
    X[rng.random(X.shape) < missing] = np.nan
    return X


def _fit(seed: int, n_classes: int, n: int = 900, d: int = 5, **params: object) -> HistGradientBoostingClassifier:
    X = _rows(seed, n, d, missing=0.2)
    signal = np.nan_to_num(X[:, 0] / np.nanstd(X[:, 0]), nan=1.5) + np.isnan(X[:, 1]) - np.nan_to_num(X[:, 2]) / 50
    y = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return HistGradientBoostingClassifier(random_state=seed, **params).fit(X, y)  # type: ignore[arg-type]


def _compiled(clf: HistGradientBoostingClassifier, native: bool) -> _CompiledBoosting:
    comp = _CompiledBoosting(clf, native=native)
    assert comp.path == ("native" if native else "numpy")
    return comp


def _assert_same(clf: HistGradientBoostingClassifier, comp: _CompiledBoosting, X: np.ndarray) -> None:
    np.testing.assert_array_equal(comp.decision_function(X), clf.decision_function(X))
    np.testing.assert_array_equal(comp.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(comp.predict(X), clf.predict(X))


@pytest.fixture(scope="module")
def models() -> dict[str, HistGradientBoostingClassifier]:
    return {
        "binary": _fit(0, 2, max_iter=40),
        "3-class": _fit(1, 3, max_iter=25, max_leaf_nodes=15),
        # trees of 64 leaves: the most the compiled model takes
        "big trees": _fit(2, 2, n=3000, max_iter=4, max_leaf_nodes=64, min_samples_leaf=3),
    }


def _split_kinds(clf: HistGradientBoostingClassifier) -> tuple[bool, bool, bool]:
    nodes = np.concatenate([p.nodes[p.nodes["is_leaf"] == 0] for it in clf._predictors for p in it])
    inf = np.isinf(nodes["num_threshold"])
    go_left = nodes["missing_go_to_left"].astype(bool)
    return bool(go_left.any()), bool((~go_left & ~inf).any()), bool(inf.any())


def test_models_cover_every_split_kind(models: dict[str, HistGradientBoostingClassifier]) -> None:
    # missing goes left (z column d + c), missing goes right (column c), threshold +inf (isnan column 2d + c)
    for clf in models.values():
        assert _split_kinds(clf) == (True, True, True)
    assert max(int(p.nodes["is_leaf"].sum()) for it in models["big trees"]._predictors for p in it) == 64


@pytest.mark.parametrize("native", PATHS)
@pytest.mark.parametrize("name", ["binary", "3-class", "big trees"])
def test_matches_sklearn_at_every_row_count(models: dict[str, HistGradientBoostingClassifier], name: str,
                                            native: bool) -> None:
    clf = models[name]
    comp = _compiled(clf, native)
    X = _rows(10, 259, clf.n_features_in_)
    X[::9, 0] = np.inf
    X[4::13, 1] = -np.inf
    X[5::17, 2] = -0.0
    sizes = {1, 4, 5, compiled.BY_ROW_MAX_ROWS, compiled.BY_ROW_MAX_ROWS + 1,
             compiled.SLICE_ROWS, compiled.SLICE_ROWS + 1, 129, 256, 257, len(X)}
    for n in sorted(sizes):
        _assert_same(clf, comp, X[:n])
    assert comp.predict_proba(np.empty((0, clf.n_features_in_))).shape == (0, len(clf.classes_))
    _assert_same(clf, comp, np.asfortranarray(X[:40]))  # any layout: the kernel gets a C-contiguous copy
    _assert_same(clf, comp, X[::3, :])


@pytest.mark.parametrize("native", PATHS)
@pytest.mark.parametrize("name", ["binary", "3-class", "big trees"])
def test_one_row_as_a_list_matches_sklearn(models: dict[str, HistGradientBoostingClassifier], name: str,
                                           native: bool) -> None:
    """predict_proba_one (the endpoint's one-row path: stdlib arrays and a Python link, or numpy) gives
    sklearn's probabilities bit for bit."""
    clf = models[name]
    comp = _compiled(clf, native)
    X = _rows(11, 60, clf.n_features_in_)
    X[::7, 1] = np.inf
    expected = clf.predict_proba(X)
    for x, want in zip(X, expected, strict=True):
        assert comp.predict_proba_one(x.tolist()) == clf.predict_proba(x[None, :])[0].tolist()
        np.testing.assert_array_equal(comp.predict_proba_one(x.tolist()), want)


@pytest.mark.parametrize("native", PATHS)
def test_all_missing_and_all_infinite_rows(models: dict[str, HistGradientBoostingClassifier], native: bool) -> None:
    for clf in models.values():
        d = clf.n_features_in_
        X = np.array([[np.nan] * d, [np.inf] * d, [-np.inf] * d, [1e308] * d, [-0.0] * d, [0.0] * d])
        _assert_same(clf, _compiled(clf, native), X)


@native_built
@settings(max_examples=60, deadline=None)
@given(X=arrays(np.float64, st.tuples(st.integers(1, 40), st.just(5)),
                elements=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-200, 200),
                                   st.just(np.nan))),
       name=st.sampled_from(["binary", "3-class"]))
def test_native_any_float_input_matches_sklearn(models: dict[str, HistGradientBoostingClassifier], X: np.ndarray,
                                                name: str) -> None:
    clf = models[name]
    _assert_same(clf, compile_classifier(clf), X)  # type: ignore[arg-type]


@native_built
def test_compile_classifier_picks_native(models: dict[str, HistGradientBoostingClassifier],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for clf in models.values():
        assert compile_classifier(clf).path == "native"  # type: ignore[union-attr]
    # tables over the kernel's int32 limits stay on numpy
    monkeypatch.setattr(boosting, "NATIVE_MAX_NODES", 10)
    assert compile_classifier(models["binary"]).path == "numpy"  # type: ignore[union-attr]


def test_without_the_extension_compile_classifier_uses_numpy(models: dict[str, HistGradientBoostingClassifier],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boosting, "_trees", None)
    clf = models["3-class"]
    comp = compile_classifier(clf)
    assert comp.path == "numpy"  # type: ignore[union-attr]
    _assert_same(clf, comp, _rows(11, 70, 5))  # type: ignore[arg-type]


# --- the kernel on its own: tables it must refuse, and agreement with a reference walk on those it accepts ---


def _reference(col: np.ndarray, thr: np.ndarray, left: np.ndarray, value: np.ndarray, roots: np.ndarray,
               baseline: np.ndarray, k: int, X: np.ndarray) -> np.ndarray:
    """The docstring semantics, in Python: widened z, `left + (z[col] > thr)` until a node is its own successor."""
    missing = np.isnan(X)
    z = np.hstack((np.where(missing, np.inf, X), np.where(missing, -np.inf, X), missing.astype(float)))
    out = np.zeros((len(X), k)) + baseline
    for r in range(len(X)):
        for t, node in enumerate(roots.tolist()):
            while left[node] != node:
                node = int(left[node]) + int(z[r, col[node]] > thr[node])
            out[r, t % k] += value[node]
    return out


def _table(d: int = 2) -> dict:
    """Two trees (k = 1): a stump on z column 0, and a depth-2 tree on the isnan and the NaN→-inf columns."""
    return {
        "col": np.array([0, 0, 0, 2 * d + 1, d + 1, 0, 0, 0, 0], dtype=np.int64),
        "thr": np.array([0.5, 0, 0, 0.5, -1.0, 0, 0, 0, 0]),
        "left": np.array([1, 1, 2, 4, 6, 5, 6, 7, 8], dtype=np.int64),
        "value": np.array([0, -1.0, 1.0, 0, 0, 0.25, -0.5, 0.75, -0.125]),
        "roots": np.array([0, 3], dtype=np.int64),
        "baseline": np.array([0.1]),
        "d": d, "n_iter": 2, "k": 1,
    }


def _prepare(t: dict) -> object:
    return boosting._trees.prepare(t["col"], t["thr"], t["left"], t["value"], t["roots"], t["baseline"],
                                   t["d"], t["n_iter"], t["k"])


@native_built
def test_kernel_on_a_hand_written_table() -> None:
    t = _table()
    forest = _prepare(t)
    X = np.array([[0.0, 1.0], [1.0, np.nan], [np.nan, -2.0], [np.inf, -np.inf], [-np.inf, np.inf]])
    out = np.full((len(X), 1), np.nan)
    boosting._trees.raw_scores(forest, X, out)
    np.testing.assert_array_equal(out, _reference(**{k: v for k, v in t.items() if k not in ("d", "n_iter")}, X=X))
    # NaN in column 0 (read as +inf) goes right; column 1: NaN right at the isnan test, else by x > -1
    np.testing.assert_array_equal(out[:, 0], [0.1 - 1 + 0.75, 0.1 + 1 + 0.25, 0.1 + 1 - 0.5, 0.1 + 1 - 0.5,
                                              0.1 - 1 + 0.75])


_BAD = {
    "column past 3d": ("col", 3, 6),
    "negative column": ("col", 0, -1),
    "child before its parent (a cycle)": ("left", 4, 3),
    "child pointing at a smaller id": ("left", 3, 0),
    "right child past the end": ("left", 4, 8),
    "left child past the end": ("left", 4, 9),
    "negative child": ("left", 0, -2),
    "root past the end": ("roots", 1, 9),
    "negative root": ("roots", 0, -1),
}


@native_built
@pytest.mark.parametrize("case", list(_BAD))
def test_kernel_rejects_out_of_range_indices(case: str) -> None:
    field, at, bad = _BAD[case]
    t = _table()
    t[field] = t[field].copy()
    t[field][at] = bad
    with pytest.raises(ValueError, match="out of range"):
        _prepare(t)


@native_built
@pytest.mark.parametrize(("change", "message"), [
    ({"col": np.zeros(8, dtype=np.int64)}, "differ in length"),
    ({"value": np.zeros(10)}, "differ in length"),
    ({"col": np.zeros(9, dtype=np.int32)}, "col: expected a C-contiguous 1-d array of int64"),
    ({"left": np.arange(18, dtype=np.int64)[::2]}, "not C-contiguous|C-contiguous"),
    ({"thr": np.zeros(9, dtype=np.float32)}, "thr: expected .* float64"),
    ({"thr": np.zeros((9, 1))}, "thr: expected a C-contiguous 1-d"),
    ({"roots": np.zeros(3, dtype=np.int64)}, "do not fit"),
    ({"baseline": np.zeros(2)}, "do not fit"),
    ({"d": 0}, "do not fit"),
    ({"d": 1 << 29}, "do not fit"),
    ({"k": 0}, "do not fit"),
    ({"n_iter": -1}, "do not fit"),
    ({"col": np.zeros(0, dtype=np.int64), "thr": np.zeros(0), "left": np.zeros(0, dtype=np.int64),
      "value": np.zeros(0)}, "do not fit"),
])
def test_kernel_rejects_malformed_tables(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _prepare({**_table(), **change})


@native_built
def test_kernel_rejects_bad_inputs_and_outputs() -> None:
    trees = boosting._trees
    forest = _prepare(_table())
    X = np.zeros((3, 2))
    out = np.zeros((3, 1))
    for bad_X in (np.zeros((3, 3)), np.zeros(2), np.zeros((3, 2), dtype=np.float32), np.zeros((2, 6))[:, ::3]):
        with pytest.raises(ValueError):
            trees.raw_scores(forest, bad_X, out)
    read_only = np.zeros((3, 1))
    read_only.setflags(write=False)
    for bad_out in (np.zeros((2, 1)), np.zeros((3, 2)), np.zeros(3), np.zeros((3, 1), dtype=np.int64)):
        with pytest.raises(ValueError):
            trees.raw_scores(forest, X, bad_out)
    with pytest.raises((ValueError, BufferError)):
        trees.raw_scores(forest, X, read_only)
    with pytest.raises(TypeError):
        trees.raw_scores(forest, [[0.0, 0.0]], out)  # not a buffer
    capsule_new = ctypes.pythonapi.PyCapsule_New
    capsule_new.restype, capsule_new.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    other_capsule = capsule_new(X.ctypes.data, b"not.a.Forest", None)
    for not_a_forest in (None, X, other_capsule):
        with pytest.raises((TypeError, ValueError)):
            trees.raw_scores(not_a_forest, X, out)
    np.testing.assert_array_equal(out, 0.0)  # nothing written by a refused call


@native_built
@settings(max_examples=150, deadline=None)
@given(data=st.data(), n_nodes=st.integers(1, 30), d=st.integers(1, 3), k=st.integers(1, 2))
def test_kernel_random_tables_are_refused_or_read_right(data: st.DataObject, n_nodes: int, d: int, k: int) -> None:
    # Any table: prepare either refuses it, or it is a valid forest and raw_scores equals the reference walk.
    # a valid forest (children after parents, columns < 3d), then maybe one entry set to anything
    col = np.array(data.draw(st.lists(st.integers(0, 3 * d - 1), min_size=n_nodes, max_size=n_nodes)), np.int64)
    left = np.array([data.draw(st.one_of(st.just(i), st.integers(i + 1, n_nodes - 2)) if i + 1 <= n_nodes - 2
                               else st.just(i)) for i in range(n_nodes)], np.int64)
    thr = np.array(data.draw(st.lists(st.floats(allow_nan=True), min_size=n_nodes, max_size=n_nodes)))
    n_iter = data.draw(st.integers(0, 20))  # up to 40 trees: full groups of 16 and a partial one
    roots = np.array(data.draw(st.lists(st.integers(0, n_nodes - 1), min_size=n_iter * k, max_size=n_iter * k)),
                     np.int64)
    if data.draw(st.booleans()):
        field = data.draw(st.sampled_from([a for a in (col, left, roots) if len(a)]))
        field[data.draw(st.integers(0, len(field) - 1))] = data.draw(st.integers(-2, max(n_nodes, 3 * d) + 2))
    t = {"col": col, "thr": thr, "left": left, "value": np.arange(n_nodes) / 8 - 0.5, "roots": roots,
         "baseline": np.linspace(-1, 1, k), "d": d, "n_iter": n_iter, "k": k}
    is_leaf = left == np.arange(n_nodes)
    valid = (bool(np.all(is_leaf | ((left > np.arange(n_nodes)) & (left + 1 < n_nodes) & (col >= 0) & (col < 3 * d))))
             and bool(np.all((roots >= 0) & (roots < n_nodes))))
    if not valid:
        with pytest.raises(ValueError, match="out of range"):
            _prepare(t)
        return
    forest = _prepare(t)
    X = data.draw(arrays(np.float64, (3, d), elements=st.floats(allow_nan=True, allow_infinity=True)))
    out = np.empty((3, k))
    boosting._trees.raw_scores(forest, X, out)
    expected = _reference(col, thr, left, t["value"], roots, t["baseline"], k, X)
    np.testing.assert_array_equal(out, expected)


# --- the pure wheel pipelines/packaging.py builds for SageMaker: no C, no .so, the numpy path ---


def test_shipped_wheel_has_no_native_files_and_scores_with_numpy(tmp_path: Path) -> None:
    from pipelines.packaging import build_privml_wheel

    wheel = build_privml_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "privml/models/compiled/boosting.py" in names
        assert not [n for n in names if n.endswith((".so", ".c", ".pyd"))]
        zf.extractall(tmp_path / "site")
    # The wheel's privml first on the path (ahead of the editable install): the fallback serves.
    script = (
        "import numpy as np, privml\n"
        "from sklearn.ensemble import HistGradientBoostingClassifier\n"
        "from privml.models.compiled import boosting, compile_classifier\n"
        f"assert privml.__file__.startswith({str(tmp_path / 'site')!r}), privml.__file__\n"
        "assert boosting._trees is None and boosting.NATIVE_UNAVAILABLE\n"
        "rng = np.random.default_rng(0); X = rng.normal(size=(300, 3)); X[::5, 0] = np.nan\n"
        "clf = HistGradientBoostingClassifier(max_iter=10).fit(X, X[:, 1] > 0)\n"
        "comp = compile_classifier(clf)\n"
        "assert comp.path == 'numpy'\n"
        "assert np.array_equal(comp.predict_proba(X), clf.predict_proba(X))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]


def test_expit_one_is_scipys_expit_bit_for_bit() -> None:
    from scipy.special import expit

    from privml.models.compiled.base import expit_one

    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 3, 20_000), rng.normal(0, 300, 5_000),
                        [0.0, -0.0, 36.7, -36.7, 709.7, -709.7, 709.8, -709.8, 745.2, -745.2, 1e300, -1e300,
                         5e-324, -5e-324, np.inf, -np.inf]])
    assert [expit_one(float(v)) for v in x] == expit(x).tolist()
