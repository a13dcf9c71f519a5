"""SGDClassifier, SGDRegressor and LinearSVC against scikit-learn, on NumPy and on dask.

The sequential strategy must be *exactly* scikit-learn's ``partial_fit`` loop over
the same chunks in the same order; one averaging round must be exactly the
row-weighted mean of per-group chains; LinearSVC must reach liblinear's optimum.
Dask tests run on the real 2-worker cluster of ``conftest.py``, some of them on
data written to zarr files and read back lazily.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn import linear_model, svm
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight

from daskgd import LinearSVC, LogisticRegression, SGDClassifier, SGDRegressor
from daskgd.estimators._sgd_steps import SGDState, average_states, validation_mask
from daskgd.estimators.sgd import ETA0_CANDIDATES
from daskgd.oracles.dask import contiguous_groups

N_FEATURES = 4
#: Uneven row chunks (250 rows): exercises chunk boundaries that no regular split has.
ROW_CHUNKS = (70, 30, 110, 40)
#: One chunk ten times the others (1500 rows): two groups of 1000 and 500 rows.
UNBALANCED_CHUNKS = (1000, 100, 100, 100, 100, 100)
#: The arguments that make our sequential fit and scikit-learn's loop the same computation.
SEQUENTIAL: dict[str, Any] = {"shuffle": False, "random_state": 0, "max_iter": 3, "tol": None}
EXACT: dict[str, Any] = {"rtol": 1e-10, "atol": 1e-10}


# ---------------------------------------------------------------- data helpers


def make_classification(
    n_samples: int, n_classes: int, seed: int = 0, noise: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features; labels: the argmax of noisy linear scores (0 .. n_classes-1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, N_FEATURES))
    weights = 2.0 * rng.standard_normal((N_FEATURES, n_classes))
    scores = X @ weights + noise * rng.standard_normal((n_samples, n_classes))
    return X, np.argmax(scores, axis=1).astype(np.int64)


def make_imbalanced(n_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes with very different counts (thresholds on one noisy linear score)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, N_FEATURES))
    score = X @ rng.standard_normal(N_FEATURES) + 0.3 * rng.standard_normal(n_samples)
    y = np.digitize(score, np.quantile(score, [0.6, 0.85])).astype(np.int64)  # 60/25/15 %
    return X, y


def make_regression(n_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, N_FEATURES))
    y = X @ rng.standard_normal(N_FEATURES) + 0.5 + 0.2 * rng.standard_normal(n_samples)
    return X, y


def zarr_array(directory: Any, name: str, array: np.ndarray, row_chunks: tuple[int, ...]) -> Any:
    """Write ``array`` to a zarr store (regular chunks) and read it back with ``row_chunks``."""
    path = str(directory / f"{name}.zarr")
    da.from_array(array, chunks=(64,) + array.shape[1:]).to_zarr(path)
    chunks = (row_chunks,) + tuple((size,) for size in array.shape[1:])
    back = da.from_zarr(path, chunks=chunks)
    assert back.chunks[0] == row_chunks
    return back


def in_memory_dask(array: np.ndarray, row_chunks: tuple[int, ...]) -> Any:
    return da.from_array(array, chunks=(row_chunks,) + tuple((s,) for s in array.shape[1:]))


def row_blocks(row_chunks: tuple[int, ...], *arrays: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """The NumPy blocks of ``arrays`` cut at the same row boundaries as the dask chunks."""
    bounds = np.cumsum((0,) + tuple(row_chunks))
    return [
        tuple(a[start:stop] for a in arrays)
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def sklearn_loop(
    model: Any, blocks: Sequence[tuple[Any, ...]], epochs: int, classes: Any = None
) -> Any:
    """scikit-learn's out-of-core recipe: ``partial_fit`` over the chunks in order, per epoch."""
    for _ in range(epochs):
        for X_block, y_block in blocks:
            if classes is None:
                model.partial_fit(X_block, y_block)
            else:
                model.partial_fit(X_block, y_block, classes=classes)
    return model


