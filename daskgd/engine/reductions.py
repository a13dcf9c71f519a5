"""Typed reductions: a chunk step and a combine step over mergeable partials (NumPy only).

A pass over the data is one :class:`Reduction`: ``chunk`` maps the blocks of one row
chunk (and whatever small object was broadcast to the pass) to a partial, and the
engine combines the partials of all chunks in an order fixed by chunk index
(:func:`tree_combine`), never by where the chunks ran. Partials are frozen
dataclasses with a ``merge`` method: ``a.merge(b)`` is the partial of the rows of
``a`` followed by those of ``b``.

Everything here runs on the workers and imports only NumPy and the block math of
:mod:`daskgd.objective`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from daskgd.objective import LinearObjective, merge_gram_partials
from daskgd.working_sets import WorkingSetPartial, block_working_set

P = TypeVar("P", bound="Mergeable")


class Mergeable(Protocol):
    """A partial result over some rows that merges with the partial of the rows after them."""

    def merge(self: P, other: P) -> P: ...


def _add_fields(left: P, right: P) -> P:
    """A dataclass of the same type whose every field is ``left``'s plus ``right``'s."""
    names = [f.name for f in fields(left)]  # type: ignore[arg-type]
    return type(left)(**{name: getattr(left, name) + getattr(right, name) for name in names})


@dataclass(frozen=True)
class LossGradPartial:
    """Weighted loss sum and its gradient over some rows.

    Attributes
    ----------
    n : float
        Sum of the rows' weights.
    loss : float
        Weighted loss sum.
    grad : ndarray of shape (n_coef,)
        Gradient of the loss sum in the flat coefficients.
    """

    n: float
    loss: float
    grad: np.ndarray

    def merge(self, other: LossGradPartial) -> LossGradPartial:
        """The partial of both sets of rows."""
        return _add_fields(self, other)


@dataclass(frozen=True)
class LossGradHessPartial:
    """:class:`LossGradPartial` plus the Hessian of the loss sum.

    Attributes
    ----------
    n : float
        Sum of the rows' weights.
    loss : float
        Weighted loss sum.
    grad : ndarray of shape (n_coef,)
        Gradient of the loss sum.
    hess : ndarray of shape (n_coef, n_coef)
        Hessian of the loss sum.
    """

    n: float
    loss: float
    grad: np.ndarray
    hess: np.ndarray

    def merge(self, other: LossGradHessPartial) -> LossGradHessPartial:
        """The partial of both sets of rows."""
        return _add_fields(self, other)


@dataclass(frozen=True)
class GramPartial:
    """Weighted means and centred cross-products of ``X`` and ``y`` over some rows.

    Merged with the pairwise update of Chan, Golub and LeVeque (see
    :func:`daskgd.objective.merge_gram_partials`).

    Attributes
    ----------
    n : float
        Sum of the rows' weights.
    mean_x : ndarray of shape (n_features,)
    mean_y : ndarray of shape (n_targets,)
    xx : ndarray of shape (n_features, n_features)
    xy : ndarray of shape (n_features, n_targets)
    yy : ndarray of shape (n_targets, n_targets)
    """

    n: float
    mean_x: np.ndarray
    mean_y: np.ndarray
    xx: np.ndarray
    xy: np.ndarray
    yy: np.ndarray

    def merge(self, other: GramPartial) -> GramPartial:
        """The partial of both sets of rows."""
        return GramPartial(**merge_gram_partials([as_dict(self), as_dict(other)]))


@dataclass(frozen=True)
class LabelCountsPartial:
    """Distinct values of a target over some rows, with their counts and weight sums.

    Attributes
    ----------
    values : ndarray of shape (n_values,)
        Sorted distinct values.
    counts : ndarray of shape (n_values,)
        Rows holding each value (int64).
    weights : ndarray of shape (n_values,)
        Sum of the sample weights of those rows (their count when unweighted).
    """

    values: np.ndarray
    counts: np.ndarray
    weights: np.ndarray

    def merge(self, other: LabelCountsPartial) -> LabelCountsPartial:
        """The partial of both sets of rows."""
        values = np.union1d(self.values, other.values)
        counts = np.zeros(len(values), dtype=np.int64)
        weights = np.zeros(len(values))
        for part in (self, other):
            index = np.searchsorted(values, part.values)
            counts[index] += part.counts
            weights[index] += part.weights
        return LabelCountsPartial(values, counts, weights)


@dataclass(frozen=True)
class SumPartial:
    """A running sum (a float or an array) and the number of rows it covers.

    Attributes
    ----------
    n_rows : int
        Rows summed.
    total : float or ndarray
        The sum.
    """

    n_rows: int
    total: Any

    def merge(self, other: SumPartial) -> SumPartial:
        """The partial of both sets of rows."""
        return _add_fields(self, other)


@dataclass(frozen=True)
class MomentsPartial:
    """Weighted column means and centred sums of squares, merged as Chan et al. do.

    Attributes
    ----------
    n : float
        Sum of the rows' weights.
    mean : ndarray of shape (n_columns,)
        Weighted means.
    m2 : ndarray of shape (n_columns,)
        Weighted sums of squared deviations from ``mean``.
    """

    n: float
    mean: np.ndarray
    m2: np.ndarray

    def merge(self, other: MomentsPartial) -> MomentsPartial:
        """The partial of both sets of rows."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return MomentsPartial(
            n=n,
            mean=self.mean + delta * (other.n / n),
            m2=self.m2 + other.m2 + delta**2 * (self.n * other.n / n),
        )


