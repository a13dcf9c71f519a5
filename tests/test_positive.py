"""``positive=True`` for LinearRegression and Ridge: non-negative least squares on the
Gram matrix from one pass, against scikit-learn and an exact NNLS of the data."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.optimize
from distributed import Client
from sklearn import linear_model

from daskgd import LinearRegression, Ridge


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 8)) + 1.0
    y = X @ np.array([2.0, -1.0, 0.5, -3.0, 0.0, 1.5, -0.2, 4.0]) + 3.0 + rng.normal(size=400)
    return X, y, rng.uniform(0.2, 2.0, 400)


def _exact(X, y, weight, alpha=0.0):
    """NNLS of the weighted, centred data, the ridge term as extra rows."""
    means_x, mean_y = weight @ X / weight.sum(), weight @ y / weight.sum()
    root = np.sqrt(weight)[:, None]
    A = np.vstack([(X - means_x) * root, np.sqrt(alpha) * np.eye(X.shape[1])])
    b = np.concatenate([(y - mean_y) * root[:, 0], np.zeros(X.shape[1])])
    coef = scipy.optimize.nnls(A, b)[0]
    return coef, mean_y - means_x @ coef


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_linear_regression_is_scikit_learns_nnls(data, weighted):
    X, y, weight = data
    sample_weight = weight if weighted else None
    ours = LinearRegression(positive=True).fit(X, y, sample_weight)
    theirs = linear_model.LinearRegression(positive=True).fit(X, y, sample_weight)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-8)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert (ours.coef_ == 0).sum() >= 3 and (ours.coef_ >= 0).all()
    assert ours.n_passes_ == 1


def test_ridge_is_the_exact_nnls_and_scikit_learns_to_its_tolerance(data):
    X, y, weight = data
    ours = Ridge(alpha=30.0, positive=True).fit(X, y, weight)
    coef, intercept = _exact(X, y, weight, alpha=30.0)
    np.testing.assert_allclose(ours.coef_, coef, rtol=1e-8, atol=1e-10)
    assert ours.intercept_ == pytest.approx(intercept, rel=1e-8)
    theirs = linear_model.Ridge(alpha=30.0, positive=True, tol=1e-10).fit(X, y, weight)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-5)


def test_dask_input_gives_the_same_coefficients_from_one_pass(client: Client, data):
    X, y, weight = data
    numpy_fit = Ridge(alpha=2.0, positive=True).fit(X, y, weight)
    dask_fit = Ridge(alpha=2.0, positive=True).fit(
        *(da.from_array(a, chunks=100) for a in (X, y, weight))
    )
    np.testing.assert_allclose(dask_fit.coef_, numpy_fit.coef_, rtol=1e-9, atol=1e-12)
    assert dask_fit.n_passes_ == 1


def test_positive_needs_the_normal_solver(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="positive=True is solved by solver='normal'"):
        LinearRegression(positive=True, solver="lbfgs").fit(X, y)


def _kkt_violation(X, y, coef, intercept, alpha):
    """Largest violation of the optimality conditions of the non-negative ridge problem
    ``1/2 ||y - Xw - b||^2 + alpha/2 ||w||^2``: zero gradient where ``w > 0``, and a
    non-negative one where ``w = 0``, relative to the gradient at zero."""
    residual = y - X @ coef - intercept
    grad = -X.T @ residual + alpha * coef
    at_zero = np.abs(X.T @ (y - y.mean()))
    violation = np.where(coef > 0, np.abs(grad), np.maximum(-grad, 0.0))
    return float(violation.max() / at_zero.max()), float(abs(residual.sum()) / np.abs(y).sum())


@pytest.mark.parametrize("model", ["ridge", "linear"])
def test_positive_wider_than_the_gram_limit_takes_projected_steps(model):
    from daskgd.solvers import MAX_DENSE_COEF

    rng = np.random.default_rng(6)
    n, d = 300, MAX_DENSE_COEF + 4
    X = rng.standard_normal((n, d))
    coef = np.zeros(d)
    coef[:6] = [3.0, -2.0, 1.5, 1.0, -1.0, 2.0]  # the negative ones are clipped to 0
    y = X @ coef + 0.5 + 0.1 * rng.standard_normal(n)
    if model == "ridge":
        ours = Ridge(alpha=50.0, positive=True, tol=1e-8, max_iter=5000).fit(X, y)
        theirs = linear_model.Ridge(alpha=50.0, positive=True, tol=1e-12).fit(X, y)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-4, atol=1e-6)
        assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-4)
        alpha = 50.0
    else:
        ours = LinearRegression(positive=True, tol=1e-8, max_iter=5000).fit(X, y)
        alpha = 0.0
    assert ours.solver_ == "gd" and np.all(ours.coef_ >= 0)
    violation, intercept_gap = _kkt_violation(X, y, ours.coef_, ours.intercept_, alpha)
    assert violation < 1e-5 and intercept_gap < 1e-6
    with pytest.raises(NotImplementedError, match="use solver='gd'"):
        (
            Ridge(alpha=1.0, positive=True, solver="normal")
            if model == "ridge"
            else LinearRegression(positive=True, solver="normal")
        ).fit(X, y)
