"""Cross-validation folds as runs of rows, and the Gram statistics of each fold (NumPy only).

A cross-validated least-squares path needs, for every fold, the Gram statistics
of its training rows and of its test rows. When the test folds partition the
rows, both come from one pass: each chunk adds its rows' statistics to their
test fold's, and fold k's training statistics are the merge of every other
fold's. Rows are assigned to folds by *runs* (``starts[i]`` is the first row of
run ``i``, whose rows all belong to fold ``folds[i]``): a handful for
scikit-learn's unshuffled ``KFold``, whatever a splitter needs otherwise.

A cross-validated logistic path (:func:`block_fold_pass`) needs, in each Newton
pass, every fold's loss, gradient and Hessian over its training rows at that
fold's own coefficients, and the test-fold scores of the same coefficients: all
folds are evaluated in the same pass over a block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, softmax

from daskgd.objective import LinearObjective, aligned_block, merge_gram_partials

Partial = dict[str, Any]


@dataclass(frozen=True)
class FoldRuns:
    """Which test fold every row belongs to, as runs of consecutive rows.

    Attributes
    ----------
    starts : ndarray of int64
        First row of each run (increasing, the first is 0).
    folds : ndarray of int64
        Test fold of each run's rows.
    n_folds : int
        Number of folds.
    """

    starts: np.ndarray
    folds: np.ndarray
    n_folds: int

    def fold_of_rows(self, first_row: int, n_rows: int) -> np.ndarray:
        """Test fold of rows ``first_row, ..., first_row + n_rows - 1``."""
        rows = np.arange(first_row, first_row + n_rows)
        return self.folds[np.searchsorted(self.starts, rows, side="right") - 1]

    def folds_of_chunk(self, chunk_index: int, first_row: int, encoded: Any) -> np.ndarray:
        """Test fold of each row of a chunk starting at ``first_row`` (labels unused).

        The same call as :meth:`daskgd.stratified.StratifiedRanks.folds_of_chunk`.
        """
        return self.fold_of_rows(first_row, int(np.shape(encoded)[0]))


def kfold_runs(n_samples: int, n_splits: int) -> FoldRuns:
    """The runs of scikit-learn's ``KFold(n_splits)`` without shuffling.

    The first ``n_samples % n_splits`` folds have one row more, as in scikit-learn.
    """
    if n_splits > n_samples:
        raise ValueError(
            f"Cannot have number of splits n_splits={n_splits} greater than the number "
            f"of samples: n_samples={n_samples}."
        )
    sizes = np.full(n_splits, n_samples // n_splits, dtype=np.int64)
    sizes[: n_samples % n_splits] += 1
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return FoldRuns(starts.astype(np.int64), np.arange(n_splits, dtype=np.int64), n_splits)


def runs_from_splits(splits: list[tuple[np.ndarray, np.ndarray]], n_samples: int) -> FoldRuns:
    """The runs of any splitter whose test folds partition the rows.

    Raises
    ------
    ValueError
        When the test folds overlap, leave rows out, or a training set is not the
        complement of its test fold (``TimeSeriesSplit``, ``ShuffleSplit``): the
        one-pass path needs every fold's training rows to be all the other rows.
    """
    need = (
        "the one-pass path needs splits whose test sets partition X (KFold, GroupKFold, "
        "PredefinedSplit), not ShuffleSplit or TimeSeriesSplit"
    )
    fold_of_row = np.full(n_samples, -1, dtype=np.int64)
    for k, (train, test) in enumerate(splits):
        if np.any(fold_of_row[test] >= 0):
            raise ValueError(f"The test sets of folds overlap (fold {k}): {need}.")
        fold_of_row[test] = k
        if len(train) + len(test) != n_samples:
            raise ValueError(
                f"Fold {k}'s training rows are not all the rows outside its test rows: {need}."
            )
    if np.any(fold_of_row < 0):
        row = int(np.argmin(fold_of_row))
        raise ValueError(f"Row {row} is in no test fold: {need}.")
    change = np.flatnonzero(np.diff(fold_of_row)) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    return FoldRuns(starts, fold_of_row[starts], len(splits))


def block_fold_grams(
    objective: LinearObjective,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    first_row: int,
    runs: FoldRuns,
) -> list[Partial]:
    """:meth:`LinearObjective.block_gram` partials of one block's rows, one per test fold.

    A fold without rows in the block gets an empty partial (``n = 0``).
    """
    n_rows = X.shape[0]
    parts: list[list[Partial]] = [[] for _ in range(runs.n_folds)]
    first = int(np.searchsorted(runs.starts, first_row, side="right")) - 1
    last = int(np.searchsorted(runs.starts, first_row + n_rows, side="left"))
    if last - first <= 4 * runs.n_folds:
        # Few runs cross the block (unshuffled folds): slice them, in row order.
        for run in range(first, last):
            start = max(int(runs.starts[run]) - first_row, 0)
            end = n_rows if run + 1 >= len(runs.starts) else int(runs.starts[run + 1]) - first_row
            end = min(end, n_rows)
            if end > start:
                weights = None if sample_weight is None else sample_weight[start:end]
                parts[int(runs.folds[run])].append(
                    objective.block_gram(X[start:end], y[start:end], weights)
                )
    else:
        fold = runs.fold_of_rows(first_row, n_rows)
        for k in range(runs.n_folds):
            rows = np.flatnonzero(fold == k)
            if len(rows):
                weights = None if sample_weight is None else sample_weight[rows]
                parts[k].append(objective.block_gram(X[rows], y[rows], weights))
    empty = objective.block_gram(X[:0], y[:0], None if sample_weight is None else sample_weight[:0])
    return [merge_gram_partials(fold_parts) if fold_parts else dict(empty) for fold_parts in parts]


def training_gram(fold_grams: list[Partial], k: int) -> Partial:
    """Gram statistics of fold ``k``'s training rows: every other fold's, merged in order."""
    return merge_gram_partials([part for j, part in enumerate(fold_grams) if j != k])


#: The training "fold" of a refit on every row: no row is in test fold -1.
ALL_ROWS = -1


def block_fold_pass(
    objective: LinearObjective,
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    fold: np.ndarray,
    class_weight: np.ndarray | None,
    points: dict[int, np.ndarray],
    with_hessian: bool = True,
) -> dict[int, Partial]:
    """One block's training sums and test-fold scores at each fold's own coefficients.

    For every fold ``k`` of ``points``, over the block's rows *outside* test fold
    ``k``: the :meth:`LinearObjective.block_loss_grad_hess` sums (``n``, ``loss``,
    ``grad``, ``hess``) at ``points[k]``, the rows weighted by their sample weight
    times their class weight; over the rows *in* fold ``k``: the score sums of
    the same coefficients, weighted by the sample weights alone (as scikit-learn
    scores the folds): ``test_n`` (weight sum), ``test_log_loss`` (log-loss sum,
    probabilities clipped to ``[eps, 1 - eps]`` as ``sklearn.metrics.log_loss``
    does), ``test_correct`` (weight of the correctly predicted rows) and
    ``test_confusion`` (the weighted confusion matrix, true class by row). Fold
    :data:`ALL_ROWS` trains on every row and has no test rows.

    Parameters
    ----------
    objective : LinearObjective
        Loss and layout (the penalty is added later, from the totals).
    X : {ndarray, sparse matrix} of shape (n_rows, n_features)
        The block's rows.
    y : ndarray of shape (n_rows, 1)
        Class indices, as floats.
    sample_weight : ndarray of shape (n_rows,) or None
        Sample weights.
    fold : ndarray of shape (n_rows,)
        Test fold of each row.
    class_weight : ndarray of shape (n_classes,) or None
        Weight of each class index in the training sums.
    points : dict of int to ndarray of shape (n_coef,)
        The coefficients of each fold to evaluate.
    with_hessian : bool, default=True
        Whether to accumulate the Hessians.

    Returns
    -------
    partials : dict of int to dict
        The sums of each fold of ``points``.
    """
    classes = np.asarray(y)[:, 0].astype(np.intp)
    train_weight = sample_weight
    if class_weight is not None:
        train_weight = np.asarray(class_weight)[classes]
        if sample_weight is not None:
            train_weight = train_weight * sample_weight
    partials = {}
    for k, coef in points.items():
        inside = fold == k
        n_train = len(fold) - int(np.count_nonzero(inside))
        w_train = train_weight
        if n_train < len(fold):
            # The test rows weigh nothing: cheaper than copying the training rows
            # (47 -> 30 ms a fold for a 100,000 x 50 block, in a worker's allocator).
            w_train = np.where(inside, 0.0, 1.0 if train_weight is None else train_weight)
        if n_train == 0:
            partial = _empty_sums(objective, with_hessian)
        elif with_hessian:
            partial = objective.block_loss_grad_hess(X, y, w_train, coef)
        else:
            partial = objective.block_loss_grad(X, y, w_train, coef)
        test = np.flatnonzero(inside)
        weights = None if sample_weight is None else sample_weight[test]
        partial.update(held_out_scores(objective, X[test], classes[test], weights, coef))
        partials[k] = partial
    return partials


def _empty_sums(objective: LinearObjective, with_hessian: bool) -> Partial:
    sums: Partial = {"n": 0.0, "loss": 0.0, "grad": np.zeros(objective.n_coef)}
    if with_hessian:
        sums["hess"] = np.zeros((objective.n_coef, objective.n_coef))
    return sums


def held_out_scores(
    objective: LinearObjective,
    X: Any,
    classes: np.ndarray,
    sample_weight: np.ndarray | None,
    coef: np.ndarray,
) -> Partial:
    """Weight, log-loss, correct-prediction and confusion sums of a classifier over some rows.

    The predictions are scikit-learn's: the positive class where the single score
    is > 0, the first largest score otherwise; probabilities by the logistic
    function or the softmax.
    """
    weights = np.ones(len(classes)) if sample_weight is None else np.asarray(sample_weight)
    n_classes = max(2, objective.n_outputs)
    if len(classes) == 0:
        empty = np.zeros((n_classes, n_classes))
        return {"test_n": 0.0, "test_log_loss": 0.0, "test_correct": 0.0, "test_confusion": empty}
    raw = objective.raw_prediction(aligned_block(X), coef)
    if raw.shape[1] == 1:
        positive = expit(raw[:, 0])
        true_proba = np.where(classes == 1, positive, 1.0 - positive)
        predicted = (raw[:, 0] > 0).astype(np.intp)
    else:
        true_proba = np.take_along_axis(softmax(raw, axis=1), classes[:, np.newaxis], 1)[:, 0]
        predicted = raw.argmax(axis=1)
    eps = np.finfo(np.float64).eps
    return {
        "test_n": float(weights.sum()),
        "test_log_loss": float(-weights @ np.log(np.clip(true_proba, eps, 1 - eps))),
        "test_correct": float(weights @ (predicted == classes)),
        "test_confusion": np.bincount(
            classes * n_classes + predicted, weights=weights, minlength=n_classes**2
        ).reshape(n_classes, n_classes),
    }