@dataclass(frozen=True)
class FeatureMomentsPartial:
    """Per-column weighted counts, means and centred sums of squares, NaN left out.

    Merged as Chan, Golub and LeVeque do, column by column, so that columns with
    missing values carry their own counts.

    Attributes
    ----------
    n : ndarray of shape (n_columns,)
        Sum of the weights of the rows where each column is present.
    mean : ndarray of shape (n_columns,)
        Weighted means of the present values (0 where none is).
    m2 : ndarray of shape (n_columns,)
        Weighted sums of squared deviations from ``mean``.
    """

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    def merge(self, other: FeatureMomentsPartial) -> FeatureMomentsPartial:
        """The partial of both sets of rows."""
        n = self.n + other.n
        share = np.divide(other.n, n, out=np.zeros_like(n), where=n > 0)
        delta = other.mean - self.mean
        return FeatureMomentsPartial(
            n, self.mean + delta * share, self.m2 + other.m2 + delta**2 * self.n * share
        )


def feature_moments(
    X: np.ndarray, weights: np.ndarray | None, chunk_index: int = 0, first_row: int = 0
) -> FeatureMomentsPartial:
    """:class:`FeatureMomentsPartial` of one block; NaN is missing, infinity an error.

    Raises
    ------
    ValueError
        Naming the chunk and the row of the first infinite value.
    """
    if hasattr(X, "indptr"):
        return _sparse_feature_moments(X, weights, chunk_index, first_row)
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    missing = np.isnan(X)
    infinite = np.isinf(X).any(axis=1)
    if infinite.any():
        row = int(np.argmax(infinite))
        raise ValueError(
            f"Input X contains infinity in chunk {chunk_index} at row {first_row + row} "
            f"(row {row} of the chunk); NaN is a missing value, infinity is not."
        )
    if not missing.any():
        total = float(w.sum())
        n = np.full(X.shape[1], total)
        if total == 0:
            return FeatureMomentsPartial(n, np.zeros(X.shape[1]), np.zeros(X.shape[1]))
        mean = w @ X / total
        return FeatureMomentsPartial(n, mean, w @ (X - mean) ** 2)
    present = np.where(missing, 0.0, w[:, np.newaxis])
    values = np.where(missing, 0.0, X)
    n = present.sum(axis=0)
    mean = np.divide((present * values).sum(axis=0), n, out=np.zeros_like(n), where=n > 0)
    return FeatureMomentsPartial(n, mean, (present * (values - mean) ** 2).sum(axis=0))


@dataclass(frozen=True)
class FoldGramPartial:
    """:class:`GramPartial` fields of each test fold's rows (dicts, one per fold).

    Attributes
    ----------
    folds : tuple of dict
        The Gram statistics of fold 0, 1, ...
    """

    folds: tuple[dict[str, Any], ...]

    def merge(self, other: FoldGramPartial) -> FoldGramPartial:
        """The partial of both sets of rows, fold by fold."""
        return FoldGramPartial(
            tuple(merge_gram_partials([a, b]) for a, b in zip(self.folds, other.folds, strict=True))
        )


