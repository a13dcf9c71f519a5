"""Exact least squares and ridge in one pass over the data (normal equations)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle
from daskgd.penalties import L2
from daskgd.solvers._requirements import require_least_squares
from daskgd.solvers._result import Callback, IterationRecorder, SolverResult


def solve_normal(
    oracle: Oracle,
    coef0: FloatArray | None = None,
    *,
    tol: float = 0.0,
    max_iter: int = 1,
    callback: Callback | None = None,
    checkpoint: Any = None,
    resume: Any = None,
    positive: bool = False,
) -> SolverResult:
    """Solve ``min 1/S (1/2 ||y - Xw - b||_s^2 + strength/2 ||w||^2)`` exactly.

    Steps: (1) one pass gathers the weighted means and the centred ``X^T X``,
    ``X^T y`` (merged across chunks without cancellation); (2) a Cholesky solve of
    ``(X^T X + strength I) w = X^T y``, falling back to the minimum-norm
    least-squares solution (as ``scipy.linalg.lstsq``, which scikit-learn's
    LinearRegression uses) when the system is singular; (3) the intercept
    from the means. With ``positive``, step (2) is non-negative least squares on
    the Gram matrix instead (``scipy.optimize.nnls`` on its square-root factor,
    which scikit-learn's LinearRegression runs on the data itself). ``coef0``,
    ``tol`` and ``max_iter`` are accepted for a uniform signature and ignored.

    Parameters
    ----------
    oracle : Oracle
        Evaluates the objective.
    coef0 : ndarray, optional
        Ignored.
    tol : float
        Ignored.
    max_iter : int
        Ignored.
    callback : callable, optional
        Called once with the record of the solve.
    checkpoint : object, optional
        Ignored: one pass leaves nothing to resume.
    resume : object, optional
        Ignored.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.

    Returns
    -------
    result : SolverResult
    """
    objective = oracle.objective
    require_least_squares(objective, "normal")
    recorder = IterationRecorder(oracle, callback)
    gram = oracle.gram()
    weight_sum = oracle.weight_sum
    if weight_sum <= 0:
        raise ValueError("Sample weights must contain at least one positive value; all are 0.")
    scale = objective.penalty_scale(weight_sum)
    strength = scale * objective.penalty.strength if isinstance(objective.penalty, L2) else 0.0
    lhs = gram["xx"].copy()
    lhs[np.diag_indices_from(lhs)] += strength
    rhs = gram["xy"]
    if positive:
        weights = _non_negative_least_squares(lhs, rhs)
    else:
        try:
            factor = scipy.linalg.cho_factor(lhs, check_finite=False)
            weights = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
            if not np.all(np.isfinite(weights)):
                raise scipy.linalg.LinAlgError("non-finite Cholesky solution")
        except (scipy.linalg.LinAlgError, ValueError):
            weights = scipy.linalg.lstsq(lhs, rhs, check_finite=False)[0]
    coef = weights
    if objective.fit_intercept:
        intercept = gram["mean_y"] - gram["mean_x"] @ weights
        coef = np.vstack([weights, intercept])
    # Objective at the solution from the same statistics: no second pass.
    residual_ss = gram["yy"] - 2 * weights.T @ gram["xy"] + weights.T @ gram["xx"] @ weights
    value = (
        0.5 * float(np.trace(residual_ss)) + scale * objective.penalty.value(weights)
    ) / weight_sum
    grad = (lhs @ weights - rhs) / weight_sum
    if positive:  # at a bound, only the gradient that points inside counts
        grad = np.where((weights == 0) & (grad > 0), 0.0, grad)
    recorder.record(1, value, grad.ravel(), None)
    return SolverResult(coef.ravel(), 1, True, recorder.history, "solved normal equations")


def _non_negative_least_squares(gram: FloatArray, cross: FloatArray) -> FloatArray:
    """``argmin_{w >= 0} 1/2 w'Gw - c'w`` per column of ``cross``, by ``nnls`` on a
    square root ``A'A = G`` (so ``||A w - b||^2`` is the objective plus a constant)."""
    values, vectors = scipy.linalg.eigh(gram, check_finite=False)
    keep = values > values.max(initial=0.0) * gram.shape[0] * np.finfo(np.float64).eps
    root = np.sqrt(values[keep])
    A = (vectors[:, keep] * root).T  # A'A = G on its range
    weights = np.empty((gram.shape[0], cross.shape[1]))
    for k in range(cross.shape[1]):
        b = (vectors[:, keep].T @ cross[:, k]) / root
        weights[:, k] = scipy.optimize.nnls(A, b, maxiter=50 * gram.shape[0])[0]
    return weights
