"""Checkpoints of a fit: its full state, written atomically, refused when it does not match.

A checkpoint file is a magic line, a one-line JSON header and a pickled payload,
like a model file (:mod:`daskgd.serialization`). The header holds the
*fingerprint* of the fit: the estimator, its hyperparameters, and the shape,
dtype and chunks of the data. Before anything is unpickled, the fingerprint of
the fit being started is compared with the header's, and a checkpoint written
for other data or other parameters is refused with a message naming what
differs. The payload is the solver's state at the end of an iteration (or an
epoch), from which the fit goes on exactly as if it had never stopped.

Files are written to a temporary name in the same directory, flushed to disk,
then renamed over the old checkpoint (``os.replace``), so a crash while writing
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import numbers
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from daskgd.serialization import read_framed_header, write_framed_header

MAGIC = b"DASKGD-CHECKPOINT\n"
FORMAT_VERSION = 1

#: Parameters that change how a fit runs, not where it goes: resuming with other values is fine.
#: ``max_iter`` is among them so that a finished fit can be resumed to run longer.
RUN_PARAMETERS = frozenset(
    {"checkpoint", "checkpoint_every", "callback", "verbose", "cache", "retries", "max_iter"}
)


class CheckpointMismatchError(ValueError):
    """A checkpoint was written for other data or other parameters than the fit's."""


def describe_array(array: Any) -> dict[str, Any] | None:
    """Shape, dtype and (for dask arrays) row chunks of an input, as JSON values.

    Parameters
    ----------
    array : array-like or None
        An input of the fit (NumPy, pandas or dask).

    Returns
    -------
    description : dict or None
        ``{"shape", "dtype", "chunks", "contents"}``; None for None. ``contents`` is
        the dask name of a dask array (a token of its graph: the same file read the
        same way gets the same name in any process) and a hash of the values of
        an in-memory array.
    """
    if array is None:
        return None
    chunks = getattr(array, "chunks", None)
    if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], tuple):
        chunk_rows: list[int] | None = [int(n) for n in chunks[0]]
    else:
        chunk_rows = None
    shape = getattr(array, "shape", None)
    if hasattr(array, "__dask_graph__"):
        contents = str(array.name)
    else:
        contents = joblib.hash(np.asarray(array))
    return {
        "shape": None if shape is None else [int(n) for n in shape],
        "dtype": str(getattr(array, "dtype", type(array).__name__)),
        "chunks": chunk_rows,
        "contents": contents,
    }


