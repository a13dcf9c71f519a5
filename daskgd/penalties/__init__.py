"""Penalties on the feature coefficients (NumPy only)."""

from daskgd.penalties._base import Penalty
from daskgd.penalties.l1 import L1, ElasticNet, soft_threshold
from daskgd.penalties.l2 import L2, NoPenalty

__all__ = ["L1", "L2", "ElasticNet", "NoPenalty", "Penalty", "soft_threshold"]
