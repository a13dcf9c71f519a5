"""Loaders and synthetic data, on real files in ``tmp_path``.

``daskgd.io.load`` is checked on every format it reads (zarr, HDF5, .npy, Parquet,
CSV) against the data written; ``write_synthetic`` against its documented true
model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.dataframe as dd
import h5py
import numpy as np
import pandas as pd
import pytest
import zarr
from data_helpers import (
    DISK_ROWS,
    N_FEATURES,
    N_ROWS,
    assert_loaded,
    frame_of,
    make_data,
    quiet_load,
    read_group,
    row_boundaries,
    stored,
    write_zarr_group,
)
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

from daskgd.io import DataWarning, load, load_zarr, true_model, write_synthetic

# ---------------------------------------------------------------- load: formats


def test_load_zarr_group(tmp_path: Path) -> None:
    X, y = make_data()
    path = write_zarr_group(tmp_path / "data.zarr", X, y)
    assert_loaded(*load(path, chunk_bytes=2**20), X, y)
    # Components named explicitly, the target as a path or as a bare component name.
    assert_loaded(*load(f"{path}::X", f"{path}::y", chunk_bytes=2**20), X, y)
    assert_loaded(*load(f"{path}::X", "y", chunk_bytes=2**20), X, y)


def test_load_zarr_separate_arrays(tmp_path: Path) -> None:
    X, y = make_data()
    X_store = zarr.create_array(
        str(tmp_path / "X.zarr"), shape=X.shape, chunks=(DISK_ROWS, N_FEATURES), dtype="f8"
    )
    X_store[:] = X
    y_store = zarr.create_array(
        str(tmp_path / "y.zarr"), shape=y.shape, chunks=(DISK_ROWS,), dtype="f8"
    )
    y_store[:] = y
    assert_loaded(*load(tmp_path / "X.zarr", tmp_path / "y.zarr", chunk_bytes=2**20), X, y)


def test_load_hdf5(tmp_path: Path) -> None:
    X, y = make_data()
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("X", data=X, chunks=(DISK_ROWS, N_FEATURES))
        handle.create_dataset("y", data=y, chunks=(DISK_ROWS,))
    assert_loaded(*load(f"{path}::X", f"{path}::y"), X, y)
    # A bare dataset name as the target is a dataset of the same file.
    X_loaded, y_loaded = quiet_load(f"{path}::X", "y", chunk_bytes=250 * 8 * N_FEATURES)
    assert_loaded(X_loaded, y_loaded, X, y)
    assert all(size % DISK_ROWS == 0 for size in X_loaded.chunks[0]), X_loaded.chunks
    assert X_loaded.numblocks[0] > 1


def test_load_npy_is_memory_mapped(tmp_path: Path) -> None:
    X, y = make_data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    X_loaded, y_loaded = load(tmp_path / "X.npy", tmp_path / "y.npy")
    assert_loaded(X_loaded, y_loaded, X, y)
    # Memory-mapped, not read into memory: a change to the file after load() shows.
    on_disk = np.load(tmp_path / "X.npy", mmap_mode="r+")
    on_disk[0, 0] = 12345.0
    on_disk.flush()
    del on_disk
    assert X_loaded[0, 0].compute() == 12345.0


def test_load_parquet_file(tmp_path: Path) -> None:
    X, y = make_data()
    frame_of(X, y).to_parquet(tmp_path / "data.parquet")
    assert_loaded(*load(tmp_path / "data.parquet", target="target"), X, y)
    X_some, _ = load(tmp_path / "data.parquet", target="target", columns=["f2", "f0"])
    assert_array_equal(X_some.compute(), X[:, [2, 0]])


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # inside dask's Parquet writer
@pytest.mark.parametrize("writer", ["dask", "pandas"])
def test_load_parquet_directory(tmp_path: Path, writer: str) -> None:
    X, y = make_data()
    frame = frame_of(X, y)
    directory = tmp_path / "data"
    if writer == "dask":
        dd.from_pandas(frame, npartitions=3).to_parquet(directory)
    else:
        directory.mkdir()
        for part, rows in enumerate(np.array_split(np.arange(N_ROWS), 3)):
            frame.iloc[rows].to_parquet(directory / f"part.{part}.parquet")
    assert len(list(directory.glob("*.parquet"))) == 3
    X_loaded, y_loaded = load(directory, target="target")
    assert_loaded(X_loaded, y_loaded, X, y)


def test_load_csv_file_and_glob(tmp_path: Path) -> None:
    X, y = make_data()
    frame = frame_of(X, y)
    frame.to_csv(tmp_path / "all.csv", index=False)
    X_loaded, y_loaded = load(tmp_path / "all.csv", target="target")
    # CSV holds each float's shortest repr; pandas' default ("high") parser may read one
    # back an ulp off: 1e-15 is a few ulps.
    assert_loaded(X_loaded, y_loaded, X, y, rtol=1e-15)
    (tmp_path / "parts").mkdir()
    for part, rows in enumerate(np.array_split(np.arange(N_ROWS), 3)):
        frame.iloc[rows].to_csv(tmp_path / "parts" / f"part-{part}.csv", index=False)
    assert_loaded(*load(str(tmp_path / "parts" / "part-*.csv"), target="target"), X, y, 1e-15)


# ---------------------------------------------------------------- load: chunk planning


@pytest.mark.parametrize("rows_wanted", [1, 100, 170, 250, 370, 10_000])
def test_chunks_are_whole_disk_chunks(tmp_path: Path, rows_wanted: int) -> None:
    X, y = make_data()
    X, y = np.vstack([X, X[:50]]), np.concatenate([y, y[:50]])  # 650 rows: a partial last chunk
    path = write_zarr_group(tmp_path / "data.zarr", X, y)
    row_bytes = 8 * N_FEATURES
    X_loaded, y_loaded = quiet_load(path, chunk_bytes=rows_wanted * row_bytes)
    assert_loaded(X_loaded, y_loaded, X, y)
    disk = row_boundaries((DISK_ROWS,) * 6 + (50,))
    assert row_boundaries(X_loaded.chunks[0]) <= disk, X_loaded.chunks
    # As close to the wanted size as whole disk chunks allow.
    planned = X_loaded.chunks[0][0]
    assert abs(planned - min(max(rows_wanted, DISK_ROWS), 650)) <= DISK_ROWS / 2


def test_tiny_chunks_warn(tmp_path: Path) -> None:
    X, y = make_data()
    path = write_zarr_group(tmp_path / "data.zarr", X, y)
    with pytest.warns(DataWarning, match="scheduling overhead") as record:
        load(path, chunk_bytes=DISK_ROWS * 8 * N_FEATURES)
    assert record[0].filename == __file__  # the warning points at the caller of load()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        load(path, chunk_bytes=2**20)  # one chunk: nothing to schedule, no warning


def test_chunks_too_large_for_worker_warn(tmp_path: Path) -> None:
    X, y = make_data()
    path = write_zarr_group(tmp_path / "data.zarr", X, y)
    chunk_bytes = 3 * DISK_ROWS * 8 * N_FEATURES  # two chunks of 300 rows, 9600 bytes each
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # tiny chunks: not the point here
        warnings.filterwarnings("error", "Chunks.*cannot hold two", DataWarning)
        load(path, chunk_bytes=chunk_bytes, memory_per_worker=4 * chunk_bytes)
    with pytest.warns(DataWarning, match="cannot hold two"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Chunks.*scheduling overhead", DataWarning)
        load(path, chunk_bytes=chunk_bytes, memory_per_worker=chunk_bytes + 1)


def test_small_data_does_not_warn_about_worker_memory(tmp_path: Path) -> None:
    """The whole data set (19 KB) is one chunk: a worker with 1 MiB holds two of them."""
    X, y = make_data()
    path = write_zarr_group(tmp_path / "data.zarr", X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        X_loaded, _ = load(path, memory_per_worker=2**20)
    assert X_loaded.numblocks == (1, 1)


# ---------------------------------------------------------------- load: bad input


@pytest.mark.parametrize("dtype", ["category", "str"])
def test_parquet_text_column_refused_or_one_hot(tmp_path: Path, dtype: str) -> None:
    X, y = make_data()
    frame = frame_of(X, y)
    colors = np.array(["red", "green", "blue"])[np.arange(N_ROWS) % 3]
    frame.insert(2, "color", pd.Series(colors, dtype=dtype))
    frame.to_parquet(tmp_path / "data.parquet")
    with pytest.raises(ValueError, match="color"):
        load(tmp_path / "data.parquet", target="target")
    X_encoded, y_loaded = load(tmp_path / "data.parquet", target="target", one_hot=True)
    values = X_encoded.compute()
    assert values.shape == (N_ROWS, N_FEATURES + 3)
    assert y_loaded is not None and y_loaded.chunks[0] == X_encoded.chunks[0]
    assert_array_equal(y_loaded.compute(), y)
    numeric = [j for j in range(values.shape[1]) if not np.isin(values[:, j], [0.0, 1.0]).all()]
    assert_array_equal(values[:, numeric], X)
    encoded = values[:, [j for j in range(values.shape[1]) if j not in numeric]]
    indicators = {tuple((colors == color).astype(float)) for color in ["red", "green", "blue"]}
    assert {tuple(column) for column in encoded.T} == indicators


def test_unknown_zarr_component(tmp_path: Path) -> None:
    X, y = make_data()
    path = write_zarr_group(tmp_path / "data.zarr", X, y)
    with pytest.raises(ValueError, match=r"'features'.*\['X', 'y'\]"):
        load(f"{path}::features")
    with pytest.raises(ValueError, match=r"'labels'.*\['X', 'y'\]"):
        load(path, "labels")


def test_unknown_hdf5_dataset(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("X", data=np.ones((10, 2)))
        handle.create_dataset("y", data=np.ones(10))
    with pytest.raises(ValueError, match=r"'features'.*\['X', 'y'\]"):
        load(f"{path}::features", "y")
    with pytest.raises(ValueError, match=r"'labels'.*\['X', 'y'\]"):
        load(f"{path}::X", "labels")


def test_unknown_table_columns(tmp_path: Path) -> None:
    X, y = make_data()
    frame_of(X, y).to_parquet(tmp_path / "data.parquet")
    listed = r"\['f0', 'f1', 'f2', 'f3', 'target'\]"
    with pytest.raises(ValueError, match=rf"'label'.*{listed}"):
        load(tmp_path / "data.parquet", target="label")
    with pytest.raises(ValueError, match=rf"'f9'.*{listed}"):
        load(tmp_path / "data.parquet", target="target", columns=["f0", "f9"])


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_bytes(b"1,2,3\n")
    with pytest.raises(ValueError, match="Cannot tell the format"):
        load(path)


def test_rows_of_X_and_y_differ(tmp_path: Path) -> None:
    X, y = make_data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y[:-1])
    with pytest.raises(ValueError, match=f"{N_ROWS}.*{N_ROWS - 1}"):
        load(tmp_path / "X.npy", tmp_path / "y.npy")


# ---------------------------------------------------------------- write_synthetic


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_write_synthetic_is_deterministic(tmp_path: Path, task: str) -> None:
    first = write_synthetic(tmp_path / "a.zarr", 700, 3, task=task, chunk_rows=300, seed=7)
    write_synthetic(tmp_path / "b.zarr", 700, 3, task=task, chunk_rows=300, seed=7)
    write_synthetic(tmp_path / "c.zarr", 700, 3, task=task, chunk_rows=300, seed=8)
    X_a, y_a = read_group(tmp_path / "a.zarr")
    X_b, y_b = read_group(tmp_path / "b.zarr")
    X_c, _ = read_group(tmp_path / "c.zarr")
    assert_array_equal(X_a, X_b)
    assert_array_equal(y_a, y_b)
    assert not np.array_equal(X_a, X_c)
    # Chunks on disk are chunk_rows rows; distinct chunks hold distinct draws.
    group = zarr.open_group(str(tmp_path / "a.zarr"), mode="r")
    assert stored(tmp_path / "a.zarr", "X").chunks == (300, 3)
    assert stored(tmp_path / "a.zarr", "y").chunks == (300,)
    assert not np.array_equal(X_a[:300], X_a[300:600])
    X_lazy, y_lazy = load_zarr(tmp_path / "a.zarr")
    assert X_lazy.chunks == ((300, 300, 100), (3,))
    assert y_lazy.chunks == ((300, 300, 100),)
    # The documented true model, returned and stored with the data.
    coef, intercept = true_model(3, 7)
    assert_array_equal(first["coef"], coef)
    assert first["intercept"] == intercept == group.attrs["intercept"]
    assert_array_equal(group.attrs["coef"], coef)
    assert group.attrs["task"] == task and group.attrs["seed"] == 7


def test_write_synthetic_regression_recovers_true_model(tmp_path: Path) -> None:
    n_rows, n_features = 20_000, 5
    info = write_synthetic(
        tmp_path / "r.zarr", n_rows, n_features, task="regression", chunk_rows=3000, seed=3
    )
    X, y = read_group(tmp_path / "r.zarr")
    design = np.hstack([np.ones((n_rows, 1)), X])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    # Noise is N(0, 1) and features N(0, I): each least-squares estimate has a standard
    # error of about 1/sqrt(n) = 0.007. Five standard errors: a wrong model (another
    # seed's coef, a missing intercept, noise of another scale) is far outside.
    tolerance = 5 / np.sqrt(n_rows)
    assert_allclose(solution[0], info["intercept"], atol=tolerance)
    assert_allclose(solution[1:], info["coef"], atol=tolerance)
    residual = y - design @ solution
    assert abs(residual.std() - 1.0) < 5 / np.sqrt(2 * n_rows)  # noise std is 1


def test_write_synthetic_classification_follows_logistic_model(tmp_path: Path) -> None:
    n_rows, n_features = 20_000, 5
    info = write_synthetic(tmp_path / "c.zarr", n_rows, n_features, chunk_rows=3000, seed=4)
    X, y = read_group(tmp_path / "c.zarr")
    assert set(np.unique(y)) == {0.0, 1.0}
    # At the true model the log-likelihood's score has mean zero: for each column x_j
    # of [1, X], mean((y - p) x_j) ~ N(0, mean(p (1 - p) x_j^2) / n). Five sigmas.
    p = expit(X @ info["coef"] + info["intercept"])
    design = np.hstack([np.ones((n_rows, 1)), X])
    score = design.T @ (y - p) / n_rows
    sigma = np.sqrt((design**2).T @ (p * (1 - p)) / n_rows**2)
    assert np.all(np.abs(score) < 5 * sigma), score / sigma
    # ... while the same data with another model's probabilities is refused.
    p_wrong = expit(X @ info["coef"])
    assert np.any(np.abs(design.T @ (y - p_wrong) / n_rows) > 5 * sigma)
