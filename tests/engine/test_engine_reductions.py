"""Engine reductions in NumPy alone: chunk steps and fixed-order combines against whole arrays."""

from __future__ import annotations

import numpy as np
import pytest

from daskgd.engine.reductions import (
    BlockTotals,
    ColumnMoments,
    Fused,
    LabelCounts,
    ObjectiveReduction,
    WeightSum,
    as_dict,
    combine_local,
    level_widths,
    tree_combine,
)
from daskgd.losses import BinaryLogLoss, HalfSquaredError
from daskgd.objective import LinearObjective, combine_partials
from daskgd.penalties import L2

RNG = np.random.default_rng(0)
N_ROWS, N_FEATURES = 211, 5
X = RNG.normal(size=(N_ROWS, N_FEATURES)) + 3.0
LABELS = RNG.integers(0, 4, size=N_ROWS).astype(np.float64)
WEIGHTS = RNG.uniform(0.1, 2.0, size=N_ROWS)
BOUNDS = [0, 17, 18, 60, 61, 100, 150, 190, 211]  # uneven, with one-row chunks


def _chunks(*arrays):
    return [
        tuple(a[start:stop] for a in arrays)
        for start, stop in zip(BOUNDS[:-1], BOUNDS[1:], strict=True)
    ]


def _reduce(reduction, arrays, broadcast=None, split_every=3):
    parts = {i: reduction.chunk(broadcast, i, *blocks) for i, blocks in enumerate(_chunks(*arrays))}
    local = combine_local(reduction, parts, len(parts), split_every)
    return tree_combine(reduction, local, len(parts), split_every)


@pytest.mark.parametrize("weighted", [False, True])
def test_label_counts_equal_numpy(weighted):
    reduction = LabelCounts("y", "sample_weight" if weighted else None)
    arrays = (LABELS, WEIGHTS) if weighted else (LABELS,)
    total = _reduce(reduction, arrays)
    values, counts = np.unique(LABELS, return_counts=True)
    np.testing.assert_array_equal(total.values, values)
    np.testing.assert_array_equal(total.counts, counts)
    expected = np.bincount(LABELS.astype(int), weights=WEIGHTS if weighted else None)
    np.testing.assert_allclose(total.weights, expected, rtol=1e-13)


def test_label_counts_merge_values_seen_in_some_chunks_only():
    labels = np.array(["b", "a", "a", "c", "b", "d"], dtype=object)
    reduction = LabelCounts("y")
    parts = [reduction.chunk(None, i, labels[i * 2 : i * 2 + 2]) for i in range(3)]
    total = reduction.combine(parts)
    assert list(total.values) == ["a", "b", "c", "d"]
    assert list(total.counts) == [2, 2, 1, 1]


def test_weight_sum_and_moments_equal_numpy():
    total = _reduce(WeightSum(), (WEIGHTS,))
    assert total.n_rows == N_ROWS
    assert total.total == pytest.approx(WEIGHTS.sum(), rel=1e-14)
    moments = _reduce(ColumnMoments("X", "sample_weight"), (X, WEIGHTS))
    mean = np.average(X, axis=0, weights=WEIGHTS)
    np.testing.assert_allclose(moments.mean, mean, rtol=1e-13)
    np.testing.assert_allclose(moments.m2, WEIGHTS @ (X - mean) ** 2, rtol=1e-12)
    unweighted = _reduce(ColumnMoments(), (X,))
    np.testing.assert_allclose(unweighted.m2 / N_ROWS, X.var(axis=0), rtol=1e-12)


def test_moments_stay_accurate_far_from_the_origin():
    """Means 1e12 standard deviations from zero: Chan's merge keeps the variance to
    about eps * mean / std (1e-4); summing squares would lose it entirely."""
    shifted = X * 1e-3 + 1e9
    moments = _reduce(ColumnMoments(), (shifted,))
    np.testing.assert_allclose(moments.m2 / N_ROWS, shifted.var(axis=0), rtol=1e-3)
    naive = (shifted**2).mean(axis=0) - shifted.mean(axis=0) ** 2
    assert np.all(np.abs(naive / shifted.var(axis=0) - 1) > 1)


