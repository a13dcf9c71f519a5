"""A grown tree as flat arrays: what predictions and the per-row updates traverse."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskgd.trees.kernels import leaves_of_binned_rows, leaves_of_raw_rows


@dataclass(frozen=True)
class TreeArrays:
    """Nodes of one tree (node 0 is the root); leaves have ``is_leaf`` set.

    Attributes
    ----------
    feature : ndarray of int64
        Split feature of each node.
    bin_threshold : ndarray of uint8
        Rows whose bin is at most this go left.
    threshold : ndarray of float64
        The same split on raw values: ``x <= threshold`` goes left.
    missing_left : ndarray of bool
        Where missing values go.
    left, right : ndarray of int64
        Children (unused for leaves).
    is_leaf : ndarray of bool
    value : ndarray of float64
        Leaf values, shrinkage included (0 for inner nodes).
    categorical : ndarray of bool
        Whether each node splits a categorical feature.
    left_bins : ndarray of bool of shape (n_nodes, n_bins)
        For a categorical split, the bins (category codes, and the missing-value
        bin) that go left; shape (n_nodes, 1) when the tree has no such split.
    """

    feature: np.ndarray
    bin_threshold: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    categorical: np.ndarray
    left_bins: np.ndarray

    @classmethod
    def single_leaf(cls, value: float = 0.0) -> TreeArrays:
        """A tree of one node: every row reaches the root."""
        return cls(
            feature=np.zeros(1, dtype=np.int64),
            bin_threshold=np.zeros(1, dtype=np.uint8),
            threshold=np.zeros(1, dtype=np.float64),
            missing_left=np.zeros(1, dtype=np.bool_),
            left=np.full(1, -1, dtype=np.int64),
            right=np.full(1, -1, dtype=np.int64),
            is_leaf=np.ones(1, dtype=np.bool_),
            value=np.full(1, value, dtype=np.float64),
            categorical=np.zeros(1, dtype=np.bool_),
            left_bins=np.zeros((1, 1), dtype=np.bool_),
        )

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    @property
    def n_leaves(self) -> int:
        return int(self.is_leaf.sum())

    def leaves_of_binned(self, binned: np.ndarray, missing_bin: int) -> np.ndarray:
        """The leaf of every row of binned data."""
        return leaves_of_binned_rows(
            binned,
            self.feature,
            self.bin_threshold,
            self.missing_left,
            self.left,
            self.right,
            self.is_leaf,
            missing_bin,
            self.categorical,
            self.left_bins,
        )

    def predict_binned(self, binned: np.ndarray, missing_bin: int) -> np.ndarray:
        """The value of every row of binned data."""
        return self.value[self.leaves_of_binned(binned, missing_bin)]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The value of every row of raw data (NaN follows ``missing_left``)."""
        leaves = leaves_of_raw_rows(
            np.ascontiguousarray(X, dtype=np.float64),
            self.feature,
            self.threshold,
            self.missing_left,
            self.left,
            self.right,
            self.is_leaf,
            self.categorical,
            self.left_bins,
        )
        return self.value[leaves]

    def depth(self) -> int:
        """Edges on the longest path from the root to a leaf."""
        depths = np.zeros(self.n_nodes, dtype=np.int64)
        for node in range(self.n_nodes):
            if not self.is_leaf[node]:
                depths[self.left[node]] = depths[node] + 1
                depths[self.right[node]] = depths[node] + 1
        return int(depths.max())
