"""The inner loops of tree boosting, compiled by numba: binning, routing rows, histograms.

Every kernel runs over the rows of one chunk in order, so a chunk's result does
not depend on where or when it runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Fields of a histogram bin: sum of gradients, sum of hessians, number of rows.
GRADIENT, HESSIAN, COUNT = 0, 1, 2
#: scikit-learn's smoothing of the categories' ratios, and the least support kept.
MIN_CAT_SUPPORT = 10.0


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
    categorical: np.ndarray,
    left_bins: np.ndarray,
) -> np.ndarray:
    """The leaf (node index) each binned row reaches in a tree, grown or growing.

    A categorical split sends the bins ``left_bins[node]`` marks left (the
    missing-value bin among them when missing values go left)."""
    start = np.zeros(binned.shape[0], dtype=np.int32)
    return descend_binned_rows(
        binned,
        start,
        len(feature),
        feature,
        bin_threshold,
        missing_left,
        left,
        right,
        is_leaf,
        missing_bin,
        categorical,
        left_bins,
    )[1]


@njit(cache=True, nogil=True)
def descend_binned_rows(
    binned: np.ndarray,
    start: np.ndarray,
    n_real: int,
    feature: np.ndarray,
    bin_threshold: np.ndarray,
    missing_left: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
    missing_bin: int,
    categorical: np.ndarray,
    left_bins: np.ndarray,
):
    """Route each binned row down from node ``start[i]``, as :func:`leaves_of_binned_rows`.

    Nodes below ``n_real`` are the splits taken; the others are tentative ones a
    histogram pass adds. Returns ``(real_leaf, node)``: the last node below
    ``n_real`` each row passes (a leaf of the taken splits, where the next pass
    can start) and the node it ends in."""
    n_rows = binned.shape[0]
    real_leaf = np.empty(n_rows, dtype=np.int32)
    leaves = np.empty(n_rows, dtype=np.int32)
    for i in range(n_rows):
        node = start[i]
        last_real = node
        while not is_leaf[node]:
            value = binned[i, feature[node]]
            if categorical[node]:
                goes_left = left_bins[node, value]
            elif value == missing_bin:
                goes_left = missing_left[node]
            else:
                goes_left = value <= bin_threshold[node]
            node = left[node] if goes_left else right[node]
            if node < n_real:
                last_real = node
        real_leaf[i] = last_real
        leaves[i] = node
    return real_leaf, leaves


@njit(cache=True, nogil=True)
def leaves_of_raw_rows(
    X: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_left: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
    categorical: np.ndarray,
    left_bins: np.ndarray,
) -> np.ndarray:
    """The leaf each row of raw (unbinned) data reaches: ``x <= threshold`` goes left.

    Categorical features hold category codes (``0 .. n_categories - 1``, the bins);
    an unknown code follows the missing values, as in scikit-learn."""
    n_rows = X.shape[0]
    n_codes = left_bins.shape[1] - 1
    leaves = np.empty(n_rows, dtype=np.int32)
    for i in range(n_rows):
        node = 0
        while not is_leaf[node]:
            x = X[i, feature[node]]
            if np.isnan(x):
                goes_left = missing_left[node]
            elif categorical[node]:
                if x < 0 or x >= n_codes:
                    goes_left = missing_left[node]
                else:
                    goes_left = left_bins[node, int(x)]
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
    categorical: np.ndarray,
    missing_bin: int,
    left_bins: np.ndarray,
):
    """scikit-learn's ``Splitter`` scans of one node, as its loops are written.

    Returns ``(gain, feature, bin, missing_go_to_left, sum_gradient_left,
    sum_hessian_left, n_samples_left)``; ``feature`` is -1 when no split is valid.
    When the best split is on a categorical feature, ``left_bins`` (one flag per
    bin) is set to the bins that go left.
    """
    loss_current = sum_gradient * value
    best = (-1.0, -1, 0, False, 0.0, 0.0, 0)
    for feature in range(histogram.shape[0]):
        if not allowed[feature]:
            continue
        if categorical[feature]:
            feature_best = _best_category_split(
                histogram,
                feature,
                sum_gradient,
                sum_hessian,
                n_samples,
                loss_current,
                n_bins_non_missing[feature],
                has_missing[feature],
                missing_bin,
                lower,
                upper,
                min_samples_leaf,
                min_hessian,
                min_gain,
                l2,
                left_bins,
                best[0],
                best[1] >= 0,
            )
            if feature_best[1] >= 0:
                best = feature_best
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


@njit(cache=True, nogil=True)
def _best_category_split(
    histogram,
    feature,
    sum_gradient,
    sum_hessian,
    n_samples,
    loss_current,
    non_missing,
    missing,
    missing_bin,
    lower,
    upper,
    min_samples_leaf,
    min_hessian,
    min_gain,
    l2,
    left_bins,
    best_gain,
    have_best,
):
    """scikit-learn's categorical scan (Fisher's grouping): the categories with enough
    support, sorted by ``G / (H + 10)``, split left to right and right to left up to
    the middle. Returns the feature's split if it beats ``best_gain`` (setting
    ``left_bins``), else one with feature -1."""
    none = (-1.0, -1, 0, False, 0.0, 0.0, 0)
    support_factor = n_samples / sum_hessian
    bins = np.empty(non_missing + 1, dtype=np.int64)
    values = np.empty(non_missing + 1, dtype=np.float64)
    n_used = 0
    for b in range(non_missing + (1 if missing else 0)):
        bin_index = b if b < non_missing else missing_bin
        h = histogram[feature, bin_index, HESSIAN]
        if h * support_factor >= MIN_CAT_SUPPORT:
            bins[n_used] = bin_index
            values[n_used] = histogram[feature, bin_index, GRADIENT] / (h + MIN_CAT_SUPPORT)
            n_used += 1
    if n_used <= 1:
        return none
    order = np.argsort(values[:n_used], kind="mergesort")
    feature_gain = -1.0
    found = False
    best_position, best_direction = 0, 1
    best_gl, best_hl, best_nl = 0.0, 0.0, 0
    for direction in (1, -1):
        middle = (n_used + 1) // 2 if direction == 1 else (n_used + 1) // 2 - 1
        gl, hl, nl = 0.0, 0.0, 0
        for i in range(middle):
            position = i if direction == 1 else n_used - 1 - i
            b = bins[order[position]]
            nl += int(histogram[feature, b, COUNT])
            nr = n_samples - nl
            hl += histogram[feature, b, HESSIAN]
            hr = sum_hessian - hl
            gl += histogram[feature, b, GRADIENT]
            gr = sum_gradient - gl
            if nl < min_samples_leaf or hl < min_hessian:
                continue
            if nr < min_samples_leaf or hr < min_hessian:
                break
            gain = _gain(gl, hl, gr, hr, loss_current, l2, lower, upper, 0)
            if gain > feature_gain and gain > min_gain:
                found = True
                feature_gain = gain
                best_position, best_direction = position, direction
                best_gl, best_hl, best_nl = gl, hl, nl
    if not found or (have_best and not feature_gain > best_gain):
        return none
    left_bins[:] = False
    if best_direction == 1:
        for position in range(best_position + 1):
            left_bins[bins[order[position]]] = True
    else:
        for position in range(n_used - 1, best_position - 1, -1):
            left_bins[bins[order[position]]] = True
    return (feature_gain, feature, 0, missing and left_bins[missing_bin], best_gl, best_hl, best_nl)


@njit(cache=True, nogil=True)
def _left_table(node, bin_threshold, missing_left, missing_bin, categorical, left_bins):
    """Per bin, 1 where node ``node``'s split sends it left (numerical or categorical)."""
    table = np.zeros(256, dtype=np.uint8)
    for value in range(256):
        if categorical[node]:
            goes_left = value < left_bins.shape[1] and left_bins[node, value]
        elif value == missing_bin:
            goes_left = missing_left[node]
        else:
            goes_left = value <= bin_threshold[node]
        table[value] = 1 if goes_left else 0
    return table


