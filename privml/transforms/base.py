"""The contract every anonymization technique meets, and the registry that finds them by name.

A technique is configured by its `Params` (a pydantic model: validated in the policy, errors name the
field), may learn a little from the data in `fit` (returned as plain, JSON-able state — never a secret),
and maps a column to its anonymized form in `apply`. Techniques work on whole columns so that they can be
vectorized: keyed ones compute each distinct value once. Next to `apply`, a technique may define its row
form, `cell_function()`: the same mapping for one cell, for scoring a few rows without pandas (see
`privml.rowform`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from privml.errors import PrivmlError
from privml.io import rows
from privml.rowform import CellFunction


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Context:
    """What a technique may use besides its own column."""

    column: str
    secret: bytes | None = None  # derived for this technique's purpose; only for keyed techniques
    frame: pd.DataFrame | None = None  # the whole input table, for techniques keyed on another column
    resolve_path: Callable[[str], Path] | None = None  # a path named in the policy → where it is

    def __repr__(self) -> str:  # never show the secret
        return f"Context(column={self.column!r})"


class Technique(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    needs_key: ClassVar[bool] = False
    # The purpose string a keyed technique's secret is derived for. Same key + purpose → same secret,
    # so tokens join across columns and tables; different techniques never share a secret.
    purpose: ClassVar[str] = ""
    secret_length: ClassVar[int] = 32
    drops_column: ClassVar[bool] = False
    releases_unchanged: ClassVar[bool] = False  # the column leaves as it came in (the safety net checks it)
    reversible: ClassVar[bool] = False  # a key holder gets the values back with `reverse` (reidentify)

    def __init__(self, params: BaseModel | dict[str, Any] | None = None, state: dict[str, Any] | None = None):
        self.params = params if isinstance(params, BaseModel) else self.Params.model_validate(params or {})
        self.state: dict[str, Any] = dict(state or {})

    @classmethod
    def keeps_numbers(cls, params: Mapping[str, Any] | None = None) -> bool:
        """Whether a numeric column leaves this technique as numbers or numeric ranges (a DP model then
        needs bounds for it, not categories)."""
        return cls.releases_unchanged

    def fit(self, values: pd.Series, ctx: Context) -> dict[str, Any]:
        """Learn what `apply` needs from the training column; returns the state (JSON-able, no secrets)."""
        return {}

    @abstractmethod
    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        """The anonymized column. Missing values stay missing unless the technique says otherwise."""

    def cell_function(self) -> CellFunction | None:
        """The fitted technique for one cell: raw cell (None for missing) → exactly what `apply` gives
        for it, raising `privml.rowform.NotCompiled` for any cell it does not cover. None when the
        technique has no row form: keyed techniques, whose secret stays with the column-wise path, and
        those that read other columns or whose column-wise semantics a per-cell form would only mimic."""
        return None


_REGISTRY: dict[str, type[Technique]] = {}


def register(cls: type[Technique]) -> type[Technique]:
    if cls.name in _REGISTRY:
        raise RuntimeError(f"technique {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def technique_class(name: str) -> type[Technique]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LookupError(f"unknown action '{name}'; choose one of: {', '.join(sorted(_REGISTRY))}") from None


def technique_names() -> list[str]:
    return sorted(_REGISTRY)


def as_text(values: pd.Series) -> pd.Series:
    """The column as Python strings with missing values as None (object dtype)."""
    out = values.astype(object)
    return out.where(values.notna(), None)


def map_distinct(values: pd.Series, fn: Callable[[str], str]) -> pd.Series:
    """Apply `fn` once per distinct non-missing value and broadcast: keyed hashing and encryption cost
    one call per distinct value, not per row."""
    return map_distinct_batch(values, lambda uniques: [fn(u) for u in uniques.to_pylist()])


def map_distinct_batch(values: pd.Series, fn: Callable[[pa.Array], pa.Array | Sequence[str]]) -> pd.Series:
    """Like `map_distinct`, with `fn` taking all distinct values at once as an Arrow string array and
    returning their images in the same order (for vectorized techniques). Missing stays missing."""
    encoded = arrow_strings(values).dictionary_encode()
    mapped = fn(encoded.dictionary)
    if not isinstance(mapped, pa.Array):
        mapped = pa.array(mapped, pa.large_string())
    return from_arrow(mapped.take(encoded.indices), values)


def arrow_strings(values: pd.Series) -> pa.Array:
    """The column as an Arrow string array, without a copy when it is Arrow-backed already."""
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pa.array(values.astype(object).where(values.notna(), None).map(str, na_action="ignore"), pa.string())
    return arr


def from_arrow(arr: pa.Array, like: pd.Series) -> pd.Series:
    """An Arrow string array as a pandas string column (no copy), aligned with `like`."""
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return pd.Series(pd.array(arr, dtype="str"), index=like.index, name=like.name)


def parse_numbers(values: pd.Series, column: str) -> pd.Series:
    """Numbers from a string column; rows that do not parse are named in the error, values never."""
    numbers = pd.to_numeric(values, errors="coerce")
    _refuse_unparsed(values, numbers.isna(), column, "numbers", "; mixed types — fix the data or change the action")
    return numbers.astype("float64")


def table_rows(values: pd.Series, positions: Sequence[int] | np.ndarray) -> list[int]:
    """The 1-based table rows of `values` at these positions (`privml.io.rows`: the index + 1 for the
    readers' unnamed integer index, else the position + 1)."""
    return rows.table_rows(values.index, positions) or [int(i) + 1 for i in positions]


def _refuse_unparsed(values: pd.Series, failed: pd.Series, column: str, what: str, hint: str = "") -> None:
    """Raise naming the data rows (1-based) whose present value did not parse; never the values."""
    bad = failed & values.notna()
    if bad.any():
        count = int(bad.sum())
        rows = ", ".join(str(row) for row in table_rows(values, bad.to_numpy().nonzero()[0][:5]))
        more = ", ..." if count > 5 else ""
        raise PrivmlError(f"column '{column}': {count} value(s) are not {what} (rows {rows}{more}){hint}")


def iso_dates(values: pd.Series) -> pa.Array | None:
    """The column as Arrow timestamps when every present value is a plain ISO date (YYYY-MM-DD), else None."""
    arr = arrow_strings(values)
    stamps = pc.strptime(arr, format="%Y-%m-%d", unit="s", error_is_null=True)
    return stamps if stamps.null_count == arr.null_count else None


def parse_dates(values: pd.Series, column: str) -> pd.Series:
    stamps = iso_dates(values)
    if stamps is not None:  # the common case, parsed by Arrow an order of magnitude faster than pandas
        return pd.Series(stamps.to_pandas(), index=values.index, name=values.name)
    try:
        dates = pd.to_datetime(values, errors="raise", format="ISO8601")
    except (ValueError, TypeError):
        dates = pd.to_datetime(values, errors="coerce", format="mixed")
    _refuse_unparsed(values, dates.isna(), column, "dates")
    return dates
