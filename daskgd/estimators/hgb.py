"""Histogram gradient-boosted trees on NumPy or dask arrays, with scikit-learn's API.

The fit is a sequence of engine passes over the frame of the data: one that
samples rows for the bin edges (and checks the inputs), then per iteration one
histogram pass per tree level (see :mod:`daskgd.trees.grower`). Binned X, the
raw predictions and the gradients are derived columns, kept on the worker that
holds each chunk.
"""

from __future__ import annotations

import os
import time
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.ensemble import HistGradientBoostingClassifier as _SkClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as _SkRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from daskgd import validation
from daskgd.engine.execution import map_row_blocks, should_persist
from daskgd.monitoring import make_callback
from daskgd.trees.binning import BINNING_SAMPLE_ROWS, BinMapper, sample_rows_per_chunk
from daskgd.trees.grower import GrowthParameters, grow_trees
from daskgd.trees.losses import BoostingLoss
from daskgd.trees.passes import (
    AddTrees,
    BinningSample,
    BoostingLosses,
    HistogramRequest,
    Holdout,
    NodeHistograms,
    initial_raw,
    row_gradients,
)
from daskgd.trees.predictor import BoostedTrees
from daskgd.trees.splitting import SplitParameters

RUN_CONSTRAINTS: dict[str, list[Any]] = {
    "cache": ["boolean", StrOptions({"auto"})],
    "retries": [Interval(Integral, 0, None, closed="left")],
    "checkpoint": [str, os.PathLike, None],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
    "callback": [callable, None],
}

#: Rows above which ``early_stopping="auto"`` holds rows out (scikit-learn's rule).
AUTO_EARLY_STOPPING_ROWS = 10_000


