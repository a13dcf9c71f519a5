"""The rows of a kept chunk grouped by the node of the growing tree they reach, between passes.

Each histogram pass of best-first growth used to route every row of a chunk from
the root (later: from the leaf it reached in the last pass) and then skip the
rows of nodes it was not asked about: at 1,000,000 x 28 that was 20 ms of a
pass's 21 ms of chunk work, while the rows summed were a tenth of the chunk. As
LightGBM's data partition does, a worker instead keeps, per block of binned rows
and per tree, the block's training rows ordered so that each node's rows are
one range. A taken split partitions its node's range (stable: each side keeps
the row order), and a pass touches only the rows of the nodes it splits:

* a tentative split partitions its node's range and sums the side its slot asks
  for; the partition is kept, so when the split is taken its children's ranges
  are known without reading a row again;
* a leaf with a slot (the root pass) sums its whole range.

Every range keeps its rows in row order, so each slot adds the same rows in the
same order as a pass over the whole chunk would: the histograms are the same
bits, whether a pass finds its partition here or starts again from the root.

It is a cache and nothing more: an entry is keyed by the binned block object
itself (held by a weak reference, so a block that is freed, recomputed or moved
to another worker misses), and used only when the tree's taken splits extend
the ones it was made with; otherwise the rows start from the root. Entries are
never changed in place (a pass copies the order it reorders), so two tasks over
the same block never see each other's half-made partition.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from daskgd.trees.kernels import split_partitions, tentative_histograms
from daskgd.trees.tree import TreeArrays


def _signature(tree: TreeArrays, node: int) -> tuple[int, int, bool, bool, bytes]:
    """What decides which rows of a node go left."""
    categorical = bool(tree.categorical[node])
    return (
        int(tree.feature[node]),
        int(tree.bin_threshold[node]),
        bool(tree.missing_left[node]),
        categorical,
        tree.left_bins[node].tobytes() if categorical else b"",
    )


@dataclass(frozen=True)
class _Partition:
    block: weakref.ref[np.ndarray]
    #: The taken splits the ranges were made for: nodes below ``n_real``.
    tree: TreeArrays
    n_real: int
    #: The block's training rows, each node's rows one range of it.
    order: np.ndarray
    #: Range of each node below ``n_real`` (-1: not known).
    start: np.ndarray
    stop: np.ndarray
    #: Tentative splits whose range is partitioned already: node -> (signature, rows left).
    partitioned: dict[int, tuple[tuple[int, int, bool, bool, bytes], int]]

    def extended_by(self, tree: TreeArrays, n_real: int) -> bool:
        """Whether ``tree``'s taken splits keep every split these ranges went through."""
        old = self.tree
        if n_real < self.n_real:
            return False
        taken = np.flatnonzero(
            ~old.is_leaf[: self.n_real] & (old.left[: self.n_real] < self.n_real)
        )
        if not len(taken):
            return True
        same = (
            np.array_equal(old.feature[taken], tree.feature[taken])
            and np.array_equal(old.bin_threshold[taken], tree.bin_threshold[taken])
            and np.array_equal(old.missing_left[taken], tree.missing_left[taken])
            and np.array_equal(old.left[taken], tree.left[taken])
            and np.array_equal(old.right[taken], tree.right[taken])
            and np.array_equal(old.categorical[taken], tree.categorical[taken])
            and not tree.is_leaf[taken].any()
        )
        if same and old.categorical[taken].any():
            same = old.left_bins.shape[1] == tree.left_bins.shape[1] and np.array_equal(
                old.left_bins[taken], tree.left_bins[taken]
            )
        return same


