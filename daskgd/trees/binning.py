"""Bin edges from a sample of the rows, and the mapping of values to uint8 bins.

The thresholds follow scikit-learn's ``_find_binning_thresholds``: midpoints of
the distinct values when there are at most ``max_bins`` of them, otherwise the
``averaged_inverted_cdf`` percentiles; missing values are ignored and get the
last bin, ``max_bins``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daskgd.trees.kernels import bin_columns

#: scikit-learn's cap on thresholds (+inf is kept for splits that separate NaN).
ALMOST_INF = 1e300
#: Rows scikit-learn bins on (``_BinMapper.subsample``); the sample has as many.
BINNING_SAMPLE_ROWS = 200_000


def weighted_percentiles(
    values: np.ndarray, weights: np.ndarray, percentiles: np.ndarray
) -> np.ndarray:
    """scikit-learn's ``_weighted_percentile(..., average=True)`` of sorted ``values``.

    The "averaged_inverted_cdf" method with weights: the value where the weight
    cumulated from below first reaches the rank, or the midpoint with the next
    value when it reaches it exactly.
    """
    cdf = np.cumsum(weights)
    result = np.empty(len(percentiles))
    last = len(values) - 1
    for position, percentile in enumerate(percentiles):
        rank = percentile / 100 * cdf[-1]
        if rank == 0:
            rank = np.nextafter(rank, rank + 1)
        index = int(np.clip(np.searchsorted(cdf, rank), 0, last))
        if cdf[index] - rank > np.finfo(np.float64).eps:
            result[position] = values[index]
        else:
            result[position] = (values[index] + values[min(index + 1, last)]) / 2
    return result


def column_thresholds(
    values: np.ndarray, max_bins: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """The increasing thresholds of one feature (at most ``max_bins - 1``).

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        The feature's values in the sample, NaN for missing.
    max_bins : int
        Bins for non-missing values (at most 255).
    weights : ndarray of shape (n_samples,), optional
        Sample weights: rows of weight 0 are left out, and the percentiles are
        weighted (scikit-learn's rule for weighted fits).

    Returns
    -------
    thresholds : ndarray
        Value ``x`` goes to bin ``b`` when ``thresholds[b - 1] < x <= thresholds[b]``.
    """
    present = ~np.isnan(values)
    if weights is not None:
        present &= weights != 0
        weights = weights[present]
    values = values[present]
    if weights is None:
        values = np.sort(values)
    else:
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
    # = np.unique(values) (which would sort the sorted values again)
    distinct = values[np.concatenate([[True], values[1:] != values[:-1]])].astype(np.float64)
    if len(distinct) <= 1:
        return np.asarray([], dtype=np.float64)
    if len(distinct) <= max_bins:
        thresholds = (distinct[:-1] + distinct[1:]) / 2.0
    else:
        percentiles = np.linspace(0, 100, num=max_bins + 1)[1:-1]
        if weights is None:
            thresholds = np.percentile(values, percentiles, method="averaged_inverted_cdf")
        else:
            thresholds = weighted_percentiles(values, weights, percentiles)
        thresholds = np.unique(thresholds)
    return np.clip(thresholds, a_min=None, a_max=ALMOST_INF)


def sample_rows_per_chunk(chunk_rows: tuple[int, ...], n_sample: int) -> list[int]:
    """How many rows each chunk gives to the binning sample: in proportion to its rows.

    All rows when the data has at most ``n_sample`` of them. Largest remainders
    settle the rounding, so the counts add up to ``n_sample`` exactly.
    """
    total = sum(chunk_rows)
    if total <= n_sample:
        return list(chunk_rows)
    exact = np.asarray(chunk_rows, dtype=np.float64) * n_sample / total
    counts = np.floor(exact).astype(np.int64)
    short = n_sample - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return [int(c) for c in counts]


def sample_of_chunk(n_available: int, chunk_index: int, n_rows: int, seed: int) -> np.ndarray:
    """Which of a chunk's ``n_available`` rows the sample takes: ``n_rows`` of them, drawn
    without replacement, seeded by ``(seed, chunk)``, in row order."""
    if n_rows >= n_available:
        return np.arange(n_available)
    rng = np.random.default_rng([seed, chunk_index])
    return np.sort(rng.choice(n_available, size=n_rows, replace=False))


@dataclass(frozen=True)
class BinMapper:
    """Thresholds of every feature: what turns raw values into uint8 bins (picklable).

    Attributes
    ----------
    thresholds : tuple of ndarray
        Per feature, its increasing thresholds.
    max_bins : int
        Bins for non-missing values; bin ``max_bins`` holds the missing values.
    """

    thresholds: tuple[np.ndarray, ...]
    max_bins: int

    @classmethod
    def from_sample(
        cls, sample: np.ndarray, max_bins: int, weights: np.ndarray | None = None
    ) -> BinMapper:
        """The thresholds of each column of ``sample`` (weighted by ``weights``, if given)."""
        return cls(
            tuple(
                column_thresholds(sample[:, f], max_bins, weights) for f in range(sample.shape[1])
            ),
            max_bins,
        )

    def with_categories(self, n_categories: Sequence[int]) -> BinMapper:
        """The mapper whose first features are categorical, with ``n_categories`` codes
        each: code ``k`` is bin ``k`` (the thresholds sit half-way between codes)."""
        thresholds = list(self.thresholds)
        for feature, count in enumerate(n_categories):
            thresholds[feature] = np.arange(max(count - 1, 0), dtype=np.float64) + 0.5
        return BinMapper(tuple(thresholds), self.max_bins)

    @property
    def n_bins(self) -> int:
        """Bins per feature in the histograms, the missing-value bin included."""
        return self.max_bins + 1

    @property
    def missing_bin(self) -> int:
        return self.max_bins

    @property
    def n_bins_non_missing(self) -> np.ndarray:
        """Per feature, the number of bins of non-missing values."""
        return np.array([len(t) + 1 for t in self.thresholds], dtype=np.int64)

    def _table(self) -> np.ndarray:
        """The thresholds of every feature, padded with +inf to 256 columns."""
        table = np.full((len(self.thresholds), 256), np.inf)
        for f, values in enumerate(self.thresholds):
            table[f, : len(values)] = values
        return table

    def transform(self, X: Any) -> np.ndarray:
        """The bins of every value of ``X`` (uint8, C order)."""
        return bin_columns(
            np.ascontiguousarray(X, dtype=np.float64), self._table(), self.missing_bin
        )

    def __call__(self, X: Any) -> np.ndarray:
        """:meth:`transform` (a derive function of the engine)."""
        return self.transform(X)