class _BoostingBase(BaseEstimator):
    """The boosting loop shared by the regressor and the classifier."""

    _is_classifier = False
    _boosting_state: dict[str, Any]
    n_iter_: int

    def _not_yet_supported(self) -> None:
        """Parameters of scikit-learn's API that this version refuses rather than ignores."""
        refused = {
            "interaction_cst": self.interaction_cst is not None,
            "categorical_features": self.categorical_features not in (None, "from_dtype"),
            # None means the default scorer (accuracy or R^2), not the loss.
            "scoring": self.scoring != "loss" and self.early_stopping is not False,
        }
        for name, refuse in refused.items():
            if refuse:
                raise NotImplementedError(
                    f"{type(self).__name__}: {name}={getattr(self, name)!r} is not supported "
                    "yet; leave it at its default."
                )

    # ---- inputs ----

    def _frame(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, bool]:
        """The frame of the data, and whether it is dask."""
        dtypes = getattr(X, "dtypes", None)
        if dtypes is not None and any(str(dtype) == "category" for dtype in dtypes):
            # scikit-learn would treat them as categorical; refuse rather than bin codes.
            raise NotImplementedError(
                f"{type(self).__name__}: categorical features (the category columns of X) "
                "are not supported yet; encode them as numbers first."
            )
        if validation.is_dask_collection(X) or validation.is_dask_collection(y):
            self._set_feature_names(X)
            X, y, sample_weight, self._input_passes = validation.with_known_rows(
                X, y, sample_weight, retries=self.retries
            )
            X = validation.check_dask_X(X)
            self.n_features_in_ = int(X.shape[1])
            y = validation.align_rows(y, X, name="y")
            validation.check_dask_y(y, numeric=not self._is_classifier)
            if y.ndim == 2:
                if y.shape[1] != 1:
                    raise ValueError(f"y should be a 1d array, got an array of shape {y.shape}.")
                y = y[:, 0]
            if sample_weight is not None:
                sample_weight = validation.align_rows(sample_weight, X, name="sample_weight")
            from daskgd.engine.frame import ChunkedFrame

            # The inputs stream from their source; what is kept is derived (binned X).
            frame = ChunkedFrame(
                {"X": X, "y": y, "sample_weight": sample_weight},
                cache=False,
                retries=self.retries,
                check=False,
            )
            self._validated = (X, y, sample_weight)
            bytes_kept = sum(frame.chunk_rows) * (X.shape[1] + 8 * 4)
            self._keep_bins = should_persist(bytes_kept, self.cache)
            return frame, True
        self._input_passes = 0
        X, y = validate_data(
            self, X, y, dtype=[np.float64], ensure_all_finite="allow-nan", y_numeric=False
        )
        if np.isinf(X).any():
            row = int(np.argmax(np.isinf(X).any(axis=1)))
            raise ValueError(f"Input X contains infinity at row {row}.")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        if self._is_classifier:
            check_classification_targets(y)
        from daskgd.engine.memory import InMemoryFrame

        self._keep_bins = True
        self._validated = (X, y, sample_weight)
        return InMemoryFrame({"X": X, "y": y, "sample_weight": sample_weight}), False

    def _set_feature_names(self, X: Any) -> None:
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # ---- the fit ----

    def _boosting_loss(self, sample: Any, frame: Any) -> tuple[BoostingLoss, np.ndarray]:
        """The loss and the baseline prediction, from the sample pass's totals."""
        raise NotImplementedError

    def _fit(self, X: Any, y: Any, sample_weight: Any) -> Any:
        self._validate_params()
        self._not_yet_supported()
        started = time.perf_counter()
        frame, is_dask = self._frame(X, y, sample_weight)
        checkpoint, resume = self._open_checkpoint()
        warm = resume is None and bool(self.warm_start) and hasattr(self, "_boosting_state")
        if warm:
            if self.max_iter < self.n_iter_:
                raise ValueError(
                    f"max_iter={self.max_iter} must be larger than or equal to "
                    f"n_iter_={self.n_iter_} when warm_start==True"
                )
            # Go on boosting the fitted trees: scikit-learn's warm start.
            resume = {**self._boosting_state, "stopped": False}
        n_rows = int(sum(frame.chunk_rows))
        # scikit-learn's two seeds: the held-out rows, and the features of each split.
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.uint32).max, dtype="u8"))
        feature_rng = np.random.default_rng(rng.randint(np.iinfo(np.uint32).max, dtype="u8"))
        if resume is not None:
            seed = int(resume["seed"])  # the held-out rows of the run it resumes
            feature_rng.bit_generator.state = resume["feature_rng"]
        early = (
            n_rows > AUTO_EARLY_STOPPING_ROWS
            if self.early_stopping == "auto"
            else bool(self.early_stopping)
        )
        fraction = float(self.validation_fraction or 0.0) if early else 0.0
        holdout = Holdout(fraction, seed)
        self.do_early_stopping_ = early

        # Pass 1: the binning sample, the baseline's sums, the value checks.
        sample = frame.reduce(
            BinningSample(self._is_classifier),
            (
                sample_rows_per_chunk(frame.chunk_rows, BINNING_SAMPLE_ROWS),
                frame.first_rows,
                seed,
                holdout,
            ),
        )
        if sample.weight <= 0:
            raise ValueError("Sample weights must contain at least one positive value; all are 0.")
        loss, baseline = self._boosting_loss(sample, frame)
        if early and fraction > 0 and not sample.rows.size:
            raise ValueError("No row is left for training: lower validation_fraction.")
        mapper = BinMapper.from_sample(
            sample.rows, int(self.max_bins), None if sample_weight is None else sample.row_weights
        )
        self._bin_mapper = mapper
        self._baseline_prediction = baseline
        self._loss_object = loss
        self.n_trees_per_iteration_ = loss.n_trees_per_iteration

        keep = self._keep_bins
        frame.derive("binned", mapper, ["X"], keep=keep)
        frame.derive("raw", initial_raw, ["y"], broadcast=baseline, keep=True)
        params = GrowthParameters(
            max_leaf_nodes=self.max_leaf_nodes,
            max_depth=self.max_depth,
            learning_rate=float(self.learning_rate),
            max_features=float(self.max_features),
            monotonic=self._monotonic(),
            split=SplitParameters(
                min_samples_leaf=int(self.min_samples_leaf),
                l2_regularization=float(self.l2_regularization),
            ),
        )

        def histogram_pass(trees: list[Any], slots: list[np.ndarray]) -> list[np.ndarray]:
            request = HistogramRequest(
                tuple(trees), tuple(slots), mapper.n_bins, mapper.missing_bin, holdout
            )
            return list(frame.reduce(NodeHistograms(), request).per_tree)

        train_scores: list[float] = []
        validation_scores: list[float] = []
        predictors: list[tuple[Any, ...]] = []
        has_missing = None
        # A resumed fit counts the passes of the run it resumes, not those of its setup.
        passes_before = 0
        if resume is not None:
            predictors = list(resume["predictors"])
            train_scores = list(resume["train_scores"])
            validation_scores = list(resume["validation_scores"])
            has_missing = resume["has_missing"]
            # A warm start adds its own setup; a resumed checkpoint redoes the first run's.
            passes_before = int(resume["n_passes"]) - (0 if warm else frame.n_passes)
            if predictors:
                add = AddTrees(tuple(predictors), mapper.missing_bin)
                frame.derive("raw", add, ["binned", "raw"], keep=True)

        def n_passes() -> int:
            return self._input_passes + passes_before + frame.n_passes

        def state(stopped: bool) -> dict[str, Any]:
            """What a checkpoint (or a warm start) goes on from."""
            return {
                "seed": seed,
                "feature_rng": feature_rng.bit_generator.state,
                "predictors": tuple(predictors),
                "train_scores": list(train_scores),
                "validation_scores": list(validation_scores),
                "has_missing": has_missing,
                "n_passes": n_passes() - self._input_passes,
                "stopped": stopped,
            }

        def score() -> None:
            totals = frame.reduce(BoostingLosses(), (loss, holdout))
            train_scores.append(-totals.train_loss / totals.train_weight)
            if fraction > 0:
                validation_scores.append(-totals.validation_loss / totals.validation_weight)

        if early and resume is None:
            score()
        monitor = make_callback(type(self).__name__, "hgb", self.verbose, int(self.max_iter))
        stopped = bool(resume is not None and resume["stopped"])
        try:
            for iteration in range(len(predictors), 0 if stopped else int(self.max_iter)):
                settle = getattr(frame, "settle", None)
                if settle is not None:
                    settle()
                frame.derive(
                    "gradients",
                    row_gradients,
                    ["raw", "y", "sample_weight"],
                    broadcast=loss,
                    keep=True,
                )
                trees, _, has_missing = grow_trees(
                    histogram_pass,
                    loss.n_trees_per_iteration,
                    mapper.thresholds,
                    mapper.n_bins_non_missing,
                    params,
                    has_missing,
                    feature_rng,
                )
                predictors.append(tuple(trees))
                add = AddTrees((tuple(trees),), mapper.missing_bin)
                frame.derive("raw", add, ["binned", "raw"], keep=True)
                stop = all(tree.n_nodes == 1 for tree in trees)
                if early:
                    score()
                    scores = validation_scores if fraction > 0 else train_scores
                    stop = stop or self._should_stop(scores)
                if checkpoint is not None and (
                    checkpoint.due(iteration + 1) or stop or iteration + 1 == self.max_iter
                ):
                    checkpoint.save(state(stop))
                record = {
                    "iteration": iteration + 1,
                    "objective": -train_scores[-1] if train_scores else float("nan"),
                    "grad_norm": float("nan"),
                    "n_passes": n_passes(),
                    "seconds": time.perf_counter() - started,
                }
                monitor(record)
                if self.callback is not None:
                    self.callback(dict(record))
                if stop:
                    break
        finally:
            monitor.close()
        self._predictor = BoostedTrees(np.asarray(baseline), tuple(predictors))
        self.n_iter_ = len(predictors)
        self.train_score_ = np.asarray(train_scores)
        self.validation_score_ = np.asarray(validation_scores)
        self.n_passes_ = n_passes()
        self._boosting_state = state(False)
        self.is_categorical_ = None
        return self

    def _monotonic(self) -> np.ndarray | None:
        """The constraint of every feature (scikit-learn's checks and messages), or None."""
        if self.monotonic_cst is None:
            return None
        from sklearn.utils.validation import _check_monotonic_cst

        if self._is_classifier and self.n_trees_per_iteration_ > 1:
            raise ValueError(
                "monotonic constraints are not supported for multiclass classification."
            )
        return np.asarray(_check_monotonic_cst(self, self.monotonic_cst), dtype=np.int64)

    def _open_checkpoint(self) -> tuple[Any, dict[str, Any] | None]:
        """The checkpoint of this fit (None without one), and the state to resume from."""
        if self.checkpoint is None:
            return None, None
        from daskgd.checkpoint import Checkpoint, fingerprint

        checkpoint = Checkpoint(
            self.checkpoint, fingerprint(self, *self._validated), every=self.checkpoint_every
        )
        return checkpoint, checkpoint.load()

    def _should_stop(self, scores: list[float]) -> bool:
        """scikit-learn's rule: none of the last ``n_iter_no_change`` scores improved by ``tol``."""
        reference_position = int(self.n_iter_no_change) + 1
        if len(scores) < reference_position:
            return False
        reference = scores[-reference_position] + self.tol
        return not any(score > reference for score in scores[-reference_position + 1 :])

    # ---- predictions ----

    def _raw_predict(self, X: Any) -> Any:
        check_is_fitted(self, "_predictor")
        if validation.is_dask_collection(X):
            X = validation.check_dask_X_predict(
                X, self.n_features_in_, type(self).__name__, check_values=False
            )
            return map_row_blocks(self._predictor, X, self.n_trees_per_iteration_)
        X = validate_data(self, X, dtype=[np.float64], ensure_all_finite=False, reset=False)
        return self._predictor(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class HistGradientBoostingRegressor(RegressorMixin, _BoostingBase):
    """Histogram gradient-boosted regression trees on NumPy or dask arrays.

    scikit-learn's ``HistGradientBoostingRegressor``: the same parameters, defaults,
    split rules and fitted attributes. Each pass of the fit runs on the Dask
    cluster, chunk by chunk; binned X (uint8) is kept on the workers.

    Parameters
    ----------
    loss : {"squared_error", "poisson", "gamma"}, default="squared_error"
        The loss; "poisson" and "gamma" use a log link (scikit-learn's other
        losses, absolute_error and quantile, are refused for now).
    quantile : float, default=None
        Unused (the quantile loss is not supported yet).
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
    categorical_features : None or "from_dtype", default="from_dtype"
        Only numeric features are supported for now.
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
    scoring : "loss", default="loss"
        The early-stopping score.
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
        self.cache = cache
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _boosting_loss(self, sample: Any, frame: Any) -> tuple[BoostingLoss, np.ndarray]:
        if self.loss not in ("squared_error", "poisson", "gamma"):
            raise NotImplementedError(
                f"HistGradientBoostingRegressor: loss={self.loss!r} is not supported yet; "
                "use 'squared_error', 'poisson' or 'gamma'."
            )
        if self.loss == "gamma" and not sample.y_min > 0:
            raise ValueError("loss='gamma' requires strictly positive y.")
        if self.loss == "poisson" and not (sample.y_min >= 0 and sample.weighted_y > 0):
            raise ValueError("loss='poisson' requires non-negative y and sum(y) > 0.")
        loss = BoostingLoss(self.loss)
        return loss, loss.baseline(np.array([sample.weighted_y]), sample.weight)

    def _predict_values(self, raw: Any) -> Any:
        return raw[:, 0] if self.loss == "squared_error" else np.exp(raw[:, 0])

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
        X : {array-like, dask array} of shape (n_samples, n_features)

        Returns
        -------
        y : {ndarray, dask array} of shape (n_samples,)
        """
        return self._predict_values(self._raw_predict(X))


class HistGradientBoostingClassifier(ClassifierMixin, _BoostingBase):
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
    n_iter_, n_trees_per_iteration_, train_score_, validation_score_, n_passes_
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

        frame.derive("y", encode_labels, ["y"], broadcast=classes)
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
        classes = self.classes_

        def labels(block: np.ndarray) -> np.ndarray:
            index = (block[:, 0] > 0).astype(np.intp) if block.shape[1] == 1 else block.argmax(1)
            return classes[index]

        if isinstance(raw, np.ndarray):
            return labels(raw)
        return raw.map_blocks(labels, drop_axis=1, dtype=classes.dtype)
