"""Bad dask input fails early, naming the array, chunk and row; the cluster survives it."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from daskgd import LinearRegression, LinearSVC, LogisticRegression, Ridge

RNG = np.random.default_rng(7)
X_CLEAN = RNG.normal(size=(1000, 4))
Y_CLASS = (X_CLEAN[:, 0] > 0).astype(int)
ESTIMATORS = [
    LinearRegression(),
    Ridge(solver="lbfgs"),
    LogisticRegression(),
    LogisticRegression(solver="gd", max_iter=5),
    LinearSVC(),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: repr(e))
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_X_names_chunk_and_row(client, estimator, bad_value):
    X = X_CLEAN.copy()
    X[733, 2] = bad_value
    with pytest.raises(ValueError, match=r"Input X contains NaN or infinity in chunk 3 at row 733"):
        estimator.fit(da.from_array(X, chunks=200), da.from_array(Y_CLASS, chunks=200))
    # The same cluster runs the next fit normally.
    refit = type(estimator)(**estimator.get_params())
    refit.fit(da.from_array(X_CLEAN, chunks=200), da.from_array(Y_CLASS, chunks=200))
    assert np.all(np.isfinite(refit.coef_))


def test_non_finite_target_and_weights_are_named(client):
    X = da.from_array(X_CLEAN, chunks=300)
    y = X_CLEAN @ np.arange(1.0, 5.0)
    y[905] = np.nan
    with pytest.raises(ValueError, match=r"Input y contains NaN or infinity in chunk 3 at row 905"):
        LinearRegression().fit(X, da.from_array(y, chunks=300))
    weights = np.ones(1000)
    weights[12] = np.inf
    with pytest.raises(
        ValueError, match=r"sample_weight contains NaN or infinity in chunk 0 at row 12"
    ):
        Ridge().fit(X, da.from_array(np.nan_to_num(y), chunks=300), sample_weight=weights)


def test_first_pass_check_costs_no_extra_pass(client):
    model = LinearRegression().fit(
        da.from_array(X_CLEAN, chunks=250), da.from_array(X_CLEAN @ np.ones(4), chunks=250)
    )
    assert model.n_passes_ == 1
