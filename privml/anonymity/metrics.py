"""Information-loss metrics for full-domain generalization, with ARX's semantics.

- `entropy`: non-uniform entropy, as ARX's `Metric.createPrecomputedEntropyMetric(0.1, true)` (the
  monotonic, precomputed MetricMDNUEntropyPrecomputed, gs-factor 0.5 so the generalization factor
  is 1): per column, sum over the original values v of -count(v) * log2(count(v) / count(g(v))),
  where counts are over the whole input and g(v) is v's generalization at the column's level.
  It does not depend on which records are suppressed, so it is its own lower bound.
- `loss`: ARX's MetricMDNMLoss (gs-factor 0.5: generalization and suppression factors 1): per
  column, the records' mean domain share of their generalized value, a suppressed record counting 1,
  normalized to [0, 1] by (x - n/|domain|) / (n - n/|domain|); columns combined by ARX's geometric
  mean, prod((v_i + 1) ^ (1/d)) - 1.
- `discernibility`: ARX's MetricSDNMDiscernability: sum of |class|^2 over released classes plus
  n * |class| over suppressed ones.
"""

from __future__ import annotations

import numpy as np

from privml.anonymity.encoding import EncodedTable

METRICS = ("entropy", "loss", "discernibility")


class Metric:
    """A metric over lattice nodes. `bound` is a lower bound of `exact` computable without grouping
    (None when there is none); `monotonic` means exact == bound for every node."""

    name = ""
    monotonic = False

    def __init__(self, table: EncodedTable) -> None:
        self.table = table
        self.n = table.n_rows
        # leaf counts over the whole input, per column
        self.leaf_counts = [
            np.bincount(table.codes[:, j], weights=table.weights, minlength=len(lm.maps[0])).astype(float)
            for j, lm in enumerate(table.levels)
        ]

    def per_column(self, node: np.ndarray) -> np.ndarray | None:
        return None

    def bound(self, nodes: np.ndarray) -> np.ndarray | None:
        return None

    def exact(self, node: np.ndarray, row_outlier: np.ndarray, class_sizes_released: np.ndarray,
              class_sizes_suppressed: np.ndarray) -> float:
        raise NotImplementedError


class EntropyMetric(Metric):
    name = "entropy"
    monotonic = True

    def __init__(self, table: EncodedTable) -> None:
        super().__init__(table)
        self.table_by_level: list[np.ndarray] = []
        for j, lm in enumerate(table.levels):
            a = self.leaf_counts[j]
            losses = np.empty(lm.height)
            for level in range(lm.height):
                b = np.bincount(lm.maps[level], weights=a, minlength=lm.cardinality(level))[lm.maps[level]]
                present = a > 0
                value = float(np.sum(a[present] * np.log2(a[present] / b[present])))
                losses[level] = -value if value != 0.0 else 0.0
            self.table_by_level.append(losses)

    def per_column(self, node: np.ndarray) -> np.ndarray:
        return np.array([self.table_by_level[j][int(lv)] for j, lv in enumerate(node)])

    def bound(self, nodes: np.ndarray) -> np.ndarray:
        total = np.zeros(len(nodes))
        for j, losses in enumerate(self.table_by_level):
            total += losses[nodes[:, j]]
        return total

    def exact(self, node, row_outlier, class_sizes_released, class_sizes_suppressed) -> float:  # type: ignore[override]
        return float(self.per_column(node).sum())


class LossMetric(Metric):
    name = "loss"

    def __init__(self, table: EncodedTable) -> None:
        super().__init__(table)
        # share[j][level][leaf]: fraction of the hierarchy's leaves under the leaf's generalization
        self.shares: list[list[np.ndarray]] = []
        self.raw_bound: list[np.ndarray] = []
        for j, lm in enumerate(table.levels):
            domain = len(lm.maps[0])
            per_level, sums = [], np.empty(lm.height)
            for level in range(lm.height):
                covered = np.bincount(lm.maps[level], minlength=lm.cardinality(level))[lm.maps[level]]
                share = covered / domain
                per_level.append(share)
                sums[level] = float(np.sum(self.leaf_counts[j] * share))
            self.shares.append(per_level)
            self.raw_bound.append(sums)

    def _normalize(self, raw: np.ndarray, j: int) -> np.ndarray:
        domain = len(self.table.levels[j].maps[0])
        lo = self.n / domain
        if self.n - lo <= 0:
            return np.zeros_like(raw)
        return np.maximum((raw - lo) / (self.n - lo), 0.0)

    @staticmethod
    def aggregate(values: np.ndarray) -> np.ndarray:
        d = values.shape[-1]
        return np.prod(np.power(values + 1.0, 1.0 / d), axis=-1) - 1.0

    def bound(self, nodes: np.ndarray) -> np.ndarray:
        cols = np.stack([self._normalize(self.raw_bound[j][nodes[:, j]], j)
                         for j in range(nodes.shape[1])], axis=1)
        return self.aggregate(cols)

    def per_column_raw(self, node: np.ndarray, row_outlier: np.ndarray) -> np.ndarray:
        out = np.empty(len(node))
        for j, level in enumerate(node):
            # summed per leaf over the rows kept (outliers count 1 each): the same floats whether the
            # table's lines are rows or the weighted tuples of a histogram
            kept = ~np.asarray(row_outlier, dtype=bool)
            weights = None if self.table.weights is None else self.table.weights[kept]
            released = np.bincount(self.table.codes[kept, j], weights=weights,
                                   minlength=len(self.shares[j][0])).astype(float)
            out[j] = float(self.shares[j][int(level)] @ released + (self.n - released.sum()))
        return np.array([self._normalize(np.array([out[j]]), j)[0] for j in range(len(node))])

    def per_column(self, node: np.ndarray, row_outlier: np.ndarray | None = None) -> np.ndarray:
        if row_outlier is None:
            row_outlier = np.zeros(len(self.table.codes), dtype=bool)
        return self.per_column_raw(node, row_outlier)

    def exact(self, node, row_outlier, class_sizes_released, class_sizes_suppressed) -> float:  # type: ignore[override]
        return float(self.aggregate(self.per_column_raw(node, row_outlier)))


class DiscernibilityMetric(Metric):
    name = "discernibility"

    def exact(self, node, row_outlier, class_sizes_released, class_sizes_suppressed) -> float:  # type: ignore[override]
        released = np.asarray(class_sizes_released, dtype=float)
        suppressed = np.asarray(class_sizes_suppressed, dtype=float)
        return float(np.sum(released * released) + self.n * np.sum(suppressed))


def make_metric(name: str, table: EncodedTable) -> Metric:
    if name == "entropy":
        return EntropyMetric(table)
    if name == "loss":
        return LossMetric(table)
    if name == "discernibility":
        return DiscernibilityMetric(table)
    raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
