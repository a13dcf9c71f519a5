"""The distributed oracle and chunk runner: adapters from the solvers to the engine.

:class:`DaskOracle` turns each evaluation the full-batch solvers ask for (value and
gradient, plus Hessian, or Gram statistics) into one
:class:`~daskgd.engine.reductions.ObjectiveReduction` pass of a
:class:`~daskgd.engine.frame.ChunkedFrame`; :class:`DaskChunks` gives the
stochastic solvers the frame's chains, averaging rounds and score passes. Neither
builds a graph itself: :mod:`daskgd.engine` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daskgd.engine.execution import (
    ChunkFailedError,
    contiguous_groups,
    map_row_blocks,
    worker_addresses,
)
from daskgd.engine.frame import ChunkedFrame
from daskgd.engine.reductions import (
    BlockTotals,
    LabelCounts,
    ObjectiveReduction,
    WeightSum,
    as_dict,
)
from daskgd.objective import FloatArray, LinearObjective, Partial
from daskgd.oracles._base import Oracle

__all__ = [
    "ChunkFailedError",
    "DaskChunks",
    "DaskOracle",
    "contiguous_groups",
    "map_row_blocks",
    "worker_addresses",
]


class DaskOracle(Oracle):
    """Evaluates the objective over the row chunks of a frame, one pass per evaluation.

    Parameters
    ----------
    objective : LinearObjective
        The loss, penalty and coefficient layout.
    X : dask array of shape (n_samples, n_features), optional
        Training data, chunked along rows only, with known chunk sizes.
    y : dask array of shape (n_samples, n_targets), optional
        Encoded targets, 2-D, with the same row chunks as ``X``.
    sample_weight : dask array of shape (n_samples,) or None
        Weights with the same row chunks as ``X``.
    cache : bool or "auto", default="auto"
        Keep the data in (worker) memory between passes (see :class:`ChunkedFrame`).
    split_every : int, default=8
        Fan-in of the combine tree.
    retries : int, default=0
        Reruns of a failed task before its exception reaches the fit.
    frame : ChunkedFrame, optional
        A frame with columns ``X``, ``y`` and ``sample_weight`` to use instead of
        ``X``, ``y`` and ``sample_weight`` (whose other passes then count in
        :attr:`data_passes` too).
    """

    def __init__(
        self,
        objective: LinearObjective,
        X: Any = None,
        y: Any = None,
        sample_weight: Any = None,
        *,
        cache: bool | str = "auto",
        split_every: int | None = None,
        retries: int = 0,
        frame: ChunkedFrame | None = None,
    ) -> None:
        super().__init__(objective)
        if frame is None:
            frame = ChunkedFrame(
                {"X": X, "y": y, "sample_weight": sample_weight},
                cache=cache,
                retries=retries,
                split_every=split_every,
            )
        self.frame = frame
        self.split_every = frame.split_every
        self.persisted = frame.persisted
        # Weighted: summed when first needed, unless a Gram pass (which sums them
        # too) comes first; one pass fewer for the one-pass solvers.
        self._weight_sum: float | None = (
            None if frame.has("sample_weight") else float(sum(frame.chunk_rows))
        )
        self.prior_passes = frame.n_passes

    @property
    def weight_sum(self) -> float:
        if self._weight_sum is None:
            self._weight_sum = float(self.frame.reduce(WeightSum()).total)
            self.prior_passes += 1
        return self._weight_sum

    def supply_weight_sum(self, total: float) -> None:
        """Take the weights' sum from a pass that found it already (no pass of its own)."""
        self._weight_sum = float(total)

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""
        return self.frame.n_chunks

    def graph(self, kind: str, coef: FloatArray | None) -> Any:
        """The task graph of one evaluation on the streamed path: chunk tasks, then a tree."""
        return self.frame.graph(ObjectiveReduction(self.objective, kind), coef)

    def _reduce(self, kind: str, coef: Any) -> Partial:
        total = as_dict(self.frame.reduce(ObjectiveReduction(self.objective, kind), coef))
        if kind in ("gram", "working_set") and self._weight_sum is None:
            self._weight_sum = float(total["n"])
        return total


