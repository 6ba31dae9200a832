"""The served model decides: one object scores a batch, chooses compiled or pipeline itself, catches only
NotCompiled, and counts its fallbacks by reason.

The fuzz tests hold the compiled form to the one promise the served model relies on now that no
catch-all hides its errors: on any input it either gives the pipeline's answer or raises NotCompiled;
where the pipeline refuses an input (bad input, a model failure), the compiled form must not answer it.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline

from inference.handler import JSON, model_fn, parse_payload, predict_fn, respond
from privml.serving.cells import NotCompiled
from privml.serving.model import (
    FORCED,
    INPUT_HANDED_BACK,
    NO_COMPILED_FORM,
    TOO_MANY_ROWS,
    ModelFailed,
    ServedModel,
    _compiled_prediction,
)
from privml.serving.payloads import InvalidInput
from tests.inference.conftest import save_model_dir
from tests.inference.model_factory import LABEL, build, raw_table


@pytest.fixture(scope="module")
def hgb_model(model_workspace: Path) -> Pipeline:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVML_WORKSPACE", str(model_workspace))
        return build(rows=800, kind="hgb")


@pytest.fixture(scope="module")
def served(fitted_model: Pipeline, hgb_model: Pipeline) -> dict[str, ServedModel]:
    out = {"logreg": ServedModel(fitted_model), "hgb": ServedModel(hgb_model)}
    assert all(s.compiled is not None for s in out.values())
    return out


# --------------------------------------------------------------------------------------------------
# hostile inputs: every kind a JSON request can carry in a cell

_ODD_NUMBERS = st.sampled_from(["1e3", " 42", "42 ", "+7", "-0", "0x1f", "1_000", "٣٤", "²", "NaN", "nan", "inf",
                                "-Infinity", "1.", ".5", "00012", "9" * 40, "1e400", "-1e-400", "12,5", "4.1e1"])
_ODD_DATES = st.sampled_from(["2020-02-30", "2020-1-1", "0000-00-00", "9999-12-31", "2020-13-01", "20200101",
                              "2020-02-29", "1900-02-29", "2020-02-29T10:00", "2021-02-29", " 2020-01-01",
                              "2020‐01‐01", "١٩٩٠-٠١-٠١"])
_CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=True, allow_infinity=True), _ODD_NUMBERS, _ODD_DATES,
    st.text(max_size=12), st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF), max_size=6),
    st.just("x" * 20_000), st.just(""), st.just("\x00"), st.just("\ud800"),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@functools.cache
def _plain_rows() -> list[dict[str, Any]]:
    return raw_table(30, seed=7).drop(columns=[LABEL]).to_dict(orient="records")


def _plain_row(i: int) -> dict[str, Any]:
    return dict(_plain_rows()[i % 30])


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except (InvalidInput, ModelFailed) as exc:
        return "refused", type(exc).__name__


def _check_agrees(model: ServedModel, rows: list[dict[str, Any]]) -> None:
    try:
        batch = parse_payload(json.dumps(rows), JSON, model.plan)
    except InvalidInput:
        return  # refused before any model sees it: the same for both paths
    assert model.compiled is not None
    try:
        fast = _compiled_prediction(batch, model.compiled)  # anything but NotCompiled fails the test
    except NotCompiled:
        fast = None
    kind, slow = _outcome(lambda: model.score_pipeline(batch))
    if fast is None:
        return  # handed back: the pipeline answers, whatever it answers
    assert kind == "ok", f"the compiled form answered an input the pipeline refuses ({slow})"
    assert fast.labels == slow.labels
    np.testing.assert_allclose(np.asarray(fast.probabilities), np.asarray(slow.probabilities), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_form_raises_only_not_compiled_and_otherwise_agrees(served: dict[str, ServedModel], kind: str,
                                                                     data: st.DataObject) -> None:
    model = served[kind]
    columns = list(model.plan.expected or ())
    n_rows = data.draw(st.sampled_from([1, 3]))
    rows = []
    for i in range(n_rows):
        row = _plain_row(i)
        for column in data.draw(st.lists(st.sampled_from(columns), max_size=4, unique=True)):
            row[column] = data.draw(_CELLS)
        if data.draw(st.booleans()) and columns:
            row.pop(data.draw(st.sampled_from(columns)), None)  # a missing column
        rows.append(row)
    _check_agrees(model, rows)


def test_seeded_hostile_corpus(served: dict[str, ServedModel]) -> None:
    """The same property over a fixed corpus (no shrinking needed to read a failure): each hostile value in
    each column the compiled form reads, in a one-row request, and all of them at once in a many-row one."""
    hostile: list[Any] = [None, True, -3.5, float("inf"), "1e3", " 42", "٣٤", "2020-02-30", "2020-1-1", "é",
                          "x" * 20_000, "9" * 40]
    for model in served.values():
        many = []
        for column in model.compiled.columns:  # type: ignore[union-attr]
            for value in hostile:
                row = {**_plain_row(1), column: value}
                _check_agrees(model, [row])
                many.append(row)
        _check_agrees(model, many[:200])


# --------------------------------------------------------------------------------------------------
# the decision and its counters


def test_the_served_model_chooses_and_counts_by_reason(fitted_model: Pipeline) -> None:
    model = ServedModel(fitted_model)
    plain = parse_payload(json.dumps([_plain_row(1)]), JSON, model.plan)
    assert model.score(plain).compiled and model.compiled_calls == 1
    odd = parse_payload(json.dumps([{**_plain_row(1), "income": "4.1e4"}]), JSON, model.plan)
    assert not model.score(odd).compiled
    many = parse_payload(json.dumps([_plain_row(i % 30) for i in range(300)]), JSON, model.plan)
    assert not model.score(many).compiled
    assert model.fallbacks == {INPUT_HANDED_BACK: 1, TOO_MANY_ROWS: 1}
    assert model.pipeline_calls == 2
    forced = ServedModel(fitted_model, compiled=False)
    assert not forced.score(plain).compiled and forced.fallbacks == {FORCED: 1}
    counters = model.counters()
    assert counters["compiled_calls"] == 1 and counters["fallbacks"][TOO_MANY_ROWS] == 1
    assert json.dumps(counters)  # counts and reasons only: nothing from a request


def test_a_bug_in_the_compiled_form_is_not_hidden(fitted_model: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only NotCompiled sends a batch to the pipeline: any other exception from the compiled form is a
    bug and surfaces (before, a catch-all scored it with the pipeline and nobody knew)."""
    model = ServedModel(fitted_model)
    assert model.compiled is not None

    def broken(*args: Any) -> Any:
        raise ZeroDivisionError

    monkeypatch.setattr(model.compiled, "predict_proba_one", broken)
    batch = parse_payload(json.dumps([_plain_row(1)]), JSON, model.plan)
    with pytest.raises(ZeroDivisionError):
        model.score(batch)
    reply = respond(model, json.dumps([_plain_row(1)]), JSON, JSON)
    assert reply.status == 500 and "internal error" in reply.body


