"""LassoCV and ElasticNetCV against scikit-learn's: the same paths, from one pass."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn import linear_model
from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit

from daskgd import ElasticNetCV, LassoCV
from daskgd.folds import kfold_runs, runs_from_splits


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n, d = 403, 10
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, d) + 1.0
    coef = np.where(rng.random(d) < 0.5, 0.0, rng.standard_normal(d) * 2)
    return {
        "X": X,
        "y": X @ coef + 1.0 + rng.standard_normal(n),
        "weight": rng.uniform(0.2, 2.0, n),
    }


def _assert_same_cv(ours, theirs, rtol=1e-9):
    assert ours.alpha_ == pytest.approx(theirs.alpha_, rel=1e-12)
    np.testing.assert_allclose(ours.alphas_, theirs.alphas_, rtol=1e-12)
    assert ours.mse_path_.shape == theirs.mse_path_.shape
    np.testing.assert_allclose(ours.mse_path_, theirs.mse_path_, rtol=rtol)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=1e-12)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=rtol, abs=1e-12)
    assert ours.n_iter_ == theirs.n_iter_


CASES = [
    {},
    {"cv": 3},
    {"fit_intercept": False},
    {"positive": True},
    {"alphas": [0.5, 0.01, 0.1]},
    {"alphas": 7, "eps": 1e-2},
    {"cv": KFold(4, shuffle=True, random_state=0)},
]


@pytest.mark.parametrize("params", CASES, ids=repr)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_lasso_cv_equals_scikit_learn(data, params, weighted):
    weight = data["weight"] if weighted else None
    ours = LassoCV(**params).fit(data["X"], data["y"], sample_weight=weight)
    theirs = linear_model.LassoCV(**params).fit(data["X"], data["y"], sample_weight=weight)
    # scikit-learn's own tolerance (1e-4 on the gap): the same sweeps give the same path.
    _assert_same_cv(ours, theirs)
    assert ours.n_passes_ == 1


def test_elastic_net_cv_searches_l1_ratios_as_scikit_learn(data):
    params = {"l1_ratio": [0.2, 0.7, 1.0], "tol": 1e-10, "max_iter": 100_000}
    ours = ElasticNetCV(**params).fit(data["X"], data["y"])
    theirs = linear_model.ElasticNetCV(**params).fit(data["X"], data["y"])
    _assert_same_cv(ours, theirs)
    assert ours.l1_ratio_ == theirs.l1_ratio_
    assert ours.mse_path_.shape == (3, 100, 5)


@pytest.mark.parametrize(
    "cv", [None, KFold(3, shuffle=True, random_state=1)], ids=["kfold", "shuffled"]
)
def test_dask_path_is_one_pass_whatever_the_chunks(client: Client, data, cv):
    X, y, weight = data["X"], data["y"], data["weight"]
    # Chunks straddle the fold boundaries (rows 81, 162, 243, 323 for 5 folds).
    chunks = ((50, 100, 3, 150, 100),)
    ours = ElasticNetCV(l1_ratio=[0.5, 0.9], cv=cv).fit(
        da.from_array(X, chunks=(chunks[0], 10)),
        da.from_array(y, chunks=chunks),
        sample_weight=da.from_array(weight, chunks=chunks),
    )
    in_memory = ElasticNetCV(l1_ratio=[0.5, 0.9], cv=cv).fit(X, y, sample_weight=weight)
    assert ours.n_passes_ == 1
    np.testing.assert_allclose(ours.mse_path_, in_memory.mse_path_, rtol=1e-9)
    np.testing.assert_allclose(ours.coef_, in_memory.coef_, rtol=1e-9, atol=1e-12)
    theirs = linear_model.ElasticNetCV(l1_ratio=[0.5, 0.9], cv=cv).fit(X, y, sample_weight=weight)
    _assert_same_cv(ours, theirs)
    predicted = ours.predict(da.from_array(X, chunks=(chunks[0], 10)))
    assert isinstance(predicted, da.Array)
    np.testing.assert_allclose(predicted.compute(), theirs.predict(X), rtol=1e-9)


def test_fold_runs_are_the_splitters_test_sets():
    n = 23
    for splitter in (KFold(5), KFold(4, shuffle=True, random_state=3)):
        splits = list(splitter.split(np.empty((n, 0))))
        runs = kfold_runs(n, 5) if not splitter.shuffle else runs_from_splits(splits, n)
        folds = runs.fold_of_rows(0, n)
        for k, (_, test) in enumerate(splits):
            np.testing.assert_array_equal(np.flatnonzero(folds == k), test)
        np.testing.assert_array_equal(runs.fold_of_rows(7, 9), folds[7:16])


def test_group_folds_partition_the_rows_and_equal_scikit_learn(data):
    groups = np.arange(len(data["y"])) % 7
    splits = list(GroupKFold(3).split(data["X"], data["y"], groups))
    ours = LassoCV(cv=splits).fit(data["X"], data["y"])
    theirs = linear_model.LassoCV(cv=splits).fit(data["X"], data["y"])
    _assert_same_cv(ours, theirs)


def test_splits_whose_test_sets_do_not_partition_the_rows_are_refused(data):
    with pytest.raises(ValueError, match="overlap .*test sets partition X .*not ShuffleSplit"):
        LassoCV(cv=ShuffleSplit(3, random_state=0)).fit(data["X"], data["y"])


def test_an_automatic_grid_needs_some_l1(data):
    with pytest.raises(ValueError, match="not supported for l1_ratio=0"):
        ElasticNetCV(l1_ratio=0.0).fit(data["X"], data["y"])
