"""Checkpoint and resume: an interrupted fit, resumed, ends exactly where an uninterrupted one does.

Fits are interrupted two ways: by an exception from the estimator's ``callback``
(in this process), and by SIGKILL of a client process that runs the fit against
the shared cluster. The resumed fit must give ``np.array_equal`` coefficients,
the same iteration and pass counts and the same loss curve as a fit that was
never stopped. A checkpoint written for other data or other parameters is
refused with a message naming what differs.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
from sklearn.base import clone

from daskgd import (
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from daskgd.checkpoint import MAGIC, Checkpoint, CheckpointMismatchError, fingerprint
from daskgd.io import write_synthetic

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.default_rng(3)
X_NUMPY = RNG.normal(size=(1200, 6))
Y_CLASS = (X_NUMPY @ RNG.normal(size=6) + RNG.normal(size=1200) > 0).astype(int)
Y_REAL = X_NUMPY @ np.arange(1.0, 7.0) + RNG.normal(size=1200)

#: id -> (estimator, target, iteration at which the first run is interrupted).
CASES: dict[str, tuple[Any, np.ndarray, int]] = {
    "logistic-lbfgs": (LogisticRegression(solver="lbfgs", tol=1e-10), Y_CLASS, 4),
    "logistic-newton": (LogisticRegression(solver="newton", tol=1e-12), Y_CLASS, 2),
    "logistic-gd": (LogisticRegression(solver="gd", tol=1e-6, max_iter=12), Y_CLASS, 5),
    "linear-gd": (LinearRegression(solver="gd", tol=1e-8, max_iter=12), Y_REAL, 5),
    "ridge-lbfgs": (Ridge(alpha=3.0, solver="lbfgs", tol=1e-10), Y_REAL, 3),
    "svc-squared-hinge": (LinearSVC(solver="lbfgs", tol=1e-8), Y_CLASS, 3),
    "sgd-sequential": (SGDClassifier(random_state=0, max_iter=6, tol=None), Y_CLASS, 2),
    "sgd-average": (
        SGDClassifier(strategy="average", random_state=0, max_iter=6, tol=None),
        Y_CLASS,
        2,
    ),
    "sgd-early-stopping": (
        SGDClassifier(
            random_state=1,
            max_iter=8,
            n_iter_no_change=3,
            early_stopping=True,
            learning_rate="auto",
        ),
        Y_CLASS,
        3,
    ),
    "sgd-regressor": (SGDRegressor(random_state=0, max_iter=8), Y_REAL, 4),
}


class Interrupt(Exception):
    """Raised by a callback to stop a fit."""


def interrupt_at(iteration: int) -> Any:
    def callback(record: dict[str, Any]) -> None:
        if record["iteration"] == iteration:
            raise Interrupt(iteration)

    return callback


def dask_data(y: np.ndarray) -> tuple[da.Array, da.Array]:
    return da.from_array(X_NUMPY, chunks=200), da.from_array(y, chunks=200)


def saved_state(path: Path) -> dict[str, Any]:
    """The state in a checkpoint file, read without the fingerprint check."""
    with open(path, "rb") as handle:
        assert handle.read(len(MAGIC)) == MAGIC
        handle.readline()
        return dict(pickle.load(handle))


def assert_same_fit(resumed: Any, reference: Any) -> None:
    assert np.array_equal(resumed.coef_, reference.coef_)
    assert np.array_equal(resumed.intercept_, reference.intercept_)
    assert np.array_equal(resumed.n_iter_, reference.n_iter_)
    assert resumed.n_passes_ == reference.n_passes_
    assert np.array_equal(resumed.loss_curve_, reference.loss_curve_)


@pytest.mark.parametrize("name", list(CASES))
def test_interrupted_fit_resumes_to_the_same_coefficients(client, tmp_path, name):
    estimator, y, stop_at = CASES[name]
    X, y_dask = dask_data(y)
    reference = clone(estimator).fit(X, y_dask)
    assert np.ravel(reference.n_iter_)[0] > stop_at  # the interruption is mid-fit

    path = tmp_path / "fit.ckpt"
    interrupted = clone(estimator).set_params(checkpoint=path, callback=interrupt_at(stop_at))
    with pytest.raises(Interrupt):
        interrupted.fit(X, y_dask)
    assert path.exists()
    assert not hasattr(interrupted, "coef_")

    resumed = clone(estimator).set_params(checkpoint=path).fit(X, y_dask)
    assert_same_fit(resumed, reference)
    # Only the iterations after the interruption ran again.
    assert len(resumed.loss_curve_) == len(reference.loss_curve_)
    # No temporary file is left next to the checkpoint.
    assert [entry.name for entry in tmp_path.iterdir()] == ["fit.ckpt"]


@pytest.mark.parametrize("name", ["logistic-newton", "sgd-sequential"])
def test_numpy_input_resumes_too(tmp_path, name):
    estimator, y, stop_at = CASES[name]
    reference = clone(estimator).fit(X_NUMPY, y)
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Interrupt):
        clone(estimator).set_params(checkpoint=path, callback=interrupt_at(stop_at)).fit(X_NUMPY, y)
    assert_same_fit(clone(estimator).set_params(checkpoint=path).fit(X_NUMPY, y), reference)


def test_checkpoint_every_k_resumes_from_the_last_written_state(client, tmp_path):
    estimator = LogisticRegression(solver="gd", tol=1e-6, max_iter=8)
    X, y = dask_data(Y_CLASS)
    reference = clone(estimator).fit(X, y)
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Interrupt):
        clone(estimator).set_params(
            checkpoint=path, checkpoint_every=3, callback=interrupt_at(5)
        ).fit(X, y)
    # Written after iterations 3 (due) only: 4 and 5 were not due.
    assert saved_state(path)["iteration"] == 3
    resumed = clone(estimator).set_params(checkpoint=path, checkpoint_every=3).fit(X, y)
    assert_same_fit(resumed, reference)


def test_finished_checkpoint_resumes_without_passes_and_can_run_longer(client, tmp_path):
    estimator = LogisticRegression(solver="newton", tol=1e-12, max_iter=2)
    X, y = dask_data(Y_CLASS)
    path = tmp_path / "fit.ckpt"
    first = clone(estimator).set_params(checkpoint=path).fit(X, y)
    again = clone(estimator).set_params(checkpoint=path).fit(X, y)
    assert_same_fit(again, first)
    # max_iter is not part of the fingerprint: a longer run goes on from the checkpoint.
    longer = clone(estimator).set_params(checkpoint=path, max_iter=100).fit(X, y)
    straight = clone(estimator).set_params(max_iter=100).fit(X, y)
    assert_same_fit(longer, straight)
    assert longer.n_iter_[0] > 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"C": 2.0}, r"parameter C: 1\.0 then, 2\.0 now"),
        ({"solver": "gd"}, r"parameter solver: 'newton' then, 'gd' now"),
        ({"chunks": 300}, r"X chunks: \[200, 200, 200, 200, 200, 200\] then, \[300, 300"),
        ({"rows": 1000}, r"X shape: \[1200, 6\] then, \[1000, 6\] now"),
        ({"dtype": np.float32}, r"X dtype: float64 then, float32 now"),
        ({"estimator": LinearSVC(solver="newton")}, r"estimator: LogisticRegression then"),
    ],
)
def test_checkpoint_of_another_fit_is_refused(client, tmp_path, change, message):
    path = tmp_path / "fit.ckpt"
    LogisticRegression(solver="newton", checkpoint=path).fit(*dask_data(Y_CLASS))
    before = path.read_bytes()
    rows = change.get("rows", 1200)
    X = da.from_array(
        X_NUMPY[:rows].astype(change.get("dtype", np.float64)), chunks=change.get("chunks", 200)
    )
    y = da.from_array(Y_CLASS[:rows], chunks=change.get("chunks", 200))
    estimator = change.get("estimator", LogisticRegression(solver="newton"))
    estimator.set_params(
        checkpoint=path, **{k: v for k, v in change.items() if k in ("C", "solver")}
    )
    with pytest.raises(CheckpointMismatchError, match=message):
        estimator.fit(X, y)
    assert path.read_bytes() == before  # refused, not overwritten


def test_other_values_of_the_same_shape_are_refused(client, tmp_path):
    path = tmp_path / "fit.ckpt"
    LogisticRegression(solver="newton", checkpoint=path).fit(*dask_data(Y_CLASS))
    X_other = da.from_array(X_NUMPY[::-1].copy(), chunks=200)
    with pytest.raises(CheckpointMismatchError, match="X contents differ"):
        LogisticRegression(solver="newton", checkpoint=path).fit(
            X_other, da.from_array(Y_CLASS, chunks=200)
        )
    with pytest.raises(CheckpointMismatchError, match="y contents differ"):
        LogisticRegression(solver="newton", checkpoint=path).fit(
            da.from_array(X_NUMPY, chunks=200), da.from_array(1 - Y_CLASS, chunks=200)
        )


def test_a_warm_start_from_another_model_is_refused(tmp_path):
    path = tmp_path / "fit.ckpt"
    model = SGDClassifier(random_state=0, max_iter=2, tol=None, warm_start=True)
    model.set_params(checkpoint=path).fit(X_NUMPY, Y_CLASS)
    with pytest.raises(CheckpointMismatchError, match="the starting point differs"):
        model.fit(X_NUMPY, Y_CLASS)


def test_equivalent_parameters_match():
    def describe(**params: Any) -> dict[str, Any]:
        return fingerprint(LinearSVC(**params), X_NUMPY, Y_CLASS, None)

    assert describe(C=1) == describe(C=1.0)
    assert describe(class_weight={0: 1, 1: 2}) == describe(class_weight={1: 2.0, 0: 1.0})
    assert describe(random_state=np.random.RandomState(0)) == describe(
        random_state=np.random.RandomState(0)
    )
    assert describe(random_state=np.random.RandomState(0)) != describe(
        random_state=np.random.RandomState(1)
    )


def test_a_file_that_is_not_a_checkpoint_is_refused_unread(tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Trap(str(marker)))
    path = tmp_path / "fit.ckpt"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="is not a daskgd checkpoint"):
        LogisticRegression(checkpoint=path).fit(X_NUMPY, Y_CLASS)
    assert not marker.exists()


class _Trap:
    """Unpickling it creates a file: proof that a refused file was never unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (Path(self.path),))


