"""Compiled serving path for the classifiers privml trains: the same probabilities, without the per-call cost.

`HistGradientBoostingClassifier.predict_proba` on a handful of rows spends milliseconds in input validation
and a Python loop over its per-iteration tree predictors. `compile_classifier` flattens the fitted model
once into read-only numpy arrays and predicts every tree at once, in vectorized steps:

* when the C extension `_trees` is built (an optional part of the install) and the model has no
  categorical splits, `_CompiledBoosting` walks the trees in C over the same tables (`path == "native"`,
  several times faster on a few rows); otherwise the numpy paths below (`path == "numpy"`);
* the per-node choices sklearn makes at predict time (NaN → `missing_go_to_left`; a threshold of +inf
  splitting "present" from "missing"; categorical bitsets) are folded into a widened input `z`, built
  once per call, so that every split is the same test `z[col] > thr` (true → right child):
  X with NaN → +inf (NaN goes right), X with NaN → -inf (NaN goes left), isnan(X) (present vs missing),
  and one 0/1 column per categorical split (looked up from the category's ordinal code);
* trees of up to 64 leaves (QuickScorer, class _QuickScorer): up to QS_ROWS rows, every split's test for
  every row at once, a true test ORs its left subtree's leaves into its (row, tree) "ruled out" bitvector,
  the exit leaf is the lowest bit left clear; more rows, bit-sliced in chunks of SLICE_ROWS: one uint64
  of row bits per distinct test, ORed per leaf over the tests whose left subtree holds it;
* bigger trees, up to FEW_ROWS rows: nodes grouped by the z column they read, so all splits' outcomes
  are one np.repeat of z and one compare, then `max depth` gathers of "successor of node" walk all trees;
  more rows: right child = left child + 1, and all (tree, row) pairs descend together,
  `node = left[node] + (z[col[node]] > thr[node])`, one step per depth level, in chunks of CHUNK_ROWS;
* leaf values are summed in sklearn's order (baseline, then iteration 0, 1, …) with a sequential
  accumulate, so raw predictions are bit-identical to sklearn's, and the link (expit / softmax) is
  computed as sklearn computes it.

Anything else (diffprivlib models, subclasses, other losses, an unverified scikit-learn version, string
categories, a NaN threshold) compiles to None: the caller keeps using the estimator. A compiled model
copies what it needs (no reference into the estimator), its arrays are read-only and calls mutate
nothing shared, so concurrent calls are safe. It is built in memory at serving time and refuses pickling.
"""

from __future__ import annotations

from typing import Any

import sklearn

from privml.models.compiled.base import CompiledClassifier, Unsupported
from privml.models.compiled.boosting import CHUNK_ROWS, FEW_ROWS, QS_ROWS, _CompiledBoosting
from privml.models.compiled.linear import _CompiledLogistic
from privml.models.compiled.quickscorer import SLICE_ROWS

__all__ = ["CHUNK_ROWS", "FEW_ROWS", "QS_ROWS", "SLICE_ROWS", "CompiledClassifier", "compile_classifier",
           "sklearn_verified"]

# The HGB internals `boosting.py` reads (_predictors, TreePredictor.nodes' record dtype,
# _baseline_prediction, _loss, _preprocessor, _bin_mapper) were checked against these releases only.
VERIFIED_SKLEARN = ("1.7",)


def sklearn_verified(version: str = sklearn.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in VERIFIED_SKLEARN


def compile_classifier(clf: Any) -> CompiledClassifier | None:
    """A compiled copy of a fitted classifier's predict/predict_proba, or None where it is not supported.

    Supported: HistGradientBoostingClassifier (log loss; numeric features with missing values, numeric
    native categorical features) and LogisticRegression — exactly those classes, fitted, under a
    verified scikit-learn version. None means: keep calling the estimator.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if not sklearn_verified():
        return None
    try:
        if type(clf) is LogisticRegression and hasattr(clf, "coef_"):
            return _CompiledLogistic(clf)
        if type(clf) is HistGradientBoostingClassifier and hasattr(clf, "_predictors"):
            return _CompiledBoosting(clf)
    except (Unsupported, AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None
    return None