@njit(cache=True, nogil=True)
def _partition_range(
    binned,
    order,
    scratch,
    start,
    stop,
    node,
    feature,
    bin_threshold,
    missing_left,
    missing_bin,
    categorical,
    left_bins,
):
    """Stable partition of ``order[start:stop]``: the rows going left, then the others.

    Returns how many go left. Each part keeps the rows in their order. Without a
    branch on the side (a 50/50 guess the processor gets wrong half the time)."""
    table = _left_table(node, bin_threshold, missing_left, missing_bin, categorical, left_bins)
    column = binned[:, feature[node]]
    n_left = 0
    n_right = 0
    for j in range(start, stop):
        i = order[j]
        goes_left = table[column[i]]
        order[start + n_left] = i  # never past j: safe in place
        scratch[n_right] = i
        n_left += goes_left
        n_right += 1 - goes_left
    for j in range(n_right):
        order[start + n_left + j] = scratch[j]
    return n_left


@njit(cache=True, nogil=True)
def _add_rows(binned, gradients, hessians, order, start, stop, out):
    """Add rows ``order[start:stop]`` (in that order) to the histogram ``out``."""
    n_features = binned.shape[1]
    for j in range(start, stop):
        i = order[j]
        g = np.float64(gradients[i])
        h = np.float64(hessians[i])
        for f in range(n_features):
            b = binned[i, f]
            out[f, b, 0] += g
            out[f, b, 1] += h
            out[f, b, 2] += 1.0


