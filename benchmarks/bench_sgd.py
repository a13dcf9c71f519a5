"""SGD benchmark: daskgd SGDClassifier against scikit-learn's partial_fit loop and dask-ml.

One run measures, on the same zarr-backed data and the same ``LocalCluster``
(2 workers x 1 thread, 127.0.0.1):

* daskgd ``SGDClassifier(strategy="sequential")``: one model visits the chunks in turn;
* daskgd ``SGDClassifier(strategy="average")`` with ``n_rounds = epochs``,
  ``local_epochs=1``: each worker trains a copy on its chunks, copies averaged;
* with ``--streamed``, daskgd sequential with ``cache=False`` too (the workers read
  the chunks from zarr every epoch, as the scikit-learn loop below does);
* scikit-learn's ``SGDClassifier.partial_fit`` over the same chunks in this process,
  each chunk read from the zarr file to NumPy inside the timed loop, and again with
  the chunks preloaded in memory (the pure SGD time);
* dask-ml's ``Incremental(SGDClassifier)``, one ``partial_fit`` call per epoch.

Every model uses the same scikit-learn settings (``SGD_PARAMS``: loss from
``--loss``, L2 penalty ``alpha=1e-4``, ``learning_rate="optimal"``, shuffled rows,
``random_state=--seed``). Each is trained for 1, 3 and 10 epochs: daskgd by fits
with ``max_iter=k, tol=None``, the loops by checkpoints of one 10-epoch loop (the
checkpoint evaluations are not timed). The scikit-learn loop visits the chunks in
the order daskgd's sequential strategy draws (a fresh permutation per epoch), so
the two should learn the same model; dask-ml shuffles the blocks in the same
order every epoch (its ``random_state`` is re-seeded on every call).

Quality is measured on a held-out set drawn in this process from the true
logistic model of the data (``daskgd.io.true_model``): accuracy and log-loss
(mean hinge loss for ``--loss hinge``). Every time is the median of ``--repeats``
runs; the methods take turns (each runs once per round), so that a change in the
machine's load shows in all of them alike. The report also gives the
steady-state time per epoch, ``(t_10 - t_1) / 9``, which leaves out what a daskgd
fit does once (read the data into worker memory, find the classes). Results go
to ``benchmarks/results/bench_sgd-<timestamp>.json``.

Usage::

    python benchmarks/bench_sgd.py            # 2,000,000 x 50, chunks of 250,000 rows
    python benchmarks/bench_sgd.py --quick    # 200,000 x 20 smoke run, under a minute
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import psutil
import zarr
from distributed import Client, LocalCluster
from scipy.special import expit

import daskgd
from daskgd import SGDClassifier
from daskgd.io import load_zarr, true_model, write_synthetic

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
DEFAULT_DATA_DIR = HERE / "data"

#: Bump when the data written for this benchmark changes, so that old files are not reused.
DATA_VERSION = 1
EPOCHS = (1, 3, 10)
LOSSES = ("log_loss", "hinge")

SEQUENTIAL_TARGET_RATIO = 1.2
AVERAGE_TARGET_SPEEDUP = 1.7
ACCURACY_TOLERANCE = 0.005  # 0.5 percentage point
NO_WORKERS_TIMEOUT = "120s"

#: The scikit-learn settings every model shares (``loss`` and ``random_state`` added per run).
SGD_PARAMS: dict[str, Any] = {
    "penalty": "l2",
    "alpha": 1e-4,
    "learning_rate": "optimal",
    "fit_intercept": True,
    "shuffle": True,
    "average": False,
}

METHODS = (
    "daskgd sequential",
    "daskgd average",
    "daskgd sequential, streamed",
    "plain futures sequential",
    "plain futures average",
    "sklearn loop, zarr reads",
    "sklearn loop, preloaded",
    "dask-ml Incremental",
)


# ---------------------------------------------------------------------------
# data: daskgd.io.write_synthetic, reused when a complete file with the same parameters exists
# ---------------------------------------------------------------------------


def ensure_data(
    data_dir: Path, n_rows: int, n_features: int, chunk_rows: int, seed: int, compress: bool
) -> Path:
    """The zarr group for these parameters, written now unless a complete one exists."""
    params = {
        "bench_sgd_version": DATA_VERSION,
        "rows": n_rows,
        "features": n_features,
        "chunk_rows": chunk_rows,
        "seed": seed,
        "compress": compress,
    }
    suffix = "" if compress else "-raw"
    path = data_dir / f"sgd-{n_rows}x{n_features}-c{chunk_rows}-s{seed}{suffix}.zarr"
    if path.exists():
        try:
            attrs = dict(zarr.open_group(str(path), mode="r").attrs)
            if attrs.get("complete") and all(attrs.get(k) == v for k, v in params.items()):
                print(f"data: reusing {path}")
                return path
        except Exception:  # noqa: BLE001 - a broken or foreign file is rewritten
            pass
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"data: writing {path} ({n_rows:,} x {n_features}, chunks of {chunk_rows:,} rows)")
    start = time.perf_counter()
    write_synthetic(
        path,
        n_rows,
        n_features,
        task="classification",
        chunk_rows=chunk_rows,
        seed=seed,
        compress=compress,
    )
    zarr.open_group(str(path), mode="r+").attrs.update({**params, "complete": True})
    print(f"data: written in {time.perf_counter() - start:.1f} s")
    return path


def held_out_set(n_rows: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh rows from the data's true logistic model (a stream the training data never uses)."""
    coef, intercept = true_model(n_features, seed)
    rng = np.random.default_rng([seed, 7_777_777])
    X = rng.standard_normal((n_rows, n_features))
    y = (rng.random(n_rows) < expit(X @ coef + intercept)).astype(np.float64)
    return X, y


