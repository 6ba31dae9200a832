"""drop: remove the column from the output entirely."""

from __future__ import annotations

import pandas as pd

from privml.transforms.base import Context, Technique, register


@register
class Drop(Technique):
    name = "drop"
    drops_column = True

    def apply(self, values: pd.Series, ctx: Context) -> pd.Series:
        # The transformer removes the column; returning an all-missing column keeps the contract total.
        return pd.Series(None, index=values.index, name=values.name, dtype=object)
