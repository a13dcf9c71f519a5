"""Faults during a fit on a real cluster: a worker killed, a worker retired, the scheduler lost.

DESIGN.md promises that "a fit that lost a worker ends with the same coefficients
as one that did not": every task's result depends only on its inputs and the
reductions have a fixed shape and order, so whatever the scheduler recomputes
elsewhere is bit for bit what it lost. These tests hold the estimators to it:

- a worker process is hard-killed (SIGKILL) in the middle of a fit while it holds
  chunk partials (and, with ``cache=True``, persisted chunks) that the fit still
  needs; its nanny restarts it, the scheduler recomputes what was lost (re-reading
  the chunks from the zarr file), and the coefficients equal (``np.array_equal``)
  those of an undisturbed fit of the same estimator on the same data;
- a worker is retired gracefully (``Client.retire_workers``, which first moves its
  data to the other worker) after the first iteration of a fit, and the cluster
  scales back to two workers (``LocalCluster.scale(2)``) while the fit goes on:
  same coefficients again;
- the scheduler process is killed during a fit: the fit raises, within a bound
  set by the client's reconnection ``timeout``, instead of hanging.

The worker tests use a dedicated 2-worker LocalCluster (processes, nannies, one
thread each), not the shared one, because the faults disturb it. A thread watches
the fit's ``"daskgd"`` events and strikes once the fit has run ``after``
iterations; a fit that ends before the fault could strike is run again (at most
``ATTEMPTS`` times). Every wait is bounded: fits run in a daemon thread joined
with a timeout, and cluster changes are polled against deadlines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import psutil
import pytest
from distributed import Client, LocalCluster
from distributed.client import FutureCancelledError
from sklearn.base import clone

from daskgd import (
    HistGradientBoostingClassifier,
    LinearRegression,
    LogisticRegression,
    SGDClassifier,
)
from daskgd.engine.execution import scheduler_workers
from daskgd.io import write_synthetic
from daskgd.oracles.dask import ChunkFailedError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_ROWS, N_FEATURES, CHUNK_ROWS = 120_000, 20, 6_000  # 20 chunks of 1 MB: a pass is ~0.2 s
FIT_TIMEOUT = 90.0  # a disturbed fit here takes 2-15 s on a busy 2-core machine
RESTART_TIMEOUT = 45.0  # a nanny restarts a killed worker in 1-6 s on the same machine
SCHEDULER_TIMEOUT = 10.0  # the client's reconnection window after losing the scheduler
EVENT_TOPIC = "daskgd"
TOO_LATE = "the fit finished before the fault"
ATTEMPTS = 3  # fits tried until the fault strikes while one is running

#: Keys of the chunk tasks of a fit (not the data, the coefficients or the reductions).
CHUNK_TASK_PREFIXES = (
    "daskgd-gram",
    "daskgd-grad",
    "daskgd-loss-grad-hess",
    "daskgd-sgd-chunk",
    "daskgd-sgd-local",
    "daskgd-hgb-histograms",
)


def _sgd(strategy: str) -> SGDClassifier:
    return SGDClassifier(
        loss="log_loss",
        strategy=strategy,
        shuffle=False,
        tol=None,
        max_iter=2,
        random_state=0,
    )


#: name -> (task of the data, estimator, iterations finished before the fault).
#: ``normal`` makes one pass, so its fault strikes during that pass. One case per kind
#: of pass: the Gram pass (normal), loss and gradient (lbfgs; gd's passes are the
#: same), plus the Hessian (newton), SGD's two schemes and the trees' passes. Which
#: solver runs on the client makes no difference to what a worker loses.
CASES: dict[str, tuple[str, Any, int]] = {
    "linear-normal": ("regression", LinearRegression(solver="normal"), 0),
    "logistic-lbfgs": (
        "classification",
        LogisticRegression(solver="lbfgs", tol=1e-12, max_iter=4),
        1,
    ),
    "logistic-newton": (
        "classification",
        LogisticRegression(solver="newton", tol=1e-12, max_iter=3),
        1,
    ),
    "sgd-sequential": ("classification", _sgd("sequential"), 1),
    "sgd-average": ("classification", _sgd("average"), 1),
    "hgb": (
        "classification",
        HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=4, early_stopping=False),
        1,
    ),
}


# ---- fixtures ----


@pytest.fixture(scope="module")
def zarr_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uncompressed zarr groups (arrays ``X`` and ``y``) for each task."""
    root = tmp_path_factory.mktemp("faults")
    paths = {}
    for seed, task in enumerate(("regression", "classification")):
        path = root / f"{task}.zarr"
        write_synthetic(
            path, N_ROWS, N_FEATURES, task=task, chunk_rows=CHUNK_ROWS, seed=seed, compress=False
        )
        paths[task] = path
    return paths