@njit(cache=True, nogil=True)
def split_partitions(
    binned,
    order,
    start,
    stop,
    known_left,
    n_real,
    feature,
    bin_threshold,
    missing_left,
    left,
    right,
    is_leaf,
    missing_bin,
    categorical,
    left_bins,
):
    """Give the children of every taken split their ranges of ``order``, parents first.

    ``start``/``stop`` hold the range of each node (-1: not known yet); a taken split
    whose children have no range yet partitions its range, unless ``known_left[node]``
    (>= 0) says its rows are partitioned already and how many go left."""
    scratch = np.empty(len(order), dtype=order.dtype)
    for node in range(n_real):
        if is_leaf[node] or left[node] >= n_real or start[left[node]] >= 0:
            continue
        a, b = start[node], stop[node]
        n_left = known_left[node]
        if n_left < 0:
            n_left = _partition_range(
                binned,
                order,
                scratch,
                a,
                b,
                node,
                feature,
                bin_threshold,
                missing_left,
                missing_bin,
                categorical,
                left_bins,
            )
        start[left[node]], stop[left[node]] = a, a + n_left
        start[right[node]], stop[right[node]] = a + n_left, b


@njit(cache=True, nogil=True)
def tentative_histograms(
    binned,
    gradients,
    hessians,
    order,
    start,
    stop,
    n_real,
    feature,
    bin_threshold,
    missing_left,
    left,
    right,
    is_leaf,
    missing_bin,
    categorical,
    left_bins,
    slots,
    n_slots,
    n_bins,
):
    """The histograms a pass asks for, from the rows' ranges of ``order``.

    A leaf of the taken splits with a slot sums its whole range (the root pass). A
    tentative split (a node below ``n_real`` whose children are not) partitions its
    range and sums the side its slot names. Returns the histograms, shape
    ``(n_slots, n_features, n_bins, 3)``, and per node how many rows went left in a
    tentative partition (-1 elsewhere). Every slot sums its rows in row order, as
    :func:`histograms` does."""
    result = np.zeros((n_slots, binned.shape[1], n_bins, 3))
    partitioned = np.full(len(feature), -1, dtype=np.int64)
    scratch = np.empty(len(order), dtype=order.dtype)
    for node in range(n_real):
        a, b = start[node], stop[node]
        if is_leaf[node]:
            if slots[node] >= 0:
                _add_rows(binned, gradients, hessians, order, a, b, result[slots[node]])
            continue
        if left[node] < n_real:
            continue
        n_left = _partition_range(
            binned,
            order,
            scratch,
            a,
            b,
            node,
            feature,
            bin_threshold,
            missing_left,
            missing_bin,
            categorical,
            left_bins,
        )
        partitioned[node] = n_left
        if slots[left[node]] >= 0:
            _add_rows(binned, gradients, hessians, order, a, a + n_left, result[slots[left[node]]])
        elif slots[right[node]] >= 0:
            _add_rows(binned, gradients, hessians, order, a + n_left, b, result[slots[right[node]]])
    return result, partitioned
