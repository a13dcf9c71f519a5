"""The command line on data larger than its cluster's memory, with the process tree's RSS bounded.

``daskgd make-data`` writes 800 MB of float64 to zarr; ``daskgd fit`` and
``daskgd evaluate`` then run on a LocalCluster of 2 workers of 250 MB that they
start themselves, so neither the workers nor the command can hold the data.
Every process of the command's tree (the command, its workers, and whatever they
start) is sampled while it runs: the command stays within a budget set by its
imports, not by the data, each other process within a worker's limit, and their
sum within those budgets together.
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
WORKER_LIMIT = 250 * 10**6
DATA_BYTES = N_ROWS * (N_FEATURES + 1) * 8
#: The command imports dask, scikit-learn and bokeh (300-350 MiB seen) and never
#: receives the data: far less than it, whatever its size.
COMMAND_RSS_LIMIT = 512 * 2**20
#: The command's budget plus each worker's limit (the nanny restarts a worker past it).
TREE_RSS_LIMIT = COMMAND_RSS_LIMIT + 2 * WORKER_LIMIT
TIMEOUT = 300


def daskgd(*args: object) -> list[str]:
    return [str(Path(sys.executable).with_name("daskgd")), *map(str, args)]


def run_sampling_rss(
    command: list[str], cwd: Path
) -> tuple[subprocess.CompletedProcess, int, dict[int, int]]:
    """Run ``command``: its outcome, the peak summed RSS of its tree, and each process's peak.

    The command's own peak is under key 0, its children's under their pids.
    """
    with open(cwd / "stdout", "wb") as out, open(cwd / "stderr", "wb") as err:
        # In a session of its own: on a timeout its workers are killed with it.
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
    root = psutil.Process(process.pid)
    peak = 0
    peaks: dict[int, int] = {}
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
                    rss = member.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                total += rss
                # The command itself under pid 0: pids of its children are positive.
                key = 0 if member.pid == root.pid else member.pid
                peaks[key] = max(peaks.get(key, 0), rss)
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
    return completed, peak, peaks


def assert_bounded(
    name: str, run: subprocess.CompletedProcess, tree_peak: int, peaks: dict[int, int]
) -> None:
    """The command within its budget and the tree within the budgets together.

    The workers are held to their limit by their nannies, which restart a worker
    past 95% of it (the test checks that none was restarted); a sample can catch a
    worker above its limit for less than the nanny's 100 ms between checks.
    """
    shown = {pid: f"{rss / 2**20:.0f} MiB" for pid, rss in peaks.items()}  # 0: the command
    assert peaks[0] < COMMAND_RSS_LIMIT, f"{name}: {shown}"
    assert tree_peak < TREE_RSS_LIMIT, f"{name}: tree peak {tree_peak / 2**20:.0f} MiB, {shown}"


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
    fit, fit_peak, fit_peaks = run_sampling_rss(
        daskgd("fit", large_zarr, "--model", "linear", "-o", "model.daskgd", *cluster)
        + ["--chunk-mb", "16", "--report", "fit.json", "--quiet"],
        tmp_path,
    )
    assert fit.returncode == 0, fit.stderr
    assert "workers: 2, 2 threads in all, 250 MB each" in fit.stderr  # the cluster asked for
    assert "Restarting worker" not in fit.stderr, fit.stderr  # no worker ran out of memory
    assert_bounded("fit", fit, fit_peak, fit_peaks)
    report = json.loads((tmp_path / "fit.json").read_text())
    assert report["n_rows"] == N_ROWS and report["n_passes"] == 1
    # Least squares on 4.8M rows of unit noise: each coefficient within 6 standard
    # errors (1 / sqrt(n) = 4.6e-4) of the true model's.
    from daskgd.serialization import load_model

    model = load_model(tmp_path / "model.daskgd", warn=False)
    coef, intercept = true_model(N_FEATURES, 3)
    np.testing.assert_allclose(model.coef_, coef, atol=3e-3)
    assert model.intercept_ == pytest.approx(intercept, abs=3e-3)

    evaluated, evaluate_peak, evaluate_peaks = run_sampling_rss(
        daskgd("evaluate", tmp_path / "model.daskgd", large_zarr, *cluster)
        + ["--chunk-mb", "16", "--json", "metrics.json"],
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Restarting worker" not in evaluated.stderr, evaluated.stderr
    assert_bounded("evaluate", evaluated, evaluate_peak, evaluate_peaks)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_rows"] == N_ROWS
    # The noise is standard normal: the residual MSE is 1 (to 3 standard errors of
    # sqrt(2 / n)), and R^2 = 1 - 1 / Var(y) with Var(y) = |coef|^2 + 1.
    assert metrics["mse"] == pytest.approx(1.0, abs=2e-3)
    assert metrics["r2"] == pytest.approx(1 - 1 / (coef @ coef + 1), abs=2e-3)
    assert metrics["mae"] == pytest.approx(np.sqrt(2 / np.pi), abs=2e-3)
