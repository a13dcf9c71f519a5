"""scikit-learn compatible estimators.

Every estimator of :mod:`daskgd.registry`, imported when first asked for, as
by ``daskgd`` itself: importing one estimator's module (which imports this
package first) must not import the others' (numba for the trees, for one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daskgd import registry as _registry

if TYPE_CHECKING:
    # For type checkers only, which cannot follow the loop below: the same names
    # as the registry (tests/test_registry.py checks that they agree).
    from daskgd.estimators.classification import LogisticRegression as LogisticRegression
    from daskgd.estimators.coordinate_descent import ElasticNet as ElasticNet
    from daskgd.estimators.coordinate_descent import Lasso as Lasso
    from daskgd.estimators.coordinate_descent_cv import ElasticNetCV as ElasticNetCV
    from daskgd.estimators.coordinate_descent_cv import LassoCV as LassoCV
    from daskgd.estimators.glm import GammaRegressor as GammaRegressor
    from daskgd.estimators.glm import PoissonRegressor as PoissonRegressor
    from daskgd.estimators.glm import TweedieRegressor as TweedieRegressor
    from daskgd.estimators.hgb import (
        HistGradientBoostingClassifier as HistGradientBoostingClassifier,
    )
    from daskgd.estimators.hgb import (
        HistGradientBoostingRegressor as HistGradientBoostingRegressor,
    )
    from daskgd.estimators.logistic_cv import LogisticRegressionCV as LogisticRegressionCV
    from daskgd.estimators.preprocessing import StandardScaler as StandardScaler
    from daskgd.estimators.regression import LinearRegression as LinearRegression
    from daskgd.estimators.regression import Ridge as Ridge
    from daskgd.estimators.robust import HuberRegressor as HuberRegressor
    from daskgd.estimators.sgd import SGDClassifier as SGDClassifier
    from daskgd.estimators.sgd import SGDRegressor as SGDRegressor
    from daskgd.estimators.svm import LinearSVC as LinearSVC

__all__ = sorted(_registry.estimator_names())


def __getattr__(name: str) -> Any:
    if name in __all__:
        return _registry.estimator_class(name)
    raise AttributeError(f"module 'daskgd.estimators' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
