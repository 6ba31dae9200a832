"""The SageMaker inference handler: `model_fn`, `input_fn`, `predict_fn`, `output_fn`.

Shipped as `code/inference.py` in the model artifact so the SageMaker scikit-learn serving container
finds it, and used by the local endpoint. The model is a scikit-learn Pipeline whose first step
("privacy") is the fitted PrivacyTransformer, so each request is anonymized before any model step
sees it; `model_fn` refuses a pipeline without it.

Requests carry the raw schema: CSV (with or without a header row) or JSON (records, a single record,
columnar, or `{"instances": ...}`). Responses: CSV (one predicted label per line) or JSON
(`{"predictions": [{"label": ..., "probabilities": {...}}]}`) per the Accept header.

Error messages name columns, rows and problems, never a value from the request (invariant 1).
"""

from __future__ import annotations

import csv
import io
import json
import re
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _bootstrap_privml() -> None:
    """In the serving container (network isolation: no PyPI) privml comes from the wheelhouse the
    model artifact ships beside this file: `code/wheels/`."""
    import importlib.util

    if importlib.util.find_spec("privml") is not None:
        return
    import subprocess
    import sys

    wheels = Path(__file__).resolve().parent / "wheels"
    if not wheels.is_dir():
        raise ImportError(f"privml is not installed and no wheelhouse at {wheels}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "privml"],
                   check=True)


_bootstrap_privml()

from privml.errors import PrivmlError  # noqa: E402 - after the bootstrap above
from privml.serving import MAX_ROWS  # noqa: E402
from privml.serving.cells import cell_text  # noqa: E402
from privml.serving.compiled import CompiledModel, compile_model  # noqa: E402

CSV = "text/csv"
JSON = "application/json"
SUPPORTED = (CSV, JSON)
PRIVACY_STEP = "privacy"


class InvalidInput(PrivmlError):
    """The request cannot be scored as sent (HTTP 400). The message never holds a request value."""

    status = 400


class UnsupportedContentType(InvalidInput):
    status = 415


class NotAcceptable(InvalidInput):
    status = 406


class RowColumns(Mapping[str, list[Any]]):
    """The columns of parsed CSV rows, each one extracted when first read: the compiled model reads only
    the columns it uses, and concatenating requests joins rows rather than every column."""

    __slots__ = ("_cache", "positions", "rows")

    def __init__(self, rows: list[list[str]], positions: dict[str, int | None]) -> None:
        self.rows = rows
        self.positions = positions  # column → its field in a row; None: absent, read as missing
        self._cache: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        column = self._cache.get(name)
        if column is None:
            i = self.positions[name]
            column = [None] * len(self.rows) if i is None else [row[i] for row in self.rows]
            self._cache[name] = column
        return column

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[name] if name in self.positions else default

    def first(self, name: str) -> Any:
        """The first row's value of a column (None when absent), without extracting the column."""
        i = self.positions.get(name)
        return None if i is None else self.rows[0][i]

    def __iter__(self) -> Iterator[str]:
        return iter(self.positions)

    def __len__(self) -> int:
        return len(self.positions)


@dataclass
class Batch:
    """Rows in the model's raw column order, column-wise, values as received (str from CSV)."""

    columns: list[str]
    values: Mapping[str, list[Any]]
    n_rows: int

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        if len(batches) == 1:
            return batches[0]
        columns = batches[0].columns
        n_rows = sum(b.n_rows for b in batches)
        first = batches[0].values
        if isinstance(first, RowColumns) and all(
                isinstance(b.values, RowColumns)
                and (b.values.positions is first.positions or b.values.positions == first.positions)
                for b in batches):
            return Batch(columns, RowColumns([r for b in batches for r in b.values.rows], first.positions), n_rows)
        values = {c: [v for b in batches for v in b.values[c]] for c in columns}
        return Batch(columns, values, n_rows)


@dataclass
class Prediction:
    labels: list[Any]
    probabilities: np.ndarray | list[list[float]] | None = None  # lists from the compiled model
    classes: list[Any] | None = None
    compiled: bool = False  # scored by the compiled model rather than the pipeline

    def __len__(self) -> int:
        return len(self.labels)

    def slice(self, start: int, stop: int) -> Prediction:
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Prediction(self.labels[start:stop], proba, self.classes, self.compiled)


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


def model_fn(model_dir: str) -> Any:
    """SageMaker: load `model_dir/model.skops` with privml's trusted-type loader."""
    from privml.models.persistence import load_model

    global _SERVED_PLAN
    path = Path(model_dir) / "model.skops"
    if not path.is_file():
        raise PrivmlError(f"model file not found: {path}")
    model = check_model(load_model(path))
    _SERVED_PLAN = column_plan(model)
    return model


