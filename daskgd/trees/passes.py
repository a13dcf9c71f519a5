"""The passes of a boosting fit as engine reductions and derive functions (run on workers).

NumPy and the numba kernels only: a worker that runs them imports this module,
the engine's reductions and block checks, and the tree modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daskgd.engine.blocks import IMPUTE_HINT, first_bad_row
from daskgd.engine.reductions import Reduction
from daskgd.trees.binning import sample_of_chunk
from daskgd.trees.losses import BoostingLoss
from daskgd.trees.partitions import ROW_PARTITIONS
from daskgd.trees.quantiles import BucketStats, bucket_stats
from daskgd.trees.tree import TreeArrays


def validation_rows(chunk_index: int, n_rows: int, fraction: float, seed: int) -> np.ndarray:
    """Rows of a chunk held out for early stopping: a fixed, seeded share of each chunk."""
    if fraction <= 0:
        return np.zeros(n_rows, dtype=bool)
    rng = np.random.default_rng([seed, 1, chunk_index])
    return rng.random(n_rows) < fraction


@dataclass(frozen=True)
class Holdout:
    """Which rows are held out: ``fraction`` of each chunk, drawn with ``seed``."""

    fraction: float = 0.0
    seed: int = 0

    def mask(self, chunk_index: int, n_rows: int) -> np.ndarray:
        return validation_rows(chunk_index, n_rows, self.fraction, self.seed)


# ---- the binning sample, with the value checks of the fit ----


@dataclass(frozen=True)
class SamplePartial:
    """Sampled rows of X, the weight of the training rows, and their target totals.

    Attributes
    ----------
    row_blocks : tuple of ndarray
        The sampled rows of X, chunk by chunk in chunk order (concatenated once,
        by :attr:`rows`, not at every merge).
    weight_blocks : tuple of ndarray
        Their sample weights (ones when unweighted), likewise.
    weight : float
        Weight of the training (not held-out) rows.
    weighted_y : float
        Their weighted target sum (regression).
    labels : ndarray
        Sorted distinct labels of every row, held out or not (classification).
    label_weights : ndarray
        Weight of the training rows of each label.
    label_counts : ndarray
        Rows of each label, held out or not (for balanced class weights).
    y_min : float
        The smallest target (regression; the range of the loss is checked on it).
    """

    row_blocks: tuple[np.ndarray, ...]
    weight_blocks: tuple[np.ndarray, ...]
    weight: float
    weighted_y: float
    labels: np.ndarray
    label_weights: np.ndarray
    label_counts: np.ndarray
    y_min: float = np.inf

    @property
    def rows(self) -> np.ndarray:
        """The sampled rows of X, in chunk order."""
        return np.concatenate(self.row_blocks)

    @property
    def row_weights(self) -> np.ndarray:
        """Their sample weights."""
        return np.concatenate(self.weight_blocks)

    def merge(self, other: SamplePartial) -> SamplePartial:
        labels, inverse = np.unique(
            np.concatenate([self.labels, other.labels]), return_inverse=True
        )
        inverse = inverse.ravel()
        label_weights = np.bincount(
            inverse,
            weights=np.concatenate([self.label_weights, other.label_weights]),
            minlength=len(labels),
        )
        label_counts = np.bincount(
            inverse,
            weights=np.concatenate([self.label_counts, other.label_counts]),
            minlength=len(labels),
        )
        return SamplePartial(
            self.row_blocks + other.row_blocks,
            self.weight_blocks + other.weight_blocks,
            self.weight + other.weight,
            self.weighted_y + other.weighted_y,
            labels,
            label_weights,
            label_counts,
            min(self.y_min, other.y_min),
        )


def _where(chunk_index: int, first_row: int, row: int) -> str:
    return f"chunk {chunk_index} at row {first_row + row} (row {row} of the chunk)"


def check_tree_inputs(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    chunk_index: int,
    first_row: int,
) -> None:
    """NaN in X is a value; infinity in X, and NaN or infinity in y or weights, is an error."""
    values = np.asarray(X)
    if values.dtype.kind == "f":
        infinite = np.isinf(values).any(axis=1)
        if infinite.any():
            row = int(np.argmax(infinite))
            raise ValueError(
                f"Input X contains infinity in {_where(chunk_index, first_row, row)}. "
                f"NaN is allowed (a missing value); replace infinite values {IMPUTE_HINT}."
            )
    for name, block, non_negative in (("y", y, False), ("sample_weight", sample_weight, True)):
        if block is None:
            continue
        bad = first_bad_row(np.asarray(block), non_negative=non_negative)
        if bad is None:
            continue
        row, problem = bad
        if problem == "negative":
            raise ValueError(
                f"Negative values in data passed to `sample_weight`: "
                f"{_where(chunk_index, first_row, row)}."
            )
        raise ValueError(
            f"Input {name} contains NaN or infinity in {_where(chunk_index, first_row, row)}."
        )


@dataclass(frozen=True)
class BinningSample(Reduction):
    """The rows the bin edges come from, and the sums the baseline needs; checks the inputs.

    Broadcast: ``(rows_per_chunk, first_rows, seed, holdout)``.
    """

    classifier: bool = False
    name = "daskgd-hgb-sample"
    columns = ("X", "y", "sample_weight")
    # 200,000 rows of every feature: no worker should hold them twice while merging.
    combine_on_client = True

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> SamplePartial:
        rows_per_chunk, first_rows, seed, holdout = broadcast
        X, y, sample_weight = blocks
        check_tree_inputs(X, y, sample_weight, chunk_index, first_rows[chunk_index])
        held_out = holdout.mask(chunk_index, len(X))
        train = ~held_out
        weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        target = np.asarray(y).reshape(len(X), -1)[:, 0]
        train_rows = np.flatnonzero(train)
        taken = train_rows[
            sample_of_chunk(len(train_rows), chunk_index, rows_per_chunk[chunk_index], seed)
        ]
        sample = np.asarray(X, dtype=np.float64)[taken]
        sample_weights = weight[taken]
        if self.classifier:
            labels, inverse = np.unique(target, return_inverse=True)
            inverse = inverse.ravel()
            label_weights = np.bincount(
                inverse[train], weights=weight[train], minlength=len(labels)
            )
            label_counts = np.bincount(inverse, minlength=len(labels)).astype(np.float64)
            return SamplePartial(
                (sample,),
                (sample_weights,),
                float(weight[train].sum()),
                0.0,
                labels,
                label_weights,
                label_counts,
            )
        return SamplePartial(
            (sample,),
            (sample_weights,),
            float(weight[train].sum()),
            # A pairwise sum, as np.average's: a BLAS dot rounds another way.
            float(np.sum(weight[train] * np.asarray(target[train], dtype=np.float64))),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
            float(np.min(target)) if len(target) else np.inf,
        )


# ---- per-row columns ----


def initial_raw(y: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The raw prediction of every row before any tree: the baseline."""
    return np.tile(np.asarray(baseline, dtype=np.float64), (len(y), 1))


