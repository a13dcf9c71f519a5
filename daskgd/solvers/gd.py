"""Accelerated (proximal) gradient descent with backtracking and adaptive restart."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from daskgd.checkpoint import copy_state
from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle
from daskgd.solvers._result import Callback, Checkpointer, IterationRecorder, SolverResult

STEP_GROWTH = 1.25  # lets the Lipschitz estimate shrink again after a cautious phase


def smooth_value_and_grad(oracle: Oracle, coef: FloatArray) -> tuple[float, FloatArray]:
    """Value and gradient of the smooth part ``f`` of ``f + g`` (one pass).

    With a non-smooth penalty ``g`` the oracle's value and gradient hold it too
    (its subgradient): take it out, since the prox applies it.
    """
    value, grad = oracle.value_and_grad(coef)
    if oracle.objective.penalty.is_smooth:
        return value, grad
    penalty_value, penalty_grad = oracle.objective.feature_penalty(coef, oracle.weight_sum)
    return value - penalty_value, grad - penalty_grad


def nonsmooth_value(oracle: Oracle, coef: FloatArray) -> float:
    """``g(coef)``: the penalty the prox applies (0 when the penalty is smooth)."""
    if oracle.objective.penalty.is_smooth:
        return 0.0
    return oracle.objective.feature_penalty(coef, oracle.weight_sum)[0]


def initial_lipschitz(oracle: Oracle, coef: FloatArray, grad: FloatArray) -> float:
    """Local Lipschitz estimate ``||g(x1) - g(x0)|| / ||x1 - x0||`` from one trial step."""
    grad_norm = float(np.linalg.norm(grad))
    if grad_norm == 0:
        return 1.0
    probe = coef - grad * (1e-3 * max(1.0, float(np.linalg.norm(coef))) / grad_norm)
    probe_grad = smooth_value_and_grad(oracle, probe)[1]
    ratio = float(np.linalg.norm(probe_grad - grad) / np.linalg.norm(probe - coef))
    return ratio if ratio > 0 and math.isfinite(ratio) else 1.0


ROUNDING_ULPS = 8


def step_accepted(
    point: FloatArray,
    point_value: float,
    point_grad: FloatArray,
    candidate: FloatArray,
    candidate_value: float,
    candidate_grad: FloatArray,
    lipschitz: float,
) -> bool:
    """Whether ``1 / lipschitz`` is a safe step from ``point`` to ``candidate``.

    The quadratic upper bound ``f(x+) <= f(v) + g(v).(x+ - v) + L/2 ||x+ - v||^2``
    (Armijo's condition for step ``1/L``), unless the two objective values differ
    by rounding only, or the bound is missed by rounding only: then the values say
    nothing, and the gradients decide (``||g(x+) - g(v)|| <= L ||x+ - v||``, the
    definition of ``L``).
    """
    move = candidate - point
    rounding = ROUNDING_ULPS * np.finfo(float).eps * abs(point_value)
    gradients_agree = bool(
        np.linalg.norm(candidate_grad - point_grad) <= lipschitz * np.linalg.norm(move)
    )
    if abs(candidate_value - point_value) <= rounding:
        return gradients_agree
    bound = point_value + point_grad @ move + 0.5 * lipschitz * (move @ move)
    if candidate_value <= bound:
        return True
    # A bound missed by a few roundings of the values says nothing either (near the
    # optimum, doubling L on such noise would stall the descent): the gradients decide.
    return bool(candidate_value - bound <= 8 * rounding) and gradients_agree


def solve_gd(
    oracle: Oracle,
    coef0: FloatArray,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
    callback: Callback | None = None,
    accelerated: bool = True,
    checkpoint: Checkpointer | None = None,
    resume: dict[str, Any] | None = None,
) -> SolverResult:
    """Minimise ``f + g`` (``f`` smooth, ``g`` with a prox) by FISTA-style gradient steps.

    Steps: (1) estimate the Lipschitz constant ``L`` of ``grad f`` from one trial
    step; (2) at the extrapolated point ``v`` take the step ``prox(v - grad f(v) / L)``;
    (3) backtrack (double ``L``) until the quadratic upper bound holds at the new
    point, which is Armijo's condition for step ``1 / L``; (4) extrapolate with
    Nesterov momentum, restarting it when the objective goes up; (5) stop when
    the gradient (mapping) is at most ``tol`` in its largest entry.

    Parameters
    ----------
    oracle : Oracle
        Evaluates the smooth part of the objective and applies the prox of the rest.
    coef0 : ndarray of shape (n_coef,)
        Starting point.
    tol : float, default=1e-4
        Tolerance on the largest entry of the gradient mapping.
    max_iter : int, default=1000
        Maximum number of accepted steps.
    callback : callable, optional
        Called with each iteration's record.
    accelerated : bool, default=True
        Use Nesterov momentum; plain proximal gradient descent otherwise.
    checkpoint : Checkpointer, optional
        Receives the state (iterate, extrapolated point, their values and gradients,
        Lipschitz estimate, momentum, iteration) after every due iteration and at the end.
    resume : dict, optional
        A state written to a checkpoint by an earlier run: go on from it.

    Returns
    -------
    result : SolverResult
        ``info`` holds the value and gradient of the smooth part at the result
        (``smooth_value``, ``smooth_grad``) and the weights' sum ``weight_sum``.
    """
    recorder = IterationRecorder(oracle, callback, checkpoint, resume)
    smooth = oracle.objective.penalty.is_smooth
    if resume is None:
        coef: FloatArray = np.asarray(coef0, dtype=np.float64).copy()
        value, grad = smooth_value_and_grad(oracle, coef)
        lipschitz = initial_lipschitz(oracle, coef, grad)
        point, point_value, point_grad = coef, value, grad
        momentum = 1.0
        done = 0
    else:
        coef, value, grad = resume["coef"], resume["value"], resume["grad"]
        point, point_value, point_grad = (
            resume["point"],
            resume["point_value"],
            resume["point_grad"],
        )
        lipschitz, momentum, done = resume["lipschitz"], resume["momentum"], resume["iteration"]
        if resume.get("converged"):
            info = {"smooth_value": value, "smooth_grad": grad, "weight_sum": oracle.weight_sum}
            return SolverResult(coef, done, True, recorder.history, "gradient below tol", info=info)

    def state() -> dict[str, Any]:
        return copy_state(
            {
                "iteration": done,
                "coef": coef,
                "value": value,
                "grad": grad,
                "point": point,
                "point_value": point_value,
                "point_grad": point_grad,
                "lipschitz": lipschitz,
                "momentum": momentum,
                "converged": converged,
            }
        )

    converged = False
    for iteration in range(done + 1, max_iter + 1):
        while True:
            candidate = oracle.prox(point - point_grad / lipschitz, 1.0 / lipschitz)
            candidate_value, candidate_grad = smooth_value_and_grad(oracle, candidate)
            if step_accepted(
                point,
                point_value,
                point_grad,
                candidate,
                candidate_value,
                candidate_grad,
                lipschitz,
            ):
                break
            lipschitz *= 2.0
        optimality = candidate_grad if smooth else lipschitz * (point - candidate)
        step_size = 1.0 / lipschitz
        previous = coef
        # Momentum restarts when the whole objective f + g goes up.
        restarted = candidate_value + nonsmooth_value(oracle, candidate) > value + nonsmooth_value(
            oracle, coef
        )
        coef, value, grad = candidate, candidate_value, candidate_grad
        done = iteration
        converged = bool(np.max(np.abs(optimality), initial=0.0) <= tol)
        passes_of_iteration = oracle.data_passes
        if not converged:
            # The next extrapolated point, so that the state recorded below is complete.
            if accelerated and not restarted:
                next_momentum = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum**2))
                point = coef + ((momentum - 1.0) / next_momentum) * (coef - previous)
                momentum = next_momentum
                point_value, point_grad = smooth_value_and_grad(oracle, point)
            else:
                momentum = 1.0
                point, point_value, point_grad = coef, value, grad
            lipschitz /= STEP_GROWTH
        recorder.record(
            iteration,
            value + nonsmooth_value(oracle, coef),
            optimality,
            step_size,
            state,
            passes_of_iteration,
        )
        if converged:
            recorder.save(state)
            return SolverResult(
                coef,
                iteration,
                True,
                recorder.history,
                "gradient below tol",
                info={"smooth_value": value, "smooth_grad": grad, "weight_sum": oracle.weight_sum},
            )
    recorder.save(state)
    return SolverResult(
        coef,
        max(done, max_iter),
        False,
        recorder.history,
        "max_iter reached",
        info={"smooth_value": value, "smooth_grad": grad, "weight_sum": oracle.weight_sum},
    )
