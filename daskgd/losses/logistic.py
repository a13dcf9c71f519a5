"""Binary log-loss and multinomial (softmax) cross-entropy, numerically stable."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax

from daskgd.losses._base import FloatArray, PointwiseLoss


class BinaryLogLoss(PointwiseLoss):
    """``l(y, z) = log(1 + exp(z)) - y * z`` for ``y`` in {0, 1} and one raw output.

    Written as ``-log_expit(z) + (1 - y) * z``, which neither overflows nor loses
    precision for large ``|z|``.
    """

    curvature_bound = 0.25

    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        z = raw_prediction[:, 0]
        return -log_expit(z) + (1.0 - y[:, 0]) * z

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        return expit(raw_prediction) - y

    def loss_gradient(
        self, y: FloatArray, raw_prediction: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        return self.loss(y, raw_prediction), self.gradient(y, raw_prediction)

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        proba = expit(raw_prediction)
        return (proba * (1.0 - proba))[:, :, np.newaxis]


class MultinomialLogLoss(PointwiseLoss):
    """``l(y, z) = logsumexp(z) - z_y`` for a class index ``y`` in ``0 .. n_classes - 1``.

    ``y`` has one column holding the class index as a float; ``raw_prediction``
    has one column per class (the full, symmetric softmax parametrisation that
    scikit-learn uses).
    """

    curvature_bound = 0.5

    def _true_class_score(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        index = y[:, 0].astype(np.intp)
        return np.take_along_axis(raw_prediction, index[:, np.newaxis], axis=1)[:, 0]

    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        return logsumexp(raw_prediction, axis=1) - self._true_class_score(y, raw_prediction)

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        grad = softmax(raw_prediction, axis=1)
        grad[np.arange(len(y)), y[:, 0].astype(np.intp)] -= 1.0
        return grad

    def loss_gradient(
        self, y: FloatArray, raw_prediction: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        log_normaliser = logsumexp(raw_prediction, axis=1)
        loss = log_normaliser - self._true_class_score(y, raw_prediction)
        grad = np.exp(raw_prediction - log_normaliser[:, np.newaxis])
        grad[np.arange(len(y)), y[:, 0].astype(np.intp)] -= 1.0
        return loss, grad

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        proba = softmax(raw_prediction, axis=1)
        hess = -proba[:, :, np.newaxis] * proba[:, np.newaxis, :]
        classes = np.arange(proba.shape[1])
        hess[:, classes, classes] += proba
        return hess
