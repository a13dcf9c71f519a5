"""The pointwise loss interface: every loss acts on ``raw_prediction`` only."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]


class PointwiseLoss(ABC):
    """A loss ``l(y_i, z_i)`` of one sample, on raw predictions ``z_i`` of length ``n_outputs``.

    Every method takes ``y`` of shape (n_samples, n_targets) and ``raw_prediction``
    of shape (n_samples, n_outputs), both 2-D, and works row by row. ``n_targets``
    is ``n_outputs`` for regression and 1 for classification (the encoded label).

    Attributes
    ----------
    is_smooth : bool
        Whether the loss is twice differentiable in ``raw_prediction``.
    curvature_bound : float
        An upper bound of the second derivative in ``raw_prediction``; used to
        estimate a Lipschitz constant of the gradient.
    """

    is_smooth: bool = True
    curvature_bound: float = 1.0

    @abstractmethod
    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        """Loss per sample, of shape (n_samples,)."""

    @abstractmethod
    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        """Derivative in ``raw_prediction``, of shape (n_samples, n_outputs)."""

    def loss_gradient(
        self, y: FloatArray, raw_prediction: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Loss per sample and its gradient, sharing work where the loss can."""
        return self.loss(y, raw_prediction), self.gradient(y, raw_prediction)

    @abstractmethod
    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        """Second derivative in ``raw_prediction``, of shape (n_samples, n_outputs, n_outputs)."""

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