def assert_same_model(ours: Any, reference: Any) -> None:
    assert_allclose(ours.coef_, reference.coef_, **EXACT)
    assert_allclose(ours.intercept_, reference.intercept_, **EXACT)
    assert ours.t_ == pytest.approx(reference.t_, rel=1e-12)


@pytest.fixture(scope="module")
def zarr_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, ...]]:
    """``(X, y, X_dask, y_dask)`` per problem kind, the dask arrays read from zarr files."""
    directory = tmp_path_factory.mktemp("sgd-zarr")
    n_samples = sum(ROW_CHUNKS)
    problems = {
        "binary": make_classification(n_samples, 2, seed=1),
        "multiclass": make_classification(n_samples, 3, seed=2),
        "regression": make_regression(n_samples, seed=3),
        "imbalanced": make_imbalanced(n_samples, seed=4),
    }
    data = {}
    for kind, (X, y) in problems.items():
        data[kind] = (
            X,
            y,
            zarr_array(directory, f"{kind}-X", X, ROW_CHUNKS),
            zarr_array(directory, f"{kind}-y", y, ROW_CHUNKS),
        )
    return data


# ------------------------------------------- 1. sequential SGD == scikit-learn's loop

SEQUENTIAL_CASES: list[tuple[str, str, dict[str, Any]]] = [
    *[
        ("binary", loss, {})
        for loss in ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron")
    ],
    *[
        ("regression", loss, {})
        for loss in ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")
    ],
    ("binary", "modified_huber", {"penalty": "elasticnet", "l1_ratio": 0.5}),
    ("regression", "huber", {"average": True}),
    ("multiclass", "log_loss", {}),
]


@pytest.mark.parametrize(
    ("kind", "loss", "extra"),
    SEQUENTIAL_CASES,
    ids=[
        f"{kind}-{loss}" + "".join(f"-{key}" for key in extra)
        for kind, loss, extra in SEQUENTIAL_CASES
    ],
)
def test_sequential_fit_is_sklearn_partial_fit_loop(client, zarr_data, kind, loss, extra) -> None:
    X, y, X_dask, y_dask = zarr_data[kind]
    params: dict[str, Any] = {"loss": loss, **SEQUENTIAL, **extra}
    if kind == "regression":
        ours = SGDRegressor(strategy="sequential", **params).fit(X_dask, y_dask)
        reference = sklearn_loop(
            linear_model.SGDRegressor(**params), row_blocks(ROW_CHUNKS, X, y), 3
        )
    else:
        ours = SGDClassifier(strategy="sequential", **params).fit(X_dask, y_dask)
        reference = sklearn_loop(
            linear_model.SGDClassifier(**params),
            row_blocks(ROW_CHUNKS, X, y),
            3,
            classes=np.unique(y),
        )
        assert_array_equal(ours.classes_, reference.classes_)
    assert np.all(np.isfinite(reference.coef_))
    assert_same_model(ours, reference)
    assert ours.n_iter_ == 3
    # The epochs, and a classifier's label pass.
    assert ours.n_passes_ == 3 + (kind != "regression")
    assert len(ours.loss_curve_) == 3


def test_partial_fit_on_dask_is_one_epoch_of_the_loop(client, zarr_data) -> None:
    X, y, X_dask, y_dask = zarr_data["binary"]
    params: dict[str, Any] = {"loss": "hinge", "shuffle": False, "random_state": 0}
    ours = SGDClassifier(**params)
    reference = linear_model.SGDClassifier(**params)
    blocks = row_blocks(ROW_CHUNKS, X, y)
    ours.partial_fit(X_dask, y_dask, classes=[0, 1])
    sklearn_loop(reference, blocks, 1, classes=np.array([0, 1]))
    assert_same_model(ours, reference)
    # A second call continues the same model: two epochs of the loop.
    ours.partial_fit(X_dask, y_dask)
    sklearn_loop(reference, blocks, 1, classes=np.array([0, 1]))
    assert_same_model(ours, reference)
    assert ours.n_iter_ == 2
    assert ours.n_passes_ == 1 + 2  # the first call's label pass, and two epochs