def row_gradients(
    raw: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, loss: BoostingLoss
) -> np.ndarray:
    """Gradients and hessians of every row, shape (n_rows, n_trees, 2), float32."""
    return loss.gradients(raw, y, sample_weight)


@dataclass(frozen=True)
class AddTrees:
    """A derive function: ``raw`` plus the values of some iterations' trees (picklable).

    ``iterations[i][k]`` is the tree of class ``k`` at the ``i``-th iteration; they are
    added in order, so adding several at once (a resumed fit) gives the same bits as
    adding them one iteration at a time.
    """

    iterations: tuple[tuple[TreeArrays, ...], ...]
    missing_bin: int

    def __call__(self, binned: np.ndarray, raw: np.ndarray) -> np.ndarray:
        updated = np.array(raw, dtype=np.float64, copy=True)
        for trees in self.iterations:
            for k, tree in enumerate(trees):
                updated[:, k] += tree.value[self._leaves(binned, k, tree)]
        return updated

    def _leaves(self, binned: np.ndarray, k: int, tree: TreeArrays) -> np.ndarray:
        """Every row's leaf: the training rows' from the partition that grew the tree
        when this worker keeps it (no row is routed again), the others routed."""
        leaves = ROW_PARTITIONS.leaves(binned, k, tree) if len(self.iterations) == 1 else None
        if leaves is None:
            return tree.leaves_of_binned(binned, self.missing_bin)
        outside = np.flatnonzero(leaves < 0)
        if len(outside):
            leaves[outside] = tree.leaves_of_binned(binned[outside], self.missing_bin)
        return leaves


# ---- histograms ----


@dataclass(frozen=True)
class HistogramPartial:
    """Per tree of the iteration, the histograms of the nodes asked for."""

    per_tree: tuple[np.ndarray, ...]

    def merge(self, other: HistogramPartial) -> HistogramPartial:
        return HistogramPartial(
            tuple(a + b for a, b in zip(self.per_tree, other.per_tree, strict=True))
        )


