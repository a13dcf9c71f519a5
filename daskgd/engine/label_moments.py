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

from daskgd.engine.reductions import LabelCountsPartial, Reduction
from daskgd.objective import MAX_MOMENT_LABELS, block_label_moments


@dataclass(frozen=True)
class LabelMomentsPartial:
    """The label counts of some rows, and each label's moments in ``[X 1]``.

    Attributes
    ----------
    labels : LabelCountsPartial
        Sorted distinct labels, their counts and weight sums.
    sums : ndarray of shape (n_values, n_features + fit_intercept) or None
        Weighted sum of ``[X 1]`` over each label's rows; None past
        :data:`~daskgd.objective.MAX_MOMENT_LABELS` labels.
    gram : ndarray of shape (n_features + fit_intercept,) * 2 or None
        Weighted Gram matrix of ``[X 1]``; None when ``sums`` is.
    """

    labels: LabelCountsPartial
    sums: np.ndarray | None
    gram: np.ndarray | None

    @classmethod
    def from_block(cls, moments: dict[str, Any]) -> LabelMomentsPartial:
        """The partial of :func:`~daskgd.objective.block_label_moments`' dict."""
        labels = LabelCountsPartial(moments["values"], moments["counts"], moments["weights"])
        return cls(labels, moments["sums"], moments["gram"])

    @property
    def values(self) -> np.ndarray:
        """Sorted distinct labels."""
        return self.labels.values

    @property
    def counts(self) -> np.ndarray:
        """Rows holding each label."""
        return self.labels.counts

    @property
    def weights(self) -> np.ndarray:
        """Weight sum of each label's rows."""
        return self.labels.weights

    def merge(self, other: LabelMomentsPartial) -> LabelMomentsPartial:
        """The partial of both sets of rows."""
        labels = self.labels.merge(other.labels)
        sums = gram = None
        if (
            len(labels.values) <= MAX_MOMENT_LABELS
            and self.sums is not None
            and other.sums is not None
            and self.gram is not None
            and other.gram is not None
        ):
            sums = np.zeros((len(labels.values), self.sums.shape[1]))
            sums[np.searchsorted(labels.values, self.values)] += self.sums
            sums[np.searchsorted(labels.values, other.values)] += other.sums
            gram = self.gram + other.gram
        return LabelMomentsPartial(labels, sums, gram)


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
        moments = block_label_moments(X, y, sample_weight, self.fit_intercept)
        return LabelMomentsPartial.from_block(moments)
