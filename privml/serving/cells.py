"""Per-value forms of the privacy techniques, for scoring a few rows without pandas.

Each function maps one raw cell (a string, or None for missing) to exactly what the technique's
column-wise `apply` gives for that cell. Where a cell is anything but the plain case (a number that is
not plain decimal, a date that is not YYYY-MM-DD, a character Arrow's regex treats differently), the
function raises `NotCompiled` and the caller scores the whole batch with the column-wise path, which
owns every edge case and every error message. Correctness therefore never rests on this module alone:
tests compare it with `apply` cell by cell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from privml.transforms.base import Technique
from privml.transforms.generalize import GeneralizeParams, cut_bucket_labels, interval_label

Cell = str | None
CellFunction = Callable[[Cell], Any]

_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")
_MAX_REMEMBERED = 4096  # released labels an interval function keeps formatted
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class NotCompiled(Exception):
    """This input needs the column-wise path (an edge case, or an error to report). Never user-facing."""


def cell_text(value: Any) -> Cell:
    """A request value as the pipeline's frame holds it: a string, or None for missing (None, "", NaN);
    JSON numbers and booleans become their text, as they would read from CSV."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return str(value)


def plain_number(cell: str) -> float:
    """A plain decimal ("37", "-4.25") as a float; anything else (exponents, spaces, "inf") → NotCompiled."""
    if len(cell) <= 15 and cell.isdigit() and cell.isascii():  # most cells: the regex's cost, skipped
        return float(cell)
    if _PLAIN_NUMBER.fullmatch(cell) is None:
        raise NotCompiled
    return float(cell)


def _iso_date(cell: str) -> str:
    if _ISO_DATE.fullmatch(cell) is None:
        raise NotCompiled
    try:
        datetime.strptime(cell, "%Y-%m-%d")
    except ValueError:
        raise NotCompiled from None
    return cell


def keep_cell(cell: Cell) -> Cell:
    return cell


def _generalize(p: GeneralizeParams, state: dict[str, Any]) -> CellFunction | None:
    if p.width is not None:
        width, origin = p.width, p.origin

        labels: dict[float, str] = {}  # per interval: its label, formatted once

        def interval(cell: Cell) -> Cell:
            if cell is None:
                return None
            # floor of the quotient, as numpy computes it (Python's // differs for some floats)
            low = math.floor((plain_number(cell) - origin) / width) * width + origin
            label = labels.get(low)
            if label is None:
                label = interval_label(low, width)
                if len(labels) < _MAX_REMEMBERED:
                    labels[low] = label
            return label

        return interval
    if p.cuts is not None:
        from bisect import bisect_right

        cuts = list(p.cuts)
        edges = cut_bucket_labels(cuts)

        def bucket(cell: Cell) -> Cell:
            return None if cell is None else edges[bisect_right(cuts, plain_number(cell))]

        return bucket
    if p.date is not None:
        size = 7 if p.date == "month" else 4

        def period(cell: Cell) -> Cell:
            return None if cell is None else _iso_date(cell)[:size]

        return period
    if p.prefix is not None:
        keep = p.prefix

        def prefix(cell: Cell) -> Cell:
            if cell is None:
                return None
            if "\n" in cell:  # Arrow's `.` does not match a newline
                raise NotCompiled
            return cell[:keep] + "*" * max(len(cell) - keep, 0)

        return prefix
    mapping: dict[str, str] = state["mapping"]
    return lambda cell: None if cell is None else mapping.get(cell, "*")


def _redact(replacement: str, keep_missing: bool) -> CellFunction:
    return lambda cell: None if cell is None and keep_missing else replacement


def cell_function(technique: Technique) -> CellFunction | None:
    """The per-value form of a fitted technique, or None when it has none (keyed techniques, whose
    secret stays with the column-wise path, and techniques that read other columns)."""
    name = technique.name
    if name == "keep":
        return keep_cell
    if name == "generalize":
        return _generalize(technique.params, technique.state)  # type: ignore[arg-type]
    if name == "redact":
        p = technique.params
        return _redact(p.replacement, p.keep_missing)  # type: ignore[attr-defined]
    return None
