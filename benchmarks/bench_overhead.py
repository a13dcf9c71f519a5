"""Per-pass overhead: daskgd's pass against the scheduler's floor, on one cluster, in one run.

Small data (scikit-learn's breast_cancer, 569 x 30, repeated to 5,690 rows and
standardised), persisted on a ``LocalCluster(n_workers=2, threads_per_worker=1)``
in 10, 100 and 1,000 row chunks. For each chunking, the median over
``--repeats`` passes of:

* ``floor``: plain futures, the least a pass can cost: one task per worker over
  the chunks that worker keeps (the logistic gradient of each chunk, summed), and
  one task that adds the workers' results;
* ``dask.array``: the same gradient as a bare dask.array expression,
  ``X.T @ (expit(X @ w) - y)``, on the persisted array;
* ``daskgd``: one ``DaskOracle.value_and_grad`` pass (the pass every solver
  iteration makes) on the same chunks.

Then large data (``--rows`` x ``--features``, 1,000,000 x 50 by default, persisted
in 100,000-row chunks): the bare dask.array gradient, the bare ``X.T @ X``, a
daskgd Newton pass (value, gradient and Hessian in one pass), and the first
iteration of a ``LogisticRegression(solver="newton")`` fit against its passes.

Targets (issue 9): daskgd at most 1.5x the floor at 10 and 100 chunks; the Newton
pass at most 1.1x (bare gradient + bare ``X.T @ X``). Results go to
``benchmarks/results/bench_overhead-<timestamp>.json``.

Usage::

    python benchmarks/bench_overhead.py            # about 3 minutes on 2 cores
    python benchmarks/bench_overhead.py --quick    # fewer repeats, 200,000 large rows
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait
from scipy.special import expit
from sklearn.datasets import load_breast_cancer

from daskgd import LogisticRegression
from daskgd.losses import BinaryLogLoss
from daskgd.objective import LinearObjective
from daskgd.oracles.dask import DaskOracle
from daskgd.penalties import L2

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FLOOR_TARGET = 1.5
NEWTON_TARGET = 1.1


def median_seconds(run: Callable[[int], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``run(i)`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for i in range(warmup):
        run(-1 - i)
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


#: The floor's task functions, written to a module the workers import (``upload_file``),
#: so that they travel by reference like daskgd's, not pickled by value with every task.
FLOOR_MODULE = """
import numpy as np
from scipy.special import expit


def worker_gradient(coef, *blocks):
    total = np.zeros_like(coef)
    for X, y in zip(blocks[::2], blocks[1::2]):
        total = total + X.T @ (expit(X @ coef) - y)
    return total


def add_all(*parts):
    return np.sum(parts, axis=0)
"""


def floor_tasks(client: Client, directory: Path) -> Any:
    """The floor's task module, importable here and on every worker."""
    import importlib
    import sys

    path = directory / "daskgd_bench_floor.py"
    path.write_text(FLOOR_MODULE)
    sys.path.insert(0, str(directory))
    module = importlib.import_module("daskgd_bench_floor")
    client.upload_file(str(path))
    return module


