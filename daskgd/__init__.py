"""daskgd: distributed gradient methods on Dask arrays, with scikit-learn estimators."""

from daskgd.estimators import (
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)

__version__ = "0.1.0"

__all__ = [
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "Ridge",
    "SGDClassifier",
    "SGDRegressor",
    "__version__",
]