# The serving container calls input_fn without the model; the plan of the model model_fn loaded lets it
# read header-less CSV (columns in the model's raw order) like the local endpoint does.
_SERVED_PLAN: ColumnPlan | None = None


@dataclass(frozen=True)
class ColumnPlan:
    """The raw columns a request may carry, in model order, and those it must carry."""

    expected: tuple[str, ...] | None  # None: the model did not record its input columns
    required: frozenset[str]
    names: frozenset[str] = field(init=False, repr=False, compare=False)  # `expected`, for lookups
    layouts: dict[str, Any] = field(init=False, repr=False, compare=False)  # CSV header line → its layout

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(self.expected or ()))
        object.__setattr__(self, "layouts", {})


def column_plan(model: Any) -> ColumnPlan:
    """From the fitted privacy step: its input columns minus the label; required = the ones its
    techniques read (every policy column that is neither the label nor dropped)."""
    privacy = model.steps[0][1] if getattr(model, "steps", None) else model
    names = getattr(privacy, "feature_names_in_", None)
    if names is None:
        names = getattr(model, "feature_names_in_", None)
    if names is None:
        return ColumnPlan(None, frozenset())
    names = [str(n) for n in names]
    policy = getattr(privacy, "policy", None)
    columns = policy.get("columns") if isinstance(policy, dict) else None
    if not isinstance(columns, dict):
        return ColumnPlan(tuple(names), frozenset(names))
    label = {c for c, spec in columns.items() if isinstance(spec, dict) and spec.get("role") == "label"}
    required = {c for c, spec in columns.items()
                if isinstance(spec, dict) and c not in label and spec.get("action") != "drop"}
    return ColumnPlan(tuple(n for n in names if n not in label), frozenset(required & set(names)))


