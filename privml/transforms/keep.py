"""keep: pass the column through; with a declared numeric dtype, check that it is numeric."""

from __future__ import annotations

import pandas as pd

from privml.rowform import CellFunction, unchanged
from privml.transforms.base import Context, Technique, register


@register
class Keep(Technique):
    name = "keep"
    releases_unchanged = True

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        return values

    def cell_function(self) -> CellFunction:
        return unchanged
