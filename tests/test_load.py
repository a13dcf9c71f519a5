"""Load: sixteen fits at once on one 2-worker cluster, with the results of one at a time.

Issue 5 §5: "Sixteen fits at once on one 2-worker cluster (e.g. GridSearchCV with
the dask joblib backend, and plain threads calling fit) all finish with results
identical to the same fits run one at a time, with no deadlock, and with worker
memory bounded." Two ways of running many fits at once are tested:

- sixteen client threads, released together by a barrier, each call ``fit`` on dask
  arrays through one shared ``Client`` (a mix of estimators, solvers and
  hyperparameters, two of them identical, which submit the same work at the same
  time under keys of their own); every fitted attribute that the solver path determines
  (``coef_``, ``intercept_``, ``n_iter_``, ``n_passes_``, ``loss_curve_``) must equal
  (``np.array_equal``) that of the same fit run alone beforehand on the same cluster;
- ``GridSearchCV`` over sixteen candidates with distributed's joblib backend
  (``parallel_config(backend="dask")``, ``n_jobs=-1``) on NumPy input: every
  ``_fit_and_score`` runs inside a worker task and fits in process there (a fit on a
  dask array inside a task would need ``worker_client``); ``cv_results_``, the best
  candidate and its coefficients must equal those of the same search with
  ``n_jobs=1`` and no dask at all.

Every wait is bounded: each fit runs in a daemon thread joined against a deadline, so
a deadlock fails the test after ``FIT_TIMEOUT`` instead of hanging it
(``concurrent.futures.ThreadPoolExecutor`` joins its non-daemon threads at interpreter
exit, so a hung fit would hang pytest even after ``result(timeout=...)`` gave up).

Worker memory is sampled while the fits run (a thread reads each worker process's
RSS with psutil every 20 ms, independently of the workers' event loops, and the
scheduler's view of each worker every 100 ms). The tests assert that the peak RSS
stays below the spill threshold (``memory_limit * distributed.worker.memory.target``)
and grows by less than ``MAX_RSS_GROWTH`` over the workers' RSS before the fits,
that no worker spilled, paused or restarted (same processes, same addresses), and
that the cluster holds no task once the fits are over (nothing persisted by a fit
outlives it).

The cluster is dedicated to this module (2 worker processes, 1 thread each, behind
nannies, ``memory_limit=1GiB``) rather than the shared session ``cluster``: the
memory bound is only meaningful with an explicit limit (the shared cluster's default
is the machine's memory split between the workers), and the "same processes" and
"no task left" checks need a cluster that no other test module has used.
"""

from __future__ import annotations

import gc
import importlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import psutil
import pytest
from distributed import Client, LocalCluster, get_task_stream
from joblib import parallel_config
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from daskgd import (
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_ROWS, N_FEATURES, N_CHUNKS = 20_000, 10, 8  # 1.6 MB of X in 8 chunks of 2,500 rows
N_CV_ROWS = 3_000  # the grid search's NumPy data
MEMORY_LIMIT = 2**30  # per worker
FIT_TIMEOUT = 180.0  # the sixteen fits at once take about 9 s on a busy 2-core machine
#: RSS a worker may gain while the fits run (measured: 4-10 MiB): the data are 1.8 MB and
#: each worker holds a few chunks and partials at a time, so more means something piles up.
MAX_RSS_GROWTH = 64 * 2**20
SAMPLE_INTERVAL = 0.02  # seconds between two RSS samples
INFO_EVERY = 5  # scheduler_info once every this many RSS samples


# ---- the cluster and the data ----


@pytest.fixture(scope="module")
def load_client() -> Iterator[Client]:
    """A dedicated 2-worker cluster with a memory limit, and the default client on it."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=MEMORY_LIMIT,
        ) as cluster,
        Client(cluster, set_as_default=True) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


def _arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """NumPy data: a regression, a binary and a 3-class problem on the same X."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    w = rng.normal(size=N_FEATURES)
    raw = X @ w + 0.5
    noisy = raw + rng.logistic(size=N_ROWS)
    return {
        "regression": (X, raw + rng.normal(size=N_ROWS)),
        "binary": (X, (noisy > 0).astype(np.int64)),
        "multiclass": (X, np.digitize(noisy, [-1.0, 1.0]).astype(np.int64)),
    }


@pytest.fixture(scope="module")
def dask_data() -> dict[str, tuple[da.Array, da.Array]]:
    """The same data as dask arrays in N_CHUNKS row chunks, shared by every fit."""
    rows = N_ROWS // N_CHUNKS
    return {
        task: (da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows))
        for task, (X, y) in _arrays().items()
    }


