"""What one chunk task of a stochastic fit does: scikit-learn's SGD over the chunk's rows.

These functions run on the workers. The state they pass along is small (the
model), never the data: a :class:`BlockTrainer` takes a model in and gives a
model out, :func:`average_states` is the reduce step of map-reduce training and
:func:`partial_score` the block function of an early-stopping score pass.

A worker that unpickles one of them imports this module, so it imports
NumPy-level modules only: never scikit-learn (the models are handed in, already
built), pandas, dask, :mod:`daskgd.validation` or :mod:`daskgd.estimators`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from daskgd.losses import PointwiseLoss

#: Fitted arrays of a scikit-learn SGD model that averaging combines.
AVERAGED_ATTRIBUTES = (
    "coef_",
    "intercept_",
    "_standard_coef",
    "_standard_intercept",
    "_average_coef",
    "_average_intercept",
)


@dataclass
class SGDState:
    """A model and the running totals of the current epoch (or round).

    Attributes
    ----------
    model : object
        A scikit-learn ``SGDClassifier`` or ``SGDRegressor`` (fitted or not).
    loss_sum : float
        Weighted loss of every row, taken just before the model learned from it.
    weight_sum : float
        Weighted number of rows the model learned from.
    n_rows : int
        Number of rows the model learned from.
    """

    model: Any
    loss_sum: float = 0.0
    weight_sum: float = 0.0
    n_rows: int = 0

    def reset_totals(self) -> SGDState:
        """The same model with zeroed totals, to start an epoch."""
        return replace(self, loss_sum=0.0, weight_sum=0.0, n_rows=0)


def as_rows(X: Any) -> Any:
    """A block of rows as NumPy, or kept as it is when it is a CSR matrix."""
    return X if hasattr(X, "indptr") else np.asarray(X)


def validation_mask(chunk_index: int, n_rows: int, fraction: float, seed: int) -> np.ndarray:
    """Rows of a chunk held out for validation: a fixed, seeded share of each chunk."""
    if fraction <= 0:
        return np.zeros(n_rows, dtype=bool)
    rng = np.random.default_rng([seed, chunk_index])
    return rng.random(n_rows) < fraction


@dataclass(frozen=True)
class BlockTrainer:
    """The chunk task of a stochastic fit (picklable: it travels to the workers).

    Parameters
    ----------
    loss : PointwiseLoss
        The loss scikit-learn's SGD minimises, to report the progressive loss.
    classes : ndarray or None
        Class labels (classifiers), sorted.
    validation_fraction : float
        Share of each chunk's rows held out (0 for none).
    validation_seed : int
        Seed of the held-out rows.
    """

    loss: PointwiseLoss
    classes: np.ndarray | None
    validation_fraction: float = 0.0
    validation_seed: int = 0

    @property
    def _n_outputs(self) -> int:
        return 1 if self.classes is None or len(self.classes) <= 2 else len(self.classes)

    def _encoded_targets(self, y: np.ndarray) -> np.ndarray:
        if self.classes is None:
            return np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        return np.searchsorted(self.classes, y).astype(np.float64)[:, np.newaxis]

    def _training_rows(
        self, chunk_index: int, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        held_out = validation_mask(
            chunk_index, X.shape[0], self.validation_fraction, self.validation_seed
        )
        if not held_out.any():
            return X, y, weight
        keep = ~held_out
        return X[keep], y[keep], None if weight is None else weight[keep]

    def __call__(
        self,
        state: SGDState,
        chunk_index: int,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
    ) -> SGDState:
        """Learn from one chunk's rows with one ``partial_fit`` call (per-sample SGD)."""
        X, y, weight = self._training_rows(chunk_index, as_rows(X), np.asarray(y), sample_weight)
        if X.shape[0] == 0:
            return state
        model = copy.deepcopy(state.model)
        raw = raw_prediction(model, X, self._n_outputs)
        row_loss = self.loss.loss(self._encoded_targets(y), raw)
        row_weight = np.ones(X.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
        if self.classes is None:
            model.partial_fit(X, y, sample_weight=weight)
        else:
            model.partial_fit(X, y, classes=self.classes, sample_weight=weight)
        return SGDState(
            model=model,
            loss_sum=state.loss_sum + float(row_weight @ row_loss),
            weight_sum=state.weight_sum + float(row_weight.sum()),
            n_rows=state.n_rows + X.shape[0],
        )

    def score_block(
        self,
        model: Any,
        chunk_index: int,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
    ) -> dict[str, float]:
        """Sufficient statistics of the validation score on a chunk's held-out rows."""
        X, y = as_rows(X), np.asarray(y)
        held_out = validation_mask(
            chunk_index, X.shape[0], self.validation_fraction, self.validation_seed
        )
        X, y = X[held_out], y[held_out]
        weight = (
            np.ones(X.shape[0])
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)[held_out]
        )
        if X.shape[0] == 0:
            return {"n": 0.0, "correct": 0.0, "sse": 0.0, "sum_y": 0.0, "sum_y2": 0.0}
        prediction = model.predict(X)
        if self.classes is not None:
            return {
                "n": float(weight.sum()),
                "correct": float(weight @ (prediction == y)),
                "sse": 0.0,
                "sum_y": 0.0,
                "sum_y2": 0.0,
            }
        y = y.astype(np.float64)
        return {
            "n": float(weight.sum()),
            "correct": 0.0,
            "sse": float(weight @ (y - prediction) ** 2),
            "sum_y": float(weight @ y),
            "sum_y2": float(weight @ y**2),
        }


