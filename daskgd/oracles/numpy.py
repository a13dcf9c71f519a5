"""The in-memory reference oracle: the whole array is one block."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from daskgd.objective import FloatArray, LinearObjective, Partial
from daskgd.oracles._base import Oracle
from daskgd.working_sets import block_working_set


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
        # Summing the weights reads them once, as the dask oracle's weight pass does
        # (counted when first needed, unless a Gram pass, which sums them too, came first).
        self._weights_summed = sample_weight is None

    def supply_weight_sum(self, total: float) -> None:
        """Count the weights as summed by a pass that read them already."""
        self._weights_summed = True

    @property
    def weight_sum(self) -> float:
        if not self._weights_summed:
            self._weights_summed = True
            self.prior_passes += 1
        return self._weight_sum

    def _reduce(self, kind: str, coef: Any) -> Partial:
        if kind == "gram":
            self._weights_summed = True
            return self.objective.block_gram(self.X, self.y, self.sample_weight)
        if kind == "working_set":
            self._weights_summed = True
            point, columns = coef
            return block_working_set(
                self.objective, self.X, self.y, self.sample_weight, point, columns
            )
        assert coef is not None
        if kind == "loss_grad":
            return self.objective.block_loss_grad(self.X, self.y, self.sample_weight, coef)
        return self.objective.block_loss_grad_hess(self.X, self.y, self.sample_weight, coef)


class InMemoryChunks:
    """Row chunks held in memory, visited in process (the reference of :class:`DaskChunks`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training data.
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights.
    chunk_rows : int, optional
        Rows per chunk; one chunk by default.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        chunk_rows: int | None = None,
    ) -> None:
        n_samples = X.shape[0]
        size = max(1, chunk_rows or n_samples)
        starts = range(0, max(n_samples, 1), size)
        self.blocks = [
            (
                X[start : start + size],
                y[start : start + size],
                None if sample_weight is None else sample_weight[start : start + size],
            )
            for start in starts
        ]
        self.chunk_rows = tuple(int(block[0].shape[0]) for block in self.blocks)
        self.persisted = True
        self.n_passes = 0

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""
        return len(self.blocks)

    def chain(self, step: Callable[..., Any], state: Any, order: Sequence[int]) -> Any:
        """``state = step(state, index, *block)`` over the chunks in ``order``."""
        for index in order:
            state = step(state, index, *self.blocks[index])
        return state

    def average_round(
        self,
        step: Callable[..., Any],
        state: Any,
        groups: Sequence[Sequence[int]],
        local_epochs: int,
        average: Callable[..., Any],
    ) -> Any:
        """Every group trains its own copy of ``state`` for ``local_epochs``; then average."""
        finals = []
        for group in groups:
            current = state
            for _ in range(local_epochs):
                current = self.chain(step, current, group)
            finals.append(current)
        return average(*finals)

    def map_reduce(self, block_function: Callable[..., Any], combine: Callable[..., Any]) -> Any:
        """``combine`` of ``block_function(index, *block)`` over every chunk."""
        return combine(*[block_function(i, *block) for i, block in enumerate(self.blocks)])

    def label_counts(self) -> tuple[Any, Any, float]:
        """Sorted distinct labels of ``y``, their counts, and the weights' total (one pass)."""
        self.n_passes += 1
        labels = np.concatenate([np.asarray(block[1]).ravel() for block in self.blocks])
        values, counts = np.unique(labels, return_counts=True)
        return values, counts, self._weight_total()

    def weight_sum(self) -> float:
        """Sum of the sample weights (one pass; the number of rows when unweighted)."""
        self.n_passes += 1
        return self._weight_total()

    def _weight_total(self) -> float:
        weights = [np.asarray(block[2]) for block in self.blocks if block[2] is not None]
        return float(np.sum(np.concatenate(weights))) if weights else float(sum(self.chunk_rows))

    def head(self, n_rows: int) -> tuple[Any, Any, Any]:
        """The first rows (at least one chunk's worth), in memory."""
        X, y, weight = self.blocks[0]
        return X[:n_rows], y[:n_rows], None if weight is None else weight[:n_rows]
