"""Data and helpers shared by the loader and command-line tests."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import zarr
from numpy.testing import assert_allclose

from daskgd.io import DataWarning, load

N_ROWS = 600
N_FEATURES = 4
#: Rows per chunk on disk in the loader tests: chunks are planned in multiples of it.
DISK_ROWS = 100


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, N_FEATURES))
    y = X @ np.arange(1.0, N_FEATURES + 1) + rng.standard_normal(N_ROWS)
    return X, y


def frame_of(X: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame["target"] = y
    return frame


def assert_loaded(
    X: da.Array, y: da.Array | None, X_expected: Any, y_expected: Any, rtol: float = 0.0
) -> None:
    """Values as written; known chunk sizes; one column chunk; the same row chunks."""
    assert y is not None
    for array in (X, y):
        assert not any(math.isnan(size) for size in array.chunks[0]), array.chunks
    assert len(X.chunks[1]) == 1, X.chunks
    assert y.chunks[0] == X.chunks[0]
    assert X.shape == np.shape(X_expected)
    assert_allclose(X.compute(), X_expected, rtol=rtol, atol=0)
    assert_allclose(y.compute(), y_expected, rtol=rtol, atol=0)


def write_zarr_group(path: Path, X: np.ndarray, y: np.ndarray, rows: int = DISK_ROWS) -> Path:
    group = zarr.open_group(str(path), mode="w")
    group.create_array("X", shape=X.shape, chunks=(rows, X.shape[1]), dtype="f8")[:] = X
    group.create_array("y", shape=y.shape, chunks=(rows,), dtype="f8")[:] = y
    return path


def row_boundaries(chunks: tuple[int, ...]) -> set[int]:
    return set(np.cumsum(chunks).tolist())


def quiet_load(*args: Any, **kwargs: Any) -> tuple[da.Array, da.Array | None]:
    """``load`` with its DataWarnings (tiny test chunks) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load(*args, **kwargs)


def stored(path: Path, name: str) -> zarr.Array:
    """Array ``name`` of the zarr group at ``path``."""
    return zarr.open_array(str(path), path=name, mode="r")


def read_group(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(stored(path, "X")[:]), np.asarray(stored(path, "y")[:])


@dataclass
class Run:
    """The outcome of one command, run in ``cwd``."""

    returncode: int
    stdout: str
    stderr: str
    cwd: Path

    def __str__(self) -> str:
        return (
            f"exit status {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )
