"""PrivacyTransformer inside a scikit-learn Pipeline: suppression never changes the row count.

On the Adult data with ARX's hierarchies (k=5, up to 4% suppression, the ARX reference setting), the
anonymity model suppresses rows; a transformer that dropped them made `cross_val_score` and
`GridSearchCV` fail with "Found input variables with inconsistent numbers of samples". By default
(`suppressed_rows="generalize"`) those rows come back with every quasi-identifier at the top of its
hierarchy; `suppressed_rows="drop"` and `privml anonymize` still leave them out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from privml.transformer import PrivacyTransformer
from tests.conftest import ADULT

QIS = ["sex", "age", "race", "marital-status", "education", "native-country"]
FEATURES = ["workclass", "occupation"]
LABEL = "salary-class"
ROWS = 8000  # a seeded sample: the lattice search on every fold stays a few seconds


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    path = ADULT / "adult.csv"
    if not path.is_file():
        pytest.skip(f"Adult data not present at {ADULT} (set PRIVML_SHARED_DIR)")
    return pd.read_csv(path, sep=";", dtype=str).sample(n=ROWS, random_state=0).reset_index(drop=True)


def _policy() -> dict:
    columns: dict = {c: {"role": "quasi_identifier", "action": "keep",
                         "hierarchy": str(ADULT / f"adult_hierarchy_{c}.csv")} for c in QIS}
    columns.update({c: {"role": "feature", "action": "keep"} for c in FEATURES})
    columns[LABEL] = {"role": "label"}
    return {"columns": columns,
            "anonymity": {"algorithm": "global_recoding", "k": 5, "max_suppression": 0.04, "metric": "entropy"}}


def _pipeline(**transformer: object) -> Pipeline:
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"), QIS + FEATURES)])
    return Pipeline([("privacy", PrivacyTransformer(policy=_policy(), key_provider="none", **transformer)),
                     ("encode", encode), ("model", LogisticRegression(max_iter=300))])


def test_fit_transform_keeps_every_row_and_generalizes_the_suppressed(adult: pd.DataFrame) -> None:
    X = adult.drop(columns=[LABEL])
    privacy = PrivacyTransformer(policy=_policy(), key_provider="none")
    out = privacy.fit_transform(X)
    assert len(out) == len(X) and out.index.equals(X.index)
    suppressed = privacy.suppressed_labels_
    assert 0 < len(suppressed) <= 0.04 * len(X)  # this setting does suppress rows
    assert (out.loc[suppressed, QIS] == "*").all().all()
    kept = out.drop(index=suppressed)
    assert not (kept[QIS] == "*").all(axis=1).any()  # the rest keeps its generalized values
    assert (out[FEATURES] == X[FEATURES]).all().all()  # features are not touched by suppression
    assert len(privacy.transform(X.head(50))) == 50


def test_drop_leaves_the_suppressed_rows_out(adult: pd.DataFrame) -> None:
    X = adult.drop(columns=[LABEL])
    privacy = PrivacyTransformer(policy=_policy(), key_provider="none", suppressed_rows="drop")
    out = privacy.fit_transform(X)
    assert len(out) == len(X) - len(privacy.suppressed_labels_) < len(X)
    with pytest.raises(Exception, match="suppressed_rows must be"):
        PrivacyTransformer(policy=_policy(), key_provider="none", suppressed_rows="skip").fit(X)


def test_cross_val_score_and_grid_search_on_adult(adult: pd.DataFrame) -> None:
    X, y = adult.drop(columns=[LABEL]), (adult[LABEL] == ">50K").astype(int)
    folds = KFold(n_splits=3, shuffle=True, random_state=0)
    scores = cross_val_score(_pipeline(), X, y, cv=folds, error_score="raise")
    majority = max(y.mean(), 1 - y.mean())
    assert len(scores) == 3 and np.all(scores > majority - 0.02), scores  # a real model, not a crash

    search = GridSearchCV(_pipeline(), {"model__C": [0.1, 1.0]}, cv=KFold(n_splits=2, shuffle=True, random_state=1),
                          error_score="raise")
    search.fit(X, y)
    assert set(search.best_params_) == {"model__C"}
    assert len(search.predict(X.head(20))) == 20

    # "drop" inside a Pipeline is exactly the failure this parameter exists to avoid
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cross_val_score(_pipeline(suppressed_rows="drop"), X, y, cv=folds, error_score="raise")
