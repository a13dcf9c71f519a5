"""Capabilities a solver needs from the objective, checked before it runs."""

from __future__ import annotations

from daskgd.losses import HalfSquaredError
from daskgd.objective import LinearObjective
from daskgd.penalties import L2, NoPenalty


def require_smooth(objective: LinearObjective, solver: str) -> None:
    """Refuse a non-smooth loss or penalty for a solver that needs derivatives."""
    if not objective.loss.is_smooth:
        raise ValueError(f"solver={solver!r} needs a smooth loss; {objective.loss!r} is not.")
    if not objective.penalty.is_smooth:
        raise ValueError(
            f"solver={solver!r} needs a smooth penalty; {objective.penalty!r} is not. "
            "Use solver='gd', which takes proximal steps."
        )


def require_least_squares(objective: LinearObjective, solver: str) -> None:
    """Refuse anything but squared error with no or an L2 penalty."""
    if not isinstance(objective.loss, HalfSquaredError) or not isinstance(
        objective.penalty, (NoPenalty, L2)
    ):
        raise ValueError(
            f"solver={solver!r} solves least squares with an L2 or no penalty only, "
            f"not {objective.loss!r} with {objective.penalty!r}."
        )
