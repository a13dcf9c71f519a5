"""The chunked frame on a real 2-worker cluster: passes, placement, derived columns, retries."""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import get_task_stream

from daskgd.engine.blocks import encode_labels
from daskgd.engine.execution import contiguous_groups, scheduler_workers
from daskgd.engine.frame import ChunkedFrame
from daskgd.engine.reductions import (
    BlockTotals,
    ColumnMoments,
    LabelCounts,
    ObjectiveReduction,
    WeightSum,
    as_dict,
)
from daskgd.losses import BinaryLogLoss
from daskgd.objective import LinearObjective
from daskgd.oracles.numpy import InMemoryChunks, NumpyOracle
from daskgd.penalties import L2

RNG = np.random.default_rng(3)
N_ROWS, N_FEATURES = 400, 6
X = RNG.normal(size=(N_ROWS, N_FEATURES))
LABELS = RNG.integers(0, 3, size=N_ROWS)
Y = (LABELS[:, None] == 1).astype(np.float64)
WEIGHTS = RNG.uniform(0.5, 1.5, size=N_ROWS)
OBJECTIVE = LinearObjective(BinaryLogLoss(), L2(1.0), N_FEATURES, 1, fit_intercept=True)
COEF = RNG.normal(size=OBJECTIVE.n_coef) * 0.1
UNEVEN = (5, 90, 1, 44, 60, 100, 100)


def frame_of(chunks, cache, split_every=None, **columns):
    arrays = {
        name: da.from_array(value, chunks=(chunks,) + value.shape[1:])
        for name, value in columns.items()
    }
    return ChunkedFrame(arrays, cache=cache, split_every=split_every)


@pytest.mark.parametrize(("chunks", "split_every"), [(40, 2), (40, 3), (UNEVEN, 8), (400, 8)])
def test_a_pass_on_the_workers_equals_the_streamed_pass_bit_for_bit(client, chunks, split_every):
    reduction = ObjectiveReduction(OBJECTIVE, "loss_grad_hess")
    results = []
    for cache in (True, False):
        frame = frame_of(chunks, cache, split_every, X=X, y=Y, sample_weight=WEIGHTS)
        assert frame.on_workers is cache
        results.append(as_dict(frame.reduce(reduction, COEF)))
    kept, streamed = results
    for key in kept:
        np.testing.assert_array_equal(kept[key], streamed[key], err_msg=key)
    reference = NumpyOracle(OBJECTIVE, X, Y, WEIGHTS)._reduce("loss_grad_hess", COEF)
    for key in reference:
        np.testing.assert_allclose(kept[key], reference[key], rtol=1e-12, err_msg=key)


def test_arrays_the_user_persisted_stream_with_cache_false(client):
    """A persisted array's chunks have no graph to load them: cache=False depends on them."""
    arrays = {
        name: da.from_array(value, chunks=(UNEVEN,) + value.shape[1:]).persist()
        for name, value in (("X", X), ("y", Y[:, 0]), ("sample_weight", WEIGHTS))
    }
    arrays["y"] = arrays["y"][:, None]  # a task on top of persisted chunks
    frame = ChunkedFrame(arrays, cache=False)
    assert not frame.on_workers
    total = as_dict(frame.reduce(ObjectiveReduction(OBJECTIVE, "loss_grad_hess"), COEF))
    reference = NumpyOracle(OBJECTIVE, X, Y, WEIGHTS)._reduce("loss_grad_hess", COEF)
    for key in reference:
        np.testing.assert_allclose(total[key], reference[key], rtol=1e-12, err_msg=key)
    frame.derive("y", encode_labels, ["y"], broadcast=np.array([0.0, 1.0]), keep=True)
    counts = frame.reduce(LabelCounts("y"))
    np.testing.assert_array_equal(counts.counts, np.bincount(Y[:, 0].astype(int)))


