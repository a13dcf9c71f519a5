"""HuberRegressor: scikit-learn's robust regression, with the scale estimated jointly."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.optimize
from sklearn.utils._param_validation import Interval
from sklearn.utils.optimize import _check_optimize_result

from daskgd import validation
from daskgd.estimators._base import COMMON_CONSTRAINTS, LinearModelBase
from daskgd.estimators._scoring import DaskRegressorMixin
from daskgd.huber import huber_block, huber_finalize


class HuberRegressor(DaskRegressorMixin, LinearModelBase):
    """Linear regression robust to outliers: scikit-learn's HuberRegressor on NumPy or dask.

    Minimises, jointly in the coefficients ``w``, the intercept ``b`` and the
    scale ``sigma > 0``::

        sum_i s_i (sigma + H(r_i / sigma) sigma) + alpha ||w||^2,
        H(z) = z^2 if |z| <= epsilon else 2 epsilon |z| - epsilon^2,

    with ``r_i = y_i - x_i w - b``, by L-BFGS-B (the bound keeps ``sigma``
    positive) as scikit-learn does; every function evaluation is one pass over
    the data (every term is a sum over rows).

    Parameters
    ----------
    epsilon : float, default=1.35
        Residuals beyond ``epsilon * sigma`` count linearly (at least 1).
    max_iter : int, default=100
        L-BFGS-B iterations.
    alpha : float, default=1e-4
        Strength of the squared L2 penalty on ``w``.
    warm_start : bool, default=False
        Start from the previous fit's coefficients, intercept and scale.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    tol : float, default=1e-5
        L-BFGS-B's ``gtol``: stop when the largest entry of the projected gradient
        (of the summed objective, as in scikit-learn) is at most ``tol``.
    cache : bool or "auto", default="auto"
        Keep dask data in worker memory between passes (``"auto"``: when it fits).
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
    verbose : int, default=0
        Unused (kept for the interface of the other linear models).
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        is rerun before its exception stops the fit.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients.
    intercept_ : float
        Intercept (0.0 when ``fit_intercept=False``).
    scale_ : float
        The estimated scale ``sigma``.
    n_iter_ : int
        L-BFGS-B iterations.
    n_passes_ : int
        Passes over the data (one per function evaluation).
    outliers_ : {ndarray, dask array} of shape (n_samples,)
        Whether each training row is an outlier (``|r| > epsilon * scale_``); a
        lazy dask array for dask input.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        key: COMMON_CONSTRAINTS[key]
        for key in ("fit_intercept", "cache", "verbose", "split_every", "retries")
    }
    _parameter_constraints.update(
        {
            "epsilon": [Interval(Real, 1.0, None, closed="left")],
            "max_iter": [Interval(Integral, 0, None, closed="left")],
            "alpha": [Interval(Real, 0, None, closed="left")],
            "warm_start": ["boolean"],
            "tol": [Interval(Real, 0.0, None, closed="left")],
        }
    )

    def __init__(
        self,
        *,
        epsilon: float = 1.35,
        max_iter: int = 100,
        alpha: float = 1e-4,
        warm_start: bool = False,
        fit_intercept: bool = True,
        tol: float = 1e-5,
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
    ) -> None:
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.alpha = alpha
        self.warm_start = warm_start
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.cache = cache
        self.split_every = split_every
        self.verbose = verbose
        self.retries = retries

    def _start(self, n_features: int) -> np.ndarray:
        if self.warm_start and hasattr(self, "coef_") and len(self.coef_) == n_features:
            intercept = [self.intercept_] if self.fit_intercept else []
            return np.concatenate([self.coef_, intercept, [self.scale_]])
        params = np.zeros(n_features + 1 + int(self.fit_intercept))
        params[-1] = 1.0  # a strictly positive scale, as scikit-learn starts
        return params

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> HuberRegressor:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Target values.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        X, y, sample_weight, is_dask = self._validate_X_y(
            X, y, sample_weight, multi_output=False, y_numeric=True
        )
        n_features = int(X.shape[1])
        epsilon, alpha, fit_intercept = float(self.epsilon), float(self.alpha), self.fit_intercept
        frame = None
        if is_dask:
            from daskgd.engine.reductions import HuberPass

            targets = validation.as_float_column_matrix(y)
            frame = self._make_frame(X, targets, sample_weight, self.cache)
            reduction = HuberPass(epsilon, bool(fit_intercept))

            def sums(params: np.ndarray) -> Any:
                return frame.reduce(reduction, params)
        else:
            evaluations = [0]

            def sums(params: np.ndarray) -> Any:
                evaluations[0] += 1
                return huber_block(X, y, sample_weight, params, epsilon, bool(fit_intercept))

        def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
            return huber_finalize(sums(params), params, alpha, epsilon, bool(fit_intercept))

        params = self._start(n_features)
        # The scale stays positive (scikit-learn's bound).
        bounds: list[tuple[float | None, float | None]] = [(None, None)] * (len(params) - 1)
        bounds.append((float(np.finfo(np.float64).eps * 10), None))
        result = scipy.optimize.minimize(
            objective,
            params,
            method="L-BFGS-B",
            jac=True,
            options={"maxiter": int(self.max_iter), "gtol": float(self.tol)},
            bounds=bounds,
        )
        if result.status == 2:
            raise ValueError(
                "HuberRegressor convergence failed: l-BFGS-b solver terminated with "
                f"{result.message}"
            )
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        params = result.x
        self.scale_ = float(params[-1])
        self.intercept_ = float(params[n_features]) if fit_intercept else 0.0
        self.coef_ = params[:n_features].copy()
        if frame is not None:
            self.n_passes_ = frame.n_passes + self._input_passes
        else:
            self.n_passes_ = evaluations[0]
        self.outliers_ = self._outliers(X, y, is_dask)
        return self

    def _outliers(self, X: Any, y: Any, is_dask: bool) -> Any:
        coef, intercept, threshold = self.coef_, self.intercept_, self.scale_ * self.epsilon

        def outliers(block: np.ndarray, targets: np.ndarray) -> np.ndarray:
            return np.abs(targets[:, 0] - block @ coef - intercept) > threshold

        if is_dask:
            from daskgd.engine.execution import map_row_blocks

            return map_row_blocks(outliers, X, None, bool, y)
        return outliers(X, np.asarray(y, dtype=np.float64).reshape(-1, 1))

    def predict(self, X: Any) -> Any:
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : {ndarray, dask array} of shape (n_samples,)
            Predictions; lazy, with the row chunks of ``X``, for dask input.
        """
        return self._raw_prediction(X)[:, 0]
