"""LassoCV and ElasticNetCV: scikit-learn's cross-validated paths, every fold from one pass.

One pass over the data gathers the Gram statistics (weighted means and centred
``X^T X``, ``X^T y``, ``y^T y``) of each test fold's rows. Fold k's training
statistics are the merge of the other folds'; its test error at every alpha
follows from its own statistics, without reading a row again; the refit on all
the data uses the merge of every fold. The paths are coordinate descent on
those matrices, in memory, warm started along the alphas as scikit-learn's are.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from daskgd import validation
from daskgd.estimators._base import LinearModelBase
from daskgd.estimators._scoring import DaskRegressorMixin
from daskgd.folds import FoldRuns, block_fold_grams, kfold_runs, runs_from_splits, training_gram
from daskgd.losses import HalfSquaredError
from daskgd.objective import LinearObjective, merge_gram_partials
from daskgd.penalties import NoPenalty
from daskgd.solvers import MAX_DENSE_COEF
from daskgd.solvers.cd import enet_gram_path

_PARAMETERS_DOC = """\
    eps : float, default=1e-3
        Length of the path: ``alpha_min / alpha_max = eps``.
    alphas : int or array-like, default=100
        The number of alphas on the path (a geometric grid down from the smallest
        alpha that sets every coefficient to 0, scikit-learn's), or the alphas.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    precompute : "auto", bool or array-like, default="auto"
        Accepted for scikit-learn's interface: the Gram matrix is always computed.
    max_iter : int, default=1000
        Coordinate descent sweeps at each alpha.
    tol : float, default=1e-4
        scikit-learn's tolerance on the duality gap (relative to ``||y - mean(y)||^2``).
    copy_X : bool, default=True
        Accepted for scikit-learn's interface: X is never modified.
    cv : int, cross-validation generator or iterable, default=None
        scikit-learn's: None is 5-fold ``KFold``. The test sets must partition
        the rows (``KFold``, ``GroupKFold``, ``PredefinedSplit``, ...); with dask
        input, a splitter other than unshuffled ``KFold`` has the fold of every
        row computed on the client (8 bytes a row).
    verbose : bool or int, default=False
        Print a line per path when positive.
    n_jobs : int, default=None
        Accepted for scikit-learn's interface; the paths are solved in memory.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    random_state : int, RandomState instance or None, default=None
        Seed of the coordinates drawn when ``selection="random"``.
    selection : {"cyclic", "random"}, default="cyclic"
        Sweep the coordinates in order, or update a random one at a time.
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        is rerun before its exception stops the fit.
"""

_ATTRIBUTES_DOC = """\
    Attributes
    ----------
    alpha_ : float
        The alpha with the smallest mean test error.
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
        The alphas of the path (per l1_ratio, when several).
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
        Test mean squared error (weighted, with sample weights) of every fold at
        every alpha.
    coef_ : ndarray of shape (n_features,)
        Coefficients refitted on all the data at ``alpha_``.
    intercept_ : float
        Intercept of the refit.
    dual_gap_ : float
        Duality gap of the refit.
    n_iter_ : int
        Coordinate descent sweeps of the refit.
    n_passes_ : int
        Passes over the data: one.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
"""

_CONSTRAINTS: dict[str, list[Any]] = {
    "eps": [Interval(Real, 0, None, closed="neither")],
    "alphas": [Interval(Integral, 1, None, closed="left"), "array-like"],
    "fit_intercept": ["boolean"],
    "precompute": [StrOptions({"auto"}), "array-like", "boolean"],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "copy_X": ["boolean"],
    "cv": ["cv_object"],
    "verbose": ["verbose"],
    "n_jobs": [Integral, None],
    "positive": ["boolean"],
    "random_state": ["random_state"],
    "selection": [StrOptions({"cyclic", "random"})],
    "split_every": [Interval(Integral, 2, None, closed="left"), None],
    "retries": [Interval(Integral, 0, None, closed="left")],
}


def alpha_grid(
    gram: dict[str, Any], l1_ratio: float, eps: float, n_alphas: int, positive: bool
) -> np.ndarray:
    """scikit-learn's grid: ``n_alphas`` alphas from the smallest that zeroes every coefficient.

    ``alpha_max = max_j |x_j' (y - mean(y))|_s / (S * l1_ratio)``, from Gram statistics.
    """
    if l1_ratio == 0:
        raise ValueError(
            "Automatic alpha grid generation is not supported for l1_ratio=0. Please supply "
            "a grid by providing your estimator with the appropriate `alphas=` argument."
        )
    xy = np.asarray(gram["xy"], dtype=np.float64)
    scale = float(gram["n"]) * l1_ratio
    if positive:
        alpha_max = max(0.0, float(np.max(xy))) / scale
    else:
        alpha_max = float(np.sqrt(np.max(np.sum(xy**2, axis=1)))) / scale
    resolution = np.finfo(np.float64).resolution
    if alpha_max <= resolution:
        return np.full(n_alphas, resolution)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


def held_out_squared_error(
    test: dict[str, Any], coefs: np.ndarray, intercepts: np.ndarray
) -> np.ndarray:
    """Weighted sum of squared test residuals of each coefficient vector, from Gram statistics.

    ``sum_i s_i (y_i - x_i w - b)^2 = yy - 2 w'xy + w'xx w + S (mean_y - mean_x w - b)^2``
    with the test rows' own centred statistics (means 0 when they are not centred).
    """
    xy = test["xy"][:, 0]
    quadratic = np.einsum("ad,de,ae->a", coefs, test["xx"], coefs)
    offset = test["mean_y"][0] - coefs @ test["mean_x"] - intercepts
    return float(test["yy"][0, 0]) - 2 * coefs @ xy + quadratic + float(test["n"]) * offset**2


class _PathCV(DaskRegressorMixin, LinearModelBase):
    """The cross-validated elastic-net path of one target, from one pass."""

    _parameter_constraints: dict[str, list[Any]] = dict(_CONSTRAINTS)
    _l1_ratios: list[float]

    def _fold_runs(self, X: Any, y: Any, n_samples: int) -> FoldRuns:
        cv = check_cv(self.cv)
        if isinstance(cv, KFold) and not cv.shuffle:
            return kfold_runs(n_samples, cv.get_n_splits())
        placeholder = np.empty((n_samples, 0))
        labels = None if validation.is_dask_collection(y) else y
        return runs_from_splits(list(cv.split(placeholder, labels)), n_samples)

    def _seed(self) -> int | None:
        if self.selection != "random":
            return None
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _PathCV:
        """Fit the path of every fold and refit at the best alpha, all from one pass.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Target values.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample, in the fits and in the test errors.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        X, y, sample_weight, is_dask = self._validate_X_y(
            X, y, sample_weight, multi_output=False, y_numeric=True
        )
        n_samples, n_features = (int(n) for n in X.shape)
        if n_features > MAX_DENSE_COEF:
            raise NotImplementedError(
                f"{type(self).__name__} solves from the Gram matrix of at most "
                f"{MAX_DENSE_COEF} features; X has {n_features}."
            )
        runs = self._fold_runs(X, y, n_samples)
        objective = LinearObjective(
            HalfSquaredError(), NoPenalty(), n_features, 1, bool(self.fit_intercept)
        )
        if is_dask:
            from daskgd.engine.reductions import FoldGram

            frame = self._make_frame(X, validation.as_float_column_matrix(y), sample_weight, False)
            fold_grams = list(frame.reduce(FoldGram(objective), (runs, frame.first_rows)).folds)
            self.n_passes_ = frame.n_passes + self._input_passes
        else:
            targets = np.asarray(y, dtype=np.float64).reshape(-1, 1)
            fold_grams = block_fold_grams(objective, X, targets, sample_weight, 0, runs)
            self.n_passes_ = 1
        full = merge_gram_partials(fold_grams)
        if not full["n"] > 0:
            raise ValueError("Sample weights must contain at least one positive value; all are 0.")
        self._fit_paths(fold_grams, full)
        return self

    def _alphas(self, full: dict[str, Any]) -> list[np.ndarray]:
        if isinstance(self.alphas, Integral):
            return [
                alpha_grid(full, l1_ratio, self.eps, int(self.alphas), self.positive)
                for l1_ratio in self._l1_ratios
            ]
        given = np.asarray(self.alphas, dtype=np.float64).ravel()
        if np.any(given < 0) or not np.all(np.isfinite(given)):
            raise ValueError(f"alphas must be finite and non-negative, got {self.alphas!r}.")
        return [np.sort(given)[::-1] for _ in self._l1_ratios]

    def _fit_paths(self, fold_grams: list[dict[str, Any]], full: dict[str, Any]) -> None:
        alphas = self._alphas(full)
        seed = self._seed()
        mse = np.empty((len(self._l1_ratios), len(fold_grams), len(alphas[0])))
        unconverged = 0
        for i, (l1_ratio, path_alphas) in enumerate(zip(self._l1_ratios, alphas, strict=True)):
            for k, test in enumerate(fold_grams):
                train = training_gram(fold_grams, k)
                coefs, _, _, converged = enet_gram_path(
                    train,
                    path_alphas,
                    l1_ratio,
                    tol=self.tol,
                    max_iter=self.max_iter,
                    positive=self.positive,
                    random_state=seed,
                )
                unconverged += converged.count(False)
                intercepts = (
                    train["mean_y"][0] - coefs @ train["mean_x"]
                    if self.fit_intercept
                    else np.zeros(len(coefs))
                )
                mse[i, k] = held_out_squared_error(test, coefs, intercepts) / float(test["n"])
            if self.verbose:
                print(
                    f"{type(self).__name__}: path of l1_ratio={l1_ratio} on {len(fold_grams)} folds"
                )
        mean_mse = mse.mean(axis=1)
        best = (np.inf, 0.0, 1.0)
        for l1_ratio, path_alphas, scores in zip(self._l1_ratios, alphas, mean_mse, strict=True):
            i_best = int(np.argmin(scores))
            if scores[i_best] < best[0]:
                best = (float(scores[i_best]), float(path_alphas[i_best]), float(l1_ratio))
        _, self.alpha_, best_l1_ratio = best
        self.mse_path_ = np.squeeze(np.moveaxis(mse, 2, 1))
        grid = np.asarray(alphas)
        self.alphas_ = grid[0] if len(self._l1_ratios) == 1 else grid
        coefs, n_iter, gaps, converged = enet_gram_path(
            full,
            np.array([self.alpha_]),
            best_l1_ratio,
            tol=self.tol,
            max_iter=self.max_iter,
            positive=self.positive,
            random_state=seed,
        )
        if unconverged or not converged[0]:
            warnings.warn(
                f"{type(self).__name__}: coordinate descent did not converge at "
                f"{unconverged + (not converged[0])} alphas; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.coef_ = coefs[0].copy()
        self.intercept_ = (
            float(full["mean_y"][0] - full["mean_x"] @ self.coef_) if self.fit_intercept else 0.0
        )
        self.n_iter_ = n_iter[0]
        self.dual_gap_ = gaps[0]
        self._best_l1_ratio = best_l1_ratio

    def predict(self, X: Any) -> Any:
        """Predict with the refitted model.

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


class ElasticNetCV(_PathCV):
    __doc__ = (
        """Elastic net with alpha (and l1_ratio) chosen by cross-validation, from one pass.

    scikit-learn's ElasticNetCV on NumPy or dask arrays: the same alpha grid, folds,
    paths and refit. Every fold's path and the refit come from one pass over the
    data (see the module's description).

    Parameters
    ----------
    l1_ratio : float or list of float, default=0.5
        Share of the L1 penalty, in [0, 1]; a list is searched too.
"""
        + _PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
        + """    l1_ratio_ : float
        The l1_ratio with the smallest mean test error.
"""
    )

    _parameter_constraints: dict[str, list[Any]] = {
        **_CONSTRAINTS,
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), "array-like"],
    }

    def __init__(
        self,
        *,
        l1_ratio: Any = 0.5,
        eps: float = 1e-3,
        alphas: Any = 100,
        fit_intercept: bool = True,
        precompute: Any = "auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        cv: Any = None,
        copy_X: bool = True,
        verbose: int = 0,
        n_jobs: int | None = None,
        positive: bool = False,
        random_state: Any = None,
        selection: str = "cyclic",
        split_every: int | None = None,
        retries: int = 0,
    ) -> None:
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.split_every = split_every
        self.retries = retries

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ElasticNetCV:
        """Fit every fold's path and refit at the best alpha and l1_ratio, from one pass.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Target values.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample, in the fits and in the test errors.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        ratios = np.atleast_1d(np.asarray(self.l1_ratio, dtype=np.float64))
        if np.any((ratios < 0) | (ratios > 1)):
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio!r}.")
        self._l1_ratios = [float(r) for r in ratios]
        super().fit(X, y, sample_weight)
        self.l1_ratio_ = self._best_l1_ratio
        return self


class LassoCV(_PathCV):
    __doc__ = (
        """Lasso with alpha chosen by cross-validation, from one pass over the data.

    scikit-learn's LassoCV on NumPy or dask arrays: the same alpha grid, folds,
    paths and refit. Every fold's path and the refit come from one pass over the
    data (see the module's description).

    Parameters
    ----------
"""
        + _PARAMETERS_DOC
        + "\n"
        + _ATTRIBUTES_DOC
    )

    def __init__(
        self,
        *,
        eps: float = 1e-3,
        alphas: Any = 100,
        fit_intercept: bool = True,
        precompute: Any = "auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        copy_X: bool = True,
        cv: Any = None,
        verbose: int = 0,
        n_jobs: int | None = None,
        positive: bool = False,
        random_state: Any = None,
        selection: str = "cyclic",
        split_every: int | None = None,
        retries: int = 0,
    ) -> None:
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.split_every = split_every
        self.retries = retries

    _l1_ratios = [1.0]
