"""The L1 norm and the elastic net, with their proximal operators."""

from __future__ import annotations

import numpy as np

from daskgd.penalties._base import FloatArray, Penalty


def soft_threshold(w: FloatArray, threshold: float) -> FloatArray:
    """``sign(w) * max(|w| - threshold, 0)``, the prox of ``threshold * ||.||_1``."""
    return np.sign(w) * np.maximum(np.abs(w) - threshold, 0.0)


class ElasticNet(Penalty):
    """``strength * (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||_F^2)``.

    Parameters
    ----------
    strength : float
        Non-negative multiplier.
    l1_ratio : float
        Share of the L1 norm, in [0, 1]; 1 is the lasso.
    positive : bool, default=False
        Constrain the coefficients to be non-negative (the prox projects onto them).
    """

    def __init__(self, strength: float, l1_ratio: float, positive: bool = False) -> None:
        if not strength >= 0:
            raise ValueError(f"Penalty strength must be non-negative, got {strength!r}.")
        if not 0 <= l1_ratio <= 1:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}.")
        self.strength = float(strength)
        self.l1_ratio = float(l1_ratio)
        self.positive = bool(positive)
        # The non-negativity constraint is non-smooth however small the penalty.
        self.is_smooth = (self.l1_ratio == 0 or self.strength == 0) and not self.positive

    @property
    def _l1(self) -> float:
        return self.strength * self.l1_ratio

    @property
    def _l2(self) -> float:
        return self.strength * (1.0 - self.l1_ratio)

    def value(self, w: FloatArray) -> float:
        return self._l1 * float(np.abs(w).sum()) + 0.5 * self._l2 * float(np.vdot(w, w))

    def gradient(self, w: FloatArray) -> FloatArray:
        return self._l1 * np.sign(w) + self._l2 * w

    def hessian_diagonal(self, w: FloatArray) -> FloatArray:
        return np.full_like(w, self._l2)

    def prox(self, w: FloatArray, step_size: float) -> FloatArray:
        if self.positive:  # the prox of the penalty plus the indicator of w >= 0
            return np.maximum(w - step_size * self._l1, 0.0) / (1.0 + step_size * self._l2)
        return soft_threshold(w, step_size * self._l1) / (1.0 + step_size * self._l2)


class L1(ElasticNet):
    """``strength * ||w||_1``.

    Parameters
    ----------
    strength : float
        Non-negative multiplier.
    """

    def __init__(self, strength: float) -> None:
        super().__init__(strength, l1_ratio=1.0)

    def __repr__(self) -> str:
        return f"L1(strength={self.strength!r})"
