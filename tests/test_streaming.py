"""Fits on a zarr file several times larger than the workers' memory stream it in bounded memory.

A 2-worker LocalCluster with a small ``memory_limit`` (a worker process with
dask, zarr and scipy loaded already uses about 160 MiB of it) fits on data three
times larger than one worker's limit (1.5 times the whole cluster's): ``cache="auto"``
must stream every pass from disk, no worker may be restarted, nothing may be
spilled, the workers' memory must stay under their limit, and the coefficients
must equal those of an in-memory fit of the same data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster
from distributed.diagnostics import MemorySampler

from daskgd import HistGradientBoostingClassifier, LinearRegression
from daskgd.io import load, write_synthetic

MEMORY_LIMIT = 320 * 2**20
N_FEATURES = 24
N_ROWS = 3 * MEMORY_LIMIT // ((N_FEATURES + 1) * 8)  # X and y: 3x one worker's limit
CHUNK_ROWS = 25_000  # ~4.8 MB chunks: a few in flight stay far below the spill threshold


@pytest.fixture(scope="module")
def small_cluster():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit=MEMORY_LIMIT,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _disk_writes(dask_worker) -> float:
    return float(sum(v for k, v in dask_worker.digests_total.items() if "disk-write" in str(k)))


@contextlib.contextmanager
def scratch_directory(fallback, nbytes):
    """Where to write a large data set: in RAM (/dev/shm) when it has room, else ``fallback``.

    The tests bound the workers' memory, not this machine's; writing gigabytes to
    a disk is what makes them slow."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 2 * nbytes:
        directory = Path(tempfile.mkdtemp(prefix="daskgd-", dir=shm))
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    else:
        yield fallback


@pytest.fixture(scope="module")
def large_data(tmp_path_factory):
    """One data set for both fits (written once: it takes seconds); y is 0 or 1."""
    with scratch_directory(
        tmp_path_factory.mktemp("streaming"), N_ROWS * (N_FEATURES + 1) * 8
    ) as directory:
        path = directory / "classification.zarr"
        write_synthetic(
            path,
            N_ROWS,
            N_FEATURES,
            task="classification",
            chunk_rows=CHUNK_ROWS,
            seed=3,
            compress=False,
        )
        yield path


@pytest.fixture(scope="module")
def large_data_in_memory(large_data):
    """The same data as NumPy arrays, read in this process (by zarr itself: faster than
    through dask's threads), not through the workers."""
    group = zarr.open_group(str(large_data), mode="r")
    return np.asarray(group["X"][:]), np.asarray(group["y"][:])


@pytest.mark.parametrize(
    "estimator",
    # One pass here; the trees' streamed case below streams pass after pass in
    # bounded memory (and an iterative linear fit streams the same bits as a kept
    # one: test_cache_does_not_change_the_result in tests/test_dask_estimators.py).
    [LinearRegression(solver="normal")],
    ids=["linear-normal"],
)
def test_fit_streams_data_larger_than_memory(
    small_cluster, large_data, large_data_in_memory, estimator
):
    client = small_cluster
    # (A linear regression of the 0/1 labels is a regression all the same.)
    X, y = load(large_data, chunk_bytes=CHUNK_ROWS * N_FEATURES * 8)
    data_bytes = X.nbytes + y.nbytes
    assert data_bytes > 2.9 * MEMORY_LIMIT

    # Shipped by value (a lambda): a function of this module would make the workers
    # import it, and with it scikit-learn, which alone costs 100 MB per worker.
    def disk_writes(dask_worker):
        return sum(v for k, v in dask_worker.digests_total.items() if "disk-write" in str(k))

    pids_before = client.run(os.getpid)
    writes_before = client.run(disk_writes)
    sampler = MemorySampler()
    with sampler.sample("fit", measure="process", interval=0.1):
        estimator.fit(X, y)
    assert client.run(os.getpid) == pids_before, "a worker was restarted"
    assert client.run(disk_writes) == writes_before, "a worker spilled to disk"
    peak = sampler.to_pandas()["fit"].max()
    assert peak < 2 * MEMORY_LIMIT, f"cluster memory peaked at {peak / 2**20:.0f} MiB"

    reference = type(estimator)(**estimator.get_params()).fit(*large_data_in_memory)
    np.testing.assert_allclose(estimator.coef_, reference.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(estimator.intercept_, reference.intercept_, rtol=1e-8, atol=1e-10)
    assert estimator.n_passes_ == reference.n_passes_


# ---- boosted trees: binned X is kept where float64 X would not fit, or streamed ----

TREES_MEMORY_LIMIT = 2**30
TREES_FEATURES = 128
# X and y as float64: 3x one worker's limit (1.5x the cluster's); binned, X is 8x smaller.
TREES_ROWS = 3 * TREES_MEMORY_LIMIT // ((TREES_FEATURES + 1) * 8)
TREES_CHUNK_ROWS = 20_000  # ~20 MB chunks


#: Workers whose free memory (below the spill threshold, after numba) cannot hold the
#: bins of the streamed case's rows.
STREAMING_TREES_MEMORY_LIMIT = 512 * 2**20
STREAMING_TREES_ROWS = 75 * TREES_CHUNK_ROWS


@pytest.fixture
def trees_clusters():
    """A cluster each for the kept and the streamed fit, the workers warmed up."""
    clients = []
    with contextlib.ExitStack() as stack:
        for memory_limit in (TREES_MEMORY_LIMIT, STREAMING_TREES_MEMORY_LIMIT):
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    memory_limit=memory_limit,
                    host="127.0.0.1",
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster, set_as_default=False))
            _warm(client)
            clients.append(client)
        yield clients