def validation_score(totals: dict[str, float], classifier: bool) -> float:
    """Accuracy (classifiers) or R^2 (regressors) from :meth:`BlockTrainer.score_block` totals."""
    if totals["n"] <= 0:
        raise ValueError("No row was held out for validation: raise validation_fraction.")
    if classifier:
        return totals["correct"] / totals["n"]
    mean = totals["sum_y"] / totals["n"]
    total_ss = totals["sum_y2"] - totals["n"] * mean**2
    return 1.0 - totals["sse"] / total_ss if total_ss > 0 else 0.0


def raw_prediction(model: Any, X: np.ndarray, n_outputs: int) -> np.ndarray:
    """``X @ coef_.T + intercept_`` of a scikit-learn model, zeros before its first fit."""
    if not hasattr(model, "coef_"):
        return np.zeros((X.shape[0], n_outputs))
    coef = np.atleast_2d(model.coef_)
    return np.asarray(X @ coef.T) + np.atleast_1d(model.intercept_)


def average_states(*states: SGDState) -> SGDState:
    """Average the models of several states, weighted by the rows each learned from.

    Weights are row counts, so an unbalanced partition does not bias the average;
    the totals of the epoch add up. The step counter ``t_`` is averaged the same way.
    """
    trained = [state for state in states if state.n_rows > 0]
    if not trained:
        return states[0]
    rows = np.array([state.n_rows for state in trained], dtype=np.float64)
    shares = rows / rows.sum()
    model = copy.deepcopy(trained[0].model)
    for name in AVERAGED_ATTRIBUTES:
        values = [getattr(state.model, name, None) for state in trained]
        if any(value is None for value in values):
            continue
        averaged = sum(
            share * np.asarray(value) for share, value in zip(shares, values, strict=True)
        )
        setattr(model, name, np.asarray(averaged, dtype=np.asarray(values[0]).dtype))
    if hasattr(model, "t_"):
        model.t_ = float(shares @ np.array([state.model.t_ for state in trained]))
    return SGDState(
        model=model,
        loss_sum=sum(state.loss_sum for state in states),
        weight_sum=sum(state.weight_sum for state in states),
        n_rows=sum(state.n_rows for state in states),
    )


def sum_dicts(*parts: dict[str, float]) -> dict[str, float]:
    """Add dicts of floats key by key (a fixed order keeps the sum exact)."""
    total = dict(parts[0])
    for part in parts[1:]:
        for key, value in part.items():
            total[key] += value
    return total


def partial_score(trainer: BlockTrainer, model: Any) -> Callable[..., dict[str, float]]:
    """The block function that scores ``model`` on a chunk's held-out rows.

    Parameters
    ----------
    trainer : BlockTrainer
        The trainer of the fit (it knows which rows each chunk holds out).
    model : object
        The scikit-learn model to score.

    Returns
    -------
    score_block : callable
        ``score_block(chunk_index, X, y, sample_weight)``: the totals of
        :meth:`BlockTrainer.score_block` on that chunk.
    """
    return partial(trainer.score_block, model)
