"""LogisticRegressionCV: scores from the folds' sums, fitted attributes in scikit-learn's layout.

NumPy only. :func:`store_attributes` follows scikit-learn 1.9's
``LogisticRegressionCV.fit`` (BSD-3-Clause) from its reshapes on, so that the
paths, scores and chosen C have its shapes in both the legacy and the new layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from daskgd.objective import LinearObjective

#: Scorers of the per-class counts of a confusion matrix, with scikit-learn's averages
#: ("" for the positive class of a binary problem, scikit-learn's ``pos_label=1``).
CONFUSION_METRICS = ("precision", "recall", "f1", "jaccard")
AVERAGES = ("", "_macro", "_micro", "_weighted")
#: Scorers whose value follows from the test folds' sums (no extra pass).
SUM_SCORERS = (
    "accuracy",
    "neg_log_loss",
    "balanced_accuracy",
    *(metric + average for metric in CONFUSION_METRICS for average in AVERAGES),
)


def sum_scorer(scoring: Any) -> str | None:
    """The name of ``scoring`` when the folds' sums give the score (:data:`SUM_SCORERS`), else
    None; None scores by accuracy."""
    if scoring is None:
        return "accuracy"
    return scoring if isinstance(scoring, str) and scoring in SUM_SCORERS else None


def positive_class(name: str, classes: np.ndarray) -> int | None:
    """The index of the positive class for a binary-averaged scorer, refused as scikit-learn
    refuses it (a multiclass target, or no label 1); None for the other scorers."""
    if name not in CONFUSION_METRICS:
        return None
    if len(classes) > 2:
        raise ValueError(
            f"scoring={name!r}: Target is multiclass but average='binary'. Please choose "
            "another average setting, one of [None, 'micro', 'macro', 'weighted'] (for "
            f"example scoring='{name}_macro')."
        )
    matches = np.flatnonzero(classes == 1)
    if len(matches) == 0:
        raise ValueError(
            f"scoring={name!r}: pos_label=1 is not a valid label. It should be one of "
            f"{classes.tolist()}."
        )
    return int(matches[0])


def score_from_sums(name: str, sums: dict[str, Any], positive: int | None = None) -> float:
    """The score ``name`` of one test fold from its sums (:func:`daskgd.folds.held_out_scores`)."""
    if name == "accuracy":
        return float(sums["test_correct"] / sums["test_n"])
    if name == "neg_log_loss":
        return float(-sums["test_log_loss"] / sums["test_n"])
    return confusion_score(name, np.asarray(sums["test_confusion"]), positive)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is (scikit-learn's
    ``zero_division`` default, less its warning)."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def confusion_score(name: str, confusion: np.ndarray, positive: int | None = None) -> float:
    """scikit-learn's ``balanced_accuracy``, ``precision``, ``recall``, ``f1`` and ``jaccard``
    (binary, macro, micro or weighted) from a weighted confusion matrix (true class by row).

    As scikit-learn: the averages run over the classes that occur among the true or
    the predicted labels, ``weighted`` by each class's true weight; balanced accuracy
    is the mean recall of the classes that occur among the true labels.
    """
    hits = np.diag(confusion)
    true, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    if name == "balanced_accuracy":
        occurs = true > 0
        return float(np.mean(hits[occurs] / true[occurs]))
    metric, _, average = name.partition("_")
    if average == "micro":
        hits, true, predicted = (np.atleast_1d(a.sum()) for a in (hits, true, predicted))
    denominators = {
        "precision": predicted,
        "recall": true,
        "f1": 0.5 * (true + predicted),
        "jaccard": true + predicted - hits,
    }
    values = _ratio(hits, denominators[metric])
    if average == "micro":
        return float(values[0])
    if average == "":
        assert positive is not None
        return float(values[positive])
    occurs = (true + predicted) > 0
    if average == "macro":
        return float(np.mean(values[occurs]))
    return float(_ratio(values[occurs] @ true[occurs], np.atleast_1d(true[occurs].sum()))[0])


def sklearn_layout(objective: LinearObjective, coefs: np.ndarray, binary: bool) -> np.ndarray:
    """Flat coefficients (n_cs, n_coef) as scikit-learn's path returns them:
    (n_cs, n_dof) for two classes, (n_cs, n_classes, n_dof) for more (intercept last)."""
    matrices = coefs.reshape(len(coefs), objective.n_rows, objective.n_outputs)
    per_class = np.swapaxes(matrices, 1, 2)  # (n_cs, n_outputs, n_dof)
    return per_class[:, 0, :] if binary else per_class


def store_attributes(
    self: Any,
    fold_coefs: list[np.ndarray],
    Cs: np.ndarray,
    scores_grid: np.ndarray,
    n_iter_grid: np.ndarray,
    l1_ratios_: list[Any],
    l1_ratios: Any,
    legacy: bool,
    is_binary: bool,
    n_features: int,
    penalty: str,
    refit: Any,
) -> None:
    """The fitted attributes, exactly as scikit-learn 1.9's ``LogisticRegressionCV.fit``
    builds them from its folds' paths (its code, from the reshapes on)."""
    n_folds = scores_grid.shape[0]
    n_classes = 1 if is_binary else len(self.classes_)
    classes_only_pos_if_binary = self.classes_[1:] if is_binary else self.classes_
    self.Cs_ = np.asarray(Cs)
    if is_binary:
        coefs_paths = np.reshape(fold_coefs, (n_folds, len(l1_ratios_), len(Cs), -1))
        coefs_paths = np.swapaxes(coefs_paths, 1, 2)[None, ...]
    else:
        coefs_paths = np.reshape(fold_coefs, (n_folds, len(l1_ratios_), len(Cs), n_classes, -1))
        coefs_paths = np.moveaxis(coefs_paths, (0, 1, 3), (1, 3, 0))
    self.n_iter_ = np.swapaxes(n_iter_grid, 1, 2)[None, ...]
    scores = np.swapaxes(scores_grid, 1, 2)[None, ...]
    scores = np.tile(scores, (n_classes, 1, 1, 1))
    self.scores_ = dict(zip(classes_only_pos_if_binary, scores, strict=True))
    self.coefs_paths_ = dict(zip(classes_only_pos_if_binary, coefs_paths, strict=True))
    self.C_, self.l1_ratio_ = [], []
    scores = self.scores_[classes_only_pos_if_binary[0]]
    if self.refit:
        scores_sum = scores.sum(axis=0)
        best_index = np.unravel_index(np.argmax(scores_sum), scores_sum.shape)
        C_ = self.Cs_[best_index[0]]
        self.C_.append(C_)
        l1_ratio_ = l1_ratios_[best_index[1]]
        self.l1_ratio_.append(l1_ratio_)
        if is_binary:
            coef_init = np.mean(coefs_paths[0, :, best_index[0], best_index[1], :], axis=0)
        else:
            coef_init = np.mean(coefs_paths[:, :, best_index[0], best_index[1], :], axis=1)
        # Our layout is (n_dof, n_outputs), flattened; scikit-learn's (n_outputs, n_dof).
        flat = refit(np.atleast_2d(coef_init).T.ravel(), C_, l1_ratio_)
        w = flat.reshape(n_features + int(self.fit_intercept), n_classes).T
        w = w[0] if is_binary else w
    else:
        n_folds, n_cs, n_l1_ratios = scores.shape
        best_indices = np.argmax(scores.reshape(n_folds, -1), axis=1)
        best = list(zip(*np.unravel_index(best_indices, (n_cs, n_l1_ratios)), strict=True))
        if is_binary:
            w = np.mean(
                [coefs_paths[0, i, best[i][0], best[i][1], :] for i in range(n_folds)], axis=0
            )
        else:
            w = np.mean(
                [coefs_paths[:, i, best[i][0], best[i][1], :] for i in range(n_folds)], axis=0
            )
        best_array = np.asarray(best)
        self.C_.append(np.mean(self.Cs_[best_array[:, 0]]))
        if penalty == "elasticnet":
            self.l1_ratio_.append(np.mean(np.asarray(l1_ratios_)[best_array[:, 1]]))
        else:
            self.l1_ratio_.append(0.0)
    self.intercept_ = np.zeros(n_classes)
    if is_binary:
        self.coef_ = w[:n_features][None, :]
        if self.fit_intercept:
            self.intercept_[0] = w[-1]
    else:
        self.C_ = np.tile(self.C_, n_classes)
        self.l1_ratio_ = np.tile(self.l1_ratio_, n_classes)
        self.coef_ = w[:, :n_features]
        if self.fit_intercept:
            self.intercept_ = w[:, -1]
    self.C_ = np.asarray(self.C_)
    self.l1_ratio_ = np.asarray(self.l1_ratio_)
    self.l1_ratios_ = np.asarray(l1_ratios_)
    if l1_ratios is None:
        for cls, path in self.coefs_paths_.items():
            self.coefs_paths_[cls] = path[:, :, 0, :]
        for cls, score in self.scores_.items():
            self.scores_[cls] = score[:, :, 0]
        self.n_iter_ = self.n_iter_[:, :, :, 0]
    if not legacy:
        n_cs = self.Cs_.size
        n_dof = n_features + int(self.fit_intercept)
        self.C_ = float(self.C_[0])
        newpaths = np.concatenate(list(self.coefs_paths_.values()))
        newscores = self.scores_[classes_only_pos_if_binary[0]]
        newniter = self.n_iter_[0]
        if l1_ratios is None:
            newpaths = newpaths.reshape(n_classes, n_folds, n_cs, 1, n_dof)
            newscores = newscores.reshape(n_folds, n_cs, 1)
            newniter = newniter.reshape(n_folds, n_cs, 1)
            self.l1_ratio_ = 1.0 if self.penalty == "l1" else 0.0
        else:
            self.l1_ratio_ = float(self.l1_ratio_[0])
            newpaths = newpaths.reshape(n_classes, n_folds, n_cs, len(self.l1_ratios_), n_dof)
        self.coefs_paths_ = np.moveaxis(newpaths, (0, 1, 3), (3, 0, 1))
        self.scores_ = np.moveaxis(newscores, (1, 2), (2, 1))
        self.n_iter_ = np.moveaxis(newniter, (1, 2), (2, 1))
