"""Regression losses that grow linearly in the residual: Huber and epsilon-insensitive."""

from __future__ import annotations

import numpy as np

from daskgd.losses._base import FloatArray, PointwiseLoss


class Huber(PointwiseLoss):
    """``1/2 r^2`` for ``|r| <= epsilon``, ``epsilon |r| - epsilon^2 / 2`` beyond (``r = z - y``).

    Parameters
    ----------
    epsilon : float, default=0.1
        Where the quadratic part turns linear (scikit-learn's SGD default).
    """

    curvature_bound = 1.0

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = float(epsilon)

    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        residual = np.abs(raw_prediction - y)
        quadratic = 0.5 * residual**2
        linear = self.epsilon * residual - 0.5 * self.epsilon**2
        return np.where(residual <= self.epsilon, quadratic, linear).sum(axis=1)

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        return np.clip(raw_prediction - y, -self.epsilon, self.epsilon)

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        inside = (np.abs(raw_prediction - y) <= self.epsilon).astype(np.float64)
        n_samples, n_outputs = raw_prediction.shape
        hess = np.zeros((n_samples, n_outputs, n_outputs))
        outputs = np.arange(n_outputs)
        hess[:, outputs, outputs] = inside
        return hess


class EpsilonInsensitive(PointwiseLoss):
    """``max(0, |z - y| - epsilon)``, or its square with ``squared=True``.

    Parameters
    ----------
    epsilon : float, default=0.1
        Width of the insensitive band.
    squared : bool, default=False
        Square the loss (smooth).
    """

    def __init__(self, epsilon: float = 0.1, squared: bool = False) -> None:
        self.epsilon = float(epsilon)
        self.squared = bool(squared)
        self.is_smooth = self.squared
        self.curvature_bound = 2.0 if squared else 0.0

    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        excess = np.maximum(0.0, np.abs(raw_prediction - y) - self.epsilon)
        return (excess**2 if self.squared else excess).sum(axis=1)

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        residual = raw_prediction - y
        excess = np.maximum(0.0, np.abs(residual) - self.epsilon)
        if self.squared:
            return 2.0 * np.sign(residual) * excess
        return np.sign(residual) * (excess > 0)

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        if not self.squared:
            raise NotImplementedError("The epsilon-insensitive loss has no second derivative.")
        outside = (np.abs(raw_prediction - y) > self.epsilon).astype(np.float64)
        n_samples, n_outputs = raw_prediction.shape
        hess = np.zeros((n_samples, n_outputs, n_outputs))
        outputs = np.arange(n_outputs)
        hess[:, outputs, outputs] = 2.0 * outside
        return hess
