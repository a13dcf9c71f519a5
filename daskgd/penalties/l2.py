"""No penalty and the squared L2 norm."""

from __future__ import annotations

import numpy as np

from daskgd.penalties._base import FloatArray, Penalty


class NoPenalty(Penalty):
    """``g(w) = 0``."""

    def value(self, w: FloatArray) -> float:
        return 0.0

    def gradient(self, w: FloatArray) -> FloatArray:
        return np.zeros_like(w)

    def hessian_diagonal(self, w: FloatArray) -> FloatArray:
        return np.zeros_like(w)

    def prox(self, w: FloatArray, step_size: float) -> FloatArray:
        return w


class L2(Penalty):
    """``g(w) = strength / 2 * ||w||_F^2``.

    Parameters
    ----------
    strength : float
        Non-negative multiplier of the squared norm.
    """

    def __init__(self, strength: float) -> None:
        if not strength >= 0:
            raise ValueError(f"L2 strength must be non-negative, got {strength!r}.")
        self.strength = float(strength)

    def value(self, w: FloatArray) -> float:
        return 0.5 * self.strength * float(np.vdot(w, w))

    def gradient(self, w: FloatArray) -> FloatArray:
        return self.strength * w

    def hessian_diagonal(self, w: FloatArray) -> FloatArray:
        return np.full_like(w, self.strength)

    def prox(self, w: FloatArray, step_size: float) -> FloatArray:
        return w / (1.0 + step_size * self.strength)