@pytest.fixture(scope="module")
def fault_cluster() -> Iterator[tuple[LocalCluster, Client]]:
    """A dedicated 2-worker cluster with nannies, and the default client on it.

    The client connects by address, so that its view of the workers comes from the
    scheduler. ``lost-worker-timeout`` is the delay after which a LocalCluster closes
    the nanny of a worker that left the scheduler and has not come back under the same
    name; a timer of an earlier kill would otherwise close a nanny that is restarting
    its worker after a later kill (the tests kill a worker every few seconds), and the
    cluster would stay at one worker. Retired workers are removed with ``scale_down``.
    """
    with (
        dask.config.set(
            {
                "distributed.deploy.lost-worker-timeout": "1h",
                # Transitions the scheduler remembers (for ``Scheduler.story``).
                "distributed.admin.low-level-log-length": 1_000_000,
            }
        ),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster.scheduler_address, timeout=30, set_as_default=True) as client,
    ):
        yield cluster, client


@pytest.fixture
def two_workers(fault_cluster: tuple[LocalCluster, Client]) -> tuple[LocalCluster, Client]:
    """The dedicated cluster, with both workers up (a previous test may have restarted one)."""
    cluster, client = fault_cluster
    _wait_for_workers(client, 2, RESTART_TIMEOUT)
    return cluster, client


# ---- helpers ----


def _workers(client: Client) -> dict[str, Any]:
    return scheduler_workers(client)


