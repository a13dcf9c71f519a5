"""The row partitions kept between histogram passes change no result, and are used.

A worker keeps each binned block's training rows grouped by the node they reach
in the tree being grown (:mod:`daskgd.trees.partitions`). Every pass here is
checked bit for bit against the plain pass: route every row from the root, then
sum the rows of each slot (the ``histograms`` kernel).
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from daskgd.trees.grower import GrowthParameters, grow_trees
from daskgd.trees.kernels import histograms
from daskgd.trees.partitions import ROW_PARTITIONS, RowPartitions
from daskgd.trees.passes import AddTrees, HistogramRequest, Holdout, NodeHistograms
from daskgd.trees.tree import TreeArrays

N_BINS, MISSING_BIN = 32, 31


def _data(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    n_rows, n_features = 3000, 6
    binned = rng.integers(0, MISSING_BIN, size=(n_rows, n_features), dtype=np.uint8)
    binned[rng.random(n_rows) < 0.05, 2] = MISSING_BIN
    signal = np.sin(binned[:, 0] / 5.0) + (binned[:, 1] > 15) * binned[:, 3] / 10.0
    signal += (binned[:, 2] == MISSING_BIN) * 0.8
    gradients = np.empty((n_rows, 1, 2), dtype=np.float32)
    gradients[:, 0, 0] = signal - signal.mean() + rng.normal(scale=0.3, size=n_rows)
    gradients[:, 0, 1] = rng.uniform(0.5, 1.5, size=n_rows)
    return np.array_split(binned, 5), np.array_split(gradients, 5)


def _plain_histograms(
    request: HistogramRequest, chunk_index: int, binned: np.ndarray, gradients: np.ndarray
) -> list[np.ndarray]:
    """The pass without partitions: every row routed from the root."""
    held_out = request.holdout.mask(chunk_index, len(binned))
    parts = []
    for k, (tree, slots) in enumerate(zip(request.trees, request.slots, strict=True)):
        row_slots = slots[tree.leaves_of_binned(binned, request.missing_bin)]
        row_slots[held_out] = -1
        n_slots = int(slots.max()) + 1
        parts.append(
            histograms(binned, gradients[:, k, 0], gradients[:, k, 1], row_slots, n_slots, N_BINS)
        )
    return parts


def _grow(
    blocks: list[np.ndarray],
    gradients: list[np.ndarray],
    copy_blocks: bool,
    holdout: Holdout | None = None,
) -> tuple[TreeArrays, int]:
    holdout = Holdout() if holdout is None else holdout
    reduction = NodeHistograms()
    n_checked = 0

    def histogram_pass(trees, slots, real_nodes):
        nonlocal n_checked
        request = HistogramRequest(
            tuple(trees), tuple(slots), N_BINS, MISSING_BIN, holdout, tuple(real_nodes)
        )
        partials = []
        for i, (block, grad) in enumerate(zip(blocks, gradients, strict=True)):
            partial = reduction.chunk(request, i, block.copy() if copy_blocks else block, grad)
            for got, expected in zip(
                partial.per_tree, _plain_histograms(request, i, block, grad), strict=True
            ):
                np.testing.assert_array_equal(got, expected)
                n_checked += 1
            partials.append(partial)
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
    assert n_checked == n_passes * len(blocks)
    return trees[0], n_passes


@pytest.mark.parametrize("fraction", [0.0, 0.2])
def test_kept_partitions_give_the_histograms_and_trees_of_routes_from_the_root(fraction):
    blocks, gradients = _data()
    holdout = Holdout(fraction, 7)
    hits, misses = ROW_PARTITIONS.hits, ROW_PARTITIONS.misses
    fresh, fresh_passes = _grow(blocks, gradients, copy_blocks=True, holdout=holdout)
    assert ROW_PARTITIONS.hits == hits  # a copied block is another object: never a hit
    assert ROW_PARTITIONS.misses - misses == fresh_passes * len(blocks)
    hits, misses = ROW_PARTITIONS.hits, ROW_PARTITIONS.misses
    kept, kept_passes = _grow(blocks, gradients, copy_blocks=False, holdout=holdout)
    # Only each block's root pass starts from the root.
    assert ROW_PARTITIONS.misses - misses == len(blocks)
    assert ROW_PARTITIONS.hits - hits == (kept_passes - 1) * len(blocks)
    assert fresh.n_leaves == kept.n_leaves == 31
    # The grown tree's leaves come from the kept partitions, as routing finds them,
    # and adding the tree to the raw predictions gives the same bits either way.
    for i, block in enumerate(blocks):
        leaves = ROW_PARTITIONS.leaves(block, 0, kept)
        assert leaves is not None
        held_out = holdout.mask(i, len(block))
        routed = kept.leaves_of_binned(block, MISSING_BIN)
        np.testing.assert_array_equal(leaves[~held_out], routed[~held_out])
        assert (leaves[held_out] == -1).all()
        assert ROW_PARTITIONS.leaves(block, 0, fresh) is not None  # the same tree
        assert ROW_PARTITIONS.leaves(block.copy(), 0, kept) is None
        raw = np.linspace(-1, 1, len(block))[:, np.newaxis]
        add = AddTrees(((kept,),), MISSING_BIN)
        np.testing.assert_array_equal(
            add(block, raw), raw + kept.predict_binned(block, MISSING_BIN)[:, None]
        )
    for name in ("feature", "bin_threshold", "missing_left", "left", "right", "is_leaf"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(kept, name))
    np.testing.assert_array_equal(fresh.value, kept.value)


def _tree(
    feature: list[int],
    bin_threshold: list[int],
    left: list[int],
    right: list[int],
    missing_left: list[bool] | None = None,
    left_bins: np.ndarray | None = None,
) -> TreeArrays:
    n = len(feature)
    is_leaf = np.array([child < 0 for child in left])
    categorical = np.zeros(n, dtype=np.bool_)
    if left_bins is None:
        left_bins = np.zeros((n, 1), dtype=np.bool_)
    else:
        categorical = left_bins.any(axis=1)
    return TreeArrays(
        feature=np.array(feature),
        bin_threshold=np.array(bin_threshold, dtype=np.uint8),
        threshold=np.zeros(n),
        missing_left=np.array(missing_left or [False] * n),
        left=np.array(left),
        right=np.array(right),
        is_leaf=is_leaf,
        value=np.zeros(n),
        categorical=categorical,
        left_bins=left_bins,
    )


def _stump(feature: int, bin_threshold: int) -> TreeArrays:
    """A root split with two leaves."""
    return _tree([feature, 0, 0], [bin_threshold, 0, 0], [1, -1, -1], [2, -1, -1])


def _pass(partitions, block, grad, tree, n_real, slots):
    return partitions.histograms(
        block,
        0,
        tree,
        n_real,
        np.array(slots),
        grad[:, 0, 0],
        grad[:, 0, 1],
        N_BINS,
        MISSING_BIN,
        lambda: np.zeros(len(block), dtype=bool),
    )


def _plain(block, grad, tree, slots):
    row_slots = np.array(slots)[tree.leaves_of_binned(block, MISSING_BIN)]
    return histograms(block, grad[:, 0, 0], grad[:, 0, 1], row_slots, max(slots) + 1, N_BINS)


@pytest.mark.parametrize("feature, bin_threshold", [(0, 10), (1, 20), (0, 25)])
def test_a_tree_that_does_not_extend_the_kept_one_starts_from_the_root(feature, bin_threshold):
    partitions = RowPartitions()
    blocks, gradients = _data()
    block, grad = blocks[0], gradients[0]
    _pass(partitions, block, grad, _stump(0, 20), 1, [-1, 0, -1])  # tentative root split
    other = _stump(feature, bin_threshold)
    got = _pass(partitions, block, grad, other, 3, [-1, -1, 0])  # taken: sum leaf 2
    np.testing.assert_array_equal(got, _plain(block, grad, other, [-1, -1, 0]))
    assert partitions.hits == 1 and partitions.misses == 1
    # Fewer taken splits than the kept partition: from the root again.
    _pass(partitions, block, grad, _stump(0, 20), 1, [-1, 0, -1])
    assert partitions.misses == 2


def test_categorical_and_missing_value_splits_sum_the_rows_of_their_sides():
    partitions = RowPartitions()
    blocks, gradients = _data(1)
    block, grad = blocks[0], gradients[0]
    left_bins = np.zeros((5, N_BINS), dtype=np.bool_)
    left_bins[1, [0, 3, 4, 17, MISSING_BIN]] = True  # node 1: categorical on feature 5
    # Node 0 sends NaN of feature 2 left; node 1 is tentative, its children 3 and 4.
    tree = _tree(
        [2, 5, 0, 0, 0],
        [12, 0, 0, 0, 0],
        [1, 3, -1, -1, -1],
        [2, 4, -1, -1, -1],
        missing_left=[True, False, False, False, False],
        left_bins=left_bins,
    )
    stump = _tree([2, 0, 0], [12, 0, 0], [1, -1, -1], [2, -1, -1], [True, False, False])
    root = TreeArrays.single_leaf()
    np.testing.assert_array_equal(
        _pass(partitions, block, grad, root, 1, [0]), _plain(block, grad, root, [0])
    )
    got = _pass(partitions, block, grad, stump, 1, [-1, 0, -1])  # the root, tentatively
    np.testing.assert_array_equal(got, _plain(block, grad, stump, [-1, 0, -1]))
    for slots in ([-1, -1, -1, 0, -1], [-1, -1, -1, -1, 0]):
        got = _pass(partitions, block, grad, tree, 3, slots)
        np.testing.assert_array_equal(got, _plain(block, grad, tree, slots))
    assert partitions.misses == 1 and partitions.hits == 3


def test_a_kept_partition_is_never_changed_in_place():
    partitions = RowPartitions()
    blocks, gradients = _data()
    block, grad = blocks[0], gradients[0]
    _pass(partitions, block, grad, _stump(0, 20), 1, [-1, 0, -1])
    (entry,) = partitions._entries.values()
    before = entry.order.copy()
    _pass(partitions, block, grad, _stump(0, 20), 3, [-1, -1, 0])
    np.testing.assert_array_equal(entry.order, before)


def test_the_partitions_of_a_freed_block_are_forgotten():
    partitions = RowPartitions()
    blocks, gradients = _data()
    block, grad = blocks[0].copy(), gradients[0]
    none_held_out = np.zeros(len(block), dtype=bool)
    _pass(partitions, block, grad, _stump(0, 20), 1, [-1, 0, -1])
    partitions.histograms(
        block,
        1,
        _stump(1, 20),
        1,
        np.array([-1, 0, -1]),
        grad[:, 0, 0],
        grad[:, 0, 1],
        N_BINS,
        MISSING_BIN,
        lambda: none_held_out,
    )
    assert len(partitions) == 2
    del block
    gc.collect()
    assert len(partitions) == 0
