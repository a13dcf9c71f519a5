"""Categorical features as scikit-learn's histogram gradient boosting encodes them.

scikit-learn passes the categorical columns through an ``OrdinalEncoder``: each
known category (the sorted distinct non-missing values of the training data)
becomes its position, an unknown one becomes NaN (it is then treated as a missing
value), and the encoded columns come first, before the numeric ones. The codes
are the bins, so the trees split on codes. :class:`CategoryEncoder` does the same
to a NumPy block or a pandas partition, so that it can run chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _column(block: Any, position: Any) -> np.ndarray:
    """One column as NumPy gives it (a category column: its values, NaN where missing)."""
    if hasattr(block, "iloc"):
        return np.asarray(block.iloc[:, position])
    return np.asarray(block)[:, position]


def _is_missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values])


def block_categories(block: Any, columns: Sequence[int]) -> tuple[np.ndarray, ...]:
    """The distinct non-missing values of each of ``columns`` in one block."""
    found = []
    for position in columns:
        values = _column(block, position)
        found.append(np.unique(values[~_is_missing(values)]))
    return tuple(found)


def merge_categories(parts: Sequence[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The union of every block's categories, per column, sorted."""
    return tuple(np.unique(np.concatenate(column)) for column in zip(*parts, strict=True))


@dataclass(frozen=True)
class CategoryEncoder:
    """scikit-learn's preprocessing of categorical features, block by block (picklable).

    Attributes
    ----------
    is_categorical : ndarray of bool of shape (n_features,)
        Which input columns are categorical.
    categories : tuple of ndarray
        The known categories of each categorical column, in column order.
    """

    is_categorical: np.ndarray
    categories: tuple[np.ndarray, ...]

    @property
    def order(self) -> np.ndarray:
        """The input column of each encoded column: the categorical ones first."""
        mask = np.asarray(self.is_categorical, dtype=bool)
        return np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])

    @property
    def encoded_is_categorical(self) -> np.ndarray:
        """Which encoded columns are categorical (the first ones)."""
        n_categorical = len(self.categories)
        return np.arange(len(self.is_categorical)) < n_categorical

    def check_cardinality(self, max_bins: int, feature_names: Any = None) -> None:
        """scikit-learn's error for a feature with more categories than ``max_bins``."""
        for position, categories in zip(
            np.flatnonzero(self.is_categorical), self.categories, strict=True
        ):
            if categories.size > max_bins:
                name = (
                    repr(feature_names[position])
                    if feature_names is not None
                    else f"at index {position}"
                )
                raise ValueError(
                    f"Categorical feature {name} is expected to have a cardinality <= "
                    f"{max_bins} but actually has a cardinality of {categories.size}."
                )

    def transform(self, block: Any) -> np.ndarray:
        """The encoded block: category codes (NaN for missing or unknown), then numbers."""
        n_rows = len(block)
        columns = []
        for position, categories in zip(
            np.flatnonzero(self.is_categorical), self.categories, strict=True
        ):
            values = _column(block, position)
            codes = np.full(n_rows, np.nan)
            present = ~_is_missing(values)
            if categories.dtype.kind in "fiub" and values.dtype.kind in "fiub":
                where = np.searchsorted(categories, values[present])
                where = np.minimum(where, max(len(categories) - 1, 0))
                known = categories[where] == values[present] if len(categories) else where < 0
                found = np.full(int(present.sum()), np.nan)
                found[known] = where[known]
                codes[present] = found
            else:
                lookup = {value: code for code, value in enumerate(categories.tolist())}
                codes[present] = [lookup.get(v, np.nan) for v in values[present].tolist()]
            columns.append(codes)
        for position in np.flatnonzero(~np.asarray(self.is_categorical, dtype=bool)):
            columns.append(np.asarray(_column(block, position), dtype=np.float64))
        if not columns:
            return np.empty((n_rows, 0))
        return np.column_stack(columns).astype(np.float64, copy=False)

    def __call__(self, block: Any) -> np.ndarray:
        """:meth:`transform` (a function of ``map_blocks`` / ``map_partitions``)."""
        return self.transform(block)


def encoded_frame(partition: Any, encoder: CategoryEncoder, columns: Sequence[str]) -> Any:
    """A pandas partition encoded, as a float DataFrame with the same index."""
    import pandas as pd

    return pd.DataFrame(encoder.transform(partition), index=partition.index, columns=list(columns))
