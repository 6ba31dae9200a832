"""The fitted anonymity model applied to one row of plain cells: Mondrian routing or global recoding.

`AnonymityEngine.row_router()` builds these from its fitted state. They give what
`AnonymityEngine.transform` gives for plain inputs; anything else (a date that is not ISO YYYY,
YYYY-MM or YYYY-MM-DD, a non-plain number, a missing quasi-identifier under global recoding) raises
`NotCompiled` so the batch takes the column-wise path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from privml.anonymity import missing as missing_cells
from privml.anonymity.hierarchy import ROOT, Hierarchy
from privml.anonymity.labels import PartitionLabels
from privml.anonymity.mondrian import MondrianTree
from privml.rowform import Cell, NotCompiled, not_compiled, plain_number

RowRouter = Callable[[Sequence[Cell]], list[Cell]]  # quasi-identifier cells → released cells
_ISO_PREFIX = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_EPOCH = date(1970, 1, 1).toordinal()


def date_position(cell: str) -> float:
    """An ISO date, or the year or year-month a date generalization releases, as days since 1970 (what
    `axes.days_since_epoch` gives: a year or month reads as its first day); other forms → NotCompiled."""
    match = _ISO_PREFIX.fullmatch(cell)
    if match is None:
        raise NotCompiled
    year, month, day = match.groups()
    if not 1678 <= int(year) <= 2261:  # outside pandas' Timestamp range the column-wise path yields NaN
        raise NotCompiled
    try:
        return float(date(int(year), int(month or 1), int(day or 1)).toordinal() - _EPOCH)
    except ValueError:  # 2023-02-30: pandas coerces it to NaN, which the column-wise path decides
        raise NotCompiled from None


def _axis_position(axis: dict[str, Any]) -> Callable[[Cell], float]:
    """A cell → its position on a Mondrian axis (`axes.axis_values` for one value); NaN off the axis."""
    if axis["kind"] == "numeric":
        return lambda cell: math.nan if cell is None else plain_number(cell)
    if axis["kind"] == "category":
        codes = {c: float(i) for i, c in enumerate(axis["categories"])}
        return lambda cell: math.nan if cell is None else codes.get(cell, math.nan)
    if axis["kind"] == "date":
        return lambda cell: math.nan if cell is None else date_position(cell)
    return not_compiled


def mondrian_router(axes: Sequence[dict[str, Any]], tree: MondrianTree, labels: PartitionLabels) -> RowRouter:
    """`axes`: each quasi-identifier's axis, in order; `labels`: each partition's released cells."""
    positions = [missing_cells.cell_position(axis, _axis_position(axis)) for axis in axes]
    dim, threshold = tree.dim.tolist(), tree.threshold.tolist()
    left, right, partition = tree.left.tolist(), tree.right.tolist(), tree.partition.tolist()
    values, codes = labels.values, labels.codes.tolist()

    def route(cells: Sequence[Cell]) -> list[Cell]:
        x = [position(cell) for position, cell in zip(positions, cells, strict=True)]
        node = 0
        while dim[node] >= 0:
            # NaN (unknown) goes left, as in MondrianTree.route: `not (NaN > t)` is True
            node = left[node] if not x[dim[node]] > threshold[node] else right[node]
        row = [values[j][code] for j, code in enumerate(codes[partition[node]])]
        return [ROOT if math.isnan(v) else None if row[j] == missing_cells.MISSING else row[j]
                for j, v in enumerate(x)]

    return route


def recoding_router(columns: Sequence[tuple[Hierarchy, int]]) -> RowRouter:
    """`columns`: each quasi-identifier's hierarchy and the level global recoding chose, in order."""
    tables = [({row[0]: row[level] for row in hierarchy.rows}, level, hierarchy) for hierarchy, level in columns]

    def recode(cells: Sequence[Cell]) -> list[Cell]:
        out: list[Cell] = []
        for (table, level, hierarchy), cell in zip(tables, cells, strict=True):
            if cell is None:
                if missing_cells.MISSING not in table:
                    raise NotCompiled  # a missing quasi-identifier: the pipeline's rules decide
                cell = missing_cells.MISSING  # `missing: value`: its own leaf of the hierarchy
            released = table.get(cell)
            if released is None:  # unseen: the hierarchy's rule for it, as AnonymityEngine._generalize
                released = hierarchy.generalize_unseen(cell)[level - 1] if level > 0 else ROOT
            out.append(None if released == missing_cells.MISSING else released)
        return out

    return recode
