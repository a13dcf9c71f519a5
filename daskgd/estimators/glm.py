"""PoissonRegressor, GammaRegressor and TweedieRegressor: scikit-learn's GLMs, by Newton.

The objective is scikit-learn's, ``1/(2 S) sum_i s_i deviance_i + alpha/2 ||w||^2``
(``S`` the sum of the sample weights). A first pass over the targets checks their
domain (naming the chunk and row of one outside it) and finds their weighted mean,
whose link starts the intercept as in scikit-learn; Newton steps, each one pass
that brings the gradient and Hessian, do the rest.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from daskgd import validation
from daskgd.estimators._base import LinearModelBase
from daskgd.estimators._scoring import DaskRegressorMixin
from daskgd.losses.tweedie import HalfTweedieLoss
from daskgd.objective import LinearObjective
from daskgd.penalties import L2, NoPenalty, Penalty

_PARAMETERS_DOC = """\
    alpha : float, default=1.0
        Strength of the L2 penalty ``alpha/2 ||w||^2`` on the coefficients (the
        intercept is not penalised); 0 fits without penalty.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    solver : {"auto", "newton", "newton-cholesky", "lbfgs", "gd"}, default="auto"
        ``"auto"`` picks Newton (a handful of passes) up to 4096 features and
        L-BFGS beyond; ``"newton-cholesky"`` (scikit-learn's name) is ``"newton"``.
    max_iter : int, default=100
        Iteration limit of the solver.
    tol : float, default=1e-4
        Tolerance on the largest entry of the objective's gradient.
    warm_start : bool, default=False
        Start from the coefficients of the previous fit.
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
        File that keeps the solver's full state during the fit; a fit started with
        an existing checkpoint of the same data and parameters resumes from it.
    checkpoint_every : int, default=1
        Iterations between two checkpoint writes.
    callback : callable, default=None
        Called after every iteration with its record (a dict with ``iteration``,
        ``objective``, ``n_passes``, ...); an exception it raises stops the fit.
"""

_ATTRIBUTES_DOC = """\
    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients of the linear predictor.
    intercept_ : float
        Intercept of the linear predictor (0.0 when ``fit_intercept=False``).
    n_iter_ : int
        Solver iterations.
    n_passes_ : int
        Passes over the data, the targets' pass included.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Objective per iteration (half the mean deviance, without the constant
        that makes a perfect prediction's deviance zero, plus the penalty).
    solver_ : str
        Solver used.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
"""

_COMMON_CONSTRAINTS: dict[str, list[Any]] = {
    **LinearModelBase._parameter_constraints,
    "alpha": [Interval(Real, 0.0, None, closed="left")],
    "solver": [StrOptions({"auto", "newton", "newton-cholesky", "lbfgs", "gd"})],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0.0, None, closed="neither")],
    "warm_start": ["boolean"],
}


class _GeneralizedLinearRegressor(DaskRegressorMixin, LinearModelBase):
    """A GLM ``E[y] = inverse_link(X @ w + b)`` with a Tweedie deviance."""

    _mean_penalty = True

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        fit_intercept: bool = True,
        solver: str = "auto",
        max_iter: int = 100,
        tol: float = 1e-4,
        warm_start: bool = False,
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
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.cache = cache
        self.split_every = split_every
        self.verbose = verbose
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _glm_loss(self) -> HalfTweedieLoss:
        raise NotImplementedError

    def _penalty(self) -> Penalty:
        return L2(self.alpha) if self.alpha > 0 else NoPenalty()

    def _max_iter(self) -> int:
        return int(self.max_iter)

    def _solver_name(self, objective: LinearObjective) -> str:
        return "newton" if self.solver == "newton-cholesky" else super()._solver_name(objective)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _GeneralizedLinearRegressor:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Targets, in the domain of the deviance (non-negative for Poisson,
            positive for Gamma).
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        loss = self._glm_loss()
        X, y, sample_weight, is_dask = self._validate_X_y(
            X, y, sample_weight, multi_output=False, y_numeric=True
        )
        frame = None
        if is_dask:
            from daskgd.engine.reductions import TargetRange

            frame = self._make_frame(
                X, validation.as_float_column_matrix(y), sample_weight, self.cache
            )
            summary = frame.reduce(TargetRange("y", "sample_weight"))
            weight_sum, weighted_sum = summary.n, summary.weighted_sum
            y_min, (chunk, row) = summary.minimum, summary.where
            where = (
                f"chunk {chunk} at row {sum(X.chunks[0][:chunk]) + row} (row {row} of the chunk)"
            )
        else:
            in_memory_targets = np.asarray(y, dtype=np.float64).reshape(-1, 1)
            targets = in_memory_targets[:, 0]
            weights = np.ones(len(targets)) if sample_weight is None else sample_weight
            weight_sum, weighted_sum = float(weights.sum()), float(weights @ targets)
            row = int(np.argmin(targets)) if len(targets) else 0
            y_min, where = float(targets[row]), f"row {row}"
        self._check_target_domain(loss, y_min, where)
        if not weight_sum > 0:
            raise ValueError("Sample weights must contain at least one positive value; all are 0.")
        self._start_mean = weighted_sum / weight_sum
        weights_, intercept = self._solve(
            X,
            y if is_dask else in_memory_targets,
            sample_weight,
            is_dask,
            loss,
            self._penalty(),
            n_outputs=1,
            frame=frame,
            label_passes=1,  # the targets' mean and minimum (in memory)
            weight_sum=weight_sum,
        )
        self.coef_ = weights_[:, 0].copy()
        self.intercept_ = float(intercept[0])
        self.n_iter_ = self._n_iter
        return self

    def _check_target_domain(self, loss: HalfTweedieLoss, y_min: float, where: str) -> None:
        if loss.in_y_domain(y_min):
            return
        low, inclusive = loss.y_domain()
        rule = "non-negative" if inclusive else "positive"
        raise ValueError(
            f"{type(self).__name__} requires {rule} y (the {self._deviance_name()} deviance "
            f"is defined for y {'>=' if inclusive else '>'} {low:g}); y is {y_min!r} in "
            f"{where}. Some value(s) of y are out of the valid range of the loss."
        )

    def _deviance_name(self) -> str:
        return type(self).__name__.removesuffix("Regressor")

    def _initial_coef(self, objective: LinearObjective) -> np.ndarray:
        coef = super()._initial_coef(objective)
        warm = self.warm_start and hasattr(self, "coef_") and coef.any()
        if self.fit_intercept and not warm:
            # scikit-learn's start: the intercept that predicts the weighted mean.
            with np.errstate(divide="ignore"):
                start = float(objective.loss.link(np.array(self._start_mean)))  # type: ignore[attr-defined]
            coef[-1] = start if np.isfinite(start) else 0.0
        return coef

    def predict(self, X: Any) -> Any:
        """Predicted means, the inverse link of ``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : {ndarray, dask array} of shape (n_samples,)
            Predicted means; a lazy dask array with the row chunks of ``X`` for dask input.
        """
        inverse_link = self._glm_loss().inverse_link
        return self._raw_prediction(X, transform=lambda raw: inverse_link(raw[:, 0]))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """D^2, the fraction of deviance explained (scikit-learn's GLM score).

        ``1 - D(y, y_pred) / D(y, mean(y))``, with the deviance of this model's loss;
        1 is a perfect fit and 0 the constant mean.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Samples.
        y : {array-like, dask array} of shape (n_samples,)
            True targets.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
        """
        loss = self._glm_loss()
        raw = np.asarray(self._raw_prediction(X), dtype=np.float64)
        targets = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        weights = (
            np.ones(len(targets))
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64).ravel()
        )
        if not loss.in_y_domain(float(targets.min())):
            raise ValueError(f"Some value(s) of y are out of the valid range of the loss {loss!r}.")
        constant = np.average(loss.constant_to_optimal_zero(targets[:, 0]), weights=weights)
        mean_raw = loss.link(np.array(np.average(targets[:, 0], weights=weights)))
        deviance = np.average(loss.loss(targets, raw), weights=weights) + constant
        null = np.average(loss.loss(targets, np.full_like(raw, mean_raw)), weights=weights)
        return float(1.0 - deviance / (null + constant))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = not self._glm_loss().in_y_domain(-1.0)
        return tags


class PoissonRegressor(_GeneralizedLinearRegressor):
    __doc__ = (
        """Generalized linear model with the Poisson deviance and a log link.

    Minimises scikit-learn's objective
    ``1/(2 S) sum_i s_i deviance_i + alpha/2 ||w||^2`` on NumPy or dask arrays,
    for counts and other non-negative targets. ``predict`` returns
    ``exp(X @ coef_ + intercept_)``.

    Parameters
    ----------
"""
        + _PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
    )

    _parameter_constraints = dict(_COMMON_CONSTRAINTS)

    def _glm_loss(self) -> HalfTweedieLoss:
        return HalfTweedieLoss(1.0, "log")


class GammaRegressor(_GeneralizedLinearRegressor):
    __doc__ = (
        """Generalized linear model with the Gamma deviance and a log link.

    Minimises scikit-learn's objective
    ``1/(2 S) sum_i s_i deviance_i + alpha/2 ||w||^2`` on NumPy or dask arrays,
    for positive targets (claim sizes, durations). ``predict`` returns
    ``exp(X @ coef_ + intercept_)``.

    Parameters
    ----------
"""
        + _PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
    )

    _parameter_constraints = dict(_COMMON_CONSTRAINTS)

    def _glm_loss(self) -> HalfTweedieLoss:
        return HalfTweedieLoss(2.0, "log")


class TweedieRegressor(_GeneralizedLinearRegressor):
    __doc__ = (
        """Generalized linear model with a Tweedie deviance, on NumPy or dask arrays.

    Minimises scikit-learn's objective
    ``1/(2 S) sum_i s_i deviance_i + alpha/2 ||w||^2``. ``power=0`` is the normal
    distribution, 1 Poisson, ``1 < power < 2`` compound Poisson-Gamma, 2 Gamma
    and 3 inverse Gaussian.

    Parameters
    ----------
    power : float, default=0.0
        Tweedie power: at most 0, or at least 1.
    link : {"auto", "identity", "log"}, default="auto"
        ``"auto"``: the identity for ``power <= 0``, the log otherwise.
"""
        + _PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
    )

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "power": [Interval(Real, None, 0, closed="right"), Interval(Real, 1, None, closed="left")],
        "link": [StrOptions({"auto", "identity", "log"})],
    }

    def __init__(
        self,
        *,
        power: float = 0.0,
        alpha: float = 1.0,
        fit_intercept: bool = True,
        link: str = "auto",
        solver: str = "auto",
        max_iter: int = 100,
        tol: float = 1e-4,
        warm_start: bool = False,
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        super().__init__(
            alpha=alpha,
            fit_intercept=fit_intercept,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            cache=cache,
            split_every=split_every,
            verbose=verbose,
            retries=retries,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            callback=callback,
        )
        self.power = power
        self.link = link

    def _glm_loss(self) -> HalfTweedieLoss:
        link = self.link
        if link == "auto":
            link = "identity" if self.power <= 0 else "log"
        return HalfTweedieLoss(float(self.power), link)

    def _deviance_name(self) -> str:
        return f"Tweedie (power={self.power!r})"
