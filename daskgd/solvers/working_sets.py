"""The elastic net on wide data: coordinate descent on the Gram matrices of working sets.

Beyond the features whose whole Gram matrix fits in memory, one pass brings, at the
current coefficients, every feature's correlation with the residuals and the Gram
statistics of a working set of columns (:func:`daskgd.working_sets.block_working_set`).
The correlations give scikit-learn's duality gap over all features, the stopping
rule; coordinate descent then solves exactly on the working set, in memory, and the
features that violate their optimality conditions the most join the next set. A
sparse solution takes a few passes (three when the first set holds its support).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from daskgd.losses import HalfSquaredError
from daskgd.objective import FloatArray, Partial
from daskgd.oracles._base import Oracle
from daskgd.solvers._cd_kernel import enet_gram_cd
from daskgd.solvers._result import Callback, Checkpointer, IterationRecorder, SolverResult
from daskgd.solvers.cd import l1_l2_strengths
from daskgd.working_sets import centred_residual_statistics

#: The smallest working set beyond the support (fewer would cost passes for little).
MIN_WORKING_SET = 128


def enet_duality_gap(
    residual_ss: float,
    correlation: FloatArray,
    w: FloatArray,
    l1: float,
    l2: float,
    positive: bool,
) -> float:
    """scikit-learn's duality gap of the elastic net over all features (``l1 > 0``).

    For ``1/2 ||r||^2 + l1 ||w||_1 + l2/2 ||w||^2`` with centred residuals ``r``:
    ``residual_ss = ||r||^2`` and ``correlation = X^T r``, weighted.
    """
    excess = correlation - l2 * w
    dual_norm = float(np.max(excess if positive else np.abs(excess), initial=0.0))
    scale = l1 / dual_norm if dual_norm > l1 else 1.0
    ridge = residual_ss + l2 * float(w @ w)
    r_dot_y = residual_ss + float(w @ correlation)
    primal = 0.5 * ridge + l1 * float(np.abs(w).sum())
    dual = -0.5 * scale**2 * ridge + scale * r_dot_y
    return primal - dual


def next_working_set(
    W: FloatArray, correlation: FloatArray, l1: float, positive: bool, limit: int
) -> np.ndarray:
    """The support of ``W``, then the features closest to violating their condition.

    A zero coefficient ``j`` is optimal while ``|X_j^T r| <= l1`` (``X_j^T r <= l1``
    when ``positive``); the features are ranked by that score, violators first.
    The set holds twice the support, at least :data:`MIN_WORKING_SET` features
    beyond it, and at most ``limit``; it is sorted.
    """
    support = np.flatnonzero(np.any(W != 0, axis=1))
    score = np.max(correlation if positive else np.abs(correlation), axis=1)
    score[support] = -np.inf
    size = min(limit, max(2 * len(support), len(support) + MIN_WORKING_SET))
    n_new = max(0, min(size - len(support), int(np.sum(score > 0))))
    # Ties broken by feature index, so that the set does not depend on the sort.
    ranked = np.lexsort((np.arange(len(score)), -score))[:n_new]
    return np.sort(np.concatenate([support, ranked])).astype(np.intp)


def solve_working_sets(
    oracle: Oracle,
    coef0: FloatArray | None = None,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
    callback: Callback | None = None,
    checkpoint: Checkpointer | None = None,
    resume: dict[str, Any] | None = None,
    positive: bool = False,
    random_state: int | None = None,
    max_set: int = 4096,
    max_passes: int = 100,
) -> SolverResult:
    """Solve the elastic net by coordinate descent on the Gram matrices of working sets.

    Each pass (1) brings, at the current ``W``, the centred residuals' sum of
    squares, every feature's correlation with them, and the Gram statistics of
    the working set chosen after the last pass; (2) stops when scikit-learn's
    duality gap over all features is at most ``tol * y_c^T y_c`` (its rule);
    (3) otherwise solves the problem restricted to the working set exactly
    (coordinate descent on its Gram matrix, warm started) and (4) chooses the
    next set: the support and the features closest to violating their optimality
    condition (:func:`next_working_set`). The intercept is the weighted mean's.

    Parameters
    ----------
    oracle : Oracle
        Least squares with an elastic-net (L1 part > 0) penalty.
    coef0 : ndarray, optional
        Starting coefficients; its support is the first working set.
    tol : float
        Tolerance (scikit-learn's).
    max_iter : int
        Coordinate descent sweeps per target and working set.
    callback : callable, optional
        Called with each pass's record.
    checkpoint : Checkpointer, optional
        Receives the state (coefficients, next working set, sweeps) after each pass.
    resume : dict, optional
        A state written by an earlier run: go on from it.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    random_state : int, optional
        Seed of the coordinates drawn at random (cyclic sweeps when None).
    max_set : int, default=4096
        The most features in a working set.
    max_passes : int, default=100
        The most passes.

    Returns
    -------
    result : SolverResult
        ``info`` holds per target ``n_iter`` (sweeps over all working sets) and
        ``dual_gap`` (divided by ``S``, as scikit-learn's ``dual_gap_``), and
        ``working_set_sizes``.
    """
    objective = oracle.objective
    if not isinstance(objective.loss, HalfSquaredError):
        raise ValueError(f"Working sets solve least squares only, not {objective.loss!r}.")
    l1_strength, l2_strength = l1_l2_strengths(objective.penalty)
    if l1_strength <= 0:
        raise ValueError("Working sets need an L1 penalty; use solver='normal' or 'gd'.")
    n_features, n_outputs = objective.n_features, objective.n_outputs
    recorder = IterationRecorder(oracle, callback, checkpoint, resume)
    seed = -1 if random_state is None else int(random_state)
    if resume is not None:
        W = np.array(resume["W"], dtype=np.float64)
        intercept = np.array(resume["intercept"], dtype=np.float64)
        columns = np.asarray(resume["columns"], dtype=np.intp)
        sweeps = [int(n) for n in resume["sweeps"]]
        sizes = [int(n) for n in resume["sizes"]]
        done = int(resume["iteration"])
    else:
        start = np.zeros(objective.n_coef) if coef0 is None else np.asarray(coef0)
        weights, start_intercept = objective.unpack(start)
        W = np.array(weights, dtype=np.float64).reshape(n_features, n_outputs)
        intercept = np.array(start_intercept, dtype=np.float64)
        columns = np.flatnonzero(np.any(W != 0, axis=1)).astype(np.intp)
        sweeps, sizes, done = [0] * n_outputs, [], 0
    converged, full, gaps = False, False, [float("inf")] * n_outputs
    total: Partial = {}
    for iteration in range(done + 1, max_passes + 1):
        total = oracle.working_set(_pack(W, intercept, objective.fit_intercept), columns)
        weight_sum = float(total["n"])
        if weight_sum <= 0:
            raise ValueError("Sample weights must contain at least one positive value; all are 0.")
        scale = objective.penalty_scale(weight_sum)
        l1, l2 = scale * l1_strength, scale * l2_strength
        correlation, residual_ss, x_mean = centred_residual_statistics(
            total, objective.fit_intercept
        )
        yy = np.diag(np.atleast_2d(total["yy"]))
        gaps = [
            enet_duality_gap(float(residual_ss[k]), correlation[:, k], W[:, k], l1, l2, positive)
            for k in range(n_outputs)
        ]
        value = _value(residual_ss, W, l1, l2) / weight_sum
        violation = _min_norm_subgradient(correlation, W, l1, l2, positive) / weight_sum
        converged = all(gap <= tol * float(yy[k]) for k, gap in enumerate(gaps))
        if converged:
            if objective.fit_intercept:  # the best intercept for W (the pass's may not be)
                intercept = total["mean_y"] - x_mean @ W
            recorder.record(iteration, value, violation.ravel(), None)
            break
        if len(columns):
            _solve_restricted(W, columns, total, l1, l2, max_iter, tol, positive, seed, sweeps)
            if objective.fit_intercept:  # (W is 0 outside the set)
                intercept = total["mean_y"] - total["mean_x"] @ W[columns]
        sizes.append(len(columns))
        columns = next_working_set(W, correlation, l1, positive, max_set)
        state = {
            "W": W.copy(),
            "intercept": np.array(intercept),
            "columns": columns.copy(),
            "sweeps": list(sweeps),
            "sizes": list(sizes),
            "iteration": iteration,
        }
        recorder.record(iteration, value, violation.ravel(), None, state=partial(dict, state))
        if np.count_nonzero(np.any(W != 0, axis=1)) >= max_set:
            full = True  # no room left for a violator: more passes would change nothing
            break
    weight_sum = float(total["n"]) if total else 1.0
    return SolverResult(
        _pack(W, intercept, objective.fit_intercept),
        len(recorder.history),
        converged,
        recorder.history,
        "duality gap below tol"
        if converged
        else (
            f"the solution has more than {max_set} nonzero coefficients, more than a "
            "working set holds: use solver='gd'"
            if full
            else f"{max_passes} passes reached"
        ),
        info={
            "n_iter": sweeps,
            "dual_gap": [gap / weight_sum for gap in gaps],
            "working_set_sizes": sizes,
        },
    )


def _solve_restricted(
    W: FloatArray,
    columns: np.ndarray,
    total: Partial,
    l1: float,
    l2: float,
    max_iter: int,
    tol: float,
    positive: bool,
    seed: int,
    sweeps: list[int],
) -> None:
    """Coordinate descent on the working set's Gram matrix, per target, in place."""
    Q = np.ascontiguousarray(total["xx"], dtype=np.float64)
    for k in range(W.shape[1]):
        w = np.ascontiguousarray(W[columns, k], dtype=np.float64)
        q = np.ascontiguousarray(total["xy"][:, k], dtype=np.float64)
        yy = float(np.atleast_2d(total["yy"])[k, k])
        _, _, n_sweeps = enet_gram_cd(w, l1, l2, Q, q, yy, int(max_iter), tol, positive, seed)
        W[columns, k] = w
        sweeps[k] += int(n_sweeps)


def _value(residual_ss: FloatArray, W: FloatArray, l1: float, l2: float) -> float:
    """``1/2 ||r||^2 + l1 ||W||_1 + l2/2 ||W||^2`` summed over targets."""
    return float(0.5 * residual_ss.sum() + l1 * np.abs(W).sum() + 0.5 * l2 * (W * W).sum())


def _min_norm_subgradient(
    correlation: FloatArray, W: FloatArray, l1: float, l2: float, positive: bool
) -> FloatArray:
    """The smallest subgradient of the objective in ``W`` (zero at the optimum)."""
    smooth = l2 * W - correlation
    at_zero = np.maximum((-smooth if positive else np.abs(smooth)) - l1, 0.0)
    return np.where(W != 0, smooth + l1 * np.sign(W), at_zero)


def _pack(W: FloatArray, intercept: FloatArray, fit_intercept: bool) -> FloatArray:
    if not fit_intercept:
        return W.ravel().copy()
    return np.vstack([W, np.reshape(intercept, (1, -1))]).ravel()
