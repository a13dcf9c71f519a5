"""The best split of a node from its histogram: scikit-learn's gain, constraints and ties.

For each feature, bins are scanned left to right with missing values going right,
and, if the feature had missing values in training, right to left with missing
values going left (scikit-learn's ``Splitter``, as its loops are written, in
:func:`daskgd.trees.kernels.best_split`): the first strict maximum in scan order,
kept only if it beats what came before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from daskgd.trees.kernels import best_split

#: scikit-learn's guard against a zero denominator in ``compute_node_value``.
VALUE_EPSILON = 1e-15


@dataclass(frozen=True)
class SplitParameters:
    """What a split must satisfy (scikit-learn's names and meanings)."""

    min_samples_leaf: int = 20
    min_hessian_to_split: float = 1e-3
    min_gain_to_split: float = 0.0
    l2_regularization: float = 0.0


@dataclass(frozen=True)
class Split:
    """The chosen split of a node, and the sums of its two children."""

    gain: float
    feature: int
    bin: int
    missing_go_to_left: bool
    sum_gradient_left: float
    sum_hessian_left: float
    sum_gradient_right: float
    sum_hessian_right: float
    n_samples_left: int
    n_samples_right: int
    value_left: float
    value_right: float
    #: A categorical split's bins that go left (None for a threshold split).
    left_bins: np.ndarray | None = None


def node_value(sum_gradient: float | np.ndarray, sum_hessian: float | np.ndarray, l2: float):
    """``-G / (H + l2)``: the leaf value that minimises the node's second-order loss."""
    return -sum_gradient / (sum_hessian + l2 + VALUE_EPSILON)


def bounded_value(
    sum_gradient: Any, sum_hessian: Any, l2: float, lower: float, upper: float
) -> Any:
    """:func:`node_value` clipped to the node's bounds (monotonic constraints)."""
    value = node_value(sum_gradient, sum_hessian, l2)
    if lower == -np.inf and upper == np.inf:
        return value
    return np.clip(value, lower, upper)


def find_split(
    histogram: np.ndarray,
    sum_gradient: float,
    sum_hessian: float,
    n_samples: int,
    value: float,
    n_bins_non_missing: np.ndarray,
    has_missing_values: np.ndarray,
    params: SplitParameters,
    allowed: np.ndarray | None = None,
    monotonic: np.ndarray | None = None,
    lower: float = -np.inf,
    upper: float = np.inf,
    categorical: np.ndarray | None = None,
) -> Split | None:
    """The best split of a node, or None when no split has a positive gain.

    Parameters
    ----------
    histogram : ndarray of shape (n_features, n_bins, 3)
        The node's sums of gradients and hessians and its counts, per bin.
    sum_gradient, sum_hessian : float
        The node's totals.
    n_samples : int
        The node's rows.
    value : float
        The node's own value (0 for the root, as in scikit-learn).
    n_bins_non_missing : ndarray of shape (n_features,)
        Bins of non-missing values per feature.
    has_missing_values : ndarray of bool of shape (n_features,)
        Whether each feature had missing values in the training data.
    params : SplitParameters
    allowed : ndarray of bool of shape (n_features,), optional
        The features this split may use (``max_features``); all when None.
    monotonic : ndarray of int of shape (n_features,), optional
        Monotonic constraint per feature: 1 increasing, -1 decreasing, 0 none.
    lower, upper : float
        Bounds of the children's values (from the constraints of the splits above).
    categorical : ndarray of bool of shape (n_features,), optional
        Which features are categorical (their bins are category codes).

    Returns
    -------
    split : Split or None
    """
    n_features = histogram.shape[0]
    left_bins = np.zeros(histogram.shape[1], dtype=np.bool_)
    gain, feature, bin_index, missing_left, g_left_best, h_left_best, n_left = best_split(
        np.ascontiguousarray(histogram, dtype=np.float64),
        float(sum_gradient),
        float(sum_hessian),
        int(n_samples),
        float(value),
        np.asarray(n_bins_non_missing, dtype=np.int64),
        np.asarray(has_missing_values, dtype=np.bool_),
        np.ones(n_features, dtype=np.bool_) if allowed is None else np.asarray(allowed, np.bool_),
        np.zeros(n_features, dtype=np.int64)
        if monotonic is None
        else np.asarray(monotonic, np.int64),
        float(lower),
        float(upper),
        int(params.min_samples_leaf),
        float(params.min_hessian_to_split),
        float(params.min_gain_to_split),
        float(params.l2_regularization),
        np.zeros(n_features, dtype=np.bool_)
        if categorical is None
        else np.asarray(categorical, np.bool_),
        histogram.shape[1] - 1,
        left_bins,
    )
    if feature < 0:
        return None
    g_right_best = sum_gradient - g_left_best
    h_right_best = sum_hessian - h_left_best
    l2 = params.l2_regularization
    return Split(
        gain=gain,
        feature=feature,
        bin=bin_index,
        missing_go_to_left=missing_left,
        sum_gradient_left=g_left_best,
        sum_hessian_left=h_left_best,
        sum_gradient_right=g_right_best,
        sum_hessian_right=h_right_best,
        n_samples_left=n_left,
        n_samples_right=n_samples - n_left,
        value_left=float(bounded_value(g_left_best, h_left_best, l2, lower, upper)),
        value_right=float(bounded_value(g_right_best, h_right_best, l2, lower, upper)),
        left_bins=left_bins if categorical is not None and categorical[feature] else None,
    )
