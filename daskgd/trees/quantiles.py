"""Exact percentiles of residuals per leaf, from passes over the chunks.

The ``absolute_error`` and ``quantile`` losses set each leaf's value to a
percentile of its training rows' residuals ``y - raw`` (scikit-learn's
``fit_intercept_only``: ``np.median``, ``np.percentile``, or
``_weighted_percentile`` with sample weights), and so is the baseline. A
percentile needs order statistics, which do not come from sums. So the search
narrows: one pass counts each leaf's rows in ``n_buckets`` equal-width buckets
of its current value interval (with the least and largest value in each); the
interval shrinks to the buckets that hold the ranks sought, and once few rows
are left in it, one pass gathers them and the client sorts them. Typically three
passes: the range, one bucket pass, the gathering. Unweighted, the result is
scikit-learn's exactly; with weights, the cumulated weight is summed in another
order, so a rank that falls on a boundary of cumulated weight within rounding
may pick the neighbouring value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Buckets per leaf in a narrowing pass.
N_BUCKETS = 1024
#: Rows per leaf few enough to gather to the client.
GATHER_LIMIT = 100_000


@dataclass(frozen=True)
class BucketStats:
    """Per leaf and bucket of a pass: row count, weight, least and largest residual."""

    counts: np.ndarray
    weights: np.ndarray
    lows: np.ndarray
    highs: np.ndarray

    def merge(self, other: BucketStats) -> BucketStats:
        return BucketStats(
            self.counts + other.counts,
            self.weights + other.weights,
            np.minimum(self.lows, other.lows),
            np.maximum(self.highs, other.highs),
        )


def bucket_stats(
    residuals: np.ndarray,
    weights: np.ndarray,
    leaves: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    n_buckets: int,
) -> BucketStats:
    """The :class:`BucketStats` of one chunk's rows (leaf ``-1``: a row left out).

    Only rows inside their leaf's ``[lo, hi]`` count; the bucket of a residual is
    monotonic in it, so the rows of a run of buckets are those of a value interval.
    """
    n_leaves = len(lo)
    keep = leaves >= 0
    keep[keep] = (residuals[keep] >= lo[leaves[keep]]) & (residuals[keep] <= hi[leaves[keep]])
    r, w, leaf = residuals[keep], weights[keep], leaves[keep]
    width = hi[leaf] - lo[leaf]
    scaled = np.zeros(len(r))
    finite = np.isfinite(width) & (width > 0)
    scaled[finite] = (r[finite] - lo[leaf][finite]) / width[finite] * n_buckets
    bucket = np.clip(np.floor(scaled), 0, n_buckets - 1).astype(np.int64)
    index = leaf * n_buckets + bucket
    size = n_leaves * n_buckets
    lows = np.full(size, np.inf)
    highs = np.full(size, -np.inf)
    np.minimum.at(lows, index, r)
    np.maximum.at(highs, index, r)
    shape = (n_leaves, n_buckets)
    return BucketStats(
        np.bincount(index, minlength=size).reshape(shape).astype(np.int64),
        np.bincount(index, weights=w, minlength=size).reshape(shape),
        lows.reshape(shape),
        highs.reshape(shape),
    )


@dataclass(frozen=True)
class Percentile:
    """What scikit-learn's ``fit_intercept_only`` takes of a leaf's residuals.

    Attributes
    ----------
    rank : float
        Percentile rank, in percent (50 for ``absolute_error``, ``100 * quantile``).
    median : bool
        ``np.median`` (``absolute_error`` without weights) rather than ``np.percentile``.
    weighted : bool
        ``_weighted_percentile`` (with sample weights).
    """

    rank: float
    median: bool
    weighted: bool

    def positions(self, n: int) -> tuple[int, int, float]:
        """Unweighted: the two order statistics it interpolates, and numpy's weight."""
        if self.median:
            return (n - 1) // 2, n // 2, 0.0
        # numpy's "linear" method: the virtual index (n - 1) q, as numpy computes it.
        q = np.true_divide(self.rank, 100)
        virtual = (n - 1) * q
        if virtual >= n - 1:
            return n - 1, n - 1, 0.0
        if virtual < 0:
            return 0, 0, 0.0
        previous = int(np.floor(virtual))
        return previous, previous + 1, float(virtual - previous)

    def value(self, low: float, high: float, gamma: float) -> float:
        """The percentile from its two order statistics (numpy's arithmetic)."""
        if self.median:
            return float(np.mean(np.array([low, high]))) if low != high else low
        difference = high - low
        if gamma >= 0.5:
            return float(high - difference * (1 - gamma))
        return float(low + difference * gamma)


