"""L1 and elastic-net LogisticRegression (proximal Newton) against scikit-learn's saga."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from scipy.special import log_softmax
from sklearn import linear_model
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.preprocessing import StandardScaler

from daskgd import LogisticRegression


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


DATA = {"breast_cancer": load_breast_cancer, "wine": load_wine}


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("name", DATA)
def test_equals_scikit_learns_saga_with_the_same_zeros(name, l1_ratio):
    X, y = _standardised(DATA[name])
    ours = LogisticRegression(C=0.1, l1_ratio=l1_ratio, tol=1e-10).fit(X, y)
    theirs = linear_model.LogisticRegression(
        C=0.1, l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=100_000
    ).fit(X, y)
    assert ours.solver_ == "prox-newton"
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert (ours.coef_ == 0).any() and ours.n_iter_[0] <= 20


def _objective_and_subgradient(model, X, y, C, l1_ratio):
    """scikit-learn's objective (multinomial) and its minimum-norm subgradient, by NumPy."""
    classes = np.unique(y)
    onehot = (y[:, None] == classes).astype(float)
    raw = X @ model.coef_.T + model.intercept_
    W = model.coef_
    value = -C * np.sum(onehot * log_softmax(raw, axis=1))
    value += (1 - l1_ratio) / 2 * np.sum(W**2) + l1_ratio * np.abs(W).sum()
    residual = np.exp(log_softmax(raw, axis=1)) - onehot
    smooth = C * residual.T @ X + (1 - l1_ratio) * W
    subgradient = np.where(
        W == 0,
        np.sign(smooth) * np.maximum(np.abs(smooth) - l1_ratio, 0),
        smooth + l1_ratio * np.sign(W),
    )
    return value, subgradient, C * residual.sum(axis=0)


def test_reaches_the_optimum_where_saga_stops_short():
    X, y = _standardised(load_wine)
    C, l1_ratio = 10.0, 0.7
    ours = LogisticRegression(C=C, l1_ratio=l1_ratio, tol=1e-9).fit(X, y)
    value, subgradient, intercept_gradient = _objective_and_subgradient(ours, X, y, C, l1_ratio)
    # The optimality conditions, on the scale of the summed objective (tol is per row).
    assert np.abs(subgradient).max() < 1e-9 * len(y) * C
    assert np.abs(intercept_gradient).max() < 1e-9 * len(y) * C
    theirs = linear_model.LogisticRegression(
        C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-6, max_iter=2_000
    )
    with pytest.warns(Warning):  # saga does not converge here
        theirs.fit(X, y)
    assert value <= _objective_and_subgradient(theirs, X, y, C, l1_ratio)[0]


def test_dask_fit_from_zarr_equals_numpy_fit(client: Client, tmp_path):
    X, y = _standardised(load_wine)
    da.from_array(X, chunks=(50, 13)).to_zarr(str(tmp_path / "X.zarr"))
    uneven = ((40, 77, 11, 50),)
    X_dask = da.from_zarr(str(tmp_path / "X.zarr")).rechunk((uneven[0], 13))
    ours = LogisticRegression(C=0.5, l1_ratio=0.8, tol=1e-10).fit(
        X_dask, da.from_array(y, chunks=uneven)
    )
    in_memory = LogisticRegression(C=0.5, l1_ratio=0.8, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(ours.coef_, in_memory.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.coef_ == 0, in_memory.coef_ == 0)
    # One pass for the labels, then one per proximal Newton trial; on dask the label
    # pass also brings the objective at the start (LabelMoments), one pass fewer.
    assert ours.n_passes_ == in_memory.n_passes_ - 1 <= ours.n_iter_[0] + 3


def test_solvers_that_need_a_smooth_penalty_say_so():
    X, y = _standardised(load_breast_cancer)
    with pytest.raises(ValueError, match="needs a smooth penalty"):
        LogisticRegression(l1_ratio=0.5, solver="newton").fit(X, y)


def test_digits_ten_classes_on_dask_equal_scikit_learn(client: Client):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixels in [0, 1]; some are 0 on every image
    uneven = ((400, 197, 600, len(y) - 1197),)
    X_dask, y_dask = da.from_array(X, chunks=(uneven[0], 64)), da.from_array(y, chunks=uneven)
    ours = LogisticRegression(C=0.5, tol=1e-10).fit(X_dask, y_dask)
    theirs = linear_model.LogisticRegression(C=0.5, tol=1e-12, max_iter=10_000).fit(X, y)
    assert ours.coef_.shape == (10, 64)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X_dask).compute(), theirs.predict(X))
    # With an L1 penalty: the optimality conditions, and no worse than saga.
    C, l1_ratio = 0.5, 1.0
    sparse = LogisticRegression(C=C, l1_ratio=l1_ratio, tol=1e-9).fit(X_dask, y_dask)
    value, subgradient, intercept_gradient = _objective_and_subgradient(sparse, X, y, C, l1_ratio)
    assert np.abs(subgradient).max() < 1e-9 * len(y) * C
    assert np.abs(intercept_gradient).max() < 1e-9 * len(y) * C
    assert (sparse.coef_ == 0).mean() > 0.3  # the L1 penalty zeroes many pixels
    saga = linear_model.LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-4)
    saga.fit(X, y)
    assert value <= _objective_and_subgradient(saga, X, y, C, l1_ratio)[0]
