"""TLS clusters, on real processes: the same fits as over TCP, and strangers refused.

A LocalCluster whose scheduler, workers and client authenticate each other with
certificates made by ``Security.temporary()`` (written to PEM files, so that other
processes can join) fits exactly what a plain TCP LocalCluster fits; clients
without those credentials (none, plain TCP, the CA without a certificate, another
self-signed pair) are refused within their connection timeout and leave the
cluster working. The ``daskgd``
command starts a TLS cluster of its own (``--tls``) and joins a running one
(``--scheduler tls://...`` with the PEM files, or with the dask config), as
subprocesses run concurrently; its option errors name the missing option.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.config
import numpy as np
import pytest
from data_helpers import Run
from distributed import Client
from distributed.comm import connect as comm_connect
from distributed.security import Security
from numpy.testing import assert_array_equal

import daskgd
from daskgd.cli import main
from daskgd.cluster import (
    TLS_CONFIG_KEYS,
    MissingTLSCredentials,
    close_client,
    start_local_cluster,
    tls_security,
)
from daskgd.engine.execution import scheduler_workers
from daskgd.io import DataWarning, load, write_synthetic
from daskgd.serialization import load_model, save_model

N_ROWS, N_FEATURES, DISK_ROWS = 2000, 4, 500
#: Planned chunks of one disk chunk each (500 rows of 4 float64): four chunks.
CHUNK_BYTES = DISK_ROWS * N_FEATURES * 8
CHUNK_MB = CHUNK_BYTES / 2**20
#: model (CLI name) -> estimator and parameters: the normal equations and Newton.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("LinearRegression", {}),
    "logistic": ("LogisticRegression", {"C": 0.5}),
}
#: Seconds a refused client may take (it is refused at once), and its connection timeout.
REFUSED_WITHIN, CONNECT_TIMEOUT = 4, 5
#: Seconds all the CLI subprocesses together may take (about 10 on a quiet machine).
CLI_TIMEOUT = 180


def no_tls_config() -> dict[str, None]:
    """Dask config without client credentials: what a client without any would see."""
    return dict.fromkeys(TLS_CONFIG_KEYS.values())


def tls_config(credentials: dict[str, Path]) -> dict[str, str]:
    """Dask config naming the credential files."""
    return {TLS_CONFIG_KEYS[name]: str(path) for name, path in credentials.items()}


def load_data(path: Path, target: str = "y") -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # tiny test chunks
        X, y = load(f"{path}::X", f"{path}::{target}", chunk_bytes=CHUNK_BYTES)
    assert X.numblocks[0] == N_ROWS // DISK_ROWS
    return X, y


def fit_all(data: dict[str, Path], client: Client) -> dict[str, Any]:
    """Every model of ``MODELS`` fitted on ``client``'s cluster."""
    fitted = {}
    with client.as_current():
        for model, (name, params) in MODELS.items():
            fitted[model] = getattr(daskgd, name)(**params).fit(*load_data(data[model]))
    return fitted


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """model -> zarr data set (regression for linear, classification for logistic)."""
    directory = tmp_path_factory.mktemp("tls-data")
    paths = {}
    for model, task in (("linear", "regression"), ("logistic", "classification")):
        paths[model] = directory / f"{task}.zarr"
        write_synthetic(paths[model], N_ROWS, N_FEATURES, task=task, chunk_rows=DISK_ROWS, seed=3)
    return paths


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``Security.temporary()``'s in-memory PEMs (one self-signed pair) as files."""
    temporary = Security.temporary()
    directory = tmp_path_factory.mktemp("tls-credentials")
    files = {"ca_file": directory / "ca.pem", "cert": directory / "cert.pem"}
    files["key"] = directory / "key.pem"
    files["ca_file"].write_text(temporary.tls_ca_file)
    files["cert"].write_text(temporary.tls_client_cert)
    files["key"].touch(mode=0o600)
    files["key"].write_text(temporary.tls_client_key)
    return files


