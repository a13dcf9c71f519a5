"""The losses of boosting as block functions: gradients and hessians per row, and values.

scikit-learn's ``HalfSquaredError``, ``HalfBinomialLoss`` and ``HalfMultinomialLoss``,
on a raw prediction of shape (n_rows, n_trees_per_iteration). Gradients and
hessians are float32, as scikit-learn stores them (``G_H_DTYPE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp

#: scikit-learn clips baseline probabilities to [eps, 1 - eps].
EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class BoostingLoss:
    """One of ``"squared_error"``, ``"absolute_error"``, ``"quantile"`` (identity link),
    ``"poisson"``, ``"gamma"`` (log link), ``"binary"`` (log-loss, 2 classes) or
    ``"multiclass"``.

    Attributes
    ----------
    name : str
    n_trees_per_iteration : int
        1, or the number of classes for ``"multiclass"``.
    """

    name: str
    n_trees_per_iteration: int = 1
    #: The quantile of ``"quantile"`` (the pinball loss).
    quantile: float = 0.5

    @property
    def constant_hessian(self) -> bool:
        return self.name in ("squared_error", "absolute_error", "quantile")

    @property
    def percentile_leaves(self) -> bool:
        """Leaf values (and the baseline) are percentiles of residuals, not -G/H."""
        return self.name in ("absolute_error", "quantile")

    @property
    def percentile_rank(self) -> float:
        """That percentile, in percent (scikit-learn's ``100 * quantile``)."""
        return 100 * self.quantile if self.name == "quantile" else 50.0

    def gradients(
        self, raw: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
    ) -> np.ndarray:
        """Per row and tree: gradient and hessian, shape (n_rows, n_trees, 2), float32."""
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if self.name == "squared_error":
            gradient = raw[:, :1] - y[:, np.newaxis]
            hessian = np.ones_like(gradient)
        elif self.name == "absolute_error":
            gradient = np.where(raw[:, :1] > y[:, np.newaxis], 1.0, -1.0)
            hessian = np.ones_like(gradient)
        elif self.name == "quantile":
            gradient = np.where(y[:, np.newaxis] >= raw[:, :1], -self.quantile, 1 - self.quantile)
            hessian = np.ones_like(gradient)
        elif self.name == "poisson":
            gradient = np.exp(raw[:, :1]) - y[:, np.newaxis]
            hessian = np.exp(raw[:, :1])
        elif self.name == "gamma":
            hessian = y[:, np.newaxis] * np.exp(-raw[:, :1])
            gradient = 1.0 - hessian
        elif self.name == "binary":
            probability = expit(raw[:, :1])
            gradient = probability - y[:, np.newaxis]
            hessian = probability * (1.0 - probability)
        else:
            probability = np.exp(raw - logsumexp(raw, axis=1, keepdims=True))
            onehot = np.arange(raw.shape[1])[np.newaxis, :] == y[:, np.newaxis]
            gradient = probability - onehot
            hessian = probability * (1.0 - probability)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1, 1)
            gradient, hessian = gradient * weight, hessian * weight
        out = np.empty((len(y), raw.shape[1], 2), dtype=np.float32)
        out[:, :, 0], out[:, :, 1] = gradient, hessian
        return out

    def row_losses(self, raw: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The loss of every row (scikit-learn's, before averaging)."""
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if self.name == "squared_error":
            return 0.5 * (raw[:, 0] - y) ** 2
        if self.name == "absolute_error":
            return np.abs(y - raw[:, 0])
        if self.name == "quantile":
            return np.where(
                y >= raw[:, 0],
                self.quantile * (y - raw[:, 0]),
                (1 - self.quantile) * (raw[:, 0] - y),
            )
        if self.name == "poisson":
            return np.exp(raw[:, 0]) - y * raw[:, 0]
        if self.name == "gamma":
            return raw[:, 0] + y * np.exp(-raw[:, 0])
        if self.name == "binary":
            return np.logaddexp(0.0, raw[:, 0]) - y * raw[:, 0]
        rows = np.arange(len(y))
        return logsumexp(raw, axis=1) - raw[rows, y.astype(np.intp)]

    def baseline(self, weighted_sums: np.ndarray, total_weight: float) -> np.ndarray:
        """The raw prediction before any tree (``fit_intercept_only``).

        ``weighted_sums`` is the weighted sum of y (regression), or the weight of
        every class (classification).
        """
        if self.name == "squared_error":
            return np.array([weighted_sums[0] / total_weight])
        if self.name in ("poisson", "gamma"):
            return np.array([np.log(weighted_sums[0] / total_weight)])
        proportions = np.clip(np.asarray(weighted_sums) / total_weight, EPS, 1 - EPS)
        if self.name == "binary":
            p = proportions[1]
            return np.array([np.log(p / (1 - p))])
        logs = np.log(proportions)
        return logs - logs.mean()

    def link_inverse(self, raw: np.ndarray) -> np.ndarray:
        """Predictions (regression) or class probabilities from the raw prediction."""
        if self.name in ("squared_error", "absolute_error", "quantile"):
            return raw[:, 0]
        if self.name in ("poisson", "gamma"):
            return np.exp(raw[:, 0])
        if self.name == "binary":
            positive = expit(raw[:, 0])
            return np.column_stack([1.0 - positive, positive])
        return np.exp(raw - logsumexp(raw, axis=1, keepdims=True))
