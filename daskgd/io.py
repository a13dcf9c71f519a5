"""Data on disk as row-chunked dask arrays, and synthetic data with a known true model."""

from __future__ import annotations

import os
import uuid
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from scipy.special import expit

TASKS = ("regression", "classification")


def _synthetic_block(
    block_rows: int, coef: np.ndarray, intercept: float, task: str, seed: int, block_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) and target (n,) of one block."""
    rng = np.random.default_rng([seed, block_index])
    X = rng.standard_normal((block_rows, coef.size))
    raw = X @ coef + intercept
    if task == "classification":
        target = (rng.random(block_rows) < expit(raw)).astype(np.float64)
    else:
        target = raw + rng.standard_normal(block_rows)
    return X, target


def _write_block(
    X_store: Any, y_store: Any, start: int, stop: int, block: Future[tuple[np.ndarray, np.ndarray]]
) -> None:
    X, target = block.result()
    X_store[start:stop] = X
    y_store[start:stop] = target


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
    progress: bool = False,
    compress: bool = True,
    client: Any = None,
) -> dict[str, Any]:
    """Write synthetic data with a known true model to a zarr group, chunk by chunk.

    Features are standard normal; a classification target is drawn from the
    logistic model ``P(y=1) = expit(x @ coef + intercept)``, a regression target
    is ``x @ coef + intercept`` plus standard normal noise. Each chunk is drawn
    from its own seeded generator, by a few threads at once, and written in
    order, so memory stays bounded by a few chunks whatever ``n_rows`` is. With
    a ``client``, the cluster's workers draw and write the chunks instead (each
    its own zarr chunks, so no two write the same one): the same data.

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
    progress : bool, default=False
        Show a progress bar (tqdm) on standard error.
    compress : bool, default=True
        Compress the chunks with zarr's default codec (random data hardly
        compresses; ``False`` writes and reads faster).
    client : distributed.Client, optional
        Write from this cluster's workers, which must all reach ``path``.

    Returns
    -------
    info : dict
        ``{"coef", "intercept", "n_rows", "n_features", "task", "seed"}``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    if n_rows < 1 or n_features < 1 or chunk_rows < 1:
        raise ValueError("n_rows, n_features and chunk_rows must be positive.")
    coef, intercept = true_model(n_features, seed)
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update({"task": task, "seed": seed, "coef": coef.tolist(), "intercept": intercept})
    codecs: dict[str, Any] = {} if compress else {"compressors": None}
    X_store = group.create_array(
        "X", shape=(n_rows, n_features), chunks=(chunk_rows, n_features), dtype="f8", **codecs
    )
    y_store = group.create_array("y", shape=(n_rows,), chunks=(chunk_rows,), dtype="f8", **codecs)
    info = {
        "coef": coef,
        "intercept": intercept,
        "n_rows": n_rows,
        "n_features": n_features,
        "task": task,
        "seed": seed,
    }
    if client is not None:
        _write_synthetic_on_workers(client, Path(path).resolve(), info, chunk_rows, progress)
        return info
    starts: Any = range(0, n_rows, chunk_rows)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"writing {Path(path).name}", unit="chunk")
    # numpy's generators and BLAS release the GIL: draw a few chunks ahead, write in order.
    threads = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[tuple[int, int, Future[tuple[np.ndarray, np.ndarray]]]] = deque()
        for index, start in enumerate(starts):
            stop = min(n_rows, start + chunk_rows)
            block = pool.submit(_synthetic_block, stop - start, coef, intercept, task, seed, index)
            pending.append((start, stop, block))
            if len(pending) > threads:
                _write_block(X_store, y_store, *pending.popleft())
        while pending:
            _write_block(X_store, y_store, *pending.popleft())
    return info


def _write_synthetic_chunk(path: str, info: dict[str, Any], index: int, chunk_rows: int) -> int:
    """Draw chunk ``index`` of :func:`write_synthetic`'s data and write it (on a worker)."""
    start = index * chunk_rows
    stop = min(info["n_rows"], start + chunk_rows)
    block = _synthetic_block(
        stop - start, info["coef"], info["intercept"], info["task"], info["seed"], index
    )
    X_store = zarr.open_array(path, path="X", mode="r+")
    y_store = zarr.open_array(path, path="y", mode="r+")
    X_store[start:stop], y_store[start:stop] = block
    return stop - start


