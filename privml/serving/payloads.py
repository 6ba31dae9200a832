"""Request payloads → rows of the model's raw schema, and content negotiation.

Requests carry the raw schema: CSV (with or without a header row) or JSON (records, a single record,
columnar, or `{"instances": ...}`). A `Batch` holds the rows column-wise, values as received; a
`ColumnPlan`, read from the fitted privacy step, says which columns a request may and must carry.
Shared by the SageMaker handler (`inference/handler.py`, which the artifact's `code/privml_inference.py`
imports) and the local endpoint. Error messages name columns, rows and problems, never a value from the
request (invariant 1).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from privml.errors import PrivmlError

CSV = "text/csv"
JSON = "application/json"
SUPPORTED = (CSV, JSON)


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
    techniques read (every policy column that is neither the label nor dropped). A served model
    (`privml.serving.model.ServedModel`) carries its plan already."""
    known = getattr(model, "plan", None)
    if isinstance(known, ColumnPlan):
        return known
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
    from privml.transforms import technique_class

    required = {c for c, spec in columns.items()
                if isinstance(spec, dict) and c not in label
                and not technique_class(spec.get("action", "keep")).drops_column}
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
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800"): no text the pipeline can hold
            raise InvalidInput(f"column {column!r} row {row} is not valid Unicode") from None
        return value
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
# content negotiation


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
