"""Data on disk as row-chunked dask arrays, and synthetic data with a known true model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from scipy.special import expit

TASKS = ("regression", "classification")


def _synthetic_block(
    block_rows: int, coef: np.ndarray, intercept: float, task: str, seed: int, block_index: int
) -> np.ndarray:
    """Features and target of one block as an (n, d + 1) array, target last."""
    rng = np.random.default_rng([seed, block_index])
    X = rng.standard_normal((block_rows, coef.size))
    raw = X @ coef + intercept
    if task == "classification":
        target = (rng.random(block_rows) < expit(raw)).astype(np.float64)
    else:
        target = raw + rng.standard_normal(block_rows)
    return np.hstack([X, target[:, np.newaxis]])


def true_model(n_features: int, seed: int) -> tuple[np.ndarray, float]:
    """The coefficients and intercept :func:`write_synthetic` draws its targets from."""
    rng = np.random.default_rng([seed, 2**31])
    coef = rng.standard_normal(n_features) * 2.0 / np.sqrt(n_features)
    return coef, 0.5


def write_synthetic(
    path: str | Path,
    n_rows: int,
    n_features: int,
    *,
    task: str = "classification",
    chunk_rows: int = 250_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write synthetic data with a known true model to a zarr group, chunk by chunk.

    Features are standard normal; a classification target is drawn from the
    logistic model ``P(y=1) = expit(x @ coef + intercept)``, a regression target
    is ``x @ coef + intercept`` plus standard normal noise. Memory stays bounded
    by a few chunks whatever ``n_rows`` is.

    Parameters
    ----------
    path : str or Path
        Directory of the zarr group to create (arrays ``X`` and ``y``).
    n_rows : int
        Number of rows.
    n_features : int
        Number of features.
    task : {"classification", "regression"}, default="classification"
        Kind of target.
    chunk_rows : int, default=250_000
        Rows per chunk on disk.
    seed : int, default=0
        Seed; the same seed and shape give the same data.

    Returns
    -------
    info : dict
        ``{"coef", "intercept", "n_rows", "n_features", "task", "seed"}``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    coef, intercept = true_model(n_features, seed)
    row_chunks = da.core.normalize_chunks((chunk_rows,), (n_rows,))[0]
    blocks = [
        da.from_delayed(
            _delayed_block(rows, coef, intercept, task, seed, index),
            shape=(rows, n_features + 1),
            dtype=np.float64,
        )
        for index, rows in enumerate(row_chunks)
    ]
    both = da.concatenate(blocks, axis=0)
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update({"task": task, "seed": seed, "coef": coef.tolist(), "intercept": intercept})
    X_store = group.create_array(
        "X", shape=(n_rows, n_features), chunks=(chunk_rows, n_features), dtype="f8"
    )
    y_store = group.create_array("y", shape=(n_rows,), chunks=(chunk_rows,), dtype="f8")
    sources: list[Any] = [both[:, :n_features], both[:, n_features]]
    targets: list[Any] = [X_store, y_store]
    da.store(sources, targets, lock=False)
    return {
        "coef": coef,
        "intercept": intercept,
        "n_rows": n_rows,
        "n_features": n_features,
        "task": task,
        "seed": seed,
    }


def _delayed_block(*args: Any) -> Any:
    from dask import delayed

    return delayed(_synthetic_block, pure=True)(*args)


def load_zarr(path: str | Path) -> tuple[da.Array, da.Array]:
    """Open the ``X`` and ``y`` arrays of a zarr group lazily, as row-chunked dask arrays.

    Parameters
    ----------
    path : str or Path
        Directory of the zarr group.

    Returns
    -------
    X : dask array of shape (n_samples, n_features)
    y : dask array of shape (n_samples,)
    """
    X = da.from_zarr(str(path), component="X")
    y = da.from_zarr(str(path), component="y")
    return X, y.rechunk((X.chunks[0],))