@dataclass(frozen=True)
class HistogramRequest:
    """What a histogram pass is told: the trees so far, which nodes to build, the holdout."""

    trees: tuple[TreeArrays, ...]
    slots: tuple[np.ndarray, ...]
    n_bins: int
    missing_bin: int
    holdout: Holdout
    #: Per tree, how many of its nodes are splits taken (the rest are this pass's
    #: tentative splits); empty: all of them.
    real_nodes: tuple[int, ...] = ()


@dataclass(frozen=True)
class NodeHistograms(Reduction):
    """One pass: the histograms of the requested nodes of every tree, over training rows."""

    name = "daskgd-hgb-histograms"
    columns = ("binned", "gradients")

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> HistogramPartial:
        request: HistogramRequest = broadcast
        binned, gradients = blocks
        parts = []
        for k, (tree, slots) in enumerate(zip(request.trees, request.slots, strict=True)):
            n_slots = int(slots.max()) + 1 if len(slots) else 0
            if n_slots == 0:
                parts.append(np.zeros((0, binned.shape[1], request.n_bins, 3)))
                continue
            n_real = request.real_nodes[k] if request.real_nodes else tree.n_nodes
            parts.append(
                ROW_PARTITIONS.histograms(
                    binned,
                    k,
                    tree,
                    n_real,
                    slots,
                    gradients[:, k, 0],
                    gradients[:, k, 1],
                    request.n_bins,
                    request.missing_bin,
                    lambda: request.holdout.mask(chunk_index, len(binned)),
                )
            )
        return HistogramPartial(tuple(parts))


# ---- losses for early stopping ----


@dataclass(frozen=True)
class LossPartial:
    """Weighted loss sums and weights of the training and the held-out rows."""

    train_loss: float
    train_weight: float
    validation_loss: float
    validation_weight: float

    def merge(self, other: LossPartial) -> LossPartial:
        return LossPartial(
            self.train_loss + other.train_loss,
            self.train_weight + other.train_weight,
            self.validation_loss + other.validation_loss,
            self.validation_weight + other.validation_weight,
        )


@dataclass(frozen=True)
class BoostingLosses(Reduction):
    """The mean losses of the current raw predictions. Broadcast: ``(loss, holdout)``."""

    name = "daskgd-hgb-loss"
    columns = ("raw", "y", "sample_weight")

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> LossPartial:
        loss, holdout = broadcast
        raw, y, sample_weight = blocks
        losses = loss.row_losses(raw, y)
        weight = np.ones(len(raw)) if sample_weight is None else np.asarray(sample_weight, float)
        held_out = holdout.mask(chunk_index, len(raw))
        train = ~held_out
        return LossPartial(
            float(weight[train] @ losses[train]),
            float(weight[train].sum()),
            float(weight[held_out] @ losses[held_out]),
            float(weight[held_out].sum()),
        )


def stack_histograms(partial: HistogramPartial) -> list[np.ndarray]:
    """The per-tree histograms of a pass's result."""
    return list(partial.per_tree)


def trees_tuple(trees: Sequence[TreeArrays]) -> tuple[TreeArrays, ...]:
    return tuple(trees)


# ---- percentiles of residuals per leaf (absolute_error, quantile) ----


@dataclass(frozen=True)
class ResidualRequest:
    """A residual pass's broadcast: the tree whose leaves group the rows, the intervals."""

    tree: TreeArrays
    missing_bin: int
    holdout: Holdout
    lo: np.ndarray
    hi: np.ndarray
    n_buckets: int = 1


