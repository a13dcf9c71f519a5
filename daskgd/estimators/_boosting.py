"""The boosting loop shared by daskgd's histogram gradient-boosting estimators.

:class:`BoostingBase` validates the input, builds the engine frame and runs the
passes of a fit (see :mod:`daskgd.estimators.hgb` for the estimators and
:mod:`daskgd.trees` for the math).
"""

from __future__ import annotations

import os
import time
from numbers import Integral
from typing import Any
from unittest.mock import patch

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from daskgd import validation
from daskgd.engine.execution import map_row_blocks, should_persist
from daskgd.engine.latency import prompt_messages
from daskgd.monitoring import make_callback
from daskgd.trees.binning import BINNING_SAMPLE_ROWS, BinMapper, sample_rows_per_chunk
from daskgd.trees.grower import GrowthParameters, grow_trees
from daskgd.trees.losses import BoostingLoss
from daskgd.trees.passes import (
    AddTrees,
    BinningSample,
    BoostingLosses,
    GatherResiduals,
    GatherScoringRows,
    HistogramRequest,
    Holdout,
    NodeHistograms,
    ResidualBuckets,
    ResidualRequest,
    RowSet,
    ScoringRequest,
    initial_raw,
    row_gradients,
)
from daskgd.trees.predictor import BoostedTrees
from daskgd.trees.quantiles import Percentile, leaf_percentiles
from daskgd.trees.splitting import SplitParameters
from daskgd.trees.tree import TreeArrays

RUN_CONSTRAINTS: dict[str, list[Any]] = {
    "growth": [StrOptions({"best-first", "level-wise"})],
    "cache": ["boolean", StrOptions({"auto"})],
    "retries": [Interval(Integral, 0, None, closed="left")],
    "checkpoint": [str, os.PathLike, None],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
    "callback": [callable, None],
}

#: Share of the workers' free memory that the kept columns (binned X, one byte per
#: value, and per row the raw predictions, gradients and labels) may take. It is
#: higher than for persisted inputs: besides what it keeps and the float64 input
#: chunks being binned (set aside by ``should_persist``), a boosting pass makes
#: nothing larger than one chunk's histograms.
KEPT_MEMORY_FRACTION = 0.8

#: Training rows a scorer other than the loss scores (scikit-learn's subsample size).
SCORING_TRAIN_ROWS = 10_000

#: Rows above which ``early_stopping="auto"`` holds rows out (scikit-learn's rule).
AUTO_EARLY_STOPPING_ROWS = 10_000


