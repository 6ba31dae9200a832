"""The row form of fitted components: what a component's per-row function takes, and its one signal.

Each fitted component that can score a few rows without pandas owns that form next to its column-wise
one: a technique's `cell_function()` (privml.transforms), the anonymity engine's `row_router()`
(privml.anonymity), the feature encoder's `row_encoder()` (privml.models.features). They share this
module's cell type, the `NotCompiled` signal and the parsers of plain input, and it imports nothing of
privml, so every layer may use it.

A row form covers the plain case only. For anything else (a number that is not plain decimal, a date
that is not YYYY-MM-DD, a form it does not know) it raises `NotCompiled`, and the caller scores the
batch with the column-wise path, which owns every edge case and every error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

Cell = str | None  # a raw or released cell: a string, or None for missing
CellFunction = Callable[[Cell], Any]

_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class NotCompiled(Exception):
    """This input needs the column-wise path (an edge case, or an error to report). Never user-facing."""


def unchanged(cell: Cell) -> Cell:
    """The cell function of a technique that releases its cell as it is (callers may skip calling it)."""
    return cell


def plain_number(cell: str) -> float:
    """A plain decimal ("37", "-4.25") as a float; anything else (exponents, spaces, "inf") → NotCompiled."""
    if len(cell) <= 15 and cell.isdigit() and cell.isascii():  # most cells: the regex's cost, skipped
        return float(cell)
    if _PLAIN_NUMBER.fullmatch(cell) is None:
        raise NotCompiled
    return float(cell)


def iso_date(cell: str) -> str:
    """A valid YYYY-MM-DD date, as given; anything else → NotCompiled."""
    if _ISO_DATE.fullmatch(cell) is None:
        raise NotCompiled
    try:
        datetime.strptime(cell, "%Y-%m-%d")
    except ValueError:
        raise NotCompiled from None
    return cell


def not_compiled(cell: Any) -> Any:
    """A row form's part for an input kind it does not cover: every call hands the batch back."""
    raise NotCompiled
