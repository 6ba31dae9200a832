"""generalize: replace a value by a coarser one that many records share.

One of: `width` (numeric intervals [lo-hi) of that width from `origin`), `cuts` (explicit cut points),
`date` (`month` → YYYY-MM, `year` → YYYY), `prefix` (keep the first n characters, e.g. postcodes), or
`hierarchy` + `level` (a categorical hierarchy in the ARX CSV format; values missing from it become the
top `*`). Every form is monotone: values equal at a finer setting are equal at a coarser one.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from privml.errors import PrivmlError
from privml.rowform import Cell, CellFunction, NotCompiled, iso_date, plain_number
from privml.transforms.base import (
    Context,
    Technique,
    arrow_strings,
    from_arrow,
    iso_dates,
    parse_dates,
    parse_numbers,
    register,
)


class GeneralizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: float | None = Field(default=None, gt=0)
    origin: float = 0.0
    cuts: list[float] | None = None
    date: Literal["month", "year"] | None = None
    prefix: int | None = Field(default=None, ge=0)
    hierarchy: str | None = Field(default=None, description="ARX CSV hierarchy path")
    level: int | None = Field(default=None, ge=0)

    @field_validator("cuts")
    @classmethod
    def _sorted_cuts(cls, cuts: list[float] | None) -> list[float] | None:
        if cuts is not None and (not cuts or any(b <= a for a, b in pairwise(cuts))):
            raise ValueError("cuts must be a non-empty, strictly increasing list of numbers")
        return cuts

    @model_validator(mode="after")
    def _exactly_one(self) -> GeneralizeParams:
        chosen = [n for n in ("width", "cuts", "date", "prefix", "hierarchy") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of width, cuts, date, prefix, hierarchy")
        if self.hierarchy is not None and self.level is None:
            raise ValueError("hierarchy needs a level (0 = original values)")
        return self


_MAX_REMEMBERED = 4096  # released labels an interval cell function keeps formatted


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def interval_label(low: float, width: float) -> str:
    return f"[{_number_text(low)}-{_number_text(low + width)})"


def interval_labels(numbers: pd.Series, width: float, origin: float) -> pd.Series:
    lo = np.floor((numbers.to_numpy() - origin) / width) * width + origin
    codes, uniques = pd.factorize(lo, use_na_sentinel=True)
    labels = np.array([interval_label(u, width) for u in uniques] + [None], dtype=object)
    return pd.Series(labels[codes], index=numbers.index, dtype=object)


def cut_bucket_labels(cuts: list[float]) -> list[str]:
    """The label of each bucket the cut points make, lowest first (`bisect_right` order)."""
    return [f"<{_number_text(cuts[0])}", *(f"[{_number_text(a)}-{_number_text(b)})" for a, b in pairwise(cuts)),
            f">={_number_text(cuts[-1])}"]


def cut_labels(numbers: pd.Series, cuts: list[float]) -> pd.Series:
    edges = cut_bucket_labels(cuts)
    table = np.array([*edges, None], dtype=object)
    arr = numbers.to_numpy()
    idx = np.searchsorted(np.asarray(cuts), arr, side="right")
    idx = np.where(np.isnan(arr), len(edges), idx)
    return pd.Series(table[idx], index=numbers.index, dtype=object)


@register
class Generalize(Technique):
    name = "generalize"
    Params = GeneralizeParams

    @classmethod
    def keeps_numbers(cls, params: Mapping[str, Any] | None = None) -> bool:
        # a postcode cut to a prefix or a date to a month is categorical; widths, cuts and hierarchies of
        # a numeric column release numbers or numeric ranges
        return not {"prefix", "date"} & set(params or {})

    def fit(self, values: pd.Series, ctx: Context) -> dict[str, Any]:
        params: GeneralizeParams = self.params  # type: ignore[assignment]
        if params.width is not None or params.cuts is not None:
            parse_numbers(values, ctx.column)  # fail at fit, naming rows, if the column is not numeric
        if params.date is not None:
            parse_dates(values, ctx.column)
        if params.hierarchy is None:
            return {}
        from privml.anonymity.hierarchy import Hierarchy

        path = ctx.resolve_path(params.hierarchy) if ctx.resolve_path is not None else params.hierarchy
        hierarchy = Hierarchy.from_csv(ctx.column, path)
        level = params.level or 0
        if level >= hierarchy.height:
            raise PrivmlError(
                f"column '{ctx.column}': hierarchy has levels 0..{hierarchy.height - 1}, level {level} asked"
            )
        mapping = {row[0]: row[level] for row in hierarchy.rows}
        return {"mapping": mapping}

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        params: GeneralizeParams = self.params  # type: ignore[assignment]
        if params.width is not None:
            out = interval_labels(parse_numbers(values, ctx.column), params.width, params.origin)
        elif params.cuts is not None:
            out = cut_labels(parse_numbers(values, ctx.column), params.cuts)
        elif params.date is not None:
            if iso_dates(values) is not None:  # YYYY-MM-DD: the month and year are prefixes of the text
                out = from_arrow(
                    pc.utf8_slice_codeunits(arrow_strings(values), 0, 7 if params.date == "month" else 4), values
                )
            else:
                dates = parse_dates(values, ctx.column)
                out = dates.dt.strftime("%Y-%m" if params.date == "month" else "%Y").astype(object)
        elif params.prefix is not None:
            arr = arrow_strings(values)
            stars = pc.replace_substring_regex(pc.utf8_slice_codeunits(arr, params.prefix), ".", "*")
            out = from_arrow(
                pc.binary_join_element_wise(
                    pc.utf8_slice_codeunits(arr, 0, params.prefix), stars, pa.scalar("", arr.type)
                ),
                values,
            )
        else:
            mapping: dict[str, str] = self.state["mapping"]
            # Unseen categories generalize to the top of the hierarchy: never an error, never the raw value.
            out = values.map(lambda v: mapping.get(v, "*") if isinstance(v, str) else v).astype(object)
        out = out.where(values.notna(), None)
        out.name = values.name
        return out

    def cell_function(self) -> CellFunction:
        """Per form, the cell → label map `apply` computes; a form this method does not know raises
        NotCompiled (the pipeline serves it) rather than guessing."""
        params: GeneralizeParams = self.params  # type: ignore[assignment]
        if params.width is not None:
            return _interval_cells(params.width, params.origin)
        if params.cuts is not None:
            cuts = list(params.cuts)
            labels = cut_bucket_labels(cuts)

            def bucket(cell: Cell) -> Cell:
                return None if cell is None else labels[bisect_right(cuts, plain_number(cell))]

            return bucket
        if params.date is not None:
            size = 7 if params.date == "month" else 4  # YYYY-MM or YYYY: a prefix of an ISO date

            def period(cell: Cell) -> Cell:
                return None if cell is None else iso_date(cell)[:size]

            return period
        if params.prefix is not None:
            keep = params.prefix

            def prefix(cell: Cell) -> Cell:
                if cell is None:
                    return None
                if "\n" in cell:  # Arrow's `.` does not match a newline
                    raise NotCompiled
                return cell[:keep] + "*" * max(len(cell) - keep, 0)

            return prefix
        if params.hierarchy is not None and "mapping" in self.state:
            mapping: dict[str, str] = self.state["mapping"]
            return lambda cell: None if cell is None else mapping.get(cell, "*")
        raise NotCompiled


def _interval_cells(width: float, origin: float) -> CellFunction:
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
