"""The estimators on dask input (zarr on disk, a real 2-worker LocalCluster) against scikit-learn.

Every fit here solves the same objective as a scikit-learn estimator, so the two
must agree to the precision the solvers are asked for. Coefficients are compared
entry-wise to ``rtol=1e-6`` with an absolute floor of ``1e-6`` times the largest
coefficient (see :func:`assert_coef_close`): a solver stops on a gradient
tolerance, which bounds the *absolute* error of every entry, so an entry that
happens to be near zero cannot be expected to be relatively exact.

Distributed passes are the expensive part (a scheduler round trip each), so the
data are small (2,000 x 8, iid standard normal columns: ``X^T X / n`` has a
condition number of about 1.3) and the tests pick solvers with few passes where
the solver is not the point.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import sklearn.linear_model as sk
from dask.callbacks import Callback
from distributed import Client, default_client
from scipy.special import expit
from sklearn.base import clone
from sklearn.metrics import log_loss

from daskgd import LinearRegression, LogisticRegression, Ridge, SGDClassifier

pytestmark = pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")

N_SAMPLES, N_FEATURES, CHUNK = 2000, 8, 250
ALPHA = 100.0  # Ridge: a penalty that moves the coefficients by a few percent
C = 0.1  # LogisticRegression: likewise
TIGHT_TOL = 1e-10
# gd takes two passes per iteration, so on the cluster it gets the loosest tolerance the
# comparison justifies. The solvers stop when every entry of the gradient of the mean
# objective is at most tol, so the coefficient error is at most
# ||H^-1|| ||g||_2 <= sqrt(n_coef) * tol / lambda_min(H) = 3 * 1e-8 / 0.1 = 3e-7 here
# (lambda_min(H) is 0.87 for the squared loss and 0.10 for the binary log-loss), below
# the floor 1e-6 * max|coef| (max|coef| is 0.6 for the log-loss, above 1 otherwise).
# ``test_fit_without_distributed_client_matches_sklearn`` holds gd to TIGHT_TOL, where a
# pass is cheap.
GD_TOL = 1e-8


def _tol(solver: str) -> float:
    return GD_TOL if solver == "gd" else TIGHT_TOL


def assert_coef_close(actual: Any, desired: Any, rtol: float = 1e-6) -> None:
    """Entry-wise ``rtol``, with an absolute floor of ``rtol`` times the largest entry."""
    desired = np.asarray(desired, dtype=np.float64)
    scale = float(np.max(np.abs(desired), initial=0.0))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def assert_same_fit(ours: Any, reference: Any, rtol: float = 1e-6) -> None:
    """``coef_`` and ``intercept_`` of two fitted linear models agree (shapes included)."""
    assert np.shape(ours.coef_) == np.shape(reference.coef_)
    assert np.shape(ours.intercept_) == np.shape(reference.intercept_)
    assert_coef_close(ours.coef_, reference.coef_, rtol)
    # Intercepts on the scale of the coefficients: the same absolute floor.
    scale = float(np.max(np.abs(reference.coef_)))
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=rtol, atol=rtol * scale)


# ---- data: NumPy in memory, and the same arrays as zarr files read back lazily ----


def _make_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    # Coefficients bounded away from zero, so entry-wise comparisons mean something.
    w = rng.uniform(0.5, 1.5, N_FEATURES) * rng.choice([-1.0, 1.0], N_FEATURES)
    y = X @ w + 0.5 + 0.1 * rng.normal(size=N_SAMPLES)
    y2 = np.column_stack([y, X @ (w[::-1] / 2) - 1.0 + 0.1 * rng.normal(size=N_SAMPLES)])
    # Binary labels, imbalanced (~30 % positive) so that class weights matter.
    y_binary = (rng.random(N_SAMPLES) < expit(X @ (0.4 * w) - 1.0)).astype(np.int64)
    # Three classes drawn from a softmax model (Gumbel-max sampling).
    scores = X @ (0.4 * rng.normal(size=(N_FEATURES, 3))) + np.array([0.0, 0.3, -0.5])
    y_multi = np.argmax(scores + rng.gumbel(size=scores.shape), axis=1).astype(np.int64)
    sample_weight = rng.uniform(0.2, 3.0, N_SAMPLES)
    return {
        "X": X,
        "y": y,
        "y2": y2,
        "y_binary": y_binary,
        "y_multi": y_multi,
        "sample_weight": sample_weight,
    }


@dataclass
class Data:
    np: dict[str, np.ndarray]
    da: dict[str, da.Array]
    paths: dict[str, str]

    def open(self, name: str, chunks: Any) -> da.Array:
        """The zarr store ``name`` read back with other chunks (one task per chunk)."""
        return da.from_zarr(self.paths[name], chunks=chunks)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """The arrays in memory and as zarr stores (row chunks of CHUNK) opened with from_zarr."""
    arrays = _make_arrays()
    root = tmp_path_factory.mktemp("zarr")
    lazy, paths = {}, {}
    for name, value in arrays.items():
        paths[name] = str(root / f"{name}.zarr")
        da.to_zarr(da.from_array(value, chunks=(CHUNK,) + value.shape[1:]), paths[name])
        lazy[name] = da.from_zarr(paths[name])
        assert lazy[name].chunks[0] == (CHUNK,) * (N_SAMPLES // CHUNK)
    return Data(arrays, lazy, paths)


def _sklearn_logistic(**params: Any) -> sk.LogisticRegression:
    return sk.LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000, **params)


@pytest.fixture(scope="module")
def fitted(cluster: Any, data: Data) -> dict[str, Any]:
    """Models fitted once on the cluster (zarr chunks of CHUNK rows), shared by several tests.

    Keyed by target: the normal equations for the regression targets, Newton for the
    labels. The client is closed when the fixture returns, so tests that only use
    these models (pickling, diagnostics) run without one.
    """
    X = data.da["X"]
    with Client(cluster, set_as_default=True):
        return {
            "y": LinearRegression(solver="normal").fit(X, data.da["y"]),
            "y2": LinearRegression(solver="normal").fit(X, data.da["y2"]),
            "y_binary": LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL).fit(
                X, data.da["y_binary"]
            ),
            "y_multi": LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL).fit(
                X, data.da["y_multi"]
            ),
        }


# ---- every solver against scikit-learn, on the cluster ----

REGRESSORS = {
    "LinearRegression": (lambda **kw: LinearRegression(**kw), lambda: sk.LinearRegression()),
    "Ridge": (lambda **kw: Ridge(ALPHA, **kw), lambda: sk.Ridge(ALPHA, solver="cholesky")),
}


@pytest.mark.parametrize("solver", ["normal", "lbfgs", "newton", "gd"])
@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_regression_solvers_match_sklearn(client: Client, data: Data, name: str, solver: str):
    make_ours, make_reference = REGRESSORS[name]
    ours = make_ours(solver=solver, tol=_tol(solver), max_iter=1000)
    ours.fit(data.da["X"], data.da["y"])
    reference = make_reference().fit(data.np["X"], data.np["y"])
    assert ours.solver_ == solver
    assert isinstance(ours.intercept_, float)
    assert_same_fit(ours, reference)


@pytest.mark.parametrize(
    ("target", "solver"),
    [
        ("y_binary", "lbfgs"),
        ("y_binary", "newton"),
        ("y_binary", "gd"),
        ("y_multi", "lbfgs"),
        ("y_multi", "newton"),
    ],
)
def test_logistic_solvers_match_sklearn(client, data, fitted, target, solver):
    if solver == "newton":
        ours = fitted[target]
    else:
        ours = LogisticRegression(C=C, solver=solver, tol=_tol(solver), max_iter=1000)
        ours.fit(data.da["X"], data.da[target])
    reference = _sklearn_logistic().fit(data.np["X"], data.np[target])
    assert ours.solver_ == solver
    np.testing.assert_array_equal(ours.classes_, reference.classes_)
    assert_same_fit(ours, reference)


# ---- inputs: weights, class weights, labels, targets ----


@pytest.mark.parametrize(
    ("ours", "reference", "target"),
    [
        (LinearRegression(solver="normal"), sk.LinearRegression(), "y"),
        (Ridge(ALPHA, solver="normal"), sk.Ridge(ALPHA, solver="cholesky"), "y"),
        (LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL), _sklearn_logistic(), "y_multi"),
    ],
    ids=["LinearRegression", "Ridge", "LogisticRegression"],
)
def test_dask_sample_weight_matches_sklearn(client, data, ours, reference, target):
    # Weights with other row chunks than X: realigned, not rejected.
    weight = data.da["sample_weight"].rechunk(400)
    ours.fit(data.da["X"], data.da[target], sample_weight=weight)
    reference.fit(data.np["X"], data.np[target], sample_weight=data.np["sample_weight"])
    assert_same_fit(ours, reference)


@pytest.mark.parametrize(
    ("class_weight", "target", "weighted"),
    [
        ("balanced", "y_multi", False),
        ({0: 1.0, 1: 3.0}, "y_binary", False),
        # scikit-learn >= 1.6 counts the classes by their sample weights for "balanced".
        ("balanced", "y_binary", True),
    ],
    ids=["balanced", "dict", "balanced-with-sample_weight"],
)
def test_class_weight_matches_sklearn(client, data, class_weight, target, weighted):
    weight = data.da["sample_weight"] if weighted else None
    ours = LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL, class_weight=class_weight)
    ours.fit(data.da["X"], data.da[target], sample_weight=weight)
    reference = _sklearn_logistic(class_weight=class_weight).fit(
        data.np["X"],
        data.np[target],
        sample_weight=data.np["sample_weight"] if weighted else None,
    )
    assert_same_fit(ours, reference)


def test_string_labels(client: Client, data: Data):
    names = np.array(["ant", "bee", "cat"])
    labels = names[data.np["y_multi"]]
    ours = LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL)
    ours.fit(data.da["X"], da.from_array(labels, chunks=300))
    reference = _sklearn_logistic().fit(data.np["X"], labels)
    np.testing.assert_array_equal(ours.classes_, names)
    assert_same_fit(ours, reference)
    predicted = ours.predict(data.da["X"])
    assert isinstance(predicted, da.Array)
    assert predicted.dtype.kind == "U"
    np.testing.assert_array_equal(predicted.compute(), reference.predict(data.np["X"]))


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge"])
def test_multi_output_regression(client, data, fitted, name):
    if name == "LinearRegression":
        ours, reference = fitted["y2"], sk.LinearRegression()
    else:
        ours = Ridge(ALPHA, solver="newton", tol=TIGHT_TOL).fit(data.da["X"], data.da["y2"])
        reference = sk.Ridge(ALPHA, solver="cholesky")
    reference.fit(data.np["X"], data.np["y2"])
    assert ours.coef_.shape == (2, N_FEATURES)
    assert ours.intercept_.shape == (2,)
    assert_same_fit(ours, reference)


# ---- chunking: the partition of the rows must not change the model ----


def _refit(model: Any, X: Any, y: Any) -> Any:
    return clone(model).fit(X, y)


@pytest.mark.parametrize("target", ["y", "y_multi"])
def test_unbalanced_chunks_give_the_same_model(client, data, fitted, target):
    balanced = fitted[target]  # chunks of CHUNK rows
    rows = (1, 7, N_SAMPLES - 8)
    unbalanced = _refit(balanced, data.open("X", (rows, N_FEATURES)), data.open(target, rows))
    np.testing.assert_allclose(unbalanced.coef_, balanced.coef_, rtol=1e-10, atol=0)
    np.testing.assert_allclose(unbalanced.intercept_, balanced.intercept_, rtol=1e-10, atol=0)


@pytest.mark.parametrize("target", ["y", "y_binary"])
def test_column_chunks_and_misaligned_y_are_realigned(client, data, fitted, target):
    X = data.open("X", (300, 3))
    assert X.numblocks == (7, 3)
    y = data.open(target, 700)
    split = _refit(fitted[target], X, y)
    np.testing.assert_allclose(split.coef_, fitted[target].coef_, rtol=1e-10, atol=0)
    np.testing.assert_allclose(split.intercept_, fitted[target].intercept_, rtol=1e-10, atol=0)


# ---- dask DataFrame input ----


def test_dask_dataframe_with_unknown_partition_lengths(client: Client, data: Data):
    columns = [f"feature_{i}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(data.np["X"], columns=columns)
    ddf = dd.from_pandas(frame, npartitions=5).clear_divisions()
    # The premise: dask does not know how many rows each partition holds.
    assert not ddf.known_divisions
    assert np.isnan(ddf.to_dask_array().chunks[0]).all()
    target = dd.from_pandas(pd.Series(data.np["y"], name="y"), npartitions=5).clear_divisions()
    labels = dd.from_pandas(pd.Series(data.np["y_binary"]), npartitions=3).clear_divisions()

    regressor = Ridge(ALPHA, solver="normal").fit(ddf, target)
    np.testing.assert_array_equal(regressor.feature_names_in_, columns)
    assert regressor.n_features_in_ == N_FEATURES
    assert_same_fit(regressor, sk.Ridge(ALPHA, solver="cholesky").fit(frame, data.np["y"]))

    classifier = LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL).fit(ddf, labels)
    np.testing.assert_array_equal(classifier.feature_names_in_, columns)
    assert_same_fit(classifier, _sklearn_logistic().fit(frame, data.np["y_binary"]))
    np.testing.assert_array_equal(np.asarray(classifier.predict(ddf)), classifier.predict(frame))

    # One counted pass finds the lengths of X and y together; then the fit's own passes.
    assert regressor.n_passes_ == 1 + 1  # and the Gram pass
    known = LogisticRegression(C=C, solver="newton", tol=TIGHT_TOL).fit(
        da.from_array(data.np["X"], chunks=40), da.from_array(data.np["y_binary"], chunks=40)
    )
    assert classifier.n_passes_ == known.n_passes_ + 1
    sgd_known = SGDClassifier(max_iter=2, tol=None, random_state=0).fit(
        da.from_array(data.np["X"], chunks=40), da.from_array(data.np["y_binary"], chunks=40)
    )
    sgd = SGDClassifier(max_iter=2, tol=None, random_state=0).fit(ddf, labels)
    assert sgd.n_passes_ == sgd_known.n_passes_ + 1


# ---- predictions stay lazy, keep the row chunks, and equal the NumPy ones ----


def _forbid_compute(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a prediction on dask input computed something eagerly")


@pytest.mark.parametrize("target", ["y", "y2", "y_binary", "y_multi"])
def test_predictions_are_lazy_and_match_numpy(client, data, fitted, target):
    model = fitted[target]
    if target.startswith("y_"):
        methods = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    else:
        methods = ["predict"]
    rows = (100, 250, 1, 349)
    X_numpy = data.np["X"][:700]
    for columns in [(N_FEATURES,), (3, 5)]:
        X = data.open("X", ((*rows, N_SAMPLES - sum(rows)), columns))[:700]
        with dask.config.set(scheduler=_forbid_compute):
            lazy = [getattr(model, method)(X) for method in methods]
        for method, result, computed in zip(methods, lazy, dask.compute(*lazy), strict=True):
            expected = getattr(model, method)(X_numpy)
            assert isinstance(result, da.Array), method
            assert result.chunks[0] == rows, method
            assert result.shape == expected.shape, method
            assert result.dtype == expected.dtype, method
            if method == "predict" and target.startswith("y_"):
                np.testing.assert_array_equal(computed, expected)
            else:
                np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-14)


# ---- fitted estimators: pickling, diagnostics ----


def test_pickled_estimator_predicts_without_a_cluster(data: Data, fitted: dict[str, Any]):
    with pytest.raises(ValueError):
        default_client()  # the fixture's client is closed: nothing below may need one
    X = data.np["X"]
    for target in ["y", "y_multi"]:
        model = fitted[target]
        payload = pickle.dumps(model)
        # No dask collection, client or future was kept on the fitted model.
        assert b"distributed" not in payload
        assert b"dask.array" not in payload
        restored = pickle.loads(payload)
        predicted = restored.predict(X)
        assert isinstance(predicted, np.ndarray)
        np.testing.assert_array_equal(predicted, model.predict(X))
        np.testing.assert_array_equal(restored.coef_, model.coef_)
        np.testing.assert_array_equal(restored.intercept_, model.intercept_)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(fitted["y_multi"])).predict_proba(X),
        fitted["y_multi"].predict_proba(X),
    )


def test_fit_diagnostics(data: Data, fitted: dict[str, Any]):
    X = data.np["X"]
    # The normal equations: one pass, one iteration, the objective at the solution.
    regressor = fitted["y"]
    assert regressor.solver_ == "normal"
    assert regressor.n_passes_ == 1
    assert regressor.n_iter_ == 1
    assert regressor.loss_curve_.shape == (1,)
    residual = data.np["y"] - regressor.predict(X)
    np.testing.assert_allclose(regressor.loss_curve_[0], 0.5 * np.mean(residual**2), rtol=1e-9)

    # Newton: one record per iteration, decreasing, ending at the penalised mean log-loss;
    # a pass for the start and at least one per step.
    for target in ["y_binary", "y_multi"]:
        classifier = fitted[target]
        n_iter = int(classifier.n_iter_[0])
        curve = classifier.loss_curve_
        assert 1 <= n_iter <= 20
        assert curve.shape == (n_iter,)
        assert classifier.n_passes_ >= n_iter + 1
        assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[:-1]))
        penalty = 0.5 * np.sum(classifier.coef_**2) / (C * N_SAMPLES)
        objective = log_loss(data.np[target], classifier.predict_proba(X)) + penalty
        np.testing.assert_allclose(curve[-1], objective, rtol=1e-9)


# ---- no distributed client: dask's default (threaded) scheduler ----


class _TaskCounter(Callback):
    """Counts the tasks that dask's local schedulers run (the distributed one never calls it)."""

    def __init__(self) -> None:
        super().__init__()
        self.n_tasks = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self.n_tasks += 1


