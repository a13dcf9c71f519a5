"""scikit-learn's own estimator checks over every daskgd estimator (NumPy inputs).

The only checks allowed to fail are those scikit-learn marks as expected
failures for its own counterpart estimator (taken from scikit-learn itself,
not from a list kept here).
"""

from __future__ import annotations

from sklearn import ensemble, linear_model, preprocessing, svm
from sklearn.utils._test_common.instance_generator import _get_expected_failed_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskgd import (
    ElasticNet,
    ElasticNetCV,
    GammaRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    HuberRegressor,
    Lasso,
    LassoCV,
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    LogisticRegressionCV,
    PoissonRegressor,
    Ridge,
    SGDClassifier,
    SGDRegressor,
    StandardScaler,
    TweedieRegressor,
)

ESTIMATORS = [
    LinearRegression(),
    Ridge(),
    Lasso(),
    ElasticNet(),
    LassoCV(),
    ElasticNetCV(),
    HuberRegressor(max_iter=5),  # scikit-learn checks its own with max_iter=5
    PoissonRegressor(),
    GammaRegressor(),
    TweedieRegressor(),
    TweedieRegressor(power=1.5),
    LogisticRegression(),
    # scikit-learn checks its own with these (PER_ESTIMATOR_CHECK_PARAMS), l1_ratios too.
    LogisticRegressionCV(
        max_iter=5, cv=3, l1_ratios=(0,), use_legacy_attributes=False, scoring="neg_log_loss"
    ),
    SGDClassifier(random_state=0),
    SGDRegressor(random_state=0),
    LinearSVC(),
    LinearSVC(loss="hinge"),
    HistGradientBoostingClassifier(max_iter=10, random_state=0),
    HistGradientBoostingRegressor(max_iter=10, random_state=0),
    StandardScaler(),
]

COUNTERPARTS = {
    LinearRegression: linear_model.LinearRegression,
    Ridge: linear_model.Ridge,
    Lasso: linear_model.Lasso,
    ElasticNet: linear_model.ElasticNet,
    LassoCV: linear_model.LassoCV,
    ElasticNetCV: linear_model.ElasticNetCV,
    HuberRegressor: linear_model.HuberRegressor,
    PoissonRegressor: linear_model.PoissonRegressor,
    GammaRegressor: linear_model.GammaRegressor,
    TweedieRegressor: linear_model.TweedieRegressor,
    LogisticRegression: linear_model.LogisticRegression,
    LogisticRegressionCV: linear_model.LogisticRegressionCV,
    SGDClassifier: linear_model.SGDClassifier,
    SGDRegressor: linear_model.SGDRegressor,
    LinearSVC: svm.LinearSVC,
    HistGradientBoostingClassifier: ensemble.HistGradientBoostingClassifier,
    HistGradientBoostingRegressor: ensemble.HistGradientBoostingRegressor,
    StandardScaler: preprocessing.StandardScaler,
}


def scikit_learns_own_expected_failures(estimator):
    return _get_expected_failed_checks(COUNTERPARTS[type(estimator)]())


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=scikit_learns_own_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
