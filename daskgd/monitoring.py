"""Callbacks that follow a fit: per-iteration progress lines."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO


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


def make_callback(
    estimator: str, solver: str, verbose: int | bool
) -> Callable[[dict[str, Any]], None] | None:
    """The progress callback for a fit, or ``None`` when ``verbose`` is 0."""
    return ProgressPrinter(estimator, solver) if verbose else None
