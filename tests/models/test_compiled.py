"""The compiled serving path against scikit-learn's own predict_proba/predict, bit for bit where it can be."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from privml.errors import PrivmlError
from privml.models import compiled
from privml.models.compiled import CompiledClassifier, compile_classifier, sklearn_verified

TOL = {"rtol": 1e-12, "atol": 1e-12}


def _data(seed: int, n: int, d: int, n_classes: int, missing: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100, size=d)
    signal = np.nan_to_num(X[:, 0] / X[:, 0].std()) + np.nan_to_num(X[:, 1 % d] / X[:, 1 % d].std()) ** 2
    y = np.digitize(signal + rng.normal(scale=0.5, size=n), np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1]))
    X[rng.random(X.shape) < missing] = np.nan
    return X, np.asarray(["a", "b", "c", "d"])[y]


def _rows(seed: int, n: int, d: int, missing: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100, size=d)
    X[rng.random(X.shape) < missing] = np.nan
    return X


def _assert_same(clf: object, comp: CompiledClassifier | None, X: np.ndarray, exact: bool = True) -> None:
    """Same probabilities as the estimator: bit for bit (HGB), or within TOL (logistic regression's matmul)."""
    assert comp is not None
    expected = clf.predict_proba(X)  # type: ignore[attr-defined]
    got = comp.predict_proba(X)
    assert got.shape == expected.shape
    if exact:
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(comp.decision_function(X), clf.decision_function(X))  # type: ignore[attr-defined]
    else:
        assert_allclose(got, expected, **TOL)
    np.testing.assert_array_equal(comp.predict(X), clf.predict(X))  # type: ignore[attr-defined]


@pytest.mark.parametrize(("seed", "n", "d", "n_classes", "params"), [
    (0, 400, 5, 2, {"max_iter": 40}),
    (1, 600, 12, 3, {"max_iter": 30, "max_leaf_nodes": 15}),
    (2, 300, 1, 2, {"max_iter": 25, "max_depth": 3}),
    (3, 800, 8, 2, {"max_iter": 200, "early_stopping": True, "n_iter_no_change": 3, "validation_fraction": 0.2}),
    (4, 500, 6, 4, {"max_iter": 20, "learning_rate": 0.3, "l2_regularization": 1.0}),
])
def test_hgb_matches_sklearn(seed: int, n: int, d: int, n_classes: int, params: dict) -> None:
    X, y = _data(seed, n, d, n_classes)
    clf = HistGradientBoostingClassifier(random_state=seed, **params).fit(X, y)
    comp = compile_classifier(clf)
    assert comp is not None
    np.testing.assert_array_equal(comp.classes_, clf.classes_)
    X_test = _rows(seed + 100, 300, d)
    for rows in (X_test[:1], X_test[:2], X_test[:compiled.BY_ROW_MAX_ROWS + 1], X_test[:64], X_test):
        _assert_same(clf, comp, rows)
    # the raw sums are accumulated in sklearn's order: not just close, identical
    np.testing.assert_array_equal(comp.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(comp.decision_function(X_test), clf.decision_function(X_test))


def test_quickscorer_paths_agree_at_their_boundaries(binary_hgb: HistGradientBoostingClassifier,
                                                     multiclass_hgb: HistGradientBoostingClassifier) -> None:
    q, s = compiled.BY_ROW_MAX_ROWS, compiled.SLICE_ROWS
    for clf, d in ((binary_hgb, 4), (multiclass_hgb, 3)):
        comp = compile_classifier(clf)
        assert comp is not None
        qs = comp._quickscorer  # type: ignore[attr-defined]
        mirrored = (qs.sliced_value != qs.leaf_value).reshape(len(qs.leaf_base), -1).any(axis=1)
        assert mirrored.any() and not mirrored.all()  # the bit-sliced path reads both kinds of tree
        X = _rows(21, 3 * s + 5, d)
        X[::7, 0] = np.inf
        X[3::11, -1] = -np.inf
        for n in (1, q - 1, q, q + 1, s - 1, s, s + 1, 2 * s, 2 * s + 1, len(X)):
            _assert_same(clf, comp, X[:n])


def test_shapes_privml_never_trains_are_left_to_the_estimator() -> None:
    """Trees of over 64 leaves and categorical splits: the training job fits neither (31 leaves, features
    encoded as numbers), so the compiled path does not carry walks for them; compile_classifier gives None,
    says why, and the estimator serves."""
    X, y = _data(24, 3000, 5, 3, missing=0.05)
    big = HistGradientBoostingClassifier(max_iter=4, max_leaf_nodes=90, min_samples_leaf=5, random_state=0).fit(X, y)
    assert max(int(p.nodes["is_leaf"].sum()) for it in big._predictors for p in it) > 64
    assert compile_classifier(big) is None
    assert compiled.unsupported_reason(big) == "a tree of over 64 leaves"
    rng = np.random.default_rng(9)
    Xc = rng.normal(size=(400, 3))
    Xc[:, 1] = rng.integers(0, 6, 400)
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[1], random_state=0).fit(
        Xc, (Xc[:, 1] % 2 == 0).astype(int))
    assert compile_classifier(categorical) is None
    assert compiled.unsupported_reason(categorical) == "categorical features"
    fine = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    assert compile_classifier(fine) is not None and compiled.unsupported_reason(fine) is None


@pytest.mark.parametrize("max_leaves", [2, 8, 9, 16, 17, 33, 64])
def test_quickscorer_mask_widths(max_leaves: int) -> None:
    # masks are uint8/16/32/64 by the largest tree; exit-leaf indices are as wide as its leaf count needs
    X, y = _data(25, 2500, 4, 2, missing=0.1)
    clf = HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=max_leaves, min_samples_leaf=3,
                                         random_state=0).fit(X, y)
    leaves = max(int(p.nodes["is_leaf"].sum()) for it in clf._predictors for p in it)
    comp = compile_classifier(clf)
    assert comp is not None
    assert leaves == max_leaves
    quickscorer = comp._quickscorer  # type: ignore[attr-defined]
    assert np.iinfo(quickscorer.slot_mask.dtype).bits == max(8, 1 << (leaves - 1).bit_length())
    assert quickscorer.bits == (leaves - 1).bit_length()
    X_test = _rows(26, 150, 4)
    for n in (1, 7, compiled.BY_ROW_MAX_ROWS + 1, 64, 150):
        _assert_same(clf, comp, X_test[:n])


