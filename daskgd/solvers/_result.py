"""What a solver returns, and the per-iteration record it keeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daskgd.objective import FloatArray
from daskgd.oracles._base import Oracle

Callback = Callable[[dict[str, Any]], None]


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
    """

    coef: FloatArray
    n_iter: int
    converged: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


class IterationRecorder:
    """Keeps the structured history of a run and forwards each record to a callback."""

    def __init__(self, oracle: Oracle, callback: Callback | None) -> None:
        self.oracle = oracle
        self.callback = callback
        self.history: list[dict[str, Any]] = []
        self._start = time.perf_counter()

    def record(
        self, iteration: int, objective: float, grad: FloatArray, step_size: float | None
    ) -> None:
        """Store one iteration's diagnostics."""
        entry = {
            "iteration": iteration,
            "objective": float(objective),
            "grad_norm": float(np.max(np.abs(grad))) if grad.size else 0.0,
            "step_size": None if step_size is None else float(step_size),
            "n_passes": self.oracle.n_passes,
            "seconds": time.perf_counter() - self._start,
        }
        self.history.append(entry)
        if self.callback is not None:
            self.callback(entry)
