"""Loaders, synthetic data and the ``daskgd`` command line, on real files in ``tmp_path``.

``daskgd.io.load`` is checked on every format it reads (zarr, HDF5, .npy, Parquet,
CSV) against the data written; ``write_synthetic`` against its documented true
model; the command line as real subprocesses (make-data, fit, predict), on a
LocalCluster it starts itself and on a separately started ``dask scheduler`` and
``dask worker``, against estimators fitted in this process on the same data.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import dask.dataframe as dd
import h5py
import joblib
import numpy as np
import pandas as pd
import pytest
import zarr
from distributed import Client
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

import daskgd
from daskgd.io import DataWarning, load, load_zarr, true_model, write_synthetic
from daskgd.serialization import UntrustedModelWarning, load_model, read_header, save_model

N_ROWS = 600
N_FEATURES = 4
#: Rows per chunk on disk in the loader tests: chunks are planned in multiples of it.
DISK_ROWS = 100
#: Seconds any one subprocess may take (generous: CI machines can be loaded).
CLI_TIMEOUT = 300
#: Seconds all the concurrent commands together may take.
BATCH_TIMEOUT = 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- helpers


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


def stored(path: Path, name: str) -> zarr.Array:
    """Array ``name`` of the zarr group at ``path``."""
    return zarr.open_array(str(path), path=name, mode="r")


def read_group(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(stored(path, "X")[:]), np.asarray(stored(path, "y")[:])


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


# ---------------------------------------------------------------- the command line
#
# Every command is a fresh Python process that imports dask and scikit-learn and, to
# fit or predict, starts a LocalCluster or joins the external scheduler: seconds of CPU
# each. So the commands run concurrently, once per module (fixture ``runs``), and each
# test below checks the outcome of one of them.

CLI_ROWS = 3000
#: Planned chunks of 0.05 MiB: 1500 rows of 40 bytes (three disk chunks), two in all.
CHUNK_MB = 0.05
#: model -> (data set, estimator, --param values, cluster). Small budgets keep fits fast.
FITS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "linear": ("regression", "LinearRegression", {}, "local"),
    "logistic": ("classification", "LogisticRegression", {"C": 0.5, "max_iter": 20}, "external"),
    "svm": ("classification", "LinearSVC", {"max_iter": 20}, "external"),
    "sgd-classifier": (
        "classification",
        "SGDClassifier",
        {"max_iter": 3, "tol": None, "random_state": 0},
        "external",
    ),
}
#: The same data in the same chunks, reduced in a fixed order: between two processes only
#: the last bits of per-chunk BLAS products may differ. 1e-8 leaves room for that and is
#: far below what one more solver iteration, or another chunking, would change.
SAME_RTOL, SAME_ATOL = 1e-8, 1e-10


@dataclass
class Run:
    """The outcome of one command."""

    returncode: int
    stdout: str
    stderr: str
    cwd: Path

    def __str__(self) -> str:
        return (
            f"exit status {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def module_command(*args: Any) -> list[str]:
    return [sys.executable, "-m", "daskgd.cli", *map(str, args)]


def run_concurrently(commands: dict[str, list[str]], root: Path) -> dict[str, Run]:
    """Run the commands at once, each in its own directory ``root/NAME``, within a timeout."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            cwd = root / name
            cwd.mkdir()
            with open(cwd / "stdout", "wb") as out, open(cwd / "stderr", "wb") as err:
                processes[name] = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err)
        deadline = time.monotonic() + BATCH_TIMEOUT
        for process in processes.values():
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {
        name: Run(
            process.returncode,
            (root / name / "stdout").read_text(),
            (root / name / "stderr").read_text(),
            root / name,
        )
        for name, process in processes.items()
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression and a classification data set, written by the ``daskgd`` console script."""
    directory = tmp_path_factory.mktemp("cli")
    script = Path(sys.executable).with_name("daskgd")
    assert script.exists(), f"the daskgd console script is not next to {sys.executable}"
    commands = {
        f"make-{task}": [
            *(str(script), "make-data", str(directory / f"{task}.zarr")),
            *("--rows", str(CLI_ROWS), "--features", str(N_FEATURES), "--task", task),
            *("--chunk-rows", "500", "--seed", "5"),
        ]
        for task in ("regression", "classification")
    }
    for name, run in run_concurrently(commands, directory).items():
        assert run.returncode == 0, f"{name}: {run}"
    return directory


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``dask scheduler`` and one ``dask worker``, started as separate processes."""
    directory = tmp_path_factory.mktemp("cluster")
    scheduler_file = directory / "scheduler.json"
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(directory / f"{name}.log", "wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", f"distributed.cli.dask_{name}", *args],
                cwd=directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process

    try:
        scheduler = start(
            "scheduler",
            *("--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
            *("--scheduler-file", str(scheduler_file)),
        )
        deadline = time.monotonic() + CLI_TIMEOUT
        address = None
        while address is None:
            assert scheduler.poll() is None, (directory / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not write its address"
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.2)
        start(
            "worker",
            address,
            *("--nthreads", "1", "--no-nanny", "--no-dashboard"),
            *("--local-directory", str(directory)),
        )
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=CLI_TIMEOUT)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _TouchOnUnpickle:
    """Unpickling this object's pickle creates ``marker``: proof that it was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return Path.touch, (Path(self.marker),)


def table_data() -> pd.DataFrame:
    """Numeric features, a text column to leave out with --columns, a float target."""
    X, y = make_data(seed=11)
    frame = frame_of(X, y)
    frame.insert(1, "note", np.array(["a", "b"])[np.arange(N_ROWS) % 2])
    return frame


@pytest.fixture(scope="module")
def runs(data_dir: Path, scheduler_address: str) -> dict[str, Run]:
    """Every command of the tests below, run concurrently (see the top of this section)."""
    table_data().to_parquet(data_dir / "table.parquet")
    X, y = quiet_load(data_dir / "classification.zarr", chunk_bytes=int(CHUNK_MB * 2**20))
    save_model(daskgd.LogisticRegression().fit(X, y), data_dir / "logistic.daskgd")
    joblib.dump(_TouchOnUnpickle(data_dir / "cli-payload-ran"), data_dir / "plain.joblib")

    external = ("--scheduler", scheduler_address)
    commands = {}
    for model, (task, _, params, cluster) in FITS.items():
        commands[f"fit-{model}"] = module_command(
            *("fit", data_dir / f"{task}.zarr", "--model", model),
            *[arg for key, value in params.items() for arg in ("--param", f"{key}={value}")],
            *(external if cluster == "external" else ("--workers", "1")),
            *("--chunk-mb", CHUNK_MB, "--plot", "loss.png", "--report", "report.json"),
            *("-o", "model.daskgd"),
            *(["--quiet"] if model != "logistic" else []),  # one fit with its progress bar
        )
    commands["fit-hgb"] = module_command(
        *("fit", data_dir / "classification.zarr", "--model", "hgb-classifier"),
        *[arg for key, value in HGB_PARAMS.items() for arg in ("--param", f"{key}={value}")],
        *("--workers", "1", "--chunk-mb", CHUNK_MB, "--report", "report.json"),
        *("--plot", "loss.png", "--quiet", "-o", "model.daskgd"),
    )
    commands["fit-unknown-param"] = module_command(
        *("fit", data_dir / "classification.zarr", "--model", "logistic"),
        *("--param", "learning_speed=3", "-o", "model.daskgd"),
    )
    commands["fit-parquet"] = module_command(
        *("fit", data_dir / "table.parquet", "--target", "target", "--columns", "f0,f1,f2,f3"),
        *("--model", "ridge", "--param", "alpha=2.0", *external, "--quiet", "-o", "model.daskgd"),
    )
    commands["predict-zarr"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *(*external, "-o", data_dir / "predict-zarr" / "predictions.zarr"),
    )
    commands["predict-zarr-relative"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *(*external, "-o", "predictions.zarr"),
    )
    commands["predict-proba-npy"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *("--proba", *external, "-o", "proba.npy"),
    )
    commands["predict-plain-joblib"] = module_command(
        *("predict", data_dir / "plain.joblib", data_dir / "classification.zarr"),
        *(*external, "-o", "predictions.npy"),
    )
    return run_concurrently(commands, data_dir)


def test_cli_make_data(data_dir: Path) -> None:
    for task in ("regression", "classification"):
        group = zarr.open_group(str(data_dir / f"{task}.zarr"), mode="r")
        assert stored(data_dir / f"{task}.zarr", "X").shape == (CLI_ROWS, N_FEATURES)
        assert stored(data_dir / f"{task}.zarr", "X").chunks == (500, N_FEATURES)
        assert stored(data_dir / f"{task}.zarr", "y").chunks == (500,)
        assert group.attrs["task"] == task and group.attrs["seed"] == 5
        assert_array_equal(group.attrs["coef"], true_model(N_FEATURES, 5)[0])
    labels = np.asarray(stored(data_dir / "classification.zarr", "y")[:])
    assert set(np.unique(labels)) == {0.0, 1.0}


def in_process_fit(model: str, data: Path) -> tuple[Any, np.ndarray]:
    """The estimator the CLI fits, fitted here (dask's local scheduler) on the same chunks."""
    _, name, params, _ = FITS[model]
    X, y = quiet_load(data, chunk_bytes=int(CHUNK_MB * 2**20))
    assert X.numblocks[0] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the 3-epoch SGD
        estimator = getattr(daskgd, name)(**params).fit(X, y)
    return estimator, X.compute()


@pytest.mark.parametrize("model", list(FITS))
def test_cli_fit(data_dir: Path, runs: dict[str, Run], model: str) -> None:
    task, name, _, _ = FITS[model]
    run = runs[f"fit-{model}"]
    assert run.returncode == 0, str(run)
    assert name in run.stdout
    assert (run.cwd / "loss.png").read_bytes().startswith(PNG_SIGNATURE)

    data = data_dir / f"{task}.zarr"
    expected, X = in_process_fit(model, data)
    report = json.loads((run.cwd / "report.json").read_text())
    assert report["model"] == name
    assert (report["n_rows"], report["n_features"]) == (CLI_ROWS, N_FEATURES)
    assert report["n_coefficients"] == N_FEATURES + 1
    assert report["n_iter"] == int(np.max(expected.n_iter_)) >= 1
    assert report["n_passes"] == expected.n_passes_ >= 1
    assert len(report["loss_curve"]) == report["n_iter"]
    assert np.all(np.isfinite(report["loss_curve"]))
    assert report["objective"] == report["loss_curve"][-1]
    assert 0 < report["seconds"] < CLI_TIMEOUT
    assert_allclose(report["loss_curve"], expected.loss_curve_, rtol=SAME_RTOL)
    if model == "linear":
        assert report["n_passes"] == 1  # the normal equations: one pass
    elif model == "sgd-classifier":
        assert report["n_iter"] == 3  # max_iter epochs, tol=None
        assert report["n_passes"] == 3 + 1  # and the label pass
    else:
        assert report["loss_curve"][-1] <= report["loss_curve"][0]

    assert read_header(run.cwd / "model.daskgd")["estimator"] == name
    with pytest.warns(UntrustedModelWarning):
        fitted = load_model(run.cwd / "model.daskgd")
    assert type(fitted) is type(expected)
    assert fitted.get_params()["max_iter"] == expected.get_params()["max_iter"]
    assert_allclose(fitted.coef_, expected.coef_, rtol=SAME_RTOL, atol=SAME_ATOL)
    assert_allclose(fitted.intercept_, expected.intercept_, rtol=SAME_RTOL, atol=SAME_ATOL)
    prediction = fitted.predict(X)
    assert isinstance(prediction, np.ndarray) and prediction.shape == (CLI_ROWS,)
    if task == "classification":
        assert_array_equal(prediction, expected.predict(X))
    else:
        assert_allclose(prediction, expected.predict(X), rtol=1e-8, atol=1e-8)


HGB_PARAMS = {"max_iter": 4, "early_stopping": True, "random_state": 0}


def test_cli_fit_trees(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["fit-hgb"]
    assert run.returncode == 0, str(run)
    assert "HistGradientBoostingClassifier" in run.stdout and "4 trees" in run.stdout
    X, y = quiet_load(data_dir / "classification.zarr", chunk_bytes=int(CHUNK_MB * 2**20))
    expected = daskgd.HistGradientBoostingClassifier(**HGB_PARAMS).fit(X, y)
    report = json.loads((run.cwd / "report.json").read_text())
    assert report["model"] == "HistGradientBoostingClassifier"
    assert report["n_trees"] == expected.n_iter_ == 4
    assert report["n_passes"] == expected.n_passes_
    # The loss of every tree on the training rows (early stopping records it).
    assert_allclose(report["loss_curve"], -expected.train_score_[1:], rtol=1e-12)
    assert (run.cwd / "loss.png").read_bytes().startswith(PNG_SIGNATURE)
    with pytest.warns(UntrustedModelWarning):
        fitted = load_model(run.cwd / "model.daskgd")
    X_memory = X.compute()
    assert_array_equal(fitted.predict(X_memory), expected.predict(X_memory))
    assert_allclose(fitted.predict_proba(X_memory), expected.predict_proba(X_memory))


def test_cli_fit_on_external_scheduler(runs: dict[str, Run], scheduler_address: str) -> None:
    """The logistic fit ran on the external cluster (its coefficients: test_cli_fit)."""
    assert runs["fit-logistic"].returncode == 0, str(runs["fit-logistic"])
    with Client(scheduler_address, timeout=60) as client:
        # The command closed its client only: the scheduler and its worker are still up...
        assert len(client.scheduler_info()["workers"]) == 1
        # ... and the fit logged its iterations to that scheduler.
        events = [message for _, message in client.get_events("daskgd")]
    logistic = [event for event in events if event["estimator"] == "LogisticRegression"]
    states = [event["state"] for event in logistic]
    assert states[0] == "started" and states[-1] == "finished"
    report = json.loads((runs["fit-logistic"].cwd / "report.json").read_text())
    assert states.count("running") == report["n_iter"]
    # The LocalCluster fit did not go there.
    assert not any(event["estimator"] == "LinearRegression" for event in events)


def test_cli_fit_unknown_param(runs: dict[str, Run]) -> None:
    run = runs["fit-unknown-param"]
    assert run.returncode != 0
    assert "learning_speed" in run.stderr
    assert not (run.cwd / "model.daskgd").exists()


def test_cli_fit_parquet_with_target_column(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["fit-parquet"]
    assert run.returncode == 0, str(run)
    fitted = load_model(run.cwd / "model.daskgd", warn=False)
    columns = ["f0", "f1", "f2", "f3"]
    X, y = load(data_dir / "table.parquet", target="target", columns=columns)
    expected = daskgd.Ridge(alpha=2.0).fit(X, y)
    assert fitted.n_features_in_ == N_FEATURES
    assert_allclose(fitted.coef_, expected.coef_, rtol=SAME_RTOL, atol=SAME_ATOL)
    assert_allclose(fitted.intercept_, expected.intercept_, rtol=SAME_RTOL, atol=SAME_ATOL)
    frame = table_data()
    assert_allclose(fitted.predict(frame[columns].to_numpy()), expected.predict(X.compute()))


@pytest.mark.parametrize("path", ["absolute", "relative"])
def test_cli_predict_zarr(data_dir: Path, runs: dict[str, Run], path: str) -> None:
    """Predictions to zarr, on the external cluster, to an absolute or a relative path."""
    run = runs["predict-zarr" if path == "absolute" else "predict-zarr-relative"]
    assert run.returncode == 0, str(run)
    model = load_model(data_dir / "logistic.daskgd", warn=False)
    X = np.asarray(stored(data_dir / "classification.zarr", "X")[:])
    written = np.asarray(zarr.open_array(str(run.cwd / "predictions.zarr"), mode="r")[:])
    assert_array_equal(written, model.predict(X))


def test_cli_predict_proba_npy(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["predict-proba-npy"]
    assert run.returncode == 0, str(run)
    model = load_model(data_dir / "logistic.daskgd", warn=False)
    X = np.asarray(stored(data_dir / "classification.zarr", "X")[:])
    written = np.load(run.cwd / "proba.npy")
    assert written.shape == (CLI_ROWS, 2)
    assert_allclose(written, model.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_non_daskgd_file_is_refused_unpickled(
    data_dir: Path, runs: dict[str, Run], tmp_path: Path
) -> None:
    # The payload works: loading it as a plain joblib file runs it.
    control_marker = tmp_path / "control-ran"
    joblib.dump(_TouchOnUnpickle(control_marker), tmp_path / "control.joblib")
    joblib.load(tmp_path / "control.joblib")
    assert control_marker.exists()

    marker = tmp_path / "payload-ran"
    joblib.dump(_TouchOnUnpickle(marker), tmp_path / "plain.joblib")
    with pytest.raises(ValueError, match="not a daskgd model file"):
        load_model(tmp_path / "plain.joblib")
    assert not marker.exists()

    run = runs["predict-plain-joblib"]
    assert run.returncode != 0
    assert "not a daskgd model file" in run.stderr
    assert not (data_dir / "cli-payload-ran").exists()
    assert not (run.cwd / "predictions.npy").exists()
