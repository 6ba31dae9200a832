"""generalize: replace a value by a coarser one that many records share.

One of: `width` (numeric intervals [lo-hi) of that width from `origin`), `cuts` (explicit cut points),
`date` (`month` → YYYY-MM, `year` → YYYY), `prefix` (keep the first n characters, e.g. postcodes), or
`hierarchy` + `level` (a categorical hierarchy in the ARX CSV format; values missing from it become the
top `*`). Every form is monotone: values equal at a finer setting are equal at a coarser one.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from privml.errors import PrivmlError
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


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def interval_label(low: float, width: float) -> str:
    return f"[{_fmt(low)}-{_fmt(low + width)})"


def interval_labels(numbers: pd.Series, width: float, origin: float) -> pd.Series:
    lo = np.floor((numbers.to_numpy() - origin) / width) * width + origin
    codes, uniques = pd.factorize(lo, use_na_sentinel=True)
    labels = np.array([interval_label(u, width) for u in uniques] + [None], dtype=object)
    return pd.Series(labels[codes], index=numbers.index, dtype=object)


def cut_bucket_labels(cuts: list[float]) -> list[str]:
    """The label of each bucket the cut points make, lowest first (`bisect_right` order)."""
    return [f"<{_fmt(cuts[0])}", *(f"[{_fmt(a)}-{_fmt(b)})" for a, b in pairwise(cuts)), f">={_fmt(cuts[-1])}"]


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

    def fit(self, values: pd.Series, ctx: Context) -> dict[str, Any]:
        p: GeneralizeParams = self.params  # type: ignore[assignment]
        if p.width is not None or p.cuts is not None:
            parse_numbers(values, ctx.column)  # fail at fit, naming rows, if the column is not numeric
        if p.date is not None:
            parse_dates(values, ctx.column)
        if p.hierarchy is None:
            return {}
        from privml.anonymity.hierarchy import Hierarchy

        hierarchy = Hierarchy.from_csv(ctx.column, self.state.get("hierarchy_path", p.hierarchy))
        level = p.level or 0
        if level >= hierarchy.height:
            raise PrivmlError(
                f"column '{ctx.column}': hierarchy has levels 0..{hierarchy.height - 1}, level {level} asked"
            )
        mapping = {row[0]: row[level] for row in hierarchy.rows}
        return {"mapping": mapping}

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        p: GeneralizeParams = self.params  # type: ignore[assignment]
        if p.width is not None:
            out = interval_labels(parse_numbers(values, ctx.column), p.width, p.origin)
        elif p.cuts is not None:
            out = cut_labels(parse_numbers(values, ctx.column), p.cuts)
        elif p.date is not None:
            if iso_dates(values) is not None:  # YYYY-MM-DD: the month and year are prefixes of the text
                out = from_arrow(
                    pc.utf8_slice_codeunits(arrow_strings(values), 0, 7 if p.date == "month" else 4), values
                )
            else:
                dates = parse_dates(values, ctx.column)
                out = dates.dt.strftime("%Y-%m" if p.date == "month" else "%Y").astype(object)
        elif p.prefix is not None:
            arr = arrow_strings(values)
            stars = pc.replace_substring_regex(pc.utf8_slice_codeunits(arr, p.prefix), ".", "*")
            out = from_arrow(
                pc.binary_join_element_wise(pc.utf8_slice_codeunits(arr, 0, p.prefix), stars, pa.scalar("", arr.type)),
                values,
            )
        else:
            mapping: dict[str, str] = self.state["mapping"]
            # Unseen categories generalize to the top of the hierarchy: never an error, never the raw value.
            out = values.map(lambda v: mapping.get(v, "*") if isinstance(v, str) else v).astype(object)
        out = out.where(values.notna(), None)
        out.name = values.name
        return out
