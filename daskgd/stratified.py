"""scikit-learn's unshuffled StratifiedKFold, computed chunk by chunk (NumPy only).

``StratifiedKFold(n_splits)._make_test_folds`` (without shuffling) encodes the
classes by order of first appearance, deals the *sorted* encoded labels round
robin to the folds (so fold ``i`` gets ``allocation[i, k]`` rows of class ``k``),
then hands the rows of class ``k``, in row order, to fold 0 first, then fold 1,
and so on. A row's test fold therefore depends only on its class and its rank
among the rows of its class: the per-chunk class counts and each class's first
row, from one label pass, let every chunk find its rows' folds where it lies,
without bringing the labels to the client.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChunkLabelTable:
    """Distinct labels of one chunk, their counts, first rows and weight sums.

    Attributes
    ----------
    values : ndarray of shape (n_values,)
        Sorted distinct labels of the chunk.
    counts : ndarray of shape (n_values,)
        Rows holding each label (int64).
    first : ndarray of shape (n_values,)
        Row (within the chunk) where each label first appears (int64).
    weights : ndarray of shape (n_values,)
        Sum of the rows' sample weights per label (their count when unweighted).
    """

    values: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    weights: np.ndarray


def chunk_label_table(labels: np.ndarray, sample_weight: np.ndarray | None) -> ChunkLabelTable:
    """The :class:`ChunkLabelTable` of one chunk's labels (and weights)."""
    labels = np.asarray(labels).ravel()
    values, first, inverse, counts = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    if sample_weight is None:
        weights: np.ndarray = counts.astype(np.float64)
    else:
        weights = np.bincount(
            inverse.ravel(),
            weights=np.asarray(sample_weight, dtype=np.float64).ravel(),
            minlength=len(values),
        )
    return ChunkLabelTable(values, counts.astype(np.int64), first.astype(np.int64), weights)


@dataclass(frozen=True)
class LabelSummary:
    """What the label pass tells about the classes, over all chunks.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
        Sorted distinct labels.
    counts : ndarray of shape (n_classes,)
        Rows of each class.
    weights : ndarray of shape (n_classes,)
        Sample-weight sum of each class.
    first_row : ndarray of shape (n_classes,)
        First row of each class in the whole array.
    chunk_counts : ndarray of shape (n_chunks, n_classes)
        Rows of each class in each chunk.
    """

    classes: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    first_row: np.ndarray
    chunk_counts: np.ndarray


def summarize_labels(tables: list[ChunkLabelTable], first_rows: list[int]) -> LabelSummary:
    """Merge the chunks' label tables (in chunk order), ``first_rows[i]`` being chunk i's."""
    classes = np.unique(np.concatenate([table.values for table in tables]))
    chunk_counts = np.zeros((len(tables), len(classes)), dtype=np.int64)
    weights = np.zeros(len(classes))
    first_row = np.full(len(classes), np.iinfo(np.int64).max, dtype=np.int64)
    for i, table in enumerate(tables):
        index = np.searchsorted(classes, table.values)
        chunk_counts[i, index] = table.counts
        weights[index] += table.weights
        first_row[index] = np.minimum(first_row[index], table.first + int(first_rows[i]))
    return LabelSummary(classes, chunk_counts.sum(axis=0), weights, first_row, chunk_counts)


def stratified_allocation(counts: np.ndarray, n_splits: int) -> np.ndarray:
    """``allocation[i, k]``: rows of class ``k`` in test fold ``i``, scikit-learn's.

    ``counts`` is in the order of the classes' first appearance. Fold ``i`` gets the
    positions ``p = i, i + n_splits, ...`` of the sorted labels, so class ``k``, at
    positions ``[s_k, e_k)``, gives it ``ceil((e_k - i) / n) - ceil((s_k - i) / n)``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    folds = np.arange(n_splits)[:, np.newaxis]

    def ceil_div(a: np.ndarray) -> np.ndarray:
        return -((-a) // n_splits)

    return ceil_div(ends[np.newaxis, :] - folds) - ceil_div(starts[np.newaxis, :] - folds)


def check_stratified(counts: np.ndarray, n_splits: int) -> None:
    """scikit-learn's errors and warning for a stratified split of these class counts."""
    n_samples = int(np.sum(counts))
    if n_splits > n_samples:
        raise ValueError(
            f"Cannot have number of splits n_splits={n_splits} greater than the number "
            f"of samples: n_samples={n_samples}."
        )
    if np.all(n_splits > np.asarray(counts)):
        raise ValueError(
            f"n_splits={n_splits} cannot be greater than the number of members in each class."
        )
    if n_splits > int(np.min(counts)):
        warnings.warn(
            f"The least populated class in y has only {int(np.min(counts))} members, which "
            f"is less than n_splits={n_splits}.",
            UserWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class StratifiedRanks:
    """The test fold of every row, from its class index and its rank within its class.

    Attributes
    ----------
    boundaries : ndarray of shape (n_classes, n_folds + 1)
        The rows of class ``k`` of rank ``r`` with ``boundaries[k, i] <= r <
        boundaries[k, i + 1]`` are in test fold ``i`` (classes in sorted order).
    chunk_offsets : ndarray of shape (n_chunks, n_classes)
        Rows of each class before each chunk.
    n_folds : int
        Number of folds.
    """

    boundaries: np.ndarray
    chunk_offsets: np.ndarray
    n_folds: int

    def folds_of_chunk(self, chunk_index: int, first_row: int, encoded: np.ndarray) -> np.ndarray:
        """Test fold of each row of chunk ``chunk_index``, from its class indices.

        Parameters
        ----------
        chunk_index : int
            Index of the chunk.
        first_row : int
            Its first row (unused: the ranks come from the class counts).
        encoded : ndarray of shape (n_rows,) or (n_rows, 1)
            Class indices (in the sorted classes) of the chunk's rows.

        Returns
        -------
        folds : ndarray of shape (n_rows,)
            Test fold of each row (int64).
        """
        labels = np.asarray(encoded).ravel().astype(np.intp)
        n_classes = self.boundaries.shape[0]
        order = np.argsort(labels, kind="stable")
        in_order = labels[order]
        counts = np.bincount(labels, minlength=n_classes)
        segment_start = np.cumsum(counts) - counts
        rank = (
            np.arange(len(labels))
            - segment_start[in_order]
            + self.chunk_offsets[chunk_index, in_order]
        )
        inner = self.boundaries[in_order, 1:-1]
        folds = np.empty(len(labels), dtype=np.int64)
        folds[order] = np.sum(inner <= rank[:, np.newaxis], axis=1)
        return folds


def stratified_ranks(summary: LabelSummary, n_splits: int) -> StratifiedRanks:
    """The :class:`StratifiedRanks` of ``StratifiedKFold(n_splits)`` over these labels.

    Raises scikit-learn's errors (and warning) for too few rows per class.
    """
    check_stratified(summary.counts, n_splits)
    appearance = np.argsort(summary.first_row, kind="stable")
    allocation = stratified_allocation(summary.counts[appearance], n_splits)
    boundaries = np.zeros((len(summary.classes), n_splits + 1), dtype=np.int64)
    boundaries[appearance, 1:] = np.cumsum(allocation, axis=0).T
    offsets = np.cumsum(summary.chunk_counts, axis=0) - summary.chunk_counts
    return StratifiedRanks(boundaries, offsets, n_splits)
