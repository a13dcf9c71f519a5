"""ElasticNet and Lasso: scikit-learn's objectives, solved exactly from one pass.

One pass over the data builds the weighted means and the centred ``X^T X``,
``X^T y`` and ``y^T y``; coordinate descent on them runs in memory on the client
(as scikit-learn's ``precompute=True`` does), with scikit-learn's duality-gap
stopping rule.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from daskgd.estimators._base import COMMON_CONSTRAINTS
from daskgd.estimators.regression import _LeastSquaresBase
from daskgd.penalties import ElasticNet as ElasticNetPenalty
from daskgd.penalties import NoPenalty, Penalty
from daskgd.solvers import MAX_DENSE_COEF

_RUN_PARAMETERS_DOC = """\
    cache : bool or "auto", default="auto"
        Unused by the one-pass solve (dask data streams through it once); kept
        for the same interface as the other linear models.
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
    verbose : int, default=0
        Print a line for the solve when positive.
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        (a flaky read, say) is rerun before its exception stops the fit.
    checkpoint : str or path-like, default=None
        Accepted for the same interface; a one-pass solve has nothing to resume.
    checkpoint_every : int, default=1
        Unused (see ``checkpoint``).
    callback : callable, default=None
        Called once, after the solve, with its record (``objective``, ``n_passes``, ...).
"""

_SOLVER_DOC = """\
    solver : {"auto", "cd", "gd"}, default="auto"
        ``"cd"``: coordinate descent on the Gram matrix from one pass, up to 4096
        features; beyond, on the Gram matrices of working sets of at most 4096
        features, one pass each (the support and the features closest to entering
        it, as in celer and skglm), which needs an L1 part. ``"gd"``: accelerated
        proximal gradient descent (FISTA), two passes an iteration. ``"auto"`` is
        ``"cd"``, except for wide data without an L1 part (``"gd"``).
