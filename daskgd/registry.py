"""The one table of daskgd's estimators, and the views built from it.

Each estimator is listed once, by class name, module, command line model name
and kind. ``daskgd`` (its lazy attributes and ``__all__``),
:mod:`daskgd.estimators` (its eager imports) and the ``daskgd fit --model``
choices of :mod:`daskgd.cli` are all read from :data:`ESTIMATORS`.

This module imports only the standard library: ``import daskgd`` reads it, and
the workers, which unpickle the block functions of :mod:`daskgd.objective`,
must not import NumPy-heavy estimator code or scikit-learn through it. A class
is imported only when :func:`estimator_class` is asked for it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["regressor", "classifier", "transformer"]


@dataclass(frozen=True)
class EstimatorEntry:
    """One estimator of daskgd.

    Parameters
    ----------
    name : str
        Class name, as exported by ``daskgd`` and :mod:`daskgd.estimators`.
    module : str
        Dotted path of the module that defines the class.
    cli_name : str or None
        Model name of ``daskgd fit --model`` (None: not a model the command line fits).
    kind : {"regressor", "classifier", "transformer"}
        What the estimator predicts (or that it transforms).
    """

    name: str
    module: str
    cli_name: str | None
    kind: Kind


#: Every estimator, in the order the command line has always listed them.
ESTIMATORS: tuple[EstimatorEntry, ...] = (
    EstimatorEntry("LinearRegression", "daskgd.estimators.regression", "linear", "regressor"),
    EstimatorEntry("Ridge", "daskgd.estimators.regression", "ridge", "regressor"),
    EstimatorEntry("Lasso", "daskgd.estimators.coordinate_descent", "lasso", "regressor"),
    EstimatorEntry(
        "ElasticNet", "daskgd.estimators.coordinate_descent", "elastic-net", "regressor"
    ),
    EstimatorEntry("LassoCV", "daskgd.estimators.coordinate_descent_cv", "lasso-cv", "regressor"),
    EstimatorEntry(
        "ElasticNetCV", "daskgd.estimators.coordinate_descent_cv", "elastic-net-cv", "regressor"
    ),
    EstimatorEntry("HuberRegressor", "daskgd.estimators.robust", "huber", "regressor"),
    EstimatorEntry("PoissonRegressor", "daskgd.estimators.glm", "poisson", "regressor"),
    EstimatorEntry("GammaRegressor", "daskgd.estimators.glm", "gamma", "regressor"),
    EstimatorEntry("TweedieRegressor", "daskgd.estimators.glm", "tweedie", "regressor"),
    EstimatorEntry(
        "LogisticRegression", "daskgd.estimators.classification", "logistic", "classifier"
    ),
    EstimatorEntry(
        "LogisticRegressionCV", "daskgd.estimators.logistic_cv", "logistic-cv", "classifier"
    ),
    EstimatorEntry("LinearSVC", "daskgd.estimators.svm", "svm", "classifier"),
    EstimatorEntry("SGDClassifier", "daskgd.estimators.sgd", "sgd-classifier", "classifier"),
    EstimatorEntry("SGDRegressor", "daskgd.estimators.sgd", "sgd-regressor", "regressor"),
    EstimatorEntry(
        "HistGradientBoostingClassifier", "daskgd.estimators.hgb", "hgb-classifier", "classifier"
    ),
    EstimatorEntry(
        "HistGradientBoostingRegressor", "daskgd.estimators.hgb", "hgb-regressor", "regressor"
    ),
    EstimatorEntry("StandardScaler", "daskgd.estimators.preprocessing", None, "transformer"),
)

_BY_NAME = {entry.name: entry for entry in ESTIMATORS}


def estimator_names(kind: Kind | None = None) -> list[str]:
    """Class names of the estimators, in table order.

    Parameters
    ----------
    kind : {"regressor", "classifier", "transformer"}, optional
        Only the estimators of this kind (default: all).

    Returns
    -------
    names : list of str
        Class names.
    """
    return [entry.name for entry in ESTIMATORS if kind is None or entry.kind == kind]


def estimator_entry(name: str) -> EstimatorEntry:
    """The registry entry of the estimator class ``name``.

    Parameters
    ----------
    name : str
        Class name, e.g. ``"LogisticRegression"``.

    Returns
    -------
    entry : EstimatorEntry
        Its module, command line name and kind.

    Raises
    ------
    KeyError
        If ``name`` is not a daskgd estimator.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not a daskgd estimator; the estimators are {estimator_names()}."
        ) from None


def estimator_class(name: str) -> type[Any]:
    """Import and return the estimator class ``name``.

    Importing the class imports its module, and with it scikit-learn: call
    this from user code, never from code that runs on the workers.

    Parameters
    ----------
    name : str
        Class name, e.g. ``"LogisticRegression"``.

    Returns
    -------
    cls : type
        The estimator class.

    Raises
    ------
    KeyError
        If ``name`` is not a daskgd estimator.
    """
    entry = estimator_entry(name)
    cls: type[Any] = getattr(importlib.import_module(entry.module), entry.name)
    return cls


def cli_models() -> dict[str, str]:
    """The ``daskgd fit --model`` names and the classes they fit.

    Returns
    -------
    models : dict of str to str
        Command line model name (e.g. ``"logistic"``) -> class name
        (``"LogisticRegression"``), in table order.
    """
    return {entry.cli_name: entry.name for entry in ESTIMATORS if entry.cli_name is not None}