class BoostingBase(BaseEstimator):
    """The boosting loop shared by the regressor and the classifier."""

    _is_classifier = False
    _boosting_state: dict[str, Any]
    _category_encoder: Any = None
    n_iter_: int

    def _not_yet_supported(self) -> None:
        """Parameters of scikit-learn's API that this version refuses rather than ignores."""
        refused = {"interaction_cst": self.interaction_cst is not None}
        for name, refuse in refused.items():
            if refuse:
                raise NotImplementedError(
                    f"{type(self).__name__}: {name}={getattr(self, name)!r} is not supported "
                    "yet; leave it at its default."
                )

    # ---- inputs ----

    def _frame(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, bool]:
        """The frame of the data, and whether it is dask."""
        names = getattr(X, "columns", None)
        X, y, sample_weight, category_passes = self._encode_categories(X, y, sample_weight)
        if validation.is_dask_collection(X) or validation.is_dask_collection(y):
            self._set_feature_names(names)
            X, y, sample_weight, self._input_passes = validation.with_known_rows(
                X, y, sample_weight, retries=self.retries
            )
            self._input_passes += category_passes
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
            chunk_bytes = max(frame.chunk_rows, default=0) * X.shape[1] * 8  # binned as float64
            self._keep_bins = should_persist(
                bytes_kept, self.cache, KEPT_MEMORY_FRACTION, chunk_bytes=chunk_bytes
            )
            return frame, True
        self._input_passes = 0
        X, y = validate_data(
            self, X, y, dtype=[np.float64], ensure_all_finite="allow-nan", y_numeric=False
        )
        if self._category_encoder is not None:
            self._set_feature_names(names)  # (X is encoded: it has lost its column names)
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

    def _set_feature_names(self, columns: Any) -> None:
        if columns is not None:
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _encode_categories(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, Any, int]:
        """X with its categorical features encoded as scikit-learn does, y, the weights,
        and the passes spent.

        Sets ``is_categorical_``. The categories are every distinct value of the
        training data (one pass over dask input); the encoding runs chunk by chunk.
        For a dask DataFrame the same pass finds the partition lengths of X, y and
        the weights, which are then returned as dask arrays with known chunks.
        """
        from sklearn.utils.validation import _check_categorical_features

        from daskgd.trees.categories import (
            CategoryEncoder,
            block_categories,
            merge_categories,
        )

        is_dask = validation.is_dask_collection(X)
        is_frame = hasattr(X, "columns")
        probe = X._meta if is_dask and is_frame else X
        self._category_encoder = None
        self.is_categorical_ = _check_categorical_features(probe, self.categorical_features)
        if self.is_categorical_ is None:
            return X, y, sample_weight, 0
        positions = [int(p) for p in np.flatnonzero(self.is_categorical_)]
        rows = None
        if is_dask and is_frame:
            parts = validation.category_parts(X, positions)
            rows, y, sample_weight, _, values = validation.with_known_rows_and(
                X, y, sample_weight, parts, retries=self.retries
            )
            categories = merge_categories(values)
        elif is_dask:
            categories = validation.category_values(X, positions, retries=self.retries)
        else:
            categories = block_categories(X, positions)
        encoder = CategoryEncoder(np.asarray(self.is_categorical_, dtype=bool), categories)
        encoder.check_cardinality(int(self.max_bins), getattr(X, "columns", None))
        self._category_encoder = encoder
        encoded = self._encoded(X)
        if rows is not None:
            # The encoding keeps the partitions: their lengths are X's.
            encoded = encoded.to_dask_array(lengths=[int(n) for n in rows.chunks[0]])
        return encoded, y, sample_weight, 1 if is_dask else 0

    def _encoded(self, X: Any) -> Any:
        """X through the fitted category encoder (lazily for dask input)."""
        encoder = self._category_encoder
        assert encoder is not None
        if not validation.is_dask_collection(X):
            return encoder.transform(X)
        if hasattr(X, "columns"):
            import pandas as pd

            from daskgd.trees.categories import encoded_frame

            columns = [str(X.columns[i]) for i in encoder.order]
            meta = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns})
            return X.map_partitions(encoded_frame, encoder, columns, meta=meta)
        return X.rechunk({1: -1}).map_blocks(encoder, dtype=np.float64)

    # ---- the fit ----

    def _boosting_loss(self, sample: Any, frame: Any) -> tuple[BoostingLoss, np.ndarray | None]:
        """The loss and the baseline prediction, from the sample pass's totals (None: a
        percentile of y, which the fit finds in passes of its own)."""
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
        rows = sample.rows
        if early and fraction > 0 and not rows.size:
            raise ValueError("No row is left for training: lower validation_fraction.")
        mapper = BinMapper.from_sample(
            rows, int(self.max_bins), None if sample_weight is None else sample.row_weights
        )
        del rows
        encoder = self._category_encoder
        if encoder is not None:
            mapper = mapper.with_categories([len(c) for c in encoder.categories])
        self._bin_mapper = mapper
        self._baseline_prediction = baseline
        self._loss_object = loss
        self.n_trees_per_iteration_ = loss.n_trees_per_iteration

        keep = self._keep_bins
        frame.derive("binned", mapper, ["X"], keep=keep)
        if baseline is None:  # a percentile of y (absolute_error, quantile)
            frame.derive("raw", initial_raw, ["y"], broadcast=np.zeros(1), keep=True)
            baseline = self._leaf_percentiles(frame, TreeArrays.single_leaf(), loss, holdout)[:1]
            self._baseline_prediction = baseline
        frame.derive("raw", initial_raw, ["y"], broadcast=baseline, keep=True)
        params = GrowthParameters(
            max_leaf_nodes=self.max_leaf_nodes,
            max_depth=self.max_depth,
            learning_rate=float(self.learning_rate),
            max_features=float(self.max_features),
            monotonic=self._monotonic(),
            categorical=None if encoder is None else encoder.encoded_is_categorical,
            # Without a leaf budget (or a draw of features in the order of the pushes)
            # every splittable node is split whatever the order: scikit-learn's trees,
            # a pass per level.
            level_wise=self.growth == "level-wise"
            or (self.max_leaf_nodes is None and float(self.max_features) >= 1.0),
            split=SplitParameters(
                min_samples_leaf=int(self.min_samples_leaf),
                l2_regularization=float(self.l2_regularization),
            ),
        )

        def histogram_pass(
            trees: list[Any], slots: list[np.ndarray], real_nodes: list[int]
        ) -> list[np.ndarray]:
            request = HistogramRequest(
                tuple(trees),
                tuple(slots),
                mapper.n_bins,
                mapper.missing_bin,
                holdout,
                tuple(real_nodes),
            )
            result = list(frame.reduce(NodeHistograms(), request).per_tree)
            while unsettled:
                unsettled.pop()()
            return result

        unsettled: list[Any] = []

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

        # A scorer other than the loss scores rows brought to the client once (one
        # pass), whose raw predictions the client then updates tree by tree.
        scorer = None
        if early and self.scoring != "loss":
            from sklearn.metrics import check_scoring

            scorer = check_scoring(self, self.scoring)
            scoring_rows = self._gather_scoring_rows(frame, holdout, seed)

        def score() -> None:
            if scorer is not None:
                train_rows, validation_rows = scoring_rows
                train_scores.append(self._score_rows(scorer, train_rows))
                if fraction > 0:
                    validation_scores.append(self._score_rows(scorer, validation_rows))
                return
            totals = frame.reduce(BoostingLosses(), (loss, holdout))
            train_scores.append(-totals.train_loss / totals.train_weight)
            if fraction > 0:
                validation_scores.append(-totals.validation_loss / totals.validation_weight)

        if early and resume is None:
            score()
        monitor = make_callback(type(self).__name__, "hgb", self.verbose, int(self.max_iter))
        stopped = bool(resume is not None and resume["stopped"])
        prompt = prompt_messages(getattr(frame, "client", None))
        prompt.__enter__()
        try:
            for iteration in range(len(predictors), 0 if stopped else int(self.max_iter)):
                # The last round's raw predictions are let go once the root pass has
                # used the new ones: waiting for them here would cost a round trip.
                unsettled[:] = [getattr(frame, "settle", lambda: None)]
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
                if loss.percentile_leaves:
                    trees = [self._percentile_leaves(frame, tree, loss, holdout) for tree in trees]
                predictors.append(tuple(trees))
                add = AddTrees((tuple(trees),), mapper.missing_bin)
                frame.derive("raw", add, ["binned", "raw"], keep=True)
                if scorer is not None:
                    scoring_rows = (
                        scoring_rows[0].with_trees(add),
                        scoring_rows[1].with_trees(add),
                    )
                # A tree of one leaf adds nothing, so nothing would change any more
                # (except with percentile leaves, whose one leaf moves the prediction).
                stop = all(tree.n_nodes == 1 for tree in trees) and not loss.percentile_leaves
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
                    "validation_objective": (
                        -validation_scores[-1] if validation_scores else float("nan")
                    ),
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
            prompt.__exit__(None, None, None)
            monitor.close()
        self._predictor = BoostedTrees(np.asarray(baseline), tuple(predictors))
        self.n_iter_ = len(predictors)
        self.train_score_ = np.asarray(train_scores)
        self.validation_score_ = np.asarray(validation_scores)
        self.n_passes_ = n_passes()
        self._boosting_state = state(False)
        return self

    def _leaf_percentiles(
        self, frame: Any, tree: TreeArrays, loss: BoostingLoss, holdout: Holdout
    ) -> np.ndarray:
        """scikit-learn's percentile of the residuals of each leaf's training rows."""
        missing_bin = self._bin_mapper.missing_bin

        def request(lo: np.ndarray, hi: np.ndarray, n_buckets: int = 1) -> ResidualRequest:
            return ResidualRequest(tree, missing_bin, holdout, lo, hi, n_buckets)

        def stats(lo: np.ndarray, hi: np.ndarray, n_buckets: int) -> Any:
            return frame.reduce(ResidualBuckets(), request(lo, hi, n_buckets))

        def gather(lo: np.ndarray, hi: np.ndarray) -> Any:
            return frame.reduce(GatherResiduals(), request(lo, hi)).per_leaf

        weighted = self._validated[2] is not None
        percentile = Percentile(
            loss.percentile_rank,
            median=loss.name == "absolute_error" and not weighted,
            weighted=weighted,
        )
        values, _ = leaf_percentiles(stats, gather, tree.n_nodes, percentile)
        return values

    def _percentile_leaves(
        self, frame: Any, tree: TreeArrays, loss: BoostingLoss, holdout: Holdout
    ) -> TreeArrays:
        """The tree with scikit-learn's leaf values for absolute_error and quantile."""
        from dataclasses import replace

        updates = self._leaf_percentiles(frame, tree, loss, holdout)
        value = np.where(tree.is_leaf, float(self.learning_rate) * updates, 0.0)
        return replace(tree, value=value)

    def _monotonic(self) -> np.ndarray | None:
        """The constraint of every feature (scikit-learn's checks and messages), or None."""
        if self.monotonic_cst is None:
            return None
        from sklearn.utils.validation import _check_monotonic_cst

        if self._is_classifier and self.n_trees_per_iteration_ > 1:
            raise ValueError(
                "monotonic constraints are not supported for multiclass classification."
            )
        constraints = np.asarray(_check_monotonic_cst(self, self.monotonic_cst), dtype=np.int64)
        encoder = self._category_encoder
        if encoder is None:
            return constraints
        constraints = constraints[encoder.order]
        if np.any(constraints[encoder.encoded_is_categorical] != 0):
            raise ValueError("Categorical features cannot have monotonic constraints.")
        return constraints

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

    def _gather_scoring_rows(
        self, frame: Any, holdout: Holdout, seed: int
    ) -> tuple[RowSet, RowSet]:
        """Up to ``SCORING_TRAIN_ROWS`` training rows and every held-out row (one pass)."""
        held_out = [int(holdout.mask(i, n).sum()) for i, n in enumerate(frame.chunk_rows)]
        train_counts = sample_rows_per_chunk(
            tuple(n - h for n, h in zip(frame.chunk_rows, held_out, strict=True)),
            SCORING_TRAIN_ROWS,
        )
        # (another seed than the binning sample's, which draws from the same rows)
        request = ScoringRequest(holdout, tuple(train_counts), (seed + 1) % 2**32)
        gathered = frame.reduce(GatherScoringRows(), request)
        return RowSet.concatenate(gathered.train), RowSet.concatenate(gathered.validation)

    def _score_rows(self, scorer: Any, rows: RowSet) -> float:
        """``scorer`` on ``rows``, predicted from their raw predictions, as scikit-learn's
        HGB scores: its ``_raw_predict`` patched to return them (X is not read)."""
        y = self.classes_[rows.y.astype(np.intp)] if self._is_classifier else rows.y
        X = np.broadcast_to(np.float64(0.0), (len(y), self.n_features_in_))
        with patch.object(self, "_raw_predict", lambda X: rows.raw):
            if rows.sample_weight is None:
                return float(scorer(self, X, y))
            return float(scorer(self, X, y, sample_weight=rows.sample_weight))

    def _raw_predict(self, X: Any) -> Any:
        check_is_fitted(self, "_predictor")
        if self._category_encoder is not None:
            from sklearn.utils.validation import _check_feature_names, _check_n_features

            if not validation.is_dask_collection(X):
                _check_feature_names(self, X, reset=False)
                _check_n_features(self, X, reset=False)
            elif X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            X = self._encoded(X)
            if not validation.is_dask_collection(X):
                return self._predictor(check_array(X, dtype=np.float64, ensure_all_finite=False))
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
