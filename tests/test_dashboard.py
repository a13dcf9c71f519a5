"""Progress events and the /daskgd dashboard page, over real HTTP on real schedulers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
import warnings

import dask.array as da
import numpy as np
import pytest
from bokeh.client import pull_session
from bokeh.models import ColumnDataSource
from distributed import Client
from sklearn.exceptions import ConvergenceWarning

import daskgd
from daskgd.cluster import close_client, start_local_cluster
from daskgd.dashboard import fit_series, fits_from_events, table_rows
from daskgd.monitoring import EVENT_TOPIC


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 5))
    y = (X @ rng.normal(size=5) + rng.logistic(size=4000) > 0).astype(int)
    return da.from_array(X, chunks=500), da.from_array(y, chunks=500)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _table_of(document) -> dict:
    """The data of the fits table in a pulled Bokeh document of the page."""
    (table,) = [
        source.data
        for source in document.select({"type": ColumnDataSource})
        if "estimator" in source.data
    ]
    return dict(table)


def test_fits_from_events_groups_iterations_by_fit():
    events = [
        (1.0, {"fit_id": "a", "estimator": "E", "solver": "s", "state": "started"}),
        (2.0, {"fit_id": "a", "state": "running", "iteration": 1, "objective": 2.0}),
        (3.0, {"fit_id": "b", "estimator": "F", "solver": "t", "state": "started"}),
        (4.0, {"fit_id": "a", "state": "running", "iteration": 2, "objective": float("nan")}),
        (5.0, {"fit_id": "a", "state": "finished"}),
        (6.0, "not a daskgd event"),
    ]
    fits = fits_from_events(events)
    assert [fit["fit_id"] for fit in fits] == ["b", "a"]  # newest first
    assert fits[1]["state"] == "finished"
    assert [p["iteration"] for p in fits[1]["iterations"]] == [1, 2]
    assert fits[1]["iterations"][1]["objective"] is None  # NaN is not JSON
    json.dumps(fits)


def test_series_and_time_left_of_a_running_fit():
    events = [
        (10.0, {"fit_id": "a", "estimator": "E", "solver": "s", "state": "started", "total": 8}),
        *(
            (
                10.0 + i,
                {
                    "fit_id": "a",
                    "state": "running",
                    "iteration": i,
                    "objective": 1.0 + 2.0**-i,
                    "grad_norm": 10.0**-i,
                    "n_passes": 2 * i,
                    "seconds": 1.5 * i,
                },
            )
            for i in (1, 2, 3, 4)
        ),
    ]
    (fit,) = fits_from_events(events, now=20.0)
    assert fit["elapsed"] == 10.0
    # 4 of 8 iterations in 6 s: 6 s left at that pace.
    assert fit["eta_seconds"] == pytest.approx(6.0)
    series = fit_series(fit)
    # The gap to the best objective seen (the last, whose gap is 0: not drawn on a log axis).
    np.testing.assert_allclose(series["gap"][:3], [2.0**-i - 2.0**-4 for i in (1, 2, 3)])
    assert np.isnan(series["gap"][3])
    np.testing.assert_allclose(series["grad_norm"], [10.0**-i for i in (1, 2, 3, 4)])
    np.testing.assert_allclose(series["seconds_per_pass"], [0.75] * 4)  # 1.5 s per 2 passes
    row = table_rows([fit])
    assert row["iteration"] == ["4 / 8"] and row["passes"] == [8] and row["time_left"] == ["0:06"]


def test_a_warm_started_fit_counts_its_limit_and_pace_from_where_it_started():
    # A second fit(warm_start=True, max_iter=3) goes on from iteration 3 and 7 passes.
    events = [(1.0, {"fit_id": "w", "estimator": "E", "state": "started", "total": 3})]
    events += [
        (
            2.0 + i,
            {
                "fit_id": "w",
                "state": "running",
                "iteration": 3 + i,
                "n_passes": 7 + i,
                "seconds": 2.0 * i,
                "objective": 1.0,
                "grad_norm": 1.0,
            },
        )
        for i in (1, 2)
    ]
    (fit,) = fits_from_events(events, now=5.0)
    assert table_rows([fit])["iteration"] == ["5 / 6"]
    assert fit["eta_seconds"] == pytest.approx(2.0)  # 1 iteration left at 2 s each
    speeds = fit_series(fit)["seconds_per_pass"]
    assert np.isnan(speeds[0]) and speeds[1] == pytest.approx(2.0)


def test_events_and_page_follow_a_running_fit():
    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        base = client.dashboard_link.rsplit("/", 1)[0]
        X, y = _data()
        # The fit waits at its 5th iteration while the test reads the page: it is
        # running then, whatever the machine's speed.
        paused, resume = threading.Event(), threading.Event()

        def pause_at_fifth(record):
            if record["iteration"] == 5:
                paused.set()
                assert resume.wait(timeout=120), "the test never let the fit go on"

        fitted = {}

        def fit():
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    fitted["model"] = daskgd.LogisticRegression(
                        solver="gd", max_iter=20, tol=0.0, callback=pause_at_fifth
                    ).fit(X, y)
                fitted["warnings"] = [w.category for w in caught]
            except BaseException as error:  # noqa: BLE001 (re-raised by the test below)
                fitted["error"] = error
                paused.set()

        fitting = threading.Thread(target=fit)
        fitting.start()
        try:
            assert paused.wait(timeout=120), "the fit never reached its 5th iteration"
            running = _get_json(base + "/daskgd/state.json")["fits"][0]
            # The Bokeh document, pulled over its websocket as a browser would, mid-fit.
            with pull_session(url=base + "/daskgd") as session:
                table = _table_of(session.document)
        finally:
            resume.set()
            fitting.join(timeout=120)
        assert not fitting.is_alive(), "the fit did not finish"
        if "error" in fitted:
            raise fitted["error"]
        model = fitted["model"]
        assert ConvergenceWarning in fitted["warnings"]  # max_iter is small on purpose
        assert running["estimator"] == "LogisticRegression" and running["state"] == "running"
        # Events are logged before the callback runs: the page has all 5 iterations.
        assert [p["iteration"] for p in running["iterations"]] == [1, 2, 3, 4, 5]
        assert running["eta_seconds"] > 0  # 15 of 20 iterations to go
        assert table["state"] == ["running"] and table["iteration"] == ["5 / 20"]
        assert table["passes"] == [running["iterations"][-1]["n_passes"]]
        assert table["time_left"] != [""]

        final = _get_json(base + "/daskgd/state.json")["fits"][0]
        assert final["state"] == "finished"
        assert final["solver"] == "gd"
        objectives = [point["objective"] for point in final["iterations"]]
        np.testing.assert_allclose(objectives, model.loss_curve_, rtol=1e-12)
        assert final["iterations"][-1]["n_passes"] <= model.n_passes_

        assert final["total"] == 20 and final["client"].endswith(f":{os.getpid()}")
        assert final["eta_seconds"] is None  # finished: no time left
        assert len(final["series"]["seconds_per_pass"]) == len(model.loss_curve_)
        assert all(s is None or s > 0 for s in final["series"]["seconds_per_pass"])

        # The Bokeh page: BokehJS from the dashboard's own server, no CDN.
        with urllib.request.urlopen(base + "/daskgd", timeout=10) as response:
            page = response.read().decode()
        scripts = re.findall(r'<script[^>]* src="([^"]+)"', page)
        assert any("bokeh" in src for src in scripts)
        assert all("://" not in src for src in scripts), scripts
        # After the fit, its document draws every iteration.
        with pull_session(url=base + "/daskgd") as session:
            table = _table_of(session.document)
            curves = [
                source.data
                for source in session.document.select({"type": ColumnDataSource})
                if "xs" in source.data
            ]
        assert table["estimator"] == ["LogisticRegression"] and table["state"] == ["finished"]
        assert table["iteration"] == [f"{len(model.loss_curve_)} / 20"]
        assert table["passes"] == [final["iterations"][-1]["n_passes"]]
        assert len(curves) == 3 and all(len(c["xs"][0]) == len(model.loss_curve_) for c in curves)
        # ... and dask's own pages list it in their menu.
        with urllib.request.urlopen(base + "/status", timeout=10) as response:
            assert 'href="daskgd"' in response.read().decode()

        # Any other client of the scheduler can follow the same fit through events.
        with Client(client.scheduler.address) as observer:
            events = observer.get_events(EVENT_TOPIC)
        states = [message["state"] for _, message in events]
        assert states.count("running") == len(model.loss_curve_)
        assert states[-1] == "finished"
    finally:
        close_client(client)


def test_scheduler_preload_serves_the_page(tmp_path):
    # Ports chosen by the scheduler itself (0): none can be taken between choosing and binding.
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            *("--host", "127.0.0.1", "--port", "0"),
            *("--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)),
            *("--preload", "daskgd.dashboard"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                *("--scheduler-file", str(scheduler_file), "--nthreads", "1"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The client waits for the scheduler to write its file (and accept connections).
        with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
            dashboard_port = client.scheduler_info()["services"]["dashboard"]
            X, y = _data()
            daskgd.LogisticRegression(solver="newton").fit(X, y)
            fits = _get_json(f"http://127.0.0.1:{dashboard_port}/daskgd/state.json")["fits"]
            # The preloaded module added the Bokeh page before the dashboard started.
            with urllib.request.urlopen(
                f"http://127.0.0.1:{dashboard_port}/daskgd", timeout=10
            ) as response:
                assert "bokeh" in response.read().decode()
        assert fits[0]["state"] == "finished"
        assert fits[0]["estimator"] == "LogisticRegression"
        assert len(fits[0]["iterations"]) >= 2
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_tree_fits_log_the_validation_loss_per_tree(client):
    from sklearn.datasets import make_classification

    X, y = make_classification(2000, 5, random_state=0)
    model = daskgd.HistGradientBoostingClassifier(
        max_iter=6, early_stopping=True, n_iter_no_change=50, random_state=0
    ).fit(da.from_array(X, chunks=500), da.from_array(y, chunks=500))
    fit = fits_from_events(client.get_events(EVENT_TOPIC))[0]
    assert fit["estimator"] == "HistGradientBoostingClassifier" and fit["state"] == "finished"
    points = fit["iterations"]
    assert [p["iteration"] for p in points] == list(range(1, model.n_iter_ + 1))
    # Scores are negative losses; the first is before any tree.
    np.testing.assert_allclose([p["objective"] for p in points], -model.train_score_[1:])
    np.testing.assert_allclose(
        [p["validation_objective"] for p in points], -model.validation_score_[1:]
    )


def test_a_fit_that_raises_is_logged_failed_and_its_figures_stay_json(client):
    from daskgd.monitoring import EventLogger

    logger = EventLogger("E", "s", total=10)
    with pytest.raises(RuntimeError):
        try:
            logger({"iteration": 1, "objective": float("inf"), "grad_norm": 1.0})
            raise RuntimeError("the fit broke")
        finally:
            logger.close()
    (fit,) = [f for f in fits_from_events(client.get_events(EVENT_TOPIC)) if f["estimator"] == "E"]
    assert fit["state"] == "failed" and fit["eta_seconds"] is None
    assert fit["started"] == logger.base["started_at"]  # kept in every event
    assert fit["iterations"][0]["objective"] is None  # inf is not JSON
    json.dumps(fit, allow_nan=False)
