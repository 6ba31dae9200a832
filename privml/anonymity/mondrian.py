"""Strict Mondrian multidimensional partitioning (LeFevre et al. 2006), vectorized and iterative.

Every quasi-identifier is an ordered axis: numbers as numbers, categories as codes (the hierarchy's
leaf order when there is one, else the label-free co-occurrence order of `axes.cooccurrence_order`).
All open partitions are split in the same round: per partition the axis with the largest normalized
range is chosen, its rows are sorted (one argsort for the whole round), and the cut between two
distinct values closest to the median that leaves at least k rows — and, with l-diversity or
t-closeness, passing children — on each side is taken (strict: equal values never straddle a cut). A
partition that cannot be cut on an axis stops trying that axis; one that cannot be cut at all is
final.

The split tree (axis, threshold, children) is kept as plain arrays so a new record is routed to the
box it would have landed in at fit time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privml.anonymity.models import Constraints, SensitiveColumn, classes_ok


@dataclass
class MondrianTree:
    """Internal node i: rows with x[dim[i]] <= threshold[i] go to left[i], others to right[i].
    Leaf i: dim[i] == -1 and partition[i] is the partition id."""

    dim: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    partition: np.ndarray

    def route(self, x: np.ndarray) -> np.ndarray:
        """Partition id for each row of x (n, d); NaN (unknown) goes left."""
        node = np.zeros(len(x), dtype=np.int64)
        active = self.dim[node] >= 0
        while active.any():
            idx = np.flatnonzero(active)
            cur = node[idx]
            d = self.dim[cur]
            val = x[idx, d]
            go_left = ~(val > self.threshold[cur])
            node[idx] = np.where(go_left, self.left[cur], self.right[cur])
            active[idx] = self.dim[node[idx]] >= 0
        return self.partition[node]

    def get_state(self, as_arrays: bool = False) -> dict[str, list | np.ndarray]:
        """The tree as lists (JSON-able: privml.spark ships subtrees as JSON), or `as_arrays` as numpy
        arrays (a saved model's form: skops writes an array as one block, a list as one entry per item)."""
        fields = {"dim": self.dim, "threshold": self.threshold, "left": self.left, "right": self.right,
                  "partition": self.partition}
        return {name: array.copy() if as_arrays else array.tolist() for name, array in fields.items()}

    @classmethod
    def from_state(cls, state: dict[str, list | np.ndarray]) -> MondrianTree:
        return cls(
            np.asarray(state["dim"], dtype=np.int64), np.asarray(state["threshold"], dtype=float),
            np.asarray(state["left"], dtype=np.int64), np.asarray(state["right"], dtype=np.int64),
            np.asarray(state["partition"], dtype=np.int64),
        )


@dataclass
class MondrianResult:
    tree: MondrianTree
    partition_of_row: np.ndarray  # partition id per input row
    n_partitions: int
    low: np.ndarray  # (partitions, d) smallest value per axis
    high: np.ndarray  # (partitions, d) largest value per axis


def _dense_ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order-preserving integer ranks per column (ties equal), as (d, n), and the value of each
    rank (d, top), so widths and sorts work on narrow integers."""
    n, d = x.shape
    xt = np.ascontiguousarray(x.T)
    per_col: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for j in range(d):
        col = xt[j]
        lo, hi = col.min(), col.max()
        if hi - lo < 65536 and np.array_equal(col, np.floor(col)):
            per_col.append(col - lo)
            values.append(np.arange(int(hi - lo) + 1, dtype=float) + lo)
        else:
            uniq, inv = np.unique(col, return_inverse=True)
            per_col.append(inv)
            values.append(uniq.astype(float))
    top = max(len(v) for v in values)
    dtype = np.int16 if top < 2**15 else np.int32
    ranks = np.empty((d, n), dtype=dtype)
    table = np.zeros((d, top))
    for j in range(d):
        ranks[j] = per_col[j]
        table[j, :len(values[j])] = values[j]
    return ranks, table


def mondrian(x: np.ndarray, constraints: Constraints, sensitive: list[SensitiveColumn],
             weights: np.ndarray | None = None) -> MondrianResult:
    """Partition the rows of x (n, d float, no NaN) so every partition satisfies `constraints`.

    `weights`: the rows each line of x stands for (the distinct tuples of a histogram with their
    counts; `sensitive` then weighted alike). Sizes, medians and k count rows, so the cuts are those
    of the rows the lines stand for; `partition_of_row` is then per line."""
    n, d = x.shape
    k = max(int(constraints.k), 1)
    line_weights = np.ones(n, dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    total = int(line_weights.sum())
    ranks, rank_value = _dense_ranks(x)
    top = rank_value.shape[1]
    spread = rank_value[np.arange(d), np.asarray(ranks.max(axis=1), dtype=np.int64)] - rank_value[:, 0]
    spread[spread == 0] = 1.0
    cols = np.arange(d)

    # the tree: at most 2 * n / k nodes; node 0 is the root
    cap = 2 * min(n, total // k) + 3
    t_dim = np.full(cap, -1, dtype=np.int64)
    t_thr = np.zeros(cap)
    t_left = np.full(cap, -1, dtype=np.int64)
    t_right = np.full(cap, -1, dtype=np.int64)
    t_part = np.full(cap, -1, dtype=np.int64)
    n_nodes = 1

    perm = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)  # rows of open partitions, by partition
    sizes = np.array([n], dtype=np.int64)  # lines per open partition
    row_sizes = np.array([total], dtype=np.int64)  # rows per open partition
    wp = line_weights  # rows per line, aligned with perm
    nodes = np.array([0], dtype=np.int64)
    allowed = np.ones((1, d), dtype=bool)
    partition_of_row = np.empty(n, dtype=np.int64)
    n_parts = 0
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []

    def finalize(seg_mask: np.ndarray, low_r: np.ndarray, high_r: np.ndarray) -> None:
        nonlocal n_parts
        segs = np.flatnonzero(seg_mask)
        ids = n_parts + np.arange(len(segs))
        rows = perm[np.repeat(seg_mask, sizes)]
        partition_of_row[rows] = np.repeat(ids, sizes[segs])
        t_part[nodes[segs]] = ids
        lows.append(rank_value[cols, low_r[segs]])
        highs.append(rank_value[cols, high_r[segs]])
        n_parts += len(segs)

    rp = ranks  # (d, rows of open partitions), aligned with perm
    positions = np.arange(n, dtype=np.int64)
    while len(sizes):
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        low_r = np.minimum.reduceat(rp, starts, axis=1).T
        high_r = np.maximum.reduceat(rp, starts, axis=1).T
        open_ = (row_sizes >= 2 * k) & allowed.any(axis=1)
        if not open_.all():
            finalize(~open_, low_r, high_r)
            keep_rows = np.repeat(open_, sizes)
            perm, rp, wp = perm[keep_rows], rp[:, keep_rows], wp[keep_rows]
            sizes, row_sizes, nodes, allowed = sizes[open_], row_sizes[open_], nodes[open_], allowed[open_]
            low_r, high_r = low_r[open_], high_r[open_]
            if not len(sizes):
                break
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        nseg, m = len(sizes), len(perm)
        segs = np.arange(nseg)
        pos = positions[:m]
        width = (rank_value[cols, high_r] - rank_value[cols, low_r]) / spread
        width[~allowed | (width <= 0)] = -1.0
        dim = np.argmax(width, axis=1)
        live = width[segs, dim] >= 0
        allowed[~live] = False
        # sort every partition by its chosen axis: one sort of (partition, rank, position) packed
        # into int64, which is several times faster than an argsort
        r = np.repeat(dim * m, sizes)
        r += pos
        r = np.take(rp.ravel(), r)
        key = np.repeat(segs * top, sizes)
        key += r
        bits = max(int(m - 1).bit_length(), 1)
        if (nseg * top) < 2 ** (62 - bits):
            key <<= bits
            key |= pos
            key.sort()
            order = key & ((1 << bits) - 1)
            key >>= bits
        else:
            order = np.argsort(key)
            key = key[order]
        perm = np.take(perm, order)
        rp = np.take(rp, order, axis=1)
        wp = np.take(wp, order)
        # rows before each line (lines of one row each: the line's position)
        before = np.concatenate(([0], np.cumsum(wp)))
        base = before[starts]
        # the median row's run of equal values [a, b): the best strict cuts are at a or at b
        mid = key[np.searchsorted(before, base + row_sizes // 2, side="right") - 1]
        run_a = np.searchsorted(key, mid, side="left")
        run_b = np.searchsorted(key, mid, side="right")
        lhs_a, lhs_b = before[run_a] - base, before[run_b] - base
        ok_a = (lhs_a >= k) & (row_sizes - lhs_a >= k)
        ok_b = (lhs_b >= k) & (row_sizes - lhs_b >= k)
        use_b = ok_b & (~ok_a | (np.abs(2 * lhs_b - row_sizes) < np.abs(2 * lhs_a - row_sizes)))
        cut = np.where(use_b, run_b, run_a)  # first position of the right child
        has_cut = (ok_a | ok_b) & live
        if constraints.needs_sensitive and has_cut.any():
            seg = np.repeat(segs, sizes)
            has_cut &= _children_ok(perm, seg, sizes, cut, has_cut, constraints, sensitive, wp)
        allowed[np.flatnonzero(~has_cut & live), dim[~has_cut & live]] = False
        if not has_cut.any():
            continue
        # grow the tree
        cut_segs = np.flatnonzero(has_cut)
        left_sizes = cut[cut_segs] - starts[cut_segs]
        left_rows = before[cut[cut_segs]] - base[cut_segs]
        cut_dims = dim[cut_segs]
        below = rank_value[cut_dims, key[cut[cut_segs] - 1] - cut_segs.astype(np.int64) * top]
        above = rank_value[cut_dims, key[cut[cut_segs]] - cut_segs.astype(np.int64) * top]
        thresholds = (below + above) / 2.0
        children = n_nodes + 2 * np.arange(len(cut_segs))
        parents = nodes[cut_segs]
        t_dim[parents], t_thr[parents] = cut_dims, thresholds
        t_left[parents], t_right[parents] = children, children + 1
        n_nodes += 2 * len(cut_segs)
        # segments in order: uncut ones stay whole, cut ones become two
        counts = np.where(has_cut, 2, 1)
        new_sizes = np.repeat(sizes, counts)
        new_rows = np.repeat(row_sizes, counts)
        new_nodes = np.repeat(nodes, counts)
        new_allowed = np.repeat(allowed, counts, axis=0)
        first = np.cumsum(counts) - counts  # index of each old segment's first new segment
        new_sizes[first[cut_segs]] = left_sizes
        new_sizes[first[cut_segs] + 1] = sizes[cut_segs] - left_sizes
        new_rows[first[cut_segs]] = left_rows
        new_rows[first[cut_segs] + 1] = row_sizes[cut_segs] - left_rows
        new_nodes[first[cut_segs]] = children
        new_nodes[first[cut_segs] + 1] = children + 1
        new_allowed[first[cut_segs]] = True
        new_allowed[first[cut_segs] + 1] = True
        sizes, row_sizes, nodes, allowed = new_sizes, new_rows, new_nodes, new_allowed

    tree = MondrianTree(t_dim[:n_nodes].copy(), t_thr[:n_nodes].copy(), t_left[:n_nodes].copy(),
                        t_right[:n_nodes].copy(), t_part[:n_nodes].copy())
    low = np.concatenate(lows) if lows else np.empty((0, d))
    high = np.concatenate(highs) if highs else np.empty((0, d))
    return MondrianResult(tree, partition_of_row, n_parts, low, high)


def _children_ok(perm: np.ndarray, seg: np.ndarray, sizes: np.ndarray, cut: np.ndarray,
                 has_cut: np.ndarray, constraints: Constraints, sensitive: list[SensitiveColumn],
                 line_weights: np.ndarray) -> np.ndarray:
    """Whether both children of each proposed cut satisfy the models on the sensitive attributes."""
    positions = np.flatnonzero(has_cut[seg])
    child = 2 * seg[positions] + (positions >= cut[seg[positions]])
    uniq, ids = np.unique(child, return_inverse=True)
    ids = ids.ravel()
    child_sizes = np.bincount(ids, weights=line_weights[positions]).astype(np.int64)
    subset = [col.subset(perm[positions]) for col in sensitive]
    ok = classes_ok(ids, len(uniq), child_sizes, constraints, subset)
    seg_ok = np.ones(len(sizes), dtype=bool)
    np.logical_and.at(seg_ok, uniq // 2, ok)
    return seg_ok


def ncp(low: np.ndarray, high: np.ndarray, sizes: np.ndarray, spread: np.ndarray) -> float:
    """Normalized certainty penalty: mean over records and axes of the box width / the axis range."""
    spread = np.where(spread == 0, 1.0, spread)
    per_partition = ((high - low) / spread).sum(axis=1)
    total = float(np.sum(per_partition * sizes))
    return total / (float(sizes.sum()) * low.shape[1]) if sizes.sum() else 0.0
