"""The compiled model agrees with the pipeline it was built from, reads only the columns the model
uses, and hands every input it does not cover back to the pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline

from inference.handler import CSV, column_plan, parse_payload, predict_fn, to_frame
from inference.scoring import PROBE_EVERY, SEQUENTIAL_BELOW, Scorer
from privml.anonymity.missing import MISSING
from privml.serving.cells import NotCompiled
from privml.serving.compiled import compile_model
from tests.inference.conftest import CANARIES, pii_rows
from tests.inference.model_factory import FEATURES, LABEL, POLICY, raw_table

# Each technique's row form against its column-wise `apply`: tests/serving/test_row_forms.py.

# -- whole models -----------------------------------------------------------------------------------


def _policy(anonymity: dict[str, Any] | None) -> dict[str, Any]:
    policy = {**POLICY, "columns": dict(POLICY["columns"])}
    if anonymity is not None:
        policy["anonymity"] = anonymity
        policy["columns"]["age"] = {"role": "quasi_identifier", "action": "keep"}
        policy["columns"]["sex"] = {"role": "quasi_identifier", "action": "keep"}
        policy["columns"]["education"] = {"role": "quasi_identifier", "action": "keep"}
        for col in ("zip_code", "date_of_birth", "admission_date"):
            policy["columns"][col] = {"role": "feature", "action": "drop"}
    return policy


def _build(policy: dict[str, Any], kind: str, rows: int = 900, *, missing: bool = False) -> Pipeline:
    from privml.anonymize import ensure_local_keys
    from privml.models.estimators import fit_model
    from privml.policy import parse_policy
    from privml.transformer import PrivacyTransformer

    parsed = parse_policy(policy, source="test policy")
    ensure_local_keys(parsed.keys.values())
    raw = raw_table(rows, seed=5)
    if missing:  # `missing: value` fitted on empty quasi-identifier cells: they get a leaf / axis position
        raw.loc[raw.index[::9], "age"] = np.nan
        raw.loc[raw.index[::10], "education"] = None
    privacy = PrivacyTransformer.from_policy(parsed)
    anonymized = privacy.fit_transform(raw)
    y = raw.loc[anonymized.index, LABEL].astype(int).to_numpy()
    features = [c for c in FEATURES if c in anonymized.columns]
    fitted = fit_model(kind, anonymized, y, columns=features, numeric=None, bounds={}, seed=0)
    return Pipeline([("privacy", privacy), ("model", fitted.pipeline)])


MODELS = {
    "techniques-hgb": (None, "hgb"),
    "techniques-logreg": (None, "logreg"),
    "mondrian-hgb": ({"k": 5, "algorithm": "mondrian"}, "hgb"),
    "recoding-logreg": ({"k": 5, "algorithm": "global_recoding", "max_suppression": 0.05}, "logreg"),
    # every `missing` rule: `value` fitted with empty cells; `suppress`/`error` fitted without (as anonymize
    # leaves them), and served rows with empty cells all the same
    "mondrian-missing-value-hgb": ({"k": 5, "algorithm": "mondrian", "missing": "value"}, "hgb"),
    "recoding-missing-value-logreg": ({"k": 5, "algorithm": "global_recoding", "max_suppression": 0.05,
                                       "missing": "value"}, "logreg"),
    "mondrian-missing-suppress-logreg": ({"k": 5, "algorithm": "mondrian", "missing": "suppress"}, "logreg"),
    "recoding-missing-error-hgb": ({"k": 5, "algorithm": "global_recoding", "max_suppression": 0.05,
                                    "missing": "error"}, "hgb"),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    from threadpoolctl import threadpool_limits

    with pytest.MonkeyPatch.context() as mp, threadpool_limits(limits=1):  # OpenMP threads only contend here
        mp.setenv("PRIVML_WORKSPACE", str(tmp_path_factory.mktemp("ws")))
        anonymity, kind = MODELS[request.param]
        return _build(_policy(anonymity), kind, missing="missing-value" in request.param)


def _requests(n: int = 200, *, missing_quasi_identifiers: bool = True) -> pd.DataFrame:
    rows = raw_table(n, seed=23).drop(columns=[LABEL])
    rows.loc[rows.index[::7], "education"] = "Unseen-Degree"  # unseen category
    if missing_quasi_identifiers:  # global recoding leaves these to the pipeline unless fitted with them
        rows.loc[rows.index[::11], "age"] = np.nan
        rows.loc[rows.index[::17], "education"] = None
    rows.loc[rows.index[::13], "income"] = np.nan  # missing numeric
    return rows


def _plain_requests(model: Pipeline, n: int = 200) -> pd.DataFrame:
    engine = model.steps[0][1].anonymity_engine()
    recoding = engine is not None and engine.config.algorithm == "global_recoding"
    fitted_missing = recoding and all(MISSING in engine.hierarchies_[c].leaves for c in ("age", "education"))
    return _requests(n, missing_quasi_identifiers=not recoding or fitted_missing)


def test_compiled_probabilities_equal_the_pipeline(model: Pipeline) -> None:
    compiled = compile_model(model)
    assert compiled is not None
    batch = parse_payload(_plain_requests(model).to_csv(index=False), CSV, column_plan(model))
    expected = predict_fn(to_frame(batch), model).probabilities
    np.testing.assert_allclose(compiled.predict_proba(batch.values, batch.n_rows), expected, rtol=0, atol=1e-12)


def test_one_row_path_gives_the_batch_paths_probabilities(model: Pipeline) -> None:
    compiled = compile_model(model)
    assert compiled is not None
    requests = _plain_requests(model, 40)
    plan = column_plan(model)
    batch = parse_payload(requests.to_csv(index=False), CSV, plan)
    together = compiled.predict_proba(batch.values, batch.n_rows)
    for i in range(len(requests)):
        one = parse_payload(requests.iloc[[i]].to_csv(index=False), CSV, plan)
        # bit for bit against the same row through the batch path (a BLAS product over many rows may
        # round differently in the last place: linear models are compared within 1e-12 across batch sizes)
        single = compiled.predict_proba_one(one.values.first)
        assert single == compiled.predict_proba(one.values, 1)[0].tolist()
        np.testing.assert_allclose(single, together[i], rtol=0, atol=1e-12)
        records = parse_payload(requests.iloc[[i]].to_json(orient="records"), "application/json", plan)
        assert predict_fn(records, model).probabilities == [single]  # JSON values take the same path
        prediction = predict_fn(one, model)
        assert prediction.compiled and prediction.labels == [compiled.classes[int(np.argmax(together[i]))]]


class _Recording(dict):
    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def test_identifier_columns_are_never_read(model: Pipeline) -> None:
    compiled = compile_model(model)
    assert compiled is not None
    batch = parse_payload(pii_rows(_plain_requests(model), 5).to_csv(index=False), CSV, column_plan(model))
    values = _Recording(batch.values)
    compiled.predict_proba(values, batch.n_rows)
    identifiers = {c for c, spec in POLICY["columns"].items() if spec.get("role") == "identifier"}
    assert values.read and not values.read & identifiers
    assert not values.read & set(CANARIES) - {"zip_code"}


def test_scorer_uses_the_compiled_model_and_falls_back_for_edge_cases(model: Pipeline) -> None:
    scorer = Scorer(model, threaded=False)
    plan = column_plan(model)
    rows = _plain_requests(model, 20)
    plain = scorer.score_one(parse_payload(rows.to_csv(index=False), CSV, plan))
    assert scorer.compiled_calls == 1 and scorer.pipeline_fallbacks == 0
    odd = rows.copy()
    odd["income"] = odd["income"].astype(str).str.replace(r"^(\d+)$", r" \1", regex=True)  # " 52000"
    batch = parse_payload(odd.to_csv(index=False), CSV, plan)
    fallback = scorer.score_one(batch)
    assert scorer.pipeline_fallbacks == 1
    np.testing.assert_allclose(fallback.probabilities, predict_fn(to_frame(batch), model).probabilities)
    assert plain.labels == predict_fn(to_frame(parse_payload(rows.to_csv(index=False), CSV, plan)), model).labels


def test_a_model_reading_a_column_without_a_row_form_is_served_by_the_pipeline(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    policy = _policy(None)
    policy["columns"]["education"] = {"role": "feature", "action": "mask", "params": {"keep_first": 2}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(tmp_path_factory.mktemp("ws")))
        model = _build(policy, "logreg", rows=300)
        assert compile_model(model) is None  # mask has no row form: the pipeline serves every request
        batch = parse_payload(_requests(20).to_csv(index=False), CSV, column_plan(model))
        prediction = predict_fn(batch, model)
    assert not prediction.compiled and len(prediction.labels) == 20


def test_models_of_other_shapes_are_not_compiled(spied_model: Pipeline, fitted_model: Pipeline) -> None:
    assert compile_model(spied_model) is None  # an extra step: the pipeline serves it as it is
    assert compile_model(fitted_model) is not None


def test_sequential_requests_are_scored_at_once_and_concurrency_brings_batching_back(fitted_model: Pipeline) -> None:
    import asyncio

    scorer = Scorer(fitted_model)
    plan = column_plan(fitted_model)
    rows = raw_table(40, seed=31).drop(columns=[LABEL])
    bodies = [rows.iloc[[i]].to_csv(index=False) for i in range(len(rows))]
    expected = predict_fn(to_frame(parse_payload(rows.to_csv(index=False), CSV, plan)), fitted_model)

    async def run() -> tuple[list[Any], list[Any]]:
        sequential = [await scorer.score(parse_payload(b, CSV, plan)) for b in bodies[:16]]
        at_once = scorer.at_once_calls
        assert at_once == 14  # every 8th request probes the batching path
        concurrent: list[Any] = []
        for _ in range(3):
            concurrent = await asyncio.gather(*(scorer.score(parse_payload(b, CSV, plan)) for b in bodies))
        # at most until the next probe are scored at once; then the batches hold many requests
        assert scorer.requests_per_call > SEQUENTIAL_BELOW and scorer.at_once_calls < at_once + PROBE_EVERY
        return sequential, concurrent

    try:
        sequential, concurrent = asyncio.run(run())
    finally:
        scorer.close()
    assert [p.labels[0] for p in sequential] == expected.labels[:16]
    assert [p.labels[0] for p in concurrent] == expected.labels
    np.testing.assert_allclose(np.vstack([p.probabilities for p in concurrent]), expected.probabilities, atol=1e-12)


def test_concurrent_batches_stay_within_what_the_compiled_model_serves(fitted_model: Pipeline) -> None:
    import asyncio

    from privml.serving import MAX_ROWS

    scorer = Scorer(fitted_model)
    plan = column_plan(fitted_model)
    rows = raw_table(60 * 10, seed=37).drop(columns=[LABEL])
    bodies = [rows.iloc[i * 60:(i + 1) * 60].to_csv(index=False) for i in range(10)]
    expected = predict_fn(to_frame(parse_payload(rows.to_csv(index=False), CSV, plan)), fitted_model)

    async def run() -> list[Any]:
        return await asyncio.gather(*(scorer.score(parse_payload(b, CSV, plan)) for b in bodies))

    try:
        results = asyncio.run(run())
    finally:
        scorer.close()
    assert scorer.calls >= -(-len(rows) // MAX_ROWS) and scorer.calls < len(bodies)  # batched, and capped
    assert scorer.compiled_calls == scorer.calls and scorer.pipeline_fallbacks == 0
    np.testing.assert_allclose(np.vstack([p.probabilities for p in results]), expected.probabilities, atol=1e-12)


@settings(max_examples=2000, deadline=None)
@given(cell=st.one_of(st.text(alphabet=st.sampled_from(list("0123456789-.e ٣²+")), max_size=34),
                      st.from_regex(r"-?\d{1,16}(\.\d{1,16})?", fullmatch=True), st.text(max_size=6)))
def test_plain_number_is_its_regex(cell: str) -> None:
    from privml.rowform import _PLAIN_NUMBER, plain_number

    if _PLAIN_NUMBER.fullmatch(cell):
        assert plain_number(cell) == float(cell)
    else:
        with pytest.raises(NotCompiled):
            plain_number(cell)


def test_row_encoder_gives_the_encoders_features_for_ranges_and_value_sets() -> None:
    from privml.models.features import FeatureEncoder

    train = pd.DataFrame({
        "age": ["[30-40)", "[40-50)", "*", "[30-40)", None],
        "marital": ["Divorced|Separated", "Married", "Married", "*", "Widowed|Married"],
        "hours": ["40", "38", "50", "20", None],
    })
    encoder = FeatureEncoder(bounds={"age": (0, 100)}).fit(train)
    rows = encoder.row_encoder()
    expected = encoder.transform(train)
    columns = [[None if pd.isna(v) else str(v) for v in train[c]] for c in rows.columns]
    np.testing.assert_array_equal(rows.encode(columns, len(train)), expected)
    for r in range(len(train)):
        assert rows.encode_one([column[r] for column in columns]) == expected[r].tolist()