# --------------------------------------------------------------------------------------------------
# parsing


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        text = body.decode("utf-8")  # the utf-8-sig codec is Python code: dropping a BOM here is cheaper
    except UnicodeDecodeError:
        raise InvalidInput("the request body is not valid UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def _align(received: Sequence[str], plan: ColumnPlan | None) -> list[str]:
    """The columns to keep, in model order; missing required ones are an error, unknown ones are
    ignored, missing optional ones are filled as missing values by the callers."""
    if plan is None or plan.expected is None:
        return list(received)
    have = set(received)
    missing = [c for c in plan.expected if c not in have and c in plan.required]
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise InvalidInput(f"missing column(s): {shown}")
    return list(plan.expected)


def _csv_rows(text: str) -> list[list[str]]:
    """The CSV's rows as the `csv` module reads them (an empty line is an empty row)."""
    if not text:
        return []
    if _plain(text):  # several times faster than the reader
        return [line.split(",") if line else [] for line in text.split("\n")[: -1 if text.endswith("\n") else None]]
    try:
        return list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        line = getattr(exc, "line_num", None)
        raise InvalidInput("malformed CSV" + (f" near line {line}" if line else "")) from None


@dataclass(frozen=True)
class _CsvLayout:
    """How a CSV's rows map onto the model's columns: the columns, each one's field position (None:
    absent, filled as missing), the row width, the first data row's line number, and what is wrong with
    the header if anything (reported after the rows' widths, like a reader that checks rows first)."""

    columns: list[str]
    positions: dict[str, int | None]
    width: int
    first_line: int
    problem: str | None = None


def _csv_layout(first: list[str], plan: ColumnPlan | None) -> _CsvLayout:
    expected = None if plan is None else plan.expected
    # A header row is one whose fields are mostly the model's column names (extra columns allowed).
    stripped = [f.strip() for f in first]
    names = plan.names if plan is not None else frozenset()
    if expected is not None and sum(f in names for f in stripped) * 2 < max(len(first), 2):
        columns = list(expected)
        return _CsvLayout(columns, {c: i for i, c in enumerate(columns)}, len(columns), 1)
    if len(set(stripped)) != len(stripped):
        raise InvalidInput("the CSV header repeats a column name")
    try:
        columns = _align(stripped, plan)
    except InvalidInput as exc:
        return _CsvLayout([], {}, len(stripped), 2, str(exc))
    index = {name: i for i, name in enumerate(stripped)}
    return _CsvLayout(columns, {c: index.get(c) for c in columns}, len(stripped), 2)


_MAX_LAYOUTS = 16


def _plain(text: str) -> bool:
    """Nothing quoted and one kind of line end: splitting is what the csv reader would do."""
    return '"' not in text and "\r" not in text and "\x00" not in text


def parse_csv(text: str, plan: ColumnPlan | None) -> Batch:
    plain = _plain(text)
    if plain and plan is not None:
        # Clients send the same header with every request: its layout is remembered by its text (header
        # rows only, never a first row of data; at most _MAX_LAYOUTS), and the header is not split again.
        header, _, rest = text.partition("\n")
        layout = plan.layouts.get(header)
        if layout is not None:
            return _batch([line.split(",") for line in rest.split("\n") if line], layout)
    rows = [r for r in _csv_rows(text) if r]
    if not rows:
        raise InvalidInput("the request has no rows")
    layout = _csv_layout(rows[0], plan)
    if plain and plan is not None and layout.first_line == 2 and len(plan.layouts) < _MAX_LAYOUTS:
        plan.layouts[text.partition("\n")[0]] = layout
    return _batch(rows[1:] if layout.first_line == 2 else rows, layout)


def _batch(rows: list[list[str]], layout: _CsvLayout) -> Batch:
    if not rows:
        raise InvalidInput("the request has a header but no rows")
    width = layout.width
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInput(
                f"CSV row {i + layout.first_line} has {len(row)} fields, expected {width}"
                + ("" if layout.first_line == 2 else " (the model's raw columns; or send a header row)")
            )
    if layout.problem is not None:
        raise InvalidInput(layout.problem)
    return Batch(layout.columns, RowColumns(rows, layout.positions), len(rows))


def _scalar(value: Any, column: str, row: int) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidInput(f"column {column!r} row {row} holds a nested value; only scalars are accepted")


def parse_json(text: str, plan: ColumnPlan | None) -> Batch:
    expected = None if plan is None else plan.expected
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput("the request body is not valid JSON") from None
    if isinstance(doc, dict) and set(doc) == {"instances"}:
        doc = doc["instances"]
    if isinstance(doc, dict):
        if doc and all(isinstance(v, list) for v in doc.values()):
            return _from_columnar(doc, plan)
        if any(isinstance(v, list | dict) for v in doc.values()):
            raise InvalidInput("JSON object mixes list and scalar values; send records or columns")
        doc = [doc]
    if not isinstance(doc, list):
        raise InvalidInput("JSON must be a list of records, a record, or an object of columns")
    if not doc:
        raise InvalidInput("the request has no rows")
    if all(isinstance(r, dict) for r in doc):
        return _from_records(doc, plan)
    if all(isinstance(r, list) for r in doc) and expected is not None:
        width = len(expected)
        for i, r in enumerate(doc):
            if len(r) != width:
                raise InvalidInput(f"JSON row {i + 1} has {len(r)} values, expected {width}")
        return _from_records([dict(zip(expected, r, strict=True)) for r in doc], plan)
    raise InvalidInput("JSON rows must all be objects (records)")


def _from_records(records: list[dict[str, Any]], plan: ColumnPlan | None) -> Batch:
    seen: dict[str, None] = {}
    for r in records:
        for k in r:
            seen.setdefault(str(k), None)
    columns = _align(list(seen), plan)
    values = {
        c: [_scalar(r.get(c), c, i + 1) for i, r in enumerate(records)] for c in columns
    }
    return Batch(columns, values, len(records))


def _from_columnar(doc: dict[str, list[Any]], plan: ColumnPlan | None) -> Batch:
    columns = _align(list(doc), plan)
    lengths = {len(doc[c]) for c in columns if c in doc}
    if len(lengths) != 1:
        raise InvalidInput("JSON columns have different lengths")
    n = lengths.pop()
    if n == 0:
        raise InvalidInput("the request has no rows")
    values = {c: [_scalar(v, c, i + 1) for i, v in enumerate(doc[c])] if c in doc else [None] * n
              for c in columns}
    return Batch(columns, values, n)


def parse_payload(body: bytes | str, content_type: str | None, plan: ColumnPlan | None) -> Batch:
    kind = media_type(content_type)
    if kind not in SUPPORTED:
        raise UnsupportedContentType(f"unsupported content type; send one of {', '.join(SUPPORTED)}")
    text = _decode(body)
    return parse_csv(text, plan) if kind == CSV else parse_json(text, plan)


# --------------------------------------------------------------------------------------------------
# the frame the pipeline sees: every column as strings, empty cells missing — exactly what
# `privml.io.tables.read_table` (pandas.read_csv(dtype=str, na_values=[""])) gave the transformer at fit


def to_frame(batch: Batch) -> pd.DataFrame:
    """The batch as the DataFrame the pipeline expects: the raw columns, as strings."""
    data = {c: np.array([cell_text(v) for v in batch.values[c]], dtype=object) for c in batch.columns}
    return pd.DataFrame(data, columns=batch.columns, dtype="str")


# --------------------------------------------------------------------------------------------------
# the four SageMaker functions


def input_fn(input_data: bytes | str, content_type: str) -> Batch:
    """SageMaker: parse the body into rows of the raw schema (aligned to the loaded model's columns)."""
    return parse_payload(input_data, content_type, _SERVED_PLAN)


# The compiled form of each model predict_fn has seen, built on first use; weak keys let models go.
_COMPILED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def compiled_model(model: Any) -> CompiledModel | None:
    """The model's compiled form (`privml.serving`), or None when it has none; cached per model."""
    try:
        return _COMPILED[model]
    except KeyError:
        compiled = _COMPILED[model] = compile_model(model)
        return compiled
    except TypeError:  # not weak-referenceable: compile each time rather than keep it alive
        return compile_model(model)


_ABSENT = [None]


def _compiled_prediction(batch: Batch, compiled: CompiledModel) -> Prediction | None:
    classes = compiled.classes
    try:
        if batch.n_rows == 1:
            values = batch.values
            probabilities = compiled.predict_proba_one(
                values.first if isinstance(values, RowColumns) else lambda c: values.get(c, _ABSENT)[0])
            # the first of equal maxima, as numpy's argmax
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            return Prediction([classes[best]], [probabilities], classes, compiled=True)
        proba = compiled.predict_proba(batch.values, batch.n_rows)
    except Exception:  # NotCompiled, or an input only the pipeline can judge (and word an error for)
        return None
    # as lists: the scorer slices a prediction per request, and list slices cost less than numpy's
    return Prediction([classes[i] for i in np.argmax(proba, axis=1)], proba.tolist(), classes, compiled=True)


def predict_fn(input_data: Batch | pd.DataFrame, model: Any) -> Prediction:
    """Score rows: a Batch of up to `privml.serving.MAX_ROWS` rows with the model's compiled form when
    it covers them, otherwise (and any DataFrame) in one pass through the pipeline. Labels are the
    argmax of the probabilities."""
    if isinstance(input_data, Batch):
        if input_data.n_rows <= MAX_ROWS:
            compiled = compiled_model(model)
            fast = None if compiled is None else _compiled_prediction(input_data, compiled)
            if fast is not None:
                return fast
        input_data = to_frame(input_data)
    plan = column_plan(model)
    if plan.expected is not None and list(input_data.columns) != list(plan.expected):
        missing = [c for c in plan.expected if c not in input_data.columns and c in plan.required]
        if missing:
            raise InvalidInput(f"missing column(s): {', '.join(missing[:10])}")
        input_data = input_data.reindex(columns=list(plan.expected))
    steps = getattr(model, "steps", None)
    if steps and hasattr(steps[-1][1], "predict_proba"):
        # Pipeline.predict_proba step by step, without its per-call routing and fitted checks
        # (the steps were checked when the model was loaded)
        data = input_data
        for _, step in steps[:-1]:
            if step is not None and step != "passthrough":
                data = step.transform(data)
        final = steps[-1][1]
        proba = np.asarray(final.predict_proba(data))
        classes = list(np.asarray(final.classes_).tolist())
        labels = [classes[i] for i in proba.argmax(axis=1)]
        return Prediction(labels, proba, classes)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(input_data))
        classes = list(np.asarray(model.classes_).tolist())
        labels = [classes[i] for i in proba.argmax(axis=1)]
        return Prediction(labels, proba, classes)
    return Prediction(np.asarray(model.predict(input_data)).tolist())


def choose_accept(accept: str | None, content_type: str | None) -> str:
    """Accept header → response type; `*/*` or none answers in the request's type."""
    fallback = media_type(content_type) if media_type(content_type) in SUPPORTED else JSON
    if not accept:
        return fallback
    for part in accept.split(","):
        kind = media_type(part)
        if kind in SUPPORTED:
            return kind
        if kind in ("*/*", "text/*", "application/*"):
            return fallback if kind == "*/*" or fallback.startswith(kind[:-1]) else (CSV if kind == "text/*" else JSON)
    raise NotAcceptable(f"cannot answer in the requested type; accepted: {', '.join(SUPPORTED)}")


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
