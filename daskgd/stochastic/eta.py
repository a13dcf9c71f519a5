"""The step size of ``learning_rate="auto"``: each candidate ``eta0`` tried on a sample.

Steps: (1) read the first :data:`AUTO_SAMPLE_ROWS` rows of the data (the whole
first chunk of dask data when it is longer); (2) train a copy of
the model with a constant rate on the first 80% of them, once per candidate of
:data:`ETA0_CANDIDATES`; (3) keep the candidate whose model has the lowest
objective ``mean loss + alpha * R(w)`` on the other 20% (on the whole sample
when it has a single row). The sample is trained in process: it is small,
and reading it is not counted as a pass over the data.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from daskgd.oracles.numpy import InMemoryChunks
from daskgd.penalties import Penalty
from daskgd.stochastic.steps import BlockTrainer, SGDState, as_rows, raw_prediction

#: Step sizes ``learning_rate="auto"`` tries, smallest first (the first wins ties).
ETA0_CANDIDATES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Rows of the sample the candidates are tried on.
AUTO_SAMPLE_ROWS = 20_000


def with_constant_rate(model: Any, eta0: float) -> Any:
    """An unfitted copy of a scikit-learn SGD model with the constant learning rate ``eta0``.

    The same model as ``sklearn.base.clone(model).set_params(learning_rate="constant",
    eta0=eta0)`` without importing scikit-learn: the constructor parameters are
    deep-copied as ``clone`` copies them (a ``RandomState`` given as
    ``random_state``, a ``class_weight`` dict), so the copy shares no object with
    ``model``.

    Parameters
    ----------
    model : SGDClassifier or SGDRegressor
        The model to copy (its fitted state, if any, is not copied).
    eta0 : float
        The constant learning rate of the copy.

    Returns
    -------
    model : SGDClassifier or SGDRegressor
        A new, unfitted model of the same class.
    """
    params = {name: copy.deepcopy(value) for name, value in model.get_params(deep=False).items()}
    params.update(learning_rate="constant", eta0=eta0)
    return type(model)(**params)


def held_out_objective(
    trainer: BlockTrainer, model: Any, X: Any, y: Any, penalty: Penalty
) -> float:
    """``mean_i loss(y_i, x_i @ w + b) + penalty(w)`` of ``model`` on rows ``X``, ``y``.

    Parameters
    ----------
    trainer : BlockTrainer
        Knows the loss and how the targets are encoded.
    model : SGDClassifier or SGDRegressor
        The model to score; an unfitted one scores infinity.
    X : ndarray of shape (n_samples, n_features)
        Rows to score on.
    y : ndarray of shape (n_samples,)
        Their targets.
    penalty : Penalty
        The penalty ``alpha * R(w)``.

    Returns
    -------
    objective : float
        Not finite when the model diverged.
    """
    if not hasattr(model, "coef_"):
        return np.inf
    with np.errstate(all="ignore"):
        raw = raw_prediction(model, X, trainer._n_outputs)
        loss = trainer.loss.loss(trainer._encoded_targets(y), raw).mean()
        return float(loss + penalty.value(np.atleast_2d(model.coef_).T))


def choose_eta0(runner: Any, state: SGDState, trainer: BlockTrainer, penalty: Penalty) -> float:
    """Try each candidate step size on a sample; keep the one with the lowest objective.

    Parameters
    ----------
    runner : InMemoryChunks or DaskChunks
        The data; only its first rows are read (``runner.head``).
    state : SGDState
        Holds the unfitted model whose copies are tried.
    trainer : BlockTrainer
        The chunk task of the fit.
    penalty : Penalty
        The penalty of the objective the candidates are compared on.

    Returns
    -------
    eta0 : float
        One of :data:`ETA0_CANDIDATES`; the smallest when none gave a finite objective.
    """
    X, y, weight = runner.head(AUTO_SAMPLE_ROWS)
    X, y = as_rows(X), np.asarray(y)
    weight = None if weight is None else np.asarray(weight)
    n_rows = X.shape[0]
    split = min(max(1, int(0.8 * n_rows)), n_rows)
    sample = InMemoryChunks(X[:split], y[:split], None if weight is None else weight[:split])
    held_out = (X[split:], y[split:]) if split < n_rows else (X, y)
    best_eta, best_value = ETA0_CANDIDATES[0], np.inf
    for eta0 in ETA0_CANDIDATES:
        candidate = with_constant_rate(state.model, eta0)
        # np.errstate is per thread; warnings.catch_warnings is not (concurrent fits).
        with np.errstate(all="ignore"):
            trained = sample.chain(trainer, SGDState(candidate), [0])
        value = held_out_objective(trainer, trained.model, *held_out, penalty)
        if np.isfinite(value) and value < best_value:
            best_eta, best_value = eta0, value
    return best_eta
