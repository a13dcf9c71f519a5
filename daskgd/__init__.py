"""daskgd: distributed gradient methods on Dask arrays, with scikit-learn estimators.

The estimators are imported on first use, so that the workers, which only
unpickle the block functions of :mod:`daskgd.objective`, never import
scikit-learn (about 100 MB of memory per worker process).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_ESTIMATORS = {
    "LinearRegression": "daskgd.estimators.regression",
    "Ridge": "daskgd.estimators.regression",
    "LogisticRegression": "daskgd.estimators.classification",
    "LinearSVC": "daskgd.estimators.svm",
    "SGDClassifier": "daskgd.estimators.sgd",
    "SGDRegressor": "daskgd.estimators.sgd",
}

__all__ = [
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "Ridge",
    "SGDClassifier",
    "SGDRegressor",
    "__version__",
]

if TYPE_CHECKING:
    from daskgd.estimators.classification import LogisticRegression
    from daskgd.estimators.regression import LinearRegression, Ridge
    from daskgd.estimators.sgd import SGDClassifier, SGDRegressor
    from daskgd.estimators.svm import LinearSVC


def __getattr__(name: str) -> Any:
    if name in _ESTIMATORS:
        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'daskgd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_ESTIMATORS])
