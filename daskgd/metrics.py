"""Model metrics as mergeable sums over row chunks (NumPy only).

Every metric that ``daskgd evaluate`` prints is a function of sums over rows, so
one pass computes it: each chunk returns a partial, partials merge in chunk order,
and a finaliser turns the total into figures. Regression keeps the target's
weighted mean and sum of squared deviations (merged as Chan et al. do, so R^2
does not cancel), plus the squared and absolute errors. Classification keeps a
weighted confusion matrix, the log-loss sum and, for ROC AUC, a histogram of each
class's score among the rows of that class and among the others: the Mann-Whitney
count over the histogram is the exact AUC up to pairs whose scores share a bin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Bins of the score histograms behind ROC AUC, uniform in the logit of the score.
AUC_BINS = 2**15
#: The logit range the bins cover: float64 probabilities saturate at about +-36.7.
AUC_LOGIT_RANGE = 37.0


@dataclass(frozen=True)
class RegressionPartial:
    """Sums over some rows of a regressor's targets and errors, per output.

    Attributes
    ----------
    n : float
        Sum of the rows' weights.
    mean : ndarray of shape (n_outputs,)
        Weighted mean of the target.
    m2 : ndarray of shape (n_outputs,)
        Weighted sum of squared deviations of the target from ``mean``.
    squared_error : ndarray of shape (n_outputs,)
        Weighted sum of squared errors.
    absolute_error : ndarray of shape (n_outputs,)
        Weighted sum of absolute errors.
    """

    n: float
    mean: np.ndarray
    m2: np.ndarray
    squared_error: np.ndarray
    absolute_error: np.ndarray

    def merge(self, other: RegressionPartial) -> RegressionPartial:
        """The partial of both sets of rows (Chan et al.'s update of mean and ``m2``)."""
        n = self.n + other.n
        if n == 0:
            return self
        delta = other.mean - self.mean
        return RegressionPartial(
            n,
            self.mean + delta * (other.n / n),
            self.m2 + other.m2 + delta**2 * (self.n * other.n / n),
            self.squared_error + other.squared_error,
            self.absolute_error + other.absolute_error,
        )


def _weights(sample_weight: Any, n_rows: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_rows)
    return np.asarray(sample_weight, dtype=np.float64).ravel()


def regression_partial(y_true: Any, y_pred: Any, sample_weight: Any = None) -> RegressionPartial:
    """The :class:`RegressionPartial` of one chunk of rows.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,) or (n_rows, n_outputs)
        Targets.
    y_pred : array-like of the same shape
        Predictions.
    sample_weight : array-like of shape (n_rows,), optional
        Row weights (default: 1).

    Returns
    -------
    partial : RegressionPartial
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_true = y_true[:, np.newaxis] if y_true.ndim == 1 else y_true
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)
    weights = _weights(sample_weight, len(y_true))
    n = float(weights.sum())
    if n == 0:
        zeros = np.zeros(y_true.shape[1])
        return RegressionPartial(0.0, zeros, zeros, zeros, zeros)
    mean = weights @ y_true / n
    error = y_true - y_pred
    return RegressionPartial(
        n, mean, weights @ (y_true - mean) ** 2, weights @ error**2, weights @ np.abs(error)
    )


def regression_metrics(partial: RegressionPartial) -> dict[str, float]:
    """R^2, mean squared error and mean absolute error, averaged over the outputs.

    The figures equal scikit-learn's ``r2_score``, ``mean_squared_error`` and
    ``mean_absolute_error`` with the same weights (a constant target scores
    R^2 = 1 when predicted exactly, else 0, as there).

    Parameters
    ----------
    partial : RegressionPartial
        Sums over all rows.

    Returns
    -------
    metrics : dict
        ``{"r2", "mse", "mae", "n_rows"}`` (``n_rows`` is the weight sum).
    """
    if partial.n == 0:
        raise ValueError("No rows with positive weight to evaluate on.")
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1 - partial.squared_error / partial.m2
    constant = partial.m2 == 0
    r2 = np.where(constant, np.where(partial.squared_error == 0, 1.0, 0.0), r2)
    return {
        "r2": float(np.mean(r2)),
        "mse": float(np.mean(partial.squared_error) / partial.n),
        "mae": float(np.mean(partial.absolute_error) / partial.n),
        "n_rows": float(partial.n),
    }


@dataclass(frozen=True)
class ClassificationPartial:
    """Weighted sums over some rows of a classifier's predictions.

    Attributes
    ----------
    confusion : ndarray of shape (n_classes, n_classes)
        Weight of the rows of true class ``i`` predicted as class ``j``.
    log_loss : float
        Weighted sum of ``-log p(true class)``; NaN without probabilities.
    positives, negatives : ndarray of shape (n_scored, AUC_BINS)
        Weight of the rows whose score for class ``k`` (the positive class only,
        for two classes) falls in each bin, among the rows of class ``k`` and
        among the others.
    """

    confusion: np.ndarray
    log_loss: float
    positives: np.ndarray
    negatives: np.ndarray

    def merge(self, other: ClassificationPartial) -> ClassificationPartial:
        """The partial of both sets of rows."""
        return ClassificationPartial(
            self.confusion + other.confusion,
            self.log_loss + other.log_loss,
            self.positives + other.positives,
            self.negatives + other.negatives,
        )


def score_bins(scores: np.ndarray, probabilities: bool) -> np.ndarray:
    """The histogram bin of each score: uniform in its logit (a probability's) or its value.

    Parameters
    ----------
    scores : ndarray
        Probabilities, or decision-function values (read as logits).
    probabilities : bool
        Whether ``scores`` are probabilities.

    Returns
    -------
    bins : ndarray of int
        In ``[0, AUC_BINS)``, increasing with the score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if probabilities:
        with np.errstate(divide="ignore"):
            logits = np.log(scores) - np.log1p(-scores)
    else:
        logits = scores
    logits = np.clip(np.nan_to_num(logits, nan=0.0), -AUC_LOGIT_RANGE, AUC_LOGIT_RANGE)
    position = (logits + AUC_LOGIT_RANGE) * (AUC_BINS / (2 * AUC_LOGIT_RANGE))
    return np.minimum(position.astype(np.int64), AUC_BINS - 1)


def class_indices(y_true: Any, classes: np.ndarray) -> np.ndarray:
    """The index of each label in ``classes``, refusing a label the model never saw.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Labels.
    classes : ndarray of shape (n_classes,)
        The model's ``classes_``, sorted.

    Returns
    -------
    indices : ndarray of int
    """
    labels = np.asarray(y_true).ravel()
    indices = np.searchsorted(classes, labels).clip(0, len(classes) - 1)
    unknown = classes[indices] != labels
    if np.any(unknown):
        row = int(np.argmax(unknown))
        raise ValueError(
            f"y has label {labels[row].item()!r} at row {row}, which is not one of the "
            f"model's classes {classes.tolist()}."
        )
    return indices


def predicted_indices(scores: np.ndarray, probabilities: bool) -> np.ndarray:
    """The class each row's scores predict, as scikit-learn's classifiers do.

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_classes) or (n_rows, 1)
        Probabilities, or decision values (one column for two classes).
    probabilities : bool
        Whether ``scores`` are probabilities.

    Returns
    -------
    indices : ndarray of int
        The highest score's class; for one decision column, class 1 where the
        value is positive.
    """
    if scores.shape[1] == 1 and not probabilities:
        return (scores[:, 0] > 0).astype(np.int64)
    return np.argmax(scores, axis=1)


def classification_partial(
    y_true: Any,
    scores: Any,
    classes: np.ndarray,
    probabilities: bool,
    sample_weight: Any = None,
) -> ClassificationPartial:
    """The :class:`ClassificationPartial` of one chunk of rows.

    The predicted class of each row is its highest score's
    (:func:`predicted_indices`), which is what the classifier's ``predict`` returns.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        True labels, among ``classes``.
    scores : array-like of shape (n_rows, n_classes) or (n_rows,)
        ``predict_proba`` (``probabilities=True``) or ``decision_function``
        (one column for two classes).
    classes : ndarray of shape (n_classes,)
        The model's ``classes_``, sorted.
    probabilities : bool
        Whether ``scores`` are probabilities (then the log-loss is summed).
    sample_weight : array-like of shape (n_rows,), optional
        Row weights (default: 1).

    Returns
    -------
    partial : ClassificationPartial
    """
    classes = np.asarray(classes)
    true = class_indices(y_true, classes)
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, np.newaxis] if scores.ndim == 1 else scores
    guess = predicted_indices(scores, probabilities)
    weights = _weights(sample_weight, len(true))
    n_classes = len(classes)
    confusion = np.zeros((n_classes, n_classes))
    np.add.at(confusion, (true, guess), weights)
    log_loss = np.nan
    if probabilities:
        eps = np.finfo(np.float64).eps
        true_proba = scores[np.arange(len(true)), true]
        log_loss = float(-weights @ np.log(np.clip(true_proba, eps, 1 - eps)))
    # Two classes: one ROC curve, of the positive class's score (as scikit-learn).
    scored = scores[:, -1:] if n_classes == 2 else scores
    n_scored = scored.shape[1]
    positives = np.zeros((n_scored, AUC_BINS))
    negatives = np.zeros((n_scored, AUC_BINS))
    for k in range(n_scored):
        bins = score_bins(scored[:, k], probabilities)
        is_class = true == (1 if n_classes == 2 else k)
        positives[k] = np.bincount(bins, weights * is_class, minlength=AUC_BINS)
        negatives[k] = np.bincount(bins, weights * ~is_class, minlength=AUC_BINS)
    return ClassificationPartial(confusion, log_loss, positives, negatives)


def histogram_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC from score histograms: the Mann-Whitney count, a shared bin counting half.

    Parameters
    ----------
    positives, negatives : ndarray of shape (n_bins,)
        Weight of the positive and of the negative rows in each score bin, bins in
        increasing order of score.

    Returns
    -------
    auc : float
        NaN when either class is absent.
    """
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive == 0 or total_negative == 0:
        return float("nan")
    below = np.cumsum(negatives) - negatives
    pairs_ordered = positives @ below + 0.5 * positives @ negatives
    return float(pairs_ordered / (total_positive * total_negative))


def classification_metrics(partial: ClassificationPartial) -> dict[str, Any]:
    """Accuracy, log-loss, ROC AUC (one-vs-rest macro average) and the confusion matrix.

    The figures are scikit-learn's ``accuracy_score``, ``log_loss``,
    ``roc_auc_score`` (``multi_class="ovr"``) and ``confusion_matrix`` with the same
    weights, ROC AUC up to pairs of scores within ``2 * AUC_LOGIT_RANGE / AUC_BINS``
    in logit of each other, which count half.

    Parameters
    ----------
    partial : ClassificationPartial
        Sums over all rows.

    Returns
    -------
    metrics : dict
        ``{"accuracy", "log_loss", "roc_auc", "confusion_matrix", "n_rows"}``;
        ``log_loss`` is None without probabilities, ``roc_auc`` None when a class
        has no rows.
    """
    n = float(partial.confusion.sum())
    if n == 0:
        raise ValueError("No rows with positive weight to evaluate on.")
    aucs = [histogram_auc(p, q) for p, q in zip(partial.positives, partial.negatives, strict=True)]
    auc = float(np.mean(aucs)) if not np.any(np.isnan(aucs)) else None
    confusion = partial.confusion
    counts = np.all(confusion == np.round(confusion))
    return {
        "accuracy": float(np.trace(confusion) / n),
        "log_loss": None if np.isnan(partial.log_loss) else float(partial.log_loss / n),
        "roc_auc": auc,
        "confusion_matrix": (confusion.astype(np.int64) if counts else confusion).tolist(),
        "n_rows": n,
    }