def _sparse_feature_moments(
    X: Any, weights: np.ndarray | None, chunk_index: int, first_row: int
) -> FeatureMomentsPartial:
    """:func:`feature_moments` of a CSR block: the implicit zeros are present values."""
    X = X.tocsr()
    n_rows, n_columns = X.shape
    w = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    data = np.asarray(X.data, dtype=np.float64)
    row_of = np.repeat(np.arange(n_rows), np.diff(X.indptr))
    if np.isinf(data).any():
        row = int(row_of[np.argmax(np.isinf(data))])
        raise ValueError(
            f"Input X contains infinity in chunk {chunk_index} at row {first_row + row} "
            f"(row {row} of the chunk); NaN is a missing value, infinity is not."
        )
    missing = np.isnan(data)
    stored_w = np.where(missing, 0.0, w[row_of])
    values = np.where(missing, 0.0, data)
    missing_w = np.bincount(
        X.indices, weights=np.where(missing, w[row_of], 0.0), minlength=n_columns
    )
    n = float(w.sum()) - missing_w
    sums = np.bincount(X.indices, weights=stored_w * values, minlength=n_columns)
    squares = np.bincount(X.indices, weights=stored_w * values**2, minlength=n_columns)
    mean = np.divide(sums, n, out=np.zeros(n_columns), where=n > 0)
    m2 = np.maximum(squares - n * mean**2, 0.0)
    return FeatureMomentsPartial(n, mean, m2)


@dataclass(frozen=True)
class TargetRangePartial:
    """Weighted sum and smallest value of a target column, and where that value is.

    Attributes
    ----------
    n : float
        Sum of the rows' weights.
    weighted_sum : float
        Sum of the weighted targets.
    minimum : float
        Smallest target (``inf`` over no rows).
    where : tuple of int
        ``(chunk, row of the chunk)`` of the first row holding ``minimum``.
    """

    n: float
    weighted_sum: float
    minimum: float
    where: tuple[int, int]

    def merge(self, other: TargetRangePartial) -> TargetRangePartial:
        """The partial of both sets of rows (the earlier row wins a tie)."""
        low = self if self.minimum <= other.minimum else other
        return TargetRangePartial(
            self.n + other.n, self.weighted_sum + other.weighted_sum, low.minimum, low.where
        )


@dataclass(frozen=True)
class TotalsPartial:
    """Named float totals added key by key (sufficient statistics of a score, say).

    Attributes
    ----------
    totals : dict of str to float
    """

    totals: dict[str, float]

    def merge(self, other: TotalsPartial) -> TotalsPartial:
        """The partial of both sets of rows."""
        merged = dict(self.totals)
        for key, value in other.totals.items():
            merged[key] += value
        return TotalsPartial(merged)


@dataclass(frozen=True)
class FusedPartial:
    """The partials of several reductions computed in the same pass.

    Attributes
    ----------
    parts : tuple
        One partial per reduction, in the order of :class:`Fused`'s reductions.
    """

    parts: tuple[Any, ...]

    def merge(self, other: FusedPartial) -> FusedPartial:
        """The partial of both sets of rows."""
        return FusedPartial(tuple(a.merge(b) for a, b in zip(self.parts, other.parts, strict=True)))


def as_dict(partial: Any) -> dict[str, Any]:
    """The fields of a partial as a dict (what :mod:`daskgd.objective` finalises)."""
    return {f.name: getattr(partial, f.name) for f in fields(partial)}


class Reduction(ABC):
    """A pass over the data: a chunk step, then a fixed-order combine of the partials.

    Subclasses set ``name`` (the prefix of the pass's task keys, shown in the
    dashboard) and ``columns`` (the frame columns the chunk step reads, in the
    order it takes them), and implement :meth:`chunk`. Reductions travel to the
    workers: they must pickle and import only NumPy-level modules.
    """

    name: ClassVar[str] = "daskgd-reduce"
    #: Key prefix of the broadcast object in the graph of a streamed pass.
    broadcast_name: ClassVar[str] = "daskgd-broadcast"
    columns: tuple[str, ...] = ("X", "y", "sample_weight")
    #: Partials too large to merge on a worker (a sample of rows): on the streamed
    #: path each chunk's partial comes to the client, which combines the same tree.
    combine_on_client: ClassVar[bool] = False

    @property
    def task_name(self) -> str:
        """Key prefix of this pass's chunk tasks."""
        return self.name

    @abstractmethod
    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> Any:
        """The partial of row chunk ``chunk_index``, from its blocks of :attr:`columns`."""

    def combine(self, parts: Sequence[Any]) -> Any:
        """Merge partials in the order given (a left fold: the order is the result's)."""
        total = parts[0]
        for part in parts[1:]:
            total = total.merge(part)
        return total


