"""HuberRegressor against scikit-learn's: the same objective in (w, b, sigma), on NumPy and dask."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn import linear_model
from sklearn.linear_model._huber import _huber_loss_and_gradient

from daskgd import HuberRegressor
from daskgd.huber import huber_block, huber_finalize

TIGHT = {"tol": 1e-10, "max_iter": 1000}


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    n, d = 300, 5
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 + 0.3 * rng.standard_normal(n)
    y[rng.choice(n, 30, replace=False)] += rng.choice([-1, 1], 30) * rng.uniform(5, 20, 30)
    return {"X": X, "y": y, "weight": rng.uniform(0.2, 2.0, n)}


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_objective_and_gradient_are_scikit_learns(data, fit_intercept):
    rng = np.random.default_rng(0)
    n_params = data["X"].shape[1] + 1 + int(fit_intercept)
    for _ in range(3):
        params = rng.standard_normal(n_params)
        params[-1] = rng.uniform(0.2, 3.0)
        # Two blocks merged equal the whole: the sums add.
        parts = [
            huber_block(
                data["X"][rows], data["y"][rows], data["weight"][rows], params, 1.35, fit_intercept
            )
            for rows in (slice(0, 110), slice(110, None))
        ]
        ours = huber_finalize(parts[0].merge(parts[1]), params, 0.01, 1.35, fit_intercept)
        theirs = _huber_loss_and_gradient(
            params, data["X"], data["y"], 1.35, 0.01, sample_weight=data["weight"]
        )
        assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "params", [{}, {"epsilon": 2.0, "alpha": 0.1}, {"fit_intercept": False}], ids=repr
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_numpy_fit_equals_scikit_learn(data, params, weighted):
    weight = data["weight"] if weighted else None
    ours = HuberRegressor(**TIGHT, **params).fit(data["X"], data["y"], sample_weight=weight)
    theirs = linear_model.HuberRegressor(**TIGHT, **params).fit(
        data["X"], data["y"], sample_weight=weight
    )
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-8)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-6, abs=1e-8)
    assert ours.scale_ == pytest.approx(theirs.scale_, rel=1e-6)
    np.testing.assert_array_equal(ours.outliers_, theirs.outliers_)
    assert ours.outliers_.sum() >= 25  # the planted outliers are found


def test_dask_fit_equals_numpy_fit_with_lazy_outliers(client: Client, data):
    chunks = ((90, 7, 150, 53),)
    X_dask = da.from_array(data["X"], chunks=(chunks[0], 5))
    ours = HuberRegressor(**TIGHT).fit(
        X_dask,
        da.from_array(data["y"], chunks=chunks),
        sample_weight=da.from_array(data["weight"], chunks=chunks),
    )
    in_memory = HuberRegressor(**TIGHT).fit(data["X"], data["y"], sample_weight=data["weight"])
    np.testing.assert_allclose(ours.coef_, in_memory.coef_, rtol=1e-9, atol=1e-12)
    assert ours.scale_ == pytest.approx(in_memory.scale_, rel=1e-9)
    # One pass per L-BFGS-B function evaluation, as the in-memory fit counts them.
    assert ours.n_passes_ == in_memory.n_passes_
    assert isinstance(ours.outliers_, da.Array) and ours.outliers_.chunks == chunks
    np.testing.assert_array_equal(ours.outliers_.compute(), in_memory.outliers_)
    predicted = ours.predict(X_dask)
    assert isinstance(predicted, da.Array)
    np.testing.assert_allclose(predicted.compute(), in_memory.predict(data["X"]), rtol=1e-9)


def test_warm_start_starts_from_the_fitted_scale_as_scikit_learn(data):
    ours = HuberRegressor(warm_start=True, **TIGHT).fit(data["X"], data["y"])
    theirs = linear_model.HuberRegressor(warm_start=True, **TIGHT).fit(data["X"], data["y"])
    ours.fit(data["X"], data["y"])
    theirs.fit(data["X"], data["y"])
    # One more iteration from where the first fit stopped, in both.
    assert ours.n_iter_ == theirs.n_iter_ <= 2
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-8, atol=1e-10)
    assert ours.scale_ == pytest.approx(theirs.scale_, rel=1e-8)
