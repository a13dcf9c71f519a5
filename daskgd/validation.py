"""Input checks and conversions for dask collections, without computing the data.

NumPy and pandas inputs go through scikit-learn's own validation in the
estimators; this module handles what scikit-learn cannot see: dask arrays and
dask DataFrames, which are checked on their metadata (shape, dtype, chunks)
and reshaped lazily (column chunks merged, targets realigned to the rows of X).
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import dask.dataframe as dd
import numpy as np
from dask.base import is_dask_collection as _is_dask_collection


def is_dask_collection(obj: Any) -> bool:
    """Whether ``obj`` is a dask array, DataFrame or Series."""
    return bool(_is_dask_collection(obj))


def _as_dask_array(obj: Any, name: str) -> da.Array:
    if isinstance(obj, (dd.DataFrame, dd.Series)):
        return obj.to_dask_array(lengths=True)
    if isinstance(obj, da.Array):
        return obj
    if is_dask_collection(obj):
        raise TypeError(f"{name} is a {type(obj).__name__}; pass a dask array or DataFrame.")
    return da.from_array(np.asarray(obj))


def _check_numeric(array: da.Array, name: str) -> None:
    kind = array.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}.")
    if kind not in "biuf":
        raise ValueError(
            f"{name} has dtype {array.dtype}; daskgd needs numeric data. Encode strings or "
            "categories first (e.g. with dask_ml.preprocessing or pandas.get_dummies)."
        )


def _known_chunks(array: da.Array) -> da.Array:
    if any(np.isnan(size) for size in array.chunks[0]):
        array = array.compute_chunk_sizes()
    return array


def check_dask_X(X: Any, *, name: str = "X") -> da.Array:
    """A 2-D numeric dask array, chunked along rows only, with known chunk sizes.

    Parameters
    ----------
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        The data; a DataFrame's partition lengths are computed, not rejected.
    name : str
        Name of the argument, for messages.

    Returns
    -------
    X : dask array of shape (n_samples, n_features)
    """
    array = _known_chunks(_as_dask_array(X, name))
    if array.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {array.ndim}D array instead for {name} with shape "
            f"{array.shape}. Reshape your data, e.g. X.reshape(-1, 1) for a single feature."
        )
    _check_numeric(array, name)
    if array.numblocks[1] > 1:
        array = array.rechunk({1: -1})
    if array.shape[1] == 0:
        raise ValueError(f"0 feature(s) (shape={array.shape}) while a minimum of 1 is required.")
    if array.shape[0] == 0:
        raise ValueError(f"0 sample(s) (shape={array.shape}) while a minimum of 1 is required.")
    return array


def align_rows(array: Any, X: da.Array, *, name: str) -> da.Array:
    """``array`` (1-D or 2-D) as a dask array with the same row chunks as ``X``.

    Parameters
    ----------
    array : array-like or dask collection of shape (n_samples,) or (n_samples, n_targets)
        Targets or weights.
    X : dask array of shape (n_samples, n_features)
        The data whose row chunks to follow.
    name : str
        Name of the argument, for messages.

    Returns
    -------
    array : dask array
    """
    result = _known_chunks(_as_dask_array(array, name))
    if result.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1D or 2D, got shape {result.shape}.")
    if result.shape[0] != X.shape[0]:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has {X.shape[0]} "
            f"rows, {name} has {result.shape[0]}."
        )
    chunks: tuple[Any, ...] = (X.chunks[0],) + ((-1,) if result.ndim == 2 else ())
    if result.chunks[0] != X.chunks[0] or (result.ndim == 2 and result.numblocks[1] > 1):
        result = result.rechunk(chunks)
    return result


def label_counts(y: da.Array) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of a dask array and their counts (one pass over ``y``)."""
    classes, counts = da.compute(*da.unique(y.ravel(), return_counts=True))
    return np.asarray(classes), np.asarray(counts)


def encode_labels(y: da.Array, classes: np.ndarray) -> da.Array:
    """Class indices of ``y`` in ``classes``, as a float column, lazily.

    Parameters
    ----------
    y : dask array of shape (n_samples,)
        Labels, all of them in ``classes``.
    classes : ndarray of shape (n_classes,)
        Sorted distinct labels.

    Returns
    -------
    encoded : dask array of shape (n_samples, 1)
    """
    return da.map_blocks(
        lambda block: np.asarray(np.searchsorted(classes, block), dtype=np.float64)[:, None],
        y,
        new_axis=1,
        chunks=(y.chunks[0], (1,)),
        dtype=np.float64,
    )


def weighted_class_counts(encoded: da.Array, sample_weight: da.Array, n_classes: int) -> np.ndarray:
    """Sum of the sample weights of each class index (one pass over ``y`` and the weights)."""
    codes = encoded[:, 0].astype(np.intp)
    return np.asarray(
        da.bincount(codes, weights=sample_weight, minlength=n_classes).compute(),
        dtype=np.float64,
    )


def class_weight_per_row(encoded: da.Array, weight_per_class: np.ndarray) -> da.Array:
    """Each row's class weight, from class-index column ``encoded``, lazily."""
    return da.map_blocks(
        lambda block: np.asarray(weight_per_class)[block[:, 0].astype(np.intp)],
        encoded,
        drop_axis=1,
        dtype=np.float64,
    )


def as_float_column_matrix(y: da.Array) -> da.Array:
    """Regression targets as a 2-D float64 dask array."""
    y = y.astype(np.float64)
    return y[:, np.newaxis] if y.ndim == 1 else y


def validate_sample_weight(sample_weight: da.Array) -> da.Array:
    """Sample weights as a 1-D float64 dask array."""
    if sample_weight.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got shape {sample_weight.shape}."
        )
    return sample_weight.astype(np.float64)
