"""redact: replace every present value with one fixed marker."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

from privml.rowform import Cell, CellFunction
from privml.transforms.base import Context, Technique, register


class RedactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replacement: str = "[REDACTED]"
    keep_missing: bool = True  # missing stays missing, so "was there a value" survives; False hides that too


@register
class Redact(Technique):
    name = "redact"
    Params = RedactParams

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        out = pd.Series(self.params.replacement, index=values.index, name=values.name, dtype=object)
        if self.params.keep_missing:
            out = out.where(values.notna(), None)
        return out

    def cell_function(self) -> CellFunction:
        replacement, keep_missing = self.params.replacement, self.params.keep_missing  # type: ignore[attr-defined]

        def redact(cell: Cell) -> Cell:
            return None if cell is None and keep_missing else replacement

        return redact
