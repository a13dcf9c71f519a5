"""Pointwise losses on raw predictions (NumPy only)."""

from daskgd.losses._base import PointwiseLoss
from daskgd.losses.logistic import BinaryLogLoss, MultinomialLogLoss
from daskgd.losses.squared import HalfSquaredError

__all__ = ["BinaryLogLoss", "HalfSquaredError", "MultinomialLogLoss", "PointwiseLoss"]