@dataclass(frozen=True)
class ObjectiveReduction(Reduction):
    """Loss and gradient, plus the Hessian, or the Gram statistics of a linear objective.

    Parameters
    ----------
    objective : LinearObjective
        The model's loss, penalty and layout.
    kind : {"loss_grad", "loss_grad_hess", "gram", "working_set"}
        What each chunk computes; the broadcast is the flat coefficient vector
        (``None`` for ``"gram"``; the coefficients and the Gram's columns for
        ``"working_set"``, see :func:`daskgd.working_sets.block_working_set`).
    """

    objective: LinearObjective
    kind: str
    broadcast_name: ClassVar[str] = "daskgd-coef"

    #: Key prefix of each kind's chunk tasks.
    TASK_NAMES: ClassVar[dict[str, str]] = {
        "loss_grad": "daskgd-grad",
        "loss_grad_hess": "daskgd-loss-grad-hess",
        "gram": "daskgd-gram",
        "working_set": "daskgd-working-set",
    }

    @property
    def task_name(self) -> str:
        """Key prefix of this pass's chunk tasks."""
        return self.TASK_NAMES[self.kind]

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> Any:
        X, y, sample_weight = blocks
        if self.kind == "gram":
            return GramPartial(**self.objective.block_gram(X, y, sample_weight))
        if self.kind == "working_set":
            coef, columns = broadcast
            return WorkingSetPartial(
                **block_working_set(self.objective, X, y, sample_weight, coef, columns)
            )
        if self.kind == "loss_grad":
            return LossGradPartial(**self.objective.block_loss_grad(X, y, sample_weight, broadcast))
        return LossGradHessPartial(
            **self.objective.block_loss_grad_hess(X, y, sample_weight, broadcast)
        )


@dataclass(frozen=True)
class LabelCounts(Reduction):
    """Distinct values of a target column, their counts and their weight sums.

    Parameters
    ----------
    column : str, default="y"
        The target column.
    weight_column : str or None, default=None
        Sample weights to sum per value (counts when None).
    """

    column: str = "y"
    weight_column: str | None = None
    name: ClassVar[str] = "daskgd-labels"

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.column,) if self.weight_column is None else (self.column, self.weight_column)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> LabelCountsPartial:
        labels = np.asarray(blocks[0]).ravel()
        values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if len(blocks) > 1 and blocks[1] is not None:
            weights = np.bincount(
                inverse.ravel(),
                weights=np.asarray(blocks[1], dtype=np.float64),
                minlength=len(values),
            )
        else:
            weights = counts.astype(np.float64)
        return LabelCountsPartial(values, counts.astype(np.int64), weights)


@dataclass(frozen=True)
class WeightSum(Reduction):
    """Sum of a weight column (and the number of rows)."""

    column: str = "sample_weight"
    name: ClassVar[str] = "daskgd-weight-sum"

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.column,)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> SumPartial:
        weights = np.asarray(blocks[0], dtype=np.float64)
        return SumPartial(len(weights), float(weights.sum()))


@dataclass(frozen=True)
class FeatureMoments(Reduction):
    """NaN-aware weighted moments of every column of ``X`` (a scaler's fit).

    The broadcast is the tuple of the chunks' first rows, for messages.
    """

    column: str = "X"
    weight_column: str | None = None
    name: ClassVar[str] = "daskgd-feature-moments"

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.column,) if self.weight_column is None else (self.column, self.weight_column)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> FeatureMomentsPartial:
        weights = blocks[1] if len(blocks) > 1 else None
        first_row = int(broadcast[chunk_index]) if broadcast is not None else 0
        return feature_moments(blocks[0], weights, chunk_index, first_row)


