"""The epoch loop of a stochastic fit: rounds of chunk tasks until a stopping rule holds.

One round is, in order:

1. **train**: ``strategy="sequential"`` threads the model through every chunk
   (one chain, in a new random order every epoch when ``shuffle``);
   ``strategy="average"`` runs one averaging round (each group of chunks trains
   its own copy for ``local_epochs``, and the copies are averaged weighted by
   the rows each learned from);
2. **record** the objective: the mean progressive loss of the round (each row's
   loss just before the model learned from it) plus the penalty;
3. **stopping rule** (unless ``tol`` is None or this is ``partial_fit``): the
   round improves when its mean loss falls below the best by more than ``tol``,
   or, with early stopping, when the score of the held-out rows (one more pass)
   rises above the best by more than ``tol``. After ``n_iter_no_change`` rounds
   without improvement an ``"adaptive"`` rate divides ``eta0`` by 5 (down to
   :data:`MIN_ADAPTIVE_ETA`) and goes on; any other rate stops;
4. **checkpoint** the loop's state when due, when stopping and after the last round;
5. **report** the round to the monitor, then to the user's callback.

The loop's whole state is an :class:`EpochProgress`, which is also what a
checkpoint keeps: a fit resumed from it ends with the same model as one never
interrupted. The result is an :class:`EpochResult` for the estimator to unpack.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from daskgd.penalties import Penalty
from daskgd.stochastic.steps import (
    BlockTrainer,
    SGDState,
    average_states,
    partial_score,
    sum_dicts,
    validation_score,
)

#: An adaptive ``eta0`` is not divided any further once it is this small: the fit stops.
MIN_ADAPTIVE_ETA = 1e-6


class ChunkRunner(Protocol):
    """What the loop asks of the data: ``InMemoryChunks`` or ``DaskChunks`` (daskgd.oracles)."""

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""

    def chain(self, step: Callable[..., Any], state: Any, order: Sequence[int]) -> Any:
        """``state = step(state, index, *block)`` over the chunks in ``order``."""

    def average_round(
        self,
        step: Callable[..., Any],
        state: Any,
        groups: Sequence[Sequence[int]],
        local_epochs: int,
        average: Callable[..., Any],
    ) -> Any:
        """Every group trains its own copy of ``state`` for ``local_epochs``; then average."""

    def map_reduce(self, block_function: Callable[..., Any], combine: Callable[..., Any]) -> Any:
        """``combine`` of ``block_function(index, *block)`` over every chunk."""


class Checkpointer(Protocol):
    """Where the loop writes its state (see :class:`daskgd.checkpoint.Checkpoint`)."""

    def due(self, iteration: int) -> bool:
        """Whether the state after ``iteration`` should be written."""

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state``."""


class Monitor(Protocol):
    """Follows the fit round by round (see :func:`daskgd.monitoring.make_callback`)."""

    def __call__(self, record: dict[str, Any]) -> None:
        """Report one round's record."""

    def close(self) -> None:
        """The fit has ended (or failed)."""


@dataclass(frozen=True)
class EpochSettings:
    """The estimator's parameters that the loop reads.

    Attributes
    ----------
    strategy : {"sequential", "average"}
        One model through every chunk, or map-reduce rounds with averaging.
    n_rounds : int
        Rounds to run at most: epochs for "sequential", averaging rounds for
        "average" (each of ``local_epochs`` epochs).
    local_epochs : int, default=1
        Epochs each group runs on its own chunks per averaging round.
    tol : float or None, default=None
        Least improvement that counts; None runs every round.
    n_iter_no_change : int, default=5
        Rounds without improvement before the rate is reduced or the fit stops.
    shuffle : bool, default=True
        Visit the chunks in a new random order every epoch ("sequential").
    seed : int or None, default=None
        Seed of the chunk order.
    early_stopping : bool, default=False
        Judge improvement by the score of the held-out rows, not by the loss.
    classifier : bool, default=False
        The score is an accuracy (classifiers) or R^2 (regressors).
    partial : bool, default=False
        ``partial_fit``: the chunks in order, no averaging, no stopping rule and
        no callback.
    """

    strategy: str
    n_rounds: int
    local_epochs: int = 1
    tol: float | None = None
    n_iter_no_change: int = 5
    shuffle: bool = True
    seed: int | None = None
    early_stopping: bool = False
    classifier: bool = False
    partial: bool = False

    @property
    def averaging(self) -> bool:
        """Whether a round is an averaging round (``partial_fit`` always chains)."""
        return self.strategy == "average" and not self.partial