def _write_synthetic_on_workers(
    client: Any, path: Path, info: dict[str, Any], chunk_rows: int, progress: bool
) -> None:
    """Have the workers draw and write every chunk of the group created at ``path``."""
    from distributed import as_completed

    n_chunks = -(-info["n_rows"] // chunk_rows)
    token = uuid.uuid4().hex  # two writers of the same file name never share keys
    futures = client.map(
        _write_synthetic_chunk,
        [str(path)] * n_chunks,
        [info] * n_chunks,
        range(n_chunks),
        [chunk_rows] * n_chunks,
        key=[f"daskgd-make-data-{token}-{i}" for i in range(n_chunks)],
        pure=False,
    )
    done: Any = as_completed(futures)
    if progress:
        from tqdm.auto import tqdm

        done = tqdm(done, total=n_chunks, desc=f"writing {path.name}", unit="chunk")
    written = sum(future.result() for future in done)
    if written != info["n_rows"]:
        raise RuntimeError(f"wrote {written} rows of {info['n_rows']} to {path}.")


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


# ---- loaders: files -> aligned, row-chunked dask arrays ----

#: Chunks are planned to hold about this many bytes of X (64-256 MiB is the sweet spot).
TARGET_CHUNK_BYTES = 128 * 2**20
#: Below this size per chunk, scheduling overhead dominates the work.
MIN_CHUNK_BYTES = 1 * 2**20


class DataWarning(UserWarning):
    """A loader's warning: the data will load, but the fit will be slower than it should."""


def _split_key(source: str | Path) -> tuple[Path, str | None]:
    """``"file.h5::/X"`` -> (Path("file.h5"), "/X"); plain paths have no key."""
    text = str(source)
    if "::" in text:
        path, key = text.split("::", 1)
        return Path(path), key
    return Path(text), None


def _kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir() and (
        name.endswith(".zarr")
        or (path / "zarr.json").exists()
        or (path / ".zarray").exists()
        or (path / ".zgroup").exists()
    ):
        return "zarr"
    if name.endswith((".h5", ".hdf5", ".hdf")):
        return "hdf5"
    if name.endswith(".npy"):
        return "npy"
    if name.endswith((".parquet", ".pq")) or (path.is_dir() and any(path.glob("*.parquet"))):
        return "parquet"
    if name.endswith((".csv", ".tsv", ".txt")) or "*" in name:
        return "csv"
    raise ValueError(
        f"Cannot tell the format of {str(path)!r}: daskgd reads zarr (a directory), HDF5 "
        "(.h5/.hdf5, with '::dataset'), .npy, Parquet (.parquet or a directory of them) and CSV."
    )


class NpyFile:
    """A ``.npy`` file that reads only the rows asked for (memory-mapped).

    ``da.from_array`` copies arrays that have a ``copy`` method, which for a
    memory map would read the whole file into the graph; this wrapper has none,
    and pickles as its path.

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file.
    """

    def __init__(self, path: str | Path) -> None:
        memory_map = np.load(path, mmap_mode="r")
        self.path = str(Path(path).resolve())
        self.shape = memory_map.shape
        self.dtype = memory_map.dtype
        self.ndim = memory_map.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(np.load(self.path, mmap_mode="r")[key])


def _open_array(source: str | Path, default_key: str) -> da.Array:
    """One array from zarr, HDF5 or .npy, lazily, with its on-disk chunking kept."""
    path, key = _split_key(source)
    path = path.resolve()  # workers may run in another directory
    kind = _kind(path)
    if kind == "zarr":
        node = zarr.open(str(path), mode="r")
        if isinstance(node, zarr.Group):
            component = key or default_key
            if component not in node:
                raise ValueError(
                    f"The zarr group {str(path)!r} has no array {component!r}; it has "
                    f"{sorted(node.array_keys())}. Name one with '{path}::NAME'."
                )
            return da.from_zarr(str(path), component=component)
        return da.from_zarr(str(path))
    if kind == "hdf5":
        import h5py

        handle = h5py.File(path, "r")
        name = key or default_key
        if name not in handle:
            names: list[str] = []
            handle.visit(names.append)
            raise ValueError(
                f"The HDF5 file {str(path)!r} has no dataset {name!r}; it has {names}. "
                f"Name one with '{path}::DATASET'."
            )
        dataset = handle[name]
        chunks = dataset.chunks or "auto"
        return da.from_array(dataset, chunks=chunks, asarray=True)
    if kind == "npy":
        return da.from_array(NpyFile(path), chunks="auto", asarray=True)
    raise ValueError(f"{str(path)!r} is {kind} (a table): name a target column with target=.")


def _check_numeric_frame(frame: Any, one_hot: bool) -> Any:
    """Refuse (or one-hot encode) non-numeric columns, naming them."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    non_numeric = [
        name
        for name, dtype in frame.dtypes.items()
        if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype))
    ]
    if not non_numeric:
        return frame
    if not one_hot:
        raise ValueError(
            f"Columns {non_numeric} are not numeric (categorical or text). daskgd does not "
            "drop them silently: encode them first, pass one_hot=True (--one-hot) to one-hot "
            "encode them, or leave them out with columns=[...]."
        )
    import dask.dataframe as dd

    frame = frame.categorize(columns=non_numeric)
    return dd.get_dummies(frame, columns=non_numeric, dtype=np.float64)


def _open_table(
    paths: list[str], kind: str, target: str | None, columns: list[str] | None, one_hot: bool
) -> tuple[da.Array, da.Array | None, list[str]]:
    import dask.dataframe as dd

    if kind == "parquet":
        frame = dd.read_parquet(paths)
    else:
        frame = dd.read_csv(paths, sep="\t" if paths[0].endswith(".tsv") else ",")
    if target is not None and target not in frame.columns:
        raise ValueError(
            f"Target column {target!r} is not in {paths[0]!r}; columns are {list(frame.columns)}."
        )
    feature_columns = columns or [c for c in frame.columns if c != target]
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"Columns {missing} are not in {paths[0]!r}; columns are {list(frame.columns)}."
        )
    features = _check_numeric_frame(frame[feature_columns], one_hot)
    # Partition lengths are computed from the arrays themselves: selecting columns
    # can merge small files into fewer partitions than the frame reports.
    X = features.to_dask_array().astype(np.float64).compute_chunk_sizes()
    y = None
    if target is not None:
        y = frame[target].to_dask_array().compute_chunk_sizes()
    return X, y, [str(c) for c in features.columns]


def plan_chunks(
    X: da.Array,
    y: da.Array | None,
    *,
    chunk_bytes: int = TARGET_CHUNK_BYTES,
    memory_per_worker: int | None = None,
) -> tuple[da.Array, da.Array | None]:
    """Rechunk rows so that a chunk of ``X`` holds about ``chunk_bytes``; align ``y``.

    Row chunks are made a whole multiple of the on-disk chunks (so no chunk is
    read twice), columns are merged into one chunk, and a :class:`DataWarning`
    says when chunks are so small that scheduling dominates, or so large that a
    worker cannot hold two of them.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        Features.
    y : dask array of shape (n_samples,) or None
        Targets.
    chunk_bytes : int, default=128 MiB
        Target size of a chunk of ``X``.
    memory_per_worker : int, optional
        Memory limit of a worker, to warn about chunks that are too large.

    Returns
    -------
    X, y : dask arrays with the same row chunks
    """
    if X.ndim == 1:
        X = X[:, np.newaxis]
    row_bytes = max(1, int(np.prod(X.shape[1:])) * X.dtype.itemsize)
    wanted = max(1, chunk_bytes // row_bytes)
    # A whole number of on-disk chunks per chunk: splitting one would read (and
    # decompress) it several times per pass.
    disk_rows = max(1, int(X.chunks[0][0]) if X.chunks[0] else 1)
    rows = disk_rows * max(1, round(wanted / disk_rows))
    X = X.rechunk({0: rows, 1: -1})
    actual_bytes = int(max(X.chunks[0], default=0)) * row_bytes
    if X.numblocks[0] > 1 and actual_bytes < MIN_CHUNK_BYTES:
        warnings.warn(
            f"Chunks of {actual_bytes / 2**20:.2f} MiB: scheduling overhead will "
            "dominate. Pass a larger chunk size (64-256 MiB is typical).",
            DataWarning,
            stacklevel=3,
        )
    if memory_per_worker and 2 * actual_bytes > memory_per_worker:
        warnings.warn(
            f"Chunks of {actual_bytes / 2**20:.0f} MiB: a worker with "
            f"{memory_per_worker / 2**20:.0f} MiB cannot hold two. Pass a smaller chunk size.",
            DataWarning,
            stacklevel=3,
        )
    if y is not None:
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} rows but the target has {y.shape[0]}: they must match."
            )
        y = y.rechunk({0: X.chunks[0]} if y.ndim == 1 else {0: X.chunks[0], 1: -1})
    return X, y


def load(
    source: str | Path | list[str | Path],
    target: str | Path | None = None,
    *,
    columns: list[str] | None = None,
    chunk_bytes: int = TARGET_CHUNK_BYTES,
    one_hot: bool = False,
    memory_per_worker: int | None = None,
) -> tuple[da.Array, da.Array | None]:
    """Open data files as an aligned pair of row-chunked dask arrays ``(X, y)``.

    Nothing is read but metadata (and, for Parquet and CSV, the row counts of
    the partitions, so that chunk sizes are known).

    Parameters
    ----------
    source : str, Path or list of them
        zarr (an array, or a group with arrays ``X`` and ``y``), HDF5 (``file.h5::X``),
        ``.npy`` (memory-mapped), Parquet or CSV files (a list or a glob for many).
    target : str or Path, optional
        For arrays: the target array (a path, ``file.h5::y``, or a component of the
        same zarr group); for tables: the target column. ``None`` for a zarr group
        with an array ``y``, else no target.
    columns : list of str, optional
        Feature columns of a table (default: all but the target).
    chunk_bytes : int, default=128 MiB
        Planned size of a chunk of ``X``.
    one_hot : bool, default=False
        One-hot encode non-numeric table columns instead of refusing them.
    memory_per_worker : int, optional
        Memory of a worker, to warn about chunks too large for it.

    Returns
    -------
    X : dask array of shape (n_samples, n_features)
    y : dask array of shape (n_samples,) or None
    """
    sources = [str(s) for s in source] if isinstance(source, list) else [str(source)]
    first_path, _ = _split_key(sources[0])
    kind = "csv" if "*" in sources[0] else _kind(first_path)
    y: da.Array | None
    if kind in ("parquet", "csv"):
        sources = [str(Path(s).resolve()) if "*" not in s else s for s in sources]
        X, y, _ = _open_table(
            sources, kind, None if target is None else str(target), columns, one_hot
        )
    else:
        X = da.concatenate([_open_array(s, "X") for s in sources], axis=0)
        if target is None and kind == "zarr" and _zarr_has(first_path, "y"):
            target = f"{first_path}::y"
        y = None
        if target is not None:
            target_text = str(target)
            if kind in ("zarr", "hdf5") and not _looks_like_path(target_text):
                target_text = f"{first_path}::{target_text}"
            y = _open_array(target_text, "y")
        for array, name in ((X, "X"), (y, "target")):
            if array is not None and array.dtype.kind not in "biuf":
                raise ValueError(f"The {name} array has dtype {array.dtype}; it must be numeric.")
    return plan_chunks(X, y, chunk_bytes=chunk_bytes, memory_per_worker=memory_per_worker)


def _zarr_has(path: Path, name: str) -> bool:
    node = zarr.open(str(path), mode="r")
    return isinstance(node, zarr.Group) and name in node


def _looks_like_path(text: str) -> bool:
    return "::" in text or "/" in text or Path(text).exists() or "." in Path(text).name