@pytest.fixture(scope="module")
def tcp_models(data: dict[str, Path]) -> dict[str, Any]:
    """The models fitted on a plain TCP LocalCluster (closed before the TLS tests run)."""
    client = start_local_cluster(n_workers=2, threads_per_worker=1, dashboard=False)
    try:
        assert scheduler_address(client).startswith("tcp://127.0.0.1:")
        return fit_all(data, client)
    finally:
        close_client(client)


@pytest.fixture(scope="module")
def tls_client(credentials: dict[str, Path]) -> Iterator[Client]:
    """A 2-worker TLS LocalCluster whose every role uses the credential files."""
    ca_file, cert, key = (str(credentials[name]) for name in ("ca_file", "cert", "key"))
    security = Security(
        require_encryption=True,
        tls_ca_file=ca_file,
        **{
            f"tls_{role}_{kind}": path
            for role in ("client", "scheduler", "worker")
            for kind, path in (("cert", cert), ("key", key))
        },
    )
    client = start_local_cluster(
        n_workers=2, threads_per_worker=1, dashboard=False, tls=True, security=security
    )
    try:
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        close_client(client)


@dataclass
class Runs:
    """The outcome of the CLI commands, and the fits the TLS cluster saw meanwhile."""

    outcomes: dict[str, Run]
    new_fit_ids: set[str]


def scheduler_address(client: Client) -> str:
    assert client.scheduler is not None
    return str(client.scheduler.address)


def fit_ids(client: Client) -> set[str]:
    return {message["fit_id"] for _, message in client.get_events("daskgd")}


@pytest.fixture(scope="module")
def runs(
    data: dict[str, Path],
    credentials: dict[str, Path],
    tcp_models: dict[str, Any],
    tls_client: Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> Runs:
    """``daskgd fit --tls`` (a cluster of its own) and ``daskgd fit --scheduler tls://...``
    with the credential files, run at once as subprocesses, each in its own directory."""
    root = tmp_path_factory.mktemp("tls-cli")
    files = [
        *("--tls-ca-file", str(credentials["ca_file"]), "--tls-cert", str(credentials["cert"])),
        *("--tls-key", str(credentials["key"])),
    ]
    options: dict[str, list[str]] = {
        "local": ["--tls", "--workers", "1"],  # the same fit whatever the worker count
        "join": ["--scheduler", scheduler_address(tls_client), *files],
    }
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DASK_DISTRIBUTED__COMM__")  # no credentials from outside
    }
    fit_ids_before = fit_ids(tls_client)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, extra in options.items():
            cwd = root / name
            cwd.mkdir()
            command = [
                *(sys.executable, "-m", "daskgd.cli", "fit", str(data["logistic"])),
                *("--model", "logistic", "--param", "C=0.5", "--quiet"),
                *("--chunk-mb", repr(CHUNK_MB), "--report", "report.json", "-o", "model.daskgd"),
                *extra,
            ]
            with open(cwd / "stdout", "wb") as out, open(cwd / "stderr", "wb") as err:
                processes[name] = subprocess.Popen(
                    command, cwd=cwd, env=environment, stdout=out, stderr=err
                )
        deadline = time.monotonic() + CLI_TIMEOUT
        for process in processes.values():
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass  # killed below: the tests show what each command wrote
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    outcomes = {
        name: Run(
            process.returncode,
            (root / name / "stdout").read_text(),
            (root / name / "stderr").read_text(),
            root / name,
        )
        for name, process in processes.items()
    }
    return Runs(outcomes, fit_ids(tls_client) - fit_ids_before)


# ---------------------------------------------------------------- a TLS cluster


def test_tls_cluster_fits_exactly_as_tcp(
    data: dict[str, Path], tcp_models: dict[str, Any], tls_client: Client
) -> None:
    assert scheduler_address(tls_client).startswith("tls://127.0.0.1:")
    workers = scheduler_workers(tls_client)
    assert len(workers) == 2 and all(address.startswith("tls://") for address in workers)
    tls_models = fit_all(data, tls_client)
    for model, expected in tcp_models.items():
        assert_array_equal(tls_models[model].coef_, expected.coef_, err_msg=model)
        assert_array_equal(tls_models[model].intercept_, expected.intercept_, err_msg=model)
        assert tls_models[model].n_passes_ == expected.n_passes_
    assert tcp_models["logistic"].n_passes_ > 1  # a solver that iterates, not only one pass


