"""The SageMaker inference handler: `model_fn`, `input_fn`, `predict_fn`, `output_fn`, and `respond`.

Part of the privml wheel (`inference.handler`); the model artifact's serving program
(`code/privml_inference.py`, from inference/privml_inference.py) imports it once the serving toolkit has
installed privml from the artifact's wheels, and the local endpoint and the privml image's container
server (inference/container.py) use it directly. The model is a scikit-learn Pipeline whose first step
("privacy") is the fitted PrivacyTransformer, so each request is anonymized before any model step
sees it; `model_fn` refuses a pipeline without it.

Requests carry the raw schema: CSV (with or without a header row) or JSON (records, a single record,
columnar, or `{"instances": ...}`), parsed by `privml.serving.payloads`. Responses: CSV (one predicted
label per line) or JSON (`{"predictions": [{"label": ..., "probabilities": {...}}]}`) per the Accept header;
a regression model answers numbers: CSV one number per line, JSON `{"predictions": [{"score": 151.2}]}`
(the shape of SageMaker's built-in regressors).

Key material: the container is network-isolated and cannot reach KMS. `model_fn` binds the key provider
the model's Environment names (PRIVML_KEY_PROVIDER): `file` reads the derived-secrets file the model's
additional data source places at PRIVML_KEY_FILE (only the secrets of keyed columns the model reads;
identifier columns are never transformed when serving), `none` gives it no key material.

Error messages name columns, rows and problems, never a value from the request (invariant 1).
`respond` runs one request start to finish and turns every failure into its HTTP status (413, 415, 400,
406, 503, 500) with such a message, so no exception (and no traceback that could quote a value) leaves
the handler.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privml.errors import KeyUnavailable, PrivmlError
from privml.serving.model import ModelFailed, Prediction, ServedModel, served_model, to_frame
from privml.serving.payloads import (  # re-exported: the handler's names for its callers
    CSV,
    JSON,
    SUPPORTED,
    Batch,
    ColumnPlan,
    InvalidInput,
    NotAcceptable,
    RowColumns,
    UnsupportedContentType,
    choose_accept,
    column_plan,
    media_type,
    parse_csv,
    parse_json,
    parse_payload,
)

__all__ = [
    "CSV",
    "JSON",
    "SUPPORTED",
    "Batch",
    "ColumnPlan",
    "InvalidInput",
    "ModelFailed",
    "NotAcceptable",
    "Prediction",
    "Reply",
    "RowColumns",
    "ServedModel",
    "UnsupportedContentType",
    "bind_key_provider",
    "check_model",
    "choose_accept",
    "column_plan",
    "input_fn",
    "media_type",
    "model_fn",
    "output_fn",
    "parse_csv",
    "parse_json",
    "parse_payload",
    "predict_fn",
    "respond",
    "to_frame",
]

PRIVACY_STEP = "privacy"
MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker real-time endpoints: 6 MB per request

log = logging.getLogger("privml.endpoint")


# --------------------------------------------------------------------------------------------------
# model loading


def _privacy_transformer_class() -> type | None:
    try:
        from privml.transformer import PrivacyTransformer
    except ImportError:  # pragma: no cover - the privacy core ships with privml
        return None
    return PrivacyTransformer


def check_model(model: Any, *, require_privacy_transformer: bool = True) -> Any:
    """Refuse to serve a model whose first step is not the fitted privacy transformer."""
    steps = getattr(model, "steps", None)
    if not steps or steps[0][0] != PRIVACY_STEP:
        raise PrivmlError(f"the model must be a Pipeline whose first step is {PRIVACY_STEP!r}")
    cls = _privacy_transformer_class()
    if require_privacy_transformer and cls is not None and not isinstance(steps[0][1], cls):
        raise PrivmlError(f"the model's {PRIVACY_STEP!r} step is not a PrivacyTransformer")
    return model


def bind_key_provider(model: Any, provider: Any = None) -> Any:
    """Give the model's privacy step its key material: `provider`, or the one PRIVML_KEY_PROVIDER names
    (left to the transformer's own default when the variable is unset: interactive use). `model` is the
    pipeline or the `ServedModel` that `model_fn` returns; either way the provider reaches the pipeline's
    privacy step, which every path (compiled or pipeline) derives its secrets through."""
    pipeline = model.model if isinstance(model, ServedModel) else model
    if provider is None:
        import os

        from privml.crypto.providers import PROVIDER_ENV, key_provider, provider_choice

        if not os.environ.get(PROVIDER_ENV):
            return model
        provider = key_provider(provider_choice())
    pipeline.steps[0][1].set_key_provider(provider)
    return model


def model_fn(model_dir: str) -> ServedModel:
    """SageMaker: load `model_dir/model.skops` with privml's trusted-type loader, bind its key provider,
    and return it as the one object that scores (`ServedModel`)."""
    from privml.models.persistence import load_model

    global _SERVED_PLAN
    path = Path(model_dir) / "model.skops"
    if not path.is_file():
        raise PrivmlError(f"model file not found: {path}")
    model = bind_key_provider(check_model(load_model(path)))
    served = ServedModel(model)
    _SERVED_PLAN = served.plan
    return served


# The serving container calls input_fn without the model; the plan of the model model_fn loaded lets it
# read header-less CSV (columns in the model's raw order) like the local endpoint does.
_SERVED_PLAN: ColumnPlan | None = None



# --------------------------------------------------------------------------------------------------
# the four SageMaker functions


def input_fn(input_data: bytes | str, content_type: str) -> Batch:
    """SageMaker: parse the body into rows of the raw schema (aligned to the loaded model's columns)."""
    return parse_payload(input_data, content_type, _SERVED_PLAN)


def predict_fn(input_data: Batch | pd.DataFrame, model: Any) -> Prediction:
    """SageMaker: score rows. The served model decides the path (`privml.serving.model.ServedModel`):
    the compiled form for a Batch it covers, the pipeline otherwise and for any DataFrame. Raises
    InvalidInput, KeyUnavailable or ModelFailed (whose text is an exception type, never a value)."""
    return served_model(model).score(input_data)


# A label the csv module writes as is: non-empty, nothing to quote, not a float repr to re-derive
_CSV_PLAIN = re.compile(r"[^\s,\"\r\n]+")


_CSV_LINES: dict[str | int, str] = {}  # label → its CSV line, for labels csv.writer leaves as they are


def _plain_csv(labels: Sequence[Any]) -> str | None:
    """The labels' CSV when each is a str or int that csv.writer writes unquoted, else None."""
    lines = []
    for label in labels:
        if type(label) is not str and type(label) is not int:
            return None
        line = _CSV_LINES.get(label)
        if line is None:
            text = str(label)
            if not _CSV_PLAIN.fullmatch(text):
                return None
            line = text + "\n"
            if len(_CSV_LINES) < 1024:  # labels are the model's classes: a small set
                _CSV_LINES[label] = line
        lines.append(line)
    return "".join(lines)


def _label(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def output_fn(prediction: Prediction, accept: str) -> tuple[str, str]:
    """SageMaker: serialize. Returns (body, content type)."""
    kind = accept if accept in SUPPORTED else choose_accept(accept, None)
    if prediction.regression:  # numbers: repr round-trips a float exactly
        if kind == CSV:
            return "".join(f"{float(v)!r}\n" for v in prediction.labels), CSV
        return json.dumps({"predictions": [{"score": float(v)} for v in prediction.labels]}), JSON
    if kind == CSV:
        text = _plain_csv(prediction.labels)
        if text is not None:
            return text, CSV
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for label in prediction.labels:
            writer.writerow([_label(label)])
        return buf.getvalue(), CSV
    if prediction.probabilities is not None and prediction.classes is not None:
        names = [str(_label(c)) for c in prediction.classes]
        rows = [
            {"label": _label(lab), "probabilities": dict(zip(names, (round(float(p), 6) for p in probs), strict=True))}
            for lab, probs in zip(prediction.labels, prediction.probabilities, strict=True)
        ]
    else:
        rows = [{"label": _label(lab)} for lab in prediction.labels]
    return json.dumps({"predictions": rows}), JSON


# --------------------------------------------------------------------------------------------------
# one request, start to finish: what the serving containers' transform_fn runs


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str


def _refused(status: int, message: str) -> Reply:
    log.warning("invocation refused: %d %s", status, message)  # the message names problems, never values
    return Reply(status, json.dumps({"error": message}), JSON)


def respond(model: Any, body: bytes | str, content_type: str | None, accept: str | None, *,
            max_payload: int = MAX_PAYLOAD) -> Reply:
    """Parse, score and serialize one request. Never raises: bad input is the matching 4xx, a key store
    the endpoint cannot use 503, a bug 500, each with a message that quotes nothing from the request."""
    try:
        size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
        if size > max_payload:
            return _refused(413, f"payload exceeds {max_payload} bytes")
        if not content_type:
            raise InvalidInput("missing Content-Type; send text/csv or application/json")
        kind = choose_accept(accept, content_type)
        data = input_fn(body, content_type)
        try:
            prediction = predict_fn(data, model)
        except ModelFailed as exc:  # input that parsed but the model cannot score
            return _refused(400, f"the model could not score the request ({exc})")
        text, out_type = output_fn(prediction, kind)
    except InvalidInput as exc:
        return _refused(exc.status, str(exc))
    except KeyUnavailable:
        return _refused(503, "the endpoint cannot use its privacy keys")
    except Exception as exc:  # a bug: the type only, the message may quote a value
        log.error("internal error handling a request: %s", type(exc).__name__)
        return Reply(500, json.dumps({"error": "internal error"}), JSON)
    return Reply(200, text, out_type)
