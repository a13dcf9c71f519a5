"""Fit on a zarr file larger than the workers' memory: the data streams from disk.

The script writes synthetic regression data with a known true model to a zarr
file (``daskgd.io.write_synthetic``, chunk by chunk), starts a 2-worker
LocalCluster whose workers may each use only ``--memory-limit-mb`` of memory,
and fits ``LinearRegression`` on the file. The data is ``--times`` times larger
than one worker's limit (by default twice: as much as the two workers may hold
together, with nothing else in their memory), so ``cache="auto"`` cannot keep it
in worker memory: each chunk task reads its own chunk from the file, and memory
stays bounded by a few chunks per worker. ``LinearRegression`` solves the
normal equations from one pass (the Gram statistics of every chunk, summed); an
iterative fit, ``LogisticRegression`` say, streams every one of its passes the
same way. The script reports the workers' peak memory, checks that none was
restarted or spilled to disk, and compares the coefficients with the true ones.

The default size is small so that the example runs in seconds. The same code
fits any size: ``--times 40`` (10 GB with the default limit) streams
exactly the same way, and on a real cluster you would only change the client
(``Client("tcp://scheduler:8786")``) and the path.

Run it with ``python examples/fit_zarr.py [--times 2] [--memory-limit-mb 250]``
(about 15 seconds at the defaults).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from distributed.diagnostics import MemorySampler

import daskgd
from daskgd.cluster import close_client, start_local_cluster
from daskgd.io import load, write_synthetic

# The estimator is looked up as daskgd.LinearRegression inside main(), not imported
# here: the worker processes re-import this script when they start
# (multiprocessing "spawn"), and importing an estimator imports scikit-learn,
# which alone would take about 100 MB of each small worker's memory.

N_FEATURES = 20
CHUNK_ROWS = 50_000  # 8 MB chunks of X: a few in flight per worker, far below its limit


def disk_writes(dask_worker: Any) -> float:
    """Bytes a worker has spilled to disk so far."""
    return float(sum(v for k, v in dask_worker.digests_total.items() if "disk-write" in str(k)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--times", type=float, default=2.0, help="data size / one worker's limit")
    # A worker with dask, zarr and scipy loaded uses about 110 MiB; it pauses at 80%.
    parser.add_argument("--memory-limit-mb", type=float, default=250.0, help="per worker")
    args = parser.parse_args()
    memory_limit = int(args.memory_limit_mb * 2**20)
    n_rows = int(args.times * memory_limit / ((N_FEATURES + 1) * 8))

    client = start_local_cluster(n_workers=2, threads_per_worker=1, memory_limit=memory_limit)
    try:
        with tempfile.TemporaryDirectory(prefix="daskgd-example-") as folder:
            path = Path(folder) / "data.zarr"
            started = time.perf_counter()
            info = write_synthetic(
                path, n_rows, N_FEATURES, task="regression", chunk_rows=CHUNK_ROWS, compress=False
            )
            X, y = load(path, chunk_bytes=CHUNK_ROWS * N_FEATURES * 8)
            data_mb = (X.nbytes + y.nbytes) / 2**20
            print(
                f"wrote {n_rows:,} x {N_FEATURES} ({data_mb:.0f} MiB, {X.npartitions} chunks) "
                f"in {time.perf_counter() - started:.1f}s: {data_mb / args.memory_limit_mb:.1f}x "
                f"one worker's memory limit of {args.memory_limit_mb:.0f} MiB"
            )

            pids = client.run(os.getpid)
            spilled = client.run(disk_writes)
            model = daskgd.LinearRegression()
            sampler = MemorySampler()
            started = time.perf_counter()
            with sampler.sample("fit", measure="process", interval=0.1):
                model.fit(X, y)
            seconds = time.perf_counter() - started
            peak_mb = sampler.to_pandas()["fit"].max() / 2**20  # both workers together
            limit_mb = len(pids) * args.memory_limit_mb

            error = np.max(np.abs(model.coef_ - info["coef"]))
            print(
                f"LinearRegression ({model.solver_}): {model.n_passes_} pass over the file "
                f"in {seconds:.1f}s; max |coef - true coef| {error:.4f}, "
                f"intercept {model.intercept_:.3f} (true {info['intercept']})"
            )
            assert client.run(os.getpid) == pids, "a worker was restarted"
            assert client.run(disk_writes) == spilled, "a worker spilled to disk"
            assert peak_mb < limit_mb, peak_mb
            assert error < 0.05, error
            print(
                f"peak memory of the {len(pids)} workers together {peak_mb:.0f} MiB "
                f"(limit {limit_mb:.0f} MiB); no worker restarted, nothing spilled to disk"
            )
            # Predictions stay lazy: one task per chunk, computed where asked.
            print("lazy predictions of the first rows:", model.predict(X[:4]).compute().round(2))
    finally:
        close_client(client)


if __name__ == "__main__":
    main()
