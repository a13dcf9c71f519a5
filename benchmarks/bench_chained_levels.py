"""Does a tree's chain of level passes, submitted as one graph, beat a client round trip per level?

Issue 10 asks to measure it. On one ``LocalCluster(n_workers=2,
threads_per_worker=1)``, binned data (``--rows`` x 28, uint8, with float32
gradients and hessians) is kept on the workers as futures, in ``--chunks``
chunks. A "tree" of ``--levels`` levels is grown two ways, each level being one
histogram pass (every worker sums the histograms of the chunks it keeps, the
numba kernel of daskgd's trees) followed by split finding (the best bin of the
summed histogram):

* ``round trip``: per level, the workers' partial histograms are gathered, the
  client adds them and finds the split, then submits the next level (what
  daskgd does today);
* ``chained``: every level is submitted at once; the split of each level is a
  task that adds the workers' partials and finds the split, and the next level's
  worker tasks depend on it; the client waits only for the last split.

Both give the same splits. Printed: median seconds per tree over ``--repeats``,
and per level.

Usage::

    python benchmarks/bench_chained_levels.py
    python benchmarks/bench_chained_levels.py --rows 1000000 --chunks 8
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Any

import numpy as np
from distributed import Client, LocalCluster, wait

from daskgd.trees.kernels import histograms

N_FEATURES, N_BINS = 28, 256


def worker_histogram(split: Any, *chunks: Any) -> np.ndarray:
    """The summed histogram of a worker's chunks; rows left of ``split`` count (a level)."""
    feature, threshold = split
    total = np.zeros((1, N_FEATURES, N_BINS, 3))
    for binned, gradients, hessians in chunks:
        slots = np.where(binned[:, feature] <= threshold, 0, -1).astype(np.int64)
        total += histograms(binned, gradients, hessians, slots, 1, N_BINS)
    return total


def find_split(*partials: np.ndarray) -> tuple[int, int]:
    """The next level's split from the workers' partials: the bin of largest |G| / H."""
    histogram = np.sum(partials, axis=0)[0]
    gain = np.abs(np.cumsum(histogram[:, :, 0], axis=1)) / (
        np.cumsum(histogram[:, :, 1], axis=1) + 1.0
    )
    feature, threshold = np.unravel_index(int(np.argmax(gain[:, :-1])), gain[:, :-1].shape)
    return int(feature), max(int(threshold), 1)


def keep_data(client: Client, rows: int, n_chunks: int) -> dict[str, list[Any]]:
    """Chunks of binned data made on, and kept by, the workers (contiguous groups)."""
    workers = sorted(client.scheduler_info()["workers"])
    per_worker: dict[str, list[Any]] = {w: [] for w in workers}
    size = rows // n_chunks

    def make(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        binned = rng.integers(0, N_BINS - 1, (n, N_FEATURES), dtype=np.uint8)
        return binned, rng.standard_normal(n).astype(np.float32), np.ones(n, np.float32)

    for i in range(n_chunks):
        worker = workers[i * len(workers) // n_chunks]
        per_worker[worker].append(client.submit(make, i, size, workers=[worker], pure=False))
    wait([f for futures in per_worker.values() for f in futures])
    return per_worker


def grow(client: Client, data: dict[str, list[Any]], levels: int, chained: bool) -> list[Any]:
    """The splits of ``levels`` levels: found on the client after each level, or (chained)
    by a task that the next level's tasks depend on, all submitted at once."""
    split: Any = (0, N_BINS - 1)
    splits = []
    for _ in range(levels):
        partials = [
            client.submit(worker_histogram, split, *futures, workers=[worker], pure=False)
            for worker, futures in data.items()
        ]
        if chained:
            split = client.submit(find_split, *partials, pure=False)
        else:
            split = find_split(*client.gather(partials))
        splits.append(split)
    return client.gather(splits) if chained else splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--levels", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        data = keep_data(client, args.rows, args.chunks)
        ways = {"round trip": False, "chained": True}
        assert grow(client, data, args.levels, False) == grow(client, data, args.levels, True)
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.repeats):
            for name, chained in ways.items():  # interleaved: the same conditions for both
                start = time.perf_counter()
                grow(client, data, args.levels, chained)
                times[name].append(time.perf_counter() - start)
    print(
        f"{args.rows:,} rows x {N_FEATURES} binned, {args.chunks} chunks on 2 workers, "
        f"{args.levels} levels; median of {args.repeats}"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, seconds in medians.items():
        print(
            f"  {name:10s} {seconds * 1e3:8.1f} ms per tree  "
            f"{seconds / args.levels * 1e3:6.1f} ms per level"
        )
    saved = (medians["round trip"] - medians["chained"]) / args.levels
    print(f"chained saves {saved * 1e3:.1f} ms per level")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
