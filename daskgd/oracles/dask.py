"""The distributed oracle: the ONE place that builds training graphs.

Every evaluation is one graph: one task per row chunk that computes the block
partial of :mod:`daskgd.objective` on that chunk, then a tree reduction of
fixed shape and order (so the result does not depend on which worker ran what),
computed with one ``compute`` call on the active scheduler (a dask.distributed
``Client`` when there is one, dask's default scheduler otherwise).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import psutil
from dask.base import tokenize
from dask.delayed import Delayed, delayed

from daskgd.objective import (
    FloatArray,
    LinearObjective,
    Partial,
    check_finite_block,
    combine_partials,
)
from daskgd.oracles._base import Oracle

#: Fraction of the workers' free memory (below their spill threshold) that data may take
#: and still be persisted; the rest is for the tasks' intermediates.
PERSIST_MEMORY_FRACTION = 0.5
DEFAULT_SPLIT_EVERY = 8
#: Key prefixes of the per-chunk tasks of a fit, whose second key element is the chunk.
CHUNK_TASK_PREFIXES = ("daskgd-grad", "daskgd-loss-grad-hess", "daskgd-gram", "daskgd-score")


def _active_client() -> Any | None:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def available_memory() -> int:
    """Bytes of worker memory that data could occupy without the workers spilling it.

    For each worker: the part of its ``memory_limit`` below the spill threshold
    (``distributed.worker.memory.target``) that its process does not already use.
    Without a cluster, or with unlimited workers: this machine's available RAM.
    """
    client = _active_client()
    if client is not None:
        try:
            info = client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed has no n_workers argument
            info = client.scheduler_info()
        workers = list(info.get("workers", {}).values())
        if workers and all(w.get("memory_limit") for w in workers):
            target = dask.config.get("distributed.worker.memory.target", 0.6) or 0.6
            return int(
                sum(
                    max(0.0, w["memory_limit"] * target - w.get("metrics", {}).get("memory", 0))
                    for w in workers
                )
            )
    return int(psutil.virtual_memory().available)


class ChunkFailedError(RuntimeError):
    """A chunk's task killed every worker that ran it; the fit stopped.

    Attributes
    ----------
    chunk : int or None
        Row chunk the task belongs to, when it could be told from the task's key.
    key : object
        The task's key.
    """

    def __init__(self, message: str, chunk: int | None, key: Any) -> None:
        super().__init__(message)
        self.chunk = chunk
        self.key = key


def _chunk_of_key(key: Any, array_names: dict[str, str]) -> tuple[str, int] | None:
    """``(array, row chunk)`` of a task key of the data or of a chunk task, if it is one."""
    if not (isinstance(key, tuple) and len(key) >= 2 and isinstance(key[1], int)):
        return None
    name = str(key[0])
    if name in array_names:
        return array_names[name], int(key[1])
    if name.startswith(CHUNK_TASK_PREFIXES):
        return "the data", int(key[1])
    return None


def input_names(arrays: Sequence[da.Array], labels: Sequence[str]) -> dict[str, str]:
    """Name of every layer of the arrays' graphs -> how to call a chunk of it in an error.

    The arrays themselves are called by their labels (``"X"``); the layers they are
    computed from (a loader, a conversion) by their name and the array they feed.
    """
    names: dict[str, str] = {}
    for array, label in zip(arrays, labels, strict=False):
        for layer in getattr(array.__dask_graph__(), "layers", {}):
            names.setdefault(str(layer), f"{layer!r} (an input of {label})")
    for array, label in zip(arrays, labels, strict=False):
        names[array.name] = label
    return names


def compute(
    *collections: Any, retries: int = 0, array_names: dict[str, str] | None = None
) -> tuple[Any, ...]:
    """``dask.compute``, with ``retries`` for failed tasks and a named error for killed workers.

    Parameters
    ----------
    *collections : dask collections
        What to compute, in one graph.
    retries : int, default=0
        How many times a distributed scheduler reruns a task that raised before the
        task's exception reaches the caller (ignored without a distributed client).
    array_names : dict, optional
        Dask name of each input array -> the name the user knows it by (``"X"``), to
        name the chunk whose task killed the workers.

    Returns
    -------
    results : tuple
        The computed values.
    """
    kwargs = {"retries": retries} if retries and _active_client() is not None else {}
    try:
        return tuple(dask.compute(*collections, **kwargs))
    except Exception as error:
        if type(error).__name__ != "KilledWorker":
            raise
        key = getattr(error, "task", None)
        where = _chunk_of_key(key, array_names or {})
        subject = f"Chunk {where[1]} of {where[0]}" if where else f"Task {key!r}"
        allowed = getattr(error, "allowed_failures", None)
        if allowed is None:
            allowed = dask.config.get("distributed.scheduler.allowed-failures", 3)
        raise ChunkFailedError(
            f"{subject} killed every worker that processed it ({allowed + 1} workers; task "
            f"{key!r}); the fit stopped. Check that chunk's data and loader (a segfault or "
            "running out of memory kills a worker), or raise "
            "distributed.scheduler.allowed-failures.",
            None if where is None else where[1],
            key,
        ) from error


def should_persist(nbytes: int, cache: bool | str) -> bool:
    """Decide once per fit whether to keep the data in memory between passes."""
    if isinstance(cache, bool):
        return cache
    return nbytes <= PERSIST_MEMORY_FRACTION * available_memory()


def _block_task(kind: str, objective: LinearObjective) -> Callable[..., Partial]:
    if kind == "gram":
        return lambda X, y, sample_weight, coef: objective.block_gram(X, y, sample_weight)
    if kind == "loss_grad":
        return objective.block_loss_grad
    return objective.block_loss_grad_hess


def _checked_block_task(kind: str, objective: LinearObjective) -> Callable[..., Partial]:
    """The block task of a first pass: check the chunk is finite, then compute."""
    compute_block = _block_task(kind, objective)

    def checked(
        X: Any, y: Any, sample_weight: Any, coef: Any, chunk_index: int, first_row: int
    ) -> Partial:
        check_finite_block(X, y, sample_weight, chunk_index, first_row)
        return compute_block(X, y, sample_weight, coef)

    return checked


def _combine(kind: str) -> Callable[..., Partial]:
    return lambda *parts: combine_partials(kind, parts)


def tree_reduce(
    parts: Sequence[Delayed], combine: Callable[..., Any], name: str, split_every: int
) -> Delayed:
    """Reduce delayed partials in a tree of fixed shape, ``split_every`` at a time."""
    level = 0
    while len(parts) > 1:
        parts = [
            delayed(combine, pure=True)(
                *parts[start : start + split_every], dask_key_name=(name, level, start)
            )
            for start in range(0, len(parts), split_every)
        ]
        level += 1
    return parts[0]


class ChunkedData:
    """Aligned row chunks of ``X``, ``y`` and sample weights, as delayed blocks.

    Decides once whether the data stays in (worker) memory between passes, and
    hands out one ``(X_block, y_block, weight_block)`` triple per row chunk for
    graph building.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        Training data, chunked along rows only, with known chunk sizes.
    y : dask array of shape (n_samples, n_targets) or (n_samples,)
        Targets with the same row chunks as ``X``.
    sample_weight : dask array of shape (n_samples,) or None
        Weights with the same row chunks as ``X``.
    cache : bool or "auto", default="auto"
        Keep the data in (worker) memory between passes. ``"auto"`` persists it
        when it takes at most half of the workers' free memory (below their spill
        threshold), and otherwise reads
        it from its source on every pass, holding only a few chunks at a time.
    placement : sequence of str, optional
        A worker address per chunk: where to keep that chunk when persisting
        (so that a chain of tasks over a group of chunks never moves data).
    retries : int, default=0
        Reruns of a failed task before its exception reaches the fit (see :func:`compute`).
    """

    def __init__(
        self,
        X: da.Array,
        y: da.Array,
        sample_weight: da.Array | None = None,
        *,
        cache: bool | str = "auto",
        placement: Sequence[str] = (),
        retries: int = 0,
    ) -> None:
        arrays = [X, y] + ([] if sample_weight is None else [sample_weight])
        self.retries = retries
        self.array_names = input_names(arrays, ("X", "y", "sample_weight"))
        self.persisted = should_persist(sum(int(a.nbytes) for a in arrays), cache)
        persist_kwargs = {"retries": retries} if retries and _active_client() else {}
        if self.persisted and placement:
            arrays = _persist_placed(arrays, placement, **persist_kwargs)
        elif self.persisted:
            arrays = list(dask.persist(*arrays, **persist_kwargs))
        self.X = arrays[0]
        self.y = arrays[1]
        self.sample_weight = arrays[2] if sample_weight is not None else None
        self.token = tokenize(*arrays)
        x_blocks = list(self.X.to_delayed().ravel())
        y_blocks = list(self.y.to_delayed().ravel())
        w_blocks: list[Delayed | None] = (
            [None] * len(x_blocks)
            if self.sample_weight is None
            else list(self.sample_weight.to_delayed().ravel())
        )
        self.blocks = list(zip(x_blocks, y_blocks, w_blocks, strict=True))
        self.chunk_rows = tuple(int(n) for n in self.X.chunks[0])

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""
        return len(self.blocks)

    def weight_sum(self) -> float:
        """Sum of the sample weights (the number of rows when unweighted)."""
        if self.sample_weight is None:
            return float(self.X.shape[0])
        (total,) = self.compute(self.sample_weight.sum())
        return float(total)

    def compute(self, *collections: Any) -> tuple[Any, ...]:
        """:func:`compute` with this data's ``retries`` and array names."""
        return compute(*collections, retries=self.retries, array_names=self.array_names)


