"""The engine on workers of its own: a lost worker changes no bit; chunk tasks import little.

Each test starts a dedicated 2-worker LocalCluster (nannies, one thread each),
because it kills a worker or measures the workers' memory.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import cloudpickle
import dask.array as da
import numpy as np
import psutil
import pytest
from distributed import Client, LocalCluster

from daskgd import LogisticRegression
from daskgd.engine.execution import ChunkFailedError, scheduler_workers
from daskgd.engine.frame import ChunkedFrame
from daskgd.engine.reductions import ObjectiveReduction, as_dict
from daskgd.io import load, write_synthetic
from daskgd.losses import BinaryLogLoss
from daskgd.objective import LinearObjective
from daskgd.penalties import L2

#: Modules a worker must not import to run a fit's chunk tasks (about 80-110 MB each).
HEAVY_MODULES = ("sklearn", "pandas", "daskgd.validation", "daskgd.estimators", "dask.dataframe")
MEMORY_LIMIT = "250MB"

# The helpers below run on the workers: ship them by value, so that a worker does not
# import this module (and, through it, scikit-learn, which alone would fill 250 MB).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _wait_for_workers(client: Client, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(scheduler_workers(client)) < n:
        assert time.monotonic() < deadline, "the workers did not come back"
        time.sleep(0.1)


def _pid() -> int:
    return os.getpid()


def _loaded(prefixes: tuple[str, ...]) -> list[str]:
    roots = set(prefixes)
    return sorted(name for name in sys.modules if name.split(".")[0] in roots or name in roots)


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


@pytest.fixture
def own_cluster():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit=MEMORY_LIMIT,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_a_lost_worker_changes_no_bit_of_a_pass(own_cluster):
    client = own_cluster
    rng = np.random.default_rng(0)
    X = da.from_array(rng.normal(size=(6_000, 8)), chunks=(300, 8))
    y = da.from_array((rng.random((6_000, 1)) < 0.5).astype(float), chunks=(300, 1))
    objective = LinearObjective(BinaryLogLoss(), L2(1.0), 8, 1, fit_intercept=True)
    reduction = ObjectiveReduction(objective, "loss_grad_hess")
    coef = rng.normal(size=objective.n_coef) * 0.1
    frame = ChunkedFrame({"X": X, "y": y}, cache=True)
    assert frame.on_workers
    before = as_dict(frame.reduce(reduction, coef))

    victim = frame.placement[0]
    pid = client.run(_pid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while victim in scheduler_workers(client):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Half the chunks are gone: the next pass recomputes them from their source, elsewhere.
    after = as_dict(frame.reduce(reduction, coef * 1.0 + 0.0))
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    _wait_for_workers(client, 2)
    again = as_dict(frame.reduce(reduction, coef))
    for key in before:
        np.testing.assert_array_equal(before[key], again[key], err_msg=key)


def test_chunk_tasks_import_little_and_a_fit_fits_in_250_mb_workers(own_cluster, tmp_path):
    client = own_cluster
    path = tmp_path / "data.zarr"
    write_synthetic(path, 200_000, 20, task="classification", chunk_rows=20_000, seed=1)
    X, y = load(path)
    pids = client.run(_pid)
    rss_before = client.run(_rss)
    assert not any(client.run(_loaded, HEAVY_MODULES).values())

    model = LogisticRegression(solver="newton").fit(X, y)
    assert model.n_iter_[0] >= 2

    loaded = client.run(_loaded, HEAVY_MODULES)
    assert not any(loaded.values()), loaded
    assert client.run(_pid) == pids, "a worker was restarted"
    growth = {w: client.run(_rss)[w] - rss_before[w] for w in pids}
    # The data (34 MB in all, kept on the workers), the fit's intermediates and the
    # allocator's arenas (35-82 MB seen) stay well inside the 250 MB limit.
    assert max(growth.values()) < 150 * 2**20, growth


def _poisoned(bad_chunk: int):
    def load(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        if block_info[0]["chunk-location"][0] == bad_chunk:
            os._exit(13)
        return block

    return load


@pytest.mark.parametrize("cache", [True, False], ids=["kept", "streamed"])
def test_the_chunk_that_kills_workers_is_named_not_its_neighbours(own_cluster, cache):
    """dask counts a death against every task queued on the dying worker: the engine
    reloads the suspects one at a time and names the one whose load kills."""
    client = own_cluster
    rng = np.random.default_rng(2)
    clean = da.from_array(rng.normal(size=(2_400, 4)), chunks=(200, 4))
    X = clean.map_blocks(_poisoned(5), dtype=clean.dtype, name="poisoned-load")
    y = da.from_array(np.ones((2_400, 1)), chunks=(200, 1))
    objective = LinearObjective(BinaryLogLoss(), L2(1.0), 4, 1, fit_intercept=True)
    frame = ChunkedFrame({"X": X, "y": y}, cache=cache)
    with pytest.raises(ChunkFailedError, match=r"Chunk 5 of X killed every worker") as raised:
        frame.reduce(ObjectiveReduction(objective, "loss_grad"), np.zeros(objective.n_coef))
    assert raised.value.chunk == 5
    assert raised.value.key[0] == "poisoned-load"
    # The scheduler forgives failures again, and the same data without the poison fits.
    _wait_for_workers(client, 2)
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == 3
    again = ChunkedFrame({"X": clean, "y": y}, cache=cache)
    total = again.reduce(ObjectiveReduction(objective, "loss_grad"), np.zeros(objective.n_coef))
    assert total.n == 2_400


def test_a_frame_made_before_the_workers_arrive_keeps_its_chunks():
    """With a client but no worker yet, the frame persists its data through dask: its
    blocks must hold the chunks' futures, or the scheduler forgets the chunks before
    the first pass asks for them ("lost dependencies")."""
    rng = np.random.default_rng(3)
    X = da.from_array(rng.normal(size=(1_200, 4)), chunks=(300, 4))
    y = da.from_array((rng.random((1_200, 1)) < 0.5).astype(float), chunks=(300, 1))
    objective = LinearObjective(BinaryLogLoss(), L2(1.0), 4, 1, fit_intercept=True)
    reduction = ObjectiveReduction(objective, "loss_grad")
    coef = rng.normal(size=objective.n_coef) * 0.1
    with (
        LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        early = ChunkedFrame({"X": X, "y": y}, cache=True)
        assert early.persisted and not early.on_workers
        cluster.scale(2)
        _wait_for_workers(client, 2)
        before = as_dict(early.reduce(reduction, coef))
        kept = ChunkedFrame({"X": X, "y": y}, cache=True)
        assert kept.on_workers
        after = as_dict(kept.reduce(reduction, coef))
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
