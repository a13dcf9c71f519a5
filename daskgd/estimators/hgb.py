"""Histogram gradient-boosted trees on NumPy or dask arrays, with scikit-learn's API.

The fit is a sequence of engine passes over the frame of the data: one that
samples rows for the bin edges (and checks the inputs), then per iteration one
histogram pass per tree level (see :mod:`daskgd.trees.grower`). Binned X, the
raw predictions and the gradients are derived columns, kept on the worker that
holds each chunk.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier as _SkClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as _SkRegressor
from sklearn.utils.multiclass import check_classification_targets

from daskgd.estimators._boosting import RUN_CONSTRAINTS, BoostingBase
from daskgd.estimators._scoring import DaskClassifierMixin, DaskRegressorMixin
from daskgd.trees.losses import BoostingLoss


class HistGradientBoostingRegressor(DaskRegressorMixin, BoostingBase):
    """Histogram gradient-boosted regression trees on NumPy or dask arrays.

    scikit-learn's ``HistGradientBoostingRegressor``: the same parameters, defaults,
    split rules and fitted attributes. Each pass of the fit runs on the Dask
    cluster, chunk by chunk; binned X (uint8) is kept on the workers.

    Parameters
    ----------
    loss : {"squared_error", "absolute_error", "gamma", "poisson", "quantile"}, \
            default="squared_error"
        The loss; "poisson" and "gamma" use a log link. For "absolute_error" and
        "quantile", each leaf's value (and the baseline) is scikit-learn's
        percentile of its rows' residuals, found in about three passes per tree
        (see :mod:`daskgd.trees.quantiles`).
    quantile : float, default=None
        The quantile in (0, 1) of ``loss="quantile"``.
    learning_rate : float, default=0.1
        Shrinkage of the leaf values.
    max_iter : int, default=100
        Boosting iterations (trees).
    max_leaf_nodes : int or None, default=31
        Leaves per tree at most.
    max_depth : int or None, default=None
        Depth of a tree at most (edges from the root).
    min_samples_leaf : int, default=20
        Rows per leaf at least.
    l2_regularization : float, default=0.0
        L2 penalty on the leaf values.
    max_features : float, default=1.0
        Share of features drawn for each split (scikit-learn's draws, from
        ``random_state``).
    max_bins : int, default=255
        Bins of non-missing values per feature (at most 255).
    categorical_features : array-like of {bool, int, str}, "from_dtype" or None, \
            default="from_dtype"
        The categorical features: a mask, indices or names, or ("from_dtype") the
        category columns of a pandas or dask DataFrame. Encoded as scikit-learn
        encodes them (the sorted distinct values of the training data, at most
        ``max_bins``; one pass over dask input), and split by scikit-learn's
        categorical rule; an unknown category at predict time counts as missing.
    monotonic_cst : array-like of int or dict, default=None
        Per feature, 1 (increasing), -1 (decreasing) or 0; scikit-learn's rules
        (not for more than two classes).
    interaction_cst : None
        Not supported yet.
    warm_start : bool, default=False
        Go on boosting the fitted trees (on the same data) up to ``max_iter``.
    early_stopping : "auto" or bool, default="auto"
        Hold out ``validation_fraction`` of each chunk's rows and stop when the
        validation loss stalls; "auto" does so above 10,000 rows.
    scoring : str, callable or None, default="loss"
        The early-stopping score: "loss", a scikit-learn scorer (its name or
        the scorer itself), or None for :meth:`score`. A scorer scores up to
        10,000 training rows and every held-out row, brought to the client in
        one pass; the client adds each tree to their predictions, so scoring
        takes no pass per iteration (the loss takes one).
    validation_fraction : float, default=0.1
        Share of each chunk's rows held out (drawn with ``random_state``).
    n_iter_no_change : int, default=10
        Iterations without improvement before stopping.
    tol : float, default=1e-7
        Improvement that counts.
    verbose : int, default=0
        1: a progress bar per tree; 2: a line per tree.
    random_state : int, RandomState or None, default=None
        Seeds the binning sample and the held-out rows.
    growth : {"best-first", "level-wise"}, default="best-first"
        How a tree grows within ``max_leaf_nodes``. "best-first" is scikit-learn's
        (the leaf of highest gain next; the same trees as scikit-learn's), with a
        pass over the data each time the best leaf is one made in the last pass
        (about 16 passes for a tree of 31 leaves). "level-wise" splits, after each
        pass, every leaf whose children it brought, best gain first until the
        budget is spent: a pass per level (about 6), other trees, somewhat less
        accurate (test AUC 0.7146 against 0.7230 in ``benchmarks/bench_trees.py``).
        Without ``max_leaf_nodes`` (and with every feature allowed) both grow
        level by level, which gives scikit-learn's trees anyway.
    cache : bool or "auto", default="auto"
        Keep binned X on the workers ("auto": when it fits in half their memory).
    retries : int, default=0
        Reruns of a chunk task that raised.
    checkpoint : str or path-like, optional
        File of the fit's state, written every ``checkpoint_every`` iterations (and
        at the end); a fit started with an existing checkpoint of the same data and
        parameters resumes from it and ends with the same trees. One of other data
        or parameters is refused, naming what differs.
    checkpoint_every : int, default=10
        Iterations between checkpoints.
    callback : callable, optional
        Called with a record after every iteration.

    Attributes
    ----------
    n_iter_ : int
    n_trees_per_iteration_ : int
    train_score_ : ndarray
        Score (negative loss) before each iteration and after the last; empty
        without early stopping.
    validation_score_ : ndarray
    do_early_stopping_ : bool
    is_categorical_ : ndarray of bool or None
        Which features are categorical (None when none is).
    n_features_in_ : int
    feature_names_in_ : ndarray
    n_passes_ : int
        Passes over the data (the binning sample, one per tree level, losses).
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_SkRegressor._parameter_constraints,
        **RUN_CONSTRAINTS,
    }

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        quantile: float | None = None,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int | None = 31,
        max_depth: int | None = None,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_features: float = 1.0,
        max_bins: int = 255,
        categorical_features: Any = "from_dtype",
        monotonic_cst: Any = None,
        interaction_cst: Any = None,
        warm_start: bool = False,
        early_stopping: str | bool = "auto",
        scoring: Any = "loss",
        validation_fraction: float | None = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-7,
        verbose: int = 0,
        random_state: Any = None,
        growth: str = "best-first",
        cache: bool | str = "auto",
        retries: int = 0,
        checkpoint: str | None = None,
        checkpoint_every: int = 10,
        callback: Any = None,
    ) -> None:
        self.loss = loss
        self.quantile = quantile
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.max_bins = max_bins
        self.categorical_features = categorical_features
        self.monotonic_cst = monotonic_cst
        self.interaction_cst = interaction_cst
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.growth = growth
        self.cache = cache
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _boosting_loss(self, sample: Any, frame: Any) -> tuple[BoostingLoss, np.ndarray | None]:
        if self.loss == "quantile":
            from sklearn.utils import check_scalar

            quantile = check_scalar(
                self.quantile,
                "quantile",
                target_type=Real,
                min_val=0,
                max_val=1,
                include_boundaries="neither",
            )
            # The baseline is a percentile of y: the boosting loop finds it (None here).
            return BoostingLoss("quantile", quantile=float(quantile)), None
        if self.loss == "absolute_error":
            return BoostingLoss("absolute_error"), None
        if self.loss == "gamma" and not sample.y_min > 0:
            raise ValueError("loss='gamma' requires strictly positive y.")
        if self.loss == "poisson" and not (sample.y_min >= 0 and sample.weighted_y > 0):
            raise ValueError("loss='poisson' requires non-negative y and sum(y) > 0.")
        loss = BoostingLoss(self.loss)
        return loss, loss.baseline(np.array([sample.weighted_y]), sample.weight)

    def _predict_values(self, raw: Any) -> Any:
        return np.exp(raw[:, 0]) if self.loss in ("poisson", "gamma") else raw[:, 0]

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> HistGradientBoostingRegressor:
        """Fit the trees.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data; NaN is a missing value.
        y : {array-like, dask array} of shape (n_samples,)
            Targets.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight)

    def predict(self, X: Any) -> Any:
        """Predicted values; lazy (one task per chunk) for dask input.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        y : {ndarray, dask array} of shape (n_samples,)
        """
        return self._predict_values(self._raw_predict(X))


class HistGradientBoostingClassifier(DaskClassifierMixin, BoostingBase):
    """Histogram gradient-boosted classification trees on NumPy or dask arrays.

    scikit-learn's ``HistGradientBoostingClassifier`` (log-loss; one tree per class
    and iteration for more than two classes). The parameters are those of
    :class:`HistGradientBoostingRegressor`, with ``loss="log_loss"`` and
    ``class_weight``.

    Parameters
    ----------
    loss : {"log_loss"}, default="log_loss"
        The loss.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight`` (scikit-learn's).
    **kwargs
        See :class:`HistGradientBoostingRegressor`.

    Attributes
    ----------
    classes_ : ndarray
    n_iter_, n_trees_per_iteration_, train_score_, validation_score_, is_categorical_, \
            n_passes_
        As for the regressor.
    """

    _is_classifier = True
    _parameter_constraints: dict[str, list[Any]] = {
        **_SkClassifier._parameter_constraints,
        **RUN_CONSTRAINTS,
    }

    def __init__(
        self,
        loss: str = "log_loss",
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int | None = 31,
        max_depth: int | None = None,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_features: float = 1.0,
        max_bins: int = 255,
        categorical_features: Any = "from_dtype",
        monotonic_cst: Any = None,
        interaction_cst: Any = None,
        warm_start: bool = False,
        early_stopping: str | bool = "auto",
        scoring: Any = "loss",
        validation_fraction: float | None = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-7,
        verbose: int = 0,
        random_state: Any = None,
        class_weight: Any = None,
        growth: str = "best-first",
        cache: bool | str = "auto",
        retries: int = 0,
        checkpoint: str | None = None,
        checkpoint_every: int = 10,
        callback: Any = None,
    ) -> None:
        self.loss = loss
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.max_bins = max_bins
        self.categorical_features = categorical_features
        self.monotonic_cst = monotonic_cst
        self.interaction_cst = interaction_cst
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.class_weight = class_weight
        self.growth = growth
        self.cache = cache
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _boosting_loss(self, sample: Any, frame: Any) -> tuple[BoostingLoss, np.ndarray]:
        classes = sample.labels
        check_classification_targets(classes)
        if len(classes) < 2:
            raise ValueError(
                f"y contains only one class: {classes[0]!r}; at least 2 classes are needed."
            )
        self.classes_ = classes
        loss = (
            BoostingLoss("binary")
            if len(classes) == 2
            else BoostingLoss("multiclass", len(classes))
        )
        from daskgd.engine.blocks import class_weighted_rows, encode_labels

        # Kept: every iteration's gradients read the labels.
        frame.derive("y", encode_labels, ["y"], broadcast=classes, keep=True)
        label_weights = sample.label_weights
        per_class = self._class_weights(sample.label_counts)
        if per_class is not None:
            frame.derive(
                "sample_weight", class_weighted_rows, ["y", "sample_weight"], broadcast=per_class
            )
            label_weights = label_weights * per_class
        total = float(label_weights.sum())
        if total <= 0:
            raise ValueError("Sample weights must contain at least one positive value; all are 0.")
        return loss, loss.baseline(label_weights, total)

    def _class_weights(self, counts: np.ndarray) -> np.ndarray | None:
        """The weight of each class (scikit-learn's ``compute_sample_weight``), or None."""
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            return counts.sum() / (len(counts) * counts)
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        unknown = [label for label in self.class_weight if label not in index]
        if unknown:
            raise ValueError(f"The classes, {unknown}, are not in class_weight")
        weights = np.ones(len(counts))
        for label, weight in dict(self.class_weight).items():
            weights[index[label]] = weight
        return weights

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> HistGradientBoostingClassifier:
        """Fit the trees.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data; NaN is a missing value.
        y : {array-like, dask array} of shape (n_samples,)
            Class labels.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight)

    def decision_function(self, X: Any) -> Any:
        """Raw scores: one per sample for two classes, one per class otherwise."""
        raw = self._raw_predict(X)
        return raw[:, 0] if self.n_trees_per_iteration_ == 1 else raw

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, in the order of ``classes_``; lazy for dask input."""
        raw = self._raw_predict(X)
        loss = self._loss_object
        if isinstance(raw, np.ndarray):
            return loss.link_inverse(raw)
        return raw.map_blocks(
            loss.link_inverse, chunks=(raw.chunks[0], (len(self.classes_),)), dtype=np.float64
        )

    def predict(self, X: Any) -> Any:
        """Predicted class labels; lazy for dask input."""
        raw = self._raw_predict(X)
        from daskgd.engine.blocks import predicted_labels

        if isinstance(raw, np.ndarray):
            return predicted_labels(raw, self.classes_)
        return raw.map_blocks(
            predicted_labels, self.classes_, drop_axis=1, dtype=self.classes_.dtype
        )
