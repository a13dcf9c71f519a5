"""The ``daskgd`` command line as real subprocesses on real files in ``tmp_path``.

make-data, fit, predict and evaluate, on a LocalCluster the command starts itself
and on a separately started ``dask scheduler`` and ``dask worker``, against
estimators fitted (and metrics computed) in this process on the same data; and the
one-line errors (exit status 2) of bad command lines and files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import zarr
from data_helpers import (
    N_FEATURES,
    N_ROWS,
    Run,
    frame_of,
    make_data,
    quiet_load,
    stored,
)
from distributed import Client
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

import daskgd
from daskgd.engine.execution import scheduler_workers
from daskgd.io import load, true_model
from daskgd.serialization import (
    FORMAT_VERSION,
    MAGIC,
    UntrustedModelWarning,
    load_model,
    read_header,
    save_model,
    write_framed_header,
)

#: Seconds any one subprocess may take (generous: CI machines can be loaded).
CLI_TIMEOUT = 300
#: Seconds all the concurrent commands together may take.
BATCH_TIMEOUT = 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- the command line
#
# Every command is a fresh Python process that imports dask and scikit-learn and, to
# fit or predict, starts a LocalCluster or joins the external scheduler: seconds of CPU
# each. So the commands run concurrently, once per module (fixture ``runs``), and each
# test below checks the outcome of one of them.

CLI_ROWS = 3000
#: Planned chunks of 0.05 MiB: 1500 rows of 40 bytes (three disk chunks), two in all.
CHUNK_MB = 0.05
#: model -> (data set, estimator, --param values, cluster). Small budgets keep fits fast.
FITS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "linear": ("regression", "LinearRegression", {}, "local"),
    "logistic": ("classification", "LogisticRegression", {"C": 0.5, "max_iter": 20}, "external"),
    "svm": ("classification", "LinearSVC", {"max_iter": 20}, "external"),
    "sgd-classifier": (
        "classification",
        "SGDClassifier",
        {"max_iter": 3, "tol": None, "random_state": 0},
        "external",
    ),
}
#: The file each fit draws its loss curve to: SVG needs no matplotlib, PNG does.
PLOTS = {model: "loss.svg" if model in ("linear", "svm") else "loss.png" for model in FITS}
#: The same data in the same chunks, reduced in a fixed order: between two processes only
#: the last bits of per-chunk BLAS products may differ. 1e-8 leaves room for that and is
#: far below what one more solver iteration, or another chunking, would change.
SAME_RTOL, SAME_ATOL = 1e-8, 1e-10


def module_command(*args: Any) -> list[str]:
    return [sys.executable, "-m", "daskgd.cli", *map(str, args)]


def run_concurrently(
    commands: dict[str, list[str]],
    root: Path,
    environments: dict[str, dict[str, str]] | None = None,
) -> dict[str, Run]:
    """Run the commands at once, each in its own directory ``root/NAME``, within a timeout.

    ``environments`` adds variables to the environment of the commands it names.
    """
    processes: dict[str, subprocess.Popen[bytes]] = {}
    environments = environments or {}
    try:
        for name, command in commands.items():
            cwd = root / name
            cwd.mkdir()
            env = {**os.environ, **environments.get(name, {})}
            with open(cwd / "stdout", "wb") as out, open(cwd / "stderr", "wb") as err:
                processes[name] = subprocess.Popen(
                    command, cwd=cwd, stdout=out, stderr=err, env=env
                )
        deadline = time.monotonic() + BATCH_TIMEOUT
        for process in processes.values():
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {
        name: Run(
            process.returncode,
            (root / name / "stdout").read_text(),
            (root / name / "stderr").read_text(),
            root / name,
        )
        for name, process in processes.items()
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression and a classification data set, written by the ``daskgd`` console script."""
    directory = tmp_path_factory.mktemp("cli")
    script = Path(sys.executable).with_name("daskgd")
    assert script.exists(), f"the daskgd console script is not next to {sys.executable}"
    commands = {
        f"make-{task}": [
            *(str(script), "make-data", str(directory / f"{task}.zarr")),
            *("--rows", str(CLI_ROWS), "--features", str(N_FEATURES), "--task", task),
            *("--chunk-rows", "500", "--seed", "5"),
        ]
        for task in ("regression", "classification")
    }
    for name, run in run_concurrently(commands, directory).items():
        assert run.returncode == 0, f"{name}: {run}"
    return directory


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``dask scheduler`` and one ``dask worker``, started as separate processes."""
    directory = tmp_path_factory.mktemp("cluster")
    scheduler_file = directory / "scheduler.json"
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(directory / f"{name}.log", "wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", f"distributed.cli.dask_{name}", *args],
                cwd=directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process

    try:
        scheduler = start(
            "scheduler",
            *("--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
            *("--scheduler-file", str(scheduler_file)),
        )
        deadline = time.monotonic() + CLI_TIMEOUT
        address = None
        while address is None:
            assert scheduler.poll() is None, (directory / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not write its address"
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.2)
        start(
            "worker",
            address,
            *("--nthreads", "1", "--no-nanny", "--no-dashboard"),
            *("--local-directory", str(directory)),
        )
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=CLI_TIMEOUT)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _TouchOnUnpickle:
    """Unpickling this object's pickle creates ``marker``: proof that it was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return Path.touch, (Path(self.marker),)


