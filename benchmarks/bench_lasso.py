"""Lasso benchmark: daskgd (one pass) against dask-ml and scikit-learn on one zarr array.

One run, one ``LocalCluster`` (2 workers x 1 thread, 127.0.0.1), the same data
(regression data from ``daskgd.io.write_synthetic``, uncompressed zarr):

* daskgd ``Lasso``: one pass builds the Gram statistics, coordinate descent runs
  on the client;
* dask-ml ``LinearRegression(penalty="l1")`` with its ``admm`` (default) and
  ``proximal_grad`` solvers, at the C that gives scikit-learn's objective
  (``C = 1 / (n * alpha)``; dask-ml also penalises the intercept);
* scikit-learn ``Lasso`` in memory (``X`` computed to NumPy first, timed apart);
* a bare scan of the data (``X.sum(axis=0)``), the floor of any one pass.

Figures are medians of ``--repeats`` runs (``--peer-repeats`` for dask-ml's).
Quality: scikit-learn's objective ``1/(2n) ||y - X w - b||^2 + alpha ||w||_1``
at each result, against scikit-learn's own, and the largest coefficient
difference.

Usage::

    python benchmarks/bench_lasso.py            # 2,000,000 x 50 (800 MB), about 10 minutes
    python benchmarks/bench_lasso.py --quick    # 200,000 x 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client, LocalCluster
from sklearn import linear_model

from daskgd import Lasso
from daskgd.io import load, write_synthetic


def objective(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, alpha: float):
    residual = y - X @ coef - intercept
    return 0.5 * float(residual @ residual) / len(y) + alpha * float(np.abs(coef).sum())


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median seconds of ``repeats`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--peer-repeats", type=int, default=1, help="repeats of the dask-ml fits (slow)"
    )
    parser.add_argument("--quick", action="store_true", help="200,000 x 20")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.features, args.chunk_rows = 200_000, 20, 20_000
    alpha, repeats = args.alpha, args.repeats

    with tempfile.TemporaryDirectory(prefix="bench-lasso-") as directory:
        path = Path(directory) / "regression.zarr"
        write_synthetic(
            path,
            args.rows,
            args.features,
            task="regression",
            chunk_rows=args.chunk_rows,
            seed=0,
            compress=False,
        )
        X, y = load(path, chunk_bytes=args.chunk_rows * args.features * 8)
        y = y[:, 0] if y.ndim == 2 else y
        size_mb = (X.nbytes + y.nbytes) / 1e6
        print(
            f"{args.rows:,} x {args.features} ({size_mb:,.0f} MB), alpha={alpha}, "
            f"{X.numblocks[0]} chunks, medians of {repeats}"
        )
        rows: list[tuple[str, float, Any, Any, Any]] = []
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            scan, _ = timed(lambda: X.sum(axis=0).compute(), repeats)
            rows.append(("bare scan (X.sum)", scan, 1, None, None))
            fit_s, ours = timed(lambda: Lasso(alpha=alpha).fit(X, y), repeats)
            rows.append(("daskgd Lasso (cd)", fit_s, ours.n_passes_, ours.coef_, ours.intercept_))
            try:
                from dask_ml.linear_model import LinearRegression as DaskMLLinear
            except ImportError:
                DaskMLLinear = None
                print("dask-ml is not installed (pip install -e '.[bench]'): its rows are left out")
            if DaskMLLinear is not None:
                for solver in ("admm", "proximal_grad"):
                    model = DaskMLLinear(
                        penalty="l1", C=1.0 / (args.rows * alpha), solver=solver, max_iter=100
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        seconds, fitted = timed(
                            lambda model=model: model.fit(X, y), args.peer_repeats
                        )
                    rows.append(
                        (f"dask-ml {solver}", seconds, "", fitted.coef_, float(fitted.intercept_))
                    )
        load_s, (X_memory, y_memory) = timed(lambda: (X.compute(), y.compute()), 1)
        sk_s, theirs = timed(
            lambda: linear_model.Lasso(alpha=alpha).fit(X_memory, y_memory), repeats
        )
        rows.append(
            (
                f"scikit-learn Lasso (in memory; load {load_s:.1f} s)",
                sk_s,
                "",
                theirs.coef_,
                theirs.intercept_,
            )
        )
        reference = objective(X_memory, y_memory, theirs.coef_, theirs.intercept_, alpha)
        print(
            f"{'method':<48} {'fit s':>8} {'passes':>7} {'objective - sklearn':>20} "
            f"{'max |coef - sklearn|':>21} {'zeros':>6}"
        )
        for name, seconds, passes, coef, intercept in rows:
            if coef is None:
                print(f"{name:<48} {seconds:>8.2f} {passes!s:>7}")
                continue
            gap = objective(X_memory, y_memory, np.ravel(coef), intercept, alpha) - reference
            difference = float(np.abs(np.ravel(coef) - theirs.coef_).max())
            zeros = int((np.ravel(coef) == 0).sum())
            print(
                f"{name:<48} {seconds:>8.2f} {passes!s:>7} {gap:>20.3e} {difference:>21.3e} "
                f"{zeros:>6}"
            )


if __name__ == "__main__":
    main()
