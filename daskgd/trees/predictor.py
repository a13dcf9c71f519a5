"""A fitted ensemble as one picklable object: the raw prediction of a block of rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskgd.trees.tree import TreeArrays


@dataclass(frozen=True)
class BoostedTrees:
    """The baseline and the trees of every iteration (one per class).

    Attributes
    ----------
    baseline : ndarray of shape (n_trees_per_iteration,)
    trees : tuple of tuple of TreeArrays
        ``trees[i][k]``: the tree of class ``k`` at iteration ``i``.
    """

    baseline: np.ndarray
    trees: tuple[tuple[TreeArrays, ...], ...]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Raw predictions of the rows of ``X``, shape (n_rows, n_trees_per_iteration)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        raw = np.tile(np.asarray(self.baseline, dtype=np.float64), (len(X), 1))
        for iteration in self.trees:
            for k, tree in enumerate(iteration):
                raw[:, k] += tree.predict(X)
        return raw
