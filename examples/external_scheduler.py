"""Fit on a cluster started separately: a ``dask scheduler`` and a ``dask worker`` process.

On a real cluster the scheduler and the workers are started by hand, by a job
queue or by Kubernetes, and daskgd is only a client. This script plays both
parts on this machine, as these shell commands would::

    dask scheduler --host 127.0.0.1 --port 0 --scheduler-file scheduler.json \\
        --dashboard-address 127.0.0.1:0 --preload daskgd.dashboard
    dask worker --scheduler-file scheduler.json --nthreads 2

(``--port 0`` takes a free port and writes the address to ``scheduler.json``;
``--preload daskgd.dashboard`` adds daskgd's ``/daskgd`` page to the
scheduler's dashboard; one worker process with two threads keeps the example
light, and ``--nworkers N`` or more ``dask worker`` commands, on this machine or
others, add workers.) Then it connects with ``daskgd.cluster.connect`` and
fits ``LogisticRegression`` on a zarr file that the workers read themselves:
only the path travels, the chunks never pass through this process. The
coefficients equal those of the same fit on the NumPy arrays in this process,
and the fit is on the scheduler's ``/daskgd`` page. The processes are stopped
at the end, whatever happens.

Run it with ``python examples/external_scheduler.py`` (about 10 seconds).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import daskgd
from daskgd.cluster import connect
from daskgd.io import load_zarr, write_synthetic

STARTUP_TIMEOUT = 60.0  # seconds


def start(folder: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    """``dask NAME ARGS`` (``python -m distributed.cli.dask_NAME``), logging to NAME.log."""
    with open(folder / f"{name}.log", "wb") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", f"distributed.cli.dask_{name}", *args],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_for_address(scheduler: subprocess.Popen[bytes], scheduler_file: Path) -> str:
    """The scheduler's address, once it has written its scheduler file."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            return str(json.loads(scheduler_file.read_text())["address"])
        except (FileNotFoundError, ValueError, KeyError):  # not written (completely) yet
            pass
        if scheduler.poll() is not None:
            raise RuntimeError(f"the scheduler exited with {scheduler.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler wrote no address")
        time.sleep(0.1)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes one at a time, killing any that does not stop in time.

    Workers go first, while their scheduler is still there to see them leave.
    """
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def newest_fit_on_page(dashboard_link: str) -> dict[str, Any]:
    """The newest fit on the scheduler's ``/daskgd/state.json``."""
    url = dashboard_link.rsplit("/", 1)[0] + "/daskgd/state.json"
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.loads(response.read())["fits"][0])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="daskgd-example-") as name:
        folder = Path(name)
        data, scheduler_file = folder / "data.zarr", folder / "scheduler.json"
        write_synthetic(data, n_rows=40_000, n_features=10, chunk_rows=5_000)

        processes: list[subprocess.Popen[bytes]] = []
        try:
            scheduler = start(
                folder,
                "scheduler",
                *("--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file)),
                *("--dashboard-address", "127.0.0.1:0", "--preload", "daskgd.dashboard"),
            )
            processes.append(scheduler)
            # The worker waits for the scheduler file itself: start it right away.
            worker = start(
                folder,
                "worker",
                *("--scheduler-file", str(scheduler_file), "--nthreads", "2"),
                *("--no-dashboard", "--local-directory", str(folder)),
            )
            processes.insert(0, worker)  # stopped first
            address = wait_for_address(scheduler, scheduler_file)
            print(f"scheduler {address} (process {scheduler.pid}), worker process {worker.pid}")

            with connect(address) as client:
                client.wait_for_workers(1, timeout=STARTUP_TIMEOUT)
                workers = client.scheduler_info(n_workers=-1)["workers"]
                print(f"connected; workers: {', '.join(sorted(workers))}")

                X, y = load_zarr(data)  # lazy: each chunk task reads its chunk from the file
                model = daskgd.LogisticRegression(tol=1e-10)
                started = time.perf_counter()
                model.fit(X, y)
                print(
                    f"LogisticRegression ({model.solver_}) on the external cluster: "
                    f"{model.n_iter_[0]} iterations, {model.n_passes_} passes, "
                    f"{time.perf_counter() - started:.1f}s"
                )
                fit = newest_fit_on_page(client.dashboard_link)
                print(
                    f"the scheduler's /daskgd page: {fit['estimator']} ({fit['solver']}) "
                    f"{fit['state']}, {len(fit['iterations'])} iterations"
                )
                # Each event reaches the scheduler before the fit goes on.
                assert fit["state"] == "finished"
                assert len(fit["iterations"]) == model.n_iter_[0]

            group = zarr.open_group(str(data), mode="r")
            in_process = daskgd.LogisticRegression(tol=1e-10).fit(group["X"][:], group["y"][:])
            gap = float(np.max(np.abs(model.coef_ - in_process.coef_)))
            print(f"max |coef - coef of the in-process NumPy fit| {gap:.1e}")
            assert gap < 1e-8, gap
        finally:
            stop(processes)
        print("scheduler and worker stopped")


if __name__ == "__main__":
    main()
