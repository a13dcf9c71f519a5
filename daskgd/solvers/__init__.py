"""Optimisation loops that query an oracle (NumPy only).

Every solver has the signature ``solve(oracle, coef0, *, tol, max_iter, callback)``
and returns a :class:`SolverResult`.
"""

from __future__ import annotations

from collections.abc import Callable

from daskgd.losses import HalfSquaredError
from daskgd.objective import LinearObjective
from daskgd.penalties import L2, ElasticNet, NoPenalty
from daskgd.solvers._result import SolverResult
from daskgd.solvers.cd import solve_cd
from daskgd.solvers.gd import solve_gd
from daskgd.solvers.lbfgs import solve_lbfgs
from daskgd.solvers.newton import solve_newton
from daskgd.solvers.normal import solve_normal
from daskgd.solvers.prox_newton import solve_prox_newton
from daskgd.solvers.working_sets import solve_working_sets

SOLVERS: dict[str, Callable[..., SolverResult]] = {
    "cd": solve_cd,
    "gd": solve_gd,
    "lbfgs": solve_lbfgs,
    "newton": solve_newton,
    "normal": solve_normal,
    "prox-newton": solve_prox_newton,
    "working-sets": solve_working_sets,
}

#: Above this many coefficients the dense Hessian / Gram solves cost more than passes.
MAX_DENSE_COEF = 4096


def choose_solver(objective: LinearObjective) -> str:
    """The solver that needs the fewest passes over the data for ``objective``.

    Least squares with an L2 or no penalty: ``normal`` (one pass); with an L1 or
    elastic-net penalty: ``cd`` (one pass, then coordinate descent on the Gram
    matrix). Other smooth problems: ``newton`` (a handful of passes) while the
    Hessian is small enough to solve densely, ``lbfgs`` beyond. A smooth loss
    with an L1 or elastic-net penalty: ``prox-newton`` while the Hessian is
    small, ``gd`` (proximal) beyond; non-smooth losses: ``gd``.
    """
    dense_ok = objective.n_coef <= MAX_DENSE_COEF
    least_squares = (
        isinstance(objective.loss, HalfSquaredError) and objective.n_rows <= MAX_DENSE_COEF
    )
    if least_squares and isinstance(objective.penalty, (NoPenalty, L2)):
        return "normal"
    if least_squares and isinstance(objective.penalty, ElasticNet):
        return "cd"
    if objective.loss.is_smooth and isinstance(objective.penalty, ElasticNet) and dense_ok:
        return "prox-newton"
    if not (objective.loss.is_smooth and objective.penalty.is_smooth):
        return "gd"
    return "newton" if dense_ok else "lbfgs"


__all__ = ["SOLVERS", "SolverResult", "choose_solver"]
