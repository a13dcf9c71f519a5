"""Lasso and ElasticNet against scikit-learn's, on NumPy and on dask (one pass)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn import linear_model

from daskgd import ElasticNet, Lasso
from daskgd.solvers._cd_kernel import enet_gram_cd

TIGHT = {"tol": 1e-12, "max_iter": 100_000}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n, d = 500, 12
    X = rng.standard_normal((n, d)) @ np.diag(rng.uniform(0.5, 3.0, d)) + 2.0
    coef = np.where(rng.random(d) < 0.5, 0.0, rng.standard_normal(d) * 3)
    y = X @ coef + 1.5 + rng.standard_normal(n)
    weight = rng.uniform(0.0, 3.0, n)
    return X, y, weight


def _assert_same_model(ours, theirs):
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-6, atol=1e-9)
    # Exact zeros where scikit-learn has them, and nowhere else.
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)


CASES = [
    ("lasso", {"alpha": 0.3}),
    ("lasso", {"alpha": 0.05, "fit_intercept": False}),
    ("lasso", {"alpha": 0.3, "positive": True}),
    ("enet", {"alpha": 0.5, "l1_ratio": 0.3}),
    ("enet", {"alpha": 0.1, "l1_ratio": 0.9, "positive": True}),
    ("enet", {"alpha": 1.0, "l1_ratio": 0.0}),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("kind", "params"), CASES)
def test_numpy_fits_equal_scikit_learn(data, kind, params, weighted):
    X, y, weight = data
    ours_cls, theirs_cls = (
        (Lasso, linear_model.Lasso) if kind == "lasso" else (ElasticNet, linear_model.ElasticNet)
    )
    sample_weight = weight if weighted else None
    ours = ours_cls(**params, **TIGHT).fit(X, y, sample_weight=sample_weight)
    theirs = theirs_cls(**params, **TIGHT).fit(X, y, sample_weight=sample_weight)
    _assert_same_model(ours, theirs)
    assert (ours.coef_ == 0).any() == (theirs.coef_ == 0).any()
    assert 0 <= ours.dual_gap_ < 1e-9
    assert ours.n_iter_ >= 1 and ours.n_passes_ == 1


def test_an_alpha_large_enough_zeros_every_coefficient(data):
    X, y, _ = data
    centred = X - X.mean(axis=0)
    alpha_max = np.abs(centred.T @ (y - y.mean())).max() / len(y)
    model = Lasso(alpha=alpha_max * 1.0001).fit(X, y)
    assert not model.coef_.any()
    assert model.intercept_ == pytest.approx(y.mean())
    # Just below it a coefficient leaves 0 (at scikit-learn's default tol, the gap
    # at 0 is already small enough there: both stop at once).
    assert Lasso(alpha=alpha_max * 0.99, **TIGHT).fit(X, y).coef_.any()
    assert not Lasso(alpha=alpha_max * 0.99).fit(X, y).coef_.any()
    assert not linear_model.Lasso(alpha=alpha_max * 0.99).fit(X, y).coef_.any()


def test_several_targets_are_fitted_one_by_one(data):
    X, y, _ = data
    Y = np.column_stack([y, -2 * y + X[:, 0]])
    ours = ElasticNet(alpha=0.2, l1_ratio=0.7, **TIGHT).fit(X, Y)
    theirs = linear_model.ElasticNet(alpha=0.2, l1_ratio=0.7, **TIGHT).fit(X, Y)
    assert ours.coef_.shape == (2, X.shape[1]) and ours.intercept_.shape == (2,)
    _assert_same_model(ours, theirs)
    assert len(ours.n_iter_) == 2 and ours.dual_gap_.shape == (2,)
    assert ours.sparse_coef_.shape == (2, X.shape[1])
    np.testing.assert_array_equal(ours.sparse_coef_.toarray(), ours.coef_)


def test_random_selection_and_warm_starts_reach_the_same_solution(data):
    X, y, _ = data
    cyclic = Lasso(alpha=0.1, **TIGHT).fit(X, y)
    random = Lasso(alpha=0.1, selection="random", random_state=3, **TIGHT).fit(X, y)
    np.testing.assert_allclose(random.coef_, cyclic.coef_, rtol=1e-7, atol=1e-10)
    warm = Lasso(alpha=0.1, warm_start=True, **TIGHT).fit(X, y)
    first_sweeps = warm.n_iter_
    warm.set_params(alpha=0.11).fit(X, y)
    cold = Lasso(alpha=0.11, **TIGHT).fit(X, y)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-7, atol=1e-10)
    assert warm.n_iter_ < cold.n_iter_ and first_sweeps >= 1


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_dask_fits_equal_numpy_from_one_pass(client: Client, data, weighted):
    X, y, weight = data
    sample_weight = weight if weighted else None
    numpy_fit = ElasticNet(alpha=0.2, l1_ratio=0.6, **TIGHT).fit(X, y, sample_weight)
    chunked = [da.from_array(a, chunks=120) for a in (X, y, weight)]
    dask_fit = ElasticNet(alpha=0.2, l1_ratio=0.6, **TIGHT).fit(
        chunked[0], chunked[1], chunked[2] if weighted else None
    )
    np.testing.assert_allclose(dask_fit.coef_, numpy_fit.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dask_fit.intercept_, numpy_fit.intercept_, rtol=1e-9)
    np.testing.assert_array_equal(dask_fit.coef_ == 0, numpy_fit.coef_ == 0)
    assert dask_fit.n_passes_ == 1
    predictions = dask_fit.predict(chunked[0])
    assert isinstance(predictions, da.Array)
    np.testing.assert_allclose(predictions.compute(), numpy_fit.predict(X), rtol=1e-9)


def test_the_kernel_stops_on_the_duality_gap():
    """On a problem with a known answer (orthonormal design), the soft-thresholded
    least squares, and a gap that is zero there."""
    Q = np.eye(3) * 10.0
    q = np.array([25.0, -4.0, 1.0])
    w = np.zeros(3)
    gap, tol, sweeps = enet_gram_cd(w, 5.0, 0.0, Q, q, 100.0, 100, 1e-10, False, -1)
    np.testing.assert_allclose(w, [2.0, 0.0, 0.0])
    assert gap < tol and sweeps <= 2
    w = np.zeros(3)
    enet_gram_cd(w, 0.0, 0.0, Q, -q, 100.0, 100, 1e-10, True, -1)
    np.testing.assert_allclose(w, [0.0, 0.4, 0.0])  # the positive part of -q / 10


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Lasso(alpha=0.1, **TIGHT), linear_model.Lasso(alpha=0.1, **TIGHT)),
        (
            ElasticNet(alpha=0.002, l1_ratio=0.3, **TIGHT),
            linear_model.ElasticNet(alpha=0.002, l1_ratio=0.3, **TIGHT),
        ),
    ],
    ids=["lasso", "elastic-net"],
)
def test_diabetes_from_zarr_in_uneven_chunks(client: Client, tmp_path, ours, theirs):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    da.from_array(X, chunks=(100, 10)).to_zarr(str(tmp_path / "X.zarr"))
    uneven = ((120, 37, 200, 85),)
    X_dask = da.from_zarr(str(tmp_path / "X.zarr")).rechunk((uneven[0], 10))
    y_dask = da.from_array(y, chunks=uneven)
    ours.fit(X_dask, y_dask)
    theirs.fit(X, y)
    _assert_same_model(ours, theirs)
    assert ours.n_passes_ == 1


def test_an_l1_ratio_out_of_range_is_named():
    with pytest.raises(ValueError, match="'l1_ratio' parameter of ElasticNet must be"):
        ElasticNet(l1_ratio=1.5).fit(np.ones((4, 2)), np.arange(4.0))


#: Wide fits: the solver "auto" picks, and the passes a working-set fit may take (5 for the
#: sparse lasso below, 8 for the positive fits, whose 150-220 nonzero coefficients of 200
#: rows join the sets in several rounds; gd takes hundreds).
WIDE_SOLVERS = {"auto": "working-sets", "gd": "gd"}
MAX_WORKING_SET_PASSES = 10


def _wide_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from daskgd.solvers import MAX_DENSE_COEF

    rng = np.random.default_rng(seed)
    n, d = 200, MAX_DENSE_COEF + 4
    X = rng.standard_normal((n, d))
    coef = np.zeros(d)
    coef[:5] = [3.0, -2.0, 1.5, 1.0, -1.0]
    return X, X @ coef + 0.5 + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("solver", list(WIDE_SOLVERS))
def test_wider_than_the_gram_limit_equals_scikit_learn(solver):
    X, y = _wide_data(1)
    ours = Lasso(alpha=0.1, tol=1e-9, max_iter=20_000, solver=solver).fit(X, y)
    theirs = linear_model.Lasso(alpha=0.1, **TIGHT).fit(X, y)
    assert ours.solver_ == WIDE_SOLVERS[solver]
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-5)
    # The gap over all features from the last pass: near zero at the solution, and
    # scikit-learn's scale (its own gap at its solution is ~0 too).
    assert 0 <= ours.dual_gap_ < 1e-6
    if solver == "gd":
        assert ours.n_passes_ > ours.n_iter_ > 1  # a pass an iteration at least, plus the start
    else:
        # The correlations at 0, then a pass per working set, the last one confirming.
        assert 3 <= ours.n_passes_ <= MAX_WORKING_SET_PASSES


def test_cd_on_wide_data_needs_an_l1_part():
    X, y = _wide_data(1)
    with pytest.raises(NotImplementedError, match="solver='cd' solves from the Gram matrix"):
        ElasticNet(alpha=0.1, l1_ratio=0.0, solver="cd").fit(X, y)


@pytest.mark.parametrize("solver", list(WIDE_SOLVERS))
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_positive_wider_than_the_gram_limit_equals_scikit_learn(l1_ratio, solver):
    X, y = _wide_data(2)  # two of the true coefficients are negative: positive=True zeroes them
    ours = ElasticNet(
        alpha=0.1, l1_ratio=l1_ratio, positive=True, tol=1e-9, max_iter=20_000, solver=solver
    )
    ours.fit(X, y)
    theirs = linear_model.ElasticNet(alpha=0.1, l1_ratio=l1_ratio, positive=True, **TIGHT)
    theirs.fit(X, y)
    assert ours.solver_ == WIDE_SOLVERS[solver] and np.all(ours.coef_ >= 0)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-5)
    assert 0 <= ours.dual_gap_ < 1e-6
    if solver == "auto":
        assert ours.n_passes_ <= MAX_WORKING_SET_PASSES
