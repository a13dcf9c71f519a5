"""Boosted trees on dask arrays: the same model as on NumPy, lazy predictions, clear errors."""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier as SkClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as SkRegressor

from daskgd import HistGradientBoostingClassifier, HistGradientBoostingRegressor

N_ROWS = 3000
CHUNKS = 700  # uneven: the last chunk is shorter
PARAMS = {"max_iter": 5, "max_leaf_nodes": 15, "early_stopping": False}


@pytest.fixture(scope="module")
def regression() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(N_ROWS, 6, noise=5.0, random_state=0)
    X[::9, 3] = np.nan
    return X, y


@pytest.fixture(scope="module")
def classification() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(N_ROWS, 6, n_informative=4, n_classes=3, random_state=1)
    X[::7, 0] = np.nan
    return X, np.asarray(["ant", "bee", "cat"], dtype=object)[y]


@pytest.mark.parametrize("cache", ["auto", False], ids=["kept", "streamed"])
def test_regressor_on_dask_equals_scikit_learn(client: Client, regression, cache):
    X, y = regression
    ours = HistGradientBoostingRegressor(cache=cache, **PARAMS).fit(
        da.from_array(X, chunks=CHUNKS), da.from_array(y, chunks=CHUNKS)
    )
    theirs = SkRegressor(**PARAMS).fit(X, y)
    predicted = ours.predict(da.from_array(X, chunks=CHUNKS))
    assert isinstance(predicted, da.Array)
    assert predicted.chunks[0] == da.from_array(X, chunks=CHUNKS).chunks[0]
    np.testing.assert_allclose(predicted.compute(), theirs.predict(X), rtol=1e-9, atol=1e-8)
    # The sample pass, then per iteration one histogram pass per level of growth.
    assert ours.n_passes_ > 1 + ours.n_iter_
    per_tree = (ours.n_passes_ - 1) / ours.n_iter_
    deepest = max(trees[0].depth() for trees in ours._predictor.trees)
    assert per_tree <= deepest + 2


@pytest.mark.parametrize("loss", ["absolute_error", "quantile"])
def test_percentile_losses_on_dask_equal_scikit_learn(client: Client, regression, loss):
    X, y = regression
    params = {**PARAMS, "loss": loss, "quantile": 0.3 if loss == "quantile" else None}
    ours = HistGradientBoostingRegressor(**params).fit(
        da.from_array(X, chunks=CHUNKS), da.from_array(y, chunks=CHUNKS)
    )
    theirs = SkRegressor(**params).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_classifier_on_dask_equals_numpy_and_scikit_learn(client: Client, classification):
    X, y = classification
    dask_X = da.from_array(X, chunks=CHUNKS)
    ours = HistGradientBoostingClassifier(**PARAMS).fit(dask_X, da.from_array(y, chunks=CHUNKS))
    in_memory = HistGradientBoostingClassifier(**PARAMS).fit(X, y)
    theirs = SkClassifier(**PARAMS).fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    proba = ours.predict_proba(dask_X)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), theirs.predict_proba(X), atol=1e-10)
    np.testing.assert_allclose(in_memory.predict_proba(X), theirs.predict_proba(X), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(dask_X).compute(), theirs.predict(X))
    restored = pickle.loads(pickle.dumps(ours))
    np.testing.assert_array_equal(restored.predict(X), ours.predict(X))


def test_the_same_model_whatever_the_chunking(client: Client, regression):
    X, y = regression
    fits = [
        HistGradientBoostingRegressor(**PARAMS).fit(
            da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks)
        )
        for chunks in (N_ROWS, 500, 1100)
    ]
    reference = fits[0].predict(X)
    for fit in fits[1:]:
        # Histogram sums differ only in rounding, which decides no split here.
        np.testing.assert_allclose(fit.predict(X), reference, rtol=1e-9, atol=1e-8)


def test_early_stopping_holds_rows_out_of_every_chunk(client: Client):
    X, y = make_regression(4000, 4, noise=20.0, random_state=2)
    params = {
        "early_stopping": True,
        "learning_rate": 0.3,
        "max_iter": 100,
        "max_leaf_nodes": 7,
        "n_iter_no_change": 2,
        "tol": 5.0,  # in units of the squared error: stop once the gains are small
        "random_state": 0,
    }
    model = HistGradientBoostingRegressor(**params)
    model.fit(da.from_array(X, chunks=1000), da.from_array(y, chunks=1000))
    in_memory = HistGradientBoostingRegressor(**params).fit(X, y)
    assert model.do_early_stopping_
    assert model.n_iter_ < 100
    last = model.validation_score_[-3:]
    assert not any(score > last[0] + model.tol for score in last[1:])
    assert len(model.validation_score_) == model.n_iter_ + 1
    # Another chunking holds out other rows; the fit is as good.
    assert abs(model.score(X, y) - in_memory.score(X, y)) < 0.01


def test_infinity_in_X_names_the_chunk_and_row(client: Client, regression):
    X, y = regression
    X = X.copy()
    X[1500, 2] = np.inf
    with pytest.raises(ValueError, match=r"infinity in chunk 2 at row 1500 \(row 100"):
        HistGradientBoostingRegressor(**PARAMS).fit(
            da.from_array(X, chunks=CHUNKS), da.from_array(y, chunks=CHUNKS)
        )


