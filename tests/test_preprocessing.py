"""StandardScaler against scikit-learn's, and lazy end to end in a pipeline on dask."""

from __future__ import annotations

from fractions import Fraction

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn import preprocessing
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from daskgd import LogisticRegression, StandardScaler
from daskgd.engine.reductions import feature_moments


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    n = 500
    # Large means and a constant column: what the stable merge and the zero-scale rule are for.
    X = rng.standard_normal((n, 5)) * np.array([1.0, 1e-3, 50.0, 2.0, 0.0]) + np.array(
        [1e6, -3.0, 0.0, 7.0, 4.0]
    )
    with_nan = X.copy()
    with_nan[rng.random((n, 5)) < 0.1] = np.nan
    return {"X": X, "with_nan": with_nan, "weight": rng.uniform(0.0, 2.0, n)}


ATTRIBUTES = ("mean_", "var_", "scale_", "n_samples_seen_")


def _assert_same_scaler(ours, theirs):
    for name in ATTRIBUTES:
        expected = getattr(theirs, name)
        if expected is None:
            assert getattr(ours, name) is None, name
        else:
            np.testing.assert_allclose(
                getattr(ours, name), expected, rtol=1e-9, atol=1e-20, err_msg=name
            )
            assert np.shape(getattr(ours, name)) == np.shape(expected), name


@pytest.mark.parametrize("X_name", ["X", "with_nan"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "params",
    [{}, {"with_mean": False}, {"with_std": False}, {"with_mean": False, "with_std": False}],
)
def test_numpy_fit_and_transform_equal_scikit_learn(data, X_name, weighted, params):
    X = data[X_name]
    weight = data["weight"] if weighted else None
    ours = StandardScaler(**params).fit(X, sample_weight=weight)
    theirs = preprocessing.StandardScaler(**params).fit(X, sample_weight=weight)
    if weighted and not params.get("with_mean", True) and not params.get("with_std", True):
        # scikit-learn counts rows (not weights) in this one mode alone; daskgd is
        # consistent with the other modes: the weights of the present values.
        present = np.where(np.isnan(X), 0.0, weight[:, np.newaxis]).sum(axis=0)
        seen = present[0] if np.ptp(present) == 0 else present
        np.testing.assert_allclose(ours.n_samples_seen_, seen, rtol=1e-12)
        theirs.n_samples_seen_ = ours.n_samples_seen_
    _assert_same_scaler(ours, theirs)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), X, rtol=1e-12)


def test_dask_fit_is_one_pass_and_transforms_stay_lazy(client: Client, data):
    X, weight = data["with_nan"], data["weight"]
    chunks = ((120, 80, 250, 50),)
    X_dask = da.from_array(X, chunks=(chunks[0], 5))
    ours = StandardScaler().fit(X_dask, sample_weight=da.from_array(weight, chunks=chunks))
    theirs = preprocessing.StandardScaler().fit(X, sample_weight=weight)
    _assert_same_scaler(ours, theirs)
    assert ours.n_passes_ == 1
    scaled = ours.transform(X_dask)
    assert isinstance(scaled, da.Array) and scaled.chunks == X_dask.chunks
    np.testing.assert_allclose(scaled.compute(), theirs.transform(X), rtol=1e-9, atol=1e-9)
    restored = ours.inverse_transform(scaled)
    assert isinstance(restored, da.Array)
    np.testing.assert_allclose(restored.compute(), X, rtol=1e-12)


def test_partial_fit_over_batches_equals_one_fit(client: Client, data):
    X, weight = data["with_nan"], data["weight"]
    scaler = StandardScaler()
    for start in range(0, len(X), 150):
        rows = slice(start, start + 150)
        batch = da.from_array(X[rows], chunks=(60, 5)) if start % 300 else X[rows]
        scaler.partial_fit(batch, sample_weight=weight[rows])
    theirs = preprocessing.StandardScaler().fit(X, sample_weight=weight)
    _assert_same_scaler(scaler, theirs)


