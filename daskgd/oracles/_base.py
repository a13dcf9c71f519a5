"""What every oracle offers the solvers: the objective and its derivatives at a point."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from daskgd.objective import FloatArray, LinearObjective, Partial


class Oracle(ABC):
    """Evaluates a :class:`~daskgd.objective.LinearObjective` over all rows of the data.

    Subclasses implement :meth:`_reduce`, one pass over the data that returns the
    reduced block partials; this class normalises them, adds the penalty and
    counts the passes.

    Parameters
    ----------
    objective : LinearObjective
        The loss, penalty and coefficient layout.
    """

    def __init__(self, objective: LinearObjective) -> None:
        self.objective = objective
        self.n_passes = 0
        #: Passes over the data made before this oracle's (labels, weight sums).
        self.prior_passes = 0
        self._supplied: tuple[str, FloatArray, Partial] | None = None

    @property
    def data_passes(self) -> int:
        """Passes over the data of the whole fit: those made before this oracle, and its own."""
        return self.prior_passes + self.n_passes

    @property
    @abstractmethod
    def weight_sum(self) -> float:
        """``S``, the sum of the sample weights (the number of rows when unweighted)."""

    def supply_weight_sum(self, total: float) -> None:  # noqa: B027 (optional hook)
        """Take ``S`` from an earlier pass that found it, so that none is spent on it."""

    def supply_totals(self, kind: str, coef: FloatArray, total: Partial) -> None:
        """Take one evaluation's reduced totals from an earlier pass that found them.

        The next evaluation of ``kind`` (or of ``"loss_grad"``, when ``kind`` is
        ``"loss_grad_hess"``) at exactly ``coef`` uses ``total`` and makes no pass.
        """
        self._supplied = (kind, np.array(coef, dtype=np.float64), total)

    @abstractmethod
    def _reduce(self, kind: str, coef: Any) -> Partial:
        """One pass over the data: block partials of ``kind`` reduced to one dict.

        ``coef`` is what every block is given: the flat coefficients, None for
        ``"gram"``, and ``(coef, columns)`` for ``"working_set"``.
        """

    def _pass(self, kind: str, coef: FloatArray | None) -> Partial:
        if self._supplied is not None and coef is not None:
            supplied_kind, supplied_coef, total = self._supplied
            covers = kind == supplied_kind or (kind, supplied_kind) == (
                "loss_grad",
                "loss_grad_hess",
            )
            if covers and np.array_equal(coef, supplied_coef):
                self._supplied = None
                return total
        self.n_passes += 1
        return self._reduce(kind, coef)

    def value_and_grad(self, coef: FloatArray) -> tuple[float, FloatArray]:
        """Objective value and gradient at ``coef`` (one pass)."""
        total = self._pass("loss_grad", coef)
        return self.objective.finalize_loss_grad(total, coef, self.weight_sum)

    def value_grad_hessian(self, coef: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        """Objective value, gradient and Hessian at ``coef`` (one pass)."""
        total = self._pass("loss_grad_hess", coef)
        value, grad = self.objective.finalize_loss_grad(total, coef, self.weight_sum)
        return value, grad, self.objective.finalize_hessian(total, coef, self.weight_sum)

    def gram(self) -> Partial:
        """Weighted means and centred cross-products of ``X`` and ``y`` (one pass)."""
        return self._pass("gram", None)

    def working_set(self, coef: FloatArray, columns: np.ndarray) -> Partial:
        """Residual statistics at ``coef`` and the Gram statistics of ``columns`` (one pass).

        See :func:`daskgd.working_sets.block_working_set`.
        """
        self.n_passes += 1
        return self._reduce("working_set", (np.asarray(coef), np.asarray(columns)))

    def prox(self, coef: FloatArray, step_size: float) -> FloatArray:
        """Proximal step of the non-smooth part of the objective (identity when smooth)."""
        if self.objective.penalty.is_smooth:
            return coef
        n_features = self.objective.n_features
        matrix = np.array(coef, dtype=np.float64).reshape(self.objective.n_rows, -1)
        scale = self.objective.penalty_scale(self.weight_sum)
        matrix[:n_features] = self.objective.penalty.prox(
            matrix[:n_features], step_size * scale / self.weight_sum
        )
        return matrix.ravel()
