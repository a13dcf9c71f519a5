"""The passes of a cross-validated logistic path: chunk label tables, and every fold at once.

:class:`ChunkLabels` gives each chunk's class counts and first rows (from which
:mod:`daskgd.stratified` finds the folds of unshuffled ``StratifiedKFold``), and
:class:`FoldNewtonPass` evaluates every requested fold, at its own coefficients,
in one pass (:func:`daskgd.folds.block_fold_pass`). Both run on the workers and
import only NumPy-level modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from daskgd.engine.reductions import Reduction
from daskgd.objective import LinearObjective, aligned_block, sum_partials
from daskgd.stratified import ChunkLabelTable, chunk_label_table


@dataclass(frozen=True)
class ChunkLabelsPartial:
    """The label tables of a run of chunks, in chunk order.

    Attributes
    ----------
    tables : tuple of (int, ChunkLabelTable)
        Chunk index and table of each chunk.
    """

    tables: tuple[tuple[int, ChunkLabelTable], ...]

    def merge(self, other: ChunkLabelsPartial) -> ChunkLabelsPartial:
        """The tables of both runs of chunks."""
        return ChunkLabelsPartial(self.tables + other.tables)


@dataclass(frozen=True)
class ChunkLabels(Reduction):
    """Every chunk's distinct labels, with their counts, first rows and weight sums."""

    column: str = "y"
    weight_column: str | None = None
    name: ClassVar[str] = "daskgd-chunk-labels"

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.column,) if self.weight_column is None else (self.column, self.weight_column)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> ChunkLabelsPartial:
        weights = blocks[1] if len(blocks) > 1 else None
        return ChunkLabelsPartial(((chunk_index, chunk_label_table(blocks[0], weights)),))


@dataclass(frozen=True)
class FoldSumsPartial:
    """Each fold's training sums and test scores over some rows (dicts, by fold).

    Attributes
    ----------
    folds : tuple of (int, dict)
        Fold and its :func:`daskgd.folds.block_fold_pass` sums, in the order requested.
    """

    folds: tuple[tuple[int, dict[str, Any]], ...]

    def merge(self, other: FoldSumsPartial) -> FoldSumsPartial:
        """The sums of both sets of rows, fold by fold."""
        return FoldSumsPartial(
            tuple(
                (k, sum_partials([a, b]))
                for (k, a), (_, b) in zip(self.folds, other.folds, strict=True)
            )
        )


@dataclass(frozen=True)
class FoldNewtonPass(Reduction):
    """Every requested fold's loss, gradient (and Hessian) and test scores, in one pass.

    The broadcast is ``(assignment, first_rows, class_weight, points)``: an object
    with ``folds_of_chunk(chunk_index, first_row, encoded)`` (a
    :class:`daskgd.folds.FoldRuns` or :class:`daskgd.stratified.StratifiedRanks`),
    the first row of every chunk, the weight of each class index (or None), and the
    coefficients of each fold to evaluate (a dict). The ``y`` column holds class
    indices.
    """

    objective: LinearObjective
    with_hessian: bool = True
    name: ClassVar[str] = "daskgd-fold-newton"
    broadcast_name: ClassVar[str] = "daskgd-fold-coef"

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> FoldSumsPartial:
        from daskgd.folds import block_fold_pass

        assignment, first_rows, class_weight, points = broadcast
        X, y, sample_weight = (aligned_block(block) for block in blocks)
        fold = assignment.folds_of_chunk(chunk_index, int(first_rows[chunk_index]), y)
        sums = block_fold_pass(
            self.objective, X, y, sample_weight, fold, class_weight, points, self.with_hessian
        )
        return FoldSumsPartial(tuple((k, sums[k]) for k in points))