def test_moments_of_any_split_merge_to_the_exact_moments():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 3)) + 1e6
    X[rng.random((90, 3)) < 0.2] = np.nan
    parts = [feature_moments(X[a:b], None) for a, b in ((0, 7), (7, 7), (7, 60), (60, 90))]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    for column in range(3):
        values = [Fraction(x) for x in X[:, column] if not np.isnan(x)]
        mean = sum(values) / len(values)
        assert merged.n[column] == len(values)
        assert merged.mean[column] == pytest.approx(float(mean), rel=1e-15)
        assert merged.m2[column] == pytest.approx(
            float(sum((x - mean) ** 2 for x in values)), rel=1e-10
        )


def test_infinity_is_named_with_its_chunk_and_row(client: Client):
    X = np.ones((60, 2))
    X[47, 1] = np.inf
    with pytest.raises(ValueError, match=r"infinity in chunk 2 at row 47 \(row 7 of the chunk\)"):
        StandardScaler().fit(da.from_array(X, chunks=(20, 2)))
    with pytest.raises(ValueError, match="Input X contains infinity"):
        StandardScaler().fit(X)


def test_pipeline_on_dask_stays_lazy_and_grid_search_runs(client: Client):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 4)) * np.array([1.0, 10.0, 100.0, 0.1]) + 5.0
    y = (X[:, 0] - 0.1 * X[:, 1] + rng.standard_normal(300) > 5.0).astype(int)
    X_dask, y_dask = da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=100)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10))
    pipeline.fit(X_dask, y_dask)
    proba = pipeline.predict_proba(X_dask)
    assert isinstance(proba, da.Array) and proba.chunks[0] == X_dask.chunks[0]
    in_memory = make_pipeline(preprocessing.StandardScaler(), LogisticRegression(tol=1e-10)).fit(
        X, y
    )
    np.testing.assert_allclose(proba.compute(), in_memory.predict_proba(X), rtol=1e-8)
    search = GridSearchCV(pipeline, {"logisticregression__C": [0.01, 1.0]}, cv=2)
    search.fit(X_dask, y_dask)
    reference = GridSearchCV(in_memory, {"logisticregression__C": [0.01, 1.0]}, cv=2).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    assert search.best_params_ == reference.best_params_


def test_sparse_data_is_scaled_without_centring_and_centring_it_is_refused(client: Client):
    import scipy.sparse as sp

    X = sp.random(400, 6, density=0.3, format="csr", random_state=2) * 5.0
    X = sp.csr_matrix(X)
    X.data[3] = np.nan  # a missing value, left out of the moments
    weight = np.random.default_rng(1).uniform(0.5, 2.0, 400)
    theirs = preprocessing.StandardScaler(with_mean=False).fit(X, sample_weight=weight)
    in_memory = StandardScaler(with_mean=False).fit(X, sample_weight=weight)
    X_dask = da.from_array(X, chunks=(130, 6), asarray=False)
    on_dask = StandardScaler(with_mean=False).fit(
        X_dask, sample_weight=da.from_array(weight, chunks=130)
    )
    for ours in (in_memory, on_dask):
        np.testing.assert_allclose(ours.var_, theirs.var_, rtol=1e-9)
        np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-9)
        np.testing.assert_allclose(ours.n_samples_seen_, theirs.n_samples_seen_, rtol=1e-12)
    expected = theirs.transform(X).toarray()
    np.testing.assert_allclose(in_memory.transform(X).toarray(), expected, rtol=1e-9)
    scaled = on_dask.transform(X_dask)
    assert isinstance(scaled, da.Array) and sp.issparse(scaled._meta)
    blocks = scaled.compute()
    np.testing.assert_allclose(blocks.toarray(), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="Cannot center sparse matrices.*with_mean=False"):
        StandardScaler().fit(X_dask)
    with pytest.raises(ValueError, match="Cannot center sparse matrices.*with_mean=False"):
        StandardScaler().fit(X)
