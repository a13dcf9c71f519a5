"""Fits on a zarr file several times larger than the workers' memory stream it in bounded memory.

A 2-worker LocalCluster with a small ``memory_limit`` (a worker process with
dask, zarr and scipy loaded already uses about 160 MiB of it) fits on data three
times larger than one worker's limit (1.5 times the whole cluster's): ``cache="auto"``
must stream every pass from disk, no worker may be restarted, nothing may be
spilled, the workers' memory must stay under their limit, and the coefficients
must equal those of an in-memory fit of the same data.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics import MemorySampler

from daskgd import LinearRegression, LogisticRegression
from daskgd.io import load, write_synthetic

MEMORY_LIMIT = 400 * 2**20
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


@pytest.mark.parametrize(
    ("task", "estimator"),
    [
        ("regression", LinearRegression(solver="normal")),
        ("classification", LogisticRegression(solver="newton")),
    ],
    ids=["linear-normal", "logistic-newton"],
)
def test_fit_streams_data_larger_than_memory(small_cluster, tmp_path, task, estimator):
    client = small_cluster
    path = tmp_path / f"{task}.zarr"
    write_synthetic(
        path, N_ROWS, N_FEATURES, task=task, chunk_rows=CHUNK_ROWS, seed=3, compress=False
    )
    X, y = load(path, chunk_bytes=CHUNK_ROWS * N_FEATURES * 8)
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

    # The in-memory reference reads the file in this process, not through the workers.
    X_memory, y_memory = (a.compute(scheduler="threads") for a in (X, y))
    reference = type(estimator)(**estimator.get_params()).fit(X_memory, y_memory)
    np.testing.assert_allclose(estimator.coef_, reference.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(estimator.intercept_, reference.intercept_, rtol=1e-8, atol=1e-10)
    assert estimator.n_passes_ == reference.n_passes_