def _sgd(cls: type, **params: Any) -> Any:
    return cls(max_iter=2, tol=None, random_state=0, **params)


#: Sixteen fits: (data, estimator). Two are identical (the same graph keys at once).
FITS: list[tuple[str, Any]] = [
    ("regression", LinearRegression(solver="normal")),
    ("regression", LinearRegression(solver="lbfgs")),
    ("regression", Ridge(alpha=0.1, solver="normal")),
    ("regression", Ridge(alpha=1e4, solver="normal")),
    ("regression", Ridge(alpha=10.0, solver="newton")),
    ("binary", LogisticRegression(C=0.01, solver="newton")),
    ("binary", LogisticRegression(C=1.0, solver="newton")),
    ("binary", LogisticRegression(C=1.0, solver="newton")),
    ("binary", LogisticRegression(C=100.0, solver="newton")),
    ("binary", LogisticRegression(C=0.1, solver="lbfgs")),
    ("binary", LogisticRegression(C=10.0, solver="lbfgs")),
    ("multiclass", LogisticRegression(C=1.0, solver="newton")),
    ("binary", LinearSVC(C=1.0)),
    ("binary", _sgd(SGDClassifier, strategy="sequential", shuffle=True)),
    ("multiclass", _sgd(SGDClassifier, strategy="average", loss="log_loss")),
    ("regression", _sgd(SGDRegressor, strategy="sequential", learning_rate="auto")),
]

#: Fitted attributes that a fit's path determines (not its timings).
FITTED = ("coef_", "intercept_", "n_iter_", "n_passes_", "loss_curve_", "solver_", "eta0_")


def _fitted_state(estimator: Any) -> dict[str, Any]:
    return {name: getattr(estimator, name) for name in FITTED if hasattr(estimator, name)}


def assert_same_fitted_state(actual: Any, desired: Any, label: str) -> None:
    """Every attribute of FITTED is present in both and equal, bit for bit."""
    ours, reference = _fitted_state(actual), _fitted_state(desired)
    assert ours.keys() == reference.keys(), label
    assert {"coef_", "intercept_"} <= ours.keys(), label
    for name, value in reference.items():
        assert np.array_equal(ours[name], value), f"{label}: {name} differs"


# ---- running at once, with a deadline ----


def run_at_once(
    jobs: Sequence[Callable[[], Any]], timeout: float
) -> tuple[list[Any], list[tuple[float, float]]]:
    """Run every job in its own daemon thread, all released together by a barrier.

    Returns the results in order and each job's ``(start, end)`` times; re-raises the
    first job's exception; fails if a job is still running after ``timeout`` seconds.
    """
    n_jobs = len(jobs)
    barrier = threading.Barrier(n_jobs)
    results: list[Any] = [None] * n_jobs
    errors: list[BaseException | None] = [None] * n_jobs
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * n_jobs

    def work(index: int) -> None:
        try:
            barrier.wait(timeout)
            start = time.perf_counter()
            results[index] = jobs[index]()
            spans[index] = (start, time.perf_counter())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread)
            errors[index] = exc

    threads = [
        threading.Thread(target=work, args=(index,), daemon=True, name=f"load-fit-{index}")
        for index in range(n_jobs)
    ]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = [index for index, thread in enumerate(threads) if thread.is_alive()]
    assert not hung, f"jobs {hung} still running after {timeout:.0f} s: a deadlock?"
    for error in errors:
        if error is not None:
            raise error
    return results, spans


