"""The served model: one object that scores a batch and decides, by itself, how.

Loading a model for serving yields a `ServedModel`. It holds the fitted pipeline and, when the pipeline
has one, its compiled form (`privml.serving.compiled`). Every caller (the SageMaker handler, the
local endpoint's scorer, the privml image's container) asks it to score; none of them chooses the path:

- a batch of up to `MAX_ROWS` rows goes through the compiled form;
- the compiled form raises `NotCompiled` on an input it does not reproduce exactly (a number that is
  not plain decimal, a date outside YYYY-MM-DD, ...): that, and only that, sends the batch to the
  pipeline, which owns every edge case and error message. Any other exception from the compiled form
  is a bug and propagates (a fuzz test holds the compiled form to this);
- every batch the compiled form did not serve is counted by reason (`fallbacks`), as are the compiled
  and pipeline calls, so a model that silently lost its fast path shows in the endpoint's counters.

A classifier's prediction is labels (the argmax class) with class probabilities; a regressor's is
numbers (`Prediction.regression`: `labels` holds the floats, no classes, no probabilities).

The pipeline's own failures keep their meaning: bad input (`InvalidInput`) and an unusable key store
(`KeyUnavailable`) pass through; any other exception becomes `ModelFailed`, whose text is the exception's
type only, because an estimator's message may quote a value.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privml.errors import KeyUnavailable
from privml.serving import MAX_ROWS
from privml.serving.cells import NotCompiled, cell_text
from privml.serving.compiled import CompiledModel, compile_model
from privml.serving.payloads import Batch, InvalidInput, RowColumns, column_plan

__all__ = ["FALLBACK_REASONS", "ModelFailed", "Prediction", "ServedModel", "served_model", "to_frame"]

log = logging.getLogger("privml.endpoint")

# Why a batch went to the pipeline rather than the compiled form (the keys of `ServedModel.fallbacks`).
NO_COMPILED_FORM = "model has no compiled form"  # its shape or a step the compiled form cannot reproduce
FORCED = "compiled form disabled"  # `compiled=False` (benchmarks)
TOO_MANY_ROWS = f"batch over {MAX_ROWS} rows"
INPUT_HANDED_BACK = "input the compiled form hands back"
FALLBACK_REASONS = (NO_COMPILED_FORM, FORCED, TOO_MANY_ROWS, INPUT_HANDED_BACK)


class ModelFailed(Exception):
    """The model raised on input that parsed; the message carries only the exception type."""


@dataclass
class Prediction:
    labels: list[Any]
    probabilities: np.ndarray | list[list[float]] | None = None  # lists from the compiled model
    classes: list[Any] | None = None
    compiled: bool = False  # scored by the compiled model rather than the pipeline
    regression: bool = False  # `labels` are a regressor's numbers (floats)

    def __len__(self) -> int:
        return len(self.labels)

    def slice(self, start: int, stop: int) -> Prediction:
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Prediction(self.labels[start:stop], proba, self.classes, self.compiled, self.regression)


def to_frame(batch: Batch) -> pd.DataFrame:
    """The batch as the DataFrame the pipeline expects: the raw columns as strings, empty cells missing,
    exactly what `privml.io.tables.read_table` gave the transformer at fit."""
    data = {c: np.array([cell_text(v) for v in batch.values[c]], dtype=object) for c in batch.columns}
    return pd.DataFrame(data, columns=batch.columns, dtype="str")


_ABSENT = [None]


class ServedModel:
    """A loaded pipeline [privacy, ..., classifier], ready to score: `score(batch)` picks the path.

    For callers that run the two paths in different places (the endpoint scores compiled batches on its
    event loop and sends the rest to a worker), `score_compiled` returns None where the pipeline must
    score, having counted why, and `score_pipeline` scores any batch or frame with the pipeline."""

    def __init__(self, model: Any, *, compiled: bool = True) -> None:
        self.model = model
        self.plan = column_plan(model)
        self.compiled: CompiledModel | None = compile_model(model) if compiled else None
        self._no_compiled = FORCED if not compiled else NO_COMPILED_FORM
        self.compiled_calls = 0
        self.pipeline_calls = 0
        self.fallbacks: Counter[str] = Counter()
        self.classifier_fallback = _classifier_fallback(model) if self.compiled is not None else None
        if compiled and self.compiled is None:
            log.warning("the model has no compiled form: every request is scored by the pipeline")
        elif self.classifier_fallback is not None:
            log.warning("the model's classifier is not compiled (%s): the compiled form calls the estimator",
                        self.classifier_fallback)

    def counters(self) -> dict[str, Any]:
        """What the endpoint reports: calls per path and fallbacks by reason (counts only, never values)."""
        return {"compiled_calls": self.compiled_calls, "pipeline_calls": self.pipeline_calls,
                "fallbacks": dict(self.fallbacks), "classifier_fallback": self.classifier_fallback}

    # ----------------------------------------------------------------------------------------------
    # the decision

    def score(self, batch: Batch | pd.DataFrame) -> Prediction:
        """Score rows: the compiled form where it covers them, else one pass through the pipeline."""
        if isinstance(batch, Batch):
            fast = self.score_compiled(batch)
            if fast is not None:
                return fast
        return self.score_pipeline(batch)

    def covers(self, n_rows: int) -> bool:
        """Whether the compiled form would try a batch of this many rows."""
        return self.compiled is not None and n_rows <= MAX_ROWS

    def score_compiled(self, batch: Batch) -> Prediction | None:
        """The compiled form's prediction, or None (counted by reason) when the pipeline must score."""
        compiled = self.compiled
        if compiled is None:
            self.fallbacks[self._no_compiled] += 1
            return None
        if batch.n_rows > MAX_ROWS:
            self.fallbacks[TOO_MANY_ROWS] += 1
            return None
        try:
            prediction = _compiled_prediction(batch, compiled)
        except NotCompiled:
            self.fallbacks[INPUT_HANDED_BACK] += 1
            return None
        self.compiled_calls += 1
        return prediction

    def score_pipeline(self, data: Batch | pd.DataFrame) -> Prediction:
        """One pass through the pipeline. Raises InvalidInput, KeyUnavailable or ModelFailed."""
        try:
            frame = to_frame(data) if isinstance(data, Batch) else data
            prediction = pipeline_prediction(frame, self.model, self.plan)
        except (InvalidInput, KeyUnavailable):
            raise  # KeyUnavailable: the endpoint's key store, not the request, is at fault
        except Exception as exc:  # the exception text may quote a value: keep only its type
            raise ModelFailed(type(exc).__name__) from None
        self.pipeline_calls += 1
        return prediction

    def count_fallback(self, batches: Sequence[Batch]) -> None:
        """Count batches sent straight to the pipeline because the compiled form would not try them."""
        self.fallbacks[self._no_compiled if self.compiled is None else TOO_MANY_ROWS] += len(batches)

    def score_many(self, batches: Sequence[Batch], *, path: str = "auto") -> list[Prediction | Exception]:
        """Score requests together where their columns agree, each request's rows back to it; where a
        combined call fails, each request is scored alone so that one bad request fails alone.
        `path`: "auto" (`score`), "compiled" (a request the compiled form does not serve gets `NotCompiled`
        as its result) or "pipeline" (the compiled form already handed these back)."""
        score = {"auto": self.score, "compiled": self._compiled_or_handed_back,
                 "pipeline": self.score_pipeline}[path]
        groups: dict[tuple[str, ...], list[int]] = {}
        keys: dict[int, tuple[str, ...]] = {}  # requests with a remembered CSV header share one columns list
        for i, b in enumerate(batches):
            key = keys.get(id(b.columns))
            if key is None:
                key = keys[id(b.columns)] = tuple(b.columns)
            groups.setdefault(key, []).append(i)
        results: list[Prediction | Exception | None] = [None] * len(batches)
        for members in groups.values():
            if len(members) > 1:
                try:
                    combined: Prediction | None = score(Batch.concat([batches[i] for i in members]))
                except (InvalidInput, KeyUnavailable, ModelFailed, NotCompiled):  # isolate the bad request(s)
                    combined = None
                if combined is not None:
                    start = 0
                    for i in members:
                        results[i] = combined.slice(start, start + batches[i].n_rows)
                        start += batches[i].n_rows
                    continue
            for i in members:
                try:
                    results[i] = score(batches[i])
                except (InvalidInput, KeyUnavailable, ModelFailed, NotCompiled) as exc:
                    results[i] = exc
        return [r if r is not None else ModelFailed("no result") for r in results]

    def _compiled_or_handed_back(self, batch: Batch) -> Prediction:
        prediction = self.score_compiled(batch)
        if prediction is None:
            raise NotCompiled
        return prediction


