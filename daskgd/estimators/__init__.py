"""scikit-learn compatible estimators."""

from daskgd.estimators.classification import LogisticRegression
from daskgd.estimators.regression import LinearRegression, Ridge

__all__ = ["LinearRegression", "LogisticRegression", "Ridge"]
