"""Newton (or proximal Newton) on every cross-validation fold in lockstep (NumPy only).

Each fold is its own problem (its training rows, its coefficients), solved by
exactly the steps of :func:`daskgd.solvers.newton.solve_newton` (or, with an L1
part, :func:`daskgd.solvers.prox_newton.solve_prox_newton`); what is shared is
the pass. Every pass evaluates, at once, the trial point of every fold still
running: a fold whose Armijo test fails halves its own step for the next pass, a
fold that accepts takes its next Newton step, and a converged fold is left out
of every later pass. A fold may start from a point already evaluated (the
previous C of a path: the data sums do not depend on C), which costs no pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daskgd.objective import FloatArray, LinearObjective, Partial
from daskgd.penalties import ElasticNet
from daskgd.solvers._cd_kernel import l1_quadratic_cd
from daskgd.solvers._result import SolverResult
from daskgd.solvers.newton import ARMIJO_SLOPE, MAX_HALVINGS, newton_direction
from daskgd.solvers.prox_newton import INNER_SWEEPS, l1_weights, optimality

#: ``evaluate(points)``: one pass; the data sums (``n``, ``loss``, ``grad``, ``hess``,
#: and whatever else the pass adds) of every fold of ``points`` at its coefficients.
Evaluate = Callable[[dict[int, FloatArray]], Mapping[int, Partial]]

_EPS = np.finfo(float).eps


@dataclass
class _Fold:
    """The state of one fold's run."""

    objective: LinearObjective
    coef: FloatArray
    partial: Partial | None = None
    value: float = np.inf
    grad: FloatArray | None = None
    hess: FloatArray | None = None
    l1: FloatArray | None = None
    measure: float = np.inf
    n_iter: int = 0
    step: float = 1.0
    halvings: int = 0
    direction: FloatArray | None = None
    decrease: float = 0.0
    trial: FloatArray | None = None
    done: bool = False
    converged: bool = False
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def proximal(self) -> bool:
        penalty = self.objective.penalty
        return isinstance(penalty, ElasticNet) and not penalty.is_smooth

    def finalize(self, coef: FloatArray, partial: Partial) -> tuple[float, FloatArray, FloatArray]:
        """Value, gradient (of the smooth part, with an L1 part) and Hessian at ``coef``."""
        weight_sum = float(partial["n"])
        if not weight_sum > 0:
            raise ValueError(
                "Sample weights must contain at least one positive value in every fold's "
                "training rows; one fold's are all 0."
            )
        objective = self.objective
        value, grad = objective.finalize_loss_grad(partial, coef, weight_sum)
        hess = objective.finalize_hessian(partial, coef, weight_sum)
        if self.proximal:
            self.l1 = l1_weights(objective, weight_sum)
            grad = grad - self.l1 * np.sign(coef)  # the smooth part's gradient
        return value, grad, hess

    def optimality(self, coef: FloatArray, grad: FloatArray) -> float:
        if self.l1 is None:
            return float(np.max(np.abs(grad), initial=0.0))
        return optimality(coef, grad, self.l1)

    def receive(self, partial: Partial) -> None:
        """Take the sums of the point evaluated for this fold (its start, or a trial)."""
        if self.trial is None:
            self.value, self.grad, self.hess = self.finalize(self.coef, partial)
            self.partial = partial
            self.measure = self.optimality(self.coef, self.grad)
            return
        value, grad, hess = self.finalize(self.trial, partial)
        # The Armijo test on the directional derivative (proximal: the model's decrease).
        sufficient = value <= self.value + ARMIJO_SLOPE * self.step * self.decrease
        measure = self.optimality(self.trial, grad)
        rounding = abs(value - self.value) <= 16 * _EPS * abs(self.value) and measure < self.measure
        if sufficient or rounding:
            self.coef, self.partial = self.trial, partial
            self.value, self.grad, self.hess, self.measure = value, grad, hess, measure
            self.n_iter += 1
            self.trial = None
            self.history.append(
                {
                    "iteration": self.n_iter,
                    "objective": float(value),
                    "grad_norm": measure,
                    "step_size": self.step,
                }
            )
            return
        self.step *= 0.5
        self.halvings += 1
        # A decrease below the objective's rounding cannot be seen by any shorter step:
        # halving on would only spend passes (30 of them, once, at wine's C=100).
        unseen = abs(self.step * self.decrease) <= 16 * _EPS * abs(self.value)
        if self.halvings >= MAX_HALVINGS or unseen:
            self.trial = None
            self.stop(False, "line search failed to decrease")
            return
        assert self.direction is not None
        self.trial = self.coef + self.step * self.direction

    def stop(self, converged: bool, message: str) -> None:
        self.done, self.converged, self.message = True, converged, message

    def next_point(self, tol: float, max_iter: int, min_iter: int) -> FloatArray | None:
        """The point this fold needs evaluated in the next pass (None once it is done)."""
        if self.done:
            return None
        if self.trial is not None:  # a halved step
            return self.trial
        if self.measure <= tol and self.n_iter >= min(min_iter, max_iter):
            self.stop(True, "gradient below tol")
            return None
        if self.n_iter >= max_iter:
            self.stop(False, "max_iter reached")
            return None
        assert self.grad is not None and self.hess is not None
        if self.l1 is None:
            direction = newton_direction(self.hess, self.grad)
            slope = float(self.grad @ direction)
            if slope >= 0:  # not a descent direction (Hessian numerically singular)
                direction, slope = -self.grad, -float(self.grad @ self.grad)
        else:
            Q = np.ascontiguousarray(self.hess)
            target = self.coef.copy()
            accuracy = max(0.1 * self.measure, 0.1 * tol)
            l1_quadratic_cd(target, Q, Q @ self.coef - self.grad, self.l1, INNER_SWEEPS, accuracy)
            direction = target - self.coef
            slope = float(self.grad @ direction + self.l1 @ (np.abs(target) - np.abs(self.coef)))
            if slope >= 0:  # the model sees no descent: rounding at the optimum
                self.stop(self.measure <= tol, "no descent direction")
                return None
        self.direction, self.decrease = direction, slope
        self.step, self.halvings = 1.0, 0
        self.trial = self.coef + direction
        return self.trial


