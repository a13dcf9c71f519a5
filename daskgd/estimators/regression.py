"""LinearRegression and Ridge: least squares, exactly as scikit-learn defines them."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import MultiOutputMixin
from sklearn.utils._param_validation import Interval

from daskgd import validation
from daskgd.estimators._base import LinearModelBase
from daskgd.estimators._scoring import DaskRegressorMixin
from daskgd.losses import HalfSquaredError
from daskgd.penalties import L2, NoPenalty, Penalty
from daskgd.penalties import ElasticNet as ElasticNetPenalty
from daskgd.solvers import MAX_DENSE_COEF


class _LeastSquaresBase(MultiOutputMixin, DaskRegressorMixin, LinearModelBase):
    #: Whether ``positive=True`` beyond the Gram route takes projected proximal steps
    #: (LinearRegression and Ridge; the elastic net has its own rules).
    _projected_positive = False

    def _penalty(self) -> Penalty:
        raise NotImplementedError

    def _penalty_for(self, n_features: int) -> Penalty:
        """The penalty; beyond the Gram route with ``positive=True``, the same penalty
        whose prox also projects onto non-negative coefficients."""
        penalty = self._penalty()
        wide = n_features > MAX_DENSE_COEF
        if self._projected_positive and getattr(self, "positive", False) and wide:
            return ElasticNetPenalty(getattr(penalty, "strength", 0.0), 0.0, positive=True)
        return penalty

    def _solver_name(self, objective: Any) -> str:
        if not getattr(self, "positive", False):
            return super()._solver_name(objective)
        wide = objective.n_features > MAX_DENSE_COEF
        if wide and self.solver in ("auto", "gd"):
            return "gd"  # proximal gradient steps, projected onto w >= 0
        if self.solver not in ("auto", "normal"):
            raise ValueError(
                f"positive=True is solved by solver='normal' (non-negative least squares "
                f"on the Gram matrix) up to {MAX_DENSE_COEF} features, and by solver='gd' "
                f"(projected proximal gradient steps) beyond; not solver={self.solver!r}."
            )
        if wide:
            raise NotImplementedError(
                f"positive=True solves from the Gram matrix of at most {MAX_DENSE_COEF} "
                f"features; X has {objective.n_features}: use solver='gd' (projected "
                "proximal gradient steps)."
            )
        return "normal"

    def _solver_options(self, solver: str) -> dict[str, Any]:
        return {"positive": True} if getattr(self, "positive", False) and solver == "normal" else {}

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _LeastSquaresBase:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,) or (n_samples, n_targets)
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
            X, y, sample_weight, multi_output=True, y_numeric=True
        )
        single_target = y.ndim == 1
        targets: Any = (
            validation.as_float_column_matrix(y)
            if is_dask
            else np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        )
        weights, intercept = self._solve(
            X,
            targets,
            sample_weight,
            is_dask,
            HalfSquaredError(),
            self._penalty_for(int(X.shape[1])),
            n_outputs=int(targets.shape[1]),
        )
        self.coef_ = weights[:, 0].copy() if single_target else weights.T.copy()
        self.intercept_ = float(intercept[0]) if single_target else intercept.copy()
        self.n_iter_ = self._n_iter
        return self

    def predict(self, X: Any) -> Any:
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : {ndarray, dask array} of shape (n_samples,) or (n_samples, n_targets)
            Predictions; a lazy dask array with the row chunks of ``X`` for dask input.
        """
        raw = self._raw_prediction(X)
        return raw[:, 0] if np.ndim(self.coef_) == 1 else raw

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LinearRegression(_LeastSquaresBase):
    """Ordinary least squares on NumPy or dask arrays.

    Minimises ``sum_i s_i (y_i - x_i @ w - b)^2`` (``s_i`` the sample weights); the
    default solver gets the exact solution from one pass over the data.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Whether to fit an intercept ``b``.
    solver : {"auto", "normal", "lbfgs", "newton", "gd"}, default="auto"
        ``"normal"`` solves the normal equations from one pass; ``"auto"`` picks it
        unless there are more than 4096 features.
    positive : bool, default=False
        Constrain the coefficients to be non-negative: non-negative least squares
        on the Gram matrix from the same one pass (``solver="normal"``) up to 4096
        features; beyond, proximal gradient steps projected onto non-negative
        coefficients (``solver="gd"``, which ``"auto"`` picks there).
    tol : float, default=1e-6
        Tolerance of the iterative solvers on the largest gradient entry.
    max_iter : int, default=None
        Iteration limit of the iterative solvers (None: 1000).
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
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept (0.0 when ``fit_intercept=False``).
    n_iter_ : int
        Solver iterations.
    n_passes_ : int
        Passes over the data.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Objective per iteration, ``(1/2 ||y - Xw - b||^2) / n_samples``.
    solver_ : str
        Solver used.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _projected_positive = True

    _parameter_constraints = {
        **LinearModelBase._parameter_constraints,
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "positive": ["boolean"],
    }

    def __init__(
        self,
        *,
        fit_intercept: bool = True,
        solver: str = "auto",
        positive: bool = False,
        tol: float = 1e-6,
        max_iter: int | None = None,
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.positive = positive
        self.tol = tol
        self.max_iter = max_iter
        self.cache = cache
        self.split_every = split_every
        self.verbose = verbose
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _penalty(self) -> Penalty:
        return NoPenalty()


class Ridge(_LeastSquaresBase):
    """Least squares with an L2 penalty on the coefficients, on NumPy or dask arrays.

    Minimises ``sum_i s_i (y_i - x_i @ w - b)^2 + alpha ||w||^2``; the intercept is
    not penalised.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the L2 penalty.
    fit_intercept : bool, default=True
        Whether to fit an intercept ``b``.
    solver : {"auto", "normal", "lbfgs", "newton", "gd"}, default="auto"
        ``"normal"`` solves the normal equations from one pass; ``"auto"`` picks it
        unless there are more than 4096 features.
    positive : bool, default=False
        Constrain the coefficients to be non-negative: non-negative least squares
        on the Gram matrix from the same one pass (``solver="normal"``) up to 4096
        features; beyond, proximal gradient steps projected onto non-negative
        coefficients (``solver="gd"``, which ``"auto"`` picks there).
    tol : float, default=1e-4
        Tolerance of the iterative solvers on the largest gradient entry.
    max_iter : int, default=None
        Iteration limit of the iterative solvers (None: 1000).
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
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept (0.0 when ``fit_intercept=False``).
    n_iter_ : int
        Solver iterations.
    n_passes_ : int
        Passes over the data.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Objective per iteration, divided by ``2 * n_samples``.
    solver_ : str
        Solver used.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _projected_positive = True

    _parameter_constraints = {
        **LinearModelBase._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "positive": ["boolean"],
    }

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        solver: str = "auto",
        positive: bool = False,
        tol: float = 1e-4,
        max_iter: int | None = None,
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.positive = positive
        self.tol = tol
        self.max_iter = max_iter
        self.cache = cache
        self.split_every = split_every
        self.verbose = verbose
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _penalty(self) -> Penalty:
        return L2(self.alpha) if self.alpha > 0 else NoPenalty()
