"""The chunked frame: named, row-aligned columns over one set of row chunks, and its passes.

A :class:`ChunkedFrame` holds X, y, sample weights and derived columns (encoded
labels, class-weighted rows, ...) as one block per row chunk. It decides once
whether the data is kept in (worker) memory between passes, and where:

- **kept on the workers** (a dask.distributed client, and the data fits): row chunk
  ``i`` of every column is a future on worker ``placement[i]``, the workers holding
  contiguous runs of chunks. A reduction is then one task per worker over the
  chunks it keeps, and the client finishes the combine tree; a map step makes
  a derived column next to its chunk; SGD chains and averaging rounds move the
  model from worker to worker.
- **streamed** (or dask's local scheduler): every column is a list of delayed
  blocks, and a pass is one graph of a task per chunk and a tree of combines
  (``split_every``), so any worker may read any chunk from its source.

Both give the same partial for every chunk and combine them in a tree of the
same shape, ordered by chunk index: results do not depend on the path, on which
worker held what, or on a worker lost mid-fit. Every pass is counted in
:attr:`ChunkedFrame.n_passes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed, delayed
from dask.graph_manipulation import clone
from dask.highlevelgraph import HighLevelGraph
from distributed import Future, wait

from daskgd.engine import tasks
from daskgd.engine.execution import (
    DEFAULT_SPLIT_EVERY,
    ChunkFailedError,
    ChunkLoader,
    active_client,
    can_gather_directly,
    chunk_of_key,
    compute,
    compute_each,
    contiguous_groups,
    default_group_count,
    gather,
    input_names,
    is_killed_worker,
    map_loaded_chunk,
    named_failure,
    rescue_loose_restrictions,
    should_persist,
    tree_reduce,
    worker_addresses,
)
from daskgd.engine.reductions import Reduction, tree_combine

#: The input columns whose values the first pass that reads them checks.
CHECKED_INPUTS = ("X", "y", "sample_weight")


class ChunkedFrame:
    """Named, row-aligned columns of one set of row chunks, and the passes over them.

    Parameters
    ----------
    columns : mapping of str to dask array or None
        The columns, e.g. ``{"X": X, "y": y, "sample_weight": None}``: dask arrays
        with the same row chunks (known sizes), chunked along rows only. A column
        given as None is absent (its blocks read as None).
    cache : bool or "auto", default="auto"
        Keep the data in (worker) memory between passes. ``"auto"`` keeps it when
        it takes at most half of the workers' free memory below their spill
        threshold, and otherwise reads it from its source on every pass.
    retries : int, default=0
        Reruns of a task that raised before its exception reaches the caller
        (distributed scheduler only).
    split_every : int, optional
        Fan-in of the combine tree (8 by default).
    check : bool, default=True
        Check the values of the inputs ``X``, ``y`` and ``sample_weight`` for NaN and
        infinity inside the chunk tasks of the first pass that reads each.
    n_groups : int, optional
        Groups of contiguous chunks (one per worker by default): where the chunks are
        kept, and the groups of an averaging round.

    Attributes
    ----------
    persisted : bool
        Whether the data is kept in memory between passes.
    on_workers : bool
        Whether the chunks are futures kept on the workers of a distributed client.
    direct : bool
        Whether the results of tasks submitted to the workers come straight from
        them (:func:`~daskgd.engine.execution.can_gather_directly`).
    groups : list of list of int
        Contiguous runs of chunk indices, one per worker (or core).
    placement : list of str
        The worker that keeps each chunk (empty without a distributed client).
    n_passes : int
        Passes made over the data so far.
    """

    def __init__(
        self,
        columns: Mapping[str, da.Array | None],
        *,
        cache: bool | str = "auto",
        retries: int = 0,
        split_every: int | None = None,
        check: bool = True,
        n_groups: int | None = None,
    ) -> None:
        present = {name: array for name, array in columns.items() if array is not None}
        first = next(iter(present.values()))
        for name, array in present.items():
            if array.chunks[0] != first.chunks[0]:
                raise ValueError(f"Column {name} has other row chunks than the frame's first.")
        self.chunk_rows = tuple(int(n) for n in first.chunks[0])
        self.first_rows = tuple(int(r) for r in np.cumsum((0,) + self.chunk_rows)[:-1])
        self.retries = retries
        self.split_every = max(2, split_every or DEFAULT_SPLIT_EVERY)
        self.array_names = input_names(list(present.values()), list(present))
        # A fresh token per frame: two fits never share keys, not even over the same data
        # from two clients, whose shared intermediate keys the scheduler could forget
        # under one while the other still needs them ("lost dependencies").
        self.token = tokenize(*present.values(), uuid.uuid4().hex)
        self.persisted = should_persist(sum(int(a.nbytes) for a in present.values()), cache)
        self.client = active_client()
        workers = worker_addresses()
        # One group per worker (per core for dask's local scheduler).
        self.groups = contiguous_groups(
            self.chunk_rows, n_groups or len(workers) or default_group_count()
        )
        self.group_workers = (
            [workers[g % len(workers)] for g in range(len(self.groups))] if workers else []
        )
        self.placement = [
            worker
            for worker, group in zip(self.group_workers, self.groups, strict=False)
            for _ in group
        ]
        self.on_workers = self.persisted and bool(workers)
        self.direct = self.client is not None and can_gather_directly(self.client, workers)
        self.n_passes = 0
        self.unchecked = {name for name in present if name in CHECKED_INPUTS} if check else set()
        self._blocks: dict[str, list[Any]] = {}
        self._loaders: dict[Any, ChunkLoader | Future | Delayed] = {}
        self._retired: list[list[Any]] = []
        # Unweighted unless weights are given: every pass may read "sample_weight".
        self._absent = {name for name, array in columns.items() if array is None}
        self._absent |= {"sample_weight"} - set(columns)
        blocks = {name: list(array.to_delayed().ravel()) for name, array in present.items()}
        if self.on_workers:
            self._blocks = self._keep_on_workers(blocks)
        elif self.persisted:
            kept = dask.persist(*present.values(), **self._retry_kwargs())
            # Unoptimised, each block's graph holds its chunk's future (on a distributed
            # client with no workers yet): an optimised block holds none, and its chunk
            # would be forgotten with the persisted array ("lost dependencies").
            self._blocks = {
                name: list(array.to_delayed(optimize_graph=False).ravel())
                for name, array in zip(present, kept, strict=True)
            }
        else:
            self._blocks = blocks
        self._inputs = present

    # ---- columns ----

    @property
    def n_chunks(self) -> int:
        """Number of row chunks."""
        return len(self.chunk_rows)

    def has(self, name: str) -> bool:
        """Whether the frame holds column ``name``."""
        return name in self._blocks

    def blocks(self, name: str) -> list[Any]:
        """The blocks of column ``name``, one per chunk (Nones for an absent column)."""
        if name in self._blocks:
            return self._blocks[name]
        if name in self._absent:
            return [None] * self.n_chunks
        raise KeyError(f"The frame has no column {name!r}; it has {sorted(self._blocks)}.")

    def _retry_kwargs(self) -> dict[str, Any]:
        return {"retries": self.retries} if self.retries and active_client() is not None else {}

    def _keep_on_workers(self, blocks: dict[str, list[Delayed]]) -> dict[str, list[Any]]:
        """Compute chunk ``i`` of every column on worker ``placement[i]``, and keep it there.

        The worker is a loose restriction on every task of the chunk's graph: the chunk
        is read where it is kept, and another worker takes over should that one go.
        """
        assert self.client is not None
        rescue_loose_restrictions(self.client)
        kept: dict[str, list[Any]] = {name: [None] * self.n_chunks for name in blocks}
        # A persisted array's blocks have no task in their graph (their chunks are on the
        # workers already); one block tells for the whole column.
        lazy = {
            name: column[0].key in column[0].__dask_graph__() for name, column in blocks.items()
        }
        for group, worker in zip(self.groups, self.group_workers, strict=True):
            chosen = [(name, i) for name in blocks for i in group]
            futures = self.client.compute(
                [
                    self._kept_block(name, i, blocks[name][i]) if lazy[name] else blocks[name][i]
                    for name, i in chosen
                ],
                workers=[worker],
                allow_other_workers=True,
                **self._retry_kwargs(),
            )
            for (name, i), future in zip(chosen, futures, strict=True):
                kept[name][i] = future
        # Wait for the chunks before any pass submits tasks that depend on them. The
        # scheduler handles graphs concurrently: a small graph sent after this one can
        # be checked before this one's keys are known, and is then cancelled for "lost
        # dependencies" (seen with 16 fits at once). The first pass needs every chunk
        # anyway.
        wait([future for column in kept.values() for future in column if future is not None])
        return kept

    def _kept_block(self, name: str, chunk: int, block: Delayed) -> Delayed:
        """A lazy ``block`` under a key of this frame's own.

        Two fits over the same data then never hold the same keys: a fit that ended
        with a chunk killing workers cancels what it kept, and the scheduler could
        otherwise apply that cancel (or forget a failed key) under a new fit that
        asked for the same keys ("lost dependencies"). (A persisted chunk keeps its
        key: it is on a worker already, and a task of its own would copy it.)
        """
        layer = f"daskgd-kept-{name.replace('_', '-')}-{self.token}-{chunk}"
        key = (f"daskgd-kept-{name.replace('_', '-')}-{self.token}", chunk)
        graph = HighLevelGraph.from_collections(
            layer,
            {key: (tasks.kept_block, block.key)},
            dependencies=[block],  # type: ignore[list-item]
        )
        return Delayed(key, graph, layer=layer)

    def derive(
        self,
        name: str,
        function: Callable[..., Any],
        inputs: Sequence[str],
        broadcast: Any = None,
        keep: bool | None = None,
    ) -> None:
        """Make (or replace) column ``name``: ``function(*input_blocks[, broadcast])`` per chunk.

        The new blocks are computed next to their chunk and kept there when the frame
        is kept in memory; streamed, they are recomputed in every pass that reads them.
        ``keep=True`` keeps them on the chunk's worker even when the inputs are
        streamed (a small column derived from large data, such as binned X); a lost
        block is then recomputed from the inputs' source. A column derived from
        unchecked inputs is checked like them.
        """
        input_blocks = [self.blocks(column) for column in inputs]
        # The inputs' own keys: a column derived again from new inputs gets new keys.
        input_keys = [[getattr(block, "key", None) for block in column] for column in input_blocks]
        token = tokenize(self.token, name, function, list(inputs), broadcast, input_keys)
        key = f"daskgd-{name.replace('_', '-')}-{token}"
        kept_here = self.on_workers or bool(keep and self.client is not None and self.placement)
        if kept_here and all(
            block is None or isinstance(block, Future)
            for column in input_blocks
            for block in column
        ):
            assert self.client is not None
            new = [
                self.client.submit(
                    tasks.map_chunk,
                    function,
                    broadcast,
                    *(column[i] for column in input_blocks),
                    key=(key, i),
                    workers=[self.placement[i]],
                    allow_other_workers=True,
                    pure=False,
                    **self._retry_kwargs(),
                )
                for i in range(self.n_chunks)
            ]
        elif kept_here:
            # Streamed inputs: each task loads its chunks from their source itself, on
            # the chunk's worker, so that no more chunks are loaded than are binned.
            assert self.client is not None
            new = [
                self.client.submit(
                    map_loaded_chunk,
                    function,
                    broadcast,
                    *(_loader(column[i], self.client, submitted=True) for column in input_blocks),
                    key=(key, i),
                    workers=[self.placement[i]],
                    allow_other_workers=True,
                    pure=False,
                    **self._retry_kwargs(),
                )
                for i in range(self.n_chunks)
            ]
        else:
            step = delayed(partial(tasks.map_chunk, function), pure=True)
            new = [
                step(broadcast, *(column[i] for column in input_blocks), dask_key_name=(key, i))
                for i in range(self.n_chunks)
            ]
            if self.persisted or keep:
                new = list(dask.persist(*new, **self._retry_kwargs()))
        if any(column in self.unchecked for column in inputs):
            self.unchecked.add(name)
        else:
            self.unchecked.discard(name)
        self._absent.discard(name)
        self._retire(name)
        self._blocks[name] = new

    def release(self, name: str) -> None:
        """Drop column ``name`` (its blocks are freed once no pass needs them)."""
        self._retire(name)
        self._blocks.pop(name, None)
        self.unchecked.discard(name)

    def _retire(self, name: str) -> None:
        """Hold the blocks of a replaced column until :meth:`settle` (or the frame's end).

        The tasks that derive the new column may not have reached the scheduler yet:
        releasing their inputs at once can cancel them ("lost dependencies").
        """
        if name in self._blocks:
            self._retired.append(self._blocks[name])

    def settle(self) -> None:
        """Wait for the kept columns' blocks, then stop holding the columns they replaced.

        A model that replaces a column every round (boosting's raw predictions) calls
        this once per round, so replaced blocks do not pile up. A block lost with a
        worker is still recomputed: the scheduler keeps its graph.
        """
        if not self._retired or self.client is None:
            self._retired.clear()
            return
        current = [
            block
            for blocks in self._blocks.values()
            for block in blocks
            if isinstance(block, Future)
        ]
        if current:
            self._gather_all(current)
        self._retired.clear()

    def _gather_all(self, futures: list[Any]) -> None:
        wait(futures)
        failed = [future for future in futures if future.status == "error"]
        if failed:
            self._gather(failed[0])

    def _kept(self, columns: Sequence[str]) -> bool:
        """Whether every block of ``columns`` is a future on a worker (or absent)."""
        return self.client is not None and all(
            block is None or isinstance(block, Future)
            for name in columns
            for block in self.blocks(name)
        )

    def _passed(self, n_passes: int = 1) -> None:
        """Count passes (retired blocks stay held: a derived block lost with a worker
        is recomputed from them)."""
        self.n_passes += n_passes

    def head(self, n_rows: int, columns: Sequence[str]) -> list[Any]:
        """The first rows of ``columns`` (at least one chunk's worth), in memory."""
        stop = max(n_rows, self.chunk_rows[0])
        n_chunks = int(np.searchsorted(np.cumsum(self.chunk_rows), stop)) + 1
        wanted = [self.blocks(name)[:n_chunks] for name in columns]
        if self.on_workers:
            assert self.client is not None
            values = self.client.gather([b for bs in wanted for b in bs if b is not None])
            values = iter(values)
            got = [[None if b is None else next(values) for b in bs] for bs in wanted]
        else:
            got = [list(bs) for bs in wanted]
            flat = [b for bs in got for b in bs if b is not None]
            computed = iter(self.compute(*flat))
            got = [[None if b is None else next(computed) for b in bs] for bs in got]
        return [None if bs[0] is None else _stacked_rows(bs)[:stop] for bs in got]

    # ---- passes ----

    def compute(self, *collections: Any) -> tuple[Any, ...]:
        """:func:`~daskgd.engine.execution.compute` with this frame's retries and names."""
        return compute(
            *collections,
            retries=self.retries,
            array_names=self.array_names,
            diagnose=self.find_killer,
        )

    def _gather(self, future: Any) -> Any:
        return gather(future, self.array_names, self.find_killer, direct=self.direct)

    def find_killer(self, error: Exception, named: ChunkFailedError) -> ChunkFailedError:
        """The chunk whose loading kills workers, found by loading suspects one at a time.

        dask counts a worker's death against every task that was running or queued
        on it, so the task a ``KilledWorker`` names may be an innocent neighbour of
        the chunk that kills. The chunks the scheduler suspects (all of them if it has
        forgotten) are loaded again alone, the named one first, each on fresh keys
        while the scheduler allows no failure: the first whose load kills a worker is
        the culprit (one more worker death). When no load kills, the task itself did
        (a chunk step that crashes): the failure named from its key is returned.
        """
        client = self.client
        if client is None:
            return named
        suspects = self._suspect_chunks(client)
        self._forget_kept_chunks()
        order = [named.chunk] if named.chunk is not None else []
        order += [i for i in suspects if i not in order]
        order += [i for i in range(self.n_chunks) if i not in order]
        previous = client.run_on_scheduler(_set_allowed_failures, value=0)
        try:
            for chunk in order:
                for label, array in self._inputs.items():
                    probe = clone(array.blocks[chunk])
                    try:
                        client.compute(probe).result()
                    except Exception as probe_error:
                        if not is_killed_worker(probe_error):
                            continue
                        # The key of the load (a streamed pass loads inside its chunk task).
                        key = (array.name, chunk)
                        return named_failure(error, self.array_names, key, (label, chunk))
        finally:
            client.run_on_scheduler(_set_allowed_failures, value=previous)
        return named

    def _forget_kept_chunks(self) -> None:
        """Cancel the chunks kept on the workers, so that their failed tasks are forgotten.

        The scheduler marks the neighbours of a chunk that kills workers as failed too;
        while the frame holds them, a new fit over the same data would get their errors.
        """
        if self.on_workers and self.client is not None:
            futures = [block for blocks in self._blocks.values() for block in blocks]
            self.client.cancel([f for f in futures if f is not None])
        self._blocks = {}

    def _suspect_chunks(self, client: Any) -> list[int]:
        """Chunks of tasks the scheduler holds a worker's death against, in chunk order."""
        keys = client.run_on_scheduler(_suspicious_keys)
        chunks = {where[1] for key in keys if (where := chunk_of_key(key, self.array_names))}
        return sorted(chunks)

    def _to_check(self, reduction: Reduction) -> frozenset[str]:
        return frozenset(column for column in reduction.columns if column in self.unchecked)

    def reduce(self, reduction: Reduction, broadcast: Any = None) -> Any:
        """One pass: ``reduction``'s partial of every chunk, combined in chunk order.

        Parameters
        ----------
        reduction : Reduction
            The chunk and combine steps, and the columns the chunks give them.
        broadcast : object, optional
            A small picklable object handed to every chunk step (coefficients, a model).

        Returns
        -------
        partial : object
            The combined partial of all rows.
        """
        check = self._to_check(reduction)
        if self.on_workers or (self.group_workers and self._kept(reduction.columns)):
            result = self._reduce_on_workers(reduction, broadcast, check)
        elif reduction.combine_on_client:
            parts = compute_each(
                self._chunk_parts(reduction, broadcast, check),
                retries=self.retries,
                array_names=self.array_names,
                diagnose=self.find_killer,
            )
            nodes = {(0, i): part for i, part in enumerate(parts)}
            result = tree_combine(reduction, nodes, self.n_chunks, self.split_every)
        else:
            (result,) = self.compute(self.graph(reduction, broadcast, check))
        self._passed()
        self.unchecked -= check
        return result

    def graph(
        self, reduction: Reduction, broadcast: Any = None, check: frozenset[str] | None = None
    ) -> Delayed:
        """The task graph of a pass on the streamed path: a task per chunk, then a tree."""
        check = self._to_check(reduction) if check is None else check
        token = tokenize(self.token, reduction, broadcast, self.split_every, sorted(check))
        parts = self._chunk_parts(reduction, broadcast, check)
        combine = partial(tasks.combine_parts, reduction)
        return tree_reduce(parts, combine, f"daskgd-reduce-{token}", self.split_every)

    def _chunk_parts(
        self, reduction: Reduction, broadcast: Any, check: frozenset[str]
    ) -> list[Delayed]:
        """The chunk tasks of a streamed pass, one partial per chunk."""
        token = tokenize(self.token, reduction, broadcast, self.split_every, sorted(check))
        name = reduction.task_name
        shared = (
            None
            if broadcast is None
            else delayed(broadcast, name=f"{reduction.broadcast_name}-{token}", traverse=False)
        )
        columns = [self.blocks(column) for column in reduction.columns]
        if self.client is None or self.persisted:
            step = delayed(partial(tasks.reduce_chunk, reduction, check), pure=True)
            return [
                step(
                    shared,
                    i,
                    self.first_rows[i],
                    *(column[i] for column in columns),
                    dask_key_name=(f"{name}-{token}", i),
                )
                for i in range(self.n_chunks)
            ]
        # Streamed on a cluster: each chunk task loads its streamed blocks itself, one
        # task per chunk instead of one per array and step (the scheduler's cost per
        # task is most of a streamed pass's time on small chunks).
        parts = []
        for i in range(self.n_chunks):
            sources = [
                self._loader(block) if isinstance(block, Delayed) else block
                for block in (column[i] for column in columns)
            ]
            loaders = tuple(
                source if isinstance(source, ChunkLoader) else None for source in sources
            )
            blocks = [
                None if loader else source for loader, source in zip(loaders, sources, strict=True)
            ]
            # (named: tokenizing the loaders' graphs would cost more than the task)
            step = delayed(
                partial(tasks.reduce_loaded_chunk, reduction, check, loaders),
                name=f"{name}-step-{token}-{i}",
                pure=True,
            )
            parts.append(
                step(
                    shared,
                    i,
                    self.first_rows[i],
                    *blocks,
                    dask_key_name=(f"{name}-{token}", i),
                )
            )
        return parts

    def _loader(self, block: Delayed) -> ChunkLoader | Future | Delayed:
        """The loader of a streamed block, made once per block (its graph is culled)."""
        loader = self._loaders.get(block.key)
        if loader is None:
            loader = self._loaders[block.key] = _loader(block, self.client)
        return loader

    def _reduce_on_workers(
        self, reduction: Reduction, broadcast: Any, check: frozenset[str]
    ) -> Any:
        """A task per worker over the chunks it keeps; the client finishes the tree."""
        assert self.client is not None
        token = tokenize(self.token, reduction, broadcast, self.split_every, sorted(check))
        name = reduction.task_name
        columns = [self.blocks(column) for column in reduction.columns]
        retry = self._retry_kwargs()
        subtrees = []
        for group, worker in zip(self.groups, self.group_workers, strict=True):
            subtrees.append(
                self.client.submit(
                    tasks.reduce_group,
                    reduction,
                    check,
                    broadcast,
                    group,
                    [self.first_rows[i] for i in group],
                    self.n_chunks,
                    self.split_every,
                    *(column[i] for i in group for column in columns),
                    # (first, last) chunk: the key names the chunks the task reads.
                    key=(f"{name}-{token}", group[0], group[-1]),
                    workers=[worker],
                    allow_other_workers=True,
                    pure=False,
                    **retry,
                )
            )
        # The root is finished here: one hop less than a task that gathers the subtrees,
        # and the same fixed tree, so the same bits.
        return tasks.finish_tree(
            reduction, self.n_chunks, self.split_every, *(self._gather(f) for f in subtrees)
        )

    def chain(self, step: Callable[..., Any], state: Any, order: Sequence[int], name: str) -> Any:
        """Thread a small ``state`` through the chunks in ``order``: the model moves, not the data.

        Each task is ``state = step(state, chunk_index, *blocks)`` over the frame's
        ``X``, ``y`` and ``sample_weight``, on the worker that keeps the chunk. One pass.
        """
        token = tokenize(self.token, name, list(order), state)
        columns = [self.blocks(c) for c in ("X", "y", "sample_weight")]
        if self.on_workers:
            assert self.client is not None
            current: Any = state
            # Every link is held until the end: a future released before the scheduler
            # has the task that depends on it may cancel that task.
            links = []
            for position, index in enumerate(order):
                current = self.client.submit(
                    step,
                    current,
                    index,
                    *(column[index] for column in columns),
                    key=(f"{name}-{token}", position),
                    workers=[self.placement[index]],
                    allow_other_workers=True,
                    pure=False,
                    **self._retry_kwargs(),
                )
                links.append(current)
            result = self._gather(current)
            del links
        else:
            current = delayed(state, name=f"daskgd-model-{token}", traverse=False)
            for position, index in enumerate(order):
                current = delayed(step, pure=True)(
                    current,
                    index,
                    *(column[index] for column in columns),
                    dask_key_name=(f"{name}-{token}", position),
                )
            (result,) = self.compute(current)
        self._passed()
        return result

    def average_round(
        self,
        step: Callable[..., Any],
        state: Any,
        groups: Sequence[Sequence[int]],
        local_epochs: int,
        average: Callable[..., Any],
        name: str,
    ) -> Any:
        """One map-reduce round: each group trains its own copy of ``state``, then average.

        Group ``g``'s chain visits its chunks ``local_epochs`` times on the worker that
        keeps them; ``average(*states)`` combines the results. ``local_epochs`` passes.
        """
        token = tokenize(self.token, name, [list(g) for g in groups], local_epochs, state)
        columns = [self.blocks(c) for c in ("X", "y", "sample_weight")]
        workers = self.group_workers
        finals: list[Any] = []
        links: list[Any] = []
        if self.on_workers:
            assert self.client is not None
            for g, chunk_indices in enumerate(groups):
                current: Any = state
                for epoch in range(local_epochs):
                    for index in chunk_indices:
                        links.append(current)  # held until the end, as in chain
                        current = self.client.submit(
                            step,
                            current,
                            index,
                            *(column[index] for column in columns),
                            key=(f"{name}-{token}", g, epoch, index),
                            workers=[workers[g % len(workers)]],
                            allow_other_workers=True,
                            pure=False,
                            **self._retry_kwargs(),
                        )
                finals.append(current)
            averaged = self.client.submit(
                average, *finals, key=f"daskgd-average-{token}", pure=False
            )
            result = self._gather(averaged)
        else:
            start = delayed(state, name=f"daskgd-model-{token}", traverse=False)
            for g, chunk_indices in enumerate(groups):
                # Streamed chunks may be read anywhere: a group's worker is only a preference.
                where = (
                    {"workers": [workers[g % len(workers)]], "allow_other_workers": True}
                    if workers
                    else {}
                )
                current = start
                with dask.annotate(**where):
                    for epoch in range(local_epochs):
                        for index in chunk_indices:
                            current = delayed(step, pure=True)(
                                current,
                                index,
                                *(column[index] for column in columns),
                                dask_key_name=(f"{name}-{token}", g, epoch, index),
                            )
                finals.append(current)
            (result,) = self.compute(
                delayed(average, pure=True)(*finals, dask_key_name=f"daskgd-average-{token}")
            )
        self._passed(local_epochs)
        return result


def _stacked_rows(blocks: list[Any]) -> Any:
    """Row blocks stacked: NumPy arrays, or CSR matrices (kept sparse)."""
    if hasattr(blocks[0], "indptr"):
        import scipy.sparse

        return scipy.sparse.vstack(blocks, format="csr")
    return np.concatenate([np.asarray(b) for b in blocks])


def _set_allowed_failures(dask_scheduler: Any, value: int) -> int:
    """Set how many worker deaths the scheduler forgives a task; return the old value."""
    previous = int(dask_scheduler.allowed_failures)
    dask_scheduler.allowed_failures = value
    return previous


def _suspicious_keys(dask_scheduler: Any) -> list[Any]:
    """Keys of the tasks the scheduler counts a worker's death against."""
    return [key for key, task in dask_scheduler.tasks.items() if task.suspicious > 0]


def _loader(block: Any, client: Any, submitted: bool = False) -> Any:
    """A streamed block as the graph that loads it; a kept block (a Future) or None as is.

    A block of an array the user persisted has no graph to load it (its chunk is
    on a worker already): it is depended on as a Future of its key. A block whose
    graph reads such chunks (``y[:, None]`` of a persisted ``y``) cannot be loaded
    inside another task either: the scheduler computes it as a task of its own,
    given as the block itself (a dependency of a delayed task) or, for a task
    ``submitted`` directly, as a Future."""
    if block is None or isinstance(block, Future):
        return block
    (culled,) = dask.optimize(block)
    graph = dict(culled.__dask_graph__())
    if culled.key not in graph:
        return Future(culled.key, client=client)
    needed = set().union(*(getattr(task, "dependencies", ()) for task in graph.values()))
    if needed - graph.keys():
        return client.compute(block) if submitted else block
    return ChunkLoader(graph, culled.key)
