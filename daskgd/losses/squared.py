"""Half squared error, summed over outputs."""

from __future__ import annotations

import numpy as np

from daskgd.losses._base import FloatArray, PointwiseLoss


class HalfSquaredError(PointwiseLoss):
    """``l(y, z) = 1/2 * sum_k (y_k - z_k)^2``.

    Twice the mean of this loss is scikit-learn's ``||y - Xw||^2 / n``.
    """

    curvature_bound = 1.0

    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        residual = raw_prediction - y
        return 0.5 * np.einsum("ij,ij->i", residual, residual)

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        return raw_prediction - y

    def loss_gradient(
        self, y: FloatArray, raw_prediction: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        residual = raw_prediction - y
        return 0.5 * np.einsum("ij,ij->i", residual, residual), residual

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        n_samples, n_outputs = raw_prediction.shape
        eye = np.eye(n_outputs, dtype=raw_prediction.dtype)
        return np.broadcast_to(eye, (n_samples, n_outputs, n_outputs))