def _wait_for_workers(client: Client, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(_workers(client)) != n:
        if time.monotonic() > deadline:
            pytest.fail(f"the cluster has {sorted(_workers(client))}, not {n} workers")
        time.sleep(0.2)


def _load(path: Path) -> tuple[da.Array, da.Array]:
    return da.from_zarr(str(path), component="X"), da.from_zarr(str(path), component="y")


def _run_bounded(function: Callable[[], Any], timeout: float) -> Any:
    """``function()`` in a daemon thread; its result, or its exception re-raised.

    Fails the test if it has not returned within ``timeout`` seconds (a hang).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = function()
        except BaseException as error:  # noqa: BLE001 (handed to the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the fit did not return within {timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _events(client: Client, first: int) -> list[dict[str, Any]]:
    """The ``daskgd`` events logged since the ``first``-th one."""
    return [message for _, message in client.get_events(EVENT_TOPIC)[first:]]


def _chunk_partial_holder(dask_scheduler: Any, prefixes: tuple[str, ...]) -> Any:
    """``(address, pid, key)`` of the only worker holding what the fit still needs, or None.

    Data kept on the workers (a chunk that a client holds for the fit's later passes)
    first; otherwise a chunk task's result that some task still waits for, none of
    its waiters running on another worker yet. Losing either costs a recomputation.
    (A pass over kept chunks is one task per worker, whose result the next task may
    have fetched before the worker dies.)
    """
    tasks = list(dask_scheduler.tasks.values())
    for task in tasks:
        if (
            isinstance(task.key, tuple)
            and task.state == "memory"
            and len(task.who_has) == 1
            and task.who_wants
        ):
            worker = next(iter(task.who_has))
            return worker.address, worker.pid, task.key
    for task in tasks:
        name = task.key[0] if isinstance(task.key, tuple) else task.key
        if (
            isinstance(name, str)
            and name.startswith(prefixes)
            and task.state == "memory"
            and len(task.who_has) == 1
            and task.waiters
        ):
            worker = next(iter(task.who_has))
            # A waiter already running on another worker may have fetched the result:
            # the loss would then cost nothing, and prove nothing (seen once in CI).
            if any(
                waiter.state == "processing" and waiter.processing_on is not worker
                for waiter in task.waiters
            ):
                continue
            return worker.address, worker.pid, task.key
    return None


def _recomputed_after_loss(dask_scheduler: Any, key: Any, since: float) -> bool:
    """Whether a task of ``key``'s group was lost with a worker after ``since``, then redone.

    The group (the key's name) rather than the key itself: by the time the worker dies,
    the partial picked as the target may have been consumed, and its successor, which
    the worker was computing or holding, is the one lost (for kept data: any chunk of
    the same array that the worker kept).
    """
    name = key[0] if isinstance(key, tuple) else key
    lost: set[Any] = set()
    for task_key, start, finish, _, stimulus_id, timestamp in dask_scheduler.transition_log:
        if timestamp < since or (task_key[0] if isinstance(task_key, tuple) else task_key) != name:
            continue
        if start in ("memory", "processing") and stimulus_id.startswith("handle-worker-cleanup"):
            lost.add(task_key)
        elif task_key in lost and finish == "memory":
            return True
    return False


class Fault(threading.Thread):
    """Waits until a fit has finished ``after`` iterations, then calls ``strike``.

    ``strike(client)`` returns a description of what it did, or None to be called
    again a moment later (nothing to strike at yet); ``then(what)``, if given, runs
    after a strike (the time of the strike is taken when it returns, before ``then``).
    Gives up at the first
    ``"finished"`` event of the fit (the fault came too late) or at the deadline.
    """

    def __init__(
        self,
        client: Client,
        after: int,
        strike: Callable[[Client], Any],
        then: Callable[[Any], None] | None = None,
        timeout: float = FIT_TIMEOUT,
    ) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.after = after
        self.strike = strike
        self.then = then
        self.first_event = len(client.get_events(EVENT_TOPIC))
        self.deadline = time.monotonic() + timeout
        self.struck_at: float | None = None
        self.what: Any = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                events = _events(self.client, self.first_event)
                if any(event.get("state") == "finished" for event in events):
                    self.error = TOO_LATE
                    return
                iterations = [
                    int(event.get("iteration", 0))
                    for event in events
                    if event.get("state") == "running"
                ]
                if events and max(iterations, default=0) >= self.after:
                    what = self.strike(self.client)
                    if what is not None:
                        self.what, self.struck_at = what, time.time()
                        if self.then is not None:
                            self.then(what)
                        return
                time.sleep(0.01)
            self.error = "deadline"
        except Exception as error:  # noqa: BLE001 (reported by the test)
            self.error = repr(error)

    def finished_after_strike(self) -> bool:
        """Whether the fit logged its end after the fault struck (the fault was mid-fit)."""
        assert self.struck_at is not None
        ends = [
            timestamp
            for timestamp, message in self.client.get_events(EVENT_TOPIC)[self.first_event :]
            if message.get("state") == "finished"
        ]
        return bool(ends) and ends[-1] > self.struck_at


def _kill_partial_holder(client: Client) -> Any:
    """SIGKILL a worker process that holds a chunk partial the fit still needs."""
    holder = client.run_on_scheduler(_chunk_partial_holder, prefixes=CHUNK_TASK_PREFIXES)
    if holder is None:
        return None
    os.kill(holder[1], signal.SIGKILL)
    return holder


_REFERENCES: dict[tuple[str, bool], Any] = {}


def _reference(name: str, cache: bool, X: da.Array, y: da.Array) -> Any:
    """The undisturbed fit of case ``name`` (computed once per module, on two workers)."""
    if (name, cache) not in _REFERENCES:
        estimator = clone(CASES[name][1]).set_params(cache=cache)
        _REFERENCES[name, cache] = _run_bounded(lambda: estimator.fit(X, y), FIT_TIMEOUT)
    return _REFERENCES[name, cache]


def _assert_same_fit(disturbed: Any, reference: Any, X: da.Array | None = None) -> None:
    if not hasattr(reference, "coef_"):  # trees: the same trees predict the same bits
        assert X is not None
        rows = X[:5000].compute()
        assert np.array_equal(disturbed.predict_proba(rows), reference.predict_proba(rows))
        assert disturbed.n_iter_ == reference.n_iter_
        assert disturbed.n_passes_ == reference.n_passes_
        return
    assert np.array_equal(disturbed.coef_, reference.coef_), (
        f"coef_ differs from the undisturbed fit by up to "
        f"{np.max(np.abs(disturbed.coef_ - reference.coef_)):.3g}"
    )
    assert np.array_equal(disturbed.intercept_, reference.intercept_)
    assert np.array_equal(disturbed.n_iter_, reference.n_iter_)
    assert disturbed.n_passes_ == reference.n_passes_


def _disturbed_fit(
    client: Client,
    estimator: Any,
    X: da.Array,
    y: da.Array,
    after: int,
    strike: Callable[[Client], Any],
    then: Callable[[Any], None] | None = None,
) -> tuple[Any, Fault, float]:
    """A fit of ``estimator`` during which ``strike`` struck; the fault; when it started.

    A fast fit may end before the fault finds something to strike at (or before a
    retirement completes): then the fit is run again, up to ``ATTEMPTS`` times.
    """
    for _ in range(ATTEMPTS):
        _wait_for_workers(client, 2, RESTART_TIMEOUT)
        since = time.time()
        fault = Fault(client, after, strike, then=then)
        disturbed = clone(estimator)
        fault.start()
        _run_bounded(partial(disturbed.fit, X, y), FIT_TIMEOUT)
        fault.join(RESTART_TIMEOUT)
        assert not fault.is_alive(), "the fault did not finish"
        assert fault.error in (None, TOO_LATE), fault.error
        if fault.error is None and fault.finished_after_strike():
            return disturbed, fault, since
    pytest.fail(f"no fault struck during a fit in {ATTEMPTS} attempts")


# ---- a worker is killed mid-fit ----

#: Killed while the data streams from zarr: every case. Killed while it is kept on the
#: workers (``cache=True``): one case per way of keeping it (the oracle's kept chunks,
#: SGD's kept chunks and its averaged copies, the trees' binned columns); the other
#: cases keep their chunks the same way.
KILLED_CASES = [(name, False) for name in CASES] + [
    (name, True) for name in ("logistic-newton", "sgd-average", "hgb")
]


@pytest.mark.parametrize(
    ("name", "cache"),
    KILLED_CASES,
    ids=[f"{name}-{'persisted' if cache else 'zarr'}" for name, cache in KILLED_CASES],
)
def test_killed_worker_changes_nothing(two_workers, zarr_data, name, cache):
    _, client = two_workers
    task, estimator, after = CASES[name]
    X, y = _load(zarr_data[task])
    reference = _reference(name, cache, X, y)

    disturbed, fault, since = _disturbed_fit(
        client, clone(estimator).set_params(cache=cache), X, y, after, _kill_partial_holder
    )

    address, pid, key = fault.what
    assert not psutil.pid_exists(pid)
    # The partial was lost with the worker and computed again.
    assert client.run_on_scheduler(_recomputed_after_loss, key=key, since=since)
    _assert_same_fit(disturbed, reference, X)
    # The nanny replaces the killed worker: a new process at a new address.
    _wait_for_workers(client, 2, RESTART_TIMEOUT)
    assert address not in _workers(client)


# ---- a worker is retired gracefully mid-fit, and the cluster scales back ----

#: A retirement hands the kept data over: one case per way of keeping it (the oracle's
#: kept chunks, SGD's kept chunks and its averaged copies, the trees' binned columns),
#: each with iterations to retire a worker between (``normal`` makes a single pass).
RETIRED_CASES = ["logistic-newton", "sgd-average", "hgb"]


def _retire_busiest_worker(client: Client) -> Any:
    """Retire the worker holding the most data (so that retiring it has data to move)."""
    workers = _workers(client)
    if len(workers) < 2:  # the scheduler's view is momentarily short: strike a moment later
        return None
    address = max(sorted(workers), key=lambda a: workers[a]["metrics"].get("managed_bytes", 0))
    client.retire_workers([address], close_workers=True)
    return address, workers[address]["name"]


def _scale_back(cluster: LocalCluster) -> Callable[[Any], None]:
    def then(retired: Any) -> None:
        # As dask's Adaptive does: the scheduler retires, then the cluster forgets the worker.
        cluster.sync(cluster.scale_down, [retired[1]])
        cluster.scale(2)

    return then


@pytest.mark.parametrize("name", RETIRED_CASES)
def test_retired_worker_changes_nothing(two_workers, zarr_data, name):
    # Persisted data: what a graceful retirement has to hand over to the other worker.
    cache = True
    cluster, client = two_workers
    task, estimator, after = CASES[name]
    X, y = _load(zarr_data[task])
    reference = _reference(name, cache, X, y)

    disturbed, fault, _ = _disturbed_fit(
        client,
        clone(estimator).set_params(cache=cache),
        X,
        y,
        after,
        _retire_busiest_worker,
        then=_scale_back(cluster),
    )

    _assert_same_fit(disturbed, reference, X)
    # The cluster is back at two workers, without the retired one.
    _wait_for_workers(client, 2, RESTART_TIMEOUT)
    assert fault.what[0] not in _workers(client)


# ---- the scheduler is lost mid-fit ----


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a process started in its own session, and everything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def test_lost_scheduler_raises_instead_of_hanging(zarr_data, tmp_path):
    cache = True
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = []
    try:
        with open(tmp_path / "scheduler.log", "wb") as scheduler_log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_scheduler"]
                    + ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                    stdout=scheduler_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        with open(tmp_path / "worker.log", "wb") as worker_log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address]
                    + ["--nthreads", "1", "--no-dashboard", "--death-timeout", "60"],
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        scheduler = processes[0]
        with Client(address, timeout=SCHEDULER_TIMEOUT, set_as_default=True) as client:
            client.wait_for_workers(1, timeout=60)
            X, y = _load(zarr_data["classification"])
            estimator = LogisticRegression(solver="lbfgs", tol=1e-14, max_iter=200, cache=cache)

            def kill_scheduler(client: Client) -> Any:
                _stop(scheduler)
                return scheduler.pid

            fault = Fault(client, 1, kill_scheduler)
            fault.start()
            # What the user sees: dask.distributed's own error once the client has given
            # up reconnecting (after its ``timeout``), and an estimator left unfitted.
            with pytest.raises(FutureCancelledError, match="scheduler-connection-lost") as raised:
                _run_bounded(lambda: estimator.fit(X, y), FIT_TIMEOUT)
            failed_at = time.time()
            fault.join(5)
            assert fault.error is None, fault.error
            assert fault.struck_at is not None
            # Not a hang: the fit gives up about SCHEDULER_TIMEOUT after the scheduler died.
            assert failed_at - fault.struck_at < 60
            assert "Client lost the connection to the scheduler" in str(raised.value)
            assert not hasattr(estimator, "coef_")
    finally:
        for process in processes:
            _stop(process)


# ---- a chunk loader that fails, transiently or for good ----


def _flaky_loader(markers: Path, bad_chunk: int, failures: int) -> Callable[..., np.ndarray]:
    """A block function that raises ``OSError`` the first ``failures`` times it loads ``bad_chunk``.

    Attempts are counted with files, since every attempt may run in another worker
    process. Defined in a function so that it travels by value (cloudpickle), and the
    workers do not import this test module.
    """

    def load(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        chunk = block_info[0]["chunk-location"][0]
        if chunk == bad_chunk:
            attempts = len(list(markers.glob(f"{chunk}-*")))
            (markers / f"{chunk}-{attempts}").touch()
            if attempts < failures:
                raise OSError(f"transient read error in chunk {chunk} (attempt {attempts + 1})")
        return block

    return load


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(solver="newton", cache=False), _sgd("sequential").set_params(cache=False)],
    ids=["newton", "sgd"],
)
def test_retries_recover_from_a_flaky_loader(two_workers, zarr_data, tmp_path, estimator):
    _, client = two_workers
    X, y = _load(zarr_data["classification"])
    reference = clone(estimator).fit(X, y)

    markers = tmp_path / "recovered"
    markers.mkdir()
    flaky = X.map_blocks(_flaky_loader(markers, bad_chunk=5, failures=2), dtype=X.dtype)
    recovered = clone(estimator).set_params(retries=2).fit(flaky, y)
    _assert_same_fit(recovered, reference)
    assert len(list(markers.iterdir())) >= 3  # two failed attempts, then the good one

    markers = tmp_path / "failed"
    markers.mkdir()
    flaky = X.map_blocks(_flaky_loader(markers, bad_chunk=5, failures=2), dtype=X.dtype)
    unfitted = clone(estimator).set_params(retries=1)
    with pytest.raises(OSError, match=r"transient read error in chunk 5 \(attempt 2\)"):
        _run_bounded(lambda: unfitted.fit(flaky, y), FIT_TIMEOUT)
    assert not hasattr(unfitted, "coef_")


def _poisoned_loader(bad_chunk: int) -> Callable[..., np.ndarray]:
    """A block function that kills the worker process that loads ``bad_chunk``."""

    def load(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        if block_info[0]["chunk-location"][0] == bad_chunk:
            os._exit(13)
        return block

    return load


@pytest.mark.parametrize("cache", [False, True], ids=["zarr", "persisted"])
def test_chunk_that_kills_workers_is_named_and_the_cluster_survives(two_workers, zarr_data, cache):
    _, client = two_workers
    X, y = _load(zarr_data["regression"])
    poisoned = X.map_blocks(_poisoned_loader(bad_chunk=7), dtype=X.dtype, name="poisoned-load")
    started = time.monotonic()
    with pytest.raises(ChunkFailedError, match=r"Chunk 7 of X killed every worker") as raised:
        _run_bounded(
            lambda: LinearRegression(solver="lbfgs", cache=cache).fit(poisoned, y), FIT_TIMEOUT
        )
    # allowed-failures + 1 worker deaths, each followed by a nanny restart of a few seconds.
    assert time.monotonic() - started < FIT_TIMEOUT
    assert raised.value.chunk == 7
    assert raised.value.key[0].startswith("poisoned-load")
    # The nannies bring the workers back, and the same cluster runs the next fit.
    _wait_for_workers(client, 2, RESTART_TIMEOUT)
    refit = LinearRegression(solver="lbfgs", cache=cache).fit(X, y)
    assert np.array_equal(refit.coef_, _reference_linear_lbfgs(X, y).coef_)


def _reference_linear_lbfgs(X: da.Array, y: da.Array) -> Any:
    return LinearRegression(solver="lbfgs", cache=False).fit(X, y)
