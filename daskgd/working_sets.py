"""Block statistics of a working-set step for the elastic net on wide data (pure NumPy).

Beyond the features whose whole Gram matrix one pass can bring, the lasso and the
elastic net are solved on working sets of features (as celer and skglm do). One
pass at the current coefficients brings, for every feature, its correlation with
the residuals (the KKT conditions and the duality gap over all features), and the
Gram statistics of a chosen set of columns, on which coordinate descent then solves
in memory. Every term is a sum over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from daskgd.objective import (
    FloatArray,
    LinearObjective,
    Partial,
    _weights,
    aligned_block,
    merge_gram_partials,
)

#: The fields of a working-set partial that add up over rows (the rest merge as a Gram).
SUMMED_FIELDS = ("residual_sum", "residual_ss", "xr", "x_sum")
GRAM_FIELDS = ("n", "mean_x", "mean_y", "xx", "xy", "yy")


def block_working_set(
    objective: LinearObjective,
    X: Any,
    y: FloatArray,
    sample_weight: FloatArray | None,
    coef: FloatArray,
    columns: FloatArray,
) -> Partial:
    """A working-set step's statistics of one block: residuals at ``coef``, Gram of ``columns``.

    Parameters
    ----------
    objective : LinearObjective
        Least squares (its layout and intercept).
    X : ndarray or CSR matrix of shape (n_rows, n_features)
    y : ndarray of shape (n_rows, n_targets)
    sample_weight : ndarray of shape (n_rows,) or None
    coef : ndarray of shape (n_coef,)
        The point: ``r = y - X W - b``.
    columns : ndarray of int
        The columns of ``X`` whose Gram statistics to bring.

    Returns
    -------
    partial : dict
        :meth:`LinearObjective.block_gram` of ``X[:, columns]`` (``n``, ``mean_x``,
        ``mean_y``, ``xx``, ``xy``, ``yy``) with, over all features, ``xr = X^T s r``
        and ``x_sum = X^T s``, and per target ``residual_sum = sum s r`` and
        ``residual_ss = sum s r^2``.
    """
    X, y, sample_weight = (aligned_block(a) for a in (X, y, sample_weight))
    weight = _weights(sample_weight, X.shape[0])
    residual = y - objective.raw_prediction(X, coef)
    weighted = residual * weight[:, np.newaxis]
    part = dict(objective.block_gram(X[:, np.asarray(columns, dtype=np.intp)], y, sample_weight))
    part["residual_sum"] = weighted.sum(axis=0)
    part["residual_ss"] = np.einsum("ij,ij->j", weighted, residual)
    part["xr"] = np.asarray(X.T @ weighted)
    part["x_sum"] = np.asarray(X.T @ weight).ravel()
    return part


def merge_working_set_partials(parts: Sequence[Partial]) -> Partial:
    """Merge :func:`block_working_set` partials in the order given."""
    gram = merge_gram_partials([{name: part[name] for name in GRAM_FIELDS} for part in parts])
    total = dict(gram)
    for name in SUMMED_FIELDS:
        value = parts[0][name]
        for part in parts[1:]:
            value = value + part[name]
        total[name] = value
    return total


@dataclass(frozen=True)
class WorkingSetPartial:
    """:func:`block_working_set` statistics over some rows (see there for the fields)."""

    n: float
    mean_x: np.ndarray
    mean_y: np.ndarray
    xx: np.ndarray
    xy: np.ndarray
    yy: np.ndarray
    residual_sum: np.ndarray
    residual_ss: np.ndarray
    xr: np.ndarray
    x_sum: np.ndarray

    def merge(self, other: WorkingSetPartial) -> WorkingSetPartial:
        """The partial of both sets of rows."""
        merged = merge_working_set_partials([self.as_dict(), other.as_dict()])
        return WorkingSetPartial(**merged)

    def as_dict(self) -> Partial:
        """The fields as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def centred_residual_statistics(
    total: Partial, fit_intercept: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The centred residuals' statistics: ``X_c^T s r_c``, ``||r_c||_s^2`` and the features' means.

    ``r_c = r - mean(r)`` is the residual at the best intercept for the current
    ``W``, so these hold whatever intercept the pass was made at.
    """
    weight_sum = float(total["n"])
    x_mean = total["x_sum"] / weight_sum if weight_sum > 0 else np.zeros_like(total["x_sum"])
    if not fit_intercept or weight_sum <= 0:
        return np.asarray(total["xr"]), np.asarray(total["residual_ss"]), np.zeros_like(x_mean)
    residual_mean = total["residual_sum"] / weight_sum
    correlation = total["xr"] - np.outer(total["x_sum"], residual_mean)
    residual_ss = total["residual_ss"] - weight_sum * residual_mean**2
    return correlation, np.maximum(residual_ss, 0.0), x_mean
