"""LogisticRegressionCV: scikit-learn 1.9's cross-validated path, every fold in the same pass.

The folds are found without bringing the labels to the client (one label pass
gives each chunk's class counts: :mod:`daskgd.stratified`), then every fold's
path over the Cs is solved by Newton steps in lockstep
(:mod:`daskgd.solvers.newton_folds`): each pass evaluates, per chunk, every
running fold's loss, gradient and Hessian over its training rows at its own
coefficients, and the test-fold scores of the same coefficients
(:func:`daskgd.folds.block_fold_pass`), so a solution's scores are known as soon
as the solution is. The path is warm started along the Cs, as scikit-learn's;
the data sums at one C's solution are the next C's start, at no pass. Passes::

    n_passes_ = 1 (labels) + sum over l1_ratios of (1 + sum over Cs of the most
                trial steps any fold takes at that C) + refit (1 + its trial steps)
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets

from daskgd import validation
from daskgd.estimators._logistic_cv_attributes import (
    SUM_SCORERS,
    positive_class,
    score_from_sums,
    sklearn_layout,
    store_attributes,
    sum_scorer,
)
from daskgd.estimators.classification import LogisticRegression
from daskgd.folds import ALL_ROWS, block_fold_pass, kfold_runs, runs_from_splits
from daskgd.losses import BinaryLogLoss, MultinomialLogLoss
from daskgd.objective import LinearObjective
from daskgd.penalties import L2, ElasticNet, NoPenalty, Penalty
from daskgd.solvers import MAX_DENSE_COEF
from daskgd.solvers.newton_folds import solve_newton_folds
from daskgd.stratified import LabelSummary, chunk_label_table, stratified_ranks, summarize_labels


class LogisticRegressionCV(LogisticRegression):
    """Logistic regression with C (and l1_ratio) chosen by cross-validation, folds in lockstep.

    scikit-learn 1.9's LogisticRegressionCV on NumPy or dask arrays: the same folds
    (unshuffled ``StratifiedKFold`` by default), grid of Cs, warm starts along the
    Cs, scores, choice of C and refit, and the same fitted attributes in the legacy
    and the new layout. Fold ``k`` at ``C`` minimises, over its training rows,
    ``C * sum_i s_i * log_loss(y_i, x_i @ W + b) + penalty(W)`` with
    ``penalty(W) = (1 - l1_ratio)/2 ||W||^2 + l1_ratio ||W||_1`` (the binary
    log-loss for two classes, the multinomial one for more; ``s_i`` the sample
    weight times the class weight); the coefficients are laid out as
    ``[W; b]``, intercept last. Every fold is evaluated in the same pass
    (see the module's description for the number of passes).

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The Cs, in the order given, or their number: ``np.logspace(-4, 4, Cs)``.
    l1_ratios : array-like of float in [0, 1] or None, default=None
        The elastic-net mixes to search (each with its own path from zero, as
        scikit-learn's). Left unset it means None (an L2 penalty) with
        scikit-learn's FutureWarning; None is deprecated.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    cv : int, cross-validation generator or iterable, default=None
        scikit-learn's: None or an int is ``StratifiedKFold`` (5 folds by default)
        without shuffling, whose folds the chunks find themselves from one label
        pass. The test sets of any other splitter must partition the rows
        (``KFold``, ``StratifiedKFold(shuffle=True)``, ``PredefinedSplit``, a list
        of such splits); with dask input its splits are computed on the client
        (8 bytes a row), a shuffled ``StratifiedKFold``'s from the labels, which
        one pass over ``y`` brings to the client.
    dual : bool, default=False
        Only False (the primal problem) is supported, as by scikit-learn's solvers
        other than liblinear.
    penalty : {"l1", "l2", "elasticnet"}
        Deprecated, as in scikit-learn 1.8: use ``l1_ratios``. Setting it warns.
    scoring : str, callable or None, default=None
        How the folds are scored; None is accuracy. Left unset it means None with
        scikit-learn's FutureWarning. These come from sums over the test rows in the
        fold passes themselves, on NumPy or dask input: accuracy,
        ``"neg_log_loss"``, ``"balanced_accuracy"``, and ``"precision"``,
        ``"recall"``, ``"f1"`` and ``"jaccard"`` with their ``"_macro"``,
        ``"_micro"`` and ``"_weighted"`` averages (the weighted confusion matrix of
        each fold). Any other scorer is computed on the test rows in memory
        (NumPy input only).
    solver : {"lbfgs", "auto", "newton", "prox-newton", "gd"}, default="lbfgs"
        The folds and the refit are solved by Newton steps in lockstep (proximal
        Newton with an L1 part), the fewest passes: ``"lbfgs"`` (the default, for
        scikit-learn's interface), ``"auto"``, ``"newton"`` and ``"prox-newton"``
        all mean that; ``"newton"`` refuses an L1 part, and ``"gd"`` is refused.
    tol : float, default=1e-4
        Tolerance on the largest entry of each fold's (minimum-norm sub)gradient of
        the mean objective.
    max_iter : int, default=100
        Maximum Newton steps of each fold at each C, and of the refit.
    class_weight : dict or "balanced", default=None
        Weights of the classes (from all the data, as scikit-learn's), multiplied
        into the training weights; the test scores use the sample weights alone.
    n_jobs : int, default=None
        Accepted for scikit-learn's interface: the folds share every pass.
    verbose : int, default=0
        Print a line per C when positive.
    refit : bool, default=True
        Refit on all the data at the best C and l1_ratio, from the folds' mean
        coefficients there; otherwise average the folds' coefficients at their
        own best, as scikit-learn does.
    intercept_scaling : float, default=1.0
        Accepted for scikit-learn's interface (liblinear only); unused.
    random_state : int, RandomState instance or None, default=None
        Accepted for scikit-learn's interface (the solvers are deterministic).
    use_legacy_attributes : bool, default=True
        scikit-learn 1.9's layout of ``C_``, ``l1_ratio_``, ``coefs_paths_``,
        ``scores_`` and ``n_iter_`` (dicts by class, repeated values) when True,
        the new one when False. Left unset it means True with scikit-learn's
        FutureWarning.
    cache : bool or "auto", default="auto"
        Keep dask data in worker memory between passes (``"auto"``: when it fits).
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        is rerun before its exception stops the fit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients of the refit (or the folds' average).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    Cs_ : ndarray of shape (n_cs,)
        The Cs.
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
        The l1_ratios (``[None]`` when none were given).
    coefs_paths_ : dict or ndarray
        Every fold's coefficients (intercept last) at every C (and l1_ratio): a dict
        by class of arrays of shape (n_folds, n_cs[, n_l1_ratios], n_dof), or with
        ``use_legacy_attributes=False`` an array of shape (n_folds, n_l1_ratios,
        n_cs, n_classes or 1, n_dof).
    scores_ : dict or ndarray
        Every fold's score at every C (and l1_ratio), in the same layouts.
    C_ : ndarray of shape (1,) or (n_classes,), or float
        The best C (the mean of the folds' best with ``refit=False``).
    l1_ratio_ : ndarray of shape (1,) or (n_classes,), or float
        The best l1_ratio.
    n_iter_ : ndarray
        Newton steps of every fold at every C (and l1_ratio).
    n_passes_ : int
        Passes over the data (see the module's description).
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None, Hidden(StrOptions({"warn"}))],
        "fit_intercept": ["boolean"],
        "cv": ["cv_object"],
        "dual": ["boolean"],
        "penalty": [StrOptions({"l1", "l2", "elasticnet"}), Hidden(StrOptions({"deprecated"}))],
        "scoring": [
            StrOptions(set(get_scorer_names())),
            callable,
            None,
            Hidden(StrOptions({"warn"})),
        ],
        "solver": [StrOptions({"lbfgs", "auto", "newton", "prox-newton", "gd"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "refit": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "use_legacy_attributes": ["boolean", Hidden(StrOptions({"warn"}))],
        "cache": ["boolean", StrOptions({"auto"})],
        "split_every": [Interval(Integral, 2, None, closed="left"), None],
        "retries": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        Cs: Any = 10,
        l1_ratios: Any = "warn",
        fit_intercept: bool = True,
        cv: Any = None,
        dual: bool = False,
        penalty: str = "deprecated",
        scoring: Any = "warn",
        solver: str = "lbfgs",
        tol: float = 1e-4,
        max_iter: int = 100,
        class_weight: dict[Any, float] | str | None = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        refit: bool = True,
        intercept_scaling: float = 1.0,
        random_state: Any = None,
        use_legacy_attributes: bool | str = "warn",
        cache: bool | str = "auto",
        split_every: int | None = None,
        retries: int = 0,
    ) -> None:
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.dual = dual
        self.penalty = penalty
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.use_legacy_attributes = use_legacy_attributes
        self.cache = cache
        self.split_every = split_every
        self.retries = retries

    # ---- parameters, as scikit-learn 1.9 reads them ----

    def _read_parameters(self) -> tuple[Any, str, Any, bool, list[Any], np.ndarray]:
        """``(l1_ratios, penalty, scoring, legacy, l1_ratios_, Cs_)``, warning as sklearn does."""
        if isinstance(self.l1_ratios, str) and self.l1_ratios == "warn":
            l1_ratios = None
            warnings.warn(
                "The default value for l1_ratios will change from None to (0.0,) in version "
                "1.10. From version 1.10 onwards, only array-like with values in [0, 1] will "
                "be allowed, None will be forbidden. To avoid this warning, explicitly set a "
                "value, e.g. l1_ratios=(0,).",
                FutureWarning,
                stacklevel=4,
            )
        else:
            l1_ratios = self.l1_ratios
        if self.penalty == "deprecated":
            if self.l1_ratios is None:
                warnings.warn(
                    "'l1_ratios=None' was deprecated in version 1.8 and will trigger an error "
                    "in 1.10. Use an array-like with values in [0, 1] instead.",
                    FutureWarning,
                    stacklevel=4,
                )
            if l1_ratios is None or np.all(np.asarray(l1_ratios) == 0):
                penalty = "l2"
            elif np.all(np.asarray(l1_ratios) == 1):
                penalty = "l1"
            else:
                penalty = "elasticnet"
        else:
            penalty = str(self.penalty)
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To "
                "avoid this warning, leave 'penalty' set to its default value and use "
                "'l1_ratios' and 'Cs' instead. Use l1_ratios=(0,) instead of penalty='l2', "
                "l1_ratios=(1,) instead of penalty='l1', l1_ratios set to floats between 0 "
                "and 1 instead of penalty='elasticnet', and Cs=(np.inf,) instead of "
                "penalty=None.",
                FutureWarning,
                stacklevel=4,
            )
        scoring = self.scoring
        if isinstance(scoring, str) and scoring == "warn":
            warnings.warn(
                "The default value of the parameter 'scoring' will change from None, i.e. "
                "accuracy, to 'neg_log_loss' in version 1.11. To silence this warning, "
                "explicitly set the scoring parameter: scoring='neg_log_loss' for the new, "
                "scoring='accuracy' or scoring=None for the old default.",
                FutureWarning,
                stacklevel=4,
            )
            scoring = None
        legacy = self.use_legacy_attributes
        if isinstance(legacy, str) and legacy == "warn":
            name = type(self).__name__
            warnings.warn(
                f"The fitted attributes of {name} will be simplified in scikit-learn 1.10 "
                "to remove redundancy. Set`use_legacy_attributes=False` to enable the new "
                "behavior now, or set it to `True` to silence this warning during the "
                "transition period while keeping the deprecated behavior for the time "
                "being. The default value of use_legacy_attributes will change from True "
                f"to False in scikit-learn 1.10. See the docstring of {name} for more "
                "details.",
                FutureWarning,
                stacklevel=4,
            )
            legacy = True
        if self.dual:
            raise ValueError(f"Solver {self.solver} supports only dual=False, got dual=True")
        if self.solver == "gd":
            raise ValueError(
                "LogisticRegressionCV solves the folds by Newton steps in lockstep; "
                "solver='gd' is not supported (use 'lbfgs', 'auto', 'newton' or 'prox-newton')."
            )
        if penalty == "elasticnet":
            if (
                l1_ratios is None
                or len(l1_ratios) == 0
                or any(
                    not isinstance(r, numbers.Number) or not 0 <= r <= 1  # type: ignore[operator]
                    for r in l1_ratios
                )
            ):
                raise ValueError(
                    "l1_ratios must be an array-like of numbers between 0 and 1; got "
                    f"(l1_ratios={l1_ratios!r})"
                )
            ratios = list(l1_ratios)
        else:
            if l1_ratios is not None and self.penalty != "deprecated":
                warnings.warn(
                    "l1_ratios parameter is only used when penalty is 'elasticnet'. Got "
                    f"(penalty={penalty})",
                    stacklevel=4,
                )
            ratios = [None] if l1_ratios is None else list(l1_ratios)
        if self.solver == "newton" and penalty != "l2":
            raise ValueError(
                f"solver='newton' needs a smooth penalty; penalty={penalty!r} has an L1 part. "
                "Use solver='prox-newton' (or 'lbfgs', which means it here)."
            )
        if isinstance(self.Cs, Integral):
            Cs = np.logspace(-4, 4, int(self.Cs))
        else:
            Cs = np.asarray(self.Cs, dtype=np.float64).ravel()
            if len(Cs) == 0 or not np.all(Cs > 0):
                raise ValueError(f"Cs must be positive (np.inf for no penalty), got {self.Cs!r}.")
        return l1_ratios, penalty, scoring, bool(legacy), ratios, Cs

    @staticmethod
    def _penalty_at(C: float, penalty: str, l1_ratio: float | None) -> Penalty:
        mix = {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio or 0.0)
        if np.isinf(C):
            return NoPenalty()
        return L2(1.0 / C) if mix == 0 else ElasticNet(1.0 / C, float(mix))

    # ---- the data: labels, folds, and the evaluation of the folds ----

    def _labels(self, X: Any, y: Any, sample_weight: Any, is_dask: bool) -> LabelSummary:
        if is_dask:
            from daskgd.engine.blocks import encode_labels
            from daskgd.engine.fold_reductions import ChunkLabels

            frame = self._make_frame(X, y, sample_weight, self.cache)
            weighted = sample_weight is not None
            tables = frame.reduce(ChunkLabels("y", "sample_weight" if weighted else None))
            ordered = [table for _, table in sorted(tables.tables, key=lambda item: item[0])]
            summary = summarize_labels(ordered, list(frame.first_rows))
            self._frame = frame
            validation.check_discrete_labels(summary.classes, type(self).__name__, "LassoCV")
            frame.derive("y", encode_labels, ["y"], broadcast=summary.classes)
            return summary
        check_classification_targets(y)
        summary = summarize_labels([chunk_label_table(y, sample_weight)], [0])
        validation.check_discrete_labels(summary.classes, type(self).__name__, "LassoCV")
        return summary

    def _assignment(self, X: Any, y: Any, summary: LabelSummary, is_dask: bool) -> Any:
        n_samples = int(X.shape[0])
        cv = self.cv
        if cv is None or isinstance(cv, Integral):
            cv = StratifiedKFold(5 if cv is None else int(cv))
        else:
            cv = check_cv(cv, None if is_dask else y, classifier=True)
        if isinstance(cv, StratifiedKFold) and not cv.shuffle:
            return stratified_ranks(summary, cv.get_n_splits())
        if isinstance(cv, KFold) and not cv.shuffle:
            return kfold_runs(n_samples, cv.get_n_splits())
        placeholder = np.empty((n_samples, 0))
        labels = y
        if is_dask and isinstance(cv, StratifiedKFold):
            # A shuffled StratifiedKFold reads the labels: one pass over y alone, to
            # the client (8 bytes a row).
            labels = np.asarray(y.compute()).ravel()
            self.n_passes_ += 1
        elif is_dask:
            labels = None
        return runs_from_splits(list(cv.split(placeholder, labels)), n_samples)

    def _evaluator(self, objective: LinearObjective, assignment: Any, X: Any, y: Any, sw: Any):
        """``evaluate(points)``: one pass over the data at every fold's point (counted)."""
        class_weight = self._class_weight_per_class
        if hasattr(self, "_frame"):
            from daskgd.engine.fold_reductions import FoldNewtonPass

            frame = self._frame
            first_rows = frame.first_rows

            def evaluate(points: dict[int, np.ndarray]) -> dict[int, Any]:
                self.n_passes_ += 1
                broadcast = (assignment, first_rows, class_weight, points)
                return dict(frame.reduce(FoldNewtonPass(objective), broadcast).folds)

            return evaluate
        encoded = np.searchsorted(self.classes_, y).astype(np.float64)[:, np.newaxis]
        fold = assignment.folds_of_chunk(0, 0, encoded)

        def evaluate_in_memory(points: dict[int, np.ndarray]) -> dict[int, Any]:
            self.n_passes_ += 1
            return block_fold_pass(objective, X, encoded, sw, fold, class_weight, points)

        self._folds_in_memory = fold
        return evaluate_in_memory

    # ---- the fit ----

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **params: Any) -> LogisticRegressionCV:
        """Fit every fold's path in lockstep, choose C (and l1_ratio), and refit.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data.
        y : {array-like, dask array} of shape (n_samples,)
            Class labels.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample, in the fits and in the test scores.
        **params : dict
            Not supported (no metadata routing): must be empty.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if params:
            raise TypeError(f"{type(self).__name__}.fit got unexpected arguments {sorted(params)}.")
        try:
            return self._fit(X, y, sample_weight)
        finally:
            # The data's frame (its kept chunks) and the rows' folds belong to this fit
            # only: a fitted estimator must pickle without them.
            self.__dict__.pop("_frame", None)
            self.__dict__.pop("_folds_in_memory", None)

    def _fit(self, X: Any, y: Any, sample_weight: Any) -> LogisticRegressionCV:
        self._validate_params()
        l1_ratios, penalty, scoring, legacy, ratios, Cs = self._read_parameters()
        X, y, sample_weight, is_dask = self._validate_X_y(
            X, y, sample_weight, multi_output=False, y_numeric=False
        )
        scorer_name = sum_scorer(scoring)
        if scorer_name is None and is_dask:
            raise ValueError(
                f"With dask input {type(self).__name__} scores the folds in its passes, from "
                f"sums over their rows: by one of {list(SUM_SCORERS)}; got scoring={scoring!r}."
            )
        self.n_passes_ = self._input_passes + 1  # the label pass
        summary = self._labels(X, y, sample_weight, is_dask)
        classes = summary.classes
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]!r}."
            )
        self.classes_ = classes
        positive = None if scorer_name is None else positive_class(scorer_name, classes)
        balanced = self.class_weight == "balanced" and sample_weight is not None
        self._class_weight_per_class = self._class_weights(
            summary.weights if balanced else summary.counts
        )
        n_features = int(X.shape[1])
        binary = len(classes) == 2
        n_outputs = 1 if binary else len(classes)
        if (n_features + int(self.fit_intercept)) * n_outputs > MAX_DENSE_COEF:
            raise NotImplementedError(
                f"{type(self).__name__} solves by Newton steps with dense Hessians of at most "
                f"{MAX_DENSE_COEF} coefficients; this problem has more."
            )
        assignment = self._assignment(X, y, summary, is_dask)
        n_folds = assignment.n_folds
        loss = BinaryLogLoss() if binary else MultinomialLogLoss()

        def objective_at(C: float, l1_ratio: float | None) -> LinearObjective:
            return LinearObjective(
                loss,
                self._penalty_at(C, penalty, l1_ratio),
                n_features,
                n_outputs,
                bool(self.fit_intercept),
            )

        template = objective_at(1.0, 0.0)
        evaluate = self._evaluator(template, assignment, X, y, sample_weight)
        # Per fold, l1_ratio and C, in scikit-learn's order (folds, then l1_ratios).
        coefs = np.zeros((n_folds, len(ratios), len(Cs), template.n_coef))
        scores = np.zeros((n_folds, len(ratios), len(Cs)))
        n_iter = np.zeros((n_folds, len(ratios), len(Cs)), dtype=np.int32)
        unconverged = 0
        for j, l1_ratio in enumerate(ratios):
            starts = {k: np.zeros(template.n_coef) for k in range(n_folds)}
            known: dict[int, Any] = {}
            for i, C in enumerate(Cs):
                run = solve_newton_folds(
                    objective_at(C, l1_ratio),
                    evaluate,
                    starts,
                    known=known,
                    tol=self.tol,
                    max_iter=int(self.max_iter),
                    min_iter=1,
                )
                for k, result in run.results.items():
                    coefs[k, j, i] = self._centred(template, result.coef)
                    n_iter[k, j, i] = result.n_iter
                    unconverged += not result.converged
                    if scorer_name is not None:
                        scores[k, j, i] = score_from_sums(
                            scorer_name, result.info["partial"], positive
                        )
                starts = {k: coefs[k, j, i] for k in range(n_folds)}
                known = {k: result.info["partial"] for k, result in run.results.items()}
                if self.verbose:
                    print(
                        f"{type(self).__name__}: C={C:.4g}, l1_ratio={l1_ratio}: "
                        f"{run.n_passes} passes, {self.n_passes_} in all"
                    )
        if scorer_name is None:
            scores = self._scores_in_memory(X, y, sample_weight, scoring, coefs, Cs, template)
        if unconverged:
            warnings.warn(
                f"{type(self).__name__}: Newton did not converge on {unconverged} of the "
                f"{coefs[..., 0].size} fold paths' Cs. Increase max_iter or tol, or scale "
                "the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        fold_coefs = [
            sklearn_layout(template, coefs[k, j], binary)
            for k in range(n_folds)
            for j in range(len(ratios))
        ]
        store_attributes(
            self,
            fold_coefs,
            Cs,
            scores,
            n_iter,
            ratios,
            l1_ratios,
            legacy,
            binary,
            n_features,
            penalty,
            lambda start, C, r: self._refit(objective_at(C, r), evaluate, start),
        )
        return self

    def _centred(self, objective: LinearObjective, coef: np.ndarray) -> np.ndarray:
        """Multinomial intercepts centred (softmax is blind to a common shift, and the
        folds' sums stay those of the uncentred point), as scikit-learn reports them."""
        coef = np.array(coef, dtype=np.float64)
        if objective.n_outputs > 1 and objective.fit_intercept:
            matrix = coef.reshape(objective.n_rows, objective.n_outputs)
            matrix[-1] -= matrix[-1].mean()
        return coef

    def _refit(self, objective: LinearObjective, evaluate: Any, start: np.ndarray) -> np.ndarray:
        run = solve_newton_folds(
            objective,
            evaluate,
            {ALL_ROWS: start},
            tol=self.tol,
            max_iter=int(self.max_iter),
            min_iter=1,
        )
        result = run.results[ALL_ROWS]
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__}: the refit did not converge in {result.n_iter} "
                f"iterations ({result.message}). Increase max_iter or tol, or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self._centred(objective, result.coef)

    def _scores_in_memory(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        scoring: Any,
        coefs: np.ndarray,
        Cs: Any,
        template: LinearObjective,
    ) -> np.ndarray:
        """Any other scorer, as ``_log_reg_scoring_path`` calls it, on the test rows."""
        from sklearn.linear_model import LogisticRegression as Scored

        scorer = get_scorer(scoring)
        binary = len(self.classes_) == 2
        if hasattr(scorer, "_score_func"):
            signature = inspect.signature(scorer._score_func).parameters
            if "labels" in signature:
                extra = (
                    {"pos_label": self.classes_[-1]} if binary and "pos_label" in signature else {}
                )
                scorer = make_scorer(
                    scorer._score_func,
                    greater_is_better=scorer._sign == 1,
                    response_method=scorer._response_method,
                    labels=self.classes_,
                    **extra,
                    **getattr(scorer, "_kwargs", {}),
                )
        model = Scored()
        model.classes_ = self.classes_
        scores = np.zeros(coefs.shape[:3])
        for k in range(coefs.shape[0]):
            test = self._folds_in_memory == k
            kwargs = {} if sample_weight is None else {"sample_weight": sample_weight[test]}
            for j in range(coefs.shape[1]):
                for i, C in enumerate(Cs):
                    weights, intercept = template.unpack(coefs[k, j, i])
                    model.C = C
                    model.coef_, model.intercept_ = weights.T.copy(), intercept.copy()
                    scores[k, j, i] = scorer(model, X[test], y[test], **kwargs)
        return scores

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The ``scoring`` of the predictions on the given data (accuracy by default).

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Test samples.
        y : {array-like, dask array} of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            The score; one pass for dask input with accuracy or ``"neg_log_loss"``.
        """
        scoring = None if self.scoring == "warn" else self.scoring
        name = sum_scorer(scoring)
        if validation.is_dask_collection(X) and name is not None:
            from daskgd.evaluation import evaluate

            # (The log-loss comes with the score histograms of ROC AUC.)
            with_auc = name == "neg_log_loss"
            figures = evaluate(self, X, y, sample_weight, with_auc=with_auc)
            return float(figures["accuracy"] if name == "accuracy" else -figures["log_loss"])
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return float(get_scorer(scoring or "accuracy")(self, X, y, **kwargs))
