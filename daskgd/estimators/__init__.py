"""scikit-learn compatible estimators."""

from daskgd.estimators.classification import LogisticRegression
from daskgd.estimators.regression import LinearRegression, Ridge
from daskgd.estimators.sgd import SGDClassifier, SGDRegressor
from daskgd.estimators.svm import LinearSVC

__all__ = [
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "Ridge",
    "SGDClassifier",
    "SGDRegressor",
]
