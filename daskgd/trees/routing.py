"""Where every row of a kept chunk stands in the tree being grown, remembered between passes.

Each histogram pass of best-first growth routes every row from the root to its
leaf, which cost more than the histograms themselves (6.7 of 9.1 ms per 125,000
rows). The splits taken so far only ever gain children, so a worker remembers,
per block of binned rows and per tree, the leaf of the taken splits that each
row reached, and the next pass goes on from there.

It is a cache and nothing more: an entry is keyed by the binned block object
itself (held by a weak reference, so a block that is freed, recomputed or moved
to another worker misses), and used only when the tree's taken splits extend
the ones it was made with; otherwise the rows start from the root. Either way
each row ends in the same node, so results never depend on a hit.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from daskgd.trees.kernels import descend_binned_rows
from daskgd.trees.tree import TreeArrays


@dataclass(frozen=True)
class _Routes:
    block: weakref.ref[np.ndarray]
    #: The taken splits the leaves were found with: nodes below ``n_real``.
    tree: TreeArrays
    n_real: int
    real_leaf: np.ndarray

    def extended_by(self, tree: TreeArrays, n_real: int) -> bool:
        """Whether ``tree``'s taken splits keep every split these routes went through."""
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


class RowRoutes:
    """Per worker process: the routes of the binned blocks it holds (see the module)."""

    def __init__(self) -> None:
        # Plain dict operations, atomic under the GIL: a lock here could deadlock, as a
        # block's weak-reference callback may run wherever the block is freed.
        self._entries: dict[tuple[int, int], _Routes] = {}
        #: Calls that went on from remembered leaves, and calls that started at the root.
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def leaves(
        self, binned: np.ndarray, tree_index: int, tree: TreeArrays, n_real: int, missing_bin: int
    ) -> np.ndarray:
        """The node each row of ``binned`` reaches in ``tree`` (tentative splits included).

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
        missing_bin : int
            The bin of missing values.
        """
        key = (id(binned), tree_index)
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.block() is binned
            and len(entry.real_leaf) == len(binned)
            and entry.extended_by(tree, n_real)
        ):
            start = entry.real_leaf
            self.hits += 1
        else:
            start = np.zeros(len(binned), dtype=np.int32)
            self.misses += 1
        real_leaf, leaves = descend_binned_rows(
            binned,
            start,
            n_real,
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
        try:
            block = weakref.ref(binned, self._forget(key))
        except TypeError:  # a block type without weak references: no cache
            return leaves
        self._entries[key] = _Routes(block, tree, n_real, real_leaf)
        return leaves

    def _forget(self, key: tuple[int, int]) -> Callable[[weakref.ref[np.ndarray]], None]:
        def forget(reference: weakref.ref[np.ndarray]) -> None:
            entry = self._entries.get(key)
            if entry is not None and entry.block is reference:
                self._entries.pop(key, None)

        return forget


#: The routes of this process's blocks.
ROW_ROUTES = RowRoutes()
