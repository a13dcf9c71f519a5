"""LinearSVC: the linear support vector classifier, solved in the primal by full-batch passes."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from daskgd.estimators.classification import LinearClassifierBase
from daskgd.losses import MarginLoss, SmoothedHinge, SquaredHinge
from daskgd.penalties import L2

#: Width of the rounded kink when the hinge itself is asked for.
HINGE_SMOOTHING = 0.05


class LinearSVC(LinearClassifierBase):
    """Linear support vector classification on NumPy or dask arrays, one-vs-rest.

    Minimises, for every class against the rest (all classes in the same passes),
    ``C * sum_i s_i * loss(y_i, x_i @ w + b) + 1/2 ||w||^2 + 1/2 (b / intercept_scaling)^2``.
    The intercept is penalised as liblinear does (through a synthetic feature of
    value ``intercept_scaling``), so ``coef_`` compares one to one with
    scikit-learn's LinearSVC. ``loss="squared_hinge"`` is smooth and solved
    exactly (Newton or L-BFGS); ``loss="hinge"`` is solved with its kink rounded
    over a width of 0.05 (a Huberised hinge), within 0.025 per sample of the hinge.

    Parameters
    ----------
    penalty : {"l2"}, default="l2"
        Only the L2 penalty is supported.
    loss : {"squared_hinge", "hinge"}, default="squared_hinge"
        The loss.
    dual : "auto" or bool, default="auto"
        Accepted for compatibility; daskgd always solves the primal problem.
    tol : float, default=1e-4
        Tolerance on the largest entry of the gradient of the mean objective.
    C : float, default=1.0
        Inverse of the penalty strength.
    multi_class : {"ovr"}, default="ovr"
        One-vs-rest; all classes are trained in the same passes over the data.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    intercept_scaling : float, default=1.0
        Value of liblinear's synthetic intercept feature; the intercept's penalty
        is ``1/2 (b / intercept_scaling)^2``.
    class_weight : dict or "balanced", default=None
        Weights of the classes. As in liblinear, with more than two classes the
        weight of class ``k`` applies to its own rows in the problem "k against
        the rest" only.
    verbose : int, default=0
        Print one line per iteration when positive.
    random_state : int or None, default=None
        Accepted for compatibility; the solvers are deterministic.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    solver : {"auto", "newton", "lbfgs", "gd"}, default="auto"
        ``"auto"``: Newton with the generalised Hessian while small, L-BFGS beyond.
    cache : bool or "auto", default="auto"
        Keep dask data in worker memory between passes (``"auto"``: when it fits).
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
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
    n_iter_ : int
        Solver iterations.
    n_passes_ : int
        Passes over the data.
    loss_curve_ : ndarray of shape (``n_iter_``,)
        Objective per iteration, divided by ``C`` times the sum of sample weights.
    solver_ : str
        Solver used.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _parameter_constraints = {
        **LinearClassifierBase._parameter_constraints,
        "penalty": [StrOptions({"l2"})],
        "loss": [StrOptions({"hinge", "squared_hinge"})],
        "dual": ["boolean", StrOptions({"auto"})],
        "tol": [Interval(Real, 0.0, None, closed="neither")],
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "multi_class": [StrOptions({"ovr"})],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        penalty: str = "l2",
        loss: str = "squared_hinge",
        *,
        dual: str | bool = "auto",
        tol: float = 1e-4,
        C: float = 1.0,
        multi_class: str = "ovr",
        fit_intercept: bool = True,
        intercept_scaling: float = 1.0,
        class_weight: dict[Any, float] | str | None = None,
        verbose: int = 0,
        random_state: int | None = None,
        max_iter: int = 1000,
        solver: str = "auto",
        cache: bool | str = "auto",
        split_every: int | None = None,
        retries: int = 0,
        checkpoint: Any = None,
        checkpoint_every: int = 1,
        callback: Any = None,
    ) -> None:
        self.penalty = penalty
        self.loss = loss
        self.dual = dual
        self.tol = tol
        self.C = C
        self.multi_class = multi_class
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.verbose = verbose
        self.retries = retries
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback
        self.random_state = random_state
        self.max_iter = max_iter
        self.solver = solver
        self.cache = cache
        self.split_every = split_every

    _one_vs_rest_class_weight = True

    def _solver_name(self, objective: Any) -> str:
        # Newton's quadratic model is poor across the rounded kink of the smoothed
        # hinge (many halvings); L-BFGS needs fewer passes there.
        if self.solver == "auto" and self.loss == "hinge":
            return "lbfgs"
        return super()._solver_name(objective)

    def _max_iter(self) -> int:
        return int(self.max_iter)

    def _pointwise_loss(self) -> MarginLoss:
        return SquaredHinge() if self.loss == "squared_hinge" else SmoothedHinge(HINGE_SMOOTHING)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearSVC:
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
        X, encoded, sample_weight, is_dask, frame = self._prepare_classification(
            X, y, sample_weight
        )
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        loss = self._pointwise_loss()
        if n_outputs > 1 and self._class_weight_per_class is not None:
            loss = loss.with_positive_weight(self._class_weight_per_class)
        weights, intercept = self._solve(
            X,
            encoded,
            sample_weight,
            is_dask,
            loss,
            L2(1.0 / self.C),
            n_outputs=n_outputs,
            intercept_l2=1.0 / (self.C * self.intercept_scaling**2),
            frame=frame,
            label_passes=1,  # np.unique over the labels (in memory)
        )
        self.coef_ = weights.T.copy()
        self.intercept_ = np.asarray(intercept, dtype=np.float64).copy()
        self.n_iter_ = int(self._n_iter)
        return self