def test_a_pass_is_one_task_per_worker(client):
    frame = frame_of(20, True, X=X, y=Y, sample_weight=WEIGHTS)
    frame.reduce(ObjectiveReduction(OBJECTIVE, "loss_grad"), COEF)  # chunks now in memory
    with get_task_stream(client) as stream:
        frame.reduce(ObjectiveReduction(OBJECTIVE, "loss_grad"), COEF * 2)
    names = [
        str(task["key"][0] if isinstance(task["key"], tuple) else task["key"])
        for task in stream.data
    ]
    n_workers = len(scheduler_workers(client))
    # The workers combine what they hold; the client finishes the fixed tree.
    assert len(names) == n_workers, names
    assert sum(name.startswith("daskgd-grad-") for name in names) == n_workers


def test_chunks_and_derived_columns_are_kept_where_placed(client):
    frame = frame_of(25, True, X=X, y=LABELS)
    assert frame.groups == contiguous_groups(frame.chunk_rows, 2)
    assert len(set(frame.placement)) == 2
    frame.derive("y", encode_labels, ["y"], broadcast=np.array([0, 1, 2]))
    blocks = frame.blocks("y")
    keys = [block.key for block in blocks]
    assert all(str(key[0]).startswith("daskgd-y-") for key in keys)
    client.gather(blocks)
    holders = client.who_has(blocks)
    for key, worker in zip(keys, frame.placement, strict=True):
        assert list(holders[key]) == [worker]
    # Two frames never share keys, even for the same derivation of the same data: two
    # clients fitting it at once must not depend on each other's intermediate keys.
    twin = frame_of(25, True, X=X, y=LABELS)
    twin.derive("y", encode_labels, ["y"], broadcast=np.array([0, 1, 2]))
    assert not {block.key for block in twin.blocks("y")} & set(keys)
    np.testing.assert_array_equal(np.concatenate(client.gather(blocks))[:, 0], LABELS)
    frame.release("y")
    assert not frame.has("y")


def test_frames_over_the_same_data_keep_it_under_keys_of_their_own(client):
    lazy = {
        name: da.from_array(value, chunks=(50,) + value.shape[1:])
        for name, value in (("X", X), ("y", Y), ("sample_weight", WEIGHTS))
    }
    input_keys = set(dask.core.flatten([array.__dask_keys__() for array in lazy.values()]))
    first, second = (ChunkedFrame(lazy, cache=True) for _ in range(2))
    keys = [{block.key for block in frame.blocks("X")} for frame in (first, second)]
    assert not keys[0] & keys[1]
    assert not (keys[0] | keys[1]) & input_keys
    # A fit that ends with a chunk killing workers cancels what it kept
    # (_forget_kept_chunks); a new fit over the same data is not touched by that.
    first._forget_kept_chunks()
    third = ChunkedFrame(lazy, cache=True)
    reduction = ObjectiveReduction(OBJECTIVE, "loss_grad")
    total = as_dict(third.reduce(reduction, COEF))
    reference = as_dict(second.reduce(reduction, COEF))
    for key in reference:
        np.testing.assert_array_equal(total[key], reference[key], err_msg=key)
    # A persisted array keeps its own keys: its chunks are on the workers already.
    persisted = {name: array.persist() for name, array in lazy.items()}
    kept = ChunkedFrame(persisted, cache=True)
    assert {block.key for block in kept.blocks("X")} == set(
        dask.core.flatten(persisted["X"].__dask_keys__())
    )


def test_label_weight_and_moment_passes_are_counted(client):
    frame = frame_of(UNEVEN, True, X=X, y=LABELS, sample_weight=WEIGHTS)
    labels = frame.reduce(LabelCounts("y", "sample_weight"))
    np.testing.assert_array_equal(labels.counts, np.bincount(LABELS))
    np.testing.assert_allclose(labels.weights, np.bincount(LABELS, weights=WEIGHTS), rtol=1e-13)
    assert frame.reduce(WeightSum()).total == pytest.approx(WEIGHTS.sum(), rel=1e-13)
    moments = frame.reduce(ColumnMoments())
    np.testing.assert_allclose(moments.mean, X.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moments.m2 / N_ROWS, X.var(axis=0), rtol=1e-12)
    assert frame.n_passes == 3


