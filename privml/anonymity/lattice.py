"""Optimal full-domain generalization: search of the generalization lattice under a suppression budget.

A node is one generalization level per quasi-identifier. A node is *anonymous* when the records in
classes that fail the privacy models number at most floor(max_suppression * n) (ARX's suppression
limit); those records are suppressed. k-anonymity and distinct l-diversity (and every model when no
suppression is allowed) are monotonic under generalization — merging classes never creates a failing
class out of passing ones — so anonymity propagates up the lattice and non-anonymity down: the search
tags whole up-sets and down-sets from each check, as ARX's FLASH does with predictive tagging. When a
non-anonymous node is found, the search climbs to a high non-anonymous node above it (binary search
along a chain, then greedy steps), so one check usually rules out a large down-set. For the other
models under a suppression budget only the checked node is tagged.

Node order: ascending lower bound of the metric (exact for the monotonic entropy metric, where the
first anonymous node in that order is the optimum); for discernibility, which has no bound without
grouping, bottom-up with up-sets pruned by sum(|class|^2), itself monotonic and a lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from privml.anonymity.encoding import EncodedTable, combine_keys
from privml.anonymity.metrics import Metric
from privml.anonymity.models import Constraints, SensitiveColumn, classes_ok

UNKNOWN, ANONYMOUS, NOT_ANONYMOUS = 0, 1, -1


@dataclass
class SearchResult:
    node: np.ndarray
    loss: float
    suppressed_rows: np.ndarray  # bool per input row (per line of a weighted table)
    checked: int


def _bits(mask: np.ndarray) -> int:
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


class Lattice:
    """All level vectors of the generalization lattice, with up-/down-sets as Python-int bitsets
    (a bitwise AND of one precomputed bitset per column: microseconds per tag)."""

    def __init__(self, heights: list[int]) -> None:
        self.heights = list(int(h) for h in heights)
        grids = np.indices(tuple(heights)).reshape(len(heights), -1).T
        self.nodes = np.ascontiguousarray(grids, dtype=np.int64)  # row i = node with index i
        self.node_list: list[list[int]] = self.nodes.tolist()
        self.strides = [int(np.prod(heights[j + 1:])) for j in range(len(heights))]
        self._at_most = [[_bits(self.nodes[:, j] <= v) for v in range(h)] for j, h in enumerate(heights)]
        self._at_least = [[_bits(self.nodes[:, j] >= v) for v in range(h)] for j, h in enumerate(heights)]

    def __len__(self) -> int:
        return len(self.nodes)

    def successors(self, i: int) -> list[int]:
        node = self.node_list[i]
        return [i + self.strides[j] for j in range(len(node)) if node[j] + 1 < self.heights[j]]

    def downset(self, i: int) -> int:
        node = self.node_list[i]
        out = self._at_most[0][node[0]]
        for j in range(1, len(node)):
            out &= self._at_most[j][node[j]]
        return out

    def upset(self, i: int) -> int:
        node = self.node_list[i]
        out = self._at_least[0][node[0]]
        for j in range(1, len(node)):
            out &= self._at_least[j][node[j]]
        return out


class Grouper:
    """Equivalence classes of the table at a lattice node, with integer keys only.

    Columns are bundled into small blocks whose combined codes are computed once per combination
    of levels, so a node's class key costs a few multiply-adds per row. For k-only checks the
    classes of recently checked nodes are kept as (one representative row, count) per class: a
    node above a cached one is grouped from those few representatives (ARX's roll-up) instead of
    from every row.
    """

    _BLOCK_COMBOS = 64
    _BLOCK_BYTES = 256 * 2**20
    _CACHE = 32

    def __init__(self, table: EncodedTable, constraints: Constraints, sensitive: list[SensitiveColumn],
                 limit: int) -> None:
        self.table = table
        self.constraints = constraints
        self.sensitive = sensitive
        self.limit = limit
        self.n = table.n_rows
        self.lines = table.weights  # rows per line of the table (None: one each)
        self.cards = [[lm.cardinality(level) for level in range(lm.height)] for lm in table.levels]
        # Work on the distinct quasi-identifier tuples (the bottom node's classes) with their counts.
        leaf_key = combine_keys([table.codes[:, j] for j in range(table.codes.shape[1])],
                                [len(lm.maps[0]) for lm in table.levels])
        _, first, inverse, counts = np.unique(leaf_key, return_index=True, return_inverse=True,
                                              return_counts=True)
        self.rows_t = np.ascontiguousarray(table.codes[first].T)
        self.columns: dict[tuple[int, int], np.ndarray] = {}
        self.inverse = inverse.astype(np.int64)
        self.weights = (counts if table.weights is None else
                        np.bincount(inverse.ravel(), weights=table.weights, minlength=len(first))).astype(float)
        self.m = len(first)
        self.blocks = self._plan_blocks(table.heights)
        self.block_codes: list[dict[tuple[int, ...], tuple[np.ndarray, int]]] = [{} for _ in self.blocks]
        d = len(table.heights)
        self.cache_levels = np.zeros((0, d), dtype=np.int64)
        self.cache_tables: list[tuple[np.ndarray, np.ndarray]] = []  # (representative rows, counts)
        self.cache_sizes = np.zeros(0, dtype=np.int64)
        self._next_slot = 0

    def _plan_blocks(self, heights: list[int]) -> list[list[int]]:
        combos_budget = self._BLOCK_BYTES // max(8 * self.m, 1)
        blocks: list[list[int]] = []
        current: list[int] = []
        product = 1
        for j, h in enumerate(heights):
            if current and product * h > self._BLOCK_COMBOS:
                blocks.append(current)
                current, product = [], 1
            current.append(j)
            product *= h
        if current:
            blocks.append(current)
        total = sum(int(np.prod([heights[j] for j in b])) for b in blocks)
        if total > combos_budget:
            blocks = [[j] for j in range(len(heights))]
        return blocks

    def _block(self, b: int, levels: tuple[int, ...]) -> tuple[np.ndarray, int]:
        combos = self.block_codes[b]
        hit = combos.get(levels)
        if hit is None:
            code: np.ndarray | None = None
            space = 1
            for j, level in zip(self.blocks[b], levels, strict=True):
                card = self.cards[j][level]
                if card > 1:
                    col = self._column(j, level)
                    code = col if code is None else code * card + col
                    space *= card
            if code is None:
                code = np.zeros(self.m, dtype=np.int64)
            hit = combos[levels] = (code, space)
        return hit

    def _column(self, j: int, level: int) -> np.ndarray:
        hit = self.columns.get((j, level))
        if hit is None:
            hit = self.columns[(j, level)] = self.table.levels[j].maps[level][self.rows_t[j]]
        return hit

    def keys(self, node: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Class key per distinct tuple (or per given tuple), and the size of the key space."""
        levels = node.tolist() if isinstance(node, np.ndarray) else list(node)
        key: np.ndarray | None = None
        space = 1
        for b, block in enumerate(self.blocks):
            code, card = self._block(b, tuple(levels[j] for j in block))
            if card == 1:
                continue
            if rows is not None:
                code = code[rows]
            if key is None:
                key, space = code, card
                continue
            if space * card >= 2**62:  # re-rank to stay within int64
                _, key = np.unique(key, return_inverse=True)
                space = int(key.max()) + 1
            key = key * card + code
            space *= card
        if key is None:
            return np.zeros(self.m if rows is None else len(rows), dtype=np.int64), 1
        return key, space

    def _base(self, node: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """The smallest cached class table of a node below `node`: (tuples, counts); (None, counts)
        stands for all distinct tuples."""
        if self.cache_tables:
            below = np.flatnonzero(np.all(self.cache_levels <= node, axis=1))
            if len(below):
                return self.cache_tables[below[np.argmin(self.cache_sizes[below])]]
        return None, self.weights

    def _remember(self, node: np.ndarray, rep: np.ndarray, counts: np.ndarray) -> None:
        if len(rep) > 0.9 * self.m:
            return
        if len(self.cache_tables) < self._CACHE:
            self.cache_tables.append((rep, counts))
            self.cache_levels = np.vstack([self.cache_levels, node[None, :]])
            self.cache_sizes = np.append(self.cache_sizes, len(rep))
            return
        slot = self._next_slot  # round robin: recent nodes are the likeliest bases
        self._next_slot = (slot + 1) % self._CACHE
        self.cache_tables[slot] = (rep, counts)
        self.cache_levels[slot] = node
        self.cache_sizes[slot] = len(rep)

    def suppressed_k_only(self, node: np.ndarray) -> int:
        """Records in classes smaller than k (the fast path when only k is required)."""
        sizes = self.class_sizes(node)
        return int(sizes[sizes < self.constraints.k].sum())

    def class_sizes(self, node: np.ndarray) -> np.ndarray:
        """Sizes of the node's classes, rolled up from the smallest cached table below it."""
        rep, weight = self._base(node)
        key, space = self.keys(node, rep)
        m = len(key)
        if space <= 2 * m + 1024:
            counts = np.bincount(key, weights=weight, minlength=space)
            present = np.flatnonzero(counts)
            first = np.empty(space, dtype=np.int64)
            first[key] = np.arange(m) if rep is None else rep
            sizes = counts[present]
            self._remember(node, first[present], sizes)
            return sizes
        bits = max(int(m - 1).bit_length(), 1)
        if space < 2 ** (62 - bits):
            packed = np.sort((key << bits) | np.arange(m, dtype=np.int64))
            order = packed & ((1 << bits) - 1)
            skey = packed >> bits
        else:
            order = np.argsort(key)
            skey = key[order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(skey)) + 1))
        sizes = np.add.reduceat(weight[order], starts)
        reps = order[starts] if rep is None else rep[order[starts]]
        self._remember(node, reps, sizes)
        return sizes

    def classes(self, node: np.ndarray) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """(class id per row, number of classes, class sizes, class passes the models)."""
        key, space = self.keys(node)
        key = key[self.inverse]
        if space <= 4 * len(key) + 65536:
            counts = np.bincount(key, minlength=space)
            present = np.flatnonzero(counts)
            dense = np.full(space, -1, dtype=np.int64)
            dense[present] = np.arange(len(present))
            ids, sizes = dense[key], counts[present]
        else:
            _, ids, sizes = np.unique(key, return_inverse=True, return_counts=True)
            ids = ids.astype(np.int64).ravel()
        if self.lines is not None:  # weighted lines: a class's size is the rows its lines stand for
            sizes = np.bincount(ids, weights=self.lines, minlength=len(sizes)).astype(np.int64)
        ok = classes_ok(ids, len(sizes), sizes, self.constraints, self.sensitive)
        return ids, len(sizes), sizes, ok

    def is_anonymous(self, node: np.ndarray) -> bool:
        node = np.asarray(node)
        if not self.constraints.needs_sensitive:
            return self.suppressed_k_only(node) <= self.limit
        _, _, sizes, ok = self.classes(node)
        return int(sizes[~ok].sum()) <= self.limit


