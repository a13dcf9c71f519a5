"""scipy.sparse CSR data, in memory and as the chunks of dask arrays, in the full-batch models."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from distributed import Client
from sklearn import linear_model
from sklearn.feature_extraction.text import HashingVectorizer

import daskgd

ROWS, FEATURES, CHUNK = 600, 30, 170


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    rng = np.random.default_rng(0)
    X = sp.random(ROWS, FEATURES, density=0.15, format="csr", random_state=1) * 3.0 + 0.0
    X = sp.csr_matrix(X)
    coef = rng.normal(size=FEATURES)
    linear = X @ coef + 1.0 + 0.1 * rng.normal(size=ROWS)
    return {
        "X": X,
        "regression": linear,
        "classification": (linear > np.median(linear)).astype(int),
        "counts": rng.poisson(np.exp(linear / 4)).astype(float),
        "weight": rng.uniform(0.5, 2.0, ROWS),
    }


CASES = [
    ("LinearRegression", "regression", {}),
    ("Ridge", "regression", {"alpha": 1.0}),
    ("Lasso", "regression", {"alpha": 0.01, "tol": 1e-10}),
    ("ElasticNetCV", "regression", {"cv": 3, "alphas": 10}),
    ("LogisticRegression", "classification", {"tol": 1e-10}),
    ("LogisticRegression", "classification", {"l1_ratio": 0.5, "tol": 1e-10}),
    ("PoissonRegressor", "counts", {"alpha": 0.01, "tol": 1e-10}),
    ("HuberRegressor", "regression", {"tol": 1e-10}),
    ("LinearSVC", "classification", {"tol": 1e-10}),
]


@pytest.mark.parametrize(("name", "target", "params"), CASES, ids=lambda v: str(v))
def test_csr_in_memory_and_in_dask_chunks_fit_as_dense(client: Client, data, name, target, params):
    X, y, weight = data["X"], data[target], data["weight"]
    make = getattr(daskgd, name)
    dense = make(**params).fit(X.toarray(), y, sample_weight=weight)
    in_memory = make(**params).fit(X, y, sample_weight=weight)
    chunks = (CHUNK,) * (ROWS // CHUNK) + (ROWS % CHUNK,)
    X_dask = da.from_array(X, chunks=(chunks, FEATURES), asarray=False)
    on_dask = make(**params).fit(
        X_dask, da.from_array(y, chunks=(chunks,)), sample_weight=da.from_array(weight, (chunks,))
    )
    for model in (in_memory, on_dask):
        np.testing.assert_allclose(model.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model.intercept_, dense.intercept_, rtol=1e-8, atol=1e-10)
    predicted = on_dask.predict(X_dask)
    assert isinstance(predicted, da.Array)
    np.testing.assert_allclose(predicted.compute(), dense.predict(X.toarray()), rtol=1e-8)


def _hashed_text(n_documents: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Generated documents hashed to 2**18 features; the label says whether a topic word occurs."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(3000)])
    topic = set(vocabulary[:40])
    documents, labels = [], []
    for _ in range(n_documents):
        words = rng.choice(vocabulary, size=rng.integers(5, 40))
        documents.append(" ".join(words))
        labels.append(int(len(topic.intersection(words)) > 0) ^ int(rng.random() < 0.05))
    X = HashingVectorizer(n_features=2**18, alternate_sign=False, norm="l2").transform(documents)
    return sp.csr_matrix(X), np.array(labels)


def test_hashed_text_with_2_18_features_equals_scikit_learn(client: Client):
    X, y = _hashed_text(1200, seed=3)
    assert X.shape == (1200, 2**18)  # as dense float64: 2.5 GB; as CSR: under 1 MB
    X_dask = da.from_array(X, chunks=(300, 2**18), asarray=False)
    ours = daskgd.LogisticRegression(C=1.0, tol=1e-9, max_iter=500).fit(
        X_dask, da.from_array(y, chunks=300)
    )
    theirs = linear_model.LogisticRegression(C=1.0, tol=1e-12, max_iter=5000).fit(X, y)
    assert ours.solver_ == "lbfgs"
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-4, atol=1e-6)
    accuracy = float((ours.predict(X_dask).compute() == y).mean())
    assert accuracy == pytest.approx(theirs.score(X, y), abs=1e-12) and accuracy > 0.7


def test_hashed_text_lasso_on_working_sets_equals_scikit_learn(client: Client):
    """2**18 features: no Gram of them all, but working sets of a few hundred, a pass each."""
    X, labels = _hashed_text(1200, seed=4)
    y = labels + 0.1 * np.random.default_rng(5).standard_normal(len(labels))
    X_dask = da.from_array(X, chunks=((300, 450, 150, 300), 2**18), asarray=False)
    ours = daskgd.Lasso(alpha=1e-3, tol=1e-10).fit(
        X_dask, da.from_array(y, chunks=((300, 450, 150, 300),))
    )
    theirs = linear_model.Lasso(alpha=1e-3, tol=1e-12, max_iter=100_000).fit(X, y)
    assert ours.solver_ == "working-sets"
    assert 10 < np.count_nonzero(theirs.coef_) < 4096
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-8)
    assert ours.n_passes_ <= 10
    predicted = ours.predict(X_dask)
    assert isinstance(predicted, da.Array)
    np.testing.assert_allclose(predicted.compute(), theirs.predict(X), rtol=1e-7, atol=1e-9)


def test_nan_in_a_csr_chunk_is_named_with_its_chunk_and_row(client: Client, data):
    X = data["X"].copy()
    row = 400
    start = X.indptr[row]
    assert X.indptr[row + 1] > start  # the row stores a value to spoil
    X.data[start] = np.nan
    X_dask = da.from_array(X, chunks=(CHUNK, FEATURES), asarray=False)
    with pytest.raises(ValueError, match=rf"NaN or infinity in chunk 2 at row {row} \(row 60"):
        daskgd.Ridge().fit(X_dask, da.from_array(data["regression"], chunks=CHUNK))


def test_other_chunk_types_are_named_with_what_to_convert_to(data):
    csc = da.from_array(data["X"].tocsc(), chunks=(CHUNK, FEATURES), asarray=False)
    y = da.from_array(data["regression"], chunks=CHUNK)
    with pytest.raises(ValueError, match=r"scipy.sparse csc matrices; .*block.tocsr\(\)"):
        daskgd.Ridge().fit(csc, y)
    csr = da.from_array(data["X"], chunks=(CHUNK, FEATURES), asarray=False)
    with pytest.raises(ValueError, match=r"does not take yet .*block.toarray\(\)"):
        daskgd.HistGradientBoostingRegressor().fit(csr, y)


def test_sgd_on_csr_chunks_is_scikit_learns_partial_fit_loop_on_them(client: Client, data):
    X, y = data["X"], data["classification"]
    sizes = (CHUNK,) * (ROWS // CHUNK) + (ROWS % CHUNK,)
    params = {"loss": "log_loss", "shuffle": False, "random_state": 0, "max_iter": 3, "tol": None}
    ours = daskgd.SGDClassifier(strategy="sequential", **params).fit(
        da.from_array(X, chunks=(sizes, FEATURES), asarray=False), da.from_array(y, (sizes,))
    )
    # scikit-learn's out-of-core recipe on the same CSR chunks (its sparse SGD differs
    # from its dense one: the intercept's steps decay), three epochs.
    reference = linear_model.SGDClassifier(**params)
    starts = np.cumsum((0,) + sizes)
    for _ in range(3):
        for start, stop in zip(starts[:-1], starts[1:], strict=True):
            reference.partial_fit(X[start:stop], y[start:stop], classes=np.array([0, 1]))
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-10, atol=1e-10)
    averaged = daskgd.SGDClassifier(strategy="average", **params).fit(
        da.from_array(X, chunks=(sizes, FEATURES), asarray=False), da.from_array(y, (sizes,))
    )
    assert np.isfinite(averaged.coef_).all() and averaged.score(X, y) > 0.7