@pytest.mark.parametrize("cache", [True, False], ids=["kept", "streamed"])
def test_first_pass_that_reads_a_column_checks_it(client, cache):
    bad = X.copy()
    bad[123, 2] = np.nan
    frame = frame_of(40, cache, X=bad, y=Y, sample_weight=WEIGHTS)
    frame.reduce(WeightSum())  # reads the weights only: X is not checked yet
    assert frame.unchecked == {"X", "y"}
    with pytest.raises(ValueError, match=r"Input X contains NaN or infinity in chunk 3 at row 123"):
        frame.reduce(ObjectiveReduction(OBJECTIVE, "loss_grad"), COEF)
    assert "X" in frame.unchecked
    # The cluster is fine: the next frame's pass runs.
    assert frame_of(40, cache, X=X, y=Y).reduce(WeightSum("y")).n_rows == N_ROWS


def _fails_once_per_chunk(markers: Path):
    def derive(block: np.ndarray) -> np.ndarray:
        marker = markers / f"{float(block.sum())!r}"
        if not marker.exists():
            marker.touch()
            raise OSError("transient read error")
        return block * 2

    return derive


def test_retries_rerun_a_failed_chunk_task(client, tmp_path):
    frame = frame_of(50, True, X=X, y=Y)
    frame.retries = 1
    frame.derive("X", _fails_once_per_chunk(tmp_path), ["X"])
    moments = frame.reduce(ColumnMoments())
    np.testing.assert_allclose(moments.mean, 2 * X.mean(axis=0), rtol=1e-12, atol=1e-15)
    without = frame_of(50, True, X=X, y=Y)
    without.derive("X", _fails_once_per_chunk(tmp_path / "none"), ["X"])
    (tmp_path / "none").mkdir()
    with pytest.raises(OSError, match="transient read error"):
        without.reduce(ColumnMoments())


def _step(state, chunk_index, X_block, y_block, weight_block):
    """A model that remembers the order it saw the chunks in, and their row sums."""
    return state + [(chunk_index, float(X_block.sum()))]


def _average(*states):
    return sorted(entry for state in states for entry in state)


@pytest.mark.parametrize("cache", [True, False], ids=["kept", "streamed"])
def test_chains_and_averaging_rounds_visit_the_chunks_in_order(client, cache):
    frame = frame_of(40, cache, X=X, y=Y)
    memory = InMemoryChunks(X, Y, None, chunk_rows=40)
    order = [3, 1, 4, 0, 9, 2, 6, 5, 8, 7]
    assert frame.chain(_step, [], order, "daskgd-test-chain") == memory.chain(_step, [], order)
    groups = frame.groups
    assert frame.average_round(_step, [], groups, 2, _average, "daskgd-test-local") == (
        memory.average_round(_step, [], groups, 2, _average)
    )
    totals = frame.reduce(BlockTotals(lambda b, i, x, y, w: {"rows": float(len(x))}))
    assert totals.totals == {"rows": N_ROWS}
    assert frame.n_passes == 1 + 2 + 1


def test_head_reads_only_the_first_chunks(client):
    frame = frame_of(40, True, X=X, y=Y, sample_weight=WEIGHTS)
    X_head, y_head, w_head = frame.head(50, ["X", "y", "sample_weight"])
    np.testing.assert_array_equal(X_head, X[:50])
    np.testing.assert_array_equal(y_head, Y[:50])
    np.testing.assert_array_equal(w_head, WEIGHTS[:50])
    assert frame.n_passes == 0


def test_results_come_straight_from_workers_on_this_machine_only(client):
    from daskgd.engine.execution import can_gather_directly

    workers = sorted(scheduler_workers(client))
    assert can_gather_directly(client, workers)  # the LocalCluster listens on 127.0.0.1
    # Workers elsewhere may be out of the client's reach: through the scheduler.
    assert not can_gather_directly(client, ["tcp://10.1.2.3:40000", *workers])
    assert not can_gather_directly(client, [])
    X = da.from_array(np.arange(24.0).reshape(12, 2), chunks=(4, 2))
    frame = ChunkedFrame({"X": X, "y": X[:, :1]}, cache=True)
    assert frame.on_workers and frame.direct