@dataclass
class FoldsResult:
    """The outcome of a lockstep run over the folds.

    Attributes
    ----------
    results : dict of int to SolverResult
        Each fold's result; ``info["partial"]`` holds the data sums at its ``coef``.
    n_passes : int
        Passes made (evaluations of the folds' points).
    """

    results: dict[int, SolverResult]
    n_passes: int


def solve_newton_folds(
    objective: LinearObjective,
    evaluate: Evaluate,
    starts: Mapping[int, FloatArray],
    *,
    known: Mapping[int, Partial] | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    min_iter: int = 0,
) -> FoldsResult:
    """Minimise every fold's objective by (proximal) Newton steps, sharing the passes.

    Steps, per fold as in ``solve_newton`` / ``solve_prox_newton``: (1) the value,
    gradient and Hessian at the start (from ``known``, or the first pass); (2) stop
    when the largest entry of the (minimum-norm sub)gradient is at most ``tol``, or
    after ``max_iter`` steps; (3) the Newton direction (Cholesky), or the
    proximal Newton step (coordinate descent on the L1-penalised quadratic model);
    (4) a unit trial step, halved after every failed Armijo test. Steps (3) and
    (4) of all running folds share one pass per trial.

    Parameters
    ----------
    objective : LinearObjective
        The loss, penalty (of this C and l1_ratio) and layout of every fold; its
        normalisation is each fold's own training weight sum (``n`` of its sums).
    evaluate : callable
        ``evaluate(points)`` makes one pass and returns the sums of every fold of
        ``points`` (a dict of fold to coefficients) at its point.
    starts : mapping of int to ndarray of shape (n_coef,)
        The starting point of each fold.
    known : mapping of int to dict, optional
        Sums already evaluated at some folds' starting points (of the same rows):
        those folds need no pass for their start.
    tol : float, default=1e-4
        Tolerance on the largest entry of each fold's (minimum-norm sub)gradient.
    max_iter : int, default=100
        Maximum number of steps of each fold.
    min_iter : int, default=0
        Steps each fold takes before its first convergence test (1: scikit-learn's
        newton-cholesky, which tests after each step only).

    Returns
    -------
    result : FoldsResult
    """
    if not (objective.loss.is_smooth and objective.penalty.is_smooth) and not isinstance(
        objective.penalty, ElasticNet
    ):
        raise ValueError(
            f"Lockstep Newton needs a smooth loss and an L2 or elastic-net penalty, "
            f"not {objective.loss!r} with {objective.penalty!r}."
        )
    known = known or {}
    folds = {
        k: _Fold(objective, np.asarray(start, dtype=np.float64).copy())
        for k, start in starts.items()
    }
    for k, partial in known.items():
        if k in folds:
            folds[k].receive(partial)
    pending: dict[int, FloatArray] = {}
    for k, fold in folds.items():
        point = fold.coef if fold.partial is None else fold.next_point(tol, max_iter, min_iter)
        if point is not None:
            pending[k] = point
    n_passes = 0
    while pending:
        sums = evaluate(pending)
        n_passes += 1
        for k in pending:
            folds[k].receive(sums[k])
        pending = {}
        for k, fold in folds.items():
            point = fold.next_point(tol, max_iter, min_iter)
            if point is not None:
                pending[k] = point
    results = {
        k: SolverResult(
            fold.coef,
            fold.n_iter,
            fold.converged,
            fold.history,
            fold.message,
            {"partial": fold.partial, "value": fold.value},
        )
        for k, fold in folds.items()
    }
    return FoldsResult(results, n_passes)
