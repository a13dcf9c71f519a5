"""The routes remembered between histogram passes change no result, and are used.

A worker remembers where each row of a kept binned block stood in the tree being
grown (:mod:`daskgd.trees.routing`); these tests grow trees with blocks that stay
the same objects (hits) and with fresh copies every pass (misses only) and ask
for the same trees, then check a tree that does not extend the remembered one.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from daskgd.trees.grower import GrowthParameters, grow_trees
from daskgd.trees.kernels import histograms
from daskgd.trees.passes import HistogramRequest, Holdout, NodeHistograms
from daskgd.trees.routing import ROW_ROUTES, RowRoutes
from daskgd.trees.tree import TreeArrays

N_BINS, MISSING_BIN = 32, 31


def _data(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    n_rows, n_features = 3000, 6
    binned = rng.integers(0, MISSING_BIN, size=(n_rows, n_features), dtype=np.uint8)
    binned[rng.random(n_rows) < 0.05, 2] = MISSING_BIN
    signal = np.sin(binned[:, 0] / 5.0) + (binned[:, 1] > 15) * binned[:, 3] / 10.0
    gradients = np.empty((n_rows, 1, 2), dtype=np.float32)
    gradients[:, 0, 0] = signal - signal.mean() + rng.normal(scale=0.3, size=n_rows)
    gradients[:, 0, 1] = 1.0
    return np.array_split(binned, 5), np.array_split(gradients, 5)


def _grow(blocks: list[np.ndarray], gradients: list[np.ndarray], copy_blocks: bool) -> TreeArrays:
    reduction = NodeHistograms()

    def histogram_pass(trees, slots, real_nodes):
        request = HistogramRequest(
            tuple(trees), tuple(slots), N_BINS, MISSING_BIN, Holdout(), tuple(real_nodes)
        )
        partials = [
            reduction.chunk(request, i, block.copy() if copy_blocks else block, grad)
            for i, (block, grad) in enumerate(zip(blocks, gradients, strict=True))
        ]
        total = partials[0]
        for partial in partials[1:]:
            total = total.merge(partial)
        return list(total.per_tree)

    n_bins_non_missing = np.full(blocks[0].shape[1], MISSING_BIN)
    thresholds = [np.arange(MISSING_BIN, dtype=np.float64)] * blocks[0].shape[1]
    trees, n_passes, _ = grow_trees(
        histogram_pass, 1, thresholds, n_bins_non_missing, GrowthParameters(max_leaf_nodes=31)
    )
    assert n_passes > 3
    return trees[0]


def test_remembered_routes_give_the_trees_of_routes_from_the_root():
    blocks, gradients = _data()
    hits, misses = ROW_ROUTES.hits, ROW_ROUTES.misses
    fresh = _grow(blocks, gradients, copy_blocks=True)
    assert ROW_ROUTES.hits == hits  # a copied block is another object: never a hit
    assert ROW_ROUTES.misses > misses
    hits = ROW_ROUTES.hits
    remembered = _grow(blocks, gradients, copy_blocks=False)
    assert ROW_ROUTES.hits > hits
    assert fresh.n_leaves == remembered.n_leaves == 31
    for name in ("feature", "bin_threshold", "missing_left", "left", "right", "is_leaf"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(remembered, name))
    np.testing.assert_array_equal(fresh.value, remembered.value)


def _stump(feature: int, bin_threshold: int) -> TreeArrays:
    """A root split with two leaves."""
    return TreeArrays(
        feature=np.array([feature, 0, 0]),
        bin_threshold=np.array([bin_threshold, 0, 0], dtype=np.uint8),
        threshold=np.zeros(3),
        missing_left=np.zeros(3, dtype=np.bool_),
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        is_leaf=np.array([False, True, True]),
        value=np.zeros(3),
        categorical=np.zeros(3, dtype=np.bool_),
        left_bins=np.zeros((3, 1), dtype=np.bool_),
    )


@pytest.mark.parametrize("feature, bin_threshold", [(0, 10), (1, 20), (0, 25)])
def test_a_tree_that_does_not_extend_the_remembered_one_routes_from_the_root(
    feature, bin_threshold
):
    routes = RowRoutes()
    block = _data()[0][0]
    routes.leaves(block, 0, _stump(0, 20), 3, MISSING_BIN)
    other = _stump(feature, bin_threshold)
    leaves = routes.leaves(block, 0, other, 3, MISSING_BIN)
    np.testing.assert_array_equal(leaves, other.leaves_of_binned(block, MISSING_BIN))
    assert routes.hits == 0 and routes.misses == 2


def test_the_routes_of_a_freed_block_are_forgotten():
    routes = RowRoutes()
    block = _data()[0][0].copy()
    routes.leaves(block, 0, _stump(0, 20), 3, MISSING_BIN)
    routes.leaves(block, 1, _stump(1, 20), 3, MISSING_BIN)
    assert len(routes) == 2
    del block
    gc.collect()
    assert len(routes) == 0


def test_histograms_of_remembered_routes_sum_the_same_rows():
    """A pass that hits sums exactly the rows that the same pass from the root sums."""
    blocks, gradients = _data(1)
    block, grad = blocks[0], gradients[0]
    stump = _stump(0, 15)
    routes = RowRoutes()
    routes.leaves(block, 0, stump, 3, MISSING_BIN)  # remembered: the two leaves
    deeper = TreeArrays(
        feature=np.array([0, 1, 0, 0, 0]),
        bin_threshold=np.array([15, 8, 0, 0, 0], dtype=np.uint8),
        threshold=np.zeros(5),
        missing_left=np.zeros(5, dtype=np.bool_),
        left=np.array([1, 3, -1, -1, -1]),
        right=np.array([2, 4, -1, -1, -1]),
        is_leaf=np.array([False, False, True, True, True]),
        value=np.zeros(5),
        categorical=np.zeros(5, dtype=np.bool_),
        left_bins=np.zeros((5, 1), dtype=np.bool_),
    )
    leaves = routes.leaves(block, 0, deeper, 3, MISSING_BIN)  # node 1 split tentatively
    assert routes.hits == 1
    expected = deeper.leaves_of_binned(block, MISSING_BIN)
    np.testing.assert_array_equal(leaves, expected)
    slots = np.array([-1, -1, -1, 0, -1])
    np.testing.assert_array_equal(
        histograms(block, grad[:, 0, 0], grad[:, 0, 1], slots[leaves], 1, N_BINS),
        histograms(block, grad[:, 0, 0], grad[:, 0, 1], slots[expected], 1, N_BINS),
    )