@dataclass(frozen=True)
class _IndexedBlockFunction:
    """``function(chunk_index, *blocks)`` as a :class:`BlockTotals` function (picklable)."""

    function: Callable[..., dict[str, float]]

    def __call__(self, broadcast: Any, chunk_index: int, *blocks: Any) -> dict[str, float]:
        return self.function(chunk_index, *blocks)


class DaskChunks:
    """Row chunks of dask arrays, visited by task chains: the model moves, the data stays.

    The same interface as :class:`daskgd.oracles.numpy.InMemoryChunks`; every
    method is one pass of a :class:`ChunkedFrame`.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        Training data, chunked along rows only.
    y : dask array of shape (n_samples,) or (n_samples, n_targets)
        Targets with the same row chunks.
    sample_weight : dask array of shape (n_samples,) or None
        Weights with the same row chunks.
    cache : bool or "auto", default="auto"
        Keep the data in worker memory between passes (see :class:`ChunkedFrame`).
    n_groups : int, optional
        Number of chunk groups for map-reduce rounds (default: one per worker).
    retries : int, default=0
        Reruns of a failed task before its exception reaches the fit.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        cache: bool | str = "auto",
        n_groups: int | None = None,
        retries: int = 0,
    ) -> None:
        # The arrays check their own values as they are read (validation.check_blocks).
        self.frame = ChunkedFrame(
            {"X": X, "y": y, "sample_weight": sample_weight},
            cache=cache,
            retries=retries,
            check=False,
            n_groups=n_groups,
        )
        self.groups = self.frame.groups
        self.persisted = self.frame.persisted
        self.chunk_rows = self.frame.chunk_rows

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""
        return self.frame.n_chunks

    @property
    def n_passes(self) -> int:
        """Passes made over the data so far."""
        return self.frame.n_passes

    def chain(self, step: Callable[..., Any], state: Any, order: Sequence[int]) -> Any:
        """``state = step(state, index, *block)`` over the chunks in ``order``, on the workers."""
        return self.frame.chain(step, state, order, "daskgd-sgd-chunk")

    def average_round(
        self,
        step: Callable[..., Any],
        state: Any,
        groups: Sequence[Sequence[int]],
        local_epochs: int,
        average: Callable[..., Any],
    ) -> Any:
        """Every group trains its own copy of ``state`` on its worker; then average."""
        return self.frame.average_round(
            step, state, groups, local_epochs, average, "daskgd-sgd-local"
        )

    def map_reduce(self, block_function: Callable[..., Any], combine: Callable[..., Any]) -> Any:
        """Totals of ``block_function(index, *block)`` (dicts of floats) over every chunk."""
        totals = self.frame.reduce(BlockTotals(_IndexedBlockFunction(block_function)))
        return totals.totals

    def head(self, n_rows: int) -> tuple[Any, Any, Any]:
        """The first rows (at least one chunk's worth), computed to memory."""
        X, y, weight = self.frame.head(n_rows, ["X", "y", "sample_weight"])
        return X, y, weight

    def label_counts(self) -> tuple[Any, Any, float]:
        """Sorted distinct labels of ``y``, their counts, and the weights' total (one pass)."""
        weighted = self.frame.has("sample_weight")
        labels = self.frame.reduce(LabelCounts("y", "sample_weight" if weighted else None))
        return labels.values, labels.counts, float(labels.weights.sum())

    def weight_sum(self) -> float:
        """Sum of the sample weights (one pass; the number of rows when unweighted)."""
        if not self.frame.has("sample_weight"):
            return float(sum(self.chunk_rows))
        return float(self.frame.reduce(WeightSum()).total)