StatsPass = Callable[[np.ndarray, np.ndarray, int], BucketStats]
GatherPass = Callable[[np.ndarray, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]


def leaf_percentiles(
    stats_pass: StatsPass,
    gather_pass: GatherPass,
    n_leaves: int,
    percentile: Percentile,
    n_buckets: int = N_BUCKETS,
    gather_limit: int = GATHER_LIMIT,
) -> tuple[np.ndarray, int]:
    """The percentile of every leaf's residuals, and the passes it took.

    Parameters
    ----------
    stats_pass : callable
        ``stats_pass(lo, hi, n_buckets)``: :class:`BucketStats` of all chunks.
    gather_pass : callable
        ``gather_pass(lo, hi)``: per leaf, the residuals in ``[lo, hi]`` and their weights.
    n_leaves : int
        Leaves (node indices; a node without rows gets NaN).
    percentile : Percentile
    n_buckets : int, default=N_BUCKETS
        Buckets per leaf of a narrowing pass.
    gather_limit : int, default=GATHER_LIMIT
        Rows per leaf few enough to gather.

    Returns
    -------
    values : ndarray of shape (n_leaves,)
    n_passes : int
    """
    lo, hi = np.full(n_leaves, -np.inf), np.full(n_leaves, np.inf)
    totals = stats_pass(lo, hi, 1)
    n_passes = 1
    n = totals.counts[:, 0].copy()
    total_weight = totals.weights[:, 0].copy()
    lo, hi = totals.lows[:, 0].copy(), totals.highs[:, 0].copy()
    below_n = np.zeros(n_leaves, dtype=np.int64)
    below_w = np.zeros(n_leaves)
    inside = n.copy()
    targets = [percentile.positions(int(count)) if count else (0, 0, 0.0) for count in n]
    wanted = percentile.rank / 100 * total_weight
    wanted[wanted == 0] = np.nextafter(0.0, 1.0)
    while np.any((inside > gather_limit) & (lo < hi)):
        stats = stats_pass(lo, hi, n_buckets)
        n_passes += 1
        for leaf in np.flatnonzero((inside > gather_limit) & (lo < hi)):
            counts, weights = stats.counts[leaf], stats.weights[leaf]
            if percentile.weighted:
                cumulated = below_w[leaf] + np.cumsum(weights)
                first = last = min(int(np.searchsorted(cumulated, wanted[leaf])), n_buckets - 1)
            else:
                cumulated = below_n[leaf] + np.cumsum(counts)
                first = int(np.searchsorted(cumulated, targets[leaf][0], side="right"))
                last = int(np.searchsorted(cumulated, targets[leaf][1], side="right"))
            below_n[leaf] += int(counts[:first].sum())
            below_w[leaf] += float(weights[:first].sum())
            inside[leaf] = int(counts[first : last + 1].sum())
            lo[leaf], hi[leaf] = stats.lows[leaf, first], stats.highs[leaf, last]
    values = np.full(n_leaves, np.nan)
    # A leaf whose interval holds one value has it; its rows need not travel.
    settled = (n > 0) & (lo == hi)
    values[settled] = lo[settled]
    gathered = gather_pass(np.where(settled, np.inf, lo), np.where(settled, -np.inf, hi))
    n_passes += 1
    for leaf in np.flatnonzero((n > 0) & ~settled):
        residuals, weights = gathered[leaf]
        order = np.argsort(residuals, kind="stable")
        residuals, weights = residuals[order], weights[order]
        if percentile.weighted:
            cumulated = below_w[leaf] + np.cumsum(weights)
            index = min(int(np.searchsorted(cumulated, wanted[leaf])), len(residuals) - 1)
            values[leaf] = residuals[index]
        else:
            first, last, gamma = targets[leaf]
            values[leaf] = percentile.value(
                residuals[first - below_n[leaf]], residuals[last - below_n[leaf]], gamma
            )
    return values, n_passes
