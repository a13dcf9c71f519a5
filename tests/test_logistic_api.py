"""LogisticRegression follows scikit-learn 1.9's API: C=np.inf, and penalty deprecated."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import linear_model

from daskgd import LogisticRegression


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 4))
    # Noisy labels: the unpenalised optimum is finite.
    y = (X @ np.array([1.0, -0.5, 0.25, 0.0]) + rng.standard_normal(400) > 0).astype(int)
    return X, y


def test_c_infinity_is_the_unpenalised_fit_scikit_learn_makes(data):
    X, y = data
    ours = LogisticRegression(C=np.inf, tol=1e-10).fit(X, y)
    theirs = linear_model.LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-6, atol=1e-8)
    # And stronger than any finite C: the penalty is really gone.
    finite = LogisticRegression(C=1e3, tol=1e-10).fit(X, y)
    assert np.linalg.norm(ours.coef_) > np.linalg.norm(finite.coef_)


@pytest.mark.parametrize(
    ("penalty", "equivalent"),
    [("l2", {"l1_ratio": 0.0}), (None, {"C": np.inf})],
)
def test_a_penalty_warns_as_deprecated_and_means_what_it_did(data, penalty, equivalent):
    X, y = data
    with pytest.warns(FutureWarning, match="'penalty' was deprecated in version 1.8"):
        old = LogisticRegression(penalty, tol=1e-10).fit(X, y)
    new = LogisticRegression(tol=1e-10, **equivalent).fit(X, y)
    np.testing.assert_allclose(old.coef_, new.coef_, rtol=1e-12)


def test_l1_ratio_none_warns_and_means_zero(data):
    X, y = data
    with pytest.warns(FutureWarning, match="'l1_ratio=None' was deprecated"):
        old = LogisticRegression(l1_ratio=None).fit(X, y)
    np.testing.assert_allclose(old.coef_, LogisticRegression().fit(X, y).coef_, rtol=1e-12)


def test_penalty_none_with_a_c_says_c_is_ignored(data):
    X, y = data
    with (
        pytest.warns(FutureWarning, match="'penalty' was deprecated"),
        pytest.warns(UserWarning, match="penalty=None will ignore the C"),
    ):
        LogisticRegression(None, C=0.1).fit(X, y)


def test_an_unknown_penalty_is_refused_by_name(data):
    with pytest.raises(ValueError, match="'penalty' parameter of LogisticRegression must be"):
        LogisticRegression("l3").fit(*data)
