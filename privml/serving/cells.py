"""Request values as cells, and the fitted privacy step's per-column row forms.

A technique's per-value form lives next to its column-wise `apply` (`Technique.cell_function`, see
`privml.rowform`); this module only turns a request value into the cell those forms take and asks the
fitted PrivacyTransformer for the form of each column the model reads. `NotCompiled`, `Cell`,
`CellFunction` and `plain_number` are re-exported from `privml.rowform`, where they now live.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from privml.rowform import Cell, CellFunction, NotCompiled, plain_number
from privml.transformer import PrivacyTransformer

__all__ = ["Cell", "CellFunction", "NotCompiled", "cell_functions", "cell_text", "plain_number"]


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


def cell_functions(privacy: PrivacyTransformer, columns: Sequence[str]) -> list[CellFunction]:
    """Each column's row form, in order; NotCompiled when one has none (a keyed or multi-column
    technique, whose secret stays with the pipeline, or a column the privacy step does not output)."""
    functions: list[CellFunction] = []
    for column in columns:
        function = privacy.cell_function(column)
        if function is None:
            raise NotCompiled
        functions.append(function)
    return functions
