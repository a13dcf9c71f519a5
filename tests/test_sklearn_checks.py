"""scikit-learn's own estimator checks over every daskgd estimator (NumPy inputs)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from daskgd import LinearRegression, LogisticRegression, Ridge

ESTIMATORS = [LinearRegression(), Ridge(), LogisticRegression()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
