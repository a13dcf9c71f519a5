"""Fit LogisticRegression on data that lives in a zarr file, on a local 2-worker cluster."""

from __future__ import annotations

import tempfile
from pathlib import Path

from daskgd import LogisticRegression
from daskgd.cluster import close_client, start_local_cluster
from daskgd.io import load_zarr, write_synthetic

if __name__ == "__main__":
    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "data.zarr"
            write_synthetic(path, n_rows=200_000, n_features=10, chunk_rows=50_000)
            X, y = load_zarr(path)
            model = LogisticRegression(C=1.0).fit(X, y)
            print("coef", model.coef_.round(3), "passes", model.n_passes_)
            print("lazy probabilities", model.predict_proba(X[:5]).compute().round(3))
    finally:
        close_client(client)
