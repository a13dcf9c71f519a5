"""The tree layer on NumPy: binning, split finding and best-first growth against scikit-learn.

With the same bins, daskgd's trees are scikit-learn's: the same splits in the same
order, so the predictions agree to rounding (the histograms are summed in another
order only across chunks).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier as SkClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as SkRegressor
from sklearn.ensemble._hist_gradient_boosting.binning import (
    _BinMapper,
    _find_binning_thresholds,
)

from daskgd import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from daskgd.trees.binning import BinMapper, column_thresholds, sample_rows_per_chunk
from daskgd.trees.kernels import histograms
from daskgd.trees.losses import BoostingLoss
from daskgd.trees.splitting import SplitParameters, find_split

RNG = np.random.default_rng(0)


def _with_missing(X: np.ndarray, every: int, column: int) -> np.ndarray:
    X = X.copy()
    X[::every, column] = np.nan
    return X


@pytest.mark.parametrize("max_bins", [2, 16, 255])
@pytest.mark.parametrize(
    "values",
    [
        RNG.normal(size=2000),
        RNG.integers(0, 7, size=500).astype(float),  # few distinct values: midpoints
        np.where(RNG.random(800) < 0.2, np.nan, RNG.exponential(size=800)),
        np.full(50, 3.0),
    ],
    ids=["normal", "few-distinct", "missing", "constant"],
)
def test_thresholds_are_scikit_learns(values, max_bins):
    np.testing.assert_array_equal(
        column_thresholds(values, max_bins), _find_binning_thresholds(values, max_bins)
    )
    weights = np.random.default_rng(2).random(len(values)) * 3
    weights[::9] = 0.0  # rows of weight 0 give no threshold
    np.testing.assert_array_equal(
        column_thresholds(values, max_bins, weights),
        _find_binning_thresholds(values, max_bins, weights),
    )


def test_binned_values_are_scikit_learns():
    X = _with_missing(RNG.normal(size=(3000, 5)), 7, 2)
    X[:, 4] = RNG.integers(0, 4, size=3000)
    ours = BinMapper.from_sample(X, 255)
    theirs = _BinMapper(n_bins=256, random_state=0).fit(X)
    binned = ours.transform(X)
    assert binned.dtype == np.uint8
    np.testing.assert_array_equal(binned, theirs.transform(X))
    np.testing.assert_array_equal(ours.n_bins_non_missing, theirs.n_bins_non_missing_)


def test_the_sample_takes_rows_from_every_chunk_in_proportion():
    counts = sample_rows_per_chunk((100_000, 250_000, 50_000, 1), 200_000)
    assert sum(counts) == 200_000
    assert counts[:3] == [50_000, 125_000, 25_000]
    assert sample_rows_per_chunk((10, 20), 200_000) == [10, 20]  # all rows when few


def test_histograms_sum_each_node_rows():
    binned = RNG.integers(0, 4, size=(200, 3)).astype(np.uint8)
    gradients = RNG.normal(size=200).astype(np.float32)
    hessians = RNG.random(200).astype(np.float32)
    slots = RNG.integers(-1, 2, size=200)
    result = histograms(binned, gradients, hessians, slots, 2, 5)
    for slot in range(2):
        for feature in range(3):
            for value in range(5):
                rows = (slots == slot) & (binned[:, feature] == value)
                sums = (gradients[rows].astype(np.float64), hessians[rows].astype(np.float64))
                assert result[slot, feature, value, 0] == pytest.approx(sums[0].sum())
                assert result[slot, feature, value, 1] == pytest.approx(sums[1].sum())
                assert result[slot, feature, value, 2] == rows.sum()


def test_no_split_below_min_samples_leaf():
    binned = np.repeat(np.arange(2, dtype=np.uint8), 10)[:, np.newaxis]
    gradients = np.where(binned[:, 0] == 0, -1.0, 1.0).astype(np.float32)
    hist = histograms(binned, gradients, np.ones(20, np.float32), np.zeros(20, np.int64), 1, 3)[0]
    args = (float(gradients.sum()), 20.0, 20, 0.0, np.array([2]), np.array([False]))
    assert find_split(hist, *args, SplitParameters(min_samples_leaf=11)) is None
    split = find_split(hist, *args, SplitParameters(min_samples_leaf=10))
    assert split is not None and split.bin == 0 and split.n_samples_left == 10
    assert split.value_left == pytest.approx(1.0) and split.value_right == pytest.approx(-1.0)


def test_losses_match_scikit_learns():
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss

    y = RNG.integers(0, 3, 300).astype(float)
    weight = RNG.random(300)
    raw = RNG.normal(size=(300, 3))
    gradient = np.empty((300, 3), np.float32)
    hessian = np.empty((300, 3), np.float32)
    HalfMultinomialLoss(n_classes=3).gradient_hessian(y, raw, weight, gradient, hessian)
    ours = BoostingLoss("multiclass", 3).gradients(raw, y, weight)
    np.testing.assert_array_equal(ours[:, :, 0], gradient)
    np.testing.assert_array_equal(ours[:, :, 1], hessian)
    np.testing.assert_allclose(
        BoostingLoss("multiclass", 3).baseline(np.bincount(y.astype(int), weight), weight.sum()),
        HalfMultinomialLoss(n_classes=3).fit_intercept_only(y, weight),
    )
    binary = (y > 0).astype(float)
    np.testing.assert_allclose(
        BoostingLoss("binary").baseline(np.bincount(binary.astype(int), weight), weight.sum()),
        HalfBinomialLoss().fit_intercept_only(binary, weight),
    )


SHAPES = [
    {"max_leaf_nodes": 31},  # best-first with a binding leaf budget
    {"max_leaf_nodes": None, "max_depth": 3},
    {"max_leaf_nodes": 15, "min_samples_leaf": 5, "l2_regularization": 1.0},
    {"max_leaf_nodes": 40, "max_depth": 5, "learning_rate": 0.3, "max_bins": 32},
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_regression_trees_are_scikit_learns(shape):
    X, y = make_regression(2000, 6, noise=10.0, random_state=0)
    X = _with_missing(X, 11, 1)
    params = {"max_iter": 15, "early_stopping": False, **shape}
    ours = HistGradientBoostingRegressor(**params).fit(X, y)
    theirs = SkRegressor(**params).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10, atol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_
    for our_trees, their_trees in zip(ours._predictor.trees, theirs._predictors, strict=True):
        assert our_trees[0].n_leaves == their_trees[0].get_n_leaf_nodes()


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("shape", SHAPES[:2], ids=str)
def test_classification_trees_are_scikit_learns(shape, n_classes):
    X, y = make_classification(2000, 6, n_informative=4, n_classes=n_classes, random_state=0)
    X = _with_missing(X, 13, 0)
    weight = np.random.default_rng(1).random(2000) + 0.5
    params = {"max_iter": 10, "early_stopping": False, **shape}
    ours = HistGradientBoostingClassifier(**params).fit(X, y, sample_weight=weight)
    theirs = SkClassifier(**params).fit(X, y, sample_weight=weight)
    assert ours.n_trees_per_iteration_ == theirs.n_trees_per_iteration_
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_nan_follows_the_side_learned_in_training():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 2))
    y = X[:, 0] * 3.0
    missing = rng.random(1000) < 0.3
    X[missing, 0] = np.nan
    y[missing] = 10.0  # missing values behave like large ones
    params = {"max_iter": 5, "early_stopping": False}
    ours = HistGradientBoostingRegressor(**params).fit(X, y)
    theirs = SkRegressor(**params).fit(X, y)
    test = np.array([[np.nan, 0.0], [-2.0, 0.0], [2.0, 1.0]])
    np.testing.assert_allclose(ours.predict(test), theirs.predict(test), rtol=1e-10)
    assert ours.predict(test)[0] > ours.predict(test)[1]


def test_early_stopping_follows_scikit_learns_rule():
    X, y = make_regression(12_000, 5, noise=30.0, random_state=0)
    params = {"max_iter": 300, "n_iter_no_change": 3, "learning_rate": 0.3, "random_state": 0}
    model = HistGradientBoostingRegressor(**params)
    model.fit(X, y)
    assert model.do_early_stopping_  # "auto": more than 10,000 rows
    assert len(model.train_score_) == len(model.validation_score_) == model.n_iter_ + 1
    assert model.n_iter_ < 300
    last = model.validation_score_[-4:]
    assert not any(score > last[0] + model.tol for score in last[1:])
    sk = SkRegressor(**params).fit(X, y)
    # Other held-out rows than scikit-learn's, the same quality.
    assert abs(model.score(X, y) - sk.score(X, y)) < 0.01


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_losses_are_scikit_learns(loss):
    rng = np.random.default_rng(4)
    X = _with_missing(rng.normal(size=(2000, 5)), 10, 4)
    mean = np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1])
    y = rng.poisson(mean).astype(float) if loss == "poisson" else rng.gamma(2.0, mean / 2.0)
    params = {"loss": loss, "max_iter": 10, "early_stopping": False}
    ours = HistGradientBoostingRegressor(**params).fit(X, y)
    theirs = SkRegressor(**params).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10)
    assert (ours.predict(X) > 0).all()
    bad = np.zeros_like(y) if loss == "gamma" else -np.ones_like(y)
    with pytest.raises(ValueError, match=f"loss='{loss}' requires"):
        HistGradientBoostingRegressor(**params).fit(X, bad)


@pytest.mark.parametrize(
    ("loss", "quantile"), [("absolute_error", None), ("quantile", 0.8), ("quantile", 0.05)]
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_percentile_leaf_losses_are_scikit_learns(loss, quantile, weighted):
    rng = np.random.default_rng(5)
    X = _with_missing(rng.normal(size=(2000, 5)), 10, 4)
    y = 3 * X[:, 0] - np.nan_to_num(X[:, 4]) + rng.standard_t(2, 2000)  # heavy tails
    weight = rng.random(2000) * 2 if weighted else None
    params = {"loss": loss, "quantile": quantile, "max_iter": 8, "early_stopping": False}
    ours = HistGradientBoostingRegressor(**params).fit(X, y, sample_weight=weight)
    theirs = SkRegressor(**params).fit(X, y, sample_weight=weight)
    # The leaves (and the baseline) are percentiles of residuals: order statistics,
    # found exactly in narrowing passes.
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.n_iter_ == theirs.n_iter_


def test_the_quantile_loss_needs_a_quantile():
    X, y = make_regression(200, 3, random_state=0)
    with pytest.raises(TypeError, match="quantile must be an instance of float"):
        HistGradientBoostingRegressor(loss="quantile", max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="quantile == 1"):
        HistGradientBoostingRegressor(loss="quantile", quantile=1.0, max_iter=2).fit(X, y)


def test_max_features_draws_scikit_learns_features():
    X, y = make_regression(2000, 8, noise=5.0, random_state=0)
    params = {"max_features": 0.5, "max_iter": 8, "early_stopping": False, "random_state": 3}
    ours = HistGradientBoostingRegressor(**params).fit(X, y)
    np.testing.assert_allclose(
        ours.predict(X), SkRegressor(**params).fit(X, y).predict(X), rtol=1e-10, atol=1e-9
    )
    # Another seed draws other features, so other trees.
    other = HistGradientBoostingRegressor(**{**params, "random_state": 4}).fit(X, y)
    assert not np.allclose(other.predict(X), ours.predict(X))


def test_warm_start_goes_on_boosting_as_scikit_learn_does():
    X, y = make_regression(2000, 8, noise=5.0, random_state=0)
    params = {"max_iter": 4, "early_stopping": False, "random_state": 3, "warm_start": True}
    ours = HistGradientBoostingRegressor(**params, max_features=0.5).fit(X, y)
    theirs = SkRegressor(**params, max_features=0.5).fit(X, y)
    ours.set_params(max_iter=7).fit(X, y)
    theirs.set_params(max_iter=7).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 7
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10, atol=1e-9)
    with pytest.raises(ValueError, match="max_iter=3 must be larger than or equal to n_iter_=7"):
        ours.set_params(max_iter=3).fit(X, y)


def test_monotonic_constraints_are_scikit_learns_and_hold():
    X, y = make_regression(2000, 5, noise=20.0, random_state=0)
    params = {"monotonic_cst": [1, -1, 0, 0, 1], "max_iter": 10, "early_stopping": False}
    ours = HistGradientBoostingRegressor(**params).fit(X, y)
    np.testing.assert_allclose(
        ours.predict(X), SkRegressor(**params).fit(X, y).predict(X), rtol=1e-10, atol=1e-9
    )
    grid = np.tile(X[:50], (1, 1))
    for feature, sign in ((0, 1), (1, -1)):
        low, high = grid.copy(), grid.copy()
        low[:, feature], high[:, feature] = -3.0, 3.0
        assert np.all(sign * (ours.predict(high) - ours.predict(low)) >= 0)
    X3, y3 = make_classification(500, 5, n_informative=3, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="not supported for multiclass"):
        HistGradientBoostingClassifier(**params).fit(X3, y3)


def test_trees_without_a_leaf_budget_grow_level_by_level_as_scikit_learns():
    """Without ``max_leaf_nodes`` every splittable node to ``max_depth`` is split, so the
    order of the splits changes nothing but the passes: a pass per level."""
    X, y = make_classification(3000, 6, n_informative=4, random_state=2)
    X = _with_missing(X, 17, 2)
    params = {"max_iter": 8, "early_stopping": False, "max_leaf_nodes": None, "max_depth": 4}
    for growth in ("best-first", "level-wise"):
        ours = HistGradientBoostingClassifier(growth=growth, **params).fit(X, y)
        theirs = SkClassifier(**params).fit(X, y)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-10)
        # The root's pass, then one per level below it (and one for the bins).
        assert ours.n_passes_ <= 1 + 8 * (4 + 1)


def test_level_wise_growth_keeps_the_leaf_budget_in_fewer_passes():
    X, y = make_regression(4000, 8, n_informative=6, noise=5.0, random_state=3)
    params = {"max_iter": 10, "early_stopping": False, "max_leaf_nodes": 31}
    level_wise = HistGradientBoostingRegressor(growth="level-wise", **params).fit(X, y)
    best_first = HistGradientBoostingRegressor(**params).fit(X, y)
    trees = [tree for (tree,) in level_wise._predictor.trees]
    assert max(tree.n_leaves for tree in trees) == 31
    # A pass per level of each tree (and one for the bins).
    assert level_wise.n_passes_ <= 1 + sum(tree.depth() + 1 for tree in trees)
    assert level_wise.n_passes_ < best_first.n_passes_
    # Other trees, about as good: within 5% of best-first's training R^2 shortfall.
    shortfall = [1 - model.score(X, y) for model in (level_wise, best_first)]
    assert shortfall[0] < 1.05 * shortfall[1] + 1e-3
