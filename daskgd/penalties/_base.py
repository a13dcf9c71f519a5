"""The penalty interface: value, gradient, curvature and proximal step on the coefficients."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]


class Penalty(ABC):
    """A penalty ``g(w)`` on the feature coefficients (never on intercepts).

    ``w`` is the coefficient matrix of shape (n_features, n_outputs).

    Attributes
    ----------
    is_smooth : bool
        Whether ``g`` is differentiable; a non-smooth penalty is handled by its
        proximal operator (``prox``) in the solvers that support it.
    """

    is_smooth: bool = True

    @abstractmethod
    def value(self, w: FloatArray) -> float:
        """Penalty value ``g(w)``."""

    @abstractmethod
    def gradient(self, w: FloatArray) -> FloatArray:
        """Gradient of ``g`` at ``w`` (a subgradient where ``g`` is not smooth)."""

    @abstractmethod
    def hessian_diagonal(self, w: FloatArray) -> FloatArray:
        """Diagonal of the Hessian of ``g`` at ``w``, same shape as ``w``."""

    @abstractmethod
    def prox(self, w: FloatArray, step_size: float) -> FloatArray:
        """``argmin_v 1/(2 step_size) ||v - w||^2 + g(v)``."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"