def test_nan_in_y_names_the_chunk_and_row(client: Client, regression):
    X, y = regression
    y = y.copy()
    y[10] = np.nan
    with pytest.raises(ValueError, match=r"Input y contains NaN or infinity in chunk 0 at row 10"):
        HistGradientBoostingRegressor(**PARAMS).fit(
            da.from_array(X, chunks=CHUNKS), da.from_array(y, chunks=CHUNKS)
        )


def test_a_continuous_target_or_one_class_is_refused(client: Client, regression):
    X, y = regression
    dask_X = da.from_array(X, chunks=CHUNKS)
    with pytest.raises(ValueError, match="Unknown label type"):
        HistGradientBoostingClassifier(**PARAMS).fit(dask_X, da.from_array(y, chunks=CHUNKS))
    with pytest.raises(ValueError, match="only one class"):
        HistGradientBoostingClassifier(**PARAMS).fit(
            dask_X, da.from_array(np.zeros(N_ROWS), chunks=CHUNKS)
        )


def test_predict_with_the_wrong_number_of_features(client: Client, regression):
    X, y = regression
    model = HistGradientBoostingRegressor(**PARAMS).fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features"):
        model.predict(da.from_array(X[:, :5], chunks=CHUNKS))


def test_parameters_not_supported_yet_are_refused_not_ignored(regression):
    X, y = regression
    with pytest.raises(NotImplementedError, match="interaction_cst"):
        HistGradientBoostingRegressor(interaction_cst=[{0, 1}]).fit(X, y)


# ---- checkpoints ----


class Interrupt(Exception):
    """Raised by a callback to stop a fit."""


def _interrupt_at(iteration: int):
    def callback(record):
        if record["iteration"] == iteration:
            raise Interrupt(iteration)

    return callback


def _assert_same_trees(resumed, reference, X):
    np.testing.assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))
    assert resumed.n_iter_ == reference.n_iter_
    assert resumed.n_passes_ == reference.n_passes_
    np.testing.assert_array_equal(resumed.train_score_, reference.train_score_)
    np.testing.assert_array_equal(resumed.validation_score_, reference.validation_score_)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_an_interrupted_fit_resumes_to_the_same_trees(
    client, classification, tmp_path, early_stopping
):
    X, y = classification
    dask_X, dask_y = da.from_array(X, chunks=CHUNKS), da.from_array(y, chunks=CHUNKS)
    params = {
        "max_iter": 5,
        "max_leaf_nodes": 7,
        "max_features": 0.7,  # the features' generator is part of the state
        "early_stopping": early_stopping,
        "random_state": 0,
    }
    reference = HistGradientBoostingClassifier(**params).fit(dask_X, dask_y)
    path = tmp_path / "trees.ckpt"
    interrupted = HistGradientBoostingClassifier(
        **params, checkpoint=path, checkpoint_every=2, callback=_interrupt_at(4)
    )
    with pytest.raises(Interrupt):
        interrupted.fit(dask_X, dask_y)
    resumed = HistGradientBoostingClassifier(**params, checkpoint=path).fit(dask_X, dask_y)
    _assert_same_trees(resumed, reference, X)
    # A checkpoint of other parameters is refused, naming the difference.
    with pytest.raises(ValueError, match="learning_rate"):
        HistGradientBoostingClassifier(**params, learning_rate=0.5, checkpoint=path).fit(
            dask_X, dask_y
        )


KILLED_FIT_SCRIPT = """
import sys, time
import dask.array as da
import numpy as np
from distributed import Client
from daskgd import HistGradientBoostingRegressor

address, data, checkpoint = sys.argv[1:4]
with Client(address):
    X, y = np.load(data + "/X.npy"), np.load(data + "/y.npy")
    HistGradientBoostingRegressor(
        max_iter=12, max_leaf_nodes=7, early_stopping=False, checkpoint=checkpoint,
        checkpoint_every=1,
        callback=lambda record: time.sleep(0.3),  # slow, so the parent kills it mid-fit
    ).fit(da.from_array(X, chunks=700), da.from_array(y, chunks=700))
print("finished")
"""


def test_a_killed_fitting_process_resumes_to_the_same_trees(client, cluster, regression, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from daskgd.checkpoint import MAGIC

    X, y = regression
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    checkpoint = tmp_path / "fit.ckpt"
    script = tmp_path / "fit_script.py"
    script.write_text(KILLED_FIT_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), cluster.scheduler_address, str(tmp_path), str(checkpoint)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    written = 0
    try:
        deadline = time.monotonic() + 120
        while written < 3:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint written in 120 s"
            if checkpoint.exists():
                with open(checkpoint, "rb") as handle:
                    assert handle.read(len(MAGIC)) == MAGIC
                    handle.readline()
                    written = len(pickle.load(handle)["predictors"])
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    params = {"max_iter": 12, "max_leaf_nodes": 7, "early_stopping": False}
    dask_X, dask_y = da.from_array(X, chunks=700), da.from_array(y, chunks=700)
    reference = HistGradientBoostingRegressor(**params).fit(dask_X, dask_y)
    resumed = HistGradientBoostingRegressor(**params, checkpoint=checkpoint).fit(dask_X, dask_y)
    assert reference.n_iter_ > written  # it was killed mid-fit
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))
    assert resumed.n_passes_ == reference.n_passes_
