"""Input checks and conversions for dask collections, without computing the data.

NumPy and pandas inputs go through scikit-learn's own validation in the
estimators; this module handles what scikit-learn cannot see: dask arrays and
dask DataFrames, which are checked on their metadata (shape, dtype, chunks)
and reshaped lazily (column chunks merged, targets realigned to the rows of X).
Checks of the values themselves (NaN, infinity, negative weights) are fused
into the chunk tasks of a computation the fit runs anyway (:func:`check_blocks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import dask.dataframe as dd
import numpy as np
import scipy.sparse
from dask.base import is_dask_collection as _is_dask_collection
from dask.delayed import delayed

from daskgd.engine.blocks import checked_block
from daskgd.engine.execution import compute, known_row_chunks


def is_dask_collection(obj: Any) -> bool:
    """Whether ``obj`` is a dask array, DataFrame or Series."""
    return bool(_is_dask_collection(obj))


def _as_dask_array(obj: Any, name: str) -> da.Array:
    if isinstance(obj, (dd.DataFrame, dd.Series)):
        return obj.to_dask_array()  # lengths unknown: see with_known_rows
    if isinstance(obj, da.Array):
        return obj
    if is_dask_collection(obj):
        raise TypeError(f"{name} is a {type(obj).__name__}; pass a dask array or DataFrame.")
    return da.from_array(np.asarray(obj))


def _check_numeric(array: da.Array, name: str) -> None:
    """Reject dtypes that cannot be read as numbers without computing the data."""
    dtype = array.dtype
    kind = dtype.kind
    if kind in "biuf":
        return
    if kind == "c":
        hint = (
            f"{name}.real and {name}.imag as separate features" if name == "X" else f"{name}.real"
        )
        raise ValueError(
            f"Complex data not supported: {name} has dtype {dtype}. Pass real numbers, e.g. {hint}."
        )
    if kind == "O":
        hint = (
            f"convert it first, e.g. {name}.astype(float) if it holds numbers, or encode "
            "strings and categories (dask_ml.preprocessing, pandas.get_dummies)"
        )
    elif kind in "US":
        hint = "encode strings or categories first (dask_ml.preprocessing, pandas.get_dummies)"
    elif kind in "mM":
        hint = (
            f"convert dates and durations to numbers first, e.g. {name}.astype('int64') "
            "(counts of the dtype's unit)"
        )
    else:
        hint = "convert it to a numeric dtype first"
    raise ValueError(f"{name} has dtype {dtype}, but daskgd needs numeric data: {hint}.")


def _known_chunks(array: da.Array, name: str) -> da.Array:
    (result,), _ = known_row_chunks([array], [name])
    assert result is not None
    return result


def with_known_rows(
    X: Any, y: Any, sample_weight: Any = None, *, retries: int = 0
) -> tuple[da.Array, Any, da.Array | None, int]:
    """The inputs of a fit as dask arrays whose row chunks are known, and the passes spent.

    The partition lengths of dask DataFrames and Series are computed together, in
    one pass (counted in ``n_passes_``); arrays with known chunks cost nothing.

    Parameters
    ----------
    X, y : array-like or dask collection
        Data and targets (``y`` may be None, for a transformer's fit).
    sample_weight : array-like or dask collection, optional
        Row weights.
    retries : int, default=0
        Reruns of a task that raised.

    Returns
    -------
    X, y, sample_weight : dask arrays (``sample_weight`` may be None)
    n_passes : int
        0 or 1.
    """
    arrays = [
        _as_dask_array(X, "X"),
        None if y is None else _as_dask_array(y, "y"),
        None if sample_weight is None else _as_dask_array(sample_weight, "sample_weight"),
    ]
    (X, y, sample_weight), n_passes = known_row_chunks(
        arrays, ["X", "y", "sample_weight"], retries=retries
    )
    return X, y, sample_weight, n_passes


def with_known_rows_and(
    X: Any, y: Any, sample_weight: Any, also: Sequence[Any], *, retries: int = 0
) -> tuple[da.Array, Any, da.Array | None, int, list[Any]]:
    """:func:`with_known_rows`, computing ``also`` (dask collections) in the same pass.

    Returns the arrays, the passes spent (1) and the values of ``also``.
    """
    arrays = [
        _as_dask_array(X, "X"),
        None if y is None else _as_dask_array(y, "y"),
        None if sample_weight is None else _as_dask_array(sample_weight, "sample_weight"),
    ]
    result, n_passes = known_row_chunks(
        arrays, ["X", "y", "sample_weight"], retries=retries, also=also
    )
    X, y, sample_weight, *values = result
    return X, y, sample_weight, n_passes, values


def _check_chunk_type(array: da.Array, name: str, accept_sparse: bool) -> None:
    """Refuse chunks that are neither NumPy arrays nor (when accepted) CSR matrices."""
    meta = array._meta
    if isinstance(meta, np.ndarray) and not isinstance(meta, np.matrix):
        return
    if scipy.sparse.issparse(meta):
        sparse_format = str(getattr(meta, "format", type(meta).__name__))
        if not accept_sparse:
            raise ValueError(
                f"{name}'s chunks are scipy.sparse {sparse_format} matrices, which this "
                "estimator does not take yet (the linear models do): densify "
                f"them with {name}.map_blocks(lambda block: block.toarray())."
            )
        if sparse_format != "csr":
            raise ValueError(
                f"{name}'s chunks are scipy.sparse {sparse_format} matrices; daskgd takes CSR "
                f"chunks: convert them with {name}.map_blocks(lambda block: block.tocsr())."
            )
        return
    kinds = "NumPy arrays or scipy.sparse CSR matrices" if accept_sparse else "NumPy arrays"
    raise ValueError(
        f"{name}'s chunks are {type(meta).__module__}.{type(meta).__name__}; daskgd takes "
        f"{kinds}: convert them with {name}.map_blocks(numpy.asarray) (or, for sparse "
        "chunks, .tocsr())."
    )


def check_dask_X(X: Any, *, name: str = "X", accept_sparse: bool = False) -> da.Array:
    """A 2-D numeric dask array, chunked along rows only, with known chunk sizes.

    Only metadata is read: column chunks are merged and zero-length row chunks
    dropped lazily (so the fit equals the fit without them).

    Parameters
    ----------
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        The data; a DataFrame's partition lengths are computed, not rejected.
    name : str
        Name of the argument, for messages.
    accept_sparse : bool, default=False
        Take chunks that are scipy.sparse CSR matrices (any other chunk type but
        NumPy arrays is refused, naming it and what to convert to).

    Returns
    -------
    X : dask array of shape (n_samples, n_features)
    """
    array = _known_chunks(_as_dask_array(X, name), name)
    _check_chunk_type(array, name, accept_sparse)
    if array.ndim == 1:
        raise ValueError(
            f"Expected 2D array, got 1D array instead for {name} with shape {array.shape}. "
            f"Reshape your data either using {name}.reshape(-1, 1) if it has a single "
            f"feature or {name}.reshape(1, -1) if it contains a single sample."
        )
    if array.ndim != 2:
        raise ValueError(
            f"Found array with dim {array.ndim}, while dim <= 2 is required: {name} has "
            f"shape {array.shape}. Reshape it to (n_samples, n_features), e.g. "
            f"{name}.reshape({name}.shape[0], -1)."
        )
    _check_numeric(array, name)
    if array.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if array.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if array.numblocks[1] > 1:
        array = array.rechunk({1: -1})
    if 0 in array.chunks[0]:
        array = array.rechunk({0: tuple(rows for rows in array.chunks[0] if rows)})
    return array


def check_dask_X_predict(
    X: Any,
    n_features_in: int,
    estimator_name: str,
    *,
    check_values: bool = True,
    accept_sparse: bool = False,
) -> da.Array:
    """:func:`check_dask_X` for predictions, with the number of features seen in fit.

    The returned array checks each chunk for NaN and infinity inside the tasks
    that predict on it (see :func:`check_blocks`), so nothing is computed here;
    ``check_values=False`` leaves the values alone (trees take NaN as missing).

    Parameters
    ----------
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        Samples.
    n_features_in : int
        Number of features seen in fit.
    estimator_name : str
        For messages.
    check_values : bool, default=True
        Check the values for NaN and infinity in the prediction's tasks.
    accept_sparse : bool, default=False
        Take CSR chunks (see :func:`check_dask_X`).

    Returns
    -------
    X : dask array of shape (n_samples, n_features)
    """
    array = check_dask_X(X, accept_sparse=accept_sparse)
    if array.shape[1] != n_features_in:
        raise ValueError(
            f"X has {array.shape[1]} features, but {estimator_name} is expecting "
            f"{n_features_in} features as input."
        )
    return check_blocks(array, "X") if check_values else array


def check_dask_y(y: da.Array, *, numeric: bool) -> None:
    """Reject target dtypes the estimator cannot use (``numeric``: regression targets)."""
    if y.dtype.kind == "c" or numeric:
        _check_numeric(y, "y")


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
    result = _known_chunks(_as_dask_array(array, name), name)
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


def check_discrete_labels(classes: np.ndarray, estimator_name: str, regressors: str) -> None:
    """Reject a continuous target (the distinct values of ``y``, from :func:`label_counts`).

    Parameters
    ----------
    classes : ndarray of shape (n_values,)
        Distinct values of the target.
    estimator_name : str
        For messages.
    regressors : str
        The estimators to suggest instead, for messages.
    """
    if classes.dtype.kind == "f" and not np.all(np.mod(classes, 1) == 0):
        raise ValueError(
            f"Unknown label type: continuous. {estimator_name} needs class labels; use "
            f"{regressors} for a continuous target."
        )


def as_float_column_matrix(y: da.Array) -> da.Array:
    """Regression targets as a 2-D float64 dask array."""
    y = y.astype(np.float64)
    return y[:, np.newaxis] if y.ndim == 1 else y


def check_dask_sample_weight(sample_weight: Any, X: da.Array) -> da.Array:
    """Sample weights as a 1-D float64 dask array with the row chunks of ``X``.

    A scalar is one weight for every row. The returned array checks each chunk
    for NaN, infinity and negative values inside whatever task first reads it
    (see :func:`check_blocks`), so nothing is computed here.

    Parameters
    ----------
    sample_weight : scalar, array-like or dask array of shape (n_samples,)
        Non-negative weights.
    X : dask array of shape (n_samples, n_features)
        The data whose row chunks to follow.

    Returns
    -------
    sample_weight : dask array of shape (n_samples,)
    """
    if not is_dask_collection(sample_weight) and np.ndim(sample_weight) == 0:
        sample_weight = da.full(X.shape[0], sample_weight, chunks=X.chunks[0])
    weight = align_rows(sample_weight, X, name="sample_weight")
    if weight.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got shape {weight.shape}.")
    _check_numeric(weight, "sample_weight")
    return check_blocks(weight.astype(np.float64), "sample_weight", non_negative=True)


def check_blocks(array: da.Array, name: str, *, non_negative: bool = False) -> da.Array:
    """``array`` whose chunk tasks check their values first: no pass of their own.

    Each chunk raises a ValueError naming ``name``, the chunk and the first row
    holding NaN or infinity (or a negative value, with ``non_negative``). The
    check runs wherever the chunk is computed: fused into the task that reads it.

    Parameters
    ----------
    array : dask array of shape (n_samples,) or (n_samples, n_columns)
        Row-chunked values.
    name : str
        Name of the argument, for messages.
    non_negative : bool, default=False
        Also reject negative values.

    Returns
    -------
    checked : dask array
        The same values, chunks and dtype.
    """
    if array.dtype.kind not in "fc" and not non_negative:
        return array
    # (``name`` is map_blocks' own keyword: the argument's name travels as ``label``.)
    return da.map_blocks(
        checked_block,
        array,
        label=name,
        non_negative=non_negative,
        dtype=array.dtype,
        meta=array._meta,
    )


def category_values(
    X: Any, positions: Sequence[int], *, retries: int = 0
) -> tuple[np.ndarray, ...]:
    """The distinct non-missing values of columns ``positions`` of a dask array or DataFrame.

    One pass (each chunk's distinct values, merged on the client).
    """
    from daskgd.trees.categories import merge_categories

    return merge_categories(compute(*category_parts(X, positions), retries=retries))


def category_parts(X: Any, positions: Sequence[int]) -> list[Any]:
    """Each chunk's distinct values of columns ``positions``, as delayed values (no pass)."""
    from daskgd.trees.categories import block_categories

    blocks = X.to_delayed() if hasattr(X, "columns") else X.rechunk({1: -1}).to_delayed().ravel()
    return [delayed(block_categories)(block, list(positions)) for block in blocks]
