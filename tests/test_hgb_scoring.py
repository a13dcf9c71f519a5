"""Early stopping on a scorer other than the loss (``scoring=``), as scikit-learn's HGB does.

A scorer scores up to 10,000 training rows and every held-out row. They are
gathered once (one pass) and the client adds each tree to their raw
predictions, so scoring costs no pass per iteration. The checks below compare
with what the scorers compute on the fitted models, and with the loss's scores
on the same held-out rows.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import accuracy_score, get_scorer, r2_score

from daskgd import HistGradientBoostingClassifier, HistGradientBoostingRegressor

N_ROWS = 6_000  # below the 10,000 training rows a scorer scores: it scores every one
CHUNKS = 1_000


@pytest.fixture(scope="module")
def classification() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=N_ROWS, n_features=8, n_informative=5, flip_y=0.1, random_state=0
    )
    return X, np.where(y == 1, "yes", "no")  # labels that are not 0 and 1


@pytest.fixture(scope="module")
def regression() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(n_samples=N_ROWS, n_features=8, noise=20.0, random_state=0)


def _on_dask(X, y, weight=None):
    chunked = [da.from_array(X, chunks=(CHUNKS, X.shape[1])), da.from_array(y, chunks=CHUNKS)]
    if weight is not None:
        chunked.append(da.from_array(weight, chunks=CHUNKS))
    return chunked


def _model(cls, max_iter, **params):
    defaults = {"max_leaf_nodes": 7, "n_iter_no_change": 100, "random_state": 0}
    return cls(max_iter=max_iter, early_stopping=True, **{**defaults, **params})


def test_train_scores_are_the_scorer_on_every_training_row(client: Client, classification):
    """Without held-out rows, and fewer than 10,000 rows, the train score of iteration k
    is the scorer on all rows of the model with k trees (the same trees on NumPy)."""
    X, y = classification
    params = {"scoring": "accuracy", "validation_fraction": None}
    model = _model(HistGradientBoostingClassifier, 4, **params).fit(*_on_dask(X, y))
    assert model.validation_score_.size == 0
    assert model.train_score_.shape == (5,)  # before the first tree, then after each
    for k in (1, 2, 4):
        staged = _model(HistGradientBoostingClassifier, k, **params).fit(X, y)
        expected = accuracy_score(y, staged.predict(X))
        assert model.train_score_[k] == pytest.approx(expected, abs=1e-12)
    # None is the estimator's score: accuracy, here.
    default = _model(HistGradientBoostingClassifier, 4, scoring=None, validation_fraction=None)
    np.testing.assert_allclose(default.fit(X, y).train_score_, model.train_score_, atol=1e-12)


def test_neg_log_loss_scores_the_loss_on_the_same_held_out_rows(client: Client, classification):
    """The log-loss scorer and the loss score the same rows: their scores agree."""
    X, y = classification
    weight = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    data = _on_dask(X, y, weight)
    by_loss = _model(HistGradientBoostingClassifier, 6, validation_fraction=0.2).fit(*data)
    by_scorer = _model(
        HistGradientBoostingClassifier, 6, validation_fraction=0.2, scoring="neg_log_loss"
    ).fit(*data)
    np.testing.assert_allclose(by_scorer.validation_score_, by_loss.validation_score_, rtol=1e-10)
    np.testing.assert_allclose(by_scorer.train_score_, by_loss.train_score_, rtol=1e-10)
    # The same trees; the scorer's rows are gathered once, then scored on the client.
    np.testing.assert_array_equal(by_scorer.predict_proba(X), by_loss.predict_proba(X))
    assert by_scorer.n_passes_ == by_loss.n_passes_ - by_loss.n_iter_


def test_regressor_scorers_on_held_out_rows(client: Client, regression):
    X, y = regression
    data = _on_dask(X, y)
    by_loss = _model(HistGradientBoostingRegressor, 5, validation_fraction=0.25).fit(*data)
    # HGB's squared error is half the squared error: the MSE scorer scores twice the loss.
    by_mse = _model(
        HistGradientBoostingRegressor, 5, validation_fraction=0.25, scoring="neg_mean_squared_error"
    ).fit(*data)
    np.testing.assert_allclose(by_mse.validation_score_, 2 * by_loss.validation_score_, rtol=1e-10)
    # The default scorer (R^2) on the training rows: all of them, here.
    by_r2 = _model(HistGradientBoostingRegressor, 5, scoring=None, validation_fraction=None)
    by_r2.fit(X, y)
    assert by_r2.train_score_[-1] == pytest.approx(r2_score(y, by_r2.predict(X)), abs=1e-12)


def _should_stop(scores: np.ndarray, n_iter_no_change: int, tol: float) -> bool:
    """scikit-learn's rule: no score of the last ``n_iter_no_change`` beats the one
    before them by more than ``tol``."""
    if len(scores) < n_iter_no_change + 1:
        return False
    reference = scores[-(n_iter_no_change + 1)] + tol
    return not any(score > reference for score in scores[-n_iter_no_change:])


def test_early_stopping_follows_the_scorer(classification):
    X, y = classification
    model = HistGradientBoostingClassifier(
        max_iter=100,
        early_stopping=True,
        scoring="roc_auc",
        n_iter_no_change=3,
        tol=0.0,
        learning_rate=0.5,
        random_state=0,
    ).fit(X, y)
    scores = model.validation_score_
    assert model.n_iter_ < 100
    assert len(scores) == model.n_iter_ + 1
    assert _should_stop(scores, 3, 0.0)
    assert not any(_should_stop(scores[:end], 3, 0.0) for end in range(1, len(scores)))


def test_numpy_input_and_a_callable_scorer(classification):
    X, y = classification
    scorer = get_scorer("balanced_accuracy")
    model = _model(HistGradientBoostingClassifier, 3, scoring=scorer, validation_fraction=None)
    model.fit(X, y)
    assert model.train_score_[-1] == pytest.approx(scorer(model, X, y), abs=1e-12)