def test_partial_fit_on_dask_regressor_and_lazy_predict(client, zarr_data) -> None:
    X, y, X_dask, y_dask = zarr_data["regression"]
    params: dict[str, Any] = {"loss": "squared_error", "shuffle": False, "random_state": 0}
    ours = SGDRegressor(**params).partial_fit(X_dask, y_dask)
    reference = sklearn_loop(linear_model.SGDRegressor(**params), row_blocks(ROW_CHUNKS, X, y), 1)
    assert_same_model(ours, reference)
    lazy = ours.predict(X_dask)
    assert isinstance(lazy, da.Array)
    assert lazy.chunks == (ROW_CHUNKS,)
    assert_allclose(lazy.compute(), reference.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_partial_fit_on_numpy_is_sklearn_partial_fit(loss) -> None:
    X, y = make_classification(200, 3, seed=5) if loss == "log_loss" else make_regression(200)
    params: dict[str, Any] = {"loss": loss, "random_state": 0}
    halves = [(X[:120], y[:120]), (X[120:], y[120:])]
    if loss == "log_loss":
        ours: Any = SGDClassifier(**params)
        reference: Any = linear_model.SGDClassifier(**params)
        for X_part, y_part in halves:
            ours.partial_fit(X_part, y_part, classes=[0, 1, 2])
            reference.partial_fit(X_part, y_part, classes=[0, 1, 2])
            assert_same_model(ours, reference)
    else:
        ours = SGDRegressor(**params)
        reference = linear_model.SGDRegressor(**params)
        for X_part, y_part in halves:
            ours.partial_fit(X_part, y_part)
            reference.partial_fit(X_part, y_part)
            assert_same_model(ours, reference)
    assert_allclose(ours.predict(X), reference.predict(X), **EXACT)


# ------------------------------------------------------------- 2. averaging rounds


@pytest.mark.parametrize(
    ("kind", "local_epochs"), [("classifier", 1), ("regressor", 1), ("classifier", 2)]
)
def test_one_averaging_round_is_row_weighted_mean_of_group_chains(
    client, kind, local_epochs
) -> None:
    n_samples = sum(UNBALANCED_CHUNKS)
    if kind == "classifier":
        X, y = make_classification(n_samples, 2, seed=6)
        params: dict[str, Any] = {"loss": "hinge", "shuffle": False, "random_state": 0}
        estimator_class: Any = SGDClassifier
        reference_model: Any = linear_model.SGDClassifier(**params)
        classes: Any = np.array([0, 1])
    else:
        X, y = make_regression(n_samples, seed=6)
        params = {"loss": "squared_error", "shuffle": False, "random_state": 0}
        estimator_class = SGDRegressor
        reference_model = linear_model.SGDRegressor(**params)
        classes = None
    ours = estimator_class(
        strategy="average", n_rounds=1, local_epochs=local_epochs, tol=None, **params
    ).fit(in_memory_dask(X, UNBALANCED_CHUNKS), in_memory_dask(y, UNBALANCED_CHUNKS))

    groups = ours.groups_
    assert 1 < len(groups) <= 2  # one group per worker of the 2-worker cluster
    assert [index for group in groups for index in group] == list(range(len(UNBALANCED_CHUNKS)))
    blocks = row_blocks(UNBALANCED_CHUNKS, X, y)
    coefs, intercepts, rows = [], [], []
    for group in groups:
        model = clone(reference_model)  # every group starts from the same fresh model
        sklearn_loop(model, [blocks[i] for i in group], local_epochs, classes=classes)
        coefs.append(model.coef_)
        intercepts.append(model.intercept_)
        rows.append(sum(UNBALANCED_CHUNKS[i] for i in group))
    shares = np.asarray(rows, dtype=np.float64) / n_samples
    assert not np.allclose(shares, shares[0])  # the partition really is unbalanced
    expected_coef = sum(s * c for s, c in zip(shares, coefs, strict=True))
    expected_intercept = sum(s * b for s, b in zip(shares, intercepts, strict=True))
    assert_allclose(ours.coef_, expected_coef, **EXACT)
    assert_allclose(ours.intercept_, expected_intercept, **EXACT)
    # The unweighted mean is a different model: the row weights matter here.
    assert not np.allclose(ours.coef_, np.mean(coefs, axis=0), rtol=1e-6, atol=1e-8)
    assert ours.n_iter_ == 1
    assert ours.n_passes_ == local_epochs + (kind == "classifier")  # and the label pass


def sgd_log_loss_objective(model: Any, X: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """``mean log-loss + alpha/2 ||w||^2``: what SGDClassifier(loss="log_loss") minimises."""
    raw = X @ np.ravel(model.coef_) + model.intercept_[0]
    signs = np.where(y == model.classes_[1], 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -signs * raw)) + alpha / 2 * np.sum(model.coef_**2))