@dataclass(frozen=True)
class FoldGram(Reduction):
    """The Gram statistics of every cross-validation fold's rows, in one pass.

    The broadcast is ``(runs, first_rows)``: the :class:`daskgd.folds.FoldRuns` of
    the rows and the first row of every chunk.
    """

    objective: LinearObjective
    name: ClassVar[str] = "daskgd-fold-gram"
    broadcast_name: ClassVar[str] = "daskgd-folds"

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> FoldGramPartial:
        from daskgd.folds import block_fold_grams
        from daskgd.objective import aligned_block

        runs, first_rows = broadcast
        X, y, sample_weight = (aligned_block(block) for block in blocks)
        parts = block_fold_grams(
            self.objective, X, y, sample_weight, int(first_rows[chunk_index]), runs
        )
        return FoldGramPartial(tuple(parts))


@dataclass(frozen=True)
class HuberPass(Reduction):
    """The sums of scikit-learn's Huber objective at the broadcast ``(w, b, sigma)``."""

    epsilon: float
    fit_intercept: bool
    name: ClassVar[str] = "daskgd-huber"
    broadcast_name: ClassVar[str] = "daskgd-coef"

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> Any:
        from daskgd.huber import huber_block

        X, y, sample_weight = blocks
        return huber_block(X, y, sample_weight, broadcast, self.epsilon, self.fit_intercept)


@dataclass(frozen=True)
class TargetRange(Reduction):
    """Weighted mean and minimum of a one-column target (a GLM's start and domain check)."""

    column: str = "y"
    weight_column: str | None = "sample_weight"
    name: ClassVar[str] = "daskgd-target-range"

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.column,) if self.weight_column is None else (self.column, self.weight_column)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> TargetRangePartial:
        y = np.asarray(blocks[0], dtype=np.float64).ravel()
        weights = None if len(blocks) < 2 or blocks[1] is None else np.asarray(blocks[1])
        if len(y) == 0:
            return TargetRangePartial(0.0, 0.0, np.inf, (chunk_index, -1))
        row = int(np.argmin(y))
        if weights is None:
            n, weighted_sum = float(len(y)), float(y.sum())
        else:
            weights = weights.astype(np.float64).ravel()
            n, weighted_sum = float(weights.sum()), float(weights @ y)
        return TargetRangePartial(n, weighted_sum, float(y[row]), (chunk_index, row))


@dataclass(frozen=True)
class ModelMetrics(Reduction):
    """The metric sums (:mod:`daskgd.metrics`) of a model's predictions on each chunk.

    The predictions are a column of the frame (the model's own lazy ``predict``,
    or its decision values and scores side by side), so the model itself never
    travels to the workers, nor do the modules it imports.

    Parameters
    ----------
    classes : ndarray or None, default=None
        A classifier's ``classes_``; None for a regressor, whose column
        ``"prediction"`` holds its predictions.
    n_decision : int, default=0
        A classifier's column holds first this many columns of what its
        ``predict`` takes the argmax of (decision values), then its scores.
    probabilities : bool, default=True
        Whether a classifier's scores are probabilities.
    with_auc : bool, default=True
        Build the score histograms of ROC AUC.
    """

    classes: Any = None
    n_decision: int = 0
    probabilities: bool = True
    with_auc: bool = True
    columns: tuple[str, ...] = ("y", "prediction", "sample_weight")
    name: ClassVar[str] = "daskgd-evaluate"

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> Any:
        """The metric partial of chunk ``chunk_index``'s rows."""
        from daskgd.metrics import classification_partial, regression_partial

        y, prediction, sample_weight = blocks
        try:
            if self.classes is None:
                return regression_partial(y, prediction, sample_weight)
            prediction = np.asarray(prediction)
            prediction = prediction[:, np.newaxis] if prediction.ndim == 1 else prediction
            decision, scores = prediction[:, : self.n_decision], prediction[:, self.n_decision :]
            return classification_partial(
                y,
                decision if self.n_decision else scores,
                scores if scores.shape[1] else None,
                self.classes,
                self.probabilities,
                sample_weight,
                with_auc=self.with_auc,
            )
        except ValueError as error:
            raise ValueError(f"chunk {chunk_index}: {error}") from error


