"""The command line on data larger than its cluster's memory, with the process tree's RSS bounded.

``daskgd make-data`` writes 800 MB of float64 to zarr; ``daskgd fit`` and
``daskgd evaluate`` then run on a LocalCluster of 2 workers of 250 MB that they
start themselves, so neither the workers nor the command can hold the data.
Every process of the command's tree (the command, its workers, and whatever they
start) is sampled while it runs; their summed RSS must stay below the data's size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from daskgd.io import true_model

N_FEATURES = 20
N_ROWS = 4_800_000  # X and y: 806 MB of float64
CHUNK_ROWS = 200_000
WORKER_MEMORY = "250MB"
DATA_BYTES = N_ROWS * (N_FEATURES + 1) * 8
#: The command imports dask, scikit-learn and bokeh (about 300 MB) and each worker
#: stays under its 250 MB; together they stay below the data, which they cannot hold.
TREE_RSS_LIMIT = DATA_BYTES
TIMEOUT = 300


def daskgd(*args: object) -> list[str]:
    return [str(Path(sys.executable).with_name("daskgd")), *map(str, args)]


def run_sampling_rss(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``command``; return its outcome and the peak summed RSS of its process tree."""
    with open(cwd / "stdout", "wb") as out, open(cwd / "stderr", "wb") as err:
        # In a session of its own: on a timeout its workers are killed with it.
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
    root = psutil.Process(process.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for member in tree:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, total)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        returncode = process.wait(timeout=TIMEOUT)
    finally:
        done.set()
        sampler.join()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever it left behind
        except ProcessLookupError:
            pass
        process.wait()
    completed = subprocess.CompletedProcess(
        command, returncode, (cwd / "stdout").read_text(), (cwd / "stderr").read_text()
    )
    return completed, peak


@pytest.fixture(scope="module")
def large_zarr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("out-of-core")
    made = subprocess.run(
        daskgd("make-data", directory / "data.zarr", "--rows", N_ROWS, "--features", N_FEATURES)
        + ["--task", "regression", "--chunk-rows", str(CHUNK_ROWS), "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert made.returncode == 0, made.stderr
    return directory / "data.zarr"


def test_cli_fits_and_evaluates_data_larger_than_its_cluster(large_zarr: Path, tmp_path: Path):
    cluster = ("--n-workers", "2", "--threads-per-worker", "1", "--memory-limit", WORKER_MEMORY)
    fit, fit_peak = run_sampling_rss(
        daskgd("fit", large_zarr, "--model", "linear", "-o", "model.daskgd", *cluster)
        + ["--chunk-mb", "16", "--report", "fit.json", "--quiet"],
        tmp_path,
    )
    assert fit.returncode == 0, fit.stderr
    assert "workers: 2, 2 threads in all, 250 MB each" in fit.stderr  # the cluster asked for
    assert "Restarting worker" not in fit.stderr, fit.stderr  # no worker ran out of memory
    assert fit_peak < TREE_RSS_LIMIT, f"fit: {fit_peak / 2**20:.0f} MiB"
    report = json.loads((tmp_path / "fit.json").read_text())
    assert report["n_rows"] == N_ROWS and report["n_passes"] == 1
    # Least squares on 4.8M rows of unit noise: each coefficient within 6 standard
    # errors (1 / sqrt(n) = 4.6e-4) of the true model's.
    from daskgd.serialization import load_model

    model = load_model(tmp_path / "model.daskgd", warn=False)
    coef, intercept = true_model(N_FEATURES, 3)
    np.testing.assert_allclose(model.coef_, coef, atol=3e-3)
    assert model.intercept_ == pytest.approx(intercept, abs=3e-3)

    evaluated, evaluate_peak = run_sampling_rss(
        daskgd("evaluate", tmp_path / "model.daskgd", large_zarr, *cluster)
        + ["--chunk-mb", "16", "--json", "metrics.json"],
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Restarting worker" not in evaluated.stderr, evaluated.stderr
    assert evaluate_peak < TREE_RSS_LIMIT, f"evaluate: {evaluate_peak / 2**20:.0f} MiB"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_rows"] == N_ROWS
    # The noise is standard normal: the residual MSE is 1 (to 3 standard errors of
    # sqrt(2 / n)), and R^2 = 1 - 1 / Var(y) with Var(y) = |coef|^2 + 1.
    assert metrics["mse"] == pytest.approx(1.0, abs=2e-3)
    assert metrics["r2"] == pytest.approx(1 - 1 / (coef @ coef + 1), abs=2e-3)
    assert metrics["mae"] == pytest.approx(np.sqrt(2 / np.pi), abs=2e-3)