@dataclass
class EpochProgress:
    """Everything the next round needs; a checkpoint keeps exactly this.

    Attributes
    ----------
    state : SGDState
        The model (and the totals of the current round).
    eta0 : float
        The initial learning rate of the fit (``eta0_``).
    rng : numpy.random.Generator
        The generator of the chunk order.
    groups : list of list of int
        Chunk indices trained together (one group per worker for "average").
    n_iter : int
        Rounds run, those of earlier (warm-started) fits included.
    n_passes : int
        Passes over the data so far.
    losses : list of float
        The objective of every round so far.
    rounds_done : int, default=0
        Rounds run by this fit.
    best_loss, best_score : float
        Best mean loss and best validation score so far.
    no_improvement : int, default=0
        Rounds since the last improvement.
    stopped : bool, default=False
        Whether the stopping rule has ended the fit.
    """

    state: SGDState
    eta0: float
    rng: np.random.Generator
    groups: list[list[int]]
    n_iter: int
    n_passes: int
    losses: list[float]
    rounds_done: int = 0
    best_loss: float = np.inf
    best_score: float = -np.inf
    no_improvement: int = 0
    stopped: bool = False

    @classmethod
    def start(
        cls,
        runner: ChunkRunner,
        settings: EpochSettings,
        state: SGDState,
        eta0: float,
        *,
        n_iter: int = 0,
        n_passes: int = 0,
        losses: Sequence[float] = (),
    ) -> EpochProgress:
        """The progress before the first round of a fit.

        Parameters
        ----------
        runner : ChunkRunner
            The data (its groups of chunks, for "average").
        settings : EpochSettings
            The loop's settings.
        state : SGDState
            The model to start from.
        eta0 : float
            The fit's initial learning rate.
        n_iter, n_passes : int, default=0
            Counts so far (of the label and weight passes, of a warm-started fit).
        losses : sequence of float, default=()
            The objectives of a warm-started fit.

        Returns
        -------
        progress : EpochProgress
        """
        groups = [list(range(runner.n_chunks))]
        if settings.strategy == "average":
            groups = getattr(runner, "groups", groups)
        return cls(
            state=state,
            eta0=eta0,
            rng=np.random.default_rng(settings.seed),
            groups=groups,
            n_iter=n_iter,
            n_passes=n_passes,
            losses=list(losses),
        )

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> EpochProgress:
        """The progress a checkpoint kept (see :meth:`snapshot`).

        Parameters
        ----------
        snapshot : dict
            A state written by :meth:`snapshot`, read back from a checkpoint.

        Returns
        -------
        progress : EpochProgress
        """
        rng = np.random.default_rng()
        rng.bit_generator.state = snapshot["rng"]
        return cls(
            state=SGDState(snapshot["model"]),
            eta0=snapshot["eta0"],
            rng=rng,
            # The groups are part of the math of averaging: keep those of the first run.
            groups=snapshot["groups"],
            n_iter=snapshot["n_iter"],
            n_passes=snapshot["n_passes"],
            losses=list(snapshot["losses"]),
            rounds_done=snapshot["rounds_done"],
            best_loss=snapshot["best_loss"],
            best_score=snapshot["best_score"],
            no_improvement=snapshot["no_improvement"],
            stopped=snapshot["stopped"],
        )

    def snapshot(self) -> dict[str, Any]:
        """The state to checkpoint: plain values and the scikit-learn model.

        Returns
        -------
        snapshot : dict
            Keys ``model``, ``eta0``, ``rng`` (the generator's state), ``groups``,
            ``rounds_done``, ``n_iter``, ``n_passes``, ``losses``, ``best_loss``,
            ``best_score``, ``no_improvement`` and ``stopped``; checkpoints written
            by earlier versions have the same keys, so keep them.
        """
        return {
            "model": self.state.model,
            "eta0": self.eta0,
            "rng": self.rng.bit_generator.state,
            "groups": self.groups,
            "rounds_done": self.rounds_done,
            "n_iter": self.n_iter,
            "n_passes": self.n_passes,
            "losses": list(self.losses),
            "best_loss": self.best_loss,
            "best_score": self.best_score,
            "no_improvement": self.no_improvement,
            "stopped": self.stopped,
        }


@dataclass
class EpochResult:
    """What the loop ends with.

    Attributes
    ----------
    model : SGDClassifier or SGDRegressor
        The trained scikit-learn model.
    eta0 : float
        The fit's initial learning rate.
    n_iter : int
        Rounds run, those of earlier (warm-started) fits included.
    n_passes : int
        Passes over the data, validation passes included.
    losses : ndarray of shape (n_iter,)
        The objective of every round.
    groups : list of list of int
        Chunk indices trained together.
    stopped : bool
        Whether the stopping rule ended the fit.
    ran_out_of_rounds : bool
        Whether the stopping rule was on but the rounds ran out first (the
        estimator warns that the fit did not converge).
    """

    model: Any
    eta0: float
    n_iter: int
    n_passes: int
    losses: np.ndarray
    groups: list[list[int]]
    stopped: bool
    ran_out_of_rounds: bool


