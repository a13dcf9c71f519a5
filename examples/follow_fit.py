"""Follow a fit live: a callback per iteration, the ``"daskgd"`` events, the dashboard page.

Three ways to watch the same fit on a 2-worker LocalCluster:

1. ``callback=``: the estimator calls it after every iteration with a record
   (``iteration``, ``objective``, ``grad_norm``, ``n_passes``, ``seconds``, ...);
   here it prints a line, and raising from it would stop the fit.
2. Events: every fit on a dask.distributed cluster logs one event per iteration
   under the topic ``"daskgd"``. Any client of the same scheduler can follow
   them, from another process or machine; here a second client subscribes
   (``Client.subscribe_topic``) and counts them as they arrive.
3. The dashboard: clusters started by daskgd serve a ``/daskgd`` page among
   dask's own (each fit's convergence and speed, redrawn every second), whose
   figures are also served as JSON at ``/daskgd/state.json``. The callback
   fetches that JSON over HTTP in the middle of the fit, and the script fetches
   the page and the JSON again at the end. Open the printed address in a
   browser to watch a longer fit.

Run it with ``python examples/follow_fit.py`` (about 10 seconds).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import numpy as np
from distributed import Client

import daskgd
from daskgd.cluster import close_client, start_local_cluster

# The estimator is used as daskgd.LogisticRegression inside main(), not imported
# here: the worker processes re-import this script when they start
# (multiprocessing "spawn"), and need no scikit-learn.


def get(url: str) -> bytes:
    """The body of an HTTP GET on the local dashboard."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def fits_on_page(page: str) -> list[dict[str, Any]]:
    """The fits that ``/daskgd/state.json`` reports, newest first."""
    return list(json.loads(get(page + "/state.json"))["fits"])


class Watcher:
    """Collects the ``"daskgd"`` events a client receives; notes when a fit finishes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.finished = threading.Event()

    def __call__(self, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        self.events.append(message)
        if message.get("state") == "finished":
            self.finished.set()


def main() -> None:
    import dask.array as da

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40_000, 10))
    y = (X @ rng.standard_normal(10) + rng.logistic(size=40_000) > 0).astype(int)
    X_dask, y_dask = da.from_array(X, chunks=(5_000, 10)), da.from_array(y, chunks=5_000)

    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    # A second client, as a notebook elsewhere would be: it only listens.
    watcher_client = Client(client.scheduler.address, set_as_default=False)
    try:
        page = client.dashboard_link.rsplit("/", 1)[0] + "/daskgd"
        print(f"dashboard page: {page}")
        watcher = Watcher()
        watcher_client.subscribe_topic("daskgd", watcher)

        seen_mid_fit: list[int] = []

        def on_iteration(record: dict[str, Any]) -> None:
            print(
                f"  iteration {record['iteration']:2d}  objective {record['objective']:.8f}  "
                f"|grad| {record['grad_norm']:.1e}  passes {record['n_passes']:2d}  "
                f"{record['seconds']:.2f}s"
            )
            if record["iteration"] == 3:  # mid-fit: what does the dashboard show now?
                fit = fits_on_page(page)[0]
                seen_mid_fit.append(len(fit["iterations"]))
                print(f"  (dashboard, mid-fit: {fit['state']}, {seen_mid_fit[0]} iterations)")

        model = daskgd.LogisticRegression(solver="lbfgs", tol=1e-8, callback=on_iteration)
        model.fit(X_dask, y_dask)
        n_iter = int(model.n_iter_[0])
        print(f"fitted: {n_iter} iterations, {model.n_passes_} passes")

        # Each event reached the scheduler (and so the page) before the fit went on;
        # the subscribed watcher receives it a moment later.
        assert watcher.finished.wait(timeout=30), "the watcher saw no 'finished' event"
        fit_id = watcher.events[-1]["fit_id"]
        # What the scheduler keeps of the topic, for any client that asks later.
        stored = [m for _, m in watcher_client.get_events("daskgd") if m.get("fit_id") == fit_id]
        states = [message["state"] for message in stored]
        print(
            f"watcher client: {len(watcher.events)} events received live; the scheduler "
            f"keeps {len(stored)} ({states.count('started')} started, "
            f"{states.count('running')} running, {states.count('finished')} finished)"
        )
        html = get(page).decode()  # a Bokeh document, drawn in the browser
        fit = fits_on_page(page)[0]
        objectives = [entry["objective"] for entry in fit["iterations"]]
        print(
            f"dashboard page: {len(html):,} bytes of HTML; state.json: {fit['estimator']} "
            f"({fit['solver']}) {fit['state']}, {len(objectives)} iterations, "
            f"objective {objectives[0]:.6f} -> {objectives[-1]:.6f}"
        )
        assert 'href="daskgd"' in html  # the page, in the dashboard's menu
        assert seen_mid_fit == [3]  # each event is logged before the fit goes on
        assert states.count("running") == n_iter == len(objectives)
        assert fit["state"] == "finished" and fit["fit_id"] == fit_id
        np.testing.assert_allclose(objectives, model.loss_curve_)
    finally:
        watcher_client.close()
        close_client(client)


if __name__ == "__main__":
    main()
