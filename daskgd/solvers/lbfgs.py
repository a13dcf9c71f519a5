"""L-BFGS driven by distributed loss + gradient evaluations (scipy's L-BFGS-B)."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import scipy.optimize

from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle
from daskgd.solvers._requirements import require_smooth
from daskgd.solvers._result import Callback, Checkpointer, IterationRecorder, SolverResult


def solve_lbfgs(
    oracle: Oracle,
    coef0: FloatArray,
    *,
    tol: float = 1e-4,
    max_iter: int = 100,
    callback: Callback | None = None,
    history_size: int = 10,
    checkpoint: Checkpointer | None = None,
    resume: dict[str, Any] | None = None,
) -> SolverResult:
    """Minimise a smooth objective with L-BFGS; each function evaluation is one pass.

    Steps: (1) check the objective is smooth; (2) hand scipy's L-BFGS-B a function
    that returns value and gradient from one oracle pass; (3) stop, as
    scikit-learn does, when the largest gradient entry is at most ``tol`` or the
    relative decrease of the objective falls below 64 machine epsilons;
    (4) record each iteration's objective and gradient norm.

    scipy keeps the L-BFGS memory to itself, so the checkpointed state is the log
    of every evaluation (point, value, gradient). Resuming replays the log through
    scipy, which takes the same steps again without a pass over the data and so
    rebuilds its memory bit for bit, then goes on with live evaluations.

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
    checkpoint : Checkpointer, optional
        Receives the evaluation log after every due iteration and at the end. The
        log holds two vectors per evaluation and is written whole each time: with
        many coefficients, write it every few iterations (``checkpoint_every``).
    resume : dict, optional
        A state written to a checkpoint by an earlier run: replay it, then go on.

    Returns
    -------
    result : SolverResult
    """
    require_smooth(oracle.objective, "lbfgs")
    recorder = IterationRecorder(oracle, callback, checkpoint, resume)
    last: dict[str, Any] = {}
    evaluations: list[tuple[np.ndarray, float, np.ndarray]] = []
    replay = collections.deque(resume["evaluations"] if resume is not None else [])
    replayed_iterations = len(recorder.history)
    iterations = 0

    def value_and_grad(coef: np.ndarray) -> tuple[float, np.ndarray]:
        if replay:
            logged_coef, value, grad = replay.popleft()
            if not np.array_equal(logged_coef, coef):
                raise RuntimeError(
                    "Resuming L-BFGS from its checkpoint took another path than the logged "
                    "one (a different scipy?); delete the checkpoint to start afresh."
                )
            grad = grad.copy()
        else:
            value, grad = oracle.value_and_grad(coef)
        if checkpoint is not None:  # the log is the checkpointed state; costly otherwise
            evaluations.append((coef.copy(), value, grad.copy()))
        last.update(coef=coef.copy(), value=value, grad=grad)
        return value, grad

    def state() -> dict[str, Any]:
        return {"evaluations": list(evaluations)}

    def on_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        nonlocal iterations
        iterations += 1
        if iterations <= replayed_iterations:
            return
        grad = last["grad"] if np.array_equal(last["coef"], intermediate_result.x) else None
        if grad is None:
            grad = oracle.value_and_grad(intermediate_result.x)[1]
        recorder.record(iterations, intermediate_result.fun, grad, None, state)

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
    recorder.save(state)
    return SolverResult(
        coef=result.x,
        n_iter=int(result.nit),
        converged=bool(result.status == 0),
        history=recorder.history,
        message=str(result.message),
    )