def table_data() -> pd.DataFrame:
    """Numeric features, a text column to leave out with --columns, a float target."""
    X, y = make_data(seed=11)
    frame = frame_of(X, y)
    frame.insert(1, "note", np.array(["a", "b"])[np.arange(N_ROWS) % 2])
    return frame


@pytest.fixture(scope="module")
def runs(data_dir: Path, scheduler_address: str) -> dict[str, Run]:
    """Every command of the tests below, run concurrently (see the top of this section)."""
    table_data().to_parquet(data_dir / "table.parquet")
    X, y = quiet_load(data_dir / "classification.zarr", chunk_bytes=int(CHUNK_MB * 2**20))
    save_model(daskgd.LogisticRegression().fit(X, y), data_dir / "logistic.daskgd")
    X, y = quiet_load(data_dir / "regression.zarr", chunk_bytes=int(CHUNK_MB * 2**20))
    save_model(daskgd.Ridge(alpha=3.0).fit(X, y), data_dir / "ridge.daskgd")
    joblib.dump(_TouchOnUnpickle(data_dir / "cli-payload-ran"), data_dir / "plain.joblib")
    intact = (data_dir / "ridge.daskgd").read_bytes()
    (data_dir / "damaged.daskgd").write_bytes(intact[: len(intact) // 2])
    with open(data_dir / "old.daskgd", "wb") as handle:
        header = {"format": FORMAT_VERSION, "daskgd": "0.0.1", "estimator": "Ridge"}
        write_framed_header(handle, MAGIC, header)
        joblib.dump(_TouchOnUnpickle(data_dir / "old-payload-ran"), handle)

    external = ("--scheduler", scheduler_address)
    commands = {}
    for model, (task, _, params, cluster) in FITS.items():
        commands[f"fit-{model}"] = module_command(
            *("fit", data_dir / f"{task}.zarr", "--model", model),
            *[arg for key, value in params.items() for arg in ("--param", f"{key}={value}")],
            *(external if cluster == "external" else ("--workers", "1")),
            *("--chunk-mb", CHUNK_MB, "--plot", PLOTS[model], "--report", "report.json"),
            *("-o", "model.daskgd"),
            *(["--quiet"] if model != "logistic" else []),  # one fit with its progress bar
        )
    commands["fit-hgb"] = module_command(
        *("fit", data_dir / "classification.zarr", "--model", "hgb-classifier"),
        *[arg for key, value in HGB_PARAMS.items() for arg in ("--param", f"{key}={value}")],
        *("--workers", "1", "--chunk-mb", CHUNK_MB, "--report", "report.json"),
        *("--plot", "loss.png", "--quiet", "-o", "model.daskgd"),
    )
    commands["fit-unknown-param"] = module_command(
        *("fit", data_dir / "classification.zarr", "--model", "logistic"),
        *("--param", "learning_speed=3", "-o", "model.daskgd"),
    )
    commands["fit-parquet"] = module_command(
        *("fit", data_dir / "table.parquet", "--target", "target", "--columns", "f0,f1,f2,f3"),
        *("--model", "ridge", "--param", "alpha=2.0", *external, "--quiet", "-o", "model.daskgd"),
    )
    commands["predict-zarr"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *(*external, "-o", data_dir / "predict-zarr" / "predictions.zarr"),
    )
    commands["predict-zarr-relative"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *(*external, "-o", "predictions.zarr"),
    )
    commands["predict-proba-npy"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *("--proba", *external, "-o", "proba.npy"),
    )
    commands["predict-plain-joblib"] = module_command(
        *("predict", data_dir / "plain.joblib", data_dir / "classification.zarr"),
        *(*external, "-o", "predictions.npy"),
    )
    commands["evaluate-classifier"] = module_command(
        *("evaluate", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *("--chunk-mb", CHUNK_MB, "--json", "metrics.json"),
    )
    commands["evaluate-regressor"] = module_command(
        *("evaluate", data_dir / "ridge.daskgd", data_dir / "regression.zarr"),
        *(*external, "--chunk-mb", CHUNK_MB, "--json", "metrics.json"),
    )
    commands["make-data-on-cluster"] = module_command(
        *("make-data", "regression.zarr", "--rows", CLI_ROWS, "--features", N_FEATURES),
        *("--task", "regression", "--chunk-rows", "500", "--seed", "5", *external),
    )
    # Bad command lines and files: each fails before a cluster starts.
    commands["version"] = module_command("--version")
    commands["fit-missing-data"] = module_command(
        *("fit", data_dir / "missing.zarr", "--model", "linear", "-o", "model.daskgd")
    )
    commands["fit-unknown-target"] = module_command(
        *("fit", data_dir / "table.parquet", "--target", "price", "--model", "ridge"),
        *("-o", "model.daskgd"),
    )
    commands["fit-unknown-model"] = module_command(
        *("fit", data_dir / "regression.zarr", "--model", "forest", "-o", "model.daskgd")
    )
    commands["evaluate-old-model"] = module_command(
        *("evaluate", data_dir / "old.daskgd", data_dir / "regression.zarr")
    )
    commands["fit-zero-workers"] = module_command(
        *("fit", data_dir / "regression.zarr", "--model", "linear", "--n-workers", "0"),
        *("-o", "model.daskgd"),
    )
    commands["fit-output-folder-missing"] = module_command(
        *("fit", data_dir / "regression.zarr", "--model", "linear", "-o", "nowhere/m.daskgd")
    )
    commands["predict-over-its-input"] = module_command(
        *("predict", data_dir / "logistic.daskgd", data_dir / "classification.zarr"),
        *("-o", data_dir / "classification.zarr"),
    )
    commands["evaluate-damaged-model"] = module_command(
        *("evaluate", data_dir / "damaged.daskgd", data_dir / "regression.zarr")
    )
    commands["fit-verbose-param"] = module_command(
        *("fit", data_dir / "regression.zarr", "--model", "ridge", "--param", "verbose=2"),
        *(*external, "--chunk-mb", CHUNK_MB, "-o", "model.daskgd"),
    )
    commands["evaluate-missing-model"] = module_command(
        *("evaluate", data_dir / "missing.daskgd", data_dir / "regression.zarr")
    )
    # The scheduler from the environment, as dask's own tools take it.
    environments = {"evaluate-classifier": {"DASK_SCHEDULER_ADDRESS": scheduler_address}}
    return run_concurrently(commands, data_dir, environments)


def test_cli_make_data(data_dir: Path) -> None:
    for task in ("regression", "classification"):
        group = zarr.open_group(str(data_dir / f"{task}.zarr"), mode="r")
        assert stored(data_dir / f"{task}.zarr", "X").shape == (CLI_ROWS, N_FEATURES)
        assert stored(data_dir / f"{task}.zarr", "X").chunks == (500, N_FEATURES)
        assert stored(data_dir / f"{task}.zarr", "y").chunks == (500,)
        assert group.attrs["task"] == task and group.attrs["seed"] == 5
        assert_array_equal(group.attrs["coef"], true_model(N_FEATURES, 5)[0])
    labels = np.asarray(stored(data_dir / "classification.zarr", "y")[:])
    assert set(np.unique(labels)) == {0.0, 1.0}


def test_cli_make_data_on_a_cluster_writes_the_same_data(
    data_dir: Path, runs: dict[str, Run], scheduler_address: str
) -> None:
    """With --scheduler, the workers draw and write the chunks: the same data as threads."""
    run = runs["make-data-on-cluster"]
    assert run.returncode == 0, str(run)
    assert f"scheduler: {scheduler_address}" in run.stderr
    for name in ("X", "y"):
        written = np.asarray(stored(run.cwd / "regression.zarr", name)[:])
        assert_array_equal(written, np.asarray(stored(data_dir / "regression.zarr", name)[:]))
    assert zarr.open_group(str(run.cwd / "regression.zarr"), mode="r").attrs["seed"] == 5


def in_process_fit(model: str, data: Path) -> tuple[Any, np.ndarray]:
    """The estimator the CLI fits, fitted here (dask's local scheduler) on the same chunks."""
    _, name, params, _ = FITS[model]
    X, y = quiet_load(data, chunk_bytes=int(CHUNK_MB * 2**20))
    assert X.numblocks[0] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the 3-epoch SGD
        estimator = getattr(daskgd, name)(**params).fit(X, y)
    return estimator, X.compute()


@pytest.mark.parametrize("model", list(FITS))
def test_cli_fit(data_dir: Path, runs: dict[str, Run], model: str) -> None:
    task, name, _, _ = FITS[model]
    run = runs[f"fit-{model}"]
    assert run.returncode == 0, str(run)
    assert name in run.stdout
    plot = (run.cwd / PLOTS[model]).read_bytes()
    if PLOTS[model].endswith(".svg"):  # drawn without matplotlib
        assert plot.startswith(b"<svg") and b"<polyline" in plot
    else:
        assert plot.startswith(PNG_SIGNATURE)

    data = data_dir / f"{task}.zarr"
    expected, X = in_process_fit(model, data)
    report = json.loads((run.cwd / "report.json").read_text())
    assert report["model"] == name
    # Parameters as JSON values, equal to the estimator's.
    assert {k: v for k, v in report["params"].items() if k != "verbose"} == {
        key: (value if not isinstance(value, float) or np.isfinite(value) else str(value))
        for key, value in expected.get_params().items()
        if key != "verbose"
    }
    assert report["params"]["verbose"] == (1 if model == "logistic" else 0)  # no --quiet
    assert report["params"]["cache"] == "auto" and report["params"]["callback"] is None
    assert (report["n_rows"], report["n_features"]) == (CLI_ROWS, N_FEATURES)
    assert report["n_coefficients"] == N_FEATURES + 1
    assert report["n_iter"] == int(np.max(expected.n_iter_)) >= 1
    assert report["n_passes"] == expected.n_passes_ >= 1
    assert len(report["loss_curve"]) == report["n_iter"]
    assert np.all(np.isfinite(report["loss_curve"]))
    assert report["objective"] == report["loss_curve"][-1]
    assert 0 < report["seconds"] < CLI_TIMEOUT
    assert_allclose(report["loss_curve"], expected.loss_curve_, rtol=SAME_RTOL)
    if model == "linear":
        assert report["n_passes"] == 1  # the normal equations: one pass
        # Its own local cluster, of the size asked for, on 127.0.0.1.
        assert "workers: 1, 1 threads in all" in run.stderr
        assert "dashboard: http://127.0.0.1:" in run.stderr
    elif model == "sgd-classifier":
        assert report["n_iter"] == 3  # max_iter epochs, tol=None
        assert report["n_passes"] == 3 + 1  # and the label pass
    else:
        assert report["loss_curve"][-1] <= report["loss_curve"][0]

    assert read_header(run.cwd / "model.daskgd")["estimator"] == name
    with pytest.warns(UntrustedModelWarning):
        fitted = load_model(run.cwd / "model.daskgd")
    assert type(fitted) is type(expected)
    assert fitted.get_params()["max_iter"] == expected.get_params()["max_iter"]
    assert_allclose(fitted.coef_, expected.coef_, rtol=SAME_RTOL, atol=SAME_ATOL)
    assert_allclose(fitted.intercept_, expected.intercept_, rtol=SAME_RTOL, atol=SAME_ATOL)
    prediction = fitted.predict(X)
    assert isinstance(prediction, np.ndarray) and prediction.shape == (CLI_ROWS,)
    if task == "classification":
        assert_array_equal(prediction, expected.predict(X))
    else:
        assert_allclose(prediction, expected.predict(X), rtol=1e-8, atol=1e-8)


HGB_PARAMS = {"max_iter": 4, "early_stopping": True, "random_state": 0}


def test_cli_fit_trees(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["fit-hgb"]
    assert run.returncode == 0, str(run)
    assert "HistGradientBoostingClassifier" in run.stdout and "4 trees" in run.stdout
    X, y = quiet_load(data_dir / "classification.zarr", chunk_bytes=int(CHUNK_MB * 2**20))
    expected = daskgd.HistGradientBoostingClassifier(**HGB_PARAMS).fit(X, y)
    report = json.loads((run.cwd / "report.json").read_text())
    assert report["model"] == "HistGradientBoostingClassifier"
    assert report["n_trees"] == expected.n_iter_ == 4
    assert report["n_passes"] == expected.n_passes_
    # The loss of every tree on the training rows (early stopping records it).
    assert_allclose(report["loss_curve"], -expected.train_score_[1:], rtol=1e-12)
    assert (run.cwd / "loss.png").read_bytes().startswith(PNG_SIGNATURE)
    with pytest.warns(UntrustedModelWarning):
        fitted = load_model(run.cwd / "model.daskgd")
    X_memory = X.compute()
    assert_array_equal(fitted.predict(X_memory), expected.predict(X_memory))
    assert_allclose(fitted.predict_proba(X_memory), expected.predict_proba(X_memory))


def test_cli_fit_on_external_scheduler(runs: dict[str, Run], scheduler_address: str) -> None:
    """The logistic fit ran on the external cluster (its coefficients: test_cli_fit)."""
    assert runs["fit-logistic"].returncode == 0, str(runs["fit-logistic"])
    with Client(scheduler_address, timeout=60) as client:
        # The command closed its client only: the scheduler and its worker are still up...
        assert len(scheduler_workers(client)) == 1
        # ... and the fit logged its iterations to that scheduler.
        events = [message for _, message in client.get_events("daskgd")]
    logistic = [event for event in events if event["estimator"] == "LogisticRegression"]
    states = [event["state"] for event in logistic]
    assert states[0] == "started" and states[-1] == "finished"
    report = json.loads((runs["fit-logistic"].cwd / "report.json").read_text())
    assert states.count("running") == report["n_iter"]
    # The LocalCluster fit did not go there.
    assert not any(event["estimator"] == "LinearRegression" for event in events)


def test_cli_fit_parquet_with_target_column(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["fit-parquet"]
    assert run.returncode == 0, str(run)
    fitted = load_model(run.cwd / "model.daskgd", warn=False)
    columns = ["f0", "f1", "f2", "f3"]
    X, y = load(data_dir / "table.parquet", target="target", columns=columns)
    expected = daskgd.Ridge(alpha=2.0).fit(X, y)
    assert fitted.n_features_in_ == N_FEATURES
    assert_allclose(fitted.coef_, expected.coef_, rtol=SAME_RTOL, atol=SAME_ATOL)
    assert_allclose(fitted.intercept_, expected.intercept_, rtol=SAME_RTOL, atol=SAME_ATOL)
    frame = table_data()
    assert_allclose(fitted.predict(frame[columns].to_numpy()), expected.predict(X.compute()))


@pytest.mark.parametrize("path", ["absolute", "relative"])
def test_cli_predict_zarr(data_dir: Path, runs: dict[str, Run], path: str) -> None:
    """Predictions to zarr, on the external cluster, to an absolute or a relative path."""
    run = runs["predict-zarr" if path == "absolute" else "predict-zarr-relative"]
    assert run.returncode == 0, str(run)
    model = load_model(data_dir / "logistic.daskgd", warn=False)
    X = np.asarray(stored(data_dir / "classification.zarr", "X")[:])
    written = np.asarray(zarr.open_array(str(run.cwd / "predictions.zarr"), mode="r")[:])
    assert_array_equal(written, model.predict(X))


def test_cli_predict_proba_npy(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["predict-proba-npy"]
    assert run.returncode == 0, str(run)
    model = load_model(data_dir / "logistic.daskgd", warn=False)
    X = np.asarray(stored(data_dir / "classification.zarr", "X")[:])
    written = np.load(run.cwd / "proba.npy")
    assert written.shape == (CLI_ROWS, 2)
    assert_allclose(written, model.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_non_daskgd_file_is_refused_unpickled(
    data_dir: Path, runs: dict[str, Run], tmp_path: Path
) -> None:
    # The payload works: loading it as a plain joblib file runs it.
    control_marker = tmp_path / "control-ran"
    joblib.dump(_TouchOnUnpickle(control_marker), tmp_path / "control.joblib")
    joblib.load(tmp_path / "control.joblib")
    assert control_marker.exists()

    marker = tmp_path / "payload-ran"
    joblib.dump(_TouchOnUnpickle(marker), tmp_path / "plain.joblib")
    with pytest.raises(ValueError, match="not a daskgd model file"):
        load_model(tmp_path / "plain.joblib")
    assert not marker.exists()

    run = runs["predict-plain-joblib"]
    assert run.returncode != 0
    assert "not a daskgd model file" in run.stderr
    assert not (data_dir / "cli-payload-ran").exists()
    assert not (run.cwd / "predictions.npy").exists()


def test_cli_fit_report_values_match_the_params_given(runs: dict[str, Run]) -> None:
    report = json.loads((runs["fit-logistic"].cwd / "report.json").read_text())
    assert report["params"]["C"] == 0.5 and report["params"]["max_iter"] == 20
    assert report["params"]["fit_intercept"] is True


def in_process_metrics(model_file: Path, data: Path) -> tuple[Any, np.ndarray, np.ndarray]:
    estimator = load_model(model_file, warn=False)
    X, y = quiet_load(data, chunk_bytes=int(CHUNK_MB * 2**20))
    assert y is not None
    return estimator, X.compute(), y.compute()


def test_cli_evaluate_classifier(
    data_dir: Path, runs: dict[str, Run], scheduler_address: str
) -> None:
    run = runs["evaluate-classifier"]
    assert run.returncode == 0, str(run)
    assert f"scheduler: {scheduler_address}" in run.stderr  # from DASK_SCHEDULER_ADDRESS
    estimator, X, y = in_process_metrics(
        data_dir / "logistic.daskgd", data_dir / "classification.zarr"
    )
    proba = estimator.predict_proba(X)
    metrics = json.loads((run.cwd / "metrics.json").read_text())
    assert metrics["n_passes"] == 1 and metrics["n_rows"] == CLI_ROWS
    assert metrics["classes"] == [0.0, 1.0]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, estimator.predict(X)), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(log_loss(y, y_proba=proba), rel=1e-10)
    # ROC AUC from score histograms: exact up to pairs within one bin (2.3e-3 in logit).
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]), abs=1e-4)
    assert_array_equal(metrics["confusion_matrix"], confusion_matrix(y, estimator.predict(X)))
    for figure in ("accuracy", "log-loss", "ROC AUC", "confusion matrix"):
        assert figure in run.stdout
    assert f"{metrics['accuracy']:.6g}" in run.stdout


def test_cli_evaluate_regressor(data_dir: Path, runs: dict[str, Run]) -> None:
    run = runs["evaluate-regressor"]
    assert run.returncode == 0, str(run)
    estimator, X, y = in_process_metrics(data_dir / "ridge.daskgd", data_dir / "regression.zarr")
    prediction = estimator.predict(X)
    metrics = json.loads((run.cwd / "metrics.json").read_text())
    assert metrics["model"] == "Ridge" and metrics["n_rows"] == CLI_ROWS
    assert metrics["r2"] == pytest.approx(r2_score(y, prediction), rel=1e-10)
    assert metrics["mse"] == pytest.approx(mean_squared_error(y, prediction), rel=1e-10)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, prediction), rel=1e-10)
    assert f"{metrics['r2']:.6g}" in run.stdout and "MSE" in run.stdout


def test_cli_predict_leaves_its_input_alone(data_dir: Path, runs: dict[str, Run]) -> None:
    assert runs["predict-over-its-input"].returncode == 2
    assert stored(data_dir / "classification.zarr", "X").shape == (CLI_ROWS, N_FEATURES)


def test_cli_param_verbose_overrides_the_progress_bar(runs: dict[str, Run]) -> None:
    run = runs["fit-verbose-param"]
    assert run.returncode == 0, str(run)
    assert "[Ridge/" in run.stderr  # verbose=2: one line per iteration, not a bar


def test_cli_version(runs: dict[str, Run]) -> None:
    run = runs["version"]
    assert run.returncode == 0 and run.stdout.strip() == f"daskgd {daskgd.__version__}"


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("fit-missing-data", "missing.zarr"),
        ("fit-unknown-target", "price"),
        ("fit-unknown-model", "forest"),
        ("fit-unknown-param", "learning_speed"),
        ("evaluate-old-model", "0.0.1"),
        ("evaluate-missing-model", "missing.daskgd"),
        ("evaluate-damaged-model", "damaged daskgd model file"),
        ("fit-zero-workers", "--n-workers"),
        ("fit-output-folder-missing", "nowhere"),
        ("predict-over-its-input", "would overwrite the input"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(runs: dict[str, Run], command: str, names: str) -> None:
    run = runs[command]
    assert run.returncode == 2, str(run)
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and names in lines[0], run.stderr
    assert "Traceback" not in run.stderr and "scheduler:" not in run.stderr
    assert not (run.cwd / "model.daskgd").exists()
    assert not (runs[command].cwd.parent / "old-payload-ran").exists()  # never unpickled


def test_png_plot_without_matplotlib_is_refused_in_one_line(monkeypatch, tmp_path: Path) -> None:
    """On a plain install (no matplotlib), --plot x.png names the extra before any fit."""
    import importlib.util

    from daskgd import plotting

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "matplotlib" else real_find_spec(name, *args),
    )
    with pytest.raises(ValueError, match=r"needs matplotlib: pip install 'daskgd\[plot\]'"):
        plotting.check_plot_path(tmp_path / "loss.png")
    plotting.check_plot_path(tmp_path / "loss.svg")  # needs nothing more
    plotting.write_loss_plot(np.array([3.0, 2.0, 1.5, 1.4]), tmp_path / "loss.svg", "t")
    svg = (tmp_path / "loss.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") == 3  # the gap: last point is 0
    with pytest.raises(ValueError, match="write .svg"):
        plotting.check_plot_path(tmp_path / "loss.gif")
