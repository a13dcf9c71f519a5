"""Checkpoint a fit, kill its process mid-fit, resume: the same coefficients, bit for bit.

With ``checkpoint="fit.ckpt"`` an estimator writes the solver's whole state
after every ``checkpoint_every`` iterations (atomically: to a temporary file,
then renamed over the old one, so a crash while writing leaves the previous
state intact). A new fit with the same checkpoint, data and parameters goes on
from there, and ends exactly where a fit that never stopped ends; a checkpoint
of other data or other parameters is refused, naming what differs.

The script starts a 2-worker LocalCluster and writes a zarr file, then:

1. fits ``LogisticRegression`` without interruption, for reference;
2. runs the same fit with a checkpoint in a *second process* (this script with
   ``--child``), a client of the same cluster, and kills that process with
   SIGKILL after iteration 4 (the child reports each checkpointed iteration and,
   to make the kill land mid-fit every time, waits there; a real crash may come
   at any moment);
3. fits again here with the same checkpoint: the fit resumes after iteration 4,
   runs only the iterations that were left, and ends with coefficients, iteration
   count, pass count and loss curve equal to the uninterrupted fit's.

Run it with ``python examples/checkpoint_resume.py`` (about 15 seconds).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

import daskgd
from daskgd.io import load_zarr, write_synthetic

# The estimator is used as daskgd.LogisticRegression inside the functions, not
# imported here: the worker processes re-import this script when they start
# (multiprocessing "spawn"), and need no scikit-learn.

KILL_AFTER = 4  # iterations


def estimator(**extra: Any) -> Any:
    """The fit of this example; ``tol`` small so that it takes a dozen iterations."""
    return daskgd.LogisticRegression(solver="lbfgs", tol=1e-10, **extra)


def child(scheduler: str, data: Path, checkpoint: Path) -> None:
    """The fit that gets killed: checkpoints every iteration, waits after KILL_AFTER."""
    from distributed import Client

    def report(record: dict[str, Any]) -> None:
        # Called after the iteration's checkpoint is written.
        print(f"checkpointed iteration {record['iteration']}", flush=True)
        if record["iteration"] == KILL_AFTER:
            threading.Event().wait()  # until SIGKILL

    with Client(scheduler, timeout=30):
        X, y = load_zarr(data)
        estimator(checkpoint=checkpoint, checkpoint_every=1, callback=report).fit(X, y)
    raise SystemExit("the fit was not killed")


def run_and_kill(scheduler: str, data: Path, checkpoint: Path) -> None:
    """Start the child fit, wait for its checkpoint of iteration KILL_AFTER, SIGKILL it."""
    command = [sys.executable, __file__, "--child", scheduler, str(data), str(checkpoint)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # ends early (EOF) if the child dies on its own
            print(f"  child {process.pid}: {line.strip()}")
            if line.strip() == f"checkpointed iteration {KILL_AFTER}":
                process.send_signal(signal.SIGKILL)
                print(f"  killed {process.pid} (SIGKILL)")
                break
    finally:
        process.kill()  # (already dead, unless something above failed)
        returncode = process.wait(timeout=30)
    assert returncode == -signal.SIGKILL, f"the child exited with {returncode}"


def main() -> None:
    from daskgd.cluster import close_client, start_local_cluster

    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        with tempfile.TemporaryDirectory(prefix="daskgd-example-") as name:
            folder = Path(name)
            data, checkpoint = folder / "data.zarr", folder / "fit.ckpt"
            write_synthetic(data, n_rows=40_000, n_features=10, chunk_rows=5_000)
            X, y = load_zarr(data)

            reference = estimator().fit(X, y)
            print(
                f"uninterrupted fit: {reference.n_iter_[0]} iterations, "
                f"{reference.n_passes_} passes"
            )
            assert reference.n_iter_[0] > KILL_AFTER  # so the kill is mid-fit

            print("fit with checkpoint='fit.ckpt' in another process:")
            run_and_kill(client.scheduler.address, data, checkpoint)
            print(f"left behind: {checkpoint.name} ({checkpoint.stat().st_size:,} bytes)")

            ran: list[int] = []
            resumed = estimator(
                checkpoint=checkpoint, callback=lambda record: ran.append(record["iteration"])
            ).fit(X, y)
            print(
                f"resumed fit: ran iterations {ran[0]}..{ran[-1]} here; in all "
                f"{resumed.n_iter_[0]} iterations, {resumed.n_passes_} passes"
            )
            assert ran[0] == KILL_AFTER + 1, ran
            assert np.array_equal(resumed.coef_, reference.coef_)
            assert np.array_equal(resumed.intercept_, reference.intercept_)
            assert np.array_equal(resumed.n_iter_, reference.n_iter_)
            assert resumed.n_passes_ == reference.n_passes_
            assert np.array_equal(resumed.loss_curve_, reference.loss_curve_)
            print("coefficients, iterations, passes and loss curve equal the uninterrupted fit's")
    finally:
        close_client(client)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--child", nargs=3, metavar=("SCHEDULER", "DATA", "CHECKPOINT"), help="(internal)"
    )
    args = parser.parse_args()
    if args.child:
        scheduler, data, checkpoint = args.child
        child(scheduler, Path(data), Path(checkpoint))
    else:
        main()
