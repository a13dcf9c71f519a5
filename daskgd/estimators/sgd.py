"""SGDClassifier and SGDRegressor: scikit-learn's per-sample SGD, taken to the chunks.

The model visits the data, never the other way round. ``strategy="sequential"``
threads one model through the chunks (one ``partial_fit`` per chunk, on the
worker that holds it), which is exactly a scikit-learn ``partial_fit`` loop.
``strategy="average"`` is map-reduce training: each worker trains a copy on its
own group of chunks for ``local_epochs``, the copies are averaged weighted by
the rows each saw, and the average starts the next round.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral
from typing import Any

import numpy as np
from sklearn import linear_model
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from daskgd import validation
from daskgd.checkpoint import Checkpoint, fingerprint
from daskgd.estimators._scoring import DaskClassifierMixin, DaskRegressorMixin
from daskgd.monitoring import make_callback
from daskgd.oracles.numpy import InMemoryChunks
from daskgd.penalties import Penalty
from daskgd.stochastic.eta import ETA0_CANDIDATES as ETA0_CANDIDATES  # importable from here too
from daskgd.stochastic.eta import choose_eta0
from daskgd.stochastic.loop import EpochProgress, EpochSettings, run_epochs
from daskgd.stochastic.objective import pointwise_loss, sgd_penalty
from daskgd.stochastic.steps import BlockTrainer, SGDState

OUR_CONSTRAINTS: dict[str, list[Any]] = {
    "learning_rate": [StrOptions({"constant", "optimal", "invscaling", "adaptive", "auto"})],
    "strategy": [StrOptions({"sequential", "average"})],
    "local_epochs": [Interval(Integral, 1, None, closed="left")],
    "n_rounds": [Interval(Integral, 1, None, closed="left"), None],
    "cache": ["boolean", StrOptions({"auto"})],
    "retries": [Interval(Integral, 0, None, closed="left")],
    "checkpoint": [str, os.PathLike, None],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
    "callback": [callable, None],
}


class _SGDBase(BaseEstimator):
    """What SGDClassifier and SGDRegressor share: inputs, the inner model, fit and predict.

    The epochs themselves are :func:`daskgd.stochastic.loop.run_epochs`.
    """

    _sklearn_class: type = linear_model.SGDRegressor
    _is_classifier = False
    sgd_: Any
    eta0_: float
    classes_: Any

    # ---- the inner scikit-learn model ----

    def _sklearn_params(self) -> dict[str, Any]:
        names = self._sklearn_class().get_params()
        params = {name: getattr(self, name) for name in names if hasattr(self, name)}
        params.update(verbose=0, warm_start=False, max_iter=1, tol=None)
        params["early_stopping"] = False  # held-out rows are handled chunk by chunk
        return params

    def _new_model(self, eta0: float, class_weight: Any = None) -> Any:
        params = self._sklearn_params()
        learning_rate = "adaptive" if self.learning_rate == "auto" else self.learning_rate
        params.update(learning_rate=learning_rate, eta0=eta0)
        if self._is_classifier:
            params["class_weight"] = class_weight
        return self._sklearn_class(**params)

    def _trainer(self, classes: np.ndarray | None, validation_fraction: float) -> BlockTrainer:
        n_classes = None if classes is None else len(classes)
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        return BlockTrainer(
            loss=pointwise_loss(self.loss, self.epsilon, n_classes),
            classes=classes,
            validation_fraction=validation_fraction,
            validation_seed=int(seed),
        )

    # ---- inputs ----

    def _chunks(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, bool, Any, Any]:
        """Validated data as a chunk runner; whether it is dask; and the raw ``y``.

        ``self._input_passes`` counts the pass (if any) that found the partition
        lengths of dask DataFrames.
        """
        self._input_passes = 0
        if validation.is_dask_collection(X) or validation.is_dask_collection(y):
            if hasattr(X, "columns"):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            elif not self._continuing and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            X, y, sample_weight, self._input_passes = validation.with_known_rows(
                X, y, sample_weight, retries=self.retries
            )
            X = validation.check_dask_X(X, accept_sparse=True)
            if self._continuing and X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            y = validation.align_rows(y, X, name="y")
            validation.check_dask_y(y, numeric=not self._is_classifier)
            if y.ndim == 2:
                if y.shape[1] != 1:
                    raise ValueError(f"y should be a 1d array, got an array of shape {y.shape}.")
                y = y[:, 0]
            if sample_weight is not None:
                sample_weight = validation.check_dask_sample_weight(sample_weight, X)
            # The chunk tasks check their rows for NaN and infinity (scikit-learn's
            # partial_fit scans them too, but cannot name the chunk and row).
            return validation.check_blocks(X, "X"), True, y, sample_weight
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            reset=not self._continuing,
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        return X, False, y, sample_weight

    def _runner(self, X: Any, y: Any, sample_weight: Any, is_dask: bool) -> Any:
        if not is_dask:
            return InMemoryChunks(X, y, sample_weight)
        from daskgd.oracles.dask import DaskChunks

        return DaskChunks(X, y, sample_weight, cache=self.cache, retries=self.retries)

    # ---- the epochs ----

    def _fit_epochs(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        *,
        max_epochs: int,
        classes: Any = None,
        partial: bool = False,
    ) -> Any:
        self._continuing = hasattr(self, "sgd_") and (partial or bool(self.warm_start))
        X, is_dask, y, sample_weight = self._chunks(X, y, sample_weight)
        self.n_features_in_ = int(X.shape[1])
        checkpoint, resume = None, None
        if self.checkpoint is not None and not partial:
            # Read before the data is touched, so that a mismatch is reported at once.
            checkpoint = Checkpoint(
                self.checkpoint,
                fingerprint(
                    self,
                    X,
                    y,
                    sample_weight,
                    start=(self.sgd_.coef_, self.sgd_.intercept_) if self._continuing else None,
                ),
                every=self.checkpoint_every,
            )
            resume = checkpoint.load()
        runner = self._runner(X, y, sample_weight, is_dask)
        classes, class_weight, weight_total = self._classes(y, classes, is_dask, partial, runner)
        if is_dask and sample_weight is not None:
            self._check_weight_total(runner, weight_total)
        early_stopping = bool(self.early_stopping) and not partial
        trainer = self._trainer(classes, self.validation_fraction if early_stopping else 0.0)
        penalty = sgd_penalty(self.penalty, self.alpha, self.l1_ratio)
        settings = self._epoch_settings(max_epochs, early_stopping, partial)
        progress = self._start(resume, runner, settings, trainer, penalty, class_weight)
        result = run_epochs(
            runner,
            trainer,
            penalty,
            settings,
            progress,
            checkpoint=checkpoint,
            monitor=make_callback(
                type(self).__name__, self.strategy, self.verbose, settings.n_rounds
            ),
            callback=self.callback,
        )
        if result.ran_out_of_rounds:
            warnings.warn(
                f"Maximum number of iteration reached before convergence ({settings.n_rounds} "
                f"{'rounds' if self.strategy == 'average' else 'epochs'}). Consider increasing "
                "max_iter to improve the fit.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.sgd_ = result.model
        self.eta0_ = result.eta0
        self.n_iter_ = result.n_iter
        self.n_passes_ = result.n_passes
        self.loss_curve_ = result.losses
        self.groups_ = result.groups
        self.coef_ = result.model.coef_
        self.intercept_ = result.model.intercept_
        self.t_ = result.model.t_
        return self

    def _epoch_settings(
        self, max_epochs: int, early_stopping: bool, partial: bool
    ) -> EpochSettings:
        """The parameters the epoch loop reads; ``max_epochs`` is 1 for ``partial_fit``."""
        n_rounds = max_epochs
        if self.strategy == "average" and not partial:
            n_rounds = self.n_rounds or max(1, max_epochs // self.local_epochs)
        return EpochSettings(
            strategy=self.strategy,
            n_rounds=n_rounds,
            local_epochs=self.local_epochs,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            shuffle=bool(self.shuffle),
            seed=int(self.random_state) if isinstance(self.random_state, Integral) else None,
            early_stopping=early_stopping,
            classifier=self._is_classifier,
            partial=partial,
        )

    def _start(
        self,
        resume: dict[str, Any] | None,
        runner: Any,
        settings: EpochSettings,
        trainer: BlockTrainer,
        penalty: Penalty,
        class_weight: Any,
    ) -> EpochProgress:
        """Where the epochs start: a checkpoint, the previous fit (warm start) or a new model."""
        if resume is not None:
            return EpochProgress.from_snapshot(resume)
        if self._continuing:
            # This fit's label and weight passes count on top of the previous fit's.
            return EpochProgress.start(
                runner,
                settings,
                SGDState(self.sgd_),
                self.eta0_,
                n_iter=self.n_iter_,
                n_passes=self.n_passes_ + self._input_passes + runner.n_passes,
                losses=list(self.loss_curve_),
            )
        eta0 = self.eta0
        if self.learning_rate == "auto":
            untrained = SGDState(self._new_model(self.eta0, class_weight))
            eta0 = choose_eta0(runner, untrained, trainer, penalty)
        return EpochProgress.start(
            runner,
            settings,
            SGDState(self._new_model(eta0, class_weight)),
            eta0,
            n_passes=self._input_passes + runner.n_passes,  # partition lengths, labels, weights
        )

    def _classes(
        self, y: Any, classes: Any, is_dask: bool, partial: bool, runner: Any
    ) -> tuple[Any, Any, float | None]:
        """The classes, the class weights, and the weights' total if a pass counted it."""
        return None, None, None

    @staticmethod
    def _check_weight_total(runner: Any, total: float | None) -> None:
        """Refuse sample weights that are all zero (a pass over the weights, unless counted)."""
        if total is None:
            total = runner.weight_sum()
        if not total > 0:
            raise ValueError(
                "Sample weights must contain at least one non-zero number; all are 0. Give "
                "the rows to fit on a positive weight."
            )

    # ---- public API ----

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the model by epochs of SGD over the chunks of ``X``.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Target values (class labels for classifiers).
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        return self._fit_epochs(X, y, sample_weight, max_epochs=self.max_iter)

    def _decision_blocks(self, X: Any, method: str) -> Any:
        check_is_fitted(self, "sgd_")
        if validation.is_dask_collection(X):
            X = validation.check_dask_X_predict(
                X, self.n_features_in_, type(self).__name__, accept_sparse=True
            )
            from daskgd.engine.execution import map_row_blocks

            function = getattr(self.sgd_, method)
            if method == "predict" and self._is_classifier:
                return map_row_blocks(function, X, None, dtype=self.classes_.dtype)
            if method == "predict" or (method == "decision_function" and self._binary_output):
                return map_row_blocks(function, X, None)
            return map_row_blocks(function, X, self._n_columns(method))
        X = validate_data(self, X, accept_sparse="csr", reset=False, dtype=[np.float64, np.float32])
        return getattr(self.sgd_, method)(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR, in memory or as dask chunks
        return tags

    @property
    def _binary_output(self) -> bool:
        return not self._is_classifier or len(self.classes_) == 2

    def _n_columns(self, method: str) -> int:
        return len(self.classes_)

    def predict(self, X: Any) -> Any:
        """Predict with the fitted model.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : {ndarray, dask array} of shape (n_samples,)
            Predictions; a lazy dask array with the row chunks of ``X`` for dask input.
        """
        return self._decision_blocks(X, "predict")


SHARED_DOC_PARAMETERS = """
    loss : str
        The loss, as scikit-learn's.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Penalty ``alpha * R(w)``.
    alpha : float, default=0.0001
        Penalty strength (also sets the "optimal" learning rate).
    l1_ratio : float, default=0.15
        Share of L1 in the elastic net.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the data).
    tol : float or None, default=1e-3
        Stop when the epoch's loss (or validation score) has not improved by
        ``tol`` for ``n_iter_no_change`` epochs; None never stops early.
    shuffle : bool, default=True
        Visit the chunks in a new random order every epoch (scikit-learn also
        shuffles the rows inside each chunk).
    verbose : int, default=0
        Print one line per epoch when positive.
    epsilon : float, default=0.1
        Epsilon of the Huber and epsilon-insensitive losses.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling and of the held-out rows.
    learning_rate : {"constant", "optimal", "invscaling", "adaptive", "auto"}
        Schedule, as scikit-learn's; "auto" picks ``eta0`` on a sample of the
        first chunk (reported in ``eta0_``) and then adapts it like "adaptive".
    eta0 : float, default=0.01
        Initial learning rate.
    power_t : float
        Exponent of the "invscaling" schedule.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows of every chunk and stop on
        their score.
    validation_fraction : float, default=0.1
        Share of rows held out when ``early_stopping``.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping.
    warm_start : bool, default=False
        Continue from the previous fit.
    average : bool or int, default=False
        Averaged SGD, as scikit-learn's.
    strategy : {"sequential", "average"}, default="sequential"
        "sequential": one model visits every chunk in turn. "average": map-reduce
        rounds with row-weighted parameter averaging.
    local_epochs : int, default=1
        Epochs each worker runs on its own chunks per averaging round.
    n_rounds : int, default=None
        Averaging rounds (None: ``max_iter // local_epochs``).
    cache : bool or "auto", default="auto"
        Keep dask data in worker memory between epochs (``"auto"``: when it fits).
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        (a flaky read, say) is rerun before its exception stops the fit.
    checkpoint : str or path-like, default=None
        File that keeps the fit's full state (model, step counter, random generator,
        epoch, stopping counters), written atomically every ``checkpoint_every``
        epochs (or rounds) and at the end. A fit started with an existing checkpoint
        of the same data and parameters resumes from it and ends with the same
        coefficients as an uninterrupted fit; one written for other data or
        parameters is refused, naming what differs. ``partial_fit`` ignores it.
    checkpoint_every : int, default=1
        Epochs (or rounds) between two checkpoint writes.
    callback : callable, default=None
        Called after every epoch (or round) with its record (a dict with
        ``iteration``, ``objective``, ``n_passes``, ...), after the checkpoint is
        written; an exception it raises stops the fit."""

SHARED_DOC_ATTRIBUTES = """
    n_iter_ : int
        Epochs (or averaging rounds) run.
    n_passes_ : int
        Passes over the data, validation passes included.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Objective per epoch: the mean loss of each row just before the model
        learned from it, plus the penalty.
    eta0_ : float
        Initial learning rate used (chosen when ``learning_rate="auto"``).
    groups_ : list of list of int
        Chunk indices trained together: one group per worker for "average", a
        single group of every chunk for "sequential".
    t_ : float
        Number of weight updates (scikit-learn's counter).
    sgd_ : SGDClassifier or SGDRegressor
        The fitted scikit-learn model that holds the state.
    n_features_in_ : int
        Number of features seen in fit."""


class SGDRegressor(DaskRegressorMixin, _SGDBase):
    __doc__ = (
        """Linear regression by SGD over the chunks of a NumPy or dask array.

    Minimises ``1/n sum_i loss(y_i, x_i @ w + b) + alpha * R(w)`` as scikit-learn's
    SGDRegressor does (the same per-sample updates).

    Parameters
    ----------"""
        + SHARED_DOC_PARAMETERS
        + """

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients.
    intercept_ : ndarray of shape (1,)
        Intercept."""
        + SHARED_DOC_ATTRIBUTES
        + "\n    "
    )

    _sklearn_class = linear_model.SGDRegressor
    _parameter_constraints = {**linear_model.SGDRegressor._parameter_constraints, **OUR_CONSTRAINTS}

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        random_state: Any = None,
        learning_rate: str = "invscaling",
        eta0: float = 0.01,
        power_t: float = 0.25,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        warm_start: bool = False,
        average: bool | int = False,
        strategy: str = "sequential",
        local_epochs: int = 1,
        n_rounds: int | None = None,
        cache: bool | str = "auto",
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.strategy = strategy
        self.local_epochs = local_epochs
        self.n_rounds = n_rounds
        self.cache = cache
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> SGDRegressor:
        """One pass of SGD over the chunks of ``X``, in order, continuing the current model.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Target values.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if not hasattr(self, "sgd_"):
            self._validate_params()
        return self._fit_epochs(X, y, sample_weight, max_epochs=1, partial=True)

    def _chunks(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, bool, Any, Any]:
        X, is_dask, y, sample_weight = super()._chunks(X, y, sample_weight)
        if is_dask:
            return X, is_dask, validation.check_blocks(y.astype(np.float64), "y"), sample_weight
        return X, is_dask, np.asarray(y, dtype=np.float64), sample_weight


class SGDClassifier(DaskClassifierMixin, _SGDBase):
    __doc__ = (
        """Linear classifier by SGD over the chunks of a NumPy or dask array.

    Minimises ``1/n sum_i loss(y_i, x_i @ w + b) + alpha * R(w)`` as scikit-learn's
    SGDClassifier does; more than two classes are fitted one-vs-rest, all
    classes in the same passes over the data.

    Parameters
    ----------"""
        + SHARED_DOC_PARAMETERS
        + """
    n_jobs : int, default=None
        Threads for the one-vs-rest problems inside a chunk.
    class_weight : dict or "balanced", default=None
        Weights of the classes ("balanced" from the class counts of ``y``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts."""
        + SHARED_DOC_ATTRIBUTES
        + "\n    "
    )

    _sklearn_class = linear_model.SGDClassifier
    _is_classifier = True
    _parameter_constraints = {
        **linear_model.SGDClassifier._parameter_constraints,
        **OUR_CONSTRAINTS,
    }

    def __init__(
        self,
        loss: str = "hinge",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        n_jobs: int | None = None,
        random_state: Any = None,
        learning_rate: str = "optimal",
        eta0: float = 0.01,
        power_t: float = 0.5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        class_weight: Any = None,
        warm_start: bool = False,
        average: bool | int = False,
        strategy: str = "sequential",
        local_epochs: int = 1,
        n_rounds: int | None = None,
        cache: bool | str = "auto",
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.strategy = strategy
        self.local_epochs = local_epochs
        self.n_rounds = n_rounds
        self.cache = cache
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _classes(
        self, y: Any, classes: Any, is_dask: bool, partial: bool, runner: Any
    ) -> tuple[Any, Any, float | None]:
        weight_total = None
        if self._continuing and hasattr(self, "classes_"):
            return self.classes_, self.sgd_.class_weight, None
        if partial and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if is_dask:
            # One pass: the labels, their counts and the weights' total.
            found, counts, weight_total = runner.label_counts()
            validation.check_discrete_labels(found, type(self).__name__, "SGDRegressor")
        else:
            check_classification_targets(y)
            found, counts, _ = runner.label_counts()
        if classes is None:
            classes = found
        else:
            classes = np.unique(np.asarray(classes))
            unknown = np.setdiff1d(found, classes)
            if len(unknown):
                raise ValueError(
                    f"`classes={classes}` is not the same as on first call to "
                    f"partial_fit: y has labels {unknown} outside it."
                )
        if len(classes) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got 1 class: {classes[0]!r}."
            )
        self.classes_ = classes
        class_weight = self.class_weight
        if class_weight == "balanced":
            full_counts = np.zeros(len(classes))
            full_counts[np.searchsorted(classes, found)] = counts
            labels = np.repeat(classes, full_counts.astype(np.int64))
            weights = compute_class_weight("balanced", classes=found, y=labels)
            class_weight = dict(zip(found.tolist(), weights.tolist(), strict=True))
        return classes, class_weight, weight_total

    def _chunks(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, bool, Any, Any]:
        X, is_dask, y, sample_weight = super()._chunks(X, y, sample_weight)
        if is_dask:  # float labels are checked for NaN as they are read
            return X, is_dask, validation.check_blocks(y, "y"), sample_weight
        return X, is_dask, y, sample_weight

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> SGDClassifier:
        """One pass of SGD over the chunks of ``X``, in order, continuing the current model.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if not hasattr(self, "sgd_"):
            self._validate_params()
            if self.class_weight == "balanced":
                raise ValueError(
                    "class_weight 'balanced' is not supported for partial_fit: compute the "
                    "weights with sklearn.utils.compute_class_weight and pass a dict."
                )
        return self._fit_epochs(X, y, sample_weight, max_epochs=1, classes=classes, partial=True)

    def decision_function(self, X: Any) -> Any:
        """Signed distances to the hyperplanes.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : {ndarray, dask array} of shape (n_samples,) or (n_samples, n_classes)
            Lazy for dask input.
        """
        return self._decision_blocks(X, "decision_function")

    def _has_proba(self) -> bool:
        return self.loss in ("log_loss", "modified_huber")

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (log_loss and modified_huber losses).

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : {ndarray, dask array} of shape (n_samples, n_classes)
            Lazy for dask input.
        """
        return self._decision_blocks(X, "predict_proba")

    @available_if(_has_proba)
    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of the class probabilities.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : {ndarray, dask array} of shape (n_samples, n_classes)
            Lazy for dask input.
        """
        return self._decision_blocks(X, "predict_log_proba")