def suppression_limit(max_suppression: float, n: int) -> int:
    # ARX (ARXConfiguration): the absolute limit is floor(relative limit * rows), no rounding slack
    return math.floor(max_suppression * n)


def search(table: EncodedTable, constraints: Constraints, sensitive: list[SensitiveColumn],
           max_suppression: float, metric: Metric) -> SearchResult | None:
    """The anonymous node with the least information loss, or None when no node is anonymous."""
    lattice = Lattice(table.heights)
    grouper = Grouper(table, constraints, sensitive, suppression_limit(max_suppression, table.n_rows))
    anonymous_bits = 0  # bit i set: node i is known anonymous
    failing_bits = 0  # bit i set: node i is known not anonymous
    exact: dict[int, float] = {}
    checked = 0
    # With a suppression budget, entropy l-diversity, recursive-(c,l) and t-closeness are not
    # monotonic (a failing class merged into a passing one can make both fail), so anonymity is
    # then only known for the nodes actually checked.
    monotonic = (grouper.limit == 0 or not constraints.needs_sensitive
                 or (constraints.l_kind in (None, "distinct") and constraints.t is None))

    def status(i: int) -> int:
        if (failing_bits >> i) & 1:
            return NOT_ANONYMOUS
        if (anonymous_bits >> i) & 1:
            return ANONYMOUS
        return UNKNOWN

    def check(i: int) -> bool:
        nonlocal checked, anonymous_bits, failing_bits
        checked += 1
        anonymous = grouper.is_anonymous(lattice.nodes[i])
        if anonymous:
            anonymous_bits |= lattice.upset(i) if monotonic else 1 << i
        else:
            failing_bits |= lattice.downset(i) if monotonic else 1 << i
        return anonymous

    def climb(i: int) -> None:
        """From a non-anonymous node, climb to a high non-anonymous node: binary search along the
        cheapest chain to the top (FLASH's path search), then step to non-anonymous successors."""
        current = i
        while True:
            chain = [current]
            while succ := lattice.successors(chain[-1]):
                chain.append(min(succ, key=order_key.__getitem__))
            lo, hi = 0, len(chain) - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                st = status(chain[mid])
                if st == ANONYMOUS or (st == UNKNOWN and check(chain[mid])):
                    hi = mid - 1
                else:
                    lo = mid
            current = chain[lo]
            for s in sorted(lattice.successors(current), key=order_key.__getitem__):
                st = status(s)
                if st == NOT_ANONYMOUS or (st == UNKNOWN and not check(s)):
                    current = s
                    break
            else:
                return

    def loss_of(i: int) -> float:
        if i not in exact:
            exact[i] = _exact_loss(grouper, metric, lattice.nodes[i])
        return exact[i]

    bounds = metric.bound(lattice.nodes)
    best, best_loss = -1, math.inf
    if bounds is not None:
        order_key = bounds.tolist()
        for i in np.argsort(bounds, kind="stable").tolist():
            if order_key[i] >= best_loss:
                break
            st = status(i)
            if st == NOT_ANONYMOUS:
                continue
            if st == UNKNOWN and not check(i):
                if monotonic:
                    climb(i)
                continue
            loss = order_key[i] if metric.monotonic else loss_of(i)
            if loss < best_loss:
                best, best_loss = i, loss
    else:
        order_key = lattice.nodes.sum(axis=1).astype(float).tolist()
        pruned_bits = 0
        for i in np.argsort(order_key, kind="stable").tolist():
            st = status(i)
            if st == NOT_ANONYMOUS or (pruned_bits >> i) & 1:
                continue
            if st == UNKNOWN and not check(i):
                continue
            if constraints.needs_sensitive:
                ids, _n_classes, sizes, ok = grouper.classes(lattice.nodes[i])
            else:
                sizes = grouper.class_sizes(lattice.nodes[i])
                ok, ids = sizes >= constraints.k, None
            # sum of |class|^2 never falls under generalization and bounds the loss from below
            lower = float(np.sum(sizes.astype(float) ** 2))
            if lower >= best_loss:
                pruned_bits |= lattice.upset(i)
                continue
            outliers = ~ok[ids] if ids is not None else None
            loss = metric.exact(lattice.nodes[i], outliers, sizes[ok], sizes[~ok])
            if loss < best_loss:
                best, best_loss = i, loss
    if best < 0:
        return None
    node = lattice.nodes[best].copy()
    ids, _, _, ok = grouper.classes(node)
    return SearchResult(node=node, loss=float(best_loss), suppressed_rows=~ok[ids], checked=checked)


def _exact_loss(grouper: Grouper, metric: Metric, node: np.ndarray) -> float:
    ids, _, sizes, ok = grouper.classes(node)
    return metric.exact(node, ~ok[ids], sizes[ok], sizes[~ok])
