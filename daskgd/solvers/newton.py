"""Newton's method with the Hessian accumulated chunk-wise in the gradient's pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from daskgd.checkpoint import copy_state
from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle
from daskgd.solvers._requirements import require_smooth
from daskgd.solvers._result import Callback, Checkpointer, IterationRecorder, SolverResult

ARMIJO_SLOPE = 1e-4
MAX_HALVINGS = 30


def newton_direction(hess: FloatArray, grad: FloatArray) -> FloatArray:
    """Solve ``hess @ d = -grad`` by Cholesky, by least squares when not positive definite."""
    try:
        factor = scipy.linalg.cho_factor(hess, check_finite=False)
        return -scipy.linalg.cho_solve(factor, grad, check_finite=False)
    except (scipy.linalg.LinAlgError, ValueError):
        return -scipy.linalg.lstsq(hess, grad, check_finite=False)[0]


#: A gradient-only last trial needs the forecast gradient this far below ``tol``.
FORECAST_MARGIN = 2.0


def predicts_convergence(contraction: float | None, grad_norm: float, tol: float) -> bool:
    """Whether a full Newton step from a gradient of size ``grad_norm`` will reach ``tol``.

    Newton's method converges quadratically: after a unit step the largest gradient
    entry is about ``c * grad_norm**2``. ``contraction`` is the largest ``c`` seen in
    the fit's unit steps so far (None before the first); the forecast carries a
    margin of :data:`FORECAST_MARGIN`.
    """
    if contraction is None:
        return False
    return FORECAST_MARGIN * contraction * grad_norm**2 <= tol


def solve_newton(
    oracle: Oracle,
    coef0: FloatArray,
    *,
    tol: float = 1e-4,
    max_iter: int = 100,
    callback: Callback | None = None,
    checkpoint: Checkpointer | None = None,
    resume: dict[str, Any] | None = None,
) -> SolverResult:
    """Minimise a smooth objective by damped Newton steps.

    Steps: (1) evaluate value, gradient and Hessian in one pass; (2) stop when the
    largest gradient entry is at most ``tol``; (3) solve for the Newton
    direction; (4) backtrack from a unit step until the Armijo condition holds,
    each trial being one pass that also brings the next Hessian, so an accepted
    step costs no extra pass. Near the optimum, where rounding hides the
    decrease, a step that lowers the gradient is accepted. When the quadratic
    convergence seen so far forecasts that a unit step ends the fit, that trial
    asks for the value and gradient only (see :func:`predicts_convergence`).

    Parameters
    ----------
    oracle : Oracle
        Evaluates the objective.
    coef0 : ndarray of shape (n_coef,)
        Starting point.
    tol : float, default=1e-4
        Tolerance on the largest absolute gradient entry.
    max_iter : int, default=100
        Maximum number of Newton steps.
    callback : callable, optional
        Called with each iteration's record.
    checkpoint : Checkpointer, optional
        Receives the state (``coef``, its value, gradient and Hessian, the iteration)
        after every due iteration and at the end.
    resume : dict, optional
        A state written to a checkpoint by an earlier run: go on from it.

    Returns
    -------
    result : SolverResult
    """
    require_smooth(oracle.objective, "newton")
    recorder = IterationRecorder(oracle, callback, checkpoint, resume)
    if resume is None:
        coef = np.asarray(coef0, dtype=np.float64).copy()
        value, grad, hess = oracle.value_grad_hessian(coef)
        done = 0
    else:
        coef, value, grad, hess = (resume[name] for name in ("coef", "value", "grad", "hess"))
        done = int(resume["iteration"])

    def state() -> dict[str, Any]:
        return copy_state(
            {
                "iteration": done,
                "coef": coef,
                "value": value,
                "grad": grad,
                "hess": hess,
                "contraction": contraction,
            }
        )

    eps = np.finfo(float).eps

    def accepted(trial_value: float, trial_grad: FloatArray, step: float, slope: float) -> bool:
        sufficient = trial_value <= value + ARMIJO_SLOPE * step * slope
        rounding = abs(trial_value - value) <= 16 * eps * abs(value) and np.max(
            np.abs(trial_grad)
        ) < np.max(np.abs(grad))
        return bool(sufficient or rounding)

    contraction = resume.get("contraction") if resume is not None else None
    for iteration in range(done + 1, max_iter + 1):
        grad_norm = float(np.max(np.abs(grad), initial=0.0))
        if grad_norm <= tol:
            recorder.save(state)
            return SolverResult(coef, iteration - 1, True, recorder.history, "gradient below tol")
        direction = newton_direction(hess, grad)
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction (Hessian numerically singular)
            direction, slope = -grad, -float(grad @ grad)
        if predicts_convergence(contraction, grad_norm, tol):
            # The last step: its gradient alone says so, and the Hessian there (the
            # costliest part of a pass) would never be used. A wrong forecast costs
            # the one pass it saves: the trial is evaluated again below, in full.
            trial = coef + direction
            trial_value, trial_grad = oracle.value_and_grad(trial)
            if np.max(np.abs(trial_grad)) <= tol and accepted(trial_value, trial_grad, 1.0, slope):
                # The state keeps the last Hessian: a converged state never uses it.
                coef, value, grad = trial, trial_value, trial_grad
                done = iteration
                recorder.record(iteration, value, grad, 1.0, state)
                continue
        step = 1.0
        for _ in range(MAX_HALVINGS):
            trial = coef + step * direction
            trial_value, trial_grad, trial_hess = oracle.value_grad_hessian(trial)
            if accepted(trial_value, trial_grad, step, slope):
                break
            step *= 0.5
        else:
            return SolverResult(
                coef, iteration - 1, False, recorder.history, "line search failed to decrease"
            )
        if step == 1.0:
            new_contraction = float(np.max(np.abs(trial_grad))) / grad_norm**2
            contraction = max(new_contraction, contraction or 0.0)
        coef, value, grad, hess = trial, trial_value, trial_grad, trial_hess
        done = iteration
        recorder.record(iteration, value, grad, step, state)
    recorder.save(state)
    converged = bool(np.max(np.abs(grad), initial=0.0) <= tol)
    return SolverResult(coef, max(done, max_iter), converged, recorder.history, "max_iter reached")
