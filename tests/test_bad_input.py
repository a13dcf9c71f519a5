"""Bad input fails early with scikit-learn's errors; with dask, nothing is computed twice.

Each estimator, with NumPy and with dask input, in fit and in predict: the
exception type and a message fragment that says what to do. With dask, the
checks of values run inside chunk tasks the fit runs anyway, the errors name
the array, the chunk and the first bad row, and the same cluster fits normally
afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import NotFittedError

from daskgd import (
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)

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


# ---- the matrix: every estimator x {NumPy, dask} x every kind of bad input ----

X_SMALL = RNG.normal(size=(60, 3))
Y_SMALL = {
    "regression": X_SMALL @ np.array([1.0, -2.0, 0.5]) + 0.1 * RNG.normal(size=60),
    "classification": (X_SMALL[:, 0] + 0.3 * RNG.normal(size=60) > 0).astype(int),
    "counts": RNG.poisson(np.exp(X_SMALL @ np.array([0.3, -0.2, 0.1]))).astype(float),
}
ROW_CHUNK = 20
MAKERS: dict[str, Callable[[], Any]] = {
    "LinearRegression": LinearRegression,
    "Ridge": Ridge,
    "LogisticRegression": LogisticRegression,
    "LinearSVC": LinearSVC,
    "SGDClassifier": lambda: SGDClassifier(max_iter=2, tol=None, random_state=0),
    "SGDRegressor": lambda: SGDRegressor(max_iter=2, tol=None, random_state=0),
    "PoissonRegressor": PoissonRegressor,
}
CLASSIFIERS = {"LogisticRegression", "LinearSVC", "SGDClassifier"}


def target(name: str) -> np.ndarray:
    if name == "PoissonRegressor":
        return Y_SMALL["counts"]
    return Y_SMALL["classification" if name in CLASSIFIERS else "regression"]


def as_input(array: Any, kind: str, chunks: Any = ROW_CHUNK) -> Any:
    """NumPy as is; dask chunked along rows only (unless ``chunks`` says otherwise)."""
    if kind == "numpy" or array is None:
        return array
    if isinstance(chunks, int):
        chunks = (chunks,) + (-1,) * (np.ndim(array) - 1)
    return da.from_array(array, chunks=chunks)


def replaced(array: np.ndarray, index: Any, value: Any) -> np.ndarray:
    result = np.array(array, dtype=np.result_type(array, value))
    result[index] = value
    return result


def assert_cluster_fits(name: str) -> None:
    """The same cluster runs the next fit normally."""
    model = MAKERS[name]().fit(as_input(X_SMALL, "dask"), as_input(target(name), "dask"))
    assert np.all(np.isfinite(model.coef_))


Arrays = tuple[Any, Any, Any]


@dataclass(frozen=True)
class Case:
    """A bad fit input: ``make(X, y)`` gives ``(X, y, sample_weight)``; the expected error."""

    make: Callable[[np.ndarray, np.ndarray], Arrays]
    numpy: str | None  # message fragment (regex) with NumPy input; None: no NumPy case
    dask: str | None  # with dask input
    classifiers_only: bool = False


FIT_CASES = {
    "nan-X": Case(
        lambda X, y: (replaced(X, (37, 1), np.nan), y, None),
        r"Input X contains NaN",
        r"Input X contains NaN or infinity in chunk 1 at row 37 \(row 17 of the chunk\)",
    ),
    "inf-y": Case(
        lambda X, y: (X, replaced(y, 45, np.inf), None),
        r"Input y contains infinity",
        r"Input y contains NaN or infinity in chunk 2 at row 45",
    ),
    "nan-weight": Case(
        lambda X, y: (X, y, replaced(np.ones(60), 12, np.nan)),
        r"Input sample_weight contains NaN",
        r"Input sample_weight contains NaN or infinity in chunk 0 at row 12",
    ),
    "0-rows": Case(
        lambda X, y: (X[:0], y[:0], None),
        r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1 is required",
        r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1 is required",
    ),
    "0-features": Case(
        lambda X, y: (X[:, :0], y, None),
        r"Found array with 0 feature\(s\) \(shape=\(60, 0\)\) while a minimum of 1 is",
        r"Found array with 0 feature\(s\) \(shape=\(60, 0\)\) while a minimum of 1 is",
    ),
    "1d-X": Case(
        lambda X, y: (X[:, 0], y, None),
        r"Expected 2D array, got 1D array instead",
        r"Expected 2D array, got 1D array instead.*reshape\(-1, 1\)",
    ),
    "3d-X": Case(
        lambda X, y: (X[:, :, np.newaxis], y, None),
        r"Found array with dim 3",
        r"Found array with dim 3.*Reshape it to \(n_samples, n_features\)",
    ),
    "y-too-short": Case(
        lambda X, y: (X, y[:59], None),
        r"inconsistent numbers of samples: \[60, 59\]",
        r"inconsistent numbers of samples: X has 60 rows, y has 59",
    ),
    "complex-X": Case(
        lambda X, y: (X + 1j, y, None),
        r"Complex data not supported",
        r"Complex data not supported: X has dtype complex128",
    ),
    "string-X": Case(
        lambda X, y: (np.full(X.shape, "a"), y, None),
        r"could not convert string to float",
        r"X has dtype <U1, but daskgd needs numeric data: encode strings",
    ),
    # NumPy object and datetime arrays are converted to float, as scikit-learn does.
    "object-X": Case(
        lambda X, y: (X.astype(object), y, None),
        None,
        r"X has dtype object, but daskgd needs numeric data: .*X.astype\(float\)",
    ),
    "datetime-X": Case(
        lambda X, y: (np.zeros(X.shape, dtype="datetime64[s]"), y, None),
        None,
        r"X has dtype datetime64\[s\], but daskgd needs numeric data: convert dates",
    ),
    "complex-y": Case(
        lambda X, y: (X, y + 1j, None),
        r"Complex data not supported",
        r"Complex data not supported: y has dtype complex128",
    ),
    "continuous-y": Case(
        lambda X, y: (X, Y_SMALL["regression"], None),
        r"Unknown label type: continuous",
        r"Unknown label type: continuous. \w+ needs class labels; use \w+",
        classifiers_only=True,
    ),
    "one-class": Case(
        lambda X, y: (X, np.zeros(60, dtype=int), None),
        r"(only one|1) class",
        r"(only one|1) class",
        classifiers_only=True,
    ),
    "weight-too-short": Case(
        lambda X, y: (X, y, np.ones(59)),
        r"sample_weight.shape == \(59,\), expected \(60,\)",
        r"inconsistent numbers of samples: X has 60 rows, sample_weight has 59",
    ),
    "negative-weight": Case(
        lambda X, y: (X, y, replaced(np.ones(60), 50, -1.0)),
        r"Negative values in data passed to `sample_weight`",
        r"Negative values in data passed to `sample_weight`: chunk 2 at row 50",
    ),
    "zero-weights": Case(
        lambda X, y: (X, y, np.zeros(60)),
        r"Sample weights must contain at least one non-zero number",
        r"Sample weights must contain at least one",
    ),
}


def fit_params() -> list[Any]:
    params = []
    for case_name, case in FIT_CASES.items():
        for name in MAKERS:
            if case.classifiers_only and name not in CLASSIFIERS:
                continue
            for kind in ("numpy", "dask"):
                if getattr(case, kind) is not None:
                    params.append(
                        pytest.param(name, case_name, kind, id=f"{case_name}-{name}-{kind}")
                    )
    return params


@pytest.mark.parametrize(("name", "case_name", "kind"), fit_params())
def test_bad_fit_input(request, name, case_name, kind):
    case = FIT_CASES[case_name]
    X, y, sample_weight = case.make(X_SMALL, target(name))
    if kind == "dask":
        request.getfixturevalue("client")
    with pytest.raises(ValueError, match=getattr(case, kind)):
        MAKERS[name]().fit(
            as_input(X, kind), as_input(y, kind), sample_weight=as_input(sample_weight, kind)
        )
    if kind == "dask":
        assert_cluster_fits(name)


# Inputs that are fine: dask chunks are merged or realigned lazily, and the fit equals
# the fit on regularly chunked data.
GOOD_CHUNKINGS = {
    "zero-length-chunks": ((20, 0, 20, 0, 20), (20, 0, 20, 0, 20)),
    "y-chunks-misaligned": ((20, 20, 20), (15, 15, 30)),
    "X-chunked-along-columns": (((20, 20, 20), (2, 1)), (20, 20, 20)),
}


@pytest.mark.parametrize("chunking", GOOD_CHUNKINGS)
@pytest.mark.parametrize("name", MAKERS)
def test_awkward_chunks_fit_as_regular_chunks(client, name, chunking):
    X_chunks, y_chunks = GOOD_CHUNKINGS[chunking]
    if not isinstance(X_chunks[0], tuple):
        X_chunks = (X_chunks, (3,))
    y = target(name)
    weights = RNG.uniform(0.5, 2.0, size=60)
    awkward = MAKERS[name]().fit(
        da.from_array(X_SMALL, chunks=X_chunks),
        da.from_array(y, chunks=y_chunks),
        sample_weight=da.from_array(weights, chunks=y_chunks),
    )
    regular = MAKERS[name]().fit(
        as_input(X_SMALL, "dask"), as_input(y, "dask"), sample_weight=as_input(weights, "dask")
    )
    assert_allclose(awkward.coef_, regular.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(awkward.intercept_, regular.intercept_, rtol=1e-12, atol=1e-14)
    predicted = awkward.predict(da.from_array(X_SMALL, chunks=X_chunks)).compute()
    assert_allclose(predicted, regular.predict(X_SMALL))


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    """Each estimator fitted on NumPy data (predictions take dask input all the same)."""
    return {name: make().fit(X_SMALL, target(name)) for name, make in MAKERS.items()}


PREDICT_CASES = {
    "nan-X": (
        replaced(X_SMALL, (37, 1), np.nan),
        r"Input X contains NaN",
        r"Input X contains NaN or infinity in chunk 1 at row 37",
    ),
    "other-n-features": (
        X_SMALL[:, :2],
        r"X has 2 features, but \w+ is expecting 3 features as input",
        r"X has 2 features, but \w+ is expecting 3 features as input",
    ),
    "0-rows": (X_SMALL[:0], r"Found array with 0 sample\(s\)", r"Found array with 0 sample\(s\)"),
    "1d-X": (X_SMALL[:, 0], r"Expected 2D array, got 1D array", r"Expected 2D array, got 1D"),
    "3d-X": (X_SMALL[:, :, np.newaxis], r"Found array with dim 3", r"Found array with dim 3"),
    "complex-X": (X_SMALL + 1j, r"Complex data not supported", r"Complex data not supported"),
}


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("case_name", PREDICT_CASES)
@pytest.mark.parametrize("name", MAKERS)
def test_bad_predict_input(request, fitted, name, case_name, kind):
    X, numpy_fragment, dask_fragment = PREDICT_CASES[case_name]
    if kind == "dask":
        request.getfixturevalue("client")
    with pytest.raises(ValueError, match=numpy_fragment if kind == "numpy" else dask_fragment):
        predicted = fitted[name].predict(as_input(X, kind))
        if kind == "dask":
            predicted.compute()  # values are checked inside the prediction's own tasks
    if kind == "dask":
        assert_cluster_fits(name)


@pytest.mark.parametrize("failed_fit", [False, True], ids=["fresh", "after-failed-fit"])
@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("name", MAKERS)
def test_unfitted_estimator_says_to_fit(request, name, kind, failed_fit):
    if kind == "dask":
        request.getfixturevalue("client")
    model = MAKERS[name]()
    if failed_fit:  # X and y pass validation (n_features_in_ is set), the weights do not
        with pytest.raises(ValueError, match="Sample weights must contain at least one"):
            model.fit(
                as_input(X_SMALL, kind),
                as_input(target(name), kind),
                sample_weight=as_input(np.zeros(60), kind),
            )
    with pytest.raises(NotFittedError, match=r"is not fitted yet. Call 'fit'"):
        model.predict(as_input(X_SMALL, kind))


@pytest.mark.parametrize("name", ["SGDClassifier", "SGDRegressor"])
def test_partial_fit_with_other_n_features(client, name):
    model = MAKERS[name]()
    classes = {"classes": [0, 1]} if name in CLASSIFIERS else {}
    model.partial_fit(as_input(X_SMALL, "dask"), as_input(target(name), "dask"), **classes)
    with pytest.raises(ValueError, match=r"X has 2 features, but \w+ is expecting 3 features"):
        model.partial_fit(as_input(X_SMALL[:, :2], "dask"), as_input(target(name), "dask"))