def test_a_damaged_checkpoint_gets_a_clear_error(tmp_path):
    path = tmp_path / "fit.ckpt"
    LogisticRegression(solver="newton", checkpoint=path).fit(X_NUMPY, Y_CLASS)
    path.write_bytes(path.read_bytes()[:-20])  # cut short
    with pytest.raises(ValueError, match="is damaged"):
        LogisticRegression(solver="newton", checkpoint=path).fit(X_NUMPY, Y_CLASS)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "fit.ckpt"
    checkpoint = Checkpoint(path, fingerprint(LogisticRegression(), X_NUMPY, Y_CLASS, None))
    checkpoint.save({"iteration": 1, "coef": np.arange(3.0)})
    before = path.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        checkpoint.save({"iteration": 2, "callback": lambda: None})  # lambdas do not pickle
    assert path.read_bytes() == before
    assert [entry.name for entry in tmp_path.iterdir()] == ["fit.ckpt"]
    assert checkpoint.load()["iteration"] == 1


def test_fingerprint_ignores_how_a_fit_runs_but_not_what_it_computes():
    base = fingerprint(LogisticRegression(), X_NUMPY, Y_CLASS, None)
    run_only = LogisticRegression(verbose=2, cache=True, retries=3, max_iter=7, checkpoint="a")
    assert fingerprint(run_only, X_NUMPY, Y_CLASS, None) == base
    assert fingerprint(LogisticRegression(tol=1e-9), X_NUMPY, Y_CLASS, None) != base
    assert fingerprint(LogisticRegression(), X_NUMPY, Y_CLASS, np.ones(1200)) != base


