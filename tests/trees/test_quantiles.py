"""Percentiles of residuals per leaf from chunked passes, against NumPy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.stats import _weighted_percentile

from daskgd.trees.quantiles import BucketStats, Percentile, bucket_stats, leaf_percentiles


def chunked_passes(residuals, weights, leaves, n_chunks):
    """The stats and gather passes over the rows cut into chunks, merged in chunk order."""
    chunks = np.array_split(np.arange(len(residuals)), n_chunks)

    def stats(lo, hi, n_buckets) -> BucketStats:
        parts = [
            bucket_stats(residuals[c], weights[c], leaves[c], lo, hi, n_buckets) for c in chunks
        ]
        total = parts[0]
        for part in parts[1:]:
            total = total.merge(part)
        return total

    def gather(lo, hi):
        inside = (leaves >= 0) & (residuals >= lo[leaves]) & (residuals <= hi[leaves])
        return [
            (residuals[inside & (leaves == leaf)], weights[inside & (leaves == leaf)])
            for leaf in range(len(lo))
        ]

    return stats, gather


@pytest.mark.parametrize("limit", [100_000, 50], ids=["gathered-at-once", "narrowed"])
@pytest.mark.parametrize(
    ("rank", "median", "weighted"),
    [(50.0, True, False), (80.0, False, False), (3.0, False, False), (70.0, False, True)],
    ids=["median", "percentile-80", "percentile-3", "weighted-70"],
)
def test_leaf_percentiles_equal_numpy_and_scikit_learn(rank, median, weighted, limit):
    rng = np.random.default_rng(0)
    n = 20_000
    residuals = rng.standard_t(2, n) * 10
    residuals[::7] = np.round(residuals[::7])  # ties
    leaves = rng.integers(0, 5, n)
    leaves[::11] = -1  # held-out rows
    leaves[leaves == 3] = 4  # leaf 3 has no rows
    leaves[rng.random(n) < 0.1] = 2
    residuals[leaves == 2] = 1.5  # a leaf of one value
    weights = rng.random(n) * 3 if weighted else np.ones(n)
    stats, gather = chunked_passes(residuals, weights, leaves, 7)
    percentile = Percentile(rank, median, weighted)
    values, n_passes = leaf_percentiles(
        stats, gather, 5, percentile, n_buckets=64, gather_limit=limit
    )
    assert n_passes >= (3 if limit < 1000 else 2)
    assert np.isnan(values[3])
    for leaf in (0, 1, 2, 4):
        rows = leaves == leaf
        if weighted:
            expected = _weighted_percentile(residuals[rows], weights[rows], rank)
        elif median:
            expected = np.median(residuals[rows])
        else:
            expected = np.percentile(residuals[rows], rank)
        assert values[leaf] == expected, (leaf, values[leaf], expected)