@pytest.mark.parametrize("kind", ["loss_grad", "loss_grad_hess", "gram"])
def test_objective_reduction_equals_the_dict_partials_bit_for_bit(kind):
    loss = HalfSquaredError() if kind == "gram" else BinaryLogLoss()
    objective = LinearObjective(loss, L2(0.5), N_FEATURES, 1, fit_intercept=True)
    y = (LABELS[:, None] > 1).astype(np.float64)
    coef = None if kind == "gram" else RNG.normal(size=objective.n_coef) * 0.1
    reduction = ObjectiveReduction(objective, kind)
    typed = [reduction.chunk(coef, i, *blocks) for i, blocks in enumerate(_chunks(X, y, WEIGHTS))]
    dicts = [as_dict(part) for part in typed]
    combined = as_dict(reduction.combine(typed))
    expected = combine_partials(kind, dicts)
    assert combined.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(combined[key], expected[key])


def test_fused_reductions_read_each_column_once_and_equal_their_parts():
    fused = Fused((LabelCounts("y"), WeightSum(), ColumnMoments("X", "sample_weight")))
    assert fused.columns == ("y", "sample_weight", "X")
    total = _reduce(fused, (LABELS, WEIGHTS, X))
    labels, weights, moments = total.parts
    assert weights.total == _reduce(WeightSum(), (WEIGHTS,)).total
    np.testing.assert_array_equal(labels.counts, _reduce(LabelCounts("y"), (LABELS,)).counts)
    np.testing.assert_array_equal(
        moments.m2, _reduce(ColumnMoments("X", "sample_weight"), (X, WEIGHTS)).m2
    )


def test_block_totals_pass_the_chunk_index():
    reduction = BlockTotals(lambda broadcast, i, x: {"rows": float(len(x)), "index": float(i)})
    total = _reduce(reduction, (X,))
    assert total.totals == {"rows": N_ROWS, "index": sum(range(len(BOUNDS) - 1))}


@pytest.mark.parametrize("n_chunks", [1, 2, 7, 8, 9, 64, 65, 100])
@pytest.mark.parametrize("split_every", [2, 3, 8])
def test_any_placement_combines_the_same_tree(n_chunks, split_every):
    """Workers combining the subtrees they hold give the bits of the one fixed tree."""
    values = np.random.default_rng(n_chunks).normal(size=(n_chunks, 3)) * 10.0 ** np.arange(3)
    reduction = WeightSum()
    partials = {i: reduction.chunk(None, i, values[i]) for i in range(n_chunks)}
    leaves = {(0, i): partial for i, partial in partials.items()}
    reference = tree_combine(reduction, leaves, n_chunks, split_every)
    # The reference is dask's shape: split_every consecutive partials per combine.
    level = [partials[i] for i in range(n_chunks)]
    while len(level) > 1:
        level = [
            reduction.combine(level[s : s + split_every]) for s in range(0, len(level), split_every)
        ]
    assert reference.total == level[0].total
    rng = np.random.default_rng(split_every)
    for n_groups in (1, 2, 3, 5):
        owner = rng.integers(0, n_groups, size=n_chunks)  # any chunk anywhere
        contiguous = np.sort(owner)  # or contiguous runs, as the frame keeps them
        for placement in (owner, contiguous):
            nodes = {}
            for group in range(n_groups):
                mine = {i: partials[i] for i in np.flatnonzero(placement == group)}
                local = combine_local(reduction, mine, n_chunks, split_every)
                assert not set(local) & set(nodes)
                nodes.update(local)
            total = tree_combine(reduction, nodes, n_chunks, split_every)
            assert total.total == reference.total
            assert total.n_rows == 3 * n_chunks


def test_contiguous_groups_send_few_nodes():
    reduction = WeightSum()
    partials = {i: reduction.chunk(None, i, np.ones(2)) for i in range(1000)}
    local = combine_local(reduction, {i: partials[i] for i in range(500)}, 1000, 8)
    assert len(local) < 8 * len(level_widths(1000, 8))
    assert sum(node.n_rows for node in local.values()) == 1000