def served_model(model: Any) -> ServedModel:
    """`model` as a ServedModel: itself when it is one, else one built for it on first use and remembered
    (for callers of the SageMaker functions that pass the pipeline; a server holds its ServedModel)."""
    if isinstance(model, ServedModel):
        return model
    served = _SERVED.get(id(model))
    if served is None or served.model is not model:
        if len(_SERVED) >= _REMEMBERED:  # a few models per process; each entry keeps its model alive
            _SERVED.clear()
        served = _SERVED[id(model)] = ServedModel(model)
    return served


_REMEMBERED = 16
_SERVED: dict[int, ServedModel] = {}


def _classifier_fallback(model: Any) -> str | None:
    """Why the compiled form calls the fitted estimator rather than a compiled classifier, or None."""
    from privml.models.compiled import unsupported_reason

    steps = getattr(model, "steps", [])
    final = steps[-1][1] if steps else model
    while hasattr(final, "steps"):
        final = final.steps[-1][1]
    return unsupported_reason(final)


def _compiled_prediction(batch: Batch, compiled: CompiledModel) -> Prediction:
    if compiled.regression:
        if batch.n_rows == 1:
            values = batch.values
            number = compiled.predict_one(
                values.first if isinstance(values, RowColumns) else lambda c: values.get(c, _ABSENT)[0])
            return Prediction([number], compiled=True, regression=True)
        return Prediction(compiled.predict(batch.values, batch.n_rows).tolist(), compiled=True, regression=True)
    classes = compiled.classes
    assert classes is not None  # a classifier's compiled form has its classes
    if batch.n_rows == 1:
        values = batch.values
        probabilities = compiled.predict_proba_one(
            values.first if isinstance(values, RowColumns) else lambda c: values.get(c, _ABSENT)[0])
        # the first of equal maxima, as numpy's argmax
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return Prediction([classes[best]], [probabilities], classes, compiled=True)
    proba = compiled.predict_proba(batch.values, batch.n_rows)
    # as lists: the scorer slices a prediction per request, and list slices cost less than numpy's
    return Prediction([classes[i] for i in np.argmax(proba, axis=1)], proba.tolist(), classes, compiled=True)


