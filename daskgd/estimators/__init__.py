"""scikit-learn compatible estimators."""

from daskgd.estimators.classification import LogisticRegression
from daskgd.estimators.regression import LinearRegression, Ridge
from daskgd.estimators.sgd import SGDClassifier, SGDRegressor

__all__ = ["LinearRegression", "LogisticRegression", "Ridge", "SGDClassifier", "SGDRegressor"]