def small_data(repeat: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X = np.tile((X - X.mean(axis=0)) / X.std(axis=0), (repeat, 1))
    return np.ascontiguousarray(X), np.tile(y, repeat).astype(np.float64)


def persisted_futures(
    client: Client, X: np.ndarray, y: np.ndarray, n_chunks: int, workers: list[str]
) -> list[tuple[list[Any], str]]:
    """Chunks scattered to the workers in contiguous groups: ``[(blocks, worker), ...]``."""
    bounds = np.linspace(0, len(X), n_chunks + 1).astype(int)
    per_worker = -(-n_chunks // len(workers))
    groups = []
    for w, worker in enumerate(workers):
        chosen = range(w * per_worker, min((w + 1) * per_worker, n_chunks))
        blocks = []
        for i in chosen:
            blocks += [X[bounds[i] : bounds[i + 1]], y[bounds[i] : bounds[i + 1]]]
        groups.append((client.scatter(blocks, workers=[worker]), worker))
    return groups


def measure_small(
    client: Client, n_chunks: int, repeats: int, floor_module: Any
) -> dict[str, float]:
    X, y = small_data(10)
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    groups = persisted_futures(client, X, y, n_chunks, workers)
    rng = np.random.default_rng(0)
    points = [rng.normal(scale=0.01, size=X.shape[1]) for _ in range(repeats + 4)]

    def floor(i: int) -> None:
        coef = points[i]
        parts = [
            client.submit(floor_module.worker_gradient, coef, *blocks, workers=[worker], pure=False)
            for blocks, worker in groups
        ]
        client.submit(floor_module.add_all, *parts, pure=False).result()

    rows = len(X) // n_chunks
    dX = da.from_array(X, chunks=(rows, X.shape[1])).persist()
    dy = da.from_array(y, chunks=rows).persist()
    wait([dX, dy])

    def dask_array(i: int) -> None:
        coef = points[i]
        (dX.T @ (da.map_blocks(expit, dX @ coef) - dy)).compute()

    objective = LinearObjective(BinaryLogLoss(), L2(1.0), X.shape[1], 1, fit_intercept=False)
    oracle = DaskOracle(objective, dX, dy[:, None], cache=True)

    def daskgd_pass(i: int) -> None:
        oracle.value_and_grad(points[i])

    result = {
        "floor": median_seconds(floor, repeats),
        # A dask.array pass over 1,000 chunks takes seconds: fewer repeats will do.
        "dask.array": median_seconds(dask_array, repeats if n_chunks < 1000 else 3, warmup=1),
        "daskgd": median_seconds(daskgd_pass, repeats),
        "chunks": float(dX.numblocks[0]),
    }
    client.cancel([f for blocks, _ in groups for f in blocks])
    return result


def measure_large(client: Client, rows: int, features: int, repeats: int) -> dict[str, float]:
    chunk_rows = 100_000
    rng = da.random.default_rng(0)
    X = rng.standard_normal((rows, features), chunks=(chunk_rows, features)).persist()
    true = np.random.default_rng(1).normal(size=features) / np.sqrt(features)
    y = (da.map_blocks(expit, X @ true) > rng.random(rows, chunks=chunk_rows)).astype(float)
    y = y.persist()
    wait([X, y])
    points = [np.random.default_rng(i + 10).normal(scale=0.01, size=features) for i in range(9)]

    def bare_gradient(i: int) -> None:
        (X.T @ (da.map_blocks(expit, X @ points[i]) - y)).compute()

    def bare_gram(i: int) -> None:
        (X.T @ X).compute()

    objective = LinearObjective(BinaryLogLoss(), L2(1.0), features, 1, fit_intercept=True)
    oracle = DaskOracle(objective, X, y[:, None], cache=True)
    n_coef = objective.n_coef

    def newton_pass(i: int) -> None:
        oracle.value_grad_hessian(np.r_[points[i], 0.0][:n_coef])

    first_iteration: list[float] = []
    first_passes: list[int] = []

    def first_newton_iteration(i: int) -> None:
        started = time.perf_counter()

        def stop(record: dict[str, Any]) -> None:
            first_iteration.append(time.perf_counter() - started)
            first_passes.append(int(record["n_passes"]))
            raise StopIteration

        model = LogisticRegression(solver="newton", callback=stop, cache=True)
        try:
            model.fit(X, y)
        except StopIteration:
            pass

    result = {
        "bare gradient": median_seconds(bare_gradient, repeats, warmup=1),
        "bare X.T @ X": median_seconds(bare_gram, repeats, warmup=1),
        "daskgd newton pass": median_seconds(newton_pass, repeats, warmup=1),
    }
    median_seconds(first_newton_iteration, repeats, warmup=0)
    result["newton first iteration"] = statistics.median(first_iteration)
    result["passes of the first iteration"] = float(statistics.median(first_passes))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.rows = 10, 200_000
    warnings.simplefilter("ignore")
    report: dict[str, Any] = {"args": vars(args), "small": {}, "large": {}}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        client = Client.current()
        floor_module = floor_tasks(client, Path(tempfile.mkdtemp()))
        print(f"{'chunks':>7} {'floor ms':>9} {'dask.array ms':>14} {'daskgd ms':>10} {'ratio':>6}")
        for n_chunks in args.chunks:
            small = measure_small(client, n_chunks, args.repeats, floor_module)
            report["small"][n_chunks] = small
            ratio = small["daskgd"] / small["floor"]
            print(
                f"{n_chunks:>7} {1e3 * small['floor']:>9.1f} {1e3 * small['dask.array']:>14.1f} "
                f"{1e3 * small['daskgd']:>10.1f} {ratio:>5.2f}x"
                + ("" if n_chunks > 100 else f"  (target <= {FLOOR_TARGET}x)")
            )
        large = measure_large(client, args.rows, args.features, max(3, args.repeats // 6))
        report["large"] = large
        bare = large["bare gradient"] + large["bare X.T @ X"]
        print(f"\n{args.rows:,} x {args.features}, persisted, medians:")
        for name, seconds in large.items():
            if name.startswith("passes"):
                continue
            print(f"  {name:<24} {seconds:7.3f} s")
        print(
            f"  newton pass / (bare gradient + bare X.T @ X) = "
            f"{large['daskgd newton pass'] / bare:.2f}x (target <= {NEWTON_TARGET}x)"
        )
        passes = large["passes of the first iteration"]
        print(
            f"  first newton iteration / ({passes:.0f} passes x newton pass) = "
            f"{large['newton first iteration'] / (passes * large['daskgd newton pass']):.2f}x "
            "(target <= 1: the label pass, which brings the value, gradient and Hessian"
            " at the start too, and the step's trial, which brings the next Hessian)"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"bench_overhead-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
