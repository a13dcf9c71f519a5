"""Shared machinery of the linear estimators: inputs, oracle, solver, fitted attributes."""

from __future__ import annotations

import os
import warnings
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from daskgd import validation
from daskgd.checkpoint import Checkpoint, fingerprint
from daskgd.losses import PointwiseLoss
from daskgd.monitoring import make_callback
from daskgd.objective import LinearObjective
from daskgd.oracles._base import Oracle
from daskgd.oracles.numpy import NumpyOracle
from daskgd.penalties import Penalty
from daskgd.solvers import SOLVERS, SolverResult, choose_solver

SOLVER_NAMES = ["auto", *SOLVERS]
#: Solvers that read the data once, in a Gram pass.
ONE_PASS_SOLVERS = ("normal", "cd")
#: Solvers whose passes sum the weights: they check that some weight is positive.
WEIGHING_SOLVERS = ONE_PASS_SOLVERS + ("working-sets",)

COMMON_CONSTRAINTS: dict[str, list[Any]] = {
    "fit_intercept": ["boolean"],
    "solver": [StrOptions(set(SOLVER_NAMES))],
    "cache": ["boolean", StrOptions({"auto"})],
    "verbose": ["verbose"],
    "split_every": [Interval(Integral, 2, None, closed="left"), None],
    "retries": [Interval(Integral, 0, None, closed="left")],
    "checkpoint": [str, os.PathLike, None],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
    "callback": [callable, None],
}


