"""Following a fit: progress in the terminal, and events any Dask client can read.

Every fit on a dask.distributed cluster logs one event per iteration under the
topic ``"daskgd"`` (``Client.log_event``), so ``client.get_events("daskgd")`` on
any client of the same scheduler follows a fit running elsewhere.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from typing import Any, TextIO

EVENT_TOPIC = "daskgd"


class ProgressPrinter:
    """Writes one line per solver iteration: objective, gradient norm, passes, seconds.

    Parameters
    ----------
    estimator : str
        Name shown at the start of each line.
    solver : str
        Solver name shown at the start of each line.
    stream : file-like, default=sys.stderr
        Where to write.
    """

    def __init__(self, estimator: str, solver: str, stream: TextIO | None = None) -> None:
        self.prefix = f"[{estimator}/{solver}]"
        self.stream = stream

    def __call__(self, record: dict[str, Any]) -> None:
        stream = self.stream or sys.stderr
        stream.write(
            f"{self.prefix} iter {record['iteration']:4d}  objective {record['objective']:.10g}"
            f"  |grad| {record['grad_norm']:.3e}  passes {record['n_passes']:4d}"
            f"  {record['seconds']:7.2f}s\n"
        )
        stream.flush()

    def close(self) -> None:
        """Nothing to release."""


class ProgressBar:
    """A tqdm bar (terminal or notebook) advanced once per iteration.

    Parameters
    ----------
    estimator : str
        Bar description.
    solver : str
        Solver name, in the description.
    total : int, optional
        Iteration limit, for the bar's length.
    """

    def __init__(self, estimator: str, solver: str, total: int | None = None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=f"{estimator}/{solver}", unit="it", leave=True)

    def __call__(self, record: dict[str, Any]) -> None:
        self.bar.update(1)
        self.bar.set_postfix(
            objective=f"{record['objective']:.6g}",
            grad=f"{record['grad_norm']:.2e}",
            passes=record["n_passes"],
            refresh=False,
        )

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


class EventLogger:
    """Logs each iteration as a Dask event (topic ``"daskgd"``) when a client is active.

    Parameters
    ----------
    estimator : str
        Estimator name, in every event.
    solver : str
        Solver name, in every event.
    total : int, optional
        Iteration limit (``max_iter``), from which the dashboard estimates the time left.
    """

    def __init__(self, estimator: str, solver: str, total: int | None = None) -> None:
        self.client = _active_client()
        self.base = {
            "fit_id": uuid.uuid4().hex,
            "estimator": estimator,
            "solver": solver,
            # Which process fits: the dashboard shows the fits of several side by side.
            "client": f"{socket.gethostname()}:{os.getpid()}",
            "total": total,
            # In every event: the scheduler keeps only its latest events per topic
            # (distributed.admin.low-level-log-length), so "started" may be gone.
            "started_at": time.time(),
        }
        self.started = float(self.base["started_at"])  # type: ignore[arg-type]
        self._log({"state": "started", "iteration": 0})

    def _log(self, message: dict[str, Any]) -> None:
        if self.client is None:
            return
        try:
            self.client.log_event(EVENT_TOPIC, {**self.base, **message})
        except Exception:  # noqa: BLE001 (monitoring must never break a fit)
            self.client = None

    def __call__(self, record: dict[str, Any]) -> None:
        self._log({**record, "state": "running"})

    def close(self) -> None:
        """Log the end of the fit: ``"failed"`` when an exception is on its way out."""
        # Called from the fit's ``finally``: an exception propagating is the fit's.
        state = "failed" if sys.exc_info()[0] is not None else "finished"
        self._log({"state": state, "seconds": time.time() - self.started})


def _active_client() -> Any | None:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


class FitMonitor:
    """All the callbacks of one fit: call it with each iteration's record, close it at the end.

    Parameters
    ----------
    callbacks : list of callables
        Each takes a record and has a ``close`` method.
    """

    def __init__(self, callbacks: list[Any]) -> None:
        self.callbacks = callbacks

    def __call__(self, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback(record)

    def close(self) -> None:
        """Close every callback."""
        for callback in self.callbacks:
            callback.close()


def make_callback(
    estimator: str, solver: str, verbose: int | bool, total: int | None = None
) -> FitMonitor:
    """The monitor of a fit: events always; a bar at ``verbose=1``; lines at ``verbose>=2``.

    Parameters
    ----------
    estimator : str
        Estimator name.
    solver : str
        Solver (or strategy) name.
    verbose : int or bool
        0: silent; 1: a progress bar; 2 or more: one line per iteration.
    total : int, optional
        Iteration limit, for the bar.

    Returns
    -------
    monitor : FitMonitor
    """
    callbacks: list[Any] = [EventLogger(estimator, solver, total)]
    if verbose and int(verbose) >= 2:
        callbacks.append(ProgressPrinter(estimator, solver))
    elif verbose:
        callbacks.append(ProgressBar(estimator, solver, total))
    return FitMonitor(callbacks)
