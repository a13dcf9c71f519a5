"""Half Tweedie deviances (Poisson, Gamma and the family between) with a log or identity link.

The formulas are scikit-learn's (``sklearn._loss``), term for term, so that the
objective of :class:`daskgd.PoissonRegressor` and its kin is scikit-learn's:
``1/S * sum_i s_i * loss_i + alpha/2 ||w||^2`` equals half the mean deviance
plus the penalty, up to the constant :meth:`HalfTweedieLoss.constant_to_optimal_zero`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from daskgd.losses._base import FloatArray, PointwiseLoss

LINKS = ("log", "identity")


class HalfTweedieLoss(PointwiseLoss):
    """Half the Tweedie deviance of power ``power``, on the raw prediction of a link.

    ``power=1`` is the Poisson deviance, ``power=2`` the Gamma deviance and
    ``power=0`` the squared error; ``1 < power < 2`` is the compound Poisson-Gamma.

    Parameters
    ----------
    power : float
        Tweedie power: at most 0, or at least 1.
    link : {"log", "identity"}, default="log"
        ``y_pred = exp(raw)`` or ``y_pred = raw``.
    """

    def __init__(self, power: float, link: str = "log") -> None:
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, got {link!r}.")
        if 0 < power < 1:
            raise ValueError(f"Tweedie power must be <= 0 or >= 1, got {power!r}.")
        self.power = float(power)
        self.link_name = link

    # The exponentials of a log link overflow to inf on a wild trial step; the
    # line search rejects it, so the warning would only be noise.
    def loss(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            values = self._loss(y, raw_prediction)
        return values.sum(axis=1)

    def gradient(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._gradient(y, raw_prediction)

    def hessian(self, y: FloatArray, raw_prediction: FloatArray) -> FloatArray:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._hessian(y, raw_prediction)[:, :, np.newaxis]

    def _loss(self, y: FloatArray, z: FloatArray) -> FloatArray:
        p = self.power
        if self.link_name == "log":
            if p == 0:
                return 0.5 * (np.exp(z) - y) ** 2
            if p == 1:
                return np.exp(z) - y * z
            if p == 2:
                return z + y * np.exp(-z)
            return np.exp((2 - p) * z) / (2 - p) - y * np.exp((1 - p) * z) / (1 - p)
        if p == 0:
            return 0.5 * (z - y) ** 2
        if p == 1:
            return np.where(y == 0, z, xlogy(y, y / z) + z - y)
        if p == 2:
            return np.log(z / y) + y / z - 1
        power_term = z ** (1 - p)
        values = z * power_term / (2 - p) - y * power_term / (1 - p)
        return values + np.where(y > 0, np.maximum(y, 0) ** (2 - p) / ((1 - p) * (2 - p)), 0.0)

    def _gradient(self, y: FloatArray, z: FloatArray) -> FloatArray:
        p = self.power
        if self.link_name == "log":
            if p == 0:
                mu = np.exp(z)
                return mu * (mu - y)
            if p == 1:
                return np.exp(z) - y
            if p == 2:
                return 1 - y * np.exp(-z)
            return np.exp((2 - p) * z) - y * np.exp((1 - p) * z)
        if p == 0:
            return z - y
        return z ** (-p) * (z - y)

    def _hessian(self, y: FloatArray, z: FloatArray) -> FloatArray:
        p = self.power
        if self.link_name == "log":
            if p == 0:
                mu = np.exp(z)
                return mu * (2 * mu - y)
            if p == 1:
                return np.exp(z)
            if p == 2:
                return y * np.exp(-z)
            return (2 - p) * np.exp((2 - p) * z) - (1 - p) * y * np.exp((1 - p) * z)
        if p == 0:
            return np.ones_like(z)
        return z ** (-p - 1) * ((1 - p) * z + p * y)

    # ---- the link, the target's domain and the constant of the deviance ----

    def link(self, y_pred: FloatArray) -> FloatArray:
        """Raw prediction of a predicted mean: ``log`` or the identity."""
        return np.log(y_pred) if self.link_name == "log" else np.asarray(y_pred)

    def inverse_link(self, raw_prediction: FloatArray) -> FloatArray:
        """Predicted mean of a raw prediction: ``exp`` or the identity."""
        return np.exp(raw_prediction) if self.link_name == "log" else raw_prediction

    def y_domain(self) -> tuple[float, bool]:
        """``(low, inclusive)``: the targets must be above (or at) ``low``."""
        if self.power <= 0:
            return -np.inf, False
        return 0.0, self.power < 2

    def in_y_domain(self, y_min: float) -> bool:
        """Whether targets whose minimum is ``y_min`` are all in the loss's domain."""
        low, inclusive = self.y_domain()
        return bool(y_min >= low if inclusive else y_min > low)

    def constant_to_optimal_zero(self, y: FloatArray) -> FloatArray:
        """Per-row term that makes the loss of a perfect prediction zero (scikit-learn's)."""
        if self.link_name == "identity" or self.power == 0:
            return np.zeros_like(y)
        if self.power == 1:
            return xlogy(y, y) - y
        if self.power == 2:
            return -np.log(y) - 1
        p = self.power
        return np.maximum(y, 0) ** (2 - p) / (1 - p) / (2 - p)

    def __repr__(self) -> str:
        return f"HalfTweedieLoss(power={self.power!r}, link={self.link_name!r})"