def _persist_placed(
    arrays: list[da.Array], placement: Sequence[str], **persist_kwargs: Any
) -> list[da.Array]:
    """Persist row chunk ``i`` of every array on worker ``placement[i]``.

    Each worker's chunks are submitted with that worker as a loose restriction on
    every task of their graphs, so a chunk is read where it is kept (not read on
    one worker and copied to another), and another worker may take over should
    that one go.
    """
    client = _active_client()
    if client is None:  # placement names workers: there was a client a moment ago
        return list(dask.persist(*arrays, **persist_kwargs))
    blocks = [list(array.to_delayed().ravel()) for array in arrays]
    persisted: list[list[Any]] = [list(array_blocks) for array_blocks in blocks]
    for worker in sorted(set(placement)):
        chosen = [
            (a, i)
            for a in range(len(arrays))
            for i, placed_on in enumerate(placement)
            if placed_on == worker
        ]
        kept = client.persist(
            [blocks[a][i] for a, i in chosen],
            workers=[worker],
            allow_other_workers=True,
            **persist_kwargs,
        )
        for (a, i), block in zip(chosen, kept, strict=True):
            persisted[a][i] = block
    result = []
    for array, array_blocks in zip(arrays, persisted, strict=True):
        shapes = [(rows,) + array.shape[1:] for rows in array.chunks[0]]
        result.append(
            da.concatenate(
                [
                    da.from_delayed(block, shape=shape, dtype=array.dtype)
                    for block, shape in zip(array_blocks, shapes, strict=True)
                ],
                axis=0,
            )
        )
    return result


