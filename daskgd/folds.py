"""Cross-validation folds as runs of rows, and the Gram statistics of each fold (NumPy only).

A cross-validated least-squares path needs, for every fold, the Gram statistics
of its training rows and of its test rows. When the test folds partition the
rows, both come from one pass: each chunk adds its rows' statistics to their
test fold's, and fold k's training statistics are the merge of every other
fold's. Rows are assigned to folds by *runs* (``starts[i]`` is the first row of
run ``i``, whose rows all belong to fold ``folds[i]``): a handful for
scikit-learn's unshuffled ``KFold``, whatever a splitter needs otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from daskgd.objective import LinearObjective, merge_gram_partials

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
