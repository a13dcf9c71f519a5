"""The command-line workflow: ``daskgd make-data``, ``fit``, ``predict`` and ``evaluate``.

Each step is the ``daskgd`` command run as its own process, exactly as from a
shell (the commands are printed as they run)::

    daskgd make-data data.zarr --rows 20000 --features 5 --task classification
    daskgd fit data.zarr --model logistic --param C=0.5 -o model.daskgd --report fit.json
    daskgd predict model.daskgd data.zarr -o predictions.npy
    daskgd evaluate model.daskgd data.zarr --json metrics.json

``fit``, ``predict`` and ``evaluate`` each start a local cluster (2 workers on
127.0.0.1) and close it when done; add ``--scheduler tcp://host:8786`` to any of
them to use a running cluster instead. The script then reads the files the
commands wrote and checks that they agree: the accuracy that ``evaluate``
reports equals the accuracy of the predictions that ``predict`` wrote, and the
fitted coefficients are close to the true model the data was drawn from.

Run it with ``python examples/cli_workflow.py`` (about 20 seconds: four Python
processes, three local clusters).
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
        run(
            folder,
            *("fit", "data.zarr", "--model", "logistic", "--param", "C=0.5"),
            *("-o", "model.daskgd", "--report", "fit.json", "--quiet"),
        )
        run(folder, "predict", "model.daskgd", "data.zarr", "-o", "predictions.npy")
        run(folder, "evaluate", "model.daskgd", "data.zarr", "--json", "metrics.json")

        # What the commands wrote, read back and checked against each other.
        report = json.loads((folder / "fit.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        predictions = np.load(folder / "predictions.npy")
        labels = zarr.open_group(str(folder / "data.zarr"), mode="r")["y"][:]
        accuracy = float(np.mean(predictions == labels))
        print(
            f"fit.json: {report['model']} ({report['solver']}), {report['n_iter']} iterations, "
            f"{report['n_passes']} passes over {report['n_rows']:,} rows"
        )
        print(
            f"metrics.json: accuracy {metrics['accuracy']:.4f}, log-loss "
            f"{metrics['log_loss']:.4f}, ROC AUC {metrics['roc_auc']:.4f}"
        )
        print(f"predictions.npy: accuracy {accuracy:.4f}")
        assert predictions.shape == (N_ROWS,)
        assert abs(metrics["accuracy"] - accuracy) < 1e-12, (metrics["accuracy"], accuracy)

        from daskgd.serialization import load_model

        model = load_model(folder / "model.daskgd", warn=False)  # a file we just wrote
        coef, _ = true_model(N_FEATURES, SEED)
        error = float(np.max(np.abs(model.coef_[0] - coef)))
        print(f"model.daskgd: max |coef - true coef| {error:.3f}")
        assert error < 0.2, error


if __name__ == "__main__":
    main()
