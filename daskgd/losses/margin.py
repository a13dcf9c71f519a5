"""Margin losses of linear classifiers: hinge, squared hinge, modified Huber.

Each acts on the margin ``m = s * z`` with ``s = +-1``. The target column holds
the class index (a float): with one raw output it is binary (``s = 2 y - 1``);
with ``K`` outputs every output is a one-vs-rest problem (``s_k = +1`` where
``y == k``, ``-1`` elsewhere) and the loss is summed over outputs, so all
classes train in the same pass.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from daskgd.losses._base import FloatArray, PointwiseLoss


def signed_targets(y: FloatArray, n_outputs: int) -> FloatArray:
    """``+-1`` targets of shape (n_samples, n_outputs) from a class-index column."""
    if n_outputs == 1:
        return 2.0 * y[:, :1] - 1.0
    return np.where(y[:, :1] == np.arange(n_outputs), 1.0, -1.0)


class MarginLoss(PointwiseLoss):
    """A loss of the margin ``m = s * z``; subclasses give ``phi(m)`` and ``phi'(m)``.

    ``positive_weight`` (set with :meth:`with_positive_weight`) multiplies, in each
    one-vs-rest problem ``k``, the loss of the rows of class ``k`` only: liblinear
    weighs classes this way, the rest of each problem keeping weight 1.
    """

    positive_weight: FloatArray | None = None

    def with_positive_weight(self, weight: FloatArray) -> MarginLoss:
        """A copy whose one-vs-rest problem ``k`` weighs its positive rows by ``weight[k]``."""
        import copy

        result = copy.copy(self)
        result.positive_weight = np.asarray(weight, dtype=np.float64)
        return result

    def _row_weights(self, y: FloatArray, n_outputs: int) -> FloatArray | float:
        if self.positive_weight is None or n_outputs == 1:
            return 1.0
        positive = y[:, :1] == np.arange(n_outputs)
        return np.where(positive, self.positive_weight, 1.0)

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and {k: v for k, v in vars(self).items() if k != "positive_weight"}
            == {k: v for k, v in vars(other).items() if k != "positive_weight"}
            and np.array_equal(np.asarray(self.positive_weight), np.asarray(other.positive_weight))
        )

    def __hash__(self) -> int:
        return hash(type(self))

    def _phi(self, margin: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _dphi(self, margin: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _d2phi(self, margin: FloatArray) -> FloatArray:
        raise NotImplementedError(f"{type(self).__name__} has no second derivative.")

    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        signs = signed_targets(y, raw_prediction.shape[1])
        weight = self._row_weights(y, raw_prediction.shape[1])
        return (weight * self._phi(signs * raw_prediction)).sum(axis=1)

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        signs = signed_targets(y, raw_prediction.shape[1])
        weight = self._row_weights(y, raw_prediction.shape[1])
        return weight * signs * self._dphi(signs * raw_prediction)

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        signs = signed_targets(y, raw_prediction.shape[1])
        curvature = self._row_weights(y, raw_prediction.shape[1]) * self._d2phi(
            signs * raw_prediction
        )
        n_samples, n_outputs = raw_prediction.shape
        hess = np.zeros((n_samples, n_outputs, n_outputs))
        outputs = np.arange(n_outputs)
        hess[:, outputs, outputs] = curvature
        return hess


class Hinge(MarginLoss):
    """``phi(m) = max(0, threshold - m)``; its subgradient is ``-1`` where ``m <= threshold``.

    Parameters
    ----------
    threshold : float, default=1.0
        1 for the SVM hinge, 0 for the perceptron.
    """

    is_smooth = False

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = float(threshold)

    def _phi(self, margin: FloatArray) -> FloatArray:
        return np.maximum(0.0, self.threshold - margin)

    def _dphi(self, margin: FloatArray) -> FloatArray:
        return np.where(margin <= self.threshold, -1.0, 0.0)


class SquaredHinge(MarginLoss):
    """``phi(m) = max(0, threshold - m)^2``: smooth, with a generalised Hessian.

    Parameters
    ----------
    threshold : float, default=1.0
        Margin threshold.
    """

    curvature_bound = 2.0

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = float(threshold)

    def _phi(self, margin: FloatArray) -> FloatArray:
        return np.maximum(0.0, self.threshold - margin) ** 2

    def _dphi(self, margin: FloatArray) -> FloatArray:
        return -2.0 * np.maximum(0.0, self.threshold - margin)

    def _d2phi(self, margin: FloatArray) -> FloatArray:
        return np.where(margin < self.threshold, 2.0, 0.0)


class ModifiedHuber(MarginLoss):
    """``phi(m) = max(0, 1 - m)^2`` for ``m >= -1``, ``-4 m`` below: smooth, linear tail."""

    curvature_bound = 2.0

    def _phi(self, margin: FloatArray) -> FloatArray:
        return np.where(margin >= -1.0, np.maximum(0.0, 1.0 - margin) ** 2, -4.0 * margin)

    def _dphi(self, margin: FloatArray) -> FloatArray:
        return np.where(margin >= -1.0, -2.0 * np.maximum(0.0, 1.0 - margin), -4.0)

    def _d2phi(self, margin: FloatArray) -> FloatArray:
        return np.where((margin >= -1.0) & (margin < 1.0), 2.0, 0.0)


class MarginLogLoss(MarginLoss):
    """``phi(m) = log(1 + exp(-m))``: the log-loss of each one-vs-rest problem."""

    curvature_bound = 0.25

    def _phi(self, margin: FloatArray) -> FloatArray:
        return -log_expit(margin)

    def _dphi(self, margin: FloatArray) -> FloatArray:
        return -expit(-margin)

    def _d2phi(self, margin: FloatArray) -> FloatArray:
        return expit(margin) * expit(-margin)


class SmoothedHinge(MarginLoss):
    """The hinge with its kink rounded over a width ``smoothing`` (a Huberised hinge).

    ``phi(m) = 0`` for ``m >= 1``, ``(1 - m)^2 / (2 smoothing)`` for
    ``1 - smoothing < m < 1``, ``1 - m - smoothing / 2`` below: smooth, within
    ``smoothing / 2`` of the hinge everywhere, so full-batch solvers apply.

    Parameters
    ----------
    smoothing : float, default=0.05
        Width of the quadratic part.
    """

    def __init__(self, smoothing: float = 0.05) -> None:
        if not smoothing > 0:
            raise ValueError(f"smoothing must be positive, got {smoothing!r}.")
        self.smoothing = float(smoothing)
        self.curvature_bound = 1.0 / self.smoothing

    def _phi(self, margin: FloatArray) -> FloatArray:
        gap = 1.0 - margin
        return np.where(
            gap <= 0,
            0.0,
            np.where(gap < self.smoothing, gap**2 / (2 * self.smoothing), gap - self.smoothing / 2),
        )

    def _dphi(self, margin: FloatArray) -> FloatArray:
        return -np.clip((1.0 - margin) / self.smoothing, 0.0, 1.0)

    def _d2phi(self, margin: FloatArray) -> FloatArray:
        gap = 1.0 - margin
        return np.where((gap > 0) & (gap < self.smoothing), 1.0 / self.smoothing, 0.0)
