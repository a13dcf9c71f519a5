"""A ``daskgd`` page in the Dask dashboard: the objective per iteration and each fit's state.

Clusters started by daskgd load it; any other scheduler loads it with

    dask scheduler --preload daskgd.dashboard

The page (``/daskgd`` on the dashboard's address) reads the ``"daskgd"`` events
that every fit logs (see :mod:`daskgd.monitoring`) from the scheduler, through
``/daskgd/state.json``, and redraws itself every second. It is self-contained
(no script from the network), so it works on air-gapped clusters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distributed.http.utils import RequestHandler

from daskgd.monitoring import EVENT_TOPIC

ROUTE = "/daskgd"
MAX_FITS_SHOWN = 10


def fits_from_events(events: Any) -> list[dict[str, Any]]:
    """Group ``(timestamp, message)`` events by fit, newest fit first.

    Parameters
    ----------
    events : iterable of (float, dict)
        The scheduler's events of the ``"daskgd"`` topic.

    Returns
    -------
    fits : list of dict
        ``{"fit_id", "estimator", "solver", "state", "started", "updated",
        "iterations": [{"iteration", "objective", "validation_objective", "grad_norm",
        "n_passes", "seconds"}]}`` (``validation_objective``: the loss on held-out
        rows, for fits that score one; else None).
    """
    fits: dict[str, dict[str, Any]] = {}
    for timestamp, message in events:
        if not isinstance(message, dict) or "fit_id" not in message:
            continue
        fit = fits.setdefault(
            message["fit_id"],
            {
                "fit_id": message["fit_id"],
                "estimator": message.get("estimator"),
                "solver": message.get("solver"),
                "state": "started",
                "started": timestamp,
                "iterations": [],
            },
        )
        fit["updated"] = timestamp
        fit["state"] = message.get("state", fit["state"])
        if message.get("state") == "running":
            fit["iterations"].append(
                {
                    key: _plain(message.get(key))
                    for key in (
                        "iteration",
                        "objective",
                        "validation_objective",
                        "grad_norm",
                        "n_passes",
                        "seconds",
                    )
                }
            )
    ordered = sorted(fits.values(), key=lambda fit: fit["started"], reverse=True)
    return ordered[:MAX_FITS_SHOWN]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


class StateHandler(RequestHandler):
    """``/daskgd/state.json``: the fits this scheduler has seen."""

    def get(self) -> None:
        events = self.server.get_events(EVENT_TOPIC) if self.server is not None else ()
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps({"fits": fits_from_events(events)}))


class PageHandler(RequestHandler):
    """``/daskgd``: the live page."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE)


def routes() -> list[tuple[str, type, dict[str, Any]]]:
    """The page's routes, for ``distributed.scheduler.http.routes``-style registration."""
    return [(ROUTE, PageHandler, {}), (ROUTE + "/state.json", StateHandler, {})]


def install(scheduler: Any) -> None:
    """Serve the page from a running scheduler's dashboard.

    Parameters
    ----------
    scheduler : distributed.Scheduler
        The scheduler, as a preload receives it.
    """
    application = getattr(scheduler, "http_application", None)
    if application is None:
        return
    handlers = [
        (path, handler, {**extra, "dask_server": scheduler}) for path, handler, extra in routes()
    ]
    application.add_handlers(r".*", handlers)


def dask_setup(scheduler: Any) -> None:
    """Preload hook: ``dask scheduler --preload daskgd.dashboard``.

    Parameters
    ----------
    scheduler : distributed.Scheduler
        The scheduler being started.
    """
    install(scheduler)


PAGE = (Path(__file__).parent / "static" / "daskgd.html").read_text(encoding="utf-8")
