"""Utility of a released table: normalized certainty penalty, discernibility, average class size.

NCP (Xu et al. 2006) per record and quasi-identifier: for a generalized category, (leaves under it
- 1) / (domain size - 1); for a numeric box, its width / the column's range; 1 for a suppressed
record. Reported as the mean over records and columns (0 = nothing lost, 1 = everything).
Discernibility follows ARX: sum of |class|^2 over released classes plus n * |class| over
suppressed records' classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privml.anonymity.encoding import EncodedTable
from privml.anonymity.lattice import SearchResult
from privml.anonymity.metrics import LossMetric, Metric


def hierarchy_ncp(table: EncodedTable, node: np.ndarray, suppressed: np.ndarray) -> dict[str, float]:
    """NCP per column for full-domain generalization at `node`; suppressed records count 1."""
    out = {}
    for j, (col, lm) in enumerate(zip(table.columns, table.levels, strict=True)):
        domain = len(lm.maps[0])
        level = int(node[j])
        covered = np.bincount(lm.maps[level], minlength=lm.cardinality(level))[lm.maps[level]]
        per_leaf = (covered - 1) / (domain - 1) if domain > 1 else np.zeros(domain)
        # rows per leaf among the released ones: the same sum whether lines are rows or weighted tuples
        kept = ~np.asarray(suppressed, dtype=bool)
        weights = None if table.weights is None else table.weights[kept]
        released = np.bincount(table.codes[kept, j], weights=weights, minlength=domain).astype(float)
        n = table.n_rows
        out[col] = float((per_leaf @ released + (n - released.sum())) / n) if n else 0.0
    return out


def discernibility(released_sizes: np.ndarray, suppressed_rows: int, n: int) -> float:
    sizes = np.asarray(released_sizes, dtype=float)
    return float(np.sum(sizes * sizes) + float(n) * float(suppressed_rows))


def average_class_size(released_sizes: np.ndarray) -> float:
    sizes = np.asarray(released_sizes)
    sizes = sizes[sizes > 0]
    return float(sizes.sum() / len(sizes)) if len(sizes) else 0.0


def recoded_utility(qis: list[str], table: EncodedTable, metric: Metric, result: SearchResult) -> dict[str, Any]:
    """The utility figures of the node global recoding's search chose (`table`: the lines searched)."""
    suppressed = result.suppressed_rows
    if isinstance(metric, LossMetric):
        per_column = dict(zip(qis, metric.per_column(result.node, suppressed).tolist(), strict=True))
    else:
        column_losses = metric.per_column(result.node)
        per_column = dict(zip(qis, column_losses.tolist(), strict=True)) if column_losses is not None else {}
    col_ncp = hierarchy_ncp(table, result.node, suppressed)
    return {
        "metric": metric.name,
        "information_loss": float(result.loss),
        "per_column": per_column,
        "ncp": float(np.mean(list(col_ncp.values()))),
        "ncp_per_column": col_ncp,
        "lattice_nodes_checked": result.checked,
    }
