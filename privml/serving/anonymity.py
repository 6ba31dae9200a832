"""The fitted anonymity model, applied to one row at a time: Mondrian routing or global recoding.

Mirrors `AnonymityEngine.transform` for plain inputs; anything else (a date that is not ISO
YYYY, YYYY-MM or YYYY-MM-DD, a non-plain number, a value global recoding would generalize as unseen)
raises `NotCompiled` so the batch takes the column-wise path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from privml.anonymity import missing as missing_cells
from privml.anonymity.engine import AnonymityEngine
from privml.anonymity.hierarchy import ROOT
from privml.serving.cells import Cell, NotCompiled, plain_number

RowFunction = Callable[[Sequence[Cell]], list[Cell]]  # quasi-identifier cells → released cells
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
    if axis["kind"] == "numeric":
        return lambda cell: math.nan if cell is None else plain_number(cell)
    if axis["kind"] == "category":
        codes = {c: float(i) for i, c in enumerate(axis["categories"])}
        return lambda cell: math.nan if cell is None else codes.get(cell, math.nan)
    if axis["kind"] == "date":
        return lambda cell: math.nan if cell is None else date_position(cell)

    def unsupported(cell: Cell) -> float:
        raise NotCompiled

    return unsupported


def mondrian_router(engine: AnonymityEngine) -> RowFunction:
    assert engine.tree_ is not None
    qis = engine.quasi_identifiers
    positions = [missing_cells.cell_position(engine.axes_[c], _axis_position(engine.axes_[c])) for c in qis]
    tree = engine.tree_
    dim, threshold = tree.dim.tolist(), tree.threshold.tolist()
    left, right, partition = tree.left.tolist(), tree.right.tolist(), tree.partition.tolist()
    labels = [list(r) for r in engine.labels_]

    def route(cells: Sequence[Cell]) -> list[Cell]:
        x = [pos(cell) for pos, cell in zip(positions, cells, strict=True)]
        node = 0
        while dim[node] >= 0:
            # NaN (unknown) goes left, as in MondrianTree.route: `not (NaN > t)` is True
            node = left[node] if not x[dim[node]] > threshold[node] else right[node]
        row = labels[partition[node]]
        return [ROOT if math.isnan(v) else None if row[j] == missing_cells.MISSING else row[j]
                for j, v in enumerate(x)]

    return route


def recoding_router(engine: AnonymityEngine) -> RowFunction:
    columns = []
    for col in engine.quasi_identifiers:
        level, hierarchy = engine.levels_[col], engine.hierarchies_[col]
        columns.append(({row[0]: row[level] for row in hierarchy.rows}, level, hierarchy))

    def recode(cells: Sequence[Cell]) -> list[Cell]:
        out: list[Cell] = []
        for (table, level, hierarchy), cell in zip(columns, cells, strict=True):
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


def row_function(engine: AnonymityEngine) -> RowFunction:
    if engine.config["algorithm"] == "global_recoding":
        return recoding_router(engine)
    return mondrian_router(engine)
