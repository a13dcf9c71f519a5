"""Client and LocalCluster start-up, over TCP or TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.config
from distributed import Client, LocalCluster
from distributed.security import Security

#: The dask config key each client credential falls back to (``tls_security``).
TLS_CONFIG_KEYS = {
    "ca_file": "distributed.comm.tls.ca-file",
    "cert": "distributed.comm.tls.client.cert",
    "key": "distributed.comm.tls.client.key",
}


class MissingTLSCredentials(ValueError):
    """Joining a TLS cluster without a CA file, certificate or key (``missing`` names them)."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        named = ", ".join(f"{name} (dask config {TLS_CONFIG_KEYS[name]})" for name in missing)
        super().__init__(
            f"a TLS client needs a CA file, a certificate and a key; missing: {named}."
        )


def start_local_cluster(
    n_workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str | float | None = "auto",
    dashboard: bool = True,
    tls: bool = False,
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
    tls : bool, default=False
        Encrypt and authenticate every connection (``tls://`` addresses). Without a
        ``security`` keyword the scheduler, the workers and the returned client share
        temporary self-signed credentials (``Security.temporary()``, which needs
        ``cryptography``) that exist only in the memory of this process and of the
        workers: no other client can connect.
    **kwargs
        Passed on to ``LocalCluster`` (e.g. ``security``, a
        ``distributed.security.Security`` that requires encryption).

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
    if tls:
        security = kwargs.get("security")
        if security is None or security is True:
            security = Security.temporary()
        elif not getattr(security, "require_encryption", False):
            raise ValueError("tls=True takes a Security with require_encryption=True.")
        kwargs.update(security=security, protocol="tls://")
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        memory_limit=memory_limit,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0" if dashboard else None,
        scheduler_kwargs=scheduler_kwargs,
        **kwargs,
    )
    client = Client(cluster)  # takes the cluster's credentials
    setattr(client, "_daskgd_owns_cluster", True)  # noqa: B010 (closed with it: close_client)
    return client


def close_client(client: Client) -> None:
    """Close a client, and the cluster too when :func:`start_local_cluster` started it.

    Parameters
    ----------
    client : distributed.Client
        The client to close.
    """
    cluster = client.cluster if getattr(client, "_daskgd_owns_cluster", False) else None
    client.close()
    if cluster is not None:
        cluster.close()


def tls_security(
    ca_file: str | Path | None = None,
    cert: str | Path | None = None,
    key: str | Path | None = None,
) -> Security:
    """Client credentials for joining a TLS cluster, from PEM files.

    A file not given is read from the dask config (``TLS_CONFIG_KEYS``:
    ``distributed.comm.tls.ca-file``, ``distributed.comm.tls.client.cert`` and
    ``distributed.comm.tls.client.key``).

    Parameters
    ----------
    ca_file : str or Path, optional
        Certificate of the authority that signed the cluster's certificates.
    cert : str or Path, optional
        This client's certificate (it may hold the key too).
    key : str or Path, optional
        This client's private key; the dask config's, else the one that ``cert``
        holds.

    Returns
    -------
    security : distributed.security.Security
        Credentials that require encryption, for ``connect(..., security=...)``.

    Raises
    ------
    MissingTLSCredentials
        When a CA file, a certificate or a key is neither given nor configured.
    FileNotFoundError
        When a file does not exist.
    """
    given = {"ca_file": ca_file, "cert": cert, "key": key}
    files = {
        name: str(value) if value is not None else dask.config.get(TLS_CONFIG_KEYS[name], None)
        for name, value in given.items()
    }
    missing = [name for name in ("ca_file", "cert") if not files[name]]
    for name, path in files.items():
        if path and not Path(path).is_file():
            source = "" if given[name] is not None else f" (dask config {TLS_CONFIG_KEYS[name]})"
            raise FileNotFoundError(f"TLS {name} {path}{source}: no such file.")
    if not files["key"] and not (
        files["cert"] and "PRIVATE KEY" in Path(files["cert"]).read_text()
    ):
        missing.append("key")  # nor does the certificate file hold it
    if missing:
        raise MissingTLSCredentials(missing)
    return Security(
        tls_ca_file=files["ca_file"],
        tls_client_cert=files["cert"],
        tls_client_key=files["key"] or None,
        require_encryption=True,
    )


def connect(address: str, timeout: float = 30.0, **kwargs: Any) -> Client:
    """A client of a running scheduler (``tcp://host:8786``, ``tls://...``).

    Parameters
    ----------
    address : str
        Scheduler address.
    timeout : float, default=30.0
        Seconds to wait for the connection before failing.
    **kwargs
        Passed on to ``Client`` (e.g. ``security``, see :func:`tls_security`).

    Returns
    -------
    client : distributed.Client
    """
    return Client(address, timeout=timeout, **kwargs)