def pipeline_prediction(frame: pd.DataFrame, model: Any, plan: Any = None) -> Prediction:
    """The pipeline's prediction for a frame of raw columns (labels: the argmax of the probabilities; a
    regressor's numbers)."""
    plan = plan if plan is not None else column_plan(model)
    if plan.expected is not None and list(frame.columns) != list(plan.expected):
        missing = [c for c in plan.expected if c not in frame.columns and c in plan.required]
        if missing:
            raise InvalidInput(f"missing column(s): {', '.join(missing[:10])}")
        frame = frame.reindex(columns=list(plan.expected))
    steps = getattr(model, "steps", None)
    if steps and hasattr(steps[-1][1], "predict_proba"):
        # Pipeline.predict_proba step by step, without its per-call routing and fitted checks
        # (the steps were checked when the model was loaded)
        data = frame
        for _, step in steps[:-1]:
            if step is not None and step != "passthrough":
                data = step.transform(data)
        final = steps[-1][1]
        proba = np.asarray(final.predict_proba(data))
        classes = list(np.asarray(final.classes_).tolist())
        return Prediction([classes[i] for i in proba.argmax(axis=1)], proba, classes)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(frame))
        classes = list(np.asarray(model.classes_).tolist())
        return Prediction([classes[i] for i in proba.argmax(axis=1)], proba, classes)
    # a regressor: its numbers, as floats (a classifier without probabilities keeps its labels)
    predicted = np.asarray(model.predict(frame))
    if predicted.dtype.kind == "f":
        return Prediction(predicted.tolist(), regression=True)
    return Prediction(predicted.tolist())
