"""The inner loops of tree boosting, compiled by numba: binning, routing rows, histograms.

Every kernel runs over the rows of one chunk in order, so a chunk's result does
not depend on where or when it runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Fields of a histogram bin: sum of gradients, sum of hessians, number of rows.
GRADIENT, HESSIAN, COUNT = 0, 1, 2


@njit(cache=True, nogil=True)
def bin_columns(X: np.ndarray, thresholds: np.ndarray, missing_bin: int):
    """Bin index of every value: the number of thresholds below it; NaN goes to ``missing_bin``.

    ``thresholds[f]`` holds feature ``f``'s increasing thresholds padded with +inf
    to 256 columns (scikit-learn's: ``x <= thresholds[b]`` means bin ``b`` or lower).
    The search takes the same eight steps for every value, without a branch the
    processor must guess: binning runs in every pass of a streamed fit.
    """
    n_rows, n_features = X.shape
    binned = np.empty((n_rows, n_features), dtype=np.uint8)
    for i in range(n_rows):
        for f in range(n_features):
            x = X[i, f]
            if np.isnan(x):
                binned[i, f] = missing_bin
                continue
            position = 0
            step = 128
            while step > 0:
                position += step * (thresholds[f, position + step - 1] < x)
                step >>= 1
            binned[i, f] = position
    return binned


@njit(cache=True, nogil=True)
def leaves_of_binned_rows(
    binned: np.ndarray,
    feature: np.ndarray,
    bin_threshold: np.ndarray,
    missing_left: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
    missing_bin: int,
) -> np.ndarray:
    """The leaf (node index) each binned row reaches in a tree, grown or growing."""
    n_rows = binned.shape[0]
    leaves = np.empty(n_rows, dtype=np.int32)
    for i in range(n_rows):
        node = 0
        while not is_leaf[node]:
            value = binned[i, feature[node]]
            if value == missing_bin:
                goes_left = missing_left[node]
            else:
                goes_left = value <= bin_threshold[node]
            node = left[node] if goes_left else right[node]
        leaves[i] = node
    return leaves


@njit(cache=True, nogil=True)
def leaves_of_raw_rows(
    X: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_left: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
) -> np.ndarray:
    """The leaf each row of raw (unbinned) data reaches: ``x <= threshold`` goes left."""
    n_rows = X.shape[0]
    leaves = np.empty(n_rows, dtype=np.int32)
    for i in range(n_rows):
        node = 0
        while not is_leaf[node]:
            x = X[i, feature[node]]
            if np.isnan(x):
                goes_left = missing_left[node]
            else:
                goes_left = x <= threshold[node]
            node = left[node] if goes_left else right[node]
        leaves[i] = node
    return leaves


@njit(cache=True, nogil=True)
def histograms(
    binned: np.ndarray,
    gradients: np.ndarray,
    hessians: np.ndarray,
    slots: np.ndarray,
    n_slots: int,
    n_bins: int,
) -> np.ndarray:
    """Per slot, feature and bin: the sums of gradients and hessians, and the row count.

    Row ``i`` adds to slot ``slots[i]`` (rows of slot -1 add nowhere). The result
    has shape ``(n_slots, n_features, n_bins, 3)``.
    """
    n_rows, n_features = binned.shape
    result = np.zeros((n_slots, n_features, n_bins, 3))
    for i in range(n_rows):
        slot = slots[i]
        if slot < 0:
            continue
        g = np.float64(gradients[i])
        h = np.float64(hessians[i])
        for f in range(n_features):
            b = binned[i, f]
            result[slot, f, b, 0] += g
            result[slot, f, b, 1] += h
            result[slot, f, b, 2] += 1.0
    return result


@njit(cache=True, nogil=True)
def _bounded(sum_gradient: float, sum_hessian: float, l2: float, lower: float, upper: float):
    value = -sum_gradient / (sum_hessian + l2 + 1e-15)
    if value < lower:
        return lower
    if value > upper:
        return upper
    return value


@njit(cache=True, nogil=True)
def _gain(gl, hl, gr, hr, loss_current, l2, lower, upper, constraint):
    value_left = _bounded(gl, hl, l2, lower, upper)
    value_right = _bounded(gr, hr, l2, lower, upper)
    if (constraint == 1 and value_left > value_right) or (
        constraint == -1 and value_left < value_right
    ):
        return -1.0
    gain = loss_current
    gain -= gl * value_left
    gain -= gr * value_right
    return gain


@njit(cache=True, nogil=True)
def best_split(
    histogram: np.ndarray,
    sum_gradient: float,
    sum_hessian: float,
    n_samples: int,
    value: float,
    n_bins_non_missing: np.ndarray,
    has_missing: np.ndarray,
    allowed: np.ndarray,
    monotonic: np.ndarray,
    lower: float,
    upper: float,
    min_samples_leaf: int,
    min_hessian: float,
    min_gain: float,
    l2: float,
):
    """scikit-learn's ``Splitter`` scans of one node, as its loops are written.

    Returns ``(gain, feature, bin, missing_go_to_left, sum_gradient_left,
    sum_hessian_left, n_samples_left)``; ``feature`` is -1 when no split is valid.
    """
    loss_current = sum_gradient * value
    best = (-1.0, -1, 0, False, 0.0, 0.0, 0)
    for feature in range(histogram.shape[0]):
        if not allowed[feature]:
            continue
        constraint = monotonic[feature]
        non_missing = n_bins_non_missing[feature]
        missing = has_missing[feature]
        feature_gain = -1.0
        feature_best = (-1.0, -1, 0, False, 0.0, 0.0, 0)
        # Left to right: missing values go right.
        gl, hl, nl = 0.0, 0.0, 0
        for b in range(non_missing - 1 + (1 if missing else 0)):
            nl += int(histogram[feature, b, COUNT])
            hl += histogram[feature, b, HESSIAN]
            gl += histogram[feature, b, GRADIENT]
            nr = n_samples - nl
            hr = sum_hessian - hl
            gr = sum_gradient - gl
            if nl < min_samples_leaf:
                continue
            if nr < min_samples_leaf:
                break
            if hl < min_hessian:
                continue
            if hr < min_hessian:
                break
            gain = _gain(gl, hl, gr, hr, loss_current, l2, lower, upper, constraint)
            if gain > feature_gain and gain > min_gain:
                feature_gain = gain
                feature_best = (gain, feature, b, False, gl, hl, nl)
        if missing:
            # Right to left: missing values go left.
            gr, hr, nr = 0.0, 0.0, 0
            for b in range(non_missing - 2, -1, -1):
                nr += int(histogram[feature, b + 1, COUNT])
                hr += histogram[feature, b + 1, HESSIAN]
                gr += histogram[feature, b + 1, GRADIENT]
                nl = n_samples - nr
                hl = sum_hessian - hr
                gl = sum_gradient - gr
                if nr < min_samples_leaf:
                    continue
                if nl < min_samples_leaf:
                    break
                if hr < min_hessian:
                    continue
                if hl < min_hessian:
                    break
                gain = _gain(gl, hl, gr, hr, loss_current, l2, lower, upper, constraint)
                if gain > feature_gain and gain > min_gain:
                    feature_gain = gain
                    feature_best = (gain, feature, b, True, gl, hl, nl)
        if feature_best[1] >= 0 and (best[1] < 0 or feature_best[0] > best[0]):
            best = feature_best
    return best