def _with_single_leaf_trees(clf: HistGradientBoostingClassifier, every: int) -> HistGradientBoostingClassifier:
    """The estimator with every `every`-th tree cut down to its root as a leaf (sklearn predicts with it too)."""
    for i, p in enumerate(p for it in clf._predictors for p in it):
        if i % every == 0:
            root = p.nodes[:1].copy()
            root["is_leaf"], root["value"], root["left"], root["right"] = 1, 0.125 * (i % 3 - 1), 0, 0
            p.nodes = root
    return clf


@pytest.mark.parametrize("n_classes", [2, 3])
def test_single_leaf_trees_among_others(n_classes: int) -> None:
    X, y = _data(27, 500, 4, n_classes)
    clf = _with_single_leaf_trees(HistGradientBoostingClassifier(max_iter=12, random_state=0).fit(X, y), 4)
    sizes = [len(p.nodes) for it in clf._predictors for p in it]
    assert 1 in sizes and max(sizes) > 1
    comp = compile_classifier(clf)
    assert comp is not None
    X_test = _rows(28, 140, 4)
    for n in (1, compiled.BY_ROW_MAX_ROWS + 1, 64, 140):
        _assert_same(clf, comp, X_test[:n])


def test_early_stopped_model_uses_its_own_iterations() -> None:
    X, y = _data(5, 600, 4, 2)
    clf = HistGradientBoostingClassifier(max_iter=300, early_stopping=True, n_iter_no_change=2,
                                         random_state=0).fit(X, y)
    assert clf.n_iter_ < 300
    _assert_same(clf, compile_classifier(clf), _rows(6, 200, 4))


@pytest.fixture(scope="module")
def binary_hgb() -> HistGradientBoostingClassifier:
    X, y = _data(7, 500, 4, 2)
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)


