"""scikit-learn's HuberRegressor objective, jointly in the coefficients and the scale (NumPy only).

For parameters ``(w, b, sigma)`` and residuals ``r_i = y_i - x_i w - b``::

    sum_i s_i (sigma + H(r_i / sigma) sigma) + alpha ||w||^2,
    H(z) = z^2 if |z| <= epsilon else 2 epsilon |z| - epsilon^2,

as ``sklearn.linear_model._huber._huber_loss_and_gradient`` writes it. Every
term is a sum over rows: :func:`huber_block` gives one block's sums, and
:func:`huber_finalize` the objective and its gradient from their totals.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class HuberPartial:
    """Sums over some rows from which the Huber objective and its gradient follow.

    Attributes
    ----------
    n : float
        Sum of the weights.
    n_outliers : float
        Sum of the weights of the outliers (``|r| > epsilon sigma``).
    outlier_abs : float
        ``sum s |r|`` over the outliers.
    inlier_squares : float
        ``sum s r^2`` over the other rows.
    inlier_xr : ndarray of shape (n_features,)
        ``X^T (s r)`` over the other rows.
    outlier_x_sign : ndarray of shape (n_features,)
        ``X^T (s sign(r))`` over the outliers.
    inlier_r : float
        ``sum s r`` over the other rows.
    outlier_sign : float
        ``sum s sign(r)`` over the outliers.
    """

    n: float
    n_outliers: float
    outlier_abs: float
    inlier_squares: float
    inlier_xr: np.ndarray
    outlier_x_sign: np.ndarray
    inlier_r: float
    outlier_sign: float

    def merge(self, other: HuberPartial) -> HuberPartial:
        """The partial of both sets of rows."""
        return HuberPartial(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


def unpack(params: np.ndarray, n_features: int, fit_intercept: bool) -> tuple[Any, float, float]:
    """``(w, b, sigma)`` of scikit-learn's layout: ``w``, then the intercept, then sigma."""
    intercept = float(params[n_features]) if fit_intercept else 0.0
    return params[:n_features], intercept, float(params[-1])


def huber_block(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    params: np.ndarray,
    epsilon: float,
    fit_intercept: bool,
) -> HuberPartial:
    """The :class:`HuberPartial` of one block of rows at ``params``."""
    if not hasattr(X, "indptr"):  # (CSR blocks stay sparse)
        X = np.asarray(X, dtype=np.float64)
    w, intercept, sigma = unpack(params, X.shape[1], fit_intercept)
    residual = np.asarray(y, dtype=np.float64).ravel() - X @ w - intercept
    weight = np.ones(len(residual)) if sample_weight is None else np.asarray(sample_weight).ravel()
    outlier = np.abs(residual) > epsilon * sigma
    inlier_weighted = np.where(outlier, 0.0, weight * residual)
    outlier_signed = np.where(outlier, weight * np.sign(residual), 0.0)
    return HuberPartial(
        n=float(weight.sum()),
        n_outliers=float(weight[outlier].sum()),
        outlier_abs=float(weight[outlier] @ np.abs(residual[outlier])),
        inlier_squares=float(inlier_weighted @ residual),
        inlier_xr=np.asarray(X.T @ inlier_weighted).ravel(),
        outlier_x_sign=np.asarray(X.T @ outlier_signed).ravel(),
        inlier_r=float(inlier_weighted.sum()),
        outlier_sign=float(outlier_signed.sum()),
    )


def huber_finalize(
    total: HuberPartial, params: np.ndarray, alpha: float, epsilon: float, fit_intercept: bool
) -> tuple[float, np.ndarray]:
    """The objective and its gradient in ``params`` from the totals over every row."""
    n_features = len(total.inlier_xr)
    w, _, sigma = unpack(params, n_features, fit_intercept)
    squared = total.inlier_squares / sigma
    loss = (
        total.n * sigma
        + squared
        + 2.0 * epsilon * total.outlier_abs
        - sigma * total.n_outliers * epsilon**2
        + alpha * float(w @ w)
    )
    grad = np.zeros_like(params)
    grad[:n_features] = (
        -2.0 / sigma * total.inlier_xr - 2.0 * epsilon * total.outlier_x_sign + 2.0 * alpha * w
    )
    if fit_intercept:
        grad[n_features] = -2.0 / sigma * total.inlier_r - 2.0 * epsilon * total.outlier_sign
    grad[-1] = total.n - total.n_outliers * epsilon**2 - squared / sigma
    return float(loss), grad
