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

#: Bits of the bin index of the score histograms behind ROC AUC.
AUC_BITS = 16
#: Bins of the score histograms behind ROC AUC (see :func:`score_bins`).
AUC_BINS = 2**AUC_BITS
#: The logit range the bins of probabilities cover: float64 probabilities saturate at
#: about +-36.7.
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
        "weight_sum": float(partial.n),
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
    """The histogram bin of each score, in increasing order of the score.

    Probabilities are binned uniformly in their logit over ``[-AUC_LOGIT_RANGE,
    AUC_LOGIT_RANGE]`` (float64 probabilities saturate there). Decision values,
    whose scale is the model's, are binned by the leading bits of their float32
    encoding, made order-preserving: the same relative precision (2**-7) at any
    magnitude, with no range to clip to.

    Parameters
    ----------
    scores : ndarray
        Probabilities, or decision-function values.
    probabilities : bool
        Whether ``scores`` are probabilities.

    Returns
    -------
    bins : ndarray of int
        In ``[0, AUC_BINS)``, increasing with the score.
    """
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    if probabilities:
        with np.errstate(divide="ignore"):
            logits = np.log(scores) - np.log1p(-scores)
        logits = np.clip(logits, -AUC_LOGIT_RANGE, AUC_LOGIT_RANGE)
        position = (logits + AUC_LOGIT_RANGE) * (AUC_BINS / (2 * AUC_LOGIT_RANGE))
        return np.minimum(position.astype(np.int64), AUC_BINS - 1)
    bits = np.asarray(scores, dtype=np.float32).view(np.uint32).astype(np.int64)
    # IEEE floats order as their bits for positives, reversed for negatives.
    ordered = np.where(bits >= 2**31, 2**32 - 1 - bits, bits + 2**31)
    return ordered >> (32 - AUC_BITS)


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


def predicted_indices(decision: np.ndarray) -> np.ndarray:
    """The class each row's decision values (or probabilities) predict, as ``predict`` does.

    Parameters
    ----------
    decision : ndarray of shape (n_rows, n_classes) or (n_rows, 1)
        ``decision_function`` (one column for two classes), or ``predict_proba`` of
        a classifier without decision values.

    Returns
    -------
    indices : ndarray of int
        The highest value's class; for one column, class 1 where it is positive.
    """
    if decision.shape[1] == 1:
        return (decision[:, 0] > 0).astype(np.int64)
    return np.argmax(decision, axis=1)


def classification_partial(
    y_true: Any,
    decision: Any,
    scores: Any,
    classes: np.ndarray,
    probabilities: bool,
    sample_weight: Any = None,
    with_auc: bool = True,
) -> ClassificationPartial:
    """The :class:`ClassificationPartial` of one chunk of rows.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        True labels, among ``classes``.
    decision : array-like of shape (n_rows, n_classes) or (n_rows,)
        What the classifier's ``predict`` takes the argmax of (its
        ``decision_function``, one column for two classes; else its
        ``predict_proba``): the predicted class of each row
        (:func:`predicted_indices`).
    scores : array-like of shape (n_rows, n_classes) or (n_rows,), or None
        ``predict_proba`` (``probabilities=True``) or ``decision_function``, for
        the log-loss and ROC AUC; None with ``with_auc=False`` and no
        probabilities.
    classes : ndarray of shape (n_classes,)
        The model's ``classes_``, sorted.
    probabilities : bool
        Whether ``scores`` are probabilities (then the log-loss is summed).
    sample_weight : array-like of shape (n_rows,), optional
        Row weights (default: 1).
    with_auc : bool, default=True
        Build the score histograms of ROC AUC (``score`` needs only the counts).

    Returns
    -------
    partial : ClassificationPartial
    """
    classes = np.asarray(classes)
    true = class_indices(y_true, classes)
    decision = np.asarray(decision, dtype=np.float64)
    decision = decision[:, np.newaxis] if decision.ndim == 1 else decision
    guess = predicted_indices(decision)
    weights = _weights(sample_weight, len(true))
    n_classes = len(classes)
    confusion = np.zeros((n_classes, n_classes))
    np.add.at(confusion, (true, guess), weights)
    log_loss = np.nan
    n_scored = (1 if n_classes == 2 else n_classes) if with_auc else 0
    positives = np.zeros((n_scored, AUC_BINS))
    negatives = np.zeros((n_scored, AUC_BINS))
    if scores is None:
        return ClassificationPartial(confusion, log_loss, positives, negatives)
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, np.newaxis] if scores.ndim == 1 else scores
    if probabilities:
        eps = np.finfo(np.float64).eps
        true_proba = scores[np.arange(len(true)), true]
        log_loss = float(-weights @ np.log(np.clip(true_proba, eps, 1 - eps)))
    # Two classes: one ROC curve, of the positive class's score (as scikit-learn).
    scored = scores[:, -1:] if n_classes == 2 else scores
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
    return _auc_and_tie_bound(positives, negatives)[0]


def _auc_and_tie_bound(positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float]:
    """ROC AUC from score histograms, and the most that ties within a bin can move it."""
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive == 0 or total_negative == 0:
        return float("nan"), float("nan")
    pairs = total_positive * total_negative
    below = np.cumsum(negatives) - negatives
    tied = positives @ negatives
    return float((positives @ below + 0.5 * tied) / pairs), float(0.5 * tied / pairs)


def classification_metrics(partial: ClassificationPartial) -> dict[str, Any]:
    """Accuracy, log-loss, ROC AUC (one-vs-rest macro average) and the confusion matrix.

    The figures are scikit-learn's ``accuracy_score``, ``log_loss``,
    ``roc_auc_score`` (``multi_class="ovr"``) and ``confusion_matrix`` with the same
    weights, ROC AUC up to the pairs of a positive and a negative row whose scores
    share a histogram bin (:func:`score_bins`), which count half: at most
    ``roc_auc_tie_bound`` away from the exact figure.

    Parameters
    ----------
    partial : ClassificationPartial
        Sums over all rows.

    Returns
    -------
    metrics : dict
        ``{"accuracy", "log_loss", "roc_auc", "roc_auc_tie_bound",
        "confusion_matrix", "weight_sum"}``; ``log_loss`` is None without
        probabilities, ``roc_auc`` (and its bound) None when a class has no rows or
        no histograms were built.
    """
    n = float(partial.confusion.sum())
    if n == 0:
        raise ValueError("No rows with positive weight to evaluate on.")
    curves = [
        _auc_and_tie_bound(p, q) for p, q in zip(partial.positives, partial.negatives, strict=True)
    ]
    known = bool(curves) and not np.any(np.isnan(curves))
    auc = float(np.mean([c[0] for c in curves])) if known else None
    bound = float(np.mean([c[1] for c in curves])) if known else None
    confusion = partial.confusion
    counts = np.all(confusion == np.round(confusion))
    return {
        "accuracy": float(np.trace(confusion) / n),
        "log_loss": None if np.isnan(partial.log_loss) else float(partial.log_loss / n),
        "roc_auc": auc,
        "roc_auc_tie_bound": bound,
        "confusion_matrix": (confusion.astype(np.int64) if counts else confusion).tolist(),
        "weight_sum": n,
    }
