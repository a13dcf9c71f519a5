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
    with_auc: bool = True,
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
    with_auc : bool, default=True
        Compute ROC AUC (and the log-loss): ``score`` needs only the predictions.

    Returns
    -------
    metrics : dict
        ``{"r2", "mse", "mae", "weight_sum"}`` or ``{"accuracy", "log_loss",
        "roc_auc", "roc_auc_tie_bound", "confusion_matrix", "classes", "weight_sum"}``.
    """
    check_is_fitted(estimator)
    classifier = is_classifier(estimator)
    dask_input = validation.is_dask_collection(X)
    if dask_input:
        X = validation.check_dask_X(X, accept_sparse=True)
    if classifier:
        prediction, reduction = _classifier_columns(estimator, X, dask_input, with_auc)
    else:
        prediction, reduction = estimator.predict(X), ModelMetrics()
    if dask_input:
        from daskgd.engine.frame import ChunkedFrame

        y = validation.align_rows(y, X, name="y")
        if not classifier:
            y = validation.check_blocks(y.astype(np.float64), "y")
        if sample_weight is not None:
            sample_weight = validation.check_dask_sample_weight(sample_weight, X)
        # The model's own lazy predictions (they check X's chunks, naming bad rows).
        frame = ChunkedFrame(
            {"y": y, "prediction": prediction, "sample_weight": sample_weight},
            cache=False,
            retries=retries,
            split_every=split_every,
            check=False,
        )
        partial = frame.reduce(reduction)
    else:
        partial = reduction.chunk(None, 0, y, prediction, sample_weight)
    if not classifier:
        return regression_metrics(partial)
    return {**classification_metrics(partial), "classes": np.asarray(estimator.classes_).tolist()}


def _classifier_columns(
    estimator: Any, X: Any, dask_input: bool, with_auc: bool
) -> tuple[Any, ModelMetrics]:
    """A classifier's decision values and scores side by side, and the reduction reading them.

    The predicted class comes from what ``predict`` decides by (its decision
    values; probabilities, which can tie where decision values do not, only for a
    classifier without them); the log-loss and ROC AUC from the probabilities, or
    else from the decision values. Both derive from the same chunk of ``X``, read
    once.
    """
    has_decision = hasattr(estimator, "decision_function")
    has_proba = hasattr(estimator, "predict_proba")
    columns = []
    if has_decision:
        decision = estimator.decision_function(X)
        columns.append(decision[:, np.newaxis] if decision.ndim == 1 else decision)
    n_decision = int(columns[0].shape[1]) if columns else 0
    if has_proba and (with_auc or not has_decision):
        columns.append(estimator.predict_proba(X))
    stacked: Any = columns[0]
    if len(columns) > 1:  # dask arrays dispatch np.concatenate to dask's
        stacked = np.concatenate(columns, axis=1)
        stacked = stacked.rechunk({1: -1}) if dask_input else stacked
    reduction = ModelMetrics(
        np.asarray(estimator.classes_),
        n_decision=n_decision if len(columns) > 1 else 0,
        probabilities=has_proba and (with_auc or not has_decision),
        with_auc=with_auc,
    )
    return stacked, reduction