def test_normal_solver_accepts_a_checkpoint_and_needs_none(client, tmp_path):
    X, y = dask_data(Y_REAL)
    fitted = LinearRegression(checkpoint=tmp_path / "fit.ckpt").fit(X, y)
    assert np.array_equal(fitted.coef_, LinearRegression().fit(X, y).coef_)


# ---- the client process is killed mid-fit ----

KILLED_CLIENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import dask.array as da
    from distributed import Client
    from daskgd import LogisticRegression

    address, data, checkpoint = sys.argv[1:4]
    with Client(address):
        X = da.from_zarr(data, component="X")
        y = da.from_zarr(data, component="y")
        # Slow iterations, so that the parent has time to kill this process mid-fit.
        LogisticRegression(
            solver="lbfgs", tol=1e-12, max_iter=40, checkpoint=checkpoint,
            callback=lambda record: time.sleep(0.3),
        ).fit(X, y)
    print("finished")
    """
)


def test_killed_client_process_resumes_to_the_same_coefficients(client, cluster, tmp_path):
    data = tmp_path / "data.zarr"
    write_synthetic(data, 6000, 8, task="classification", chunk_rows=1000, seed=4, compress=False)
    checkpoint = tmp_path / "fit.ckpt"
    script = tmp_path / "fit_script.py"
    script.write_text(KILLED_CLIENT_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), cluster.scheduler_address, str(data), str(checkpoint)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        written = 0
        while written < 3:  # wait for a few iterations' checkpoints, then kill
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint written in 120 s"
            if checkpoint.exists():
                written = len(saved_state(checkpoint)["history"])
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL

    X = da.from_zarr(str(data), component="X")
    y = da.from_zarr(str(data), component="y")
    estimator = LogisticRegression(solver="lbfgs", tol=1e-12, max_iter=40)
    reference = clone(estimator).fit(X, y)
    resumed = clone(estimator).set_params(checkpoint=checkpoint).fit(X, y)
    assert reference.n_iter_[0] > written  # it was killed mid-fit
    assert_same_fit(resumed, reference)


def test_cli_fit_checkpoints_through_param(cluster, tmp_path):
    from daskgd.cli import main
    from daskgd.serialization import load_model

    data = tmp_path / "data.zarr"
    write_synthetic(data, 3000, 5, task="classification", chunk_rows=500, seed=5, compress=False)
    checkpoint = tmp_path / "fit.ckpt"
    command = ["fit", str(data), "--model", "logistic", "--scheduler", cluster.scheduler_address]
    command += ["--param", "solver='lbfgs'", "--param", f"checkpoint={checkpoint}"]
    assert main([*command, "-o", str(tmp_path / "first.daskgd")]) == 0
    assert checkpoint.exists()
    # Run again: the finished checkpoint is resumed and gives the same model.
    assert main([*command, "-o", str(tmp_path / "again.daskgd")]) == 0
    first = load_model(tmp_path / "first.daskgd", warn=False)
    again = load_model(tmp_path / "again.daskgd", warn=False)
    assert_same_fit(again, first)
    assert saved_state(checkpoint)["n_passes"] == first.n_passes_
