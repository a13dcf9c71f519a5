"""Client and LocalCluster start-up."""

from __future__ import annotations

from typing import Any

from distributed import Client, LocalCluster


def start_local_cluster(
    n_workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str | float | None = "auto",
    dashboard: bool = True,
    **kwargs: Any,
) -> Client:
    """Start a LocalCluster listening on 127.0.0.1 only and return a client for it.

    Parameters
    ----------
    n_workers : int, default=2
        Worker processes.
    threads_per_worker : int, default=1
        Threads in each worker.
    memory_limit : str, float or None, default="auto"
        Memory limit of each worker, as ``LocalCluster`` takes it.
    dashboard : bool, default=True
        Serve the dashboard, with daskgd's page at ``/daskgd``, on a free port of
        127.0.0.1.
    **kwargs
        Passed on to ``LocalCluster``.

    Returns
    -------
    client : distributed.Client
        A client that owns the cluster: closing it (or leaving its ``with``
        block) shuts the cluster down.
    """
    scheduler_kwargs = dict(kwargs.pop("scheduler_kwargs", {}))
    if dashboard:
        preload = list(scheduler_kwargs.get("preload", []))
        scheduler_kwargs["preload"] = [*preload, "daskgd.dashboard"]
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        memory_limit=memory_limit,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0" if dashboard else None,
        scheduler_kwargs=scheduler_kwargs,
        **kwargs,
    )
    client = Client(cluster)
    setattr(client, "_daskgd_owns_cluster", True)  # noqa: B010 (closed with it: close_client)
    return client


def close_client(client: Client) -> None:
    """Close a client, and the cluster too when :func:`start_local_cluster` started it."""
    cluster = client.cluster if getattr(client, "_daskgd_owns_cluster", False) else None
    client.close()
    if cluster is not None:
        cluster.close()


def connect(address: str, timeout: float = 30.0, **kwargs: Any) -> Client:
    """A client of a running scheduler (``tcp://host:8786``, ``tls://...``).

    Parameters
    ----------
    address : str
        Scheduler address.
    timeout : float, default=30.0
        Seconds to wait for the connection before failing.
    **kwargs
        Passed on to ``Client`` (e.g. ``security``).

    Returns
    -------
    client : distributed.Client
    """
    return Client(address, timeout=timeout, **kwargs)
