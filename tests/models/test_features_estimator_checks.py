"""FeatureEncoder against scikit-learn's own estimator checks (`parametrize_with_checks`, scikit-learn 1.7).

It passes every check: a 2-D array is encoded as a table of columns x0, x1, ... after scikit-learn's
validation, and its tags say it takes strings, categories and missing values (a missing value is a
category of its own, or the scaling centre of a numeric column).
"""

from __future__ import annotations

import sklearn
from sklearn.utils.estimator_checks import parametrize_with_checks

from privml.models.features import FeatureEncoder


def test_the_checks_are_scikit_learns_1_7() -> None:
    # diffprivlib pins scikit-learn below 1.8; `expected_failed_checks` and the check list are 1.7's.
    assert sklearn.__version__.startswith("1.7."), sklearn.__version__


@parametrize_with_checks([FeatureEncoder(), FeatureEncoder(block_norm=True, expand_generalized=False)])
def test_sklearn_compatible_estimator(estimator, check) -> None:
    check(estimator)