def test_trees_without_splits() -> None:
    X, y = _data(22, 60, 3, 2)
    clf = HistGradientBoostingClassifier(max_iter=5, min_samples_leaf=50, random_state=0).fit(X, y)
    assert all(len(p.nodes) == 1 for it in clf._predictors for p in it)
    X = _rows(23, 70, 3)
    for n in (1, compiled.BY_ROW_MAX_ROWS, compiled.BY_ROW_MAX_ROWS + 1, len(X)):  # by row and bit-sliced
        _assert_same(clf, compile_classifier(clf), X[:n])


def test_missing_and_infinite_values(binary_hgb: HistGradientBoostingClassifier) -> None:
    X = np.array([
        [np.nan] * 4,
        [np.inf, -np.inf, np.inf, -np.inf],
        [-np.inf, np.inf, np.nan, 0.0],
        [1e308, -1e308, 0.0, -0.0],
        [np.nan, 0.0, np.inf, np.nan],
    ])
    comp = compile_classifier(binary_hgb)
    _assert_same(binary_hgb, comp, X)
    _assert_same(binary_hgb, comp, np.tile(X, (compiled.SLICE_ROWS // 2, 1)))  # by row, bit-sliced, two chunks


def test_threshold_inf_splits_present_from_missing() -> None:
    # A feature that is informative only through being missing: sklearn splits it at +inf.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(600, 2))
    missing = rng.random(600) < 0.4
    X[missing, 0] = np.nan
    y = missing.astype(int)
    clf = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)
    thresholds = np.concatenate([p.nodes["num_threshold"][p.nodes["is_leaf"] == 0] for it in clf._predictors
                                 for p in it])
    assert np.isinf(thresholds).any()
    X_test = np.array([[np.inf, 0.0], [np.nan, 0.0], [-np.inf, 1.0], [0.5, np.nan]])
    _assert_same(clf, compile_classifier(clf), X_test)
    _assert_same(clf, compile_classifier(clf), np.tile(X_test, (10, 1)))


def test_string_categories_are_not_compiled() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": np.arange(40.0), "c": pd.Categorical(["u", "v"] * 20)})
    clf = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype").fit(frame, [0, 1] * 20)
    assert compile_classifier(clf) is None


@pytest.mark.parametrize(("n_classes", "params"), [
    (2, {}),
    (3, {}),
    pytest.param(3, {"solver": "liblinear"},  # one-vs-rest: expit, then normalized
                 marks=pytest.mark.filterwarnings("ignore:Using the 'liblinear' solver:FutureWarning")),
    (2, {"C": 0.01, "fit_intercept": False}),
])
def test_logistic_regression_matches_sklearn(n_classes: int, params: dict) -> None:
    X, y = _data(10 + n_classes, 400, 6, n_classes, missing=0.0)
    clf = LogisticRegression(max_iter=500, **params).fit(X, y)
    comp = compile_classifier(clf)
    X_test = _rows(20, 100, 6, missing=0.0)
    for rows in (X_test[:1], X_test):
        _assert_same(clf, comp, rows, exact=False)


def test_empty_and_single_row(binary_hgb: HistGradientBoostingClassifier) -> None:
    comp = compile_classifier(binary_hgb)
    assert comp is not None
    empty = np.empty((0, 4))
    assert comp.predict_proba(empty).shape == (0, 2)
    assert comp.predict(empty).shape == (0,)
    one = _rows(11, 1, 4)
    assert comp.predict_proba(one).shape == (1, 2)
    _assert_same(binary_hgb, comp, one)
    logreg = LogisticRegression().fit(*_data(12, 50, 4, 3, missing=0.0))
    assert compile_classifier(logreg).predict_proba(empty).shape == (0, 3)  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros((1, 5)), np.zeros(4), np.zeros((1, 2, 4))])
def test_wrong_shape_names_the_expected_feature_count(binary_hgb: HistGradientBoostingClassifier,
                                                      bad: np.ndarray) -> None:
    comp = compile_classifier(binary_hgb)
    assert comp is not None
    with pytest.raises(PrivmlError, match="expects a matrix with 4 features"):
        comp.predict_proba(bad)
    with pytest.raises(PrivmlError, match="4 features"):
        comp.predict(bad)


