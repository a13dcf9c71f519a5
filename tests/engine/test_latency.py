"""Prompt messages during a fit: the streams' intervals are shortened, then put back."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

from daskgd.engine.latency import PROMPT_INTERVAL, prompt_messages


def _scheduler_intervals(dask_scheduler, client_id):
    return (
        {address: stream.interval for address, stream in dask_scheduler.stream_comms.items()},
        dask_scheduler.client_comms[client_id].interval,
    )


def _worker_interval(dask_worker):
    return dask_worker.batched_stream.interval


def _intervals(client):
    workers, to_client = client.run_on_scheduler(_scheduler_intervals, client_id=client.id)
    return client.scheduler_comm.interval, workers, to_client, client.run(_worker_interval)


@pytest.fixture
def cluster_client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        yield client


def test_the_streams_are_prompt_within_the_block_and_as_before_after(cluster_client):
    client = cluster_client
    before = _intervals(client)
    assert before[0] > PROMPT_INTERVAL and before[2] > PROMPT_INTERVAL
    with prompt_messages(client):
        own, workers, to_client, from_workers = _intervals(client)
        assert own == to_client == PROMPT_INTERVAL
        assert set(workers.values()) == set(from_workers.values()) == {PROMPT_INTERVAL}
        assert len(workers) == len(from_workers) == 2
        assert client.submit(sum, [1, 2]).result() == 3
    assert _intervals(client) == before


def test_a_worker_gone_within_the_block_leaves_the_others_restored(cluster_client):
    client = cluster_client
    before = _intervals(client)
    gone, kept = sorted(before[3])
    with prompt_messages(client):
        client.retire_workers([gone])
    own, workers, to_client, from_workers = _intervals(client)
    assert (own, to_client) == (before[0], before[2])
    assert workers == {kept: before[1][kept]}
    assert from_workers == {kept: before[3][kept]}


def test_without_a_client_nothing_happens():
    with prompt_messages(None):
        pass