def client_of(**kwargs: Any) -> Callable[[], None]:
    """An attempt to start (and close) a ``Client`` with ``kwargs``."""

    def attempt() -> None:
        Client(**kwargs, timeout=CONNECT_TIMEOUT, set_as_default=False).close()

    return attempt


def ca_only_connection(address: str, ca_file: Path) -> Callable[[], None]:
    """An attempt at a TLS connection that trusts the cluster's CA but shows no certificate."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False  # the certificate names "dask-internal", not 127.0.0.1

    async def attempt() -> None:
        comm = await comm_connect(address, timeout=CONNECT_TIMEOUT, ssl_context=context)
        await comm.close()

    return lambda: asyncio.run(attempt())


def test_clients_without_the_credentials_are_refused(
    tls_client: Client, credentials: dict[str, Path]
) -> None:
    address = scheduler_address(tls_client)
    # name -> (attempt, the error expected): distributed opens no tls:// comm without a
    # TLS context; the scheduler ends the handshake of the three others (CommClosedError,
    # or FatalCommClosedError for a certificate it rejects: both OSError).
    strangers: dict[str, tuple[Callable[[], None], type[Exception]]] = {
        "no credentials": (client_of(address=address), TypeError),
        "plain tcp": (client_of(address=address.replace("tls://", "tcp://")), OSError),
        "the CA but no certificate": (
            ca_only_connection(address, credentials["ca_file"]),
            OSError,
        ),
        "a self-signed pair of its own": (
            client_of(address=address, security=Security.temporary()),
            OSError,
        ),
    }
    refused, connected = {}, []
    with dask.config.set(no_tls_config()):
        for name, (attempt, expected) in strangers.items():
            started = time.monotonic()
            try:
                attempt()
            except expected as error:
                refused[name] = (time.monotonic() - started, repr(error))
            else:
                connected.append(name)
            # A Client that failed to start closes itself when collected. Collect it
            # here: left to the cyclic GC, it may be collected while the next Client
            # starts its loop, and its close() then waits for the loop runner's lock
            # that thread holds (a deadlock seen with distributed 2026.8).
            gc.collect()
    assert connected == []
    # Refused at once, not after retrying until the connection timeout.
    assert all(seconds < REFUSED_WITHIN for seconds, _ in refused.values()), refused
    # The cluster is unharmed: both workers still there, and computing.
    assert len(scheduler_workers(tls_client)) == 2
    assert tls_client.submit(sum, [1, 2, 3]).result(timeout=30) == 6


# ---------------------------------------------------------------- the command line


def check_cli_fit(run: Run, expected: Any) -> dict[str, Any]:
    """The command succeeded, over TLS, and saved the model fitted in process over TCP."""
    assert run.returncode == 0, run
    report = json.loads((run.cwd / "report.json").read_text())
    assert report["scheduler"].startswith("tls://127.0.0.1:"), report
    assert f"scheduler: {report['scheduler']}" in run.stderr
    fitted = load_model(run.cwd / "model.daskgd")
    assert_array_equal(fitted.coef_, expected.coef_)
    assert_array_equal(fitted.intercept_, expected.intercept_)
    assert report["n_passes"] == expected.n_passes_
    return report


def test_cli_fit_starts_its_own_tls_cluster(
    runs: Runs, tcp_models: dict[str, Any], tls_client: Client
) -> None:
    report = check_cli_fit(runs.outcomes["local"], tcp_models["logistic"])
    assert report["scheduler"] != scheduler_address(tls_client)


def test_cli_fit_joins_a_tls_cluster_with_credential_files(
    runs: Runs, tcp_models: dict[str, Any], tls_client: Client
) -> None:
    report = check_cli_fit(runs.outcomes["join"], tcp_models["logistic"])
    assert report["scheduler"] == scheduler_address(tls_client)
    # The joined cluster ran that fit (and only that one: "local" used its own cluster).
    assert len(runs.new_fit_ids) == 1


def test_cli_predict_joins_with_the_dask_config(
    data: dict[str, Path],
    credentials: dict[str, Path],
    tcp_models: dict[str, Any],
    tls_client: Client,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    save_model(tcp_models["logistic"], tmp_path / "model.daskgd")
    address = scheduler_address(tls_client)
    command = ["predict", str(tmp_path / "model.daskgd"), str(data["logistic"])]
    command += ["--chunk-mb", repr(CHUNK_MB), "--scheduler", address]
    with dask.config.set(tls_config(credentials)):
        assert main([*command, "-o", str(tmp_path / "predictions.npy")]) == 0
    assert f"scheduler: {address}" in capsys.readouterr().err
    X, _ = load_data(data["logistic"])
    with tls_client.as_current():
        expected = tcp_models["logistic"].predict(X).compute()
    assert_array_equal(np.load(tmp_path / "predictions.npy"), expected)


def test_tls_security_takes_files_or_the_dask_config(
    credentials: dict[str, Path], tmp_path: Path
) -> None:
    ca_file, cert, key = (credentials[name] for name in ("ca_file", "cert", "key"))
    with dask.config.set(no_tls_config()):
        security = tls_security(ca_file, cert, key)
        with pytest.raises(MissingTLSCredentials) as missing:
            tls_security(ca_file)
        assert missing.value.missing == ["cert", "key"]
        assert "distributed.comm.tls.client.cert" in str(missing.value)
        with pytest.raises(FileNotFoundError, match="no-such.pem"):
            tls_security(ca_file, cert, tmp_path / "no-such.pem")
        # A certificate file that holds the key too needs no key file.
        both = tmp_path / "both.pem"
        both.write_text(cert.read_text() + key.read_text())
        assert tls_security(ca_file, both).get_tls_config_for_role("client")["key"] is None
    expected = {"ca_file": str(ca_file), "cert": str(cert), "key": str(key)}
    assert security.require_encryption
    assert client_files(security) == expected
    with dask.config.set(tls_config(credentials)):
        from_config = tls_security()
    assert client_files(from_config) == expected
    assert from_config.get_connection_args("client")["ssl_context"] is not None


def client_files(security: Security) -> dict[str, str]:
    """The CA, certificate and key files a client of ``security`` uses."""
    files = security.get_tls_config_for_role("client")
    return {name: files[name] for name in ("ca_file", "cert", "key")}


def test_cli_option_errors_name_the_option(
    data: dict[str, Path],
    credentials: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fit = ["fit", str(data["logistic"]), "--model", "logistic", "-o", str(tmp_path / "m.daskgd")]
    cases = {
        # Joining a TLS scheduler with no files given and none configured.
        ("--scheduler", "tls://127.0.0.1:1"): ["--tls-ca-file", "--tls-cert", "--tls-key"],
        ("--scheduler", "127.0.0.1:1", "--tls", "--tls-ca-file", str(credentials["ca_file"])): [
            "--tls-cert",
            "--tls-key",
        ],
        ("--tls-cert", str(credentials["cert"])): ["--tls-cert", "--scheduler tls://"],
        ("--tls", "--scheduler", "tcp://127.0.0.1:1"): ["tcp://127.0.0.1:1", "tls://host:port"],
        ("--scheduler", "tls://127.0.0.1:1", "--tls-key", "no-such.pem"): ["--tls-key no-such.pem"],
    }
    with dask.config.set(no_tls_config()):
        for options, named in cases.items():
            assert main([*fit, *options]) == 2, options
            error = capsys.readouterr().err
            assert error.startswith("daskgd fit: error:"), error
            for text in named:
                assert text in error, (options, error)
    assert not (tmp_path / "m.daskgd").exists()