def test_unsupported_estimators_compile_to_none(binary_hgb: HistGradientBoostingClassifier) -> None:
    from diffprivlib.models import LogisticRegression as DPLogisticRegression

    X, y = _data(13, 100, 3, 2, missing=0.0)
    assert compile_classifier(GaussianNB().fit(X, y)) is None
    assert compile_classifier(HistGradientBoostingRegressor(max_iter=5).fit(X, np.arange(100.0))) is None
    assert compile_classifier(HistGradientBoostingClassifier()) is None  # not fitted
    assert compile_classifier(LogisticRegression()) is None  # not fitted
    assert compile_classifier(object()) is None

    class Custom(HistGradientBoostingClassifier):
        pass

    assert compile_classifier(Custom(max_iter=3).fit(X, y)) is None
    dp = DPLogisticRegression(epsilon=1.0, data_norm=10.0, random_state=0)
    with pytest.warns(Warning):  # diffprivlib's privacy leak warnings about bounds, irrelevant here
        dp.fit(np.clip(X, -1, 1), y)
    assert compile_classifier(dp) is None


def test_unverified_sklearn_version_is_not_compiled(monkeypatch: pytest.MonkeyPatch,
                                                    binary_hgb: HistGradientBoostingClassifier) -> None:
    assert sklearn_verified("1.7.2") and sklearn_verified("1.7.0")
    assert not sklearn_verified("1.8.0") and not sklearn_verified("1.6.1")
    monkeypatch.setattr(compiled, "sklearn_verified", lambda: False)
    assert compile_classifier(binary_hgb) is None


def test_compiled_model_is_a_detached_read_only_copy() -> None:
    X, y = _data(14, 300, 3, 2)
    clf = HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(X, y)
    comp = compile_classifier(clf)
    assert comp is not None
    X_test = _rows(15, 50, 3)
    before = comp.predict_proba(X_test)
    with pytest.raises(AttributeError):
        comp.classes_ = np.array(["x", "y"])
    arrays_held = [getattr(comp, s) for s in type(comp).__slots__ if isinstance(getattr(comp, s), np.ndarray)]
    arrays_held += [a for a in comp._quickscorer if isinstance(a, np.ndarray)]  # type: ignore[attr-defined]
    arrays_held += list(comp._quickscorer.buckets)  # type: ignore[attr-defined]
    assert arrays_held and not any(a.flags.writeable for a in arrays_held)
    with pytest.raises(ValueError):
        comp._value[0] = 1.0  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del comp.classes_
    with pytest.raises(TypeError, match="never saved"):
        pickle.dumps(comp)
    clf.fit(X[::-1], y)  # refitting the estimator does not reach the compiled copy
    np.testing.assert_array_equal(comp.predict_proba(X_test), before)


def test_concurrent_calls_agree(binary_hgb: HistGradientBoostingClassifier) -> None:
    comp = compile_classifier(binary_hgb)
    assert comp is not None
    inputs = [_rows(100 + i, 1 + 7 * i, 4) for i in range(8)]
    expected = [comp.predict_proba(x) for x in inputs]
    failures: list[int] = []

    def work(i: int) -> None:
        for _ in range(20):
            if not np.array_equal(comp.predict_proba(inputs[i]), expected[i]):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


@pytest.fixture(scope="module")
def multiclass_hgb() -> HistGradientBoostingClassifier:
    X, y = _data(16, 600, 3, 3)
    return HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)


@settings(max_examples=60, deadline=None)
@given(X=arrays(np.float64, st.tuples(st.integers(1, 9), st.just(3)),
                elements=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                   st.floats(-5, 5), st.just(np.nan))))
def test_any_float_input_matches_sklearn(multiclass_hgb: HistGradientBoostingClassifier, X: np.ndarray) -> None:
    _assert_same(multiclass_hgb, compile_classifier(multiclass_hgb), X)


@settings(max_examples=25, deadline=None)
@given(X=arrays(np.float64, st.tuples(st.integers(compiled.BY_ROW_MAX_ROWS + 1, compiled.SLICE_ROWS + 3), st.just(3)),
                elements=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                   st.floats(-5, 5), st.just(np.nan))))
def test_any_float_input_matches_sklearn_bit_sliced(multiclass_hgb: HistGradientBoostingClassifier,
                                                     X: np.ndarray) -> None:
    _assert_same(multiclass_hgb, compile_classifier(multiclass_hgb), X)