def _training_residuals(
    request: ResidualRequest, chunk_index: int, blocks: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's residual ``y - raw``, weight and leaf (-1 for a held-out row)."""
    binned, raw, y, sample_weight = blocks
    residuals = np.asarray(y, dtype=np.float64).reshape(-1) - raw[:, 0]
    weights = np.ones(len(residuals)) if sample_weight is None else np.asarray(sample_weight, float)
    leaves = request.tree.leaves_of_binned(binned, request.missing_bin).astype(np.int64)
    leaves[request.holdout.mask(chunk_index, len(residuals))] = -1
    return residuals, weights, leaves


@dataclass(frozen=True)
class ResidualBuckets(Reduction):
    """Per leaf, the training rows' residuals counted in buckets of their interval."""

    name = "daskgd-hgb-residual-buckets"
    columns = ("binned", "raw", "y", "sample_weight")

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> BucketStats:
        request: ResidualRequest = broadcast
        residuals, weights, leaves = _training_residuals(request, chunk_index, blocks)
        return bucket_stats(residuals, weights, leaves, request.lo, request.hi, request.n_buckets)


@dataclass(frozen=True)
class GatheredResiduals:
    """Per leaf, residuals and weights of the rows inside its interval, in chunk order."""

    per_leaf: tuple[tuple[np.ndarray, np.ndarray], ...]

    def merge(self, other: GatheredResiduals) -> GatheredResiduals:
        return GatheredResiduals(
            tuple(
                (np.concatenate([r, other_r]), np.concatenate([w, other_w]))
                for (r, w), (other_r, other_w) in zip(self.per_leaf, other.per_leaf, strict=True)
            )
        )


@dataclass(frozen=True)
class GatherResiduals(Reduction):
    """The training rows' residuals inside their leaf's interval (few, by then)."""

    name = "daskgd-hgb-residuals"
    columns = ("binned", "raw", "y", "sample_weight")
    combine_on_client = True

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> GatheredResiduals:
        request: ResidualRequest = broadcast
        residuals, weights, leaves = _training_residuals(request, chunk_index, blocks)
        inside = leaves >= 0
        inside[inside] = (residuals[inside] >= request.lo[leaves[inside]]) & (
            residuals[inside] <= request.hi[leaves[inside]]
        )
        rows = np.flatnonzero(inside)
        rows = rows[np.argsort(leaves[rows], kind="stable")]  # by leaf, in row order
        ends = np.cumsum(np.bincount(leaves[rows], minlength=len(request.lo)))
        starts = ends - np.bincount(leaves[rows], minlength=len(request.lo))
        return GatheredResiduals(
            tuple(
                (residuals[rows[a:b]], weights[rows[a:b]])
                for a, b in zip(starts, ends, strict=True)
            )
        )


# ---- the rows an early-stopping scorer scores ----


@dataclass(frozen=True)
class ScoringRequest:
    """Which rows a scorer scores: per chunk, how many training rows (``train_counts``,
    drawn with ``seed``), and every held-out row of ``holdout``."""

    holdout: Holdout
    train_counts: tuple[int, ...]
    seed: int


@dataclass(frozen=True)
class RowSet:
    """Binned X, raw predictions, targets and weights (None: unweighted) of some rows."""

    binned: np.ndarray
    raw: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None

    @classmethod
    def concatenate(cls, sets: Sequence[RowSet]) -> RowSet:
        weights = [s.sample_weight for s in sets]
        return cls(
            np.concatenate([s.binned for s in sets]),
            np.concatenate([s.raw for s in sets]),
            np.concatenate([s.y for s in sets]),
            None if any(w is None for w in weights) else np.concatenate(weights),  # type: ignore[arg-type]
        )

    def take(self, rows: np.ndarray) -> RowSet:
        return RowSet(
            self.binned[rows],
            self.raw[rows],
            self.y[rows],
            None if self.sample_weight is None else self.sample_weight[rows],
        )

    def with_trees(self, add: AddTrees) -> RowSet:
        """The same rows, ``add``'s trees added to their raw predictions."""
        return RowSet(self.binned, add(self.binned, self.raw), self.y, self.sample_weight)


@dataclass(frozen=True)
class ScoringRowsPartial:
    """The training and the held-out rows to score, chunk by chunk in chunk order."""

    train: tuple[RowSet, ...]
    validation: tuple[RowSet, ...]

    def merge(self, other: ScoringRowsPartial) -> ScoringRowsPartial:
        return ScoringRowsPartial(self.train + other.train, self.validation + other.validation)


class GatherScoringRows(Reduction):
    """The rows an early-stopping scorer scores, brought to the client once per fit."""

    name = "daskgd-hgb-scoring-rows"
    columns = ("binned", "raw", "y", "sample_weight")
    combine_on_client = True

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> ScoringRowsPartial:
        request: ScoringRequest = broadcast
        binned, raw, y, sample_weight = blocks
        rows = RowSet(
            np.asarray(binned),
            np.asarray(raw, dtype=np.float64),
            np.asarray(y).reshape(len(binned), -1)[:, 0],
            None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
        )
        held_out = request.holdout.mask(chunk_index, len(binned))
        train_rows = np.flatnonzero(~held_out)
        taken = train_rows[
            sample_of_chunk(
                len(train_rows), chunk_index, request.train_counts[chunk_index], request.seed
            )
        ]
        return ScoringRowsPartial((rows.take(taken),), (rows.take(np.flatnonzero(held_out)),))
