"""The in-memory reference oracle: the whole array is one block."""

from __future__ import annotations

import numpy as np

from daskgd.objective import FloatArray, LinearObjective, Partial
from daskgd.oracles._base import Oracle


class NumpyOracle(Oracle):
    """Evaluates the objective on NumPy arrays held in memory.

    Parameters
    ----------
    objective : LinearObjective
        The loss, penalty and coefficient layout.
    X : ndarray of shape (n_samples, n_features)
        Training data.
    y : ndarray of shape (n_samples, n_targets)
        Encoded targets, 2-D.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; ``None`` weighs every row 1.
    """

    def __init__(
        self,
        objective: LinearObjective,
        X: FloatArray,
        y: FloatArray,
        sample_weight: FloatArray | None = None,
    ) -> None:
        super().__init__(objective)
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self._weight_sum = (
            float(X.shape[0]) if sample_weight is None else float(np.sum(sample_weight))
        )

    @property
    def weight_sum(self) -> float:
        return self._weight_sum

    def _reduce(self, kind: str, coef: FloatArray | None) -> Partial:
        if kind == "gram":
            return self.objective.block_gram(self.X, self.y, self.sample_weight)
        assert coef is not None
        if kind == "loss_grad":
            return self.objective.block_loss_grad(self.X, self.y, self.sample_weight, coef)
        return self.objective.block_loss_grad_hess(self.X, self.y, self.sample_weight, coef)