def describe_parameter(value: Any) -> str:
    """A hyperparameter as a string that is equal exactly when the values are equivalent.

    Numbers compare by value (``1`` and ``1.0`` agree), dicts whatever their key
    order, random generators by their state, callables by their qualified name.

    Parameters
    ----------
    value : object
        A hyperparameter.

    Returns
    -------
    description : str
    """
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, str):
        return repr(value)
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, dict):
        items = sorted((describe_parameter(k), describe_parameter(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return f"{type(value).__name__}(state {joblib.hash(value)})"
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def fingerprint(
    estimator: Any, X: Any, y: Any, sample_weight: Any, start: Any = None
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: estimator, hyperparameters, data layout.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted.
    X, y, sample_weight : array-like
        The validated inputs of the fit.
    start : object, optional
        What the fit starts from besides the data (a warm start's model): hashed.

    Returns
    -------
    fingerprint : dict
        JSON-compatible: ``estimator``, ``parameters`` (:func:`describe_parameter`
        of each parameter except those in :data:`RUN_PARAMETERS`), ``data`` and
        ``start``.
    """
    parameters = {
        name: describe_parameter(value)
        for name, value in sorted(estimator.get_params(deep=False).items())
        if name not in RUN_PARAMETERS
    }
    return {
        "estimator": type(estimator).__name__,
        "parameters": parameters,
        "data": {
            "X": describe_array(X),
            "y": describe_array(y),
            "sample_weight": describe_array(sample_weight),
        },
        "start": None if start is None else joblib.hash(start),
    }


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    differences = []
    if saved.get("estimator") != current["estimator"]:
        differences.append(f"estimator: {saved.get('estimator')} then, {current['estimator']} now")
    saved_parameters = saved.get("parameters", {})
    for name in sorted(set(saved_parameters) | set(current["parameters"])):
        then, now = saved_parameters.get(name), current["parameters"].get(name)
        if then != now:
            differences.append(f"parameter {name}: {then} then, {now} now")
    saved_data = saved.get("data", {})
    for name in ("X", "y", "sample_weight"):
        then, now = saved_data.get(name), current["data"][name]
        if then == now:
            continue
        if then is None or now is None:
            given = "given" if now is not None else "not given"
            differences.append(f"{name}: {given} now, {'not ' if then is None else ''}given then")
            continue
        for part in ("shape", "dtype", "chunks"):
            if then.get(part) != now.get(part):
                differences.append(f"{name} {part}: {then.get(part)} then, {now.get(part)} now")
        if all(then.get(part) == now.get(part) for part in ("shape", "dtype", "chunks")) and (
            then.get("contents") != now.get("contents")
        ):
            differences.append(
                f"{name} contents differ (other values of the same shape; for dask input, "
                "also a loader whose task names are not deterministic)"
            )
    if saved.get("start") != current.get("start"):
        differences.append("the starting point differs (a warm start from another model)")
    return differences


class Checkpoint:
    """The checkpoint file of one fit: where it is, what it must match, how often to write.

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    fingerprint : dict
        The fit's :func:`fingerprint`.
    every : int, default=1
        Write the state every ``every`` iterations (and at the end of the fit).
    """

    def __init__(self, path: str | Path, fingerprint: dict[str, Any], every: int = 1) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.every = max(1, int(every))
        self.n_written = 0

    def due(self, iteration: int) -> bool:
        """Whether the state after ``iteration`` should be written."""
        return iteration % self.every == 0

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is no checkpoint file yet.

        Returns
        -------
        state : dict or None
            What :meth:`save` was given.

        Raises
        ------
        CheckpointMismatchError
            When the file was written for other data, parameters or estimator.
        ValueError
            When the file is not a daskgd checkpoint.
        """
        if not self.path.exists():
            return None
        with open(self.path, "rb") as handle:
            header = read_framed_header(handle, MAGIC, "checkpoint", self.path)
            if header.get("format") != FORMAT_VERSION:
                raise CheckpointMismatchError(
                    f"Checkpoint {str(self.path)!r} has format {header.get('format')!r}; this "
                    f"daskgd reads format {FORMAT_VERSION}. Delete it to start the fit afresh."
                )
            differences = _differences(header.get("fingerprint", {}), self.fingerprint)
            if differences:
                raise CheckpointMismatchError(
                    f"Checkpoint {str(self.path)!r} was written by another fit; "
                    + "; ".join(differences)
                    + ". Fit with the same data and parameters to resume it, or delete it "
                    "(or pass another checkpoint path) to start afresh."
                )
            try:
                state = pickle.load(handle)
            except (EOFError, pickle.UnpicklingError) as error:
                raise ValueError(
                    f"Checkpoint {str(self.path)!r} is damaged ({error!r}); delete it to start "
                    "the fit afresh."
                ) from error
        if not isinstance(state, dict):
            raise ValueError(f"{str(self.path)!r} holds no fit state.")
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically: to a temporary file, synced, then renamed over the old one.

        Parameters
        ----------
        state : dict
            The solver state (NumPy arrays, numbers, small picklable objects).
        """
        from daskgd import __version__

        header = {"format": FORMAT_VERSION, "daskgd": __version__, "fingerprint": self.fingerprint}
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=directory
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write_framed_header(handle, MAGIC, header)
                pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            _sync_directory(directory)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.n_written += 1


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a state whose arrays the solver may go on changing in place.

    Parameters
    ----------
    state : dict
        Solver state.

    Returns
    -------
    copy : dict
    """
    return {
        key: value.copy() if isinstance(value, np.ndarray) else value
        for key, value in state.items()
    }
