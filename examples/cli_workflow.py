"""The command-line workflow: ``daskgd make-data``, ``fit``, ``predict`` and ``evaluate``.

Each step is the ``daskgd`` command run as its own process, exactly as from a
shell (the commands are printed as they run)::

    daskgd make-data data.zarr --rows 20000 --features 5 --task classification
    daskgd fit data.zarr --model logistic --param C=0.5 -o model.daskgd --report fit.json
    daskgd predict model.daskgd data.zarr -o predictions.npy
    daskgd evaluate model.daskgd data.zarr --json metrics.json

Without ``--scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), ``fit``, ``predict``
and ``evaluate`` each start a 2-worker local cluster on 127.0.0.1 and close it
when done. Here they all join one local cluster that the script starts first,
with ``--scheduler ADDRESS``, as they would join any running cluster
(``--scheduler tcp://host:8786``): that saves starting and warming up workers
three times, and the cluster's dashboard (``/daskgd``) shows the fit.

The script then reads the files the commands wrote and checks that they agree:
the accuracy that ``evaluate`` reports equals the accuracy of the predictions
that ``predict`` wrote, and is as good as that of the true model the data was
drawn from.

Run it with ``python examples/cli_workflow.py`` (about 15 seconds: five Python
processes).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from daskgd.cluster import close_client, start_local_cluster
from daskgd.io import true_model

N_ROWS, N_FEATURES, SEED = 20_000, 5, 0


def daskgd_command() -> list[str]:
    """The ``daskgd`` script installed next to this Python, else ``python -m daskgd.cli``."""
    script = Path(sys.executable).parent / "daskgd"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "daskgd.cli"]


def run(folder: Path, *args: str) -> str:
    """Run ``daskgd ARGS`` in ``folder``; print the command and its output; return stdout."""
    print(f"$ daskgd {shlex.join(args)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*daskgd_command(), *args], cwd=folder, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        sys.exit(f"daskgd {args[0]} failed ({done.returncode}):\n{done.stderr}")
    print("  " + done.stdout.strip().replace("\n", "\n  "))
    print(f"  ({time.perf_counter() - started:.1f}s)")
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="daskgd-example-") as name:
        folder = Path(name)
        run(
            folder,
            *("make-data", "data.zarr", "--rows", str(N_ROWS), "--features", str(N_FEATURES)),
            *("--task", "classification", "--chunk-rows", "5000", "--seed", str(SEED)),
        )
        client = start_local_cluster(n_workers=2, threads_per_worker=1)
        try:
            scheduler = ("--scheduler", client.scheduler.address)
            print(f"(a local cluster at {scheduler[1]}, dashboard {client.dashboard_link})")
            run(
                folder,
                *("fit", "data.zarr", "--model", "logistic", "--param", "C=0.5"),
                *("-o", "model.daskgd", "--report", "fit.json", "--quiet", *scheduler),
            )
            run(folder, "predict", "model.daskgd", "data.zarr", "-o", "predictions.npy", *scheduler)
            run(
                folder,
                *("evaluate", "model.daskgd", "data.zarr", "--json", "metrics.json", *scheduler),
            )
        finally:
            close_client(client)

        # What the commands wrote, read back and checked against each other.
        report = json.loads((folder / "fit.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        predictions = np.load(folder / "predictions.npy")
        data = zarr.open_group(str(folder / "data.zarr"), mode="r")
        X, labels = data["X"][:], data["y"][:]
        accuracy = float(np.mean(predictions == labels))
        coef, intercept = true_model(N_FEATURES, SEED)
        best = float(np.mean((X @ coef + intercept > 0) == labels))
        print(
            f"fit.json: {report['model']} ({report['solver']}), {report['n_iter']} iterations, "
            f"{report['n_passes']} passes over {report['n_rows']:,} rows"
        )
        print(
            f"metrics.json: accuracy {metrics['accuracy']:.4f}, log-loss "
            f"{metrics['log_loss']:.4f}, ROC AUC {metrics['roc_auc']:.4f}"
        )
        print(f"predictions.npy: accuracy {accuracy:.4f} (the true model's: {best:.4f})")
        assert predictions.shape == (N_ROWS,)
        assert abs(metrics["accuracy"] - accuracy) < 1e-12, (metrics["accuracy"], accuracy)
        assert accuracy > best - 0.01, (accuracy, best)


if __name__ == "__main__":
    main()
