"""Proximal Newton for a smooth loss with an L1 (or elastic-net) penalty, as glum fits GLMs.

Each iteration is one pass: it brings the loss, gradient and Hessian, which define
a quadratic model of the smooth part; coordinate descent on that model (in
memory, on the Hessian) with the L1 term gives the step, and a backtracking line
search on the full objective accepts it. An accepted trial's pass already
carries the next Hessian.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from daskgd.checkpoint import copy_state
from daskgd.objective import FloatArray, LinearObjective
from daskgd.oracles._base import Oracle
from daskgd.penalties import ElasticNet
from daskgd.solvers._cd_kernel import l1_quadratic_cd
from daskgd.solvers._result import Callback, Checkpointer, IterationRecorder, SolverResult

ARMIJO_SLOPE = 1e-4
MAX_HALVINGS = 30
INNER_SWEEPS = 1000


def l1_weights(objective: LinearObjective, weight_sum: float) -> FloatArray:
    """Per-coefficient L1 strength of the mean objective (0 for the intercepts)."""
    penalty = objective.penalty
    strength = 0.0
    if isinstance(penalty, ElasticNet):
        strength = penalty.strength * penalty.l1_ratio
    strength *= objective.penalty_scale(weight_sum) / weight_sum
    weights = np.zeros((objective.n_rows, objective.n_outputs))
    weights[: objective.n_features] = strength
    return weights.ravel()


def min_norm_subgradient(coef: FloatArray, smooth_grad: FloatArray, l1: FloatArray) -> FloatArray:
    """The minimum-norm subgradient of ``smooth + sum_j l1_j |w_j|`` at ``coef``."""
    at_zero = np.sign(smooth_grad) * np.maximum(np.abs(smooth_grad) - l1, 0.0)
    return np.where(coef == 0.0, at_zero, smooth_grad + l1 * np.sign(coef))


def optimality(coef: FloatArray, smooth_grad: FloatArray, l1: FloatArray) -> float:
    """Largest entry of the minimum-norm subgradient (0 at the optimum)."""
    return float(np.max(np.abs(min_norm_subgradient(coef, smooth_grad, l1)), initial=0.0))


def solve_prox_newton(
    oracle: Oracle,
    coef0: FloatArray,
    *,
    tol: float = 1e-4,
    max_iter: int = 100,
    callback: Callback | None = None,
    checkpoint: Checkpointer | None = None,
    resume: dict[str, Any] | None = None,
) -> SolverResult:
    """Minimise a smooth loss plus an elastic-net penalty by proximal Newton steps.

    Steps: (1) one pass for the value, gradient and Hessian; (2) stop when the
    largest entry of the minimum-norm subgradient is at most ``tol``; (3) solve the
    L1-penalised quadratic model by coordinate descent to an accuracy that follows
    the optimality measure; (4) backtrack from a unit step until the objective
    decreases by a share of the model's predicted decrease (Lee, Sun and Saunders,
    2014), each trial being one pass that also brings the next Hessian.

    Parameters
    ----------
    oracle : Oracle
        Evaluates the objective (its penalty's L2 part is in the Hessian).
    coef0 : ndarray of shape (n_coef,)
        Starting point.
    tol : float, default=1e-4
        Tolerance on the largest entry of the minimum-norm subgradient.
    max_iter : int, default=100
        Maximum number of proximal Newton steps.
    callback : callable, optional
        Called with each iteration's record.
    checkpoint : Checkpointer, optional
        Receives the state after every due iteration and at the end.
    resume : dict, optional
        A state written to a checkpoint by an earlier run: go on from it.

    Returns
    -------
    result : SolverResult
    """
    objective = oracle.objective
    if not objective.loss.is_smooth:
        raise ValueError(f"solver='prox-newton' needs a smooth loss; {objective.loss!r} is not.")
    recorder = IterationRecorder(oracle, callback, checkpoint, resume)
    if resume is None:
        coef = np.asarray(coef0, dtype=np.float64).copy()
        value, grad, hess = oracle.value_grad_hessian(coef)
        done = 0
    else:
        coef, value, grad, hess = (resume[name] for name in ("coef", "value", "grad", "hess"))
        done = int(resume["iteration"])
    l1 = l1_weights(objective, oracle.weight_sum)

    def smooth(coef: FloatArray, grad: FloatArray) -> FloatArray:
        # The oracle's gradient holds l1 * sign(w) for the L1 part: take it out.
        return grad - l1 * np.sign(coef)

    def state() -> dict[str, Any]:
        return copy_state(
            {"iteration": done, "coef": coef, "value": value, "grad": grad, "hess": hess}
        )

    eps = np.finfo(float).eps
    smooth_grad = smooth(coef, grad)
    for iteration in range(done + 1, max_iter + 1):
        measure = optimality(coef, smooth_grad, l1)
        if measure <= tol:
            recorder.save(state)
            return SolverResult(
                coef, iteration - 1, True, recorder.history, "subgradient below tol"
            )
        Q = np.ascontiguousarray(hess)
        target = coef.copy()
        l1_quadratic_cd(
            target, Q, Q @ coef - smooth_grad, l1, INNER_SWEEPS, max(0.1 * measure, 0.1 * tol)
        )
        direction = target - coef
        decrease = float(smooth_grad @ direction + l1 @ (np.abs(target) - np.abs(coef)))
        if decrease >= 0:  # the model sees no descent: rounding at the optimum
            break
        step = 1.0
        for _ in range(MAX_HALVINGS):
            trial = coef + step * direction
            trial_value, trial_grad, trial_hess = oracle.value_grad_hessian(trial)
            trial_smooth = smooth(trial, trial_grad)
            sufficient = trial_value <= value + ARMIJO_SLOPE * step * decrease
            rounding = (
                abs(trial_value - value) <= 16 * eps * abs(value)
                and optimality(trial, trial_smooth, l1) < measure
            )
            if sufficient or rounding:
                break
            step *= 0.5
        else:
            return SolverResult(
                coef, iteration - 1, False, recorder.history, "line search failed to decrease"
            )
        coef, value, grad, hess = trial, trial_value, trial_grad, trial_hess
        smooth_grad = trial_smooth
        done = iteration
        recorder.record(iteration, value, min_norm_subgradient(coef, smooth_grad, l1), step, state)
    recorder.save(state)
    converged = optimality(coef, smooth_grad, l1) <= tol
    message = "subgradient below tol" if converged else "max_iter reached"
    return SolverResult(coef, done, converged, recorder.history, message)