def test_averaging_rounds_reach_the_full_batch_optimum(client) -> None:
    n_samples, alpha = sum(UNBALANCED_CHUNKS), 1e-3
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n_samples, N_FEATURES))
    probability = expit(X @ rng.standard_normal(N_FEATURES) + 0.3)
    y = (rng.random(n_samples) < probability).astype(np.int64)  # a logistic model's labels
    n_rounds, local_epochs = 6, 2
    ours = SGDClassifier(
        loss="log_loss",
        alpha=alpha,
        learning_rate="constant",
        eta0=0.01,
        strategy="average",
        n_rounds=n_rounds,
        local_epochs=local_epochs,
        tol=None,
        random_state=0,
    ).fit(in_memory_dask(X, UNBALANCED_CHUNKS), in_memory_dask(y, UNBALANCED_CHUNKS))
    # C * sum(log_loss) + 1/2 ||w||^2 = C n (mean log_loss + alpha/2 ||w||^2) for C = 1/(alpha n)
    optimum = LogisticRegression(C=1.0 / (alpha * n_samples), tol=1e-10).fit(X, y)
    best = sgd_log_loss_objective(optimum, X, y, alpha)
    reached = sgd_log_loss_objective(ours, X, y, alpha)
    assert best - 1e-12 <= reached <= best + 1e-3
    assert ours.n_iter_ == n_rounds
    assert ours.n_passes_ == n_rounds * local_epochs + 1  # and the label pass
    assert len(ours.loss_curve_) == n_rounds


# ------------------------------------------------------- 3. learning_rate="auto"


def test_auto_learning_rate_picks_a_candidate_and_fits(client) -> None:
    X, y = make_classification(sum(ROW_CHUNKS), 2, seed=8)
    ours = SGDClassifier(
        loss="log_loss", learning_rate="auto", max_iter=5, tol=None, random_state=0
    ).fit(in_memory_dask(X, ROW_CHUNKS), in_memory_dask(y, ROW_CHUNKS))
    assert ours.eta0_ in ETA0_CANDIDATES
    assert ours.sgd_.learning_rate == "adaptive"
    full_batch = LogisticRegression().fit(X, y).score(X, y)
    assert ours.score(X, y) >= min(0.9, full_batch - 0.03)


# ------------------------------------------ 4. labels, class weights, early stopping


def test_string_labels_on_dask(client) -> None:
    X, codes = make_classification(sum(ROW_CHUNKS), 3, seed=9)
    names = np.array(["cat", "dog", "eel"])
    y = names[codes]
    params: dict[str, Any] = {"loss": "log_loss", **SEQUENTIAL}
    ours = SGDClassifier(**params).fit(in_memory_dask(X, ROW_CHUNKS), in_memory_dask(y, ROW_CHUNKS))
    reference = sklearn_loop(
        linear_model.SGDClassifier(**params), row_blocks(ROW_CHUNKS, X, y), 3, classes=names
    )
    assert_array_equal(ours.classes_, names)
    assert_same_model(ours, reference)
    predicted = ours.predict(in_memory_dask(X, ROW_CHUNKS))
    assert isinstance(predicted, da.Array)
    assert_array_equal(predicted.compute(), reference.predict(X))
    assert set(np.unique(predicted.compute())) <= set(names)