def chunk_bounds(n_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    return [(start, min(n_rows, start + chunk_rows)) for start in range(0, n_rows, chunk_rows)]


# ---------------------------------------------------------------------------
# quality on the held-out set
# ---------------------------------------------------------------------------


class Evaluator:
    """Accuracy and loss of a linear model ``(coef, intercept)`` on the held-out set."""

    def __init__(self, X: np.ndarray, y: np.ndarray, loss: str) -> None:
        self.X, self.y, self.loss = X, y, loss
        self.loss_name = "log-loss" if loss == "log_loss" else "hinge"

    def __call__(self, coef: Any, intercept: Any) -> dict[str, float]:
        coef = np.asarray(coef, dtype=np.float64).reshape(-1)
        intercept = float(np.asarray(intercept, dtype=np.float64).reshape(-1)[0])
        decision = self.X @ coef + intercept
        accuracy = float(np.mean((decision > 0) == (self.y > 0.5)))
        if self.loss == "log_loss":
            value = float(np.mean(np.logaddexp(0.0, decision) - self.y * decision))
        else:
            signs = 2.0 * self.y - 1.0
            value = float(np.mean(np.maximum(0.0, 1.0 - signs * decision)))
        return {"accuracy": accuracy, "loss": value, "coef": coef, "intercept": intercept}


# ---------------------------------------------------------------------------
# the runs: each returns, per epoch count k, the wall seconds and the fitted (coef, intercept)
# ---------------------------------------------------------------------------

Run = dict[int, tuple[float, np.ndarray, Any]]


def sklearn_params(args: argparse.Namespace) -> dict[str, Any]:
    return {**SGD_PARAMS, "loss": args.loss, "random_state": args.seed}


def daskgd_run(
    X: da.Array, y: da.Array, args: argparse.Namespace, strategy: str, cache: bool | str = "auto"
) -> Run:
    """One fit per epoch count (``max_iter=k, tol=None``), each timed whole."""
    result: Run = {}
    for k in EPOCHS:
        extra: dict[str, Any] = {}
        if strategy == "average":
            extra = {"n_rounds": k, "local_epochs": 1}
        model = SGDClassifier(
            **sklearn_params(args), max_iter=k, tol=None, strategy=strategy, cache=cache, **extra
        )
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        result[k] = (seconds, model.coef_, model.intercept_)
    return result


def chunk_order(n_chunks: int, seed: int) -> Iterator[list[int]]:
    """The chunk order of every epoch of daskgd's sequential strategy (``shuffle=True``)."""
    rng = np.random.default_rng(seed)
    while True:
        yield [int(i) for i in rng.permutation(n_chunks)]


def sklearn_loop_run(
    read_chunk: Callable[[int], tuple[np.ndarray, np.ndarray]],
    n_chunks: int,
    args: argparse.Namespace,
) -> Run:
    """``partial_fit`` on every chunk, ``max(EPOCHS)`` epochs; checkpoints are not timed."""
    from sklearn.linear_model import SGDClassifier as SkSGDClassifier

    model = SkSGDClassifier(**sklearn_params(args), max_iter=1, tol=None)
    classes = np.array([0.0, 1.0])
    orders = chunk_order(n_chunks, args.seed)
    result: Run = {}
    elapsed = 0.0
    for epoch in range(1, max(EPOCHS) + 1):
        order = next(orders)
        start = time.perf_counter()
        for index in order:
            X_chunk, y_chunk = read_chunk(index)
            model.partial_fit(X_chunk, y_chunk, classes=classes)
        elapsed += time.perf_counter() - start
        if epoch in EPOCHS:
            result[epoch] = (elapsed, model.coef_.copy(), model.intercept_.copy())
    return result


def _futures_step(model: Any, X: np.ndarray, y: np.ndarray, classes: np.ndarray) -> Any:
    model = copy.deepcopy(model)
    model.partial_fit(X, y, classes=classes)
    return model


def _futures_average(*models: Any) -> Any:
    """Average equal-sized groups' models (the floor: no row weighting, no loss totals)."""
    model = copy.deepcopy(models[0])
    model.coef_ = np.mean([m.coef_ for m in models], axis=0)
    model.intercept_ = np.mean([m.intercept_ for m in models], axis=0)
    model.t_ = float(np.mean([m.t_ for m in models]))
    return model


class PlainFutures:
    """The floor of both strategies: the same chains of ``partial_fit`` tasks, bare.

    The chunks are scattered once to the workers (contiguous halves, as daskgd
    places them) and stay there; every epoch (or round) is submitted as plain
    futures and its model gathered, as daskgd does to check its stopping rule. No
    validation, no loss totals, no checkpoints: what is left is scikit-learn's
    SGD and the scheduler. The ratio of the two is the speedup averaging can reach
    on this machine.
    """

    def __init__(self, client: Client, chunks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.client = client
        workers = sorted(client.scheduler_info()["workers"])
        self.groups = [
            list(group) for group in np.array_split(np.arange(len(chunks)), len(workers))
        ]
        self.placement: dict[int, str] = {}
        self.futures: dict[int, tuple[Any, Any]] = {}
        for worker, group in zip(workers, self.groups, strict=False):
            for index in group:
                X_chunk, y_chunk = chunks[index]
                self.placement[index] = worker
                self.futures[index] = (
                    client.scatter(X_chunk, workers=[worker]),
                    client.scatter(y_chunk, workers=[worker]),
                )

    def _step(self, model: Any, index: int) -> Any:
        X_future, y_future = self.futures[index]
        return self.client.submit(
            _futures_step,
            model,
            X_future,
            y_future,
            np.array([0.0, 1.0]),
            workers=[self.placement[index]],
            pure=False,
        )

    def run(self, args: argparse.Namespace, strategy: str) -> Run:
        from sklearn.linear_model import SGDClassifier as SkSGDClassifier

        model: Any = SkSGDClassifier(**sklearn_params(args), max_iter=1, tol=None)
        orders = chunk_order(len(self.futures), args.seed)
        result: Run = {}
        start = time.perf_counter()
        for epoch in range(1, max(EPOCHS) + 1):
            if strategy == "sequential":
                for index in next(orders):
                    model = self._step(model, index)
            else:
                finals = []
                for group in self.groups:
                    current = model
                    for index in group:
                        current = self._step(current, index)
                    finals.append(current)
                model = self.client.submit(_futures_average, *finals, pure=False)
            model = model.result()
            if epoch in EPOCHS:
                result[epoch] = (time.perf_counter() - start, model.coef_, model.intercept_)
        return result

    def release(self) -> None:
        for pair in self.futures.values():
            for future in pair:
                future.release()
        self.futures.clear()


def dask_ml_run(X: da.Array, y: da.Array, args: argparse.Namespace) -> Run:
    """``Incremental.partial_fit`` once per epoch (one sequential pass over the blocks each)."""
    from dask_ml.wrappers import Incremental
    from sklearn.linear_model import SGDClassifier as SkSGDClassifier

    model = Incremental(
        SkSGDClassifier(**sklearn_params(args), max_iter=1, tol=None),
        shuffle_blocks=True,
        random_state=args.seed,
    )
    classes = np.array([0.0, 1.0])
    result: Run = {}
    elapsed = 0.0
    for epoch in range(1, max(EPOCHS) + 1):
        start = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        elapsed += time.perf_counter() - start
        if epoch in EPOCHS:
            fitted = model.estimator_
            result[epoch] = (elapsed, fitted.coef_.copy(), fitted.intercept_.copy())
    return result


# ---------------------------------------------------------------------------
# rows: one per method and epoch count
# ---------------------------------------------------------------------------


def new_row(method: str, epochs: int) -> dict[str, Any]:
    return {
        "method": method,
        "epochs": epochs,
        "times": [],
        "seconds": None,
        "seconds_per_epoch": None,
        "accuracy": None,
        "loss": None,
        "coef": None,
        "intercept": None,
        "error": None,
        "note": "",
        "load_average": None,
    }


class Method:
    """One method's rows (one per epoch count), filled in run by run."""

    def __init__(self, name: str, run: Callable[[], Run], notes: dict[int, str]) -> None:
        self.name, self.run = name, run
        self.rows = {k: new_row(name, k) for k in EPOCHS}
        for k, note in notes.items():
            self.rows[k]["note"] = note
        self.last: Run = {}
        self.loads: list[float] = []

    def run_once(self) -> None:
        """One run; a failure is kept as "failed: <reason>" and ends this method's runs."""
        if self.rows[EPOCHS[0]]["error"]:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.last = self.run()
        except Exception as exc:  # noqa: BLE001 - reported as "failed: <reason>"
            for row in self.rows.values():
                row["error"] = f"failed: {type(exc).__name__}: {exc}"[:300]
            print(f"    {self.name}: {self.rows[EPOCHS[0]]['error']}", flush=True)
            return
        self.loads.append(os.getloadavg()[0])
        for k, (seconds, _coef, _intercept) in self.last.items():
            self.rows[k]["times"].append(seconds)
        times = ", ".join(f"{k}: {seconds:.2f} s" for k, (seconds, _, _) in self.last.items())
        print(f"    {self.name:26s} {times} (load {self.loads[-1]:.1f})", flush=True)

    def finish(self, evaluate: Evaluator) -> list[dict[str, Any]]:
        """Median times, and the quality of the last run's models (every run is the same)."""
        for k, row in self.rows.items():
            row["load_average"] = self.loads
            if row["error"] or not row["times"]:
                continue
            row["seconds"] = statistics.median(row["times"])
            row["seconds_per_epoch"] = row["seconds"] / k
            _seconds, coef, intercept = self.last[k]
            row.update(evaluate(coef, intercept))
        return list(self.rows.values())


COLUMNS = (
    f"{'method':26s} {'epochs':>6s} {'wall s':>8s} {'s/epoch':>8s} {'runs':>4s} "
    f"{'accuracy':>8s} {'LOSS':>9s}  note"
)


def describe(row: dict[str, Any]) -> str:
    seconds, per_epoch = row["seconds"], row["seconds_per_epoch"]
    accuracy, loss = row["accuracy"], row["loss"]
    note = "; ".join(part for part in (row["note"], row["error"]) if part)
    return (
        f"{row['method']:26s} {row['epochs']:>6d} "
        f"{'-' if seconds is None else f'{seconds:.3f}':>8s} "
        f"{'-' if per_epoch is None else f'{per_epoch:.3f}':>8s} {len(row['times']):>4d} "
        f"{'-' if accuracy is None else f'{100 * accuracy:.3f}%':>8s} "
        f"{'-' if loss is None else f'{loss:.5f}':>9s}  {note}"
    ).rstrip()


def table(rows: list[dict[str, Any]], loss_name: str) -> str:
    header = COLUMNS.replace(f"{'LOSS':>9s}", f"{loss_name:>9s}")
    ordered = sorted(rows, key=lambda row: (METHODS.index(row["method"]), row["epochs"]))
    return "\n".join([header, "-" * len(header), *(describe(row) for row in ordered)])


def steady_epochs(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per method: the time of one more epoch once running, ``(t_10 - t_1) / 9``.

    For the daskgd fits this leaves out what each fit does once (reading the
    data into worker memory, finding the classes).
    """
    first, last = min(EPOCHS), max(EPOCHS)
    result = {}
    for method in METHODS:
        a, b = _find(rows, method, first), _find(rows, method, last)
        if a and b and a["seconds"] is not None and b["seconds"] is not None:
            result[method] = (b["seconds"] - a["seconds"]) / (last - first)
    return result


def _find(rows: list[dict[str, Any]], method: str, epochs: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["method"] == method and r["epochs"] == epochs), None)


def check_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compare against the targets, epoch count by epoch count; nothing is tuned to pass."""
    targets: list[dict[str, Any]] = []
    for k in EPOCHS:
        name = (
            f"daskgd sequential within {SEQUENTIAL_TARGET_RATIO}x of the scikit-learn "
            "loop per epoch (zarr reads in the loop)"
        )
        ours = _find(rows, "daskgd sequential", k)
        loop = _find(rows, "sklearn loop, zarr reads", k)
        preloaded = _find(rows, "sklearn loop, preloaded", k)
        if not (ours and loop and ours["seconds"] and loop["seconds"]):
            targets.append({"target": name, "epochs": k, "met": None, "detail": "not measured"})
        else:
            ratio = ours["seconds"] / loop["seconds"]
            detail = (
                f"{ours['seconds_per_epoch']:.3f} vs {loop['seconds_per_epoch']:.3f} s/epoch "
                f"= {ratio:.2f}x"
            )
            if preloaded and preloaded["seconds"]:
                detail += (
                    f" (vs the preloaded loop {preloaded['seconds_per_epoch']:.3f} s/epoch: "
                    f"{ours['seconds'] / preloaded['seconds']:.2f}x)"
                )
            targets.append(
                {
                    "target": name,
                    "epochs": k,
                    "met": ratio <= SEQUENTIAL_TARGET_RATIO,
                    "ratio": ratio,
                    "detail": detail,
                }
            )
    for k in EPOCHS:
        name = (
            f"daskgd average >= {AVERAGE_TARGET_SPEEDUP}x faster than sequential, accuracy "
            f"within {100 * ACCURACY_TOLERANCE:.1f} pp"
        )
        sequential = _find(rows, "daskgd sequential", k)
        average = _find(rows, "daskgd average", k)
        if not (sequential and average and sequential["seconds"] and average["seconds"]):
            targets.append({"target": name, "epochs": k, "met": None, "detail": "not measured"})
            continue
        speedup = sequential["seconds"] / average["seconds"]
        accuracy_drop = sequential["accuracy"] - average["accuracy"]
        detail = (
            f"{sequential['seconds']:.3f} s / {average['seconds']:.3f} s = {speedup:.2f}x; "
            f"accuracy {100 * average['accuracy']:.3f}% vs {100 * sequential['accuracy']:.3f}% "
            f"({-100 * accuracy_drop:+.3f} pp)"
        )
        plain_sequential = _find(rows, "plain futures sequential", k)
        plain_average = _find(rows, "plain futures average", k)
        if (
            plain_sequential
            and plain_average
            and plain_sequential["seconds"]
            and plain_average["seconds"]
        ):
            detail += (
                "; the same chains as plain futures, data already on the workers: "
                f"{plain_sequential['seconds'] / plain_average['seconds']:.2f}x"
            )
        targets.append(
            {
                "target": name,
                "epochs": k,
                "met": speedup >= AVERAGE_TARGET_SPEEDUP and accuracy_drop <= ACCURACY_TOLERANCE,
                "speedup": speedup,
                "accuracy_drop": accuracy_drop,
                "detail": detail,
            }
        )
    return targets


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import distributed
    import sklearn

    try:
        import dask_ml

        dask_ml_version = dask_ml.__version__
    except ImportError:
        dask_ml_version = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "daskgd": daskgd.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "dask_ml": dask_ml_version,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "zarr": zarr.__version__,
    }


def to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_results(
    args: argparse.Namespace, rows: list[dict[str, Any]], *, partial: bool, **extra: Any
) -> None:
    """(Re)write this run's JSON file; ``partial`` while the run is still going."""
    record = {
        "started": args.started.isoformat(),
        "seconds": time.monotonic() - args.clock,
        "partial": partial,
        "config": {
            k: str(v) if isinstance(v, (Path, datetime)) else v
            for k, v in vars(args).items()
            if k not in ("clock", "output", "environment")
        },
        "sgd_params": sklearn_params(args),
        "epochs": list(EPOCHS),
        "data": {"path": str(args.data_path), "generator": "daskgd.io.write_synthetic"},
        "environment": args.environment,
        "rows": rows,
        **extra,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(to_json(record), indent=1))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--test-rows", type=int, default=200_000, help="held-out rows")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--loss", choices=LOSSES, default="log_loss")
    parser.add_argument("--seed", type=int, default=0, help="data and SGD random_state")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--uncompressed", action="store_true", help="write the zarr chunks without compression"
    )
    parser.add_argument("--no-dask-ml", action="store_true", help="skip dask-ml")
    parser.add_argument(
        "--streamed",
        action="store_true",
        help="also time daskgd sequential with cache=False (reads zarr every epoch)",
    )
    parser.add_argument("--quick", action="store_true", help="200,000 x 20 smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.features, args.chunk_rows = 200_000, 20, 25_000
        args.test_rows = min(args.test_rows, 20_000)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows up when piped too
    args.started = datetime.now(timezone.utc)
    args.clock = time.monotonic()
    args.output = RESULTS_DIR / f"bench_sgd-{args.started.strftime('%Y%m%dT%H%M%SZ')}.json"
    args.environment = environment()
    load_at_start = os.getloadavg()
    if load_at_start[0] > (os.cpu_count() or 1):
        print(f"warning: load average {load_at_start[0]:.1f} at start; timings will be noisy")
    args.data_path = ensure_data(
        args.data_dir,
        args.rows,
        args.features,
        args.chunk_rows,
        args.seed,
        compress=not args.uncompressed,
    )
    evaluate = Evaluator(*held_out_set(args.test_rows, args.features, args.seed), args.loss)
    coef, intercept = true_model(args.features, args.seed)
    truth = evaluate(coef, intercept)
    bounds = chunk_bounds(args.rows, args.chunk_rows)
    group = zarr.open_group(str(args.data_path), mode="r")
    X_store, y_store = group["X"], group["y"]

    def read_chunk(index: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = bounds[index]
        return np.asarray(X_store[start:stop]), np.asarray(y_store[start:stop])

    rows: list[dict[str, Any]] = []
    # Should the workers die (a shared machine), fail the runs instead of waiting forever.
    dask.config.set({"distributed.scheduler.no-workers-timeout": NO_WORKERS_TIMEOUT})
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        X, y = load_zarr(args.data_path)
        n_chunks = X.numblocks[0]
        print(
            f"cluster: {len(client.scheduler_info()['workers'])} workers; data {X.shape[0]:,} x "
            f"{X.shape[1]} in {n_chunks} chunks of {args.chunk_rows:,} rows"
        )
        # Warm-up: imports and first touch on the workers, on a slice of the data.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X_small, y_small = X[:1000], y[:1000]
            SGDClassifier(**sklearn_params(args), max_iter=1, tol=None).fit(X_small, y_small)

        start = time.perf_counter()
        chunks = [read_chunk(index) for index in range(n_chunks)]
        preload_seconds = time.perf_counter() - start
        persisted_note = "includes the persist (zarr read) of each fit"
        methods = [
            Method(
                "daskgd sequential",
                lambda: daskgd_run(X, y, args, "sequential"),
                {1: persisted_note},
            ),
            Method(
                "daskgd average", lambda: daskgd_run(X, y, args, "average"), {1: persisted_note}
            ),
        ]
        if args.streamed:
            methods.append(
                Method(
                    "daskgd sequential, streamed",
                    "plain futures sequential",
                    "plain futures average",
                    lambda: daskgd_run(X, y, args, "sequential", cache=False),
                    {1: "cache=False: chunks read from zarr on the workers every epoch"},
                )
            )
        plain = PlainFutures(client, chunks)
        floor_note = {1: "chunks scattered to the workers once, before (not timed)"}
        methods += [
            Method(
                "plain futures sequential",
                lambda: plain.run(args, "sequential"),
                floor_note,
            ),
            Method("plain futures average", lambda: plain.run(args, "average"), floor_note),
            Method(
                "sklearn loop, zarr reads",
                lambda: sklearn_loop_run(read_chunk, n_chunks, args),
                {1: "each chunk read from zarr in the loop, every epoch"},
            ),
            Method(
                "sklearn loop, preloaded",
                lambda: sklearn_loop_run(chunks.__getitem__, n_chunks, args),
                {1: f"chunks read beforehand in {preload_seconds:.2f} s (not timed)"},
            ),
        ]
        if not args.no_dask_ml:
            methods.append(
                Method(
                    "dask-ml Incremental",
                    lambda: dask_ml_run(X, y, args),
                    {1: "reads from zarr every epoch; same block order every epoch"},
                )
            )
        # Repeats outermost: every method runs once per round, so that a change in the
        # machine's load during the run shows in every method's runs alike.
        for repeat in range(args.repeats):
            print(f"round {repeat + 1} of {args.repeats} (seconds for 1, 3, 10 epochs):")
            for method in methods:
                method.run_once()
                rows = [row for entry in methods for row in entry.finish(evaluate)]
                write_results(args, rows, partial=True)
        chunks.clear()
        plain.release()

    sequential = _find(rows, "daskgd sequential", max(EPOCHS))
    loop = _find(rows, "sklearn loop, preloaded", max(EPOCHS))
    same_model = None
    if sequential and loop and sequential["coef"] is not None and loop["coef"] is not None:
        same_model = float(np.max(np.abs(sequential["coef"] - loop["coef"])))
    text = table(rows, evaluate.loss_name)
    steady = steady_epochs(rows)
    targets = check_targets(rows)
    load_at_end = os.getloadavg()
    print()
    print(
        f"daskgd {daskgd.__version__}: {args.rows:,} x {args.features} float64 (zarr, "
        f"{'compressed' if not args.uncompressed else 'uncompressed'}), chunks of "
        f"{args.chunk_rows:,} rows; LocalCluster 2 workers x 1 thread; median of "
        f"{args.repeats} runs; held-out {args.test_rows:,} rows"
    )
    print(f"SGD settings (all): {sklearn_params(args)}; average: n_rounds=epochs, local_epochs=1")
    print(text)
    print(
        f"steady-state s/epoch (t_{max(EPOCHS)} - t_{min(EPOCHS)}) / "
        f"{max(EPOCHS) - min(EPOCHS)}: "
        + "; ".join(f"{method} {seconds:.3f}" for method, seconds in steady.items())
    )
    for floor, ours in (
        ("plain futures sequential", "daskgd sequential"),
        ("plain futures average", "daskgd average"),
    ):
        if floor in steady and ours in steady:
            print(
                f"steady s/epoch {ours} {steady[ours]:.3f} vs {floor} {steady[floor]:.3f}: "
                f"{steady[ours] / steady[floor]:.2f}x the floor"
            )
    pairs = [
        ("daskgd sequential", "daskgd average"),
        ("plain futures sequential", "plain futures average"),
    ]
    speedups = [
        f"{a.split()[0]} {steady[a] / steady[b]:.2f}x"
        for a, b in pairs
        if a in steady and b in steady
    ]
    if speedups:
        print("steady-state speedup of averaging: " + "; ".join(speedups))
    print(
        f"true model on the held-out set: accuracy {100 * truth['accuracy']:.3f}%, "
        f"{evaluate.loss_name} {truth['loss']:.5f}"
    )
    if same_model is not None:
        print(
            f"daskgd sequential vs the scikit-learn loop after {max(EPOCHS)} epochs: "
            f"max |coef difference| {same_model:.2e}"
        )
    print("targets:")
    for target in targets:
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[target["met"]]
        print(f"  [{verdict}] {target['target']}, {target['epochs']} epochs: {target['detail']}")
    print(
        f"load average (1, 5, 15 min) at start {', '.join(f'{v:.2f}' for v in load_at_start)}; "
        f"at end {', '.join(f'{v:.2f}' for v in load_at_end)} on {os.cpu_count()} cpus; "
        f"total {time.monotonic() - args.clock:.0f} s"
    )
    write_results(
        args,
        rows,
        partial=False,
        true_model={"accuracy": truth["accuracy"], "loss": truth["loss"]},
        steady_seconds_per_epoch=steady,
        sequential_vs_loop_max_coef_difference=same_model,
        load_average={"start": load_at_start, "end": load_at_end},
        targets=targets,
        table=text,
    )
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