@dataclass(frozen=True)
class ColumnMoments(Reduction):
    """Weighted means and sums of squared deviations of every column of ``X``."""

    column: str = "X"
    weight_column: str | None = None
    name: ClassVar[str] = "daskgd-moments"

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.column,) if self.weight_column is None else (self.column, self.weight_column)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> MomentsPartial:
        X = np.asarray(blocks[0], dtype=np.float64)
        weights = np.ones(len(X)) if len(blocks) < 2 or blocks[1] is None else np.asarray(blocks[1])
        n = float(weights.sum())
        if n == 0:
            return MomentsPartial(0.0, np.zeros(X.shape[1]), np.zeros(X.shape[1]))
        mean = weights @ X / n
        return MomentsPartial(n, mean, weights @ (X - mean) ** 2)


@dataclass(frozen=True)
class BlockTotals(Reduction):
    """Float totals of ``function(broadcast, chunk_index, *blocks)`` (a dict per chunk).

    For ad-hoc sufficient statistics, e.g. the validation score of an SGD model on
    each chunk's held-out rows. The chunk index is passed because such statistics
    may depend on it (which rows are held out).
    """

    function: Callable[..., dict[str, float]]
    columns: tuple[str, ...] = ("X", "y", "sample_weight")
    name: ClassVar[str] = "daskgd-score"

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> TotalsPartial:
        return TotalsPartial(dict(self.function(broadcast, chunk_index, *blocks)))


@dataclass(frozen=True)
class Fused(Reduction):
    """Several reductions in one pass (each chunk is read once for all of them)."""

    reductions: tuple[Reduction, ...]

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.reductions[0].name

    @property
    def columns(self) -> tuple[str, ...]:  # type: ignore[override]
        names: list[str] = []
        for reduction in self.reductions:
            names += [c for c in reduction.columns if c not in names]
        return tuple(names)

    def chunk(self, broadcast: Any, chunk_index: int, *blocks: Any) -> FusedPartial:
        by_column = dict(zip(self.columns, blocks, strict=True))
        return FusedPartial(
            tuple(
                r.chunk(broadcast, chunk_index, *(by_column[c] for c in r.columns))
                for r in self.reductions
            )
        )


def level_widths(n_chunks: int, split_every: int) -> list[int]:
    """Nodes per level of a fixed-shape combine tree over ``n_chunks`` leaves.

    Level 0 holds the chunks; node ``(level, j)`` combines nodes ``j * split_every``
    to ``(j + 1) * split_every - 1`` of the level below (as many as exist), so it
    covers chunks ``j * split_every**level`` up to ``(j + 1) * split_every**level``.
    The last level holds the root alone.
    """
    widths = [n_chunks]
    while widths[-1] > 1:
        widths.append(-(-widths[-1] // split_every))
    return widths


def _children(
    node: tuple[int, int], widths: Sequence[int], split_every: int
) -> list[tuple[int, int]]:
    level, index = node
    stop = min((index + 1) * split_every, widths[level - 1])
    return [(level - 1, child) for child in range(index * split_every, stop)]


def combine_local(
    reduction: Reduction,
    partials: dict[int, Any],
    n_chunks: int,
    split_every: int,
) -> dict[tuple[int, int], Any]:
    """Combine every tree node whose chunks are all in ``partials``; return the maximal ones.

    A worker holding a run of chunks combines the subtrees it holds whole and sends
    their roots on; :func:`tree_combine` finishes the same tree, so the result does
    not depend on which worker held which chunk.
    """
    widths = level_widths(n_chunks, split_every)
    done: dict[tuple[int, int], Any] = {(0, i): p for i, p in partials.items()}
    frontier = sorted({i // split_every for i in partials})
    for level in range(1, len(widths)):
        parents = []
        for index in frontier:
            children = _children((level, index), widths, split_every)
            if all(child in done for child in children):
                done[level, index] = reduction.combine([done.pop(c) for c in children])
                parents.append(index // split_every)
        frontier = sorted(set(parents))
    return done


def tree_combine(
    reduction: Reduction,
    nodes: dict[tuple[int, int], Any],
    n_chunks: int,
    split_every: int,
) -> Any:
    """Finish the combine tree from the nodes given (chunk partials or combined subtrees)."""
    widths = level_widths(n_chunks, split_every)

    def value(node: tuple[int, int]) -> Any:
        if node in nodes:
            return nodes[node]
        return reduction.combine([value(child) for child in _children(node, widths, split_every)])

    return value((len(widths) - 1, 0))