def _warm(client):
    """Workers that have imported numba (about 110 MiB each), as after a first fit."""
    rng = np.random.default_rng(0)
    X = da.from_array(rng.standard_normal((2_000, 3)), chunks=1_000)
    with client.as_current():
        HistGradientBoostingClassifier(max_iter=1).fit(X, X[:, 0] > 0)


def _fit_in_bounded_memory(client, X, y, memory_limit):
    """Fit the trees on ``client``: no restart, no spill, no worker past its spill threshold.

    Returns the model and the bytes of binned X that the workers held after the tree."""

    # Shipped by value (closures): see test_fit_streams_data_larger_than_memory.
    def disk_writes(dask_worker):
        return sum(v for k, v in dask_worker.digests_total.items() if "disk-write" in str(k))

    def binned_bytes(dask_worker):
        return sum(
            getattr(value, "nbytes", 0)
            for key, value in dask_worker.data.items()
            if isinstance(key, tuple) and str(key[0]).startswith("daskgd-binned")
        )

    held = []

    def after_each_tree(record):
        held.append(sum(client.run(binned_bytes).values()))

    pids_before = client.run(os.getpid)
    writes_before = client.run(disk_writes)
    model = HistGradientBoostingClassifier(
        max_iter=1,
        max_leaf_nodes=2,
        early_stopping=False,
        random_state=0,
        callback=after_each_tree,
    )
    sampler = MemorySampler()
    with client.as_current(), sampler.sample("fit", measure="process", interval=0.1):
        model.fit(X, y)
    assert client.run(os.getpid) == pids_before, "a worker was restarted"
    assert client.run(disk_writes) == writes_before, (
        f"a worker spilled to disk (the workers held {held[0]:,} bytes of binned X)"
    )
    peak = sampler.to_pandas()["fit"].max()
    assert peak < 2 * 0.7 * memory_limit, f"cluster memory peaked at {peak / 2**20:.0f} MiB"
    return model, held[0]


def test_trees_keep_bins_of_data_larger_than_memory_or_stream_them(trees_clusters, tmp_path):
    with scratch_directory(tmp_path, TREES_ROWS * (TREES_FEATURES + 1) * 8) as directory:
        _trees_in_bounded_memory(trees_clusters, directory / "trees.zarr")


def _trees_in_bounded_memory(trees_clusters, path):
    write_synthetic(
        path,
        TREES_ROWS,
        TREES_FEATURES,
        task="classification",
        chunk_rows=TREES_CHUNK_ROWS,
        seed=4,
        compress=False,
    )
    X, y = load(path, chunk_bytes=TREES_CHUNK_ROWS * TREES_FEATURES * 8)
    assert X.nbytes + y.nbytes > 2.9 * TREES_MEMORY_LIMIT
    bins_bytes = X.size  # one byte per value

    # 3x one worker's limit as float64: cache="auto" keeps binned X on the workers.
    kept, held = _fit_in_bounded_memory(trees_clusters[0], X, y, TREES_MEMORY_LIMIT)
    assert held >= bins_bytes  # (a block a task fetched from its worker counts twice)
    rows = X[:20_000].compute(scheduler="threads")
    assert len(np.unique(kept.predict_proba(rows)[:, 1])) == 2  # the tree split

    # On workers whose free memory cannot hold the bins of half the rows either,
    # cache="auto" streams them (bins every pass), in bounded memory too.
    n = STREAMING_TREES_ROWS
    assert X[:n].nbytes > 2 * STREAMING_TREES_MEMORY_LIMIT
    streamed, held = _fit_in_bounded_memory(
        trees_clusters[1], X[:n], y[:n], STREAMING_TREES_MEMORY_LIMIT
    )
    assert held == 0
    # (Kept and streamed bins give the same trees: tests/test_hgb.py, on small data.)
    assert len(np.unique(streamed.predict_proba(rows)[:, 1])) == 2