def max_overlap(spans: Sequence[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals that contain one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, change in events:  # at a tie an end (-1) sorts before a start (+1)
        running += change
        peak = max(peak, running)
    return peak


# ---- the workers' memory ----


def _worker_processes(client: Client) -> dict[str, int]:
    """Worker address -> worker process id."""
    return client.run(os.getpid)


def _scheduler_identity(dask_scheduler: Any) -> dict[str, Any]:
    return dask_scheduler.identity(n_workers=-1)


class MemorySampler:
    """Samples the workers' RSS (psutil, from this process) and the scheduler's view.

    Use as a context manager around the fits; then read ``peak_rss`` (address ->
    bytes), ``spilled`` (largest spilled bytes seen per address), ``statuses`` (every
    worker status seen), ``addresses`` (every set of worker addresses seen) and
    ``n_samples``.
    """

    def __init__(self, client: Client, pids: dict[str, int]) -> None:
        self.client = client
        self.processes = {address: psutil.Process(pid) for address, pid in pids.items()}
        self.peak_rss = {address: 0 for address in pids}
        self.spilled = {address: 0 for address in pids}
        self.statuses: set[str] = set()
        self.addresses: set[frozenset[str]] = set()
        self.n_samples = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="load-memory")

    def _sample_rss(self) -> None:
        for address, process in self.processes.items():
            rss = process.memory_info().rss  # NoSuchProcess if the worker died
            self.peak_rss[address] = max(self.peak_rss[address], rss)
        self.n_samples += 1

    def _sample_scheduler(self) -> None:
        # Asked of the scheduler itself: ``Client.scheduler_info`` returns the client's
        # cached identity, which its periodic refresh (without workers) can replace
        # between the refresh the call makes and the return, showing no worker at all.
        workers = self.client.run_on_scheduler(_scheduler_identity)["workers"]
        self.addresses.add(frozenset(workers))
        for address, worker in workers.items():
            self.statuses.add(str(worker.get("status", "running")))
            spilled = worker.get("metrics", {}).get("spilled_bytes", {})
            total = int(spilled.get("memory", 0)) + int(spilled.get("disk", 0))
            self.spilled[address] = max(self.spilled.get(address, 0), total)

    def _run(self) -> None:
        count = 0
        while True:
            try:
                self._sample_rss()
                if count % INFO_EVERY == 0:
                    self._sample_scheduler()
            except Exception as exc:  # noqa: BLE001 (reported by the test)
                self.errors.append(exc)
                return
            count += 1
            if self._stop.wait(SAMPLE_INTERVAL):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(30)


def rss(pids: dict[str, int]) -> dict[str, int]:
    return {address: psutil.Process(pid).memory_info().rss for address, pid in pids.items()}


def assert_memory_bounded(
    client: Client, sampler: MemorySampler, pids: dict[str, int], before: dict[str, int]
) -> None:
    """Peak RSS under the spill threshold and close to before; no spill, pause or restart."""
    assert not sampler.errors, f"sampling failed (a worker died?): {sampler.errors!r}"
    assert sampler.n_samples >= 10, "too few memory samples to bound anything"
    target = float(dask.config.get("distributed.worker.memory.target"))
    for address, peak in sampler.peak_rss.items():
        assert peak < target * MEMORY_LIMIT, f"{address}: peak RSS {peak / 2**20:.0f} MiB"
        growth = peak - before[address]
        assert growth < MAX_RSS_GROWTH, f"{address}: RSS grew by {growth / 2**20:.0f} MiB"
    assert sampler.spilled == {address: 0 for address in pids}, sampler.spilled
    assert sampler.statuses <= {"running"}, sampler.statuses
    assert sampler.addresses == {frozenset(pids)}, "a worker left or joined during the fits"
    assert _worker_processes(client) == pids, "a worker process was restarted"


def assert_cluster_empty(client: Client, timeout: float = 30.0) -> None:
    """Once every future is released, the scheduler forgets every task (nothing leaks)."""
    gc.collect()
    deadline = time.monotonic() + timeout
    while True:
        n_tasks = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        if n_tasks == 0:
            return
        assert time.monotonic() < deadline, f"{n_tasks} tasks still on the cluster"
        time.sleep(0.1)


# ---- the tests ----


def test_sixteen_threads_fit_at_once_as_one_at_a_time(
    load_client: Client, dask_data: dict[str, tuple[da.Array, da.Array]]
) -> None:
    assert len(FITS) == 16
    jobs = [(lambda task=task, spec=spec: clone(spec).fit(*dask_data[task])) for task, spec in FITS]
    # One at a time first (this also warms the workers: imports, first-pass code paths).
    alone = [run_at_once([job], FIT_TIMEOUT)[0][0] for job in jobs]
    assert_cluster_empty(load_client)

    pids = _worker_processes(load_client)
    before = rss(pids)
    with MemorySampler(load_client, pids) as sampler:
        together, spans = run_at_once(jobs, FIT_TIMEOUT)

    # The sixteen fits really ran at once: all had started before the first ended.
    assert max_overlap(spans) == len(FITS)
    for (task, spec), ours, reference in zip(FITS, together, alone, strict=True):
        assert_same_fitted_state(ours, reference, f"{task}: {spec!r}")
    # The two identical fits, at the same time, also agree with each other.
    assert_same_fitted_state(together[6], together[7], "identical fits")
    assert_memory_bounded(load_client, sampler, pids, before)
    assert_cluster_empty(load_client)


def test_grid_search_with_dask_joblib_backend_as_without_dask(load_client: Client) -> None:
    X, y = (array[:N_CV_ROWS] for array in _arrays()["binary"])
    grid = {"C": list(np.logspace(-3, 3, 8)), "solver": ["newton", "lbfgs"]}

    def search(n_jobs: int) -> GridSearchCV:
        return GridSearchCV(
            LogisticRegression(tol=1e-8),
            grid,
            scoring=["accuracy", "neg_log_loss"],
            refit="neg_log_loss",
            cv=3,
            n_jobs=n_jobs,
        )

    def on_cluster() -> GridSearchCV:
        # parallel_config is per thread: set it in the thread that runs the search.
        with parallel_config(backend="dask"):
            return search(-1).fit(X, y)

    (reference,), _ = run_at_once([lambda: search(1).fit(X, y)], FIT_TIMEOUT)
    # Import what the tasks will import first, so that the RSS bound is not about imports.
    for module in ("sklearn.model_selection", "daskgd.estimators.classification"):
        load_client.run(importlib.import_module, module)
    pids = _worker_processes(load_client)
    before = rss(pids)
    with MemorySampler(load_client, pids) as sampler, get_task_stream(client=load_client) as stream:
        (ours,), _ = run_at_once([on_cluster], FIT_TIMEOUT)

    assert len(reference.cv_results_["params"]) == 16
    # The candidates' fits ran in tasks on the workers, on both of them.
    assert {task["worker"] for task in stream.data} == set(pids)
    for name, values in reference.cv_results_.items():
        if name.endswith("_time"):
            continue
        if name == "params":
            assert ours.cv_results_[name] == values
        else:
            assert np.array_equal(ours.cv_results_[name], values), name
    assert ours.best_index_ == reference.best_index_
    assert ours.best_params_ == reference.best_params_
    assert_same_fitted_state(ours.best_estimator_, reference.best_estimator_, "best estimator")
    assert_memory_bounded(load_client, sampler, pids, before)
    assert_cluster_empty(load_client)