@pytest.mark.parametrize(
    ("name", "solver"),
    [
        ("Ridge", "normal"),
        ("Ridge", "lbfgs"),
        ("Ridge", "newton"),
        ("Ridge", "gd"),
        ("LogisticRegression", "lbfgs"),
        ("LogisticRegression", "newton"),
        ("LogisticRegression", "gd"),
    ],
)
def test_fit_without_distributed_client_matches_sklearn(data: Data, name: str, solver: str):
    with pytest.raises(ValueError):
        default_client()
    # Every solver to the tight tolerance, gd included: a pass is cheap here, and on these
    # problems (condition number below 2.1) accelerated gradient descent needs a few dozen
    # iterations for it, so 200 is generous.
    if name == "Ridge":
        ours: Any = Ridge(ALPHA, solver=solver, tol=TIGHT_TOL, max_iter=200)
        reference: Any = sk.Ridge(ALPHA, solver="cholesky")
        target = "y"
    else:
        ours = LogisticRegression(C=C, solver=solver, tol=TIGHT_TOL, max_iter=200)
        reference = _sklearn_logistic()
        target = "y_binary"
    counter = _TaskCounter()
    with counter:
        ours.fit(data.da["X"], data.da[target])
    assert counter.n_tasks >= N_SAMPLES // CHUNK  # the local scheduler did the work
    reference.fit(data.np["X"], data.np[target])
    assert_same_fit(ours, reference)


# ---- caching does not change the arithmetic ----


def test_cache_does_not_change_the_result(client: Client, data: Data):
    def fit(cache: bool) -> Ridge:
        model = Ridge(ALPHA, solver="lbfgs", tol=TIGHT_TOL, cache=cache)
        return model.fit(data.da["X"], data.da["y"])

    cached, streamed = fit(True), fit(False)
    # The reduction order is fixed, so the same chunks give the same bits.
    assert np.array_equal(cached.coef_, streamed.coef_)
    assert cached.intercept_ == streamed.intercept_
    assert cached.n_passes_ == streamed.n_passes_