def run_epochs(
    runner: ChunkRunner,
    trainer: BlockTrainer,
    penalty: Penalty,
    settings: EpochSettings,
    progress: EpochProgress,
    *,
    checkpoint: Checkpointer | None = None,
    monitor: Monitor | None = None,
    callback: Callable[[dict[str, Any]], Any] | None = None,
) -> EpochResult:
    """Run rounds of SGD over the chunks until a stopping rule holds or they run out.

    Parameters
    ----------
    runner : ChunkRunner
        The data: ``InMemoryChunks`` or ``DaskChunks``.
    trainer : BlockTrainer
        The chunk task.
    penalty : Penalty
        The penalty of the reported objective.
    settings : EpochSettings
        The estimator's parameters that the loop reads.
    progress : EpochProgress
        Where to start (a new fit, a warm start or a checkpoint); advanced in place.
    checkpoint : Checkpointer, optional
        Where to write :meth:`EpochProgress.snapshot` when due.
    monitor : Monitor, optional
        Told of every round, and closed at the end even if the fit fails.
    callback : callable, optional
        Called with a copy of every round's record (not by ``partial_fit``);
        an exception it raises stops the fit.

    Returns
    -------
    result : EpochResult
    """
    started = time.perf_counter()
    try:
        while not progress.stopped and progress.rounds_done < settings.n_rounds:
            _train_round(runner, trainer, settings, progress)
            progress.n_iter += 1
            progress.rounds_done += 1
            state = progress.state
            mean_loss = state.loss_sum / max(state.weight_sum, np.finfo(float).tiny)
            objective = mean_loss + penalty.value(np.atleast_2d(state.model.coef_).T)
            progress.losses.append(objective)
            if not (settings.partial or settings.tol is None):
                _apply_stopping_rule(runner, trainer, settings, progress, mean_loss)
            if checkpoint is not None and (
                checkpoint.due(progress.rounds_done)
                or progress.stopped
                or progress.rounds_done == settings.n_rounds
            ):
                checkpoint.save(progress.snapshot())
            record = {
                "iteration": progress.n_iter,
                "objective": objective,
                "grad_norm": float("nan"),
                "n_passes": progress.n_passes,
                "seconds": time.perf_counter() - started,
            }
            if monitor is not None:
                monitor(record)
            if callback is not None and not settings.partial:
                callback(dict(record))
    finally:
        if monitor is not None:
            monitor.close()
    return EpochResult(
        model=progress.state.model,
        eta0=progress.eta0,
        n_iter=progress.n_iter,
        n_passes=progress.n_passes,
        losses=np.asarray(progress.losses),
        groups=progress.groups,
        stopped=progress.stopped,
        ran_out_of_rounds=not (progress.stopped or settings.partial) and settings.tol is not None,
    )


def _train_round(
    runner: ChunkRunner, trainer: BlockTrainer, settings: EpochSettings, progress: EpochProgress
) -> None:
    """Step 1: one epoch (or averaging round) from zeroed totals; count its passes."""
    state = progress.state.reset_totals()
    if settings.averaging:
        state = runner.average_round(
            trainer, state, progress.groups, settings.local_epochs, average_states
        )
        progress.n_passes += settings.local_epochs
    else:
        order = np.arange(runner.n_chunks)
        if settings.shuffle and not settings.partial:
            order = progress.rng.permutation(runner.n_chunks)
        state = runner.chain(trainer, state, [int(i) for i in order])
        progress.n_passes += 1
    progress.state = state


def _apply_stopping_rule(
    runner: ChunkRunner,
    trainer: BlockTrainer,
    settings: EpochSettings,
    progress: EpochProgress,
    mean_loss: float,
) -> None:
    """Step 3: count a round without improvement; reduce an adaptive rate or stop."""
    assert settings.tol is not None
    if settings.early_stopping:
        totals = runner.map_reduce(partial_score(trainer, progress.state.model), sum_dicts)
        progress.n_passes += 1
        score = validation_score(totals, settings.classifier)
        improved = score > progress.best_score + settings.tol
        progress.best_score = max(progress.best_score, score)
    else:
        improved = mean_loss < progress.best_loss - settings.tol
        progress.best_loss = min(progress.best_loss, mean_loss)
    progress.no_improvement = 0 if improved else progress.no_improvement + 1
    if progress.no_improvement >= settings.n_iter_no_change:
        model = progress.state.model
        # Dividing the rate is scikit-learn's "adaptive" schedule, here per round.
        if model.learning_rate == "adaptive" and model.eta0 > MIN_ADAPTIVE_ETA:
            model.eta0 /= 5.0
            progress.no_improvement = 0
        else:
            progress.stopped = True
