"""Penalties on the feature coefficients (NumPy only)."""

from daskgd.penalties._base import Penalty
from daskgd.penalties.l2 import L2, NoPenalty

__all__ = ["L2", "NoPenalty", "Penalty"]
