"""The main job: train LogisticRegression on a few million rows read from zarr.

Run with ``make demo`` or ``python -m daskgd.demo [--rows N] [--features D]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import daskgd
from daskgd.cluster import close_client, start_local_cluster
from daskgd.io import load_zarr, write_synthetic


def main(argv: list[str] | None = None) -> int:
    """Write the data, start a 2-worker LocalCluster, fit, and report quality and cost."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--data", type=Path, default=Path("demo-data/classification.zarr"))
    parser.add_argument("--solver", default="auto")
    args = parser.parse_args(argv)

    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        print(f"Dask dashboard: {client.dashboard_link}")
        started = time.perf_counter()
        info = write_synthetic(
            args.data, args.rows, args.features, chunk_rows=args.chunk_rows, seed=0, progress=True
        )
        size_mb = args.rows * (args.features + 1) * 8 / 1e6
        print(
            f"Wrote {args.rows:,} x {args.features} ({size_mb:,.0f} MB) to {args.data} "
            f"in {time.perf_counter() - started:.1f}s"
        )
        X, y = load_zarr(args.data)
        started = time.perf_counter()
        # daskgd.LogisticRegression imports scikit-learn on first use: not at the top, which
        # every spawned worker runs again when it imports this module as its __main__.
        model = daskgd.LogisticRegression(C=1.0, solver=args.solver, tol=1e-8, verbose=2)
        model.fit(X, y)
        fit_seconds = time.perf_counter() - started

        sample = slice(0, min(args.rows, 500_000))
        X_sample, y_sample = X[sample].compute(), y[sample].compute()
        accuracy = float(np.mean(model.predict(X_sample) == y_sample))
        bayes = float(np.mean((X_sample @ info["coef"] + info["intercept"] > 0) == y_sample))
        cosine = float(
            model.coef_[0]
            @ info["coef"]
            / np.linalg.norm(model.coef_)
            / np.linalg.norm(info["coef"])
        )
        print(f"solver {model.solver_}: {model.n_iter_[0]} iterations, {model.n_passes_} passes")
        print(f"fit wall time: {fit_seconds:.1f}s ({fit_seconds / model.n_passes_:.2f}s per pass)")
        print(f"accuracy {accuracy:.4f} (true model: {bayes:.4f}), cosine(coef, true) {cosine:.6f}")
        print(
            f"intercept {model.intercept_[0]:.4f} (true {info['intercept']:.4f}), "
            f"max |coef - true| {np.max(np.abs(model.coef_[0] - info['coef'])):.4f}"
        )
    finally:
        close_client(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