"""

_ATTRIBUTES_DOC = """\
    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients; exactly 0 where the L1 penalty sets them to 0.
    sparse_coef_ : scipy.sparse matrix of shape (1, n_features) or (n_targets, n_features)
        ``coef_`` as a sparse matrix.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept (0.0 when ``fit_intercept=False``).
    n_iter_ : int or list of int
        Coordinate descent sweeps (per target for several targets).
    dual_gap_ : float or ndarray of shape (n_targets,)
        Duality gap at the end of the solve, per target (scikit-learn's scale).
    n_passes_ : int
        Passes over the data: one with ``solver="cd"`` up to 4096 features, one per
        working set beyond (a few for a sparse solution); two an iteration with
        ``solver="gd"``.
    solver_ : str
        Solver used: ``"cd"``, ``"working-sets"`` (``"cd"`` on more than 4096
        features) or ``"gd"``.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
"""


class ElasticNet(_LeastSquaresBase):
    __doc__ = (
        """Linear regression with combined L1 and L2 penalties, on NumPy or dask arrays.

    Minimises scikit-learn's objective::

        1 / (2 * S) * ||y - X w - b||^2_s
        + alpha * l1_ratio * ||w||_1 + 0.5 * alpha * (1 - l1_ratio) * ||w||^2

    (``S`` the sum of the sample weights ``s``, the number of rows when
    unweighted). With at most 4096 features one pass over the data gives the
    exact solution: coordinate descent runs on the Gram matrix in memory.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the penalty.
    l1_ratio : float, default=0.5
        Share of the L1 penalty, in [0, 1]: 1 is the lasso, 0 ridge.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept ``b``.
    max_iter : int, default=1000
        Coordinate descent sweeps, per target.
    tol : float, default=1e-4
        Stop once a sweep's largest update is below ``tol`` times the largest
        coefficient and the duality gap is below ``tol * ||y - mean(y)||^2``.
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    random_state : int, RandomState instance or None, default=None
        Seed of the coordinates drawn when ``selection="random"``.
    selection : {"cyclic", "random"}, default="cyclic"
        Sweep the coordinates in order, or update a random one at a time.
"""
        + _SOLVER_DOC
        + _RUN_PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
    )

    _mean_penalty = True
    n_iter_: Any  # an int, or a list of them for several targets (scikit-learn's)

    _parameter_constraints: dict[str, list[Any]] = {
        **COMMON_CONSTRAINTS,
        "solver": [StrOptions({"auto", "cd", "gd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "positive": ["boolean"],
        "random_state": ["random_state"],
        "selection": [StrOptions({"cyclic", "random"})],
    }

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        l1_ratio: float = 0.5,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
        positive: bool = False,
        random_state: Any = None,
        selection: str = "cyclic",
        solver: str = "auto",
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.solver = solver
        self.cache = cache
        self.split_every = split_every
        self.verbose = verbose
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback

    def _penalty(self) -> Penalty:
        if self.alpha == 0 and not self.positive:
            return NoPenalty()
        # positive=True: the proximal route projects; the Gram route gets it as an option.
        return ElasticNetPenalty(float(self.alpha), float(self.l1_ratio), bool(self.positive))

    def _solver_name(self, objective: Any) -> str:
        if self.solver == "gd":
            return "gd"
        if objective.n_features <= MAX_DENSE_COEF:
            return "cd"
        if self.alpha * self.l1_ratio > 0:
            return "working-sets"
        if self.solver == "auto":
            return "gd"
        raise NotImplementedError(
            f"solver='cd' solves from the Gram matrix of at most {MAX_DENSE_COEF} features "
            f"without an L1 penalty; X has {objective.n_features}: use solver='gd' (proximal)."
        )

    def _solver_options(self, solver: str) -> dict[str, Any]:
        if solver == "gd":
            return {}
        if solver == "working-sets":
            return {**self._cd_options(), "max_set": MAX_DENSE_COEF}
        return self._cd_options()

    def _cd_options(self) -> dict[str, Any]:
        seed = None
        if self.selection == "random":
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return {"positive": bool(self.positive), "random_state": seed}

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ElasticNet:
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
        super().fit(X, y, sample_weight)
        info = self._solver_info
        single_target = np.ndim(self.coef_) == 1
        if self.solver_ == "gd":
            n_targets = 1 if single_target else len(self.coef_)
            info = {"n_iter": [self._n_iter] * n_targets, "dual_gap": self._gd_gaps(info)}
        self.n_iter_ = int(info["n_iter"][0]) if single_target else list(info["n_iter"])
        gaps = np.asarray(info["dual_gap"], dtype=np.float64)
        self.dual_gap_ = float(gaps[0]) if single_target else gaps
        return self

    def _gd_gaps(self, info: dict[str, Any]) -> list[float]:
        """scikit-learn's duality gap at a proximal-gradient solution, from its last pass.

        The residuals' statistics follow from the smooth part's value and gradient
        (``||r||^2 = 2 S f``, ``X^T r = -S grad_w``, ``sum r = -S grad_b``); centring
        by the means is left out, which changes the gap by the intercept's
        gradient only (at most ``tol``). Several targets share one value: their
        gaps are not separated (NaN).
        """
        weight_sum = float(info["weight_sum"])
        W = np.atleast_2d(self.coef_).T
        n_features, n_targets = W.shape
        if n_targets > 1:
            return [float("nan")] * n_targets
        grad = np.asarray(info["smooth_grad"]).reshape(-1, n_targets)
        w = W[:, 0]
        residual_ss = 2.0 * weight_sum * float(info["smooth_value"])
        xtr = -weight_sum * grad[:n_features, 0]
        sum_r = -weight_sum * float(grad[n_features, 0]) if self.fit_intercept else 0.0
        r_dot_y = residual_ss + float(w @ xtr) + float(np.ravel(self.intercept_)[0]) * sum_r
        l1 = weight_sum * self.alpha * self.l1_ratio
        l2 = weight_sum * self.alpha * (1.0 - self.l1_ratio)
        correlation = xtr - l2 * w
        # As scikit-learn: with positive=True only positive correlations bound the dual.
        dual_norm = float(
            np.max(correlation if self.positive else np.abs(correlation), initial=0.0)
        )
        scale = l1 / dual_norm if dual_norm > l1 else 1.0
        ridge = residual_ss + l2 * float(w @ w)
        primal = 0.5 * ridge + l1 * float(np.abs(w).sum())
        dual = -0.5 * scale**2 * ridge + scale * r_dot_y
        return [(primal - dual) / weight_sum]

    @property
    def sparse_coef_(self) -> Any:
        """``coef_`` as a scipy sparse matrix."""
        import scipy.sparse

        return scipy.sparse.csr_matrix(np.atleast_2d(self.coef_))


class Lasso(ElasticNet):
    __doc__ = (
        """Linear regression with an L1 penalty, on NumPy or dask arrays.

    Minimises scikit-learn's objective
    ``1 / (2 * S) * ||y - X w - b||^2_s + alpha * ||w||_1``: :class:`ElasticNet`
    with ``l1_ratio=1``. With at most 4096 features one pass over the data gives
    the exact solution.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the L1 penalty.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept ``b``.
    max_iter : int, default=1000
        Coordinate descent sweeps, per target.
    tol : float, default=1e-4
        Stop once a sweep's largest update is below ``tol`` times the largest
        coefficient and the duality gap is below ``tol * ||y - mean(y)||^2``.
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    random_state : int, RandomState instance or None, default=None
        Seed of the coordinates drawn when ``selection="random"``.
    selection : {"cyclic", "random"}, default="cyclic"
        Sweep the coordinates in order, or update a random one at a time.
"""
        + _SOLVER_DOC
        + _RUN_PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
    )

    _parameter_constraints: dict[str, list[Any]] = {
        key: value for key, value in ElasticNet._parameter_constraints.items() if key != "l1_ratio"
    }

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
        positive: bool = False,
        random_state: Any = None,
        selection: str = "cyclic",
        solver: str = "auto",
        cache: bool | str = "auto",
        split_every: int | None = None,
        verbose: int = 0,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        super().__init__(
            alpha,
            l1_ratio=1.0,
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            positive=positive,
            random_state=random_state,
            selection=selection,
            solver=solver,
            cache=cache,
            split_every=split_every,
            verbose=verbose,
            retries=retries,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            callback=callback,
        )