class DaskOracle(Oracle):
    """Evaluates the objective over row-chunked dask arrays, one graph per evaluation.

    Parameters
    ----------
    objective : LinearObjective
        The loss, penalty and coefficient layout.
    X : dask array of shape (n_samples, n_features)
        Training data, chunked along rows only, with known chunk sizes.
    y : dask array of shape (n_samples, n_targets)
        Encoded targets, 2-D, with the same row chunks as ``X``.
    sample_weight : dask array of shape (n_samples,) or None
        Weights with the same row chunks as ``X``.
    cache : bool or "auto", default="auto"
        Keep the data in (worker) memory between passes (see :class:`ChunkedData`).
    split_every : int, default=8
        Fan-in of the tree reduction.
    retries : int, default=0
        Reruns of a failed task before its exception reaches the fit (see :func:`compute`).
    """

    def __init__(
        self,
        objective: LinearObjective,
        X: da.Array,
        y: da.Array,
        sample_weight: da.Array | None = None,
        *,
        cache: bool | str = "auto",
        split_every: int | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(objective)
        self.split_every = max(2, split_every or DEFAULT_SPLIT_EVERY)
        self.data = ChunkedData(X, y, sample_weight, cache=cache, retries=retries)
        self.persisted = self.data.persisted
        self._weight_sum = self.data.weight_sum()
        # The first pass also checks every chunk for NaN and infinity (no pass of its own).
        self.checked = False

    @property
    def weight_sum(self) -> float:
        return self._weight_sum

    @property
    def n_chunks(self) -> int:
        """Number of row chunks, one task each per pass."""
        return self.data.n_chunks

    def graph(self, kind: str, coef: FloatArray | None) -> Delayed:
        """The task graph of one evaluation: block partials, then a tree reduction."""
        check = not self.checked
        token = tokenize(self.data.token, kind, coef, self.objective, self.split_every, check)
        task_name = "daskgd-grad" if kind == "loss_grad" else f"daskgd-{kind.replace('_', '-')}"
        task_key = f"{task_name}-{token}"
        coef_key = None if coef is None else delayed(coef, name=f"daskgd-coef-{token}")
        first_rows = np.concatenate([[0], np.cumsum(self.data.chunk_rows)[:-1]]).astype(int)
        if check:
            checked_task = delayed(_checked_block_task(kind, self.objective), pure=True)
            parts = [
                checked_task(*block, coef_key, i, int(first_rows[i]), dask_key_name=(task_key, i))
                for i, block in enumerate(self.data.blocks)
            ]
        else:
            block_task = delayed(_block_task(kind, self.objective), pure=True)
            parts = [
                block_task(*block, coef_key, dask_key_name=(task_key, i))
                for i, block in enumerate(self.data.blocks)
            ]
        return tree_reduce(parts, _combine(kind), f"daskgd-reduce-{token}", self.split_every)

    def _reduce(self, kind: str, coef: FloatArray | None) -> Partial:
        (total,) = self.data.compute(self.graph(kind, coef))
        self.checked = True
        return dict(total)


def worker_addresses() -> list[str]:
    """Sorted addresses of the active client's workers (empty without a client)."""
    client = _active_client()
    if client is None:
        return []
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # older distributed has no n_workers argument
        info = client.scheduler_info()
    return sorted(info.get("workers", {}))


def contiguous_groups(chunk_rows: Sequence[int], n_groups: int) -> list[list[int]]:
    """Split chunk indices into at most ``n_groups`` contiguous runs of similar row counts."""
    total = sum(chunk_rows)
    n_groups = max(1, min(n_groups, len(chunk_rows)))
    groups: list[list[int]] = [[] for _ in range(n_groups)]
    seen = 0
    for index, rows in enumerate(chunk_rows):
        # The group of a chunk is where its middle row falls in an even split of all rows.
        middle = seen + rows / 2
        groups[min(n_groups - 1, int(middle * n_groups / max(total, 1)))].append(index)
        seen += rows
    return [group for group in groups if group]


def chain_graph(
    data: ChunkedData,
    step: Callable[..., Any],
    state: Any,
    order: Sequence[int],
    name: str,
) -> Delayed:
    """Thread a small ``state`` through the chunks in ``order``.

    Each task is ``state = step(state, chunk_index, X_block, y_block, weight_block)``.

    The data stays where it is; only the state (a model) moves from chunk to chunk.
    """
    token = tokenize(data.token, name, list(order), uuid.uuid4().hex)
    current = delayed(state, name=f"daskgd-model-{token}", traverse=False)
    for position, index in enumerate(order):
        current = delayed(step, pure=True)(
            current, index, *data.blocks[index], dask_key_name=(f"{name}-{token}", position)
        )
    return current


def averaging_graph(
    data: ChunkedData,
    step: Callable[..., Any],
    state: Any,
    groups: Sequence[Sequence[int]],
    local_epochs: int,
    average: Callable[..., Any],
    name: str,
    workers: Sequence[str] = (),
) -> Delayed:
    """One map-reduce round: every group of chunks trains its own copy of ``state``, then average.

    Each group's chain runs on its own worker (``workers[g]`` when given), visiting
    its chunks ``local_epochs`` times; ``average(*states)`` combines the results.
    """
    token = tokenize(data.token, name, [list(g) for g in groups], uuid.uuid4().hex)
    start = delayed(state, name=f"daskgd-model-{token}", traverse=False)
    finals = []
    for group_index, chunk_indices in enumerate(groups):
        annotations = (
            {"workers": [workers[group_index]], "allow_other_workers": True}
            if group_index < len(workers)
            else {}
        )
        with dask.annotate(**annotations):
            current = start
            for epoch in range(local_epochs):
                for index in chunk_indices:
                    current = delayed(step, pure=True)(
                        current,
                        index,
                        *data.blocks[index],
                        dask_key_name=(f"{name}-{token}", group_index, epoch, index),
                    )
        finals.append(current)
    return delayed(average, pure=True)(*finals, dask_key_name=f"daskgd-average-{token}")


def map_reduce_graph(
    data: ChunkedData,
    block_function: Callable[..., Any],
    combine: Callable[..., Any],
    name: str,
    split_every: int = DEFAULT_SPLIT_EVERY,
) -> Delayed:
    """``block_function(chunk_index, X_block, y_block, weight_block)`` per chunk, reduced."""
    token = tokenize(data.token, name, uuid.uuid4().hex)
    parts = [
        delayed(block_function, pure=True)(index, *block, dask_key_name=(f"{name}-{token}", index))
        for index, block in enumerate(data.blocks)
    ]
    return tree_reduce(parts, combine, f"daskgd-reduce-{token}", split_every)


class DaskChunks:
    """Row chunks of dask arrays, visited by task chains: the model moves, the data stays.

    The same interface as :class:`daskgd.oracles.numpy.InMemoryChunks`; every
    method is one graph and one ``compute``.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        Training data, chunked along rows only.
    y : dask array of shape (n_samples,) or (n_samples, n_targets)
        Targets with the same row chunks.
    sample_weight : dask array of shape (n_samples,) or None
        Weights with the same row chunks.
    cache : bool or "auto", default="auto"
        Keep the data in worker memory between passes (see :class:`ChunkedData`).
    n_groups : int, optional
        Number of chunk groups for map-reduce rounds (default: one per worker).
    retries : int, default=0
        Reruns of a failed task before its exception reaches the fit (see :func:`compute`).
    """

    def __init__(
        self,
        X: da.Array,
        y: da.Array,
        sample_weight: da.Array | None = None,
        *,
        cache: bool | str = "auto",
        n_groups: int | None = None,
        retries: int = 0,
    ) -> None:
        self.workers = worker_addresses()
        chunk_rows = [int(n) for n in X.chunks[0]]
        # Without a cluster the threaded scheduler runs one chain per core.
        default_groups = len(self.workers) or (os.cpu_count() or 1)
        self.groups = contiguous_groups(chunk_rows, n_groups or default_groups)
        placement = []
        if self.workers:
            worker_of_group = {
                index: self.workers[g % len(self.workers)]
                for g, group in enumerate(self.groups)
                for index in group
            }
            placement = [worker_of_group[i] for i in range(len(chunk_rows))]
        self.data = ChunkedData(
            X, y, sample_weight, cache=cache, placement=placement, retries=retries
        )
        self.persisted = self.data.persisted
        self.chunk_rows = self.data.chunk_rows

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""
        return self.data.n_chunks

    def chain(self, step: Callable[..., Any], state: Any, order: Sequence[int]) -> Any:
        """``state = step(state, index, *block)`` over the chunks in ``order``, on the workers."""
        (result,) = self.data.compute(
            chain_graph(self.data, step, state, order, "daskgd-sgd-chunk")
        )
        return result

    def average_round(
        self,
        step: Callable[..., Any],
        state: Any,
        groups: Sequence[Sequence[int]],
        local_epochs: int,
        average: Callable[..., Any],
    ) -> Any:
        """Every group trains its own copy of ``state`` on its worker; then average."""
        workers = (
            [self.workers[g % len(self.workers)] for g in range(len(groups))]
            if (self.workers)
            else []
        )
        graph = averaging_graph(
            self.data, step, state, groups, local_epochs, average, "daskgd-sgd-local", workers
        )
        (result,) = self.data.compute(graph)
        return result

    def map_reduce(self, block_function: Callable[..., Any], combine: Callable[..., Any]) -> Any:
        """``combine`` of ``block_function(index, *block)`` over every chunk, as a tree."""
        (result,) = self.data.compute(
            map_reduce_graph(self.data, block_function, combine, "daskgd-score")
        )
        return result

    def head(self, n_rows: int) -> tuple[Any, Any, Any]:
        """The first rows (at least one chunk's worth), computed to memory."""
        stop = max(n_rows, self.chunk_rows[0])
        parts = [self.data.X[:stop], self.data.y[:stop]]
        if self.data.sample_weight is not None:
            parts.append(self.data.sample_weight[:stop])
        values = self.data.compute(*parts)
        return values[0], values[1], values[2] if len(values) > 2 else None


def map_row_blocks(
    function: Callable[[np.ndarray], np.ndarray],
    X: da.Array,
    n_outputs: int | None,
    dtype: Any = np.float64,
) -> da.Array:
    """Apply ``function`` to every row chunk of ``X`` lazily (for predictions).

    ``n_outputs=None`` means the function returns one value per row (1-D result);
    the result keeps the row chunks of ``X``.
    """
    X = X.rechunk({1: -1}) if X.numblocks[1] > 1 else X
    if n_outputs is None:
        return da.map_blocks(
            function, X, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype=dtype)
        )
    return da.map_blocks(
        function,
        X,
        chunks=(X.chunks[0], (n_outputs,)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
    )
