"""Pointwise losses on raw predictions (NumPy only)."""

from daskgd.losses._base import PointwiseLoss
from daskgd.losses.logistic import BinaryLogLoss, MultinomialLogLoss
from daskgd.losses.margin import (
    Hinge,
    MarginLogLoss,
    MarginLoss,
    ModifiedHuber,
    SmoothedHinge,
    SquaredHinge,
)
from daskgd.losses.robust import EpsilonInsensitive, Huber
from daskgd.losses.squared import HalfSquaredError

__all__ = [
    "BinaryLogLoss",
    "EpsilonInsensitive",
    "HalfSquaredError",
    "Hinge",
    "Huber",
    "MarginLogLoss",
    "MarginLoss",
    "ModifiedHuber",
    "MultinomialLogLoss",
    "PointwiseLoss",
    "SmoothedHinge",
    "SquaredHinge",
]
