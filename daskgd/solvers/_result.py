"""What a solver returns, and the per-iteration record it keeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle

Callback = Callable[[dict[str, Any]], None]


class Checkpointer(Protocol):
    """Where a solver writes its state (see :class:`daskgd.checkpoint.Checkpoint`)."""

    def due(self, iteration: int) -> bool:
        """Whether the state after ``iteration`` should be written."""

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state``."""


@dataclass
class SolverResult:
    """The outcome of a solver run.

    Attributes
    ----------
    coef : ndarray of shape (n_coef,)
        Final flat coefficients (see :class:`~daskgd.objective.LinearObjective`).
    n_iter : int
        Iterations done.
    converged : bool
        Whether the stopping criterion was met within ``max_iter``.
    history : list of dict
        One record per iteration: ``iteration``, ``objective``, ``grad_norm``,
        ``step_size``, ``n_passes``, ``seconds``.
    message : str
        Why the solver stopped.
    info : dict
        What else a solver reports (per-target sweeps and duality gaps for ``cd``).
    """

    coef: FloatArray
    n_iter: int
    converged: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class IterationRecorder:
    """Keeps the structured history of a run, writes checkpoints, and calls the callback.

    Parameters
    ----------
    oracle : Oracle
        The oracle of the run (its pass counter goes into each record).
    callback : callable or None
        Called with each iteration's record, after the iteration's checkpoint is written.
    checkpoint : Checkpoint or None
        Where to write the solver's state (see :class:`daskgd.checkpoint.Checkpoint`).
    resume : dict or None
        A state written by an earlier run: its history and pass count are taken over.
    """

    def __init__(
        self,
        oracle: Oracle,
        callback: Callback | None,
        checkpoint: Checkpointer | None = None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.oracle = oracle
        self.callback = callback
        self.checkpoint = checkpoint
        self.history: list[dict[str, Any]] = []
        self._start = time.perf_counter()
        if resume is not None:
            self.history = [dict(entry) for entry in resume["history"]]
            # The saved count covers the whole fit; this fit's prior passes are its own.
            oracle.n_passes = int(resume["n_passes"]) - oracle.prior_passes
            if self.history:
                self._start -= float(self.history[-1]["seconds"])

    def record(
        self,
        iteration: int,
        objective: float,
        grad: FloatArray,
        step_size: float | None,
        state: Callable[[], dict[str, Any]] | None = None,
        n_passes: int | None = None,
    ) -> None:
        """Store one iteration's diagnostics; checkpoint ``state()`` when due; call back.

        ``n_passes`` is the pass count at the end of the iteration when the solver
        has already made passes for the next one (default: the fit's count now, passes
        made before the oracle's own included).
        """
        entry = {
            "iteration": iteration,
            "objective": float(objective),
            "grad_norm": float(np.max(np.abs(grad))) if grad.size else 0.0,
            "step_size": None if step_size is None else float(step_size),
            "n_passes": self.oracle.data_passes if n_passes is None else n_passes,
            "seconds": time.perf_counter() - self._start,
        }
        self.history.append(entry)
        if state is not None and self.checkpoint is not None and self.checkpoint.due(iteration):
            self.save(state)
        if self.callback is not None:
            self.callback(entry)

    def save(self, state: Callable[[], dict[str, Any]]) -> None:
        """Write ``state()`` with the history and pass count to the checkpoint, if any."""
        if self.checkpoint is None:
            return
        snapshot = dict(state())
        snapshot.update(history=[dict(entry) for entry in self.history])
        snapshot.update(n_passes=self.oracle.data_passes)
        self.checkpoint.save(snapshot)
