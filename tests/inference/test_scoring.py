"""Dynamic batching: concurrent requests share model calls, yet each gets its own rows back, and a request
that makes the model fail fails alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.pipeline import Pipeline

from inference.handler import CSV, column_plan, parse_payload
from inference.scoring import ModelFailed, Scorer


class Privacy(TransformerMixin, BaseEstimator):
    feature_names_in_ = np.array(["x", "secret"], dtype=object)

    def fit(self, X, y=None):
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if (X["x"] == "boom").any():
            raise ValueError(f"cannot parse {X['secret'].tolist()}")  # an error text that quotes values
        return X[["x"]].astype(float)


class Echo(ClassifierMixin, BaseEstimator):
    classes_ = np.array([0, 1])
    calls: list[int] = []  # noqa: RUF012

    def fit(self, X, y=None):
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        Echo.calls.append(len(X))
        p = (X["x"].to_numpy() % 2).astype(float)
        return np.column_stack([1 - p, p])


@pytest.fixture
def model() -> Pipeline:
    Echo.calls.clear()
    return Pipeline([("privacy", Privacy()), ("clf", Echo())])


def test_concurrent_requests_share_calls_and_get_their_own_rows(model) -> None:
    scorer = Scorer(model)
    plan = column_plan(model)
    bodies = [f"x,secret\n{i},s\n{i + 1},s\n" for i in range(20)]
    bodies[5] = "x,secret\nboom,Canary Secret\n"

    async def run() -> list:
        return await asyncio.gather(*(scorer.score(parse_payload(b, CSV, plan)) for b in bodies),
                                    return_exceptions=True)

    results = asyncio.run(run())
    scorer.close()
    for i, result in enumerate(results):
        if i == 5:
            assert isinstance(result, ModelFailed) and "Canary" not in str(result)
            assert str(result) == "ValueError"
        else:
            assert result.labels == [i % 2, (i + 1) % 2]
    assert len(Echo.calls) < len(bodies)  # batched: fewer model calls than requests
    assert sum(Echo.calls) >= 2 * (len(bodies) - 1)


def test_inline_scoring_matches_threaded(model) -> None:
    plan = column_plan(model)
    batch = parse_payload("x,secret\n3,a\n4,b\n", CSV, plan)
    assert Scorer(model, threaded=False).score_one(batch).labels == [1, 0]