class LinearModelBase(BaseEstimator):
    """Fits a linear model ``X @ W + b`` by handing an objective and an oracle to a solver."""

    _parameter_constraints: dict[str, list[Any]] = dict(COMMON_CONSTRAINTS)
    #: Whether the penalty is on the mean loss (see ``LinearObjective``).
    _mean_penalty = False
    #: Whether X may be scipy.sparse CSR (in memory, or as the chunks of a dask array).
    _accepts_sparse = True

    # ---- inputs ----

    def _validate_X_y(
        self, X: Any, y: Any, sample_weight: Any, *, multi_output: bool, y_numeric: bool
    ) -> tuple[Any, Any, Any, bool]:
        """Validated ``X``, raw ``y`` and weights, and whether they are dask collections.

        With dask input, ``self._input_passes`` counts the pass (if any) that found
        the partition lengths of dask DataFrames.
        """
        self._input_passes = 0
        if validation.is_dask_collection(X) or validation.is_dask_collection(y):
            if hasattr(X, "columns"):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            X, y, sample_weight, self._input_passes = validation.with_known_rows(
                X, y, sample_weight, retries=self.retries
            )
            X = validation.check_dask_X(X, accept_sparse=self._accepts_sparse)
            self.n_features_in_ = X.shape[1]
            y = validation.align_rows(y, X, name="y")
            validation.check_dask_y(y, numeric=y_numeric)
            if not multi_output and y.ndim == 2:
                if y.shape[1] != 1:
                    raise ValueError(f"y should be a 1d array, got an array of shape {y.shape}.")
                y = y[:, 0]
            return X, y, self._validate_sample_weight(sample_weight, X, True), True
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr" if self._accepts_sparse else False,
            dtype=[np.float64, np.float32],
            multi_output=multi_output,
            y_numeric=y_numeric,
        )
        return X, y, self._validate_sample_weight(sample_weight, X, False), False

    def _validate_sample_weight(self, sample_weight: Any, X: Any, is_dask: bool) -> Any:
        if sample_weight is None:
            return None
        if is_dask:
            # Negative or non-finite weights raise from the first compute that reads them.
            return validation.check_dask_sample_weight(sample_weight, X)
        from sklearn.utils.validation import _check_sample_weight

        return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)

    def _validate_X_predict(self, X: Any) -> tuple[Any, bool]:
        # coef_, not any attribute: a fit that failed may have set n_features_in_.
        check_is_fitted(self, "coef_")
        if validation.is_dask_collection(X):
            # NaN and infinity raise from the prediction's own chunk tasks.
            name = type(self).__name__
            checked = validation.check_dask_X_predict(
                X, self.n_features_in_, name, accept_sparse=self._accepts_sparse
            )
            return checked, True
        accept_sparse = "csr" if self._accepts_sparse else False
        return (
            validate_data(
                self, X, accept_sparse=accept_sparse, dtype=[np.float64, np.float32], reset=False
            ),
            False,
        )

    # ---- the fit ----

    def _make_frame(self, X: Any, y: Any, sample_weight: Any, cache: bool | str) -> Any:
        """The engine frame of dask inputs: where their chunks are kept, and every pass."""
        from daskgd.engine.frame import ChunkedFrame

        return ChunkedFrame(
            {"X": X, "y": y, "sample_weight": sample_weight},
            cache=cache,
            retries=self.retries,
            split_every=self.split_every,
        )

    def _make_oracle(
        self,
        objective: LinearObjective,
        X: Any,
        y: Any,
        sample_weight: Any,
        is_dask: bool,
        frame: Any = None,
    ) -> Oracle:
        if not is_dask:
            return NumpyOracle(objective, X, y, sample_weight)
        from daskgd.oracles.dask import DaskOracle

        if frame is not None:
            return DaskOracle(objective, frame=frame)
        cache = self.cache
        if cache == "auto" and self._solver_name(objective) in ONE_PASS_SOLVERS:
            cache = False  # one pass: keeping the data would only cost memory
        return DaskOracle(
            objective,
            X,
            y,
            sample_weight,
            cache=cache,
            split_every=self.split_every,
            retries=self.retries,
        )

    def _solver_options(self, solver: str) -> dict[str, Any]:
        """Keyword arguments of the solver beyond the common ones."""
        return {}

    def _solver_name(self, objective: LinearObjective) -> str:
        return choose_solver(objective) if self.solver == "auto" else str(self.solver)

    def _initial_coef(self, objective: LinearObjective) -> np.ndarray:
        if getattr(self, "warm_start", False) and hasattr(self, "coef_"):
            previous = self._coef_matrix_for_warm_start()
            if previous.size == objective.n_coef:
                return previous.ravel()
        return np.zeros(objective.n_coef)

    def _coef_matrix_for_warm_start(self) -> np.ndarray:
        coef = np.atleast_2d(self.coef_)
        rows = [coef.T]
        if self.fit_intercept:
            rows.append(np.atleast_1d(self.intercept_)[np.newaxis, :])
        return np.vstack(rows)

    def _solve(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        is_dask: bool,
        loss: PointwiseLoss,
        penalty: Penalty,
        n_outputs: int,
        intercept_l2: float = 0.0,
        frame: Any = None,
        label_passes: int = 0,
        weight_sum: float | None = None,
        zero_point: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the solver; store the fit diagnostics; return ``(W, b)``.

        With dask input, ``frame`` may hold the data already (with derived columns
        ``y`` and ``sample_weight``); ``X``, ``y`` and ``sample_weight`` then only
        identify the inputs for the checkpoint. ``label_passes`` counts the passes
        an in-memory fit made over the labels before (a frame counts its own);
        ``weight_sum``, the sum of the sample weights when that pass found it;
        ``zero_point``, the label moments from which the objective at ``coef = 0``
        follows (:class:`~daskgd.engine.label_moments.LabelMomentsPartial`), when
        the label pass brought them: a fit starting there makes no pass for it.
        """
        objective = LinearObjective(
            loss=loss,
            penalty=penalty,
            n_features=int(X.shape[1]),
            n_outputs=n_outputs,
            fit_intercept=bool(self.fit_intercept),
            intercept_l2=intercept_l2,
            penalty_per_weight=self._mean_penalty,
        )
        solver = self._solver_name(objective)
        coef0 = self._initial_coef(objective)
        checkpoint, resume = self._open_checkpoint(X, y, sample_weight, coef0)
        oracle = self._make_oracle(objective, X, y, sample_weight, is_dask, frame)
        if frame is None:
            oracle.prior_passes += label_passes
        oracle.prior_passes += getattr(self, "_input_passes", 0)
        if weight_sum is not None:
            oracle.supply_weight_sum(weight_sum)
        if zero_point is not None and zero_point.sums is not None and resume is None:
            totals = objective.totals_at_zero(zero_point.weights, zero_point.sums, zero_point.gram)
            if totals is not None and not coef0.any():
                oracle.supply_totals("loss_grad_hess", coef0, totals)
        # (The Gram solvers check the weights' sum their passes give.)
        if solver not in WEIGHING_SOLVERS and oracle.weight_sum <= 0:
            raise ValueError("Sample weights must contain at least one positive value; all are 0.")
        monitor = make_callback(type(self).__name__, solver, self.verbose, self._max_iter())
        user_callback = self.callback

        def callback(entry: dict[str, Any]) -> None:
            monitor(entry)
            if user_callback is not None:
                user_callback(dict(entry))

        try:
            result: SolverResult = SOLVERS[solver](
                oracle,
                coef0,
                tol=self.tol,
                max_iter=self._max_iter(),
                callback=callback,
                checkpoint=checkpoint,
                resume=resume,
                **self._solver_options(solver),
            )
        finally:
            monitor.close()
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__}: solver {solver!r} did not converge in "
                f"{result.n_iter} iterations ({result.message}). Increase max_iter or tol, "
                "or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.solver_ = solver
        self.n_passes_ = oracle.data_passes
        self.loss_curve_ = np.array([entry["objective"] for entry in result.history])
        self.history_ = result.history
        self._n_iter = result.n_iter
        self._solver_info = result.info
        return objective.unpack(result.coef)

    def _open_checkpoint(
        self, X: Any, y: Any, sample_weight: Any, coef0: np.ndarray
    ) -> tuple[Checkpoint | None, dict[str, Any] | None]:
        """The fit's checkpoint and the state saved in it (None for a fresh fit).

        Read before the data is touched, so that a mismatch is reported at once.
        """
        if self.checkpoint is None:
            return None, None
        checkpoint = Checkpoint(
            self.checkpoint,
            fingerprint(self, X, y, sample_weight, start=coef0 if coef0.any() else None),
            every=self.checkpoint_every,
        )
        return checkpoint, checkpoint.load()

    def _max_iter(self) -> int:
        max_iter = getattr(self, "max_iter", None)
        return 1000 if max_iter is None else int(max_iter)

    # ---- predictions ----

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self._accepts_sparse
        return tags

    def _raw_prediction(self, X: Any, transform: Any = None) -> Any:
        """``X @ coef_.T + intercept_`` of shape (n_samples, n_outputs); lazy for dask.

        ``transform``, a function of one block's raw predictions returning one value
        per row (an inverse link, say), runs in the same chunk task; the result is
        then of shape (n_samples,).
        """
        X, is_dask = self._validate_X_predict(X)
        weights = np.atleast_2d(self.coef_).T
        intercept = np.atleast_1d(self.intercept_)

        def raw(block: np.ndarray) -> np.ndarray:
            values = block @ weights + intercept
            return values if transform is None else transform(values)

        if is_dask:
            from daskgd.engine.execution import map_row_blocks

            return map_row_blocks(raw, X, None if transform is not None else weights.shape[1])
        return raw(X)
