"""Scoring a fitted model on data in one pass: what ``daskgd evaluate`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from daskgd import validation
from daskgd.engine.reductions import ModelMetrics
from daskgd.metrics import classification_metrics, regression_metrics


def evaluate(
    estimator: Any,
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    retries: int = 0,
    split_every: int | None = None,
) -> dict[str, Any]:
    """The metrics scikit-learn users expect of a fitted model, from one pass over the data.

    A regressor gets R^2, MSE and MAE; a classifier accuracy, log-loss (with
    ``predict_proba``), ROC AUC (binary, or the one-vs-rest macro average) and the
    confusion matrix. Each chunk's rows are predicted and summed where the chunk
    is; only the sums travel (see :mod:`daskgd.metrics`).

    Parameters
    ----------
    estimator : object
        A fitted daskgd (or scikit-learn) regressor or classifier.
    X : dask array or array-like of shape (n_samples, n_features)
        Samples.
    y : dask array or array-like of shape (n_samples,) or (n_samples, n_outputs)
        True targets or labels.
    sample_weight : dask array or array-like of shape (n_samples,), optional
        Row weights.
    retries : int, default=0
        Times a failed chunk task is retried.
    split_every : int, optional
        Fan-in of the combine tree.

    Returns
    -------
    metrics : dict
        ``{"r2", "mse", "mae", "n_rows"}`` or ``{"accuracy", "log_loss", "roc_auc",
        "confusion_matrix", "classes", "n_rows"}``; ``n_rows`` is the weight sum.
    """
    check_is_fitted(estimator)
    classifier = is_classifier(estimator)
    # modified_huber's clipped "probabilities" can tie where its decision values do
    # not: its predictions come from the decision values, as its predict's do.
    probabilities = (
        classifier
        and hasattr(estimator, "predict_proba")
        and getattr(estimator, "loss", None) != "modified_huber"
    )
    reduction = ModelMetrics(
        np.asarray(estimator.classes_) if classifier else None, probabilities=probabilities
    )
    if not classifier:
        predict = estimator.predict
    else:
        predict = estimator.predict_proba if probabilities else estimator.decision_function
    if validation.is_dask_collection(X):
        from daskgd.engine.frame import ChunkedFrame

        X = validation.check_dask_X(X, accept_sparse=True)
        y = validation.align_rows(y, X, name="y")
        if not classifier:
            y = validation.check_blocks(y.astype(np.float64), "y")
        if sample_weight is not None:
            sample_weight = validation.check_dask_sample_weight(sample_weight, X)
        # The model's own lazy predictions (they check X's chunks, naming bad rows).
        frame = ChunkedFrame(
            {"y": y, "prediction": predict(X), "sample_weight": sample_weight},
            cache=False,
            retries=retries,
            split_every=split_every,
            check=False,
        )
        partial = frame.reduce(reduction)
    else:
        partial = reduction.chunk(None, 0, y, predict(X), sample_weight)
    if not classifier:
        return regression_metrics(partial)
    return {**classification_metrics(partial), "classes": np.asarray(estimator.classes_).tolist()}
