"""Shared fixtures: one real 2-worker LocalCluster for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as local_cluster:
        yield local_cluster


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    """A client on the shared cluster, the default scheduler for the test's duration."""
    with Client(cluster, set_as_default=True) as dask_client:
        yield dask_client
