"""LogisticRegression: binary log-loss or multinomial softmax, as scikit-learn 1.9 fits it."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets

from daskgd import validation
from daskgd.estimators._base import LinearModelBase
from daskgd.estimators._scoring import DaskClassifierMixin
from daskgd.losses import BinaryLogLoss, MultinomialLogLoss
from daskgd.penalties import L2, ElasticNet, NoPenalty, Penalty

#: Solvers whose first pass is the value, gradient and Hessian at the start, which
#: the label pass can bring (:class:`~daskgd.engine.label_moments.LabelMoments`).
ZERO_POINT_SOLVERS = ("auto", "newton", "prox-newton")
#: The label pass brings the Gram matrix of ``[X 1]`` for at most this many columns.
#: Newton's first pass would form it anyway; when ``"auto"`` then picks another
#: solver (a multinomial Hessian too large), one such Gram is spent for nothing.
MAX_SPECULATIVE_GRAM = 1024


class LinearClassifierBase(DaskClassifierMixin, LinearModelBase):
    """Label encoding, class weights and decisions shared by the linear classifiers."""

    classes_: np.ndarray

    def _prepare_classification(
        self, X: Any, y: Any, sample_weight: Any, zero_point: bool = False
    ) -> tuple[Any, Any, Any, bool, Any]:
        """Validated ``X``, class indices of ``y`` (a column), weights with class weights.

        With dask input the returned ``y`` and weights are the validated inputs
        (which identify the data for a checkpoint), and the last element is the
        engine frame whose columns ``y`` and ``sample_weight`` hold the class indices
        and the class-weighted rows; with NumPy input it is None.

        ``zero_point=True`` asks the label pass of dask input to bring the moments
        from which the objective at ``coef = 0`` follows
        (:class:`~daskgd.engine.label_moments.LabelMoments`), when no class weights
        change the rows' weights after it; they are left in ``_label_moments``
        (absent otherwise).
        """
        X, y, sample_weight, is_dask = self._validate_X_y(
            X, y, sample_weight, multi_output=False, y_numeric=False
        )
        balance_weights = self.class_weight == "balanced" and sample_weight is not None
        frame = None
        self.__dict__.pop("_label_moments", None)  # left by a fit that failed after it
        if is_dask:
            from daskgd.engine.label_moments import LabelMoments
            from daskgd.engine.reductions import LabelCounts

            frame = self._make_frame(X, y, sample_weight, self.cache)
            n_coef_rows = int(X.shape[1]) + int(self.fit_intercept)
            if zero_point and self.class_weight is None and n_coef_rows <= MAX_SPECULATIVE_GRAM:
                # One pass: the labels, and the start of the fit (its first pass saved).
                labels = frame.reduce(LabelMoments(bool(self.fit_intercept)))
                self._label_moments = labels
            else:
                # One pass: the labels, their counts and (to balance them) their weights.
                weight_column = "sample_weight" if balance_weights else None
                labels = frame.reduce(LabelCounts("y", weight_column))
            classes, counts = labels.values, labels.counts
        else:
            check_classification_targets(y)
            classes, counts = np.unique(y, return_counts=True)
        validation.check_discrete_labels(classes, type(self).__name__, "LinearRegression or Ridge")
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]!r}."
            )
        self.classes_ = classes
        if frame is not None:
            from daskgd.engine.blocks import encode_labels

            frame.derive("y", encode_labels, ["y"], broadcast=classes)
            encoded = None
            if balance_weights:
                # scikit-learn (>= 1.6) balances the classes' total sample weights.
                counts = labels.weights
        else:
            encoded = np.searchsorted(classes, y).astype(np.float64)[:, np.newaxis]
            if balance_weights:
                counts = np.bincount(
                    encoded[:, 0].astype(np.intp), weights=sample_weight, minlength=len(classes)
                )
        self._class_weight_per_class = self._class_weights(counts)
        one_vs_rest_weights = self._one_vs_rest_class_weight and len(classes) > 2
        if self._class_weight_per_class is not None and not one_vs_rest_weights:
            if frame is not None:
                from daskgd.engine.blocks import class_weighted_rows

                frame.derive(
                    "sample_weight",
                    class_weighted_rows,
                    ["y", "sample_weight"],
                    broadcast=self._class_weight_per_class,
                )
            else:
                sample_weight = self._class_weighted_rows(
                    encoded, sample_weight, self._class_weight_per_class
                )
        return X, (y if frame is not None else encoded), sample_weight, is_dask, frame

    #: liblinear's rule: in one-vs-rest problem k only the rows of class k carry its
    #: weight (the loss applies it); otherwise every row carries its class's weight.
    _one_vs_rest_class_weight = False

    def _class_weights(self, counts: np.ndarray) -> np.ndarray | None:
        """Weight of each class index under ``class_weight`` (scikit-learn's rule).

        ``"balanced"``: ``total / (n_classes * counts)``, from the (weighted) class
        counts; a dict: its weights, 1 for the classes it leaves out.
        """
        if self.class_weight is None:
            return None
        counts = np.asarray(counts, dtype=np.float64)
        if self.class_weight == "balanced":
            return counts.sum() / (len(counts) * counts)
        unknown = [label for label in self.class_weight if label not in self.classes_]
        if unknown:
            raise ValueError(f"The classes, {unknown}, are not in class_weight's classes.")
        weights = np.ones(len(counts))
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        for label, weight in dict(self.class_weight).items():
            weights[index[label]] = weight
        return weights

    @staticmethod
    def _class_weighted_rows(encoded: Any, sample_weight: Any, per_class: np.ndarray) -> Any:
        """Multiply each row's sample weight by the weight of its class (in memory)."""
        from daskgd.engine.blocks import class_weighted_rows

        return class_weighted_rows(encoded, sample_weight, per_class)

    def decision_function(self, X: Any) -> Any:
        """Raw scores ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : {ndarray, dask array} of shape (n_samples,) or (n_samples, n_classes)
            One score per sample for two classes (positive: ``classes_[1]``), one per
            class otherwise; lazy for dask input.
        """
        raw = self._raw_prediction(X)
        return raw[:, 0] if len(self.classes_) == 2 else raw

    def predict(self, X: Any) -> Any:
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : {ndarray, dask array} of shape (n_samples,)
            Labels from ``classes_``; lazy for dask input.
        """
        raw = self._raw_prediction(X)
        from daskgd.engine.blocks import predicted_labels

        if isinstance(raw, np.ndarray):
            return predicted_labels(raw, self.classes_)
        return raw.map_blocks(
            predicted_labels, self.classes_, drop_axis=1, dtype=self.classes_.dtype
        )


class LogisticRegression(LinearClassifierBase):
    """Logistic regression on NumPy or dask arrays.

    Minimises ``C * sum_i s_i * log_loss(y_i, x_i @ W + b) + penalty(W)``, with
    scikit-learn's elastic-net ``penalty(W) = (1 - l1_ratio)/2 ||W||^2 + l1_ratio
    ||W||_1`` (no penalty when ``C=np.inf``; the intercept is never penalised),
    with the binary log-loss for two classes and the multinomial (softmax)
    cross-entropy over all classes for more, so ``coef_`` is directly comparable
    with scikit-learn's.

    Parameters
    ----------
    penalty : {"l1", "l2", "elasticnet"} or None
        Deprecated, as in scikit-learn 1.8: leave it unset and use ``l1_ratio=0``
        for ``"l2"``, ``l1_ratio=1`` for ``"l1"``, and ``C=np.inf`` for None. Setting
        it warns (FutureWarning).
    C : float, default=1.0
        Inverse of the L2 penalty strength; ``np.inf`` for no penalty.
    l1_ratio : float, default=0.0
        The elastic-net mix, scikit-learn's: the penalty is
        ``(1 - l1_ratio) / 2 ||W||^2 + l1_ratio ||W||_1``; 0 is L2, 1 is L1. None
        (deprecated in scikit-learn 1.8) means 0.0, with a FutureWarning.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    class_weight : dict or "balanced", default=None
        Weights of the classes, multiplied into ``sample_weight``.
    solver : {"auto", "newton", "prox-newton", "lbfgs", "gd"}, default="auto"
        ``"auto"`` picks Newton (a handful of passes) while the Hessian is small,
        L-BFGS beyond; with an L1 part (``l1_ratio > 0``), proximal Newton while
        the Hessian is small, proximal gradient descent beyond.
    tol : float, default=1e-4
        Tolerance on the largest entry of the gradient of the mean objective.
    max_iter : int, default=100
        Maximum number of solver iterations.
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    cache : bool or "auto", default="auto"
        Keep dask data in worker memory between passes (``"auto"``: when it fits).
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
    verbose : int, default=0
        Print one line per iteration when positive.
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        (a flaky read, say) is rerun before its exception stops the fit.
    checkpoint : str or path-like, default=None
        File that keeps the solver's full state during the fit (written atomically
        every ``checkpoint_every`` iterations and at the end). A fit started with an
        existing checkpoint of the same data and parameters resumes from it and ends
        with the same coefficients as an uninterrupted fit; one written for other
        data or parameters is refused, naming what differs.
    checkpoint_every : int, default=1
        Iterations between two checkpoint writes.
    callback : callable, default=None
        Called after every iteration with its record (a dict with ``iteration``,
        ``objective``, ``n_passes``, ...), after the iteration's checkpoint is
        written; an exception it raises stops the fit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_iter_ : ndarray of shape (1,)
        Solver iterations.
    n_passes_ : int
        Passes over the data.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Objective per iteration, divided by the sum of sample weights times ``C``.
    solver_ : str
        Solver used.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _parameter_constraints = {
        **LinearModelBase._parameter_constraints,
        "penalty": [
            StrOptions({"l1", "l2", "elasticnet"}),
            None,
            Hidden(StrOptions({"deprecated"})),
        ],
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        penalty: str | None = "deprecated",
        *,
        C: float = 1.0,
        l1_ratio: float | None = 0.0,
        fit_intercept: bool = True,
        class_weight: dict[Any, float] | str | None = None,
        solver: str = "auto",
        tol: float = 1e-4,
        max_iter: int = 100,
        warm_start: bool = False,
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.cache = cache
        self.split_every = split_every
        self.verbose = verbose
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _penalty(self) -> Penalty:
        """The penalty of ``C`` and ``l1_ratio``, after scikit-learn 1.8's deprecations."""
        l1_ratio, C = self.l1_ratio, self.C
        if self.penalty != "deprecated":
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To "
                "avoid this warning, leave 'penalty' set to its default value and use "
                "'l1_ratio' or 'C' instead. Use l1_ratio=0 instead of penalty='l2', "
                "l1_ratio=1 instead of penalty='l1', l1_ratio set to a float between 0 "
                "and 1 instead of penalty='elasticnet', and C=np.inf instead of "
                "penalty=None.",
                FutureWarning,
                stacklevel=3,
            )
            if self.penalty is None:
                if C != 1.0:
                    warnings.warn(
                        "Setting penalty=None will ignore the C and l1_ratio parameters",
                        stacklevel=3,
                    )
                return NoPenalty()
            if self.penalty == "elasticnet" and l1_ratio is None:
                raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
            if self.penalty != "elasticnet":
                l1_ratio = {"l1": 1.0, "l2": 0.0}[str(self.penalty)]
        elif l1_ratio is None:
            warnings.warn(
                "'l1_ratio=None' was deprecated in version 1.8 and will trigger an error in "
                "1.10. Use 0<=l1_ratio<=1 instead.",
                FutureWarning,
                stacklevel=3,
            )
            l1_ratio = 0.0
        if np.isinf(C):
            return NoPenalty()
        if l1_ratio == 0:
            return L2(1.0 / C)
        return ElasticNet(1.0 / C, float(l1_ratio or 0.0))

    def _max_iter(self) -> int:
        return int(self.max_iter)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegression:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Class labels.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        penalty = self._penalty()
        # (A warm start begins elsewhere: its label pass need not bring the moments.)
        starts_at_zero = not (self.warm_start and hasattr(self, "coef_"))
        X, encoded, sample_weight, is_dask, frame = self._prepare_classification(
            X, y, sample_weight, zero_point=starts_at_zero and self.solver in ZERO_POINT_SOLVERS
        )
        moments = self.__dict__.pop("_label_moments", None)
        classes = self.classes_
        binary = len(classes) == 2
        loss = BinaryLogLoss() if binary else MultinomialLogLoss()
        weights, intercept = self._solve(
            X,
            encoded,
            sample_weight,
            is_dask,
            loss,
            penalty,
            n_outputs=1 if binary else len(classes),
            frame=frame,
            label_passes=1,  # np.unique over the labels (in memory)
            weight_sum=None if moments is None else float(moments.weights.sum()),
            zero_point=moments,
        )
        if not binary:
            # Softmax is unchanged by a shift common to all classes, and the unpenalised
            # intercepts are otherwise free along it: report the centred ones, as
            # scikit-learn's solvers (which start from zero) do.
            intercept = intercept - intercept.mean()
        self.coef_ = weights.T.copy()
        self.intercept_ = intercept.copy()
        self.n_iter_ = np.array([self._n_iter])
        return self

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : {ndarray, dask array} of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``; lazy for dask input.
        """
        raw = self._raw_prediction(X)
        if len(self.classes_) == 2:
            positive = expit(raw)
            return _stack_columns(1.0 - positive, positive)
        return (
            softmax(raw, axis=1)
            if isinstance(raw, np.ndarray)
            else raw.map_blocks(softmax, axis=1, dtype=np.float64)
        )

    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of the class probabilities.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : {ndarray, dask array} of shape (n_samples, n_classes)
            Log-probability of each class, computed without underflow.
        """
        raw = self._raw_prediction(X)
        if len(self.classes_) == 2:
            raw = _stack_columns(np.zeros_like(raw), raw)
        if isinstance(raw, np.ndarray):
            return log_softmax(raw, axis=1)
        return raw.map_blocks(log_softmax, axis=1, dtype=np.float64)


def _stack_columns(first: Any, second: Any) -> Any:
    """Concatenate two (n, 1) blocks along columns; works for NumPy and dask alike."""
    if isinstance(first, np.ndarray):
        return np.hstack([first, second])
    return first.map_blocks(
        lambda a, b: np.hstack([a, b]), second, chunks=(first.chunks[0], (2,)), dtype=first.dtype
    )