def test_a_model_of_another_shape_is_served_by_the_pipeline_and_counted(spied_model: Pipeline, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="privml.endpoint"):
        model = ServedModel(spied_model)
    assert model.compiled is None and "no compiled form" in caplog.text
    batch = parse_payload(json.dumps([_plain_row(1)]), JSON, model.plan)
    assert model.score(batch).labels
    assert model.fallbacks == {NO_COMPILED_FORM: 1}


def test_a_classifier_left_to_the_estimator_is_said(hgb_model: Pipeline, caplog) -> None:
    """A shape privml never trains (here trees of over 64 leaves): the compiled form calls the estimator,
    and the served model says so when it loads."""
    import copy

    from sklearn.ensemble import HistGradientBoostingClassifier

    model = copy.deepcopy(hgb_model)
    model.steps[0][1].set_key_provider(hgb_model.steps[0][1]._key_provider())
    raw = raw_table(800, seed=3)
    privacy = model.named_steps["privacy"]
    matrix = model.named_steps["model"].named_steps["encode"].transform(privacy.transform(raw.drop(columns=[LABEL])))
    big = HistGradientBoostingClassifier(max_iter=2, max_leaf_nodes=90, min_samples_leaf=1, random_state=0)
    big.fit(matrix, np.arange(len(matrix)) % 2)
    assert max(int(p.nodes["is_leaf"].sum()) for it in big._predictors for p in it) > 64
    model.named_steps["model"].steps[-1] = ("classifier", big)
    with caplog.at_level(logging.WARNING, logger="privml.endpoint"):
        served = ServedModel(model)
    assert served.compiled is not None
    assert served.classifier_fallback == "a tree of over 64 leaves"
    assert "not compiled (a tree of over 64 leaves)" in caplog.text
    batch = parse_payload(json.dumps([_plain_row(i) for i in range(5)]), JSON, served.plan)
    np.testing.assert_allclose(np.asarray(served.score(batch).probabilities),
                               np.asarray(served.score_pipeline(batch).probabilities), atol=1e-12)


def test_model_fn_yields_the_served_model(fitted_model: Pipeline, tmp_path: Path, model_workspace: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVML_WORKSPACE", str(model_workspace))
    loaded = model_fn(str(save_model_dir(fitted_model, tmp_path / "model", model_workspace)))
    assert isinstance(loaded, ServedModel) and loaded.compiled is not None
    body = json.dumps([_plain_row(i) for i in range(4)])
    batch = parse_payload(body, JSON, loaded.plan)
    assert predict_fn(batch, loaded).labels == predict_fn(batch, fitted_model).labels
    assert respond(loaded, body, JSON, JSON).status == 200
    assert loaded.compiled_calls == 2
