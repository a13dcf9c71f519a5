"""A classifier's label pass that also brings its objective at zero (NumPy only).

:class:`LabelMoments` finds what :class:`~daskgd.engine.reductions.LabelCounts`
finds (the distinct labels, their counts and weight sums) and, in the same pass,
each label's weighted sum of ``[X 1]`` and the weighted Gram matrix of ``[X 1]``
(:func:`daskgd.objective.block_label_moments`). From those the value, gradient
and Hessian of a logistic objective at ``coef = 0``, where Newton's method starts,
follow on the client (:meth:`daskgd.objective.LinearObjective.totals_at_zero`):
the pass the fit would spend there is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from daskgd.engine.reductions import Reduction
from daskgd.objective import MAX_MOMENT_LABELS, block_label_moments


@dataclass(frozen=True)
class LabelMomentsPartial:
    """Distinct labels of some rows, their counts and weights, and their moments.

    Attributes
    ----------
    values : ndarray of shape (n_values,)
        Sorted distinct labels.
    counts : ndarray of shape (n_values,)
        Rows holding each label (int64).
    weights : ndarray of shape (n_values,)
        Sum of the sample weights of those rows (their count when unweighted).
    sums : ndarray of shape (n_values, n_features + fit_intercept) or None
        Weighted sum of ``[X 1]`` over each label's rows; None past
        :data:`~daskgd.objective.MAX_MOMENT_LABELS` labels.
    gram : ndarray of shape (n_features + fit_intercept,) * 2 or None
        Weighted Gram matrix of ``[X 1]``; None when ``sums`` is.
    """

    values: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    sums: np.ndarray | None
    gram: np.ndarray | None

    def merge(self, other: LabelMomentsPartial) -> LabelMomentsPartial:
        """The partial of both sets of rows."""
        values = np.union1d(self.values, other.values)
        counts = np.zeros(len(values), dtype=np.int64)
        weights = np.zeros(len(values))
        sums = gram = None
        if (
            len(values) <= MAX_MOMENT_LABELS
            and self.sums is not None
            and other.sums is not None
            and self.gram is not None
            and other.gram is not None
        ):
            sums = np.zeros((len(values), self.sums.shape[1]))
            sums[np.searchsorted(values, self.values)] += self.sums
            sums[np.searchsorted(values, other.values)] += other.sums
            gram = self.gram + other.gram
        for part in (self, other):
            index = np.searchsorted(values, part.values)
            counts[index] += part.counts
            weights[index] += part.weights
        return LabelMomentsPartial(values, counts, weights, sums, gram)


@dataclass(frozen=True)
class LabelMoments(Reduction):
    """Distinct labels of ``y`` with their counts and weight sums, and their moments in ``X``.

    Parameters
    ----------
    fit_intercept : bool
        Whether the moments are of ``[X 1]`` (True) or of ``X``.
    """

    fit_intercept: bool
    name: ClassVar[str] = "daskgd-labels"

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> LabelMomentsPartial:
        X, y, sample_weight = blocks
        return LabelMomentsPartial(**block_label_moments(X, y, sample_weight, self.fit_intercept))
