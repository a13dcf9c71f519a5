"""Coordinate descent for the elastic net on a Gram matrix (numba), as scikit-learn's
``enet_coordinate_descent_gram`` does it."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _next_random(state: np.ndarray, end: int) -> np.int64:
    """A xorshift draw in [0, end); ``state`` holds one uint64 and moves on."""
    x = state[0]
    x ^= (x << np.uint64(13)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(7)
    x ^= (x << np.uint64(17)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    state[0] = x
    return np.int64(x % np.uint64(end))


@njit(cache=True)
def _duality_gap(
    w: np.ndarray,
    H: np.ndarray,
    alpha: float,
    beta: float,
    q: np.ndarray,
    yy: float,
    positive: bool,
) -> float:
    """The duality gap of ``1/2 w'Qw - q'w + yy/2 + alpha ||w||_1 + beta/2 ||w||^2`` at
    ``w`` (``H = Q w``), by scikit-learn's formulations: A with an L1 part, B for
    ridge, and the squared gradient for least squares."""
    n_features = w.shape[0]
    q_dot_w = 0.0
    w_H = 0.0
    w_norm2 = 0.0
    l1_norm = 0.0
    for j in range(n_features):
        q_dot_w += w[j] * q[j]
        w_H += w[j] * H[j]
        w_norm2 += w[j] * w[j]
        l1_norm += abs(w[j])
    r_norm2 = yy + w_H - 2.0 * q_dot_w
    r_dot_y = yy - q_dot_w
    if alpha == 0.0:
        gradient_norm2 = 0.0
        for j in range(n_features):
            gradient_norm2 += (q[j] - H[j]) ** 2
        if beta == 0.0:
            return gradient_norm2  # least squares: the first-order condition
        return r_norm2 + 0.5 * beta * w_norm2 - r_dot_y + gradient_norm2 / (2.0 * beta)
    dual_norm = 0.0
    for j in range(n_features):
        xta = q[j] - H[j] - beta * w[j]
        value = xta if positive else abs(xta)
        if j == 0 or value > dual_norm:
            dual_norm = value
    scale = alpha / dual_norm if dual_norm > alpha else 1.0
    primal = 0.5 * (r_norm2 + beta * w_norm2) + alpha * l1_norm
    dual = -0.5 * scale * scale * (r_norm2 + beta * w_norm2) + scale * r_dot_y
    return primal - dual


@njit(cache=True)
def enet_gram_cd(
    w: np.ndarray,
    alpha: float,
    beta: float,
    Q: np.ndarray,
    q: np.ndarray,
    yy: float,
    max_iter: int,
    tol: float,
    positive: bool,
    seed: int,
) -> tuple[float, float, int]:
    """Minimise ``1/2 w'Qw - q'w + alpha ||w||_1 + beta/2 ||w||^2`` over ``w`` (in place).

    Cyclic sweeps over the coordinates, or (``seed >= 0``) random coordinates.
    The duality gap is checked first (a warm start may be optimal already), then
    after each sweep whose largest update is at most ``tol`` times the largest
    coefficient; the run stops once it is at most ``tol * yy``. scikit-learn's
    rules (1.9), on ``Q = X'X``, ``q = X'y`` and ``yy = y'y``; its gap-safe
    screening, which only skips coordinates, is left out.

    Returns
    -------
    gap, scaled_tol, n_iter
        The last duality gap computed, the tolerance it was held to, and sweeps.
    """
    n_features = w.shape[0]
    H = Q @ w
    state = np.array([np.uint64(seed + 1) * np.uint64(0x9E3779B97F4A7C15)], dtype=np.uint64)
    if state[0] == 0:
        state[0] = np.uint64(1)
    scaled_tol = tol * yy
    # Already optimal (a warm start from the solution): no sweep.
    gap = _duality_gap(w, H, alpha, beta, q, yy, positive)
    if 0.0 <= gap <= scaled_tol:
        return gap, scaled_tol, 0
    n_iter = 0
    for n_iter in range(max_iter):
        w_max = 0.0
        d_w_max = 0.0
        for f_iter in range(n_features):
            j = _next_random(state, n_features) if seed >= 0 else np.int64(f_iter)
            if Q[j, j] == 0.0:
                continue
            w_j = w[j]
            if w_j != 0.0:
                for k in range(n_features):
                    H[k] -= w_j * Q[j, k]
            tmp = q[j] - H[j]
            if positive and tmp < 0.0:
                w[j] = 0.0
            else:
                shrunk = abs(tmp) - alpha
                w[j] = (np.sign(tmp) * shrunk / (Q[j, j] + beta)) if shrunk > 0.0 else 0.0
            if w[j] != 0.0:
                for k in range(n_features):
                    H[k] += w[j] * Q[j, k]
            d_w_max = max(d_w_max, abs(w[j] - w_j))
            w_max = max(w_max, abs(w[j]))
        if w_max == 0.0 or d_w_max / w_max <= tol or n_iter == max_iter - 1:
            gap = _duality_gap(w, H, alpha, beta, q, yy, positive)
            if gap <= scaled_tol:
                break
    return gap, scaled_tol, n_iter + 1


@njit(cache=True)
def l1_quadratic_cd(
    w: np.ndarray, Q: np.ndarray, q: np.ndarray, l1: np.ndarray, max_iter: int, tol: float
) -> int:
    """Minimise ``1/2 w'Qw - q'w + sum_j l1[j] |w_j|`` over ``w`` (in place), ``Q`` PSD.

    Cyclic coordinate descent, the inner solve of proximal Newton; it stops after
    the first sweep in which no coordinate's update moves its partial derivative
    by more than ``tol`` (``Q[j, j] * |change|``), or after ``max_iter`` sweeps.

    Returns
    -------
    n_iter : int
        Sweeps made.
    """
    n = w.shape[0]
    H = Q @ w
    sweeps = 0
    while sweeps < max_iter:
        sweeps += 1
        largest = 0.0
        for j in range(n):
            curvature = Q[j, j]
            if curvature <= 0.0:
                continue
            old = w[j]
            tmp = q[j] - H[j] + curvature * old
            if abs(tmp) <= l1[j]:
                new = 0.0
            else:
                new = np.sign(tmp) * (abs(tmp) - l1[j]) / curvature
            change = new - old
            if change != 0.0:
                for k in range(n):
                    H[k] += change * Q[j, k]
                w[j] = new
                largest = max(largest, curvature * abs(change))
        if largest <= tol:
            break
    return sweeps
