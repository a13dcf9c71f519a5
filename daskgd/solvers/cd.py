"""The elastic net (and the lasso, ridge and least squares) from one pass: coordinate
descent on the Gram matrix, in memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from daskgd.losses import HalfSquaredError
from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle
from daskgd.penalties import L2, ElasticNet, NoPenalty
from daskgd.solvers._cd_kernel import enet_gram_cd
from daskgd.solvers._result import Callback, IterationRecorder, SolverResult


def l1_l2_strengths(penalty: Any) -> tuple[float, float]:
    """The L1 and L2 strengths of ``penalty``: ``a ||w||_1 + b/2 ||w||^2``."""
    if isinstance(penalty, NoPenalty):
        return 0.0, 0.0
    if isinstance(penalty, L2):
        return 0.0, penalty.strength
    if isinstance(penalty, ElasticNet):
        return penalty.strength * penalty.l1_ratio, penalty.strength * (1.0 - penalty.l1_ratio)
    raise ValueError(f"solver='cd' takes an L1, L2 or elastic-net penalty, not {penalty!r}.")


def solve_cd(
    oracle: Oracle,
    coef0: FloatArray | None = None,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
    callback: Callback | None = None,
    checkpoint: Any = None,
    resume: Any = None,
    positive: bool = False,
    random_state: int | None = None,
) -> SolverResult:
    """Solve ``min 1/S (1/2 ||y - Xw - b||_s^2 + penalty(w))`` by coordinate descent.

    Steps: (1) one pass gathers the weighted means and the centred ``X^T X``,
    ``X^T y`` and ``y^T y`` (as for ``solve_normal``); (2) coordinate descent on
    them, in memory, per target, with scikit-learn's stopping rule (a sweep's
    largest update below ``tol``, then the duality gap below ``tol * y^T y``);
    (3) the intercept from the means. ``max_iter`` bounds the sweeps.

    Parameters
    ----------
    oracle : Oracle
        Evaluates the objective (squared error with an L1, L2 or elastic-net penalty).
    coef0 : ndarray, optional
        Starting coefficients (a warm start); zeros by default.
    tol : float
        Tolerance (scikit-learn's).
    max_iter : int
        Sweeps over the coordinates, per target.
    callback : callable, optional
        Called once with the record of the solve.
    checkpoint : object, optional
        Ignored: one pass leaves nothing to resume.
    resume : object, optional
        Ignored.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    random_state : int, optional
        Update a random coordinate at a time, drawn from this seed (scikit-learn's
        ``selection="random"``); cyclic sweeps when None.

    Returns
    -------
    result : SolverResult
        ``info`` holds per target ``n_iter`` (sweeps) and ``dual_gap`` (divided by
        ``S``, as scikit-learn's ``dual_gap_``).
    """
    objective = oracle.objective
    if not isinstance(objective.loss, HalfSquaredError):
        raise ValueError(f"solver='cd' solves least squares only, not {objective.loss!r}.")
    recorder = IterationRecorder(oracle, callback)
    gram = oracle.gram()
    weight_sum = float(gram["n"])
    if weight_sum <= 0:
        raise ValueError("Sample weights must contain at least one positive value; all are 0.")
    scale = objective.penalty_scale(weight_sum)
    l1, l2 = (scale * s for s in l1_l2_strengths(objective.penalty))
    Q = np.ascontiguousarray(gram["xx"], dtype=np.float64)
    n_features, n_outputs = objective.n_features, objective.n_outputs
    start = (
        np.zeros((n_features, n_outputs))
        if coef0 is None
        else objective.unpack(coef0)[0].reshape(n_features, n_outputs)
    )
    weights = np.empty((n_features, n_outputs))
    n_iter, gaps, converged = [], [], True
    for k in range(n_outputs):
        w = np.ascontiguousarray(start[:, k], dtype=np.float64).copy()
        q = np.ascontiguousarray(gram["xy"][:, k], dtype=np.float64)
        yy = float(gram["yy"][k, k])
        seed = -1 if random_state is None else int(random_state)
        gap, scaled_tol, sweeps = enet_gram_cd(
            w, l1, l2, Q, q, yy, int(max_iter), float(tol), bool(positive), seed
        )
        converged = converged and gap <= scaled_tol
        weights[:, k] = w
        n_iter.append(int(sweeps))
        gaps.append(gap / weight_sum)
    coef = weights
    if objective.fit_intercept:
        intercept = gram["mean_y"] - gram["mean_x"] @ weights
        coef = np.vstack([weights, intercept])
    # Objective and gradient at the solution from the same statistics: no second pass.
    residual_ss = gram["yy"] - 2 * weights.T @ gram["xy"] + weights.T @ Q @ weights
    penalty_value = scale * objective.penalty.value(weights)
    value = (0.5 * float(np.trace(residual_ss)) + penalty_value) / weight_sum
    smooth_grad = (Q @ weights - gram["xy"] + l2 * weights) / weight_sum
    recorder.record(max(n_iter), value, smooth_grad.ravel(), None)
    return SolverResult(
        coef.ravel(),
        max(n_iter),
        converged,
        recorder.history,
        "duality gap below tol" if converged else "max_iter sweeps reached",
        info={"n_iter": n_iter, "dual_gap": gaps},
    )


def enet_gram_path(
    gram: dict[str, Any],
    alphas: FloatArray,
    l1_ratio: float,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
    positive: bool = False,
    random_state: int | None = None,
) -> tuple[FloatArray, list[int], list[float], list[bool]]:
    """The elastic-net path of one target from Gram statistics, warm started along it.

    Solves scikit-learn's ``1/(2 S) ||y - Xw - b||_s^2 + alpha * l1_ratio ||w||_1
    + alpha * (1 - l1_ratio) / 2 ||w||^2`` for each ``alpha`` in the order given
    (decreasing, as scikit-learn's paths), each solve starting from the last.

    Parameters
    ----------
    gram : dict
        A reduced :meth:`LinearObjective.block_gram` partial (one target).
    alphas : ndarray of shape (n_alphas,)
        Penalty strengths.
    l1_ratio : float
        Share of the L1 penalty.
    tol, max_iter, positive, random_state
        As for :func:`solve_cd`.

    Returns
    -------
    coefs : ndarray of shape (n_alphas, n_features)
        Coefficients (without the intercept) at each alpha.
    n_iter : list of int
        Sweeps at each alpha.
    gaps : list of float
        Duality gap at each alpha, divided by ``S`` (scikit-learn's ``dual_gap_``).
    converged : list of bool
        Whether each gap reached its tolerance.
    """
    weight_sum = float(gram["n"])
    Q = np.ascontiguousarray(gram["xx"], dtype=np.float64)
    q = np.ascontiguousarray(gram["xy"][:, 0], dtype=np.float64)
    yy = float(gram["yy"][0, 0])
    w = np.zeros(Q.shape[0])
    coefs = np.empty((len(alphas), Q.shape[0]))
    seed = -1 if random_state is None else int(random_state)
    n_iter, gaps, converged = [], [], []
    for i, alpha in enumerate(alphas):
        strength = weight_sum * float(alpha)
        gap, scaled_tol, sweeps = enet_gram_cd(
            w,
            strength * l1_ratio,
            strength * (1.0 - l1_ratio),
            Q,
            q,
            yy,
            int(max_iter),
            float(tol),
            bool(positive),
            seed,
        )
        coefs[i] = w
        n_iter.append(int(sweeps))
        gaps.append(float(gap) / weight_sum)
        converged.append(bool(gap <= scaled_tol))
    return coefs, n_iter, gaps, converged
