"""A regression model served: numbers in CSV and JSON, the compiled form (HistGradientBoostingRegressor,
Ridge) giving the pipeline's own numbers, and the DP regressor served by its estimator."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from inference.handler import CSV, JSON, column_plan, parse_payload, respond, to_frame
from privml.serving.model import ServedModel, pipeline_prediction
from tests.inference.conftest import CANARIES, pii_rows
from tests.inference.model_factory import FEATURES, POLICY, raw_table

TARGET = "total_charges"
BOUNDS = {"income": (0.0, 300000.0), "hours_per_week": (0.0, 100.0), "num_visits": (0.0, 30.0), "age": (0.0, 120.0)}


def _policy() -> dict[str, Any]:
    columns = dict(POLICY["columns"])
    columns["readmitted"] = {"role": "feature", "action": "drop"}
    columns[TARGET] = {"role": "label", "bounds": [0, 40000]}
    return {**POLICY, "columns": columns}


def _build(kind: str, rows: int = 900) -> Pipeline:
    from privml.anonymize import ensure_local_keys
    from privml.models.estimators import fit_model
    from privml.policy import parse_policy
    from privml.transformer import PrivacyTransformer

    policy = parse_policy(_policy(), source="test policy")
    ensure_local_keys(policy.keys.values())
    raw = raw_table(rows, seed=4)
    privacy = PrivacyTransformer.from_policy(policy)
    anonymized = privacy.fit_transform(raw)
    y = raw.loc[anonymized.index, TARGET].astype(float).to_numpy()
    private = kind == "dp_linreg"
    # a DP model's categories are declared: the test declares the released values of the categorical features
    categorical = [c for c in FEATURES if c not in BOUNDS]
    categories = {c: sorted(anonymized[c].astype(str).unique()) for c in categorical} if private else None
    fitted = fit_model(kind, anonymized, y, columns=FEATURES, numeric=None, bounds=BOUNDS if private else {},
                       seed=0, task="regression", epsilon=5.0 if private else 0.0, label_bounds=(0, 40000),
                       categories=categories)
    privacy.serve_only(FEATURES)
    return Pipeline([("privacy", privacy), ("model", fitted.pipeline)])


@pytest.fixture(scope="module", params=["hgb", "ridge", "dp_linreg"])
def regressor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Pipeline]:
    from threadpoolctl import threadpool_limits

    with pytest.MonkeyPatch.context() as mp, threadpool_limits(limits=1):
        mp.setenv("PRIVML_WORKSPACE", str(tmp_path_factory.mktemp("ws")))
        return request.param, _build(request.param)


def _requests(n: int) -> pd.DataFrame:
    rows = raw_table(n, seed=29).drop(columns=["readmitted", TARGET])
    rows.loc[rows.index[::7], "education"] = "Unseen-Degree"
    rows.loc[rows.index[::13], "income"] = np.nan
    return rows


def test_the_endpoint_answers_numbers_in_csv_and_json(regressor: tuple[str, Pipeline]) -> None:
    _kind, model = regressor
    served = ServedModel(model)
    requests = pii_rows(_requests(30), 3)  # identifiers and canaries ride along, as a client sends them
    expected = model.predict(requests)
    csv_reply = respond(served, requests.to_csv(index=False), CSV, CSV)
    assert csv_reply.status == 200 and csv_reply.content_type == CSV
    numbers = [float(line) for line in csv_reply.body.splitlines()]
    np.testing.assert_allclose(numbers, expected, rtol=1e-12)
    json_reply = respond(served, requests.to_json(orient="records"), JSON, JSON)
    assert json_reply.status == 200
    body = json.loads(json_reply.body)
    assert list(body) == ["predictions"] and all(list(p) == ["score"] for p in body["predictions"])
    np.testing.assert_allclose([p["score"] for p in body["predictions"]], expected, rtol=1e-12)
    one = respond(served, requests.iloc[[0]].to_json(orient="records"), JSON, JSON)
    assert json.loads(one.body)["predictions"][0]["score"] == pytest.approx(expected[0], rel=1e-12)
    for reply in (csv_reply, json_reply, one):
        assert not any(canary in reply.body for canary in CANARIES.values())
    assert served.compiled_calls > 0  # every request was plain: the compiled form served it


def test_compiled_and_pipeline_answers_agree(regressor: tuple[str, Pipeline]) -> None:
    kind, model = regressor
    served = ServedModel(model)
    assert served.compiled is not None and served.compiled.regression
    # the DP regressor (a diffprivlib subclass) is not compiled: its estimator serves, and the counters say so
    assert (served.classifier_fallback is None) == (kind != "dp_linreg")
    requests = _requests(60)
    plan = column_plan(model)
    batch = parse_payload(requests.to_csv(index=False), CSV, plan)
    compiled = served.score_compiled(batch)
    pipeline = pipeline_prediction(to_frame(batch), model, plan)
    assert compiled is not None and compiled.compiled and compiled.regression and pipeline.regression
    assert compiled.classes is None and compiled.probabilities is None
    # the trees' sums are bit-identical; linear products may round in the last place across batch sizes
    np.testing.assert_allclose(compiled.labels, pipeline.labels, rtol=1e-12, atol=1e-9)
    for i in range(len(requests)):
        one = parse_payload(requests.iloc[[i]].to_csv(index=False), CSV, plan)
        single = served.score_compiled(one)
        assert single is not None and isinstance(single.labels[0], float)
        assert single.labels[0] == pytest.approx(pipeline.labels[i], rel=1e-12, abs=1e-9)
        if kind == "hgb":
            assert single.labels[0] == pipeline.labels[i]


def test_edge_inputs_fall_back_to_the_pipeline_with_the_same_numbers(regressor: tuple[str, Pipeline]) -> None:
    _, model = regressor
    served = ServedModel(model)
    requests = _requests(10)
    requests["income"] = requests["income"].astype(str).str.replace(r"^(\d+)$", r" \1", regex=True)  # " 52000"
    batch = parse_payload(requests.to_csv(index=False), CSV, column_plan(model))
    prediction = served.score(batch)
    assert served.fallbacks and prediction.regression and not prediction.compiled
    np.testing.assert_allclose(prediction.labels, model.predict(to_frame(batch)), rtol=1e-12)
