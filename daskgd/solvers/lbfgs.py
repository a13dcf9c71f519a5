"""L-BFGS driven by distributed loss + gradient evaluations (scipy's L-BFGS-B)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize

from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle
from daskgd.solvers._requirements import require_smooth
from daskgd.solvers._result import Callback, IterationRecorder, SolverResult


def solve_lbfgs(
    oracle: Oracle,
    coef0: FloatArray,
    *,
    tol: float = 1e-4,
    max_iter: int = 100,
    callback: Callback | None = None,
    history_size: int = 10,
) -> SolverResult:
    """Minimise a smooth objective with L-BFGS; each function evaluation is one pass.

    Steps: (1) check the objective is smooth; (2) hand scipy's L-BFGS-B a function
    that returns value and gradient from one oracle pass; (3) stop, as
    scikit-learn does, when the largest gradient entry is at most ``tol`` or the
    relative decrease of the objective falls below 64 machine epsilons;
    (4) record each iteration's objective and gradient norm.

    Parameters
    ----------
    oracle : Oracle
        Evaluates the objective.
    coef0 : ndarray of shape (n_coef,)
        Starting point.
    tol : float, default=1e-4
        Tolerance on the largest absolute gradient entry.
    max_iter : int, default=100
        Maximum number of iterations.
    callback : callable, optional
        Called with each iteration's record.
    history_size : int, default=10
        Number of curvature pairs L-BFGS keeps.

    Returns
    -------
    result : SolverResult
    """
    require_smooth(oracle.objective, "lbfgs")
    recorder = IterationRecorder(oracle, callback)
    last: dict[str, Any] = {}

    def value_and_grad(coef: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = oracle.value_and_grad(coef)
        last.update(coef=coef.copy(), value=value, grad=grad)
        return value, grad

    def on_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        grad = last["grad"] if np.array_equal(last["coef"], intermediate_result.x) else None
        if grad is None:
            grad = oracle.value_and_grad(intermediate_result.x)[1]
        recorder.record(len(recorder.history) + 1, intermediate_result.fun, grad, None)

    result = scipy.optimize.minimize(
        value_and_grad,
        np.asarray(coef0, dtype=np.float64),
        jac=True,
        method="L-BFGS-B",
        callback=on_iteration,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "maxcor": history_size,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    return SolverResult(
        coef=result.x,
        n_iter=int(result.nit),
        converged=bool(result.status == 0),
        history=recorder.history,
        message=str(result.message),
    )