def test_balanced_class_weight_is_sklearn_loop_with_computed_dict(client, zarr_data) -> None:
    X, y, X_dask, y_dask = zarr_data["imbalanced"]
    counts = np.bincount(y)
    assert counts.max() >= 2 * counts.min()  # the weights are far from uniform
    ours = SGDClassifier(loss="hinge", class_weight="balanced", **SEQUENTIAL).fit(X_dask, y_dask)
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    reference = sklearn_loop(
        linear_model.SGDClassifier(
            loss="hinge",
            class_weight=dict(zip(classes.tolist(), weights, strict=True)),
            **SEQUENTIAL,
        ),
        row_blocks(ROW_CHUNKS, X, y),
        3,
        classes=classes,
    )
    assert_same_model(ours, reference)
    unweighted = SGDClassifier(loss="hinge", **SEQUENTIAL).fit(X, y)
    assert not np.allclose(unweighted.coef_, ours.coef_)


def test_early_stopping_on_held_out_rows_of_every_chunk(client, zarr_data) -> None:
    X, y, X_dask, y_dask = zarr_data["binary"]
    max_iter, fraction = 40, 0.25
    ours = SGDClassifier(
        loss="hinge",
        early_stopping=True,
        validation_fraction=fraction,
        n_iter_no_change=2,
        tol=1e-3,
        max_iter=max_iter,
        shuffle=False,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours.fit(X_dask, y_dask)
    assert 1 <= ours.n_iter_ < max_iter
    # A training pass and a validation pass each, and the label pass.
    assert ours.n_passes_ == 2 * ours.n_iter_ + 1
    # Training saw exactly the rows that are not held out, chunk by chunk.
    kept_blocks = []
    for index, (X_block, y_block) in enumerate(row_blocks(ROW_CHUNKS, X, y)):
        keep = ~validation_mask(index, len(X_block), fraction, 0)
        kept_blocks.append((X_block[keep], y_block[keep]))
    reference = sklearn_loop(
        linear_model.SGDClassifier(loss="hinge", shuffle=False, random_state=0),
        kept_blocks,
        ours.n_iter_,
        classes=np.array([0, 1]),
    )
    assert_same_model(ours, reference)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predictions_on_dask_are_lazy_and_equal_numpy_ones(client, zarr_data, n_classes) -> None:
    X, y, X_dask, y_dask = zarr_data["binary" if n_classes == 2 else "multiclass"]
    ours = SGDClassifier(loss="log_loss", **SEQUENTIAL).fit(X_dask, y_dask)
    n_rows = 1 if n_classes == 2 else n_classes
    assert ours.coef_.shape == (n_rows, N_FEATURES)
    assert ours.intercept_.shape == (n_rows,)
    for method in ("predict", "decision_function", "predict_proba", "predict_log_proba"):
        lazy = getattr(ours, method)(X_dask)
        assert isinstance(lazy, da.Array), method
        assert lazy.chunks[0] == ROW_CHUNKS, method
        with np.errstate(divide="ignore"):  # log of a probability that rounds to 0
            expected = getattr(ours, method)(X)
        assert lazy.shape == expected.shape, method
        computed = lazy.compute()
        assert computed.shape == expected.shape, method
        assert computed.dtype == expected.dtype, method
        assert_allclose(computed, expected, rtol=1e-12, atol=1e-12, err_msg=method)
    assert ours.score(X, y) > 0.8


# --------------------------------------------------------------------- 5. LinearSVC


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


def svc_problem(n_classes: int, class_weight: Any) -> tuple[np.ndarray, np.ndarray]:
    if class_weight is not None:
        X, y = make_imbalanced(400, seed=10)
        return (X, y) if n_classes == 3 else (X, np.minimum(y, 1))
    return make_classification(400, n_classes, seed=11, noise=1.0)


def liblinear(X: np.ndarray, y: np.ndarray, **params: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return svm.LinearSVC(tol=1e-8, max_iter=200_000, random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize(
    "class_weight", [None, "balanced", {1: 3.0}], ids=["none", "balanced", "dict"]
)
def test_linear_svc_squared_hinge_matches_liblinear(solver, n_classes, class_weight) -> None:
    X, y = svc_problem(n_classes, class_weight)
    ours = LinearSVC(solver=solver, tol=1e-10, max_iter=2000, class_weight=class_weight).fit(X, y)
    reference = liblinear(X, y, class_weight=class_weight)
    assert ours.coef_.shape == reference.coef_.shape
    assert relative_error(ours.coef_, reference.coef_) < 1e-4
    assert relative_error(ours.intercept_, reference.intercept_) < 1e-4
    assert ours.solver_ == solver


@pytest.mark.parametrize(
    ("solver", "n_classes", "class_weight"),
    [("newton", 2, None), ("lbfgs", 2, "balanced"), ("newton", 3, "balanced")],
)
def test_linear_svc_squared_hinge_on_zarr_matches_liblinear(
    client, tmp_path, solver, n_classes, class_weight
) -> None:
    X, y = svc_problem(n_classes, class_weight)
    chunks = (150, 50, 200)
    X_dask = zarr_array(tmp_path, "X", X, chunks)
    y_dask = zarr_array(tmp_path, "y", y, chunks)
    ours = LinearSVC(solver=solver, tol=1e-10, max_iter=2000, class_weight=class_weight)
    ours.fit(X_dask, y_dask)
    reference = liblinear(X, y, class_weight=class_weight)
    assert relative_error(ours.coef_, reference.coef_) < 1e-4
    assert relative_error(ours.intercept_, reference.intercept_) < 1e-4
    lazy = ours.predict(X_dask)
    assert isinstance(lazy, da.Array)
    assert_array_equal(lazy.compute(), reference.predict(X))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_svc_hinge_agrees_with_liblinear(n_classes) -> None:
    X, y = make_classification(600, n_classes, seed=12, noise=1.0)
    ours = LinearSVC(loss="hinge", tol=1e-8, max_iter=2000).fit(X, y)
    reference = liblinear(X, y, loss="hinge", dual=True)
    ours_accuracy, reference_accuracy = ours.score(X, y), reference.score(X, y)
    assert abs(ours_accuracy - reference_accuracy) <= 0.01
    assert np.mean(ours.predict(X) == reference.predict(X)) >= 0.98


def test_linear_svc_hinge_on_dask_agrees_with_liblinear(client) -> None:
    X, y = make_classification(600, 2, seed=13, noise=1.0)
    chunks = (250, 100, 250)
    ours = LinearSVC(loss="hinge", solver="lbfgs", tol=1e-6, max_iter=2000).fit(
        in_memory_dask(X, chunks), in_memory_dask(y, chunks)
    )
    reference = liblinear(X, y, loss="hinge", dual=True)
    assert abs(ours.score(X, y) - reference.score(X, y)) <= 0.01
    assert np.mean(ours.predict(X) == reference.predict(X)) >= 0.98


# ------------------------------------------------------------- 6. pure functions


@pytest.mark.parametrize(
    ("chunk_rows", "n_groups"),
    [
        (UNBALANCED_CHUNKS, 2),
        ((100,) * 12, 3),
        ((10,) * 100, 7),
        ((5, 500, 5, 5, 300, 1, 1, 80), 3),
        ((7, 3, 11), 8),
        ((40, 60, 20), 1),
        ((1000,), 4),
    ],
)
def test_contiguous_groups(chunk_rows, n_groups) -> None:
    groups = contiguous_groups(chunk_rows, n_groups)
    assert 1 <= len(groups) <= min(n_groups, len(chunk_rows))
    assert all(groups)
    # Every chunk exactly once, in order: the groups are contiguous runs.
    assert [index for group in groups for index in group] == list(range(len(chunk_rows)))
    assert all(group == list(range(group[0], group[-1] + 1)) for group in groups)
    # Balanced: no group holds more than an even share plus one chunk.
    total = sum(chunk_rows)
    for group in groups:
        assert sum(chunk_rows[i] for i in group) <= total / n_groups + max(chunk_rows)


def test_contiguous_groups_even_split_and_big_chunk() -> None:
    assert contiguous_groups((100,) * 12, 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert contiguous_groups(UNBALANCED_CHUNKS, 2) == [[0], [1, 2, 3, 4, 5]]
    assert contiguous_groups((3, 3), 1) == [[0, 1]]


def fitted_state(seed: int, n_rows: int, average: bool = False) -> SGDState:
    X, y = make_regression(max(n_rows, 5), seed=seed)
    model = linear_model.SGDRegressor(random_state=0, average=average).partial_fit(X, y)
    return SGDState(model, loss_sum=float(seed), weight_sum=2.0 * n_rows, n_rows=n_rows)


@pytest.mark.parametrize("average", [False, True])
def test_average_states_weights_by_rows_and_ignores_empty_states(average) -> None:
    first, second = fitted_state(1, 30, average), fitted_state(2, 10, average)
    empty_fitted = fitted_state(3, 0, average)  # a fitted model that saw no row this round
    empty_fresh = SGDState(linear_model.SGDRegressor(average=average))  # no coef_ at all
    before = copy.deepcopy(first.model.coef_)

    result = average_states(first, empty_fitted, second, empty_fresh)
    names = ["coef_", "intercept_"]
    if average:
        names += ["_standard_coef", "_standard_intercept", "_average_coef", "_average_intercept"]
    for name in names:
        expected = 0.75 * getattr(first.model, name) + 0.25 * getattr(second.model, name)
        assert_allclose(getattr(result.model, name), expected, rtol=1e-14, err_msg=name)
    assert result.model.t_ == pytest.approx(0.75 * first.model.t_ + 0.25 * second.model.t_)
    assert result.n_rows == 40
    assert result.weight_sum == pytest.approx(80.0)
    assert result.loss_sum == pytest.approx(1.0 + 2.0 + 3.0)
    assert_array_equal(first.model.coef_, before)  # the inputs are left alone
    # The order of the states does not matter (up to rounding).
    swapped = average_states(empty_fresh, second, first)
    assert_allclose(swapped.model.coef_, result.model.coef_, rtol=1e-14)
    # A single trained state among empty ones comes back unchanged.
    alone = average_states(empty_fresh, first, empty_fitted)
    assert_allclose(alone.model.coef_, first.model.coef_, rtol=0, atol=0)


def test_average_states_with_no_rows_returns_the_first_state() -> None:
    empty = SGDState(linear_model.SGDRegressor())
    assert average_states(empty, SGDState(linear_model.SGDRegressor())) is empty


def test_validation_mask_is_deterministic_per_seed_and_chunk() -> None:
    mask = validation_mask(3, 10_000, 0.2, seed=7)
    assert mask.dtype == bool
    assert mask.shape == (10_000,)
    assert_array_equal(mask, validation_mask(3, 10_000, 0.2, seed=7))
    assert abs(mask.mean() - 0.2) < 0.02
    assert not np.array_equal(mask, validation_mask(4, 10_000, 0.2, seed=7))
    assert not np.array_equal(mask, validation_mask(3, 10_000, 0.2, seed=8))
    assert not validation_mask(3, 10_000, 0.0, seed=7).any()
    assert validation_mask(3, 50, 1.0, seed=7).all()
