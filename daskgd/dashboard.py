"""A ``daskgd`` page in the Dask dashboard: every fit's convergence, speed and time left.

Clusters started by daskgd load it; any other scheduler loads it with

    dask scheduler --preload daskgd.dashboard

The page (``/daskgd`` on the dashboard's address, and a "daskgd" tab in the
dashboard's menu) is a Bokeh document served by the scheduler's own Bokeh
server, as dask's pages are: importing this module adds it to
``distributed.dashboard.scheduler.applications`` before the scheduler connects its
dashboard. BokehJS comes from that server, never from a CDN, so the page works on
air-gapped clusters. It reads the ``"daskgd"`` events that every fit logs (see
:mod:`daskgd.monitoring`) once a second and draws, for the fits of every client
side by side: the objective's gap to the best value seen (log scale), the
gradient norm (log scale), the seconds per pass, and a table with the passes so
far and the estimated time left of fits bounded by ``max_iter``. The same
figures are served as JSON at ``/daskgd/state.json``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.models.widgets import DataTable, Div, TableColumn
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from distributed.http.utils import RequestHandler

from daskgd.monitoring import EVENT_TOPIC

ROUTE = "/daskgd"
MAX_FITS_SHOWN = 10
#: Milliseconds between two refreshes of the page.
REFRESH_MS = 1000
#: The per-iteration fields of a fit's events that the page keeps.
POINT_FIELDS = (
    "iteration",
    "objective",
    "validation_objective",
    "grad_norm",
    "n_passes",
    "seconds",
)


def fits_from_events(events: Any, now: float | None = None) -> list[dict[str, Any]]:
    """Group ``(timestamp, message)`` events by fit, newest fit first.

    Parameters
    ----------
    events : iterable of (float, dict)
        The scheduler's events of the ``"daskgd"`` topic.
    now : float, optional
        The time to measure a running fit's elapsed time against (default: now).

    Returns
    -------
    fits : list of dict
        ``{"fit_id", "estimator", "solver", "client", "total", "state", "started",
        "updated", "elapsed", "eta_seconds", "iterations": [{"iteration",
        "objective", "validation_objective", "grad_norm", "n_passes", "seconds"}]}``.
        ``state`` is ``"started"``, ``"running"``, ``"finished"`` or ``"failed"``;
        ``validation_objective`` is the loss on held-out rows (None for fits that
        score none); ``total`` the iteration limit (``max_iter``), if any;
        ``eta_seconds`` the time left of a running fit at its pace so far, if it
        has a limit.
    """
    now = time.time() if now is None else now
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
                "client": message.get("client"),
                "total": message.get("total"),
                "state": "started",
                "started": message.get("started_at", timestamp),
                "iterations": [],
            },
        )
        fit["updated"] = timestamp
        fit["state"] = message.get("state", fit["state"])
        if message.get("state") == "running":
            fit["iterations"].append({key: _plain(message.get(key)) for key in POINT_FIELDS})
    ordered = sorted(fits.values(), key=lambda fit: fit["started"], reverse=True)
    shown = ordered[:MAX_FITS_SHOWN]
    for fit in shown:
        ended = fit["state"] in ("finished", "failed")
        fit["elapsed"] = (fit["updated"] if ended else now) - fit["started"]
        fit["eta_seconds"] = _time_left(fit)
    return shown


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return None
    return value


def _first_iteration(fit: dict[str, Any]) -> int:
    """The iteration this call of ``fit`` started from (after a warm start, or a resume).

    A warm-started or resumed fit counts its iterations on from the earlier ones,
    while its seconds and its iteration limit are this call's.
    """
    points = fit["iterations"]
    first = points[0].get("iteration") if points else None
    return max(0, int(first) - 1) if first is not None else 0


def _last_iteration(fit: dict[str, Any]) -> int | None:
    """The iteration a fit stops at, at the latest: its first plus its limit."""
    total = fit.get("total")
    return _first_iteration(fit) + int(total) if total else None


def _time_left(fit: dict[str, Any]) -> float | None:
    """Seconds a running fit needs to reach its iteration limit, at its pace so far."""
    end, points = _last_iteration(fit), fit["iterations"]
    if fit["state"] != "running" or end is None or not points:
        return None
    last = points[-1]
    done = (last.get("iteration") or 0) - _first_iteration(fit)
    if done <= 0 or last.get("seconds") is None:
        return None
    return max(0.0, (end - last["iteration"]) * last["seconds"] / done)


def fit_series(fit: dict[str, Any]) -> dict[str, list[float]]:
    """The curves the page draws for one fit.

    Parameters
    ----------
    fit : dict
        One fit of :func:`fits_from_events`.

    Returns
    -------
    series : dict
        ``"iteration"`` and, for each, ``"gap"`` (objective minus the best seen
        in the fit, NaN where not positive: a log axis shows no zero),
        ``"grad_norm"`` (NaN where not positive) and ``"seconds_per_pass"`` (the
        iteration's seconds over its passes).
    """
    points = [p for p in fit["iterations"] if p.get("iteration") is not None]
    objectives = [p["objective"] for p in points if p.get("objective") is not None]
    best = min(objectives) if objectives else math.nan
    iterations, gaps, grads, speeds = [], [], [], []
    # A warm-started fit's first passes count earlier calls': its first pace is unknown.
    seconds_before, passes_before = 0.0, (0 if _first_iteration(fit) == 0 else None)
    for point in points:
        iterations.append(float(point["iteration"]))
        objective = point.get("objective")
        gap = objective - best if objective is not None else math.nan
        gaps.append(gap if gap > 0 else math.nan)
        grad = point.get("grad_norm")
        grads.append(grad if grad is not None and grad > 0 else math.nan)
        seconds, passes = point.get("seconds"), point.get("n_passes")
        if seconds is None or passes is None:
            speeds.append(math.nan)
        elif passes_before is None or passes <= passes_before:
            speeds.append(math.nan)
            seconds_before, passes_before = seconds, passes
        else:
            speeds.append((seconds - seconds_before) / (passes - passes_before))
            seconds_before, passes_before = seconds, passes
    return {
        "iteration": iterations,
        "gap": gaps,
        "grad_norm": grads,
        "seconds_per_pass": speeds,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def table_rows(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns of the page's table: one row per fit, newest first.

    Parameters
    ----------
    fits : list of dict
        From :func:`fits_from_events`.

    Returns
    -------
    columns : dict of lists
    """
    columns: dict[str, Any] = {
        name: []
        for name in (
            "fit",
            "estimator",
            "solver",
            "client",
            "state",
            "iteration",
            "passes",
            "objective",
            "grad_norm",
            "elapsed",
            "time_left",
            "color",
        )
    }
    for index, fit in enumerate(fits):
        last = fit["iterations"][-1] if fit["iterations"] else {}
        iteration = last.get("iteration", 0)
        columns["fit"].append(fit["fit_id"][:8])
        columns["estimator"].append(fit["estimator"] or "")
        columns["solver"].append(fit["solver"] or "")
        columns["client"].append(fit.get("client") or "")
        columns["state"].append(fit["state"])
        end = _last_iteration(fit)
        columns["iteration"].append(f"{iteration} / {end}" if end else str(iteration))
        columns["passes"].append(last.get("n_passes", 0))
        objective, grad = last.get("objective"), last.get("grad_norm")
        columns["objective"].append("" if objective is None else f"{objective:.8g}")
        columns["grad_norm"].append("" if grad is None else f"{grad:.3e}")
        columns["elapsed"].append(_duration(fit.get("elapsed")))
        columns["time_left"].append(_duration(fit.get("eta_seconds")))
        columns["color"].append(Category10_10[index % 10])
    return columns


class FitsPanel:
    """The Bokeh figures and table of the page, refreshed from the scheduler's events.

    Parameters
    ----------
    scheduler : distributed.Scheduler
        Whose ``"daskgd"`` events to draw.
    """

    CURVES: tuple[tuple[str, str, Any], ...] = (
        ("gap", "objective − best seen", "log"),
        ("grad_norm", "gradient norm", "log"),
        ("seconds_per_pass", "seconds per pass", "linear"),
    )

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.sources = {
            name: ColumnDataSource({"xs": [], "ys": [], "color": [], "fit": []})
            for name, _, _ in self.CURVES
        }
        self.figures = []
        for name, title, scale in self.CURVES:
            plot = figure(
                title=title,
                y_axis_type=scale,
                height=280,
                sizing_mode="stretch_width",
                tools="pan,wheel_zoom,box_zoom,reset",
                x_axis_label="iteration",
            )
            plot.multi_line("xs", "ys", color="color", line_width=2, source=self.sources[name])
            plot.add_tools(HoverTool(tooltips=[("fit", "@fit")]))
            self.figures.append(plot)
        self.table_source = ColumnDataSource(table_rows([]))
        titles = {
            "fit": "fit",
            "estimator": "estimator",
            "solver": "solver",
            "client": "client",
            "state": "state",
            "iteration": "iteration",
            "passes": "passes",
            "objective": "objective",
            "grad_norm": "|grad|",
            "elapsed": "elapsed",
            "time_left": "time left",
        }
        self.table = DataTable(
            source=self.table_source,
            columns=[TableColumn(field=field, title=title) for field, title in titles.items()],
            height=260,
            sizing_mode="stretch_width",
            index_position=None,
        )
        self.empty = Div(text="No daskgd fit on this scheduler yet.")
        self.root = column(
            self.empty,
            row(*self.figures[:2], sizing_mode="stretch_width"),
            row(self.figures[2], sizing_mode="stretch_width"),
            self.table,
            sizing_mode="stretch_width",
        )

    def update(self) -> None:
        """Redraw from the events logged so far."""
        fits = fits_from_events(self.scheduler.get_events(EVENT_TOPIC))
        self.empty.visible = not fits
        series = [fit_series(fit) for fit in fits]
        for name, _, _ in self.CURVES:
            self.sources[name].data = {
                "xs": [s["iteration"] for s in series],
                "ys": [s[name] for s in series],
                "color": [Category10_10[i % 10] for i in range(len(fits))],
                "fit": [f"{fit['estimator']}/{fit['solver']} {fit['fit_id'][:8]}" for fit in fits],
            }
        self.table_source.data = table_rows(fits)


def fits_doc(scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    """The Bokeh document of ``/daskgd``, as dask's own page functions build theirs.

    Parameters
    ----------
    scheduler : distributed.Scheduler
        The scheduler serving the dashboard.
    extra : dict
        The dashboard's template variables (prefix, menu).
    doc : bokeh.document.Document
        The document to fill.
    """
    from distributed.dashboard.components.scheduler import BOKEH_THEME, env

    panel = FitsPanel(scheduler)
    panel.update()
    doc.add_periodic_callback(panel.update, REFRESH_MS)
    doc.title = "Dask: daskgd fits"
    doc.add_root(panel.root)
    doc.template = env.get_template("simple.html")
    doc.template_variables.update(extra)
    doc.theme = BOKEH_THEME


class StateHandler(RequestHandler):
    """``/daskgd/state.json``: the fits this scheduler has seen, as the page draws them."""

    def get(self) -> None:
        events = self.server.get_events(EVENT_TOPIC) if self.server is not None else ()
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        fits = fits_from_events(events)
        for fit in fits:
            fit["series"] = {
                key: [_plain(v) for v in values] for key, values in fit_series(fit).items()
            }
        self.write(json.dumps({"fits": fits}, allow_nan=False))


def routes() -> list[tuple[str, type, dict[str, Any]]]:
    """The JSON route, for ``distributed.scheduler.http.routes``-style registration."""
    return [(ROUTE + "/state.json", StateHandler, {})]


def register_page() -> None:
    """Add the page to the Bokeh applications that a scheduler's dashboard serves.

    A scheduler connects its dashboard after importing its preloads, so a
    scheduler that preloads this module serves the page.
    """
    try:
        from distributed.dashboard import scheduler as dashboard_pages
    except ImportError:  # no bokeh of the version dask needs: no dashboard at all
        return
    dashboard_pages.applications.setdefault(ROUTE, fits_doc)


def install(scheduler: Any) -> None:
    """Serve the JSON route, and list the page in the dashboard's menu.

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
    try:
        from distributed.dashboard.scheduler import template_variables
    except ImportError:
        return
    pages = template_variables(scheduler)["pages"]  # shared by every page's menu
    if "daskgd" not in pages:
        pages.append("daskgd")


def dask_setup(scheduler: Any) -> None:
    """Preload hook: ``dask scheduler --preload daskgd.dashboard``.

    Parameters
    ----------
    scheduler : distributed.Scheduler
        The scheduler being started.
    """
    install(scheduler)


register_page()
