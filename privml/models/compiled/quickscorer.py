"""QuickScorer (Lucchese et al., SIGIR 2015): the exit leaf of every tree of up to 64 leaves, from bitvectors."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from privml.models.compiled.base import Unsupported, frozen

# A bit-sliced chunk: one uint64 of row bits per test.
SLICE_ROWS = 64
# A tree's leaves as the bits of one uint64: the largest tree QuickScorer (and so the compiled model) takes.
MAX_LEAVES = 64


class QuickScorer(NamedTuple):
    """QuickScorer (Lucchese et al., SIGIR 2015) on the same `z > thr` tests, for trees of up to 64 leaves.

    Leaves are numbered left to right; a true test (go right) rules out its left subtree's leaves, and the
    exit leaf is the leftmost leaf no true test rules out. By row: per (row, tree), the OR of the true tests'
    left-subtree masks. Bit-sliced: per (leaf, tree), a uint64 of the rows ruling it out, OR of the row
    words of the tests above it whose left subtree holds it (work independent of the row count up to 64);
    a tree with fewer right turns than left ones on its leaves' paths is read mirrored (false test words,
    right subtrees, leaves right to left), which has fewer words to OR.
    """

    slot_col: np.ndarray  # (slots * trees,): tree t's s-th split at s * trees + t; padding: never true
    slot_thr: np.ndarray
    slot_mask: np.ndarray  # that split's left-subtree leaves, in the narrowest uint that holds every tree
    test_col: np.ndarray  # the distinct (col, thr) tests
    test_thr: np.ndarray
    buckets: tuple[np.ndarray, ...]  # (width, leaves) row word ids over each leaf slot, padded with a 0 word
    leaf_order: np.ndarray  # bucket order → leaf slot l * trees + t
    leaf_value: np.ndarray  # (trees * (1 + 2**bits),): leaf l of tree t at leaf_base[t] + 1 + l
    sliced_value: np.ndarray  # the same, leaves of mirrored trees right to left
    leaf_base: np.ndarray
    bits: int  # of a leaf index

    @classmethod
    def build(cls, col: np.ndarray, thr: np.ndarray, left: np.ndarray, value: np.ndarray,
              roots: np.ndarray) -> QuickScorer:
        is_leaf = left == np.arange(len(left))
        if np.add.reduceat(is_leaf, roots).max() > MAX_LEAVES:  # a tree is a contiguous range of nodes
            raise Unsupported(f"a tree of over {MAX_LEAVES} leaves")
        trees = [_in_order(root, left, is_leaf) for root in roots.tolist()]
        n_trees, max_leaves = len(trees), max(len(leaves) for leaves, _, _, _ in trees)
        bits = (max_leaves - 1).bit_length()
        dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= max_leaves)
        n_slots = max(1, *(len(splits) for _, _, _, splits in trees)) * n_trees
        slot_col, slot_thr, slot_mask = np.zeros(n_slots, np.intp), np.full(n_slots, np.inf), np.zeros(n_slots, dtype)
        leaf_value, sliced_value = np.zeros((n_trees, 1 + (1 << bits))), np.zeros((n_trees, 1 + (1 << bits)))
        for t, (leaves, _, _, splits) in enumerate(trees):
            at, nodes = np.arange(len(splits)) * n_trees + t, [i for i, _ in splits]
            slot_col[at], slot_thr[at], slot_mask[at] = col[nodes], thr[nodes], [m for _, m in splits]
            leaf_value[t, 1:1 + len(leaves)] = value[leaves]

        split = np.flatnonzero(~is_leaf)
        tests, test_of = np.unique(np.column_stack((col[split], thr[split])), axis=0, return_inverse=True)
        test_id = np.zeros(len(left), dtype=np.intp)
        test_id[split] = test_of.reshape(-1)
        never, always = len(tests), len(tests) + 1  # row words: tests true, all 0, all 1, tests false
        over: list[list[int]] = [[always]] * (n_trees << bits)  # a padding leaf is always ruled out
        for t, (leaves, lefts, rights, _) in enumerate(trees):
            mirrored = sum(map(len, rights)) < sum(map(len, lefts))
            covers, flip = (rights[::-1], len(tests) + 2) if mirrored else (lefts, 0)
            sliced_value[t, 1:1 + len(leaves)] = value[leaves[::-1] if mirrored else leaves]
            for leaf, cover in enumerate(covers):
                over[leaf * n_trees + t] = (test_id[list(cover)] + flip).tolist()
        counts = np.array([len(c) for c in over])
        order = np.argsort(counts, kind="stable")
        buckets, start = [], 0
        for end in _bucket_ends(counts[order], 4):
            ids = np.full((max(1, int(counts[order[end - 1]])), end - start), never, dtype=np.intp)
            for j, slot in enumerate(order[start:end].tolist()):
                ids[:len(over[slot]), j] = over[slot]
            buckets.append(frozen(ids))
            start = end
        return cls(frozen(slot_col), frozen(slot_thr), frozen(slot_mask), frozen(tests[:, 0], np.intp),
                   frozen(tests[:, 1]), tuple(buckets), frozen(np.argsort(order), np.intp),
                   frozen(leaf_value.reshape(-1)), frozen(sliced_value.reshape(-1)),
                   frozen(np.arange(n_trees) * leaf_value.shape[1], np.intp), bits)

    def leaf_values_by_row(self, z: np.ndarray) -> np.ndarray:
        """(n, trees) leaf values: n x slots tests, each true one's mask ORed into its (row, tree) bitvector."""
        n, n_trees = z.shape[0], len(self.leaf_base)
        ruled_out = (z.take(self.slot_col, axis=1) > self.slot_thr) * self.slot_mask  # take: faster than z[:, i]
        ruled_out = np.bitwise_or.reduce(ruled_out.reshape(n, len(self.slot_col) // n_trees, n_trees), axis=1)
        exit_plus_one = np.bitwise_count(ruled_out ^ (ruled_out + 1))  # its trailing ones, plus one
        return self.leaf_value.take(exit_plus_one + self.leaf_base)

    def leaf_values_sliced(self, z: np.ndarray) -> np.ndarray:
        """(n, trees) leaf values for n <= 64 rows, row r being bit r of every word."""
        n, n_tests, n_trees = z.shape[0], len(self.test_col), len(self.leaf_base)
        true = np.zeros((n_tests + 2, 64), dtype=bool)  # + a never and an always true test
        true[n_tests + 1] = True
        z_t = np.ascontiguousarray(z.T)
        np.greater(z_t.take(self.test_col, axis=0), self.test_thr[:, None], out=true[:n_tests, :n])
        row_words = np.packbits(true, bitorder="little").view("<u8")  # 1-d packbits: the fast one
        row_words = np.concatenate((row_words, ~row_words[:n_tests]))
        ruled_out = np.concatenate([np.bitwise_or.reduce(row_words.take(ids), axis=0) for ids in self.buckets])
        # rows whose exit is this leaf or one left of it, then rows whose exit is this leaf
        reached = np.bitwise_or.accumulate(~ruled_out.take(self.leaf_order).reshape(-1, n_trees), axis=0)
        exits = reached.copy()
        exits[1:] ^= reached[:-1]
        planes = np.empty((self.bits, n_trees), dtype="<u8")  # bit b of the exit leaf's index, per row
        for b in range(self.bits):
            np.bitwise_or.reduce(exits.reshape(-1, 2, 1 << b, n_trees)[:, 1], axis=(0, 1), out=planes[b])
        row_bytes = planes.view(np.uint8).reshape(self.bits, n_trees, 8)[:, :, :(n + 7) // 8]
        row_bits = np.unpackbits(row_bytes, axis=2, count=n, bitorder="little")
        shifts = np.arange(self.bits, dtype=np.uint8)[:, None, None]
        exit_leaf = np.bitwise_or.reduce(row_bits << shifts, axis=0)
        return self.sliced_value.take((self.leaf_base + 1)[:, None] + exit_leaf).T


def _in_order(root: int, left: np.ndarray, is_leaf: np.ndarray) -> tuple[list[int], list, list, list]:
    """A tree's leaves left to right; per leaf, the splits whose left (right) subtree holds it; and per split,
    (split, mask of its left subtree's leaves)."""
    leaves: list[int] = []
    lefts: list[list[int]] = []
    rights: list[list[int]] = []
    splits: list[tuple[int, int]] = []
    stack: list[tuple[int, list[int], list[int], int]] = [(root, [], [], -1)]  # first leaf: -1 on the way down
    while stack:
        i, over_left, over_right, first = stack.pop()
        if first >= 0:  # back from the left subtree
            splits.append((i, (1 << len(leaves)) - (1 << first)))
            stack.append((int(left[i]) + 1, over_left, [*over_right, i], -1))
        elif is_leaf[i]:
            leaves.append(i)
            lefts.append(over_left)
            rights.append(over_right)
        else:
            stack.extend(((i, over_left, over_right, len(leaves)), (int(left[i]), [*over_left, i], over_right, -1)))
    return leaves, lefts, rights, splits


def _bucket_ends(sorted_counts: np.ndarray, most: int) -> list[int]:
    """Ends of at most `most` runs of the sorted counts, minimizing the sum of run length x its largest count."""
    n = len(sorted_counts)
    ends = [*(np.flatnonzero(np.diff(sorted_counts)) + 1).tolist(), n]

    @functools.cache
    def best(start: int, runs: int) -> tuple[int, tuple[int, ...]]:
        if start == n:
            return 0, ()
        return min((size + rest, (end, *tail)) for end in ends if end > start and (runs > 1 or end == n)
                   for size in [(end - start) * max(1, int(sorted_counts[end - 1]))]
                   for rest, tail in [best(end, runs - 1)])

    return list(best(0, most)[1])

