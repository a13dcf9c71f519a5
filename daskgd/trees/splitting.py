"""The best split of a node from its histogram: scikit-learn's gain, constraints and ties.

For each feature, bins are scanned left to right with missing values going right,
and, if the feature had missing values in training, right to left with missing
values going left (scikit-learn's ``Splitter``). The scans are vectorised, but
they pick the same bin: the first strict maximum in scan order, kept only if it
beats what came before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from daskgd.trees.kernels import COUNT, GRADIENT, HESSIAN

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


def _gains(
    gradient_left: np.ndarray,
    hessian_left: np.ndarray,
    gradient_right: np.ndarray,
    hessian_right: np.ndarray,
    loss_current: float,
    l2: float,
    bounds: tuple[float, float, int],
) -> np.ndarray:
    lower, upper, constraint = bounds
    value_left = bounded_value(gradient_left, hessian_left, l2, lower, upper)
    value_right = bounded_value(gradient_right, hessian_right, l2, lower, upper)
    gains = loss_current - gradient_left * value_left - gradient_right * value_right
    # scikit-learn drops the splits whose children's values break the constraint.
    if constraint == 1:
        gains = np.where(value_left > value_right, -1.0, gains)
    elif constraint == -1:
        gains = np.where(value_left < value_right, -1.0, gains)
    return gains


def _scan(
    gradient_left: np.ndarray,
    hessian_left: np.ndarray,
    count_left: np.ndarray,
    sum_gradient: float,
    sum_hessian: float,
    n_samples: int,
    loss_current: float,
    params: SplitParameters,
    bounds: tuple[float, float, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gains of candidate splits given the left sums (in scan order); -inf where not allowed."""
    gradient_right = sum_gradient - gradient_left
    hessian_right = sum_hessian - hessian_left
    count_right = n_samples - count_left
    gains = _gains(
        gradient_left,
        hessian_left,
        gradient_right,
        hessian_right,
        loss_current,
        params.l2_regularization,
        bounds,
    )
    allowed = (
        (count_left >= params.min_samples_leaf)
        & (count_right >= params.min_samples_leaf)
        & (hessian_left >= params.min_hessian_to_split)
        & (hessian_right >= params.min_hessian_to_split)
        & (gains > params.min_gain_to_split)
    )
    return np.where(allowed, gains, -np.inf), gradient_left, hessian_left, count_left


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

    Returns
    -------
    split : Split or None
    """
    loss_current = sum_gradient * value
    best: tuple[float, int, int, bool, float, float, int] | None = None
    for feature in range(histogram.shape[0]):
        if allowed is not None and not allowed[feature]:
            continue
        bins = histogram[feature]
        bounds = (lower, upper, 0 if monotonic is None else int(monotonic[feature]))
        non_missing = int(n_bins_non_missing[feature])
        missing = bool(has_missing_values[feature])
        end = non_missing - 1 + int(missing)
        feature_best: tuple[float, int, bool, float, float, int] | None = None
        if end > 0:
            gains, g_left, h_left, c_left = _scan(
                np.cumsum(bins[:end, GRADIENT]),
                np.cumsum(bins[:end, HESSIAN]),
                np.cumsum(bins[:end, COUNT]),
                sum_gradient,
                sum_hessian,
                n_samples,
                loss_current,
                params,
                bounds,
            )
            at = int(np.argmax(gains))
            if gains[at] > -np.inf:
                feature_best = (
                    float(gains[at]),
                    at,
                    False,
                    float(g_left[at]),
                    float(h_left[at]),
                    int(c_left[at]),
                )
        if missing and non_missing >= 2:
            # Right to left: bins start, ..., 0 with bins above them (and no NaN) on the right.
            start = non_missing - 2
            right_bins = bins[start + 1 : 0 : -1]  # bins start+1 down to 1
            g_right = np.cumsum(right_bins[:, GRADIENT])
            h_right = np.cumsum(right_bins[:, HESSIAN])
            c_right = np.cumsum(right_bins[:, COUNT])
            gains, g_left, h_left, c_left = _scan(
                sum_gradient - g_right,
                sum_hessian - h_right,
                n_samples - c_right,
                sum_gradient,
                sum_hessian,
                n_samples,
                loss_current,
                params,
                bounds,
            )
            # The scan keeps a bin only if it beats the left-to-right scan's best.
            floor = -1.0 if feature_best is None else feature_best[0]
            at = int(np.argmax(gains))
            if gains[at] > floor and gains[at] > -np.inf:
                feature_best = (
                    float(gains[at]),
                    start - at,
                    True,
                    float(g_left[at]),
                    float(h_left[at]),
                    int(c_left[at]),
                )
        if feature_best is not None and (best is None or feature_best[0] > best[0]):
            best = (feature_best[0], feature, *feature_best[1:])
    if best is None:
        return None
    gain, feature, bin_index, missing_left, g_left_best, h_left_best, n_left = best
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
    )
