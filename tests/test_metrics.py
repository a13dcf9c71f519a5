"""Metric sums (``daskgd.metrics``) and ``daskgd.evaluation.evaluate`` against scikit-learn.

The block functions are checked with NumPy on uneven chunks merged in order (the
engine's combine), then ``evaluate`` on dask arrays on the shared cluster, once
per kind of model: probabilities, decision values only, and trees with NaN.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client
from numpy.testing import assert_allclose
from scipy.special import expit
from sklearn import metrics as sk
from sklearn.base import is_classifier
from sklearn.datasets import make_classification, make_regression

import daskgd
from daskgd.evaluation import evaluate
from daskgd.metrics import (
    AUC_BINS,
    AUC_LOGIT_RANGE,
    classification_metrics,
    classification_partial,
    histogram_auc,
    regression_metrics,
    regression_partial,
    score_bins,
)

#: Uneven chunk boundaries, one of them empty.
BOUNDS = [0, 7, 7, 130, 400, 1000]
#: ROC AUC from histograms counts a pair in one bin as half: on smooth scores the
#: difference from the exact AUC is far below this (seen: 1e-6).
AUC_TOL = 1e-4


def merged(partials: list) -> object:
    total = partials[0]
    for part in partials[1:]:
        total = total.merge(part)
    return total


def chunked(function, *arrays) -> object:
    return merged(
        [function(*(a[lo:hi] for a in arrays)) for lo, hi in zip(BOUNDS, BOUNDS[1:], strict=False)]
    )


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_equal_scikit_learn(outputs: int, weighted: bool) -> None:
    rng = np.random.default_rng(0)
    # A large offset: R^2 from raw sums of squares would cancel here.
    y = rng.standard_normal((1000, outputs)) + 1e6
    prediction = y + rng.standard_normal((1000, outputs)) * 0.5
    weight = rng.uniform(0, 2, 1000) if weighted else np.ones(1000)
    metrics = regression_metrics(chunked(regression_partial, y, prediction, weight))
    assert metrics["r2"] == pytest.approx(sk.r2_score(y, prediction, sample_weight=weight))
    assert metrics["mse"] == pytest.approx(
        sk.mean_squared_error(y, prediction, sample_weight=weight), rel=1e-12
    )
    assert metrics["mae"] == pytest.approx(
        sk.mean_absolute_error(y, prediction, sample_weight=weight), rel=1e-12
    )
    assert metrics["weight_sum"] == pytest.approx(weight.sum())


def test_constant_target_scores_as_scikit_learn() -> None:
    y = np.full(50, 3.0)
    for prediction in (y, y + 1):
        metrics = regression_metrics(regression_partial(y, prediction))
        assert metrics["r2"] == sk.r2_score(y, prediction)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_classification_metrics_equal_scikit_learn(n_classes: int, weighted: bool) -> None:
    rng = np.random.default_rng(1)
    classes = np.array(["cat", "dog", "eel"][:n_classes])
    logits = rng.standard_normal((1000, n_classes)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = classes[(logits + rng.standard_normal((1000, n_classes)) * 2).argmax(axis=1)]
    predicted = classes[proba.argmax(axis=1)]
    weight = rng.uniform(0, 2, 1000) if weighted else np.ones(1000)

    def block(y_block, proba_block, weight_block):
        return classification_partial(
            y_block, proba_block, proba_block, classes, True, weight_block
        )

    metrics = classification_metrics(chunked(block, y, proba, weight))
    assert metrics["accuracy"] == pytest.approx(
        sk.accuracy_score(y, predicted, sample_weight=weight), abs=1e-12
    )
    assert metrics["log_loss"] == pytest.approx(
        sk.log_loss(y, y_proba=proba, sample_weight=weight), rel=1e-12
    )
    scores = proba[:, 1] if n_classes == 2 else proba
    expected_auc = sk.roc_auc_score(y, scores, multi_class="ovr", sample_weight=weight)
    assert metrics["roc_auc"] == pytest.approx(expected_auc, abs=AUC_TOL)
    assert_allclose(
        metrics["confusion_matrix"], sk.confusion_matrix(y, predicted, sample_weight=weight)
    )
    if not weighted:  # counts stay integers
        assert all(isinstance(v, int) for row in metrics["confusion_matrix"] for v in row)


def test_histogram_auc_is_exact_when_scores_fall_in_distinct_bins() -> None:
    rng = np.random.default_rng(2)
    # Scores on the bin centres, distinct bins, with ties between classes in some.
    bins = rng.choice(AUC_BINS, size=300, replace=False)
    bins = np.concatenate([bins, bins[:40]])
    labels = rng.random(len(bins)) < 0.4
    labels[-40:] = ~labels[:40]  # the repeated bins hold one row of each class
    logits = (bins + 0.5) * (2 * AUC_LOGIT_RANGE / AUC_BINS) - AUC_LOGIT_RANGE
    proba = expit(logits)
    bins = score_bins(proba, probabilities=True)  # (1 - p loses bits near p = 1)
    assert np.all(np.diff(bins[np.argsort(logits)]) >= 0)
    positives = np.bincount(bins, labels, minlength=AUC_BINS)
    negatives = np.bincount(bins, ~labels, minlength=AUC_BINS)
    assert histogram_auc(positives, negatives) == pytest.approx(
        sk.roc_auc_score(labels, proba), abs=1e-15
    )


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e3, 1e6])
def test_auc_of_decision_values_does_not_depend_on_their_scale(scale: float) -> None:
    rng = np.random.default_rng(5)
    labels = rng.random(5000) < 0.3
    decision = (rng.standard_normal(5000) + 1.2 * labels) * scale
    classes = np.array([False, True])
    metrics = classification_metrics(
        classification_partial(labels, decision, decision, classes, probabilities=False)
    )
    exact = sk.roc_auc_score(labels, decision)
    # The histogram's figure is within its own tie bound of the exact one, and both small.
    assert abs(metrics["roc_auc"] - exact) <= metrics["roc_auc_tie_bound"] + 1e-15
    assert metrics["roc_auc_tie_bound"] < 2e-3
    assert metrics["roc_auc"] == pytest.approx(exact, abs=AUC_TOL)


def test_saturated_probabilities_keep_their_order() -> None:
    # Probabilities within 1e-12 of 1 still fall in increasing bins (logit scale).
    proba = 1 - np.array([1e-3, 1e-6, 1e-9, 1e-12])
    assert np.all(np.diff(score_bins(proba, probabilities=True)) > 0)


def test_unknown_label_is_named() -> None:
    with pytest.raises(ValueError, match="label 'fox' at row 2.*classes"):
        scores = np.full((3, 2), 0.5)
        classification_partial(
            np.array(["cat", "dog", "fox"]), scores, scores, np.array(["cat", "dog"]), True
        )


# ---------------------------------------------------------------- evaluate on dask


def as_dask(*arrays: np.ndarray) -> list[da.Array]:
    return [da.from_array(a, chunks=(700,) + a.shape[1:]) for a in arrays]


def test_evaluate_classifier_on_dask_equals_in_memory(client: Client) -> None:
    X, y = make_classification(3000, 6, n_informative=4, n_classes=3, random_state=0)
    weight = np.random.default_rng(0).uniform(0, 2, len(y))
    model = daskgd.LogisticRegression().fit(X, y)
    on_dask = evaluate(model, *as_dask(X, y, weight))
    in_memory = evaluate(model, X, y, weight)
    for key in ("accuracy", "log_loss", "roc_auc"):
        assert on_dask[key] == pytest.approx(in_memory[key], rel=1e-12)
    assert_allclose(on_dask["confusion_matrix"], in_memory["confusion_matrix"])
    proba = model.predict_proba(X)
    assert on_dask["log_loss"] == pytest.approx(
        sk.log_loss(y, y_proba=proba, sample_weight=weight), rel=1e-10
    )
    assert on_dask["roc_auc"] == pytest.approx(
        sk.roc_auc_score(y, proba, multi_class="ovr", sample_weight=weight), abs=AUC_TOL
    )


def test_evaluate_decision_function_only(client: Client) -> None:
    X, y = make_classification(2000, 5, random_state=1)
    model = daskgd.LinearSVC().fit(X, y)
    metrics = evaluate(model, *as_dask(X, y))
    assert metrics["log_loss"] is None  # no probabilities
    assert metrics["roc_auc"] == pytest.approx(
        sk.roc_auc_score(y, model.decision_function(X)), abs=AUC_TOL
    )
    assert metrics["accuracy"] == pytest.approx(sk.accuracy_score(y, model.predict(X)))


def test_evaluate_trees_take_nan(client: Client) -> None:
    X, y = make_classification(2000, 5, random_state=2)
    X[::9, 1] = np.nan
    model = daskgd.HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    metrics = evaluate(model, *as_dask(X, y))
    assert metrics["accuracy"] == pytest.approx(sk.accuracy_score(y, model.predict(X)))
    assert metrics["roc_auc"] == pytest.approx(
        sk.roc_auc_score(y, model.predict_proba(X)[:, 1]), abs=AUC_TOL
    )


def test_evaluate_names_the_chunk_and_row_of_bad_values(client: Client) -> None:
    X, y = make_regression(2000, 4, random_state=3)
    model = daskgd.Ridge().fit(X, y)
    X[1500, 2] = np.inf
    with pytest.raises(ValueError, match="chunk 2 at row 1500"):
        evaluate(model, *as_dask(X, y))
    y[30] = np.nan
    X[1500, 2] = 0.0
    with pytest.raises(ValueError, match="Input y.*chunk 0 at row 30"):
        evaluate(model, *as_dask(X, y))


@pytest.mark.parametrize(
    "model",
    [
        daskgd.LogisticRegression(),
        daskgd.SGDClassifier(loss="modified_huber", max_iter=5, tol=None, random_state=0),
        # One-vs-rest probabilities saturate at 1 and tie where the decision values do not.
        daskgd.SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=0),
        daskgd.Ridge(),
        daskgd.HistGradientBoostingRegressor(max_iter=3),
    ],
    ids=lambda model: type(model).__name__,
)
def test_score_on_dask_equals_score_in_memory(client: Client, model) -> None:
    classifier = is_classifier(model)
    maker = make_classification if classifier else make_regression
    X, y = maker(
        2100, 5, random_state=4, **({"n_classes": 3, "n_informative": 3} if classifier else {})
    )
    X = X * 1000  # large decision values: SGD's one-vs-rest probabilities saturate
    weight = np.random.default_rng(4).uniform(0, 2, len(y))
    model.fit(X, y)
    on_dask = model.score(*as_dask(X, y, weight))
    assert isinstance(on_dask, float)
    assert on_dask == pytest.approx(model.score(X, y, weight), rel=1e-12, abs=1e-15)