class RowPartitions:
    """Per worker process: the row partitions of the binned blocks it holds (see the module)."""

    def __init__(self) -> None:
        # Plain dict operations, atomic under the GIL: a lock here could deadlock, as a
        # block's weak-reference callback may run wherever the block is freed.
        self._entries: dict[tuple[int, int], _Partition] = {}
        #: Calls that went on from a kept partition, and calls that started at the root.
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def histograms(
        self,
        binned: np.ndarray,
        tree_index: int,
        tree: TreeArrays,
        n_real: int,
        slots: np.ndarray,
        gradients: np.ndarray,
        hessians: np.ndarray,
        n_bins: int,
        missing_bin: int,
        held_out: Callable[[], np.ndarray],
    ) -> np.ndarray:
        """The histograms of the slots of a pass over one block of binned rows.

        Parameters
        ----------
        binned : ndarray of uint8 of shape (n_rows, n_features)
            A block of binned rows.
        tree_index : int
            Which tree of the iteration (one per class).
        tree : TreeArrays
            The tree: nodes below ``n_real`` are the splits taken, the others
            tentative splits of this pass.
        n_real : int
            Number of nodes of the taken splits.
        slots : ndarray of int of shape (tree.n_nodes,)
            The slot of each node whose rows are summed, -1 elsewhere: leaves of
            the taken splits, or one child of each tentative split.
        gradients, hessians : ndarray of shape (n_rows,)
            Of every row of the block.
        n_bins : int
            Bins per feature, the missing-value bin included.
        missing_bin : int
            The bin of missing values.
        held_out : callable
            Returns the block's held-out rows (a boolean mask), which no histogram
            sums; called only when the rows start from the root.

        Returns
        -------
        ndarray of shape (n_slots, n_features, n_bins, 3)
        """
        key = (id(binned), tree_index)
        entry = self._entries.get(key)
        n_nodes = tree.n_nodes
        start = np.full(n_nodes, -1, dtype=np.int64)
        stop = np.full(n_nodes, -1, dtype=np.int64)
        known_left = np.full(n_nodes, -1, dtype=np.int64)
        # Tentative partitions of nodes not split yet stay good until they are.
        kept: dict[int, tuple[tuple[int, int, bool, bool, bytes], int]] = {}
        if (
            entry is not None
            and entry.block() is binned
            and len(entry.order) <= len(binned)
            and entry.extended_by(tree, n_real)
        ):
            self.hits += 1
            order = entry.order.copy()
            start[: entry.n_real] = entry.start
            stop[: entry.n_real] = entry.stop
            for node, (signature, n_left) in entry.partitioned.items():
                if node >= n_real:
                    continue
                if tree.is_leaf[node]:
                    kept[node] = (signature, n_left)
                    continue
                if signature == _signature(tree, node):
                    if tree.left[node] < n_real:  # taken: its children's ranges are known
                        known_left[node] = n_left
                else:  # (never for training rows) back to row order before splitting
                    a, b = start[node], stop[node]
                    order[a:b] = np.sort(order[a:b])
        else:
            self.misses += 1
            order = np.flatnonzero(~held_out()).astype(np.int32)
            start[0], stop[0] = 0, len(order)
        arrays = (
            tree.feature,
            tree.bin_threshold,
            tree.missing_left,
            tree.left,
            tree.right,
            tree.is_leaf,
            missing_bin,
            tree.categorical,
            tree.left_bins,
        )
        split_partitions(binned, order, start, stop, known_left, n_real, *arrays)
        n_slots = int(slots.max()) + 1 if len(slots) else 0
        result, partitioned = tentative_histograms(
            binned,
            gradients,
            hessians,
            order,
            start,
            stop,
            n_real,
            *arrays,
            slots,
            n_slots,
            n_bins,
        )
        try:
            block = weakref.ref(binned, self._forget(key))
        except TypeError:  # a block type without weak references: no cache
            return result
        self._entries[key] = _Partition(
            block,
            tree,
            n_real,
            order,
            start[:n_real].copy(),
            stop[:n_real].copy(),
            {
                **kept,
                **{
                    int(node): (_signature(tree, int(node)), int(partitioned[node]))
                    for node in np.flatnonzero(partitioned >= 0)
                },
            },
        )
        return result

    def leaves(self, binned: np.ndarray, tree_index: int, tree: TreeArrays) -> np.ndarray | None:
        """The leaf of ``tree`` each training row of ``binned`` reaches, from the kept
        partition of the pass that grew ``tree``; None when there is none to use.

        Rows outside the partition (held out) get -1. ``tree`` is the grown tree: the
        kept partition's taken splits, plus splits of nodes whose rows that pass
        partitioned already (the splits taken after the last pass).

        Parameters
        ----------
        binned : ndarray of uint8 of shape (n_rows, n_features)
        tree_index : int
        tree : TreeArrays

        Returns
        -------
        ndarray of int64 of shape (n_rows,), or None
        """
        entry = self._entries.get((id(binned), tree_index))
        n_nodes = tree.n_nodes
        if (
            entry is None
            or entry.block() is not binned
            or len(entry.order) > len(binned)
            or not entry.extended_by(tree, n_nodes)
        ):
            return None
        start = np.full(n_nodes, -1, dtype=np.int64)
        stop = np.full(n_nodes, -1, dtype=np.int64)
        start[: entry.n_real], stop[: entry.n_real] = entry.start, entry.stop
        for node in range(n_nodes):
            if tree.is_leaf[node] or start[tree.left[node]] >= 0:
                continue
            known = entry.partitioned.get(node) if node < entry.n_real else None
            if known is None or known[0] != _signature(tree, node) or start[node] < 0:
                return None
            a, n_left = start[node], known[1]
            start[tree.left[node]], stop[tree.left[node]] = a, a + n_left
            start[tree.right[node]], stop[tree.right[node]] = a + n_left, stop[node]
        leaf = np.full(len(binned), -1, dtype=np.int64)
        for leaf_node in np.flatnonzero(tree.is_leaf):
            if start[leaf_node] < 0:
                return None
            leaf[entry.order[start[leaf_node] : stop[leaf_node]]] = leaf_node
        return leaf

    def _forget(self, key: tuple[int, int]) -> Callable[[weakref.ref[np.ndarray]], None]:
        def forget(reference: weakref.ref[np.ndarray]) -> None:
            entry = self._entries.get(key)
            if entry is not None and entry.block is reference:
                self._entries.pop(key, None)

        return forget


#: The row partitions of this process's blocks.
ROW_PARTITIONS = RowPartitions()
