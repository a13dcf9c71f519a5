"""Running the engine's graphs: the active scheduler, retries, and named chunk failures.

Every pass of the engine reaches the scheduler through :func:`compute` (dask
graphs) or :func:`gather` (futures), which add ``retries`` for tasks that raised
and turn dask's ``KilledWorker`` into a :class:`ChunkFailedError` naming the
chunk whose task killed the workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
import psutil
from dask.delayed import Delayed, delayed
from dask.local import get_sync
from distributed.diagnostics.plugin import SchedulerPlugin

from daskgd.engine import tasks

logger = logging.getLogger(__name__)

#: Fraction of the workers' free memory (below their spill threshold) that data may take
#: and still be persisted; the rest is for the tasks' intermediates.
PERSIST_MEMORY_FRACTION = 0.5
#: Input chunks a worker thread holds at once during a pass: the one its task reads
#: and the next, which the worker fetches or loads while the first is processed.
CHUNKS_IN_FLIGHT = 2
DEFAULT_SPLIT_EVERY = 8
#: Key prefixes of the per-chunk tasks of a fit, whose second key element is the chunk.
CHUNK_TASK_PREFIXES = ("daskgd-grad", "daskgd-loss-grad-hess", "daskgd-gram", "daskgd-score")


def active_client() -> Any | None:
    """The default dask.distributed ``Client``, or None (then dask's local scheduler runs)."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def scheduler_workers(client: Any) -> dict[str, Any]:
    """The workers the scheduler of ``client`` has now: address -> their identity.

    Asked of the scheduler, not read from ``client.scheduler_info()``: that returns
    the client's cached identity, which the client's periodic refresh (which lists
    no workers) can replace between the call's own refresh and its return. A cluster
    then seemed to have no worker, and a fit took the path for a cluster without
    workers (seen in CI).
    """
    try:
        info = client.sync(client.scheduler.identity, n_workers=-1)
    except TypeError:  # older distributed lists every worker without n_workers
        info = client.sync(client.scheduler.identity)
    return dict(info.get("workers", {}))


#: Hosts of addresses on this machine: a client there reaches the workers as surely as
#: the scheduler does.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def can_gather_directly(client: Any, workers: Sequence[str]) -> bool:
    """Whether results can come straight from ``workers`` to ``client``.

    dask sends results through the scheduler unless told otherwise (a client may not
    reach the workers of a remote cluster). Straight from the workers is one hop
    instead of two: 7-8 ms less a pass for the 2.75 MB of a tree level's histograms
    (400,000 x 28 rows). It is taken when the client asks for it
    (``direct_to_workers``) or when every worker listens on this machine's loopback.
    """
    if getattr(client, "direct_to_workers", False):
        return True
    from distributed.comm import get_address_host

    return bool(workers) and all(get_address_host(w) in LOCAL_HOSTS for w in workers)


def worker_addresses() -> list[str]:
    """Sorted addresses of the active client's workers (empty without a client)."""
    client = active_client()
    return [] if client is None else sorted(scheduler_workers(client))


def available_memory(chunk_bytes: int = 0) -> int:
    """Bytes of worker memory that data could occupy without the workers spilling it.

    For each worker: the part of its ``memory_limit`` below the spill threshold
    (``distributed.worker.memory.target``) that its process does not already use,
    less ``CHUNKS_IN_FLIGHT * chunk_bytes`` per thread for the input chunks that a
    pass's tasks hold while they run. Without a cluster, or with unlimited workers:
    this machine's available RAM.
    """
    client = active_client()
    if client is not None:
        workers = list(scheduler_workers(client).values())
        if workers and all(w.get("memory_limit") for w in workers):
            target = dask.config.get("distributed.worker.memory.target", 0.6) or 0.6
            return int(
                sum(
                    max(
                        0.0,
                        w["memory_limit"] * target
                        - w.get("metrics", {}).get("memory", 0)
                        - CHUNKS_IN_FLIGHT * chunk_bytes * w.get("nthreads", 1),
                    )
                    for w in workers
                )
            )
    return int(psutil.virtual_memory().available)


def should_persist(
    nbytes: int,
    cache: bool | str,
    fraction: float = PERSIST_MEMORY_FRACTION,
    chunk_bytes: int = 0,
) -> bool:
    """Decide once per fit whether to keep the data in memory between passes.

    ``cache="auto"`` keeps ``nbytes`` when they take at most ``fraction`` of the
    workers' free memory (:func:`available_memory`), once the input chunks of
    ``chunk_bytes`` that each thread holds during a pass are set aside."""
    if isinstance(cache, bool):
        return cache
    return nbytes <= fraction * available_memory(chunk_bytes)


class RescueLooseRestrictions(SchedulerPlugin):
    """Scheduler plugin: a task that may run anywhere is not left waiting for a gone worker.

    Chunks are kept on their group's worker by a *loose* restriction on their graph.
    When every worker is lost at once (a chunk that kills its workers, a cluster
    restarted), such a task waits in ``no-worker``, and distributed (2026.8) hands a
    new worker only the waiting tasks whose restrictions name it: the fit would hang.
    This plugin adds each new worker to the restrictions of those loose tasks.
    """

    name = "daskgd-rescue-loose-restrictions"
    #: Registered once per scheduler: another client's registration keeps the installed one
    #: (instead of replacing it with a warning).
    idempotent = True

    def add_worker(self, scheduler: Any, worker: str) -> None:
        """Let the loose ``no-worker`` tasks run on the new ``worker``."""
        for task in list(scheduler.unrunnable):
            if task.loose_restrictions and task.worker_restrictions:
                task.worker_restrictions.add(worker)


_RESCUED_SCHEDULERS: set[str] = set()


def rescue_loose_restrictions(client: Any) -> None:
    """Install :class:`RescueLooseRestrictions` on the client's scheduler (once)."""
    address = str(client.scheduler.address)
    if address in _RESCUED_SCHEDULERS:
        return
    try:
        client.register_plugin(RescueLooseRestrictions(), name=RescueLooseRestrictions.name)
    except Exception as error:  # noqa: BLE001 (a scheduler without daskgd installed)
        logger.warning(
            "daskgd: scheduler plugin %s not installed: %r", RescueLooseRestrictions.name, error
        )
    _RESCUED_SCHEDULERS.add(address)


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


def default_group_count() -> int:
    """One group of chunks per worker (per core without a cluster)."""
    return len(worker_addresses()) or (os.cpu_count() or 1)


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


def input_names(arrays: Sequence[da.Array | None], labels: Sequence[str]) -> dict[str, str]:
    """Name of every layer of the arrays' graphs -> how to call a chunk of it in an error.

    The arrays themselves are called by their labels (``"X"``); the layers they are
    computed from (a loader, a conversion) by their name and the array they feed.
    """
    names: dict[str, str] = {}
    present = [(a, label) for a, label in zip(arrays, labels, strict=True) if a is not None]
    for array, label in present:
        graph = array.__dask_graph__()
        # Layer names, and the names in the keys (a layer's keys may be named otherwise).
        layer_names = [str(layer) for layer in getattr(graph, "layers", {})]
        key_names = {str(key[0]) for key in graph if isinstance(key, tuple) and key}
        for name in [*layer_names, *sorted(key_names)]:
            names.setdefault(name, f"{name!r} (an input of {label})")
    for array, label in present:
        names[array.name] = label
    return names


def chunk_of_key(key: Any, array_names: dict[str, str]) -> tuple[str, int] | None:
    """``(array, row chunk)`` of a task key of the data or of a chunk task, if it is one."""
    if not (isinstance(key, tuple) and len(key) >= 2 and isinstance(key[1], int)):
        return None
    name = str(key[0])
    if name in array_names:
        return array_names[name], int(key[1])
    if name.startswith(CHUNK_TASK_PREFIXES) and len(key) == 2:
        return "the data", int(key[1])
    return None


def named_failure(
    error: Exception,
    array_names: dict[str, str],
    key: Any = None,
    where: tuple[str, int] | None = None,
) -> ChunkFailedError:
    """The :class:`ChunkFailedError` of a ``KilledWorker``, naming the chunk of its key.

    ``key`` and ``where`` (array, chunk) override what the error's own key tells.
    """
    key = getattr(error, "task", None) if key is None else key
    where = chunk_of_key(key, array_names) if where is None else where
    subject = f"Chunk {where[1]} of {where[0]}" if where else f"Task {key!r}"
    allowed = getattr(error, "allowed_failures", None)
    if allowed is None:
        allowed = dask.config.get("distributed.scheduler.allowed-failures", 3)
    return ChunkFailedError(
        f"{subject} killed every worker that processed it ({allowed + 1} workers; task "
        f"{key!r}); the fit stopped. Check that chunk's data and loader (a segfault or "
        "running out of memory kills a worker), or raise "
        "distributed.scheduler.allowed-failures.",
        None if where is None else where[1],
        key,
    )


def is_killed_worker(error: BaseException) -> bool:
    """Whether ``error`` is dask.distributed's ``KilledWorker``."""
    return type(error).__name__ == "KilledWorker"


#: Given the KilledWorker and the failure named from its key, the failure to raise.
Diagnose = Callable[[Exception, ChunkFailedError], ChunkFailedError]


def compute(
    *collections: Any,
    retries: int = 0,
    array_names: dict[str, str] | None = None,
    diagnose: Diagnose | None = None,
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
    diagnose : callable, optional
        Finds the chunk that kills when the key alone may blame the wrong one
        (:meth:`daskgd.engine.frame.ChunkedFrame.find_killer`).

    Returns
    -------
    results : tuple
        The computed values.
    """
    kwargs = {"retries": retries} if retries and active_client() is not None else {}
    try:
        return tuple(dask.compute(*collections, **kwargs))
    except Exception as error:
        if not is_killed_worker(error):
            raise
        raise _diagnosed(error, array_names or {}, diagnose) from error


def compute_each(
    parts: Sequence[Any],
    retries: int = 0,
    array_names: dict[str, str] | None = None,
    diagnose: Diagnose | None = None,
) -> list[Any]:
    """:func:`compute` of ``parts``, each fetched (and freed on its worker) once done.

    ``dask.compute`` leaves every result on the workers until the last is done; for
    large results (a sample of rows per chunk) that is all of them at once.
    """
    client = active_client()
    if client is None:
        return list(compute(*parts, retries=retries, array_names=array_names))
    from distributed import as_completed

    kwargs = {"retries": retries} if retries else {}
    futures = client.compute(list(parts), **kwargs)
    position = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    try:
        for future, result in as_completed(futures, with_results=True):
            results[position[future.key]] = result
            future.release()
    except Exception as error:
        client.cancel(futures)
        if not is_killed_worker(error):
            raise
        raise _diagnosed(error, array_names or {}, diagnose) from error
    return results


def gather(
    future: Any,
    array_names: dict[str, str],
    diagnose: Diagnose | None = None,
    direct: bool = False,
) -> Any:
    """The result of a future, with a named error for killed workers (see :func:`compute`).

    ``direct`` fetches it from its worker rather than through the scheduler (see
    :func:`can_gather_directly`)."""
    try:
        if direct:
            return future.client.gather(future, direct=True)
        return future.result()
    except Exception as error:
        if not is_killed_worker(error):
            raise
        raise _diagnosed(error, array_names, diagnose) from error


def _diagnosed(
    error: Exception, array_names: dict[str, str], diagnose: Diagnose | None
) -> ChunkFailedError:
    named = named_failure(error, array_names)
    return named if diagnose is None else diagnose(error, named)


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


def map_row_blocks(
    function: Callable[..., np.ndarray],
    X: da.Array,
    n_outputs: int | None,
    dtype: Any = np.float64,
    *others: da.Array,
) -> da.Array:
    """Apply ``function`` to every row chunk of ``X`` lazily (for predictions).

    ``n_outputs=None`` means the function returns one value per row (1-D result);
    the result keeps the row chunks of ``X``. ``others`` are row-aligned arrays
    (1-D or 2-D, the row chunks of ``X``) whose blocks follow ``X``'s, as columns.
    """
    X = X.rechunk({1: -1}) if X.numblocks[1] > 1 else X
    columns = [
        (other[:, np.newaxis] if other.ndim == 1 else other).rechunk({0: X.chunks[0], 1: -1})
        for other in others
    ]
    if n_outputs is None:
        return da.map_blocks(
            function, X, *columns, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype=dtype)
        )
    return da.map_blocks(
        function,
        X,
        *columns,
        chunks=(X.chunks[0], (n_outputs,)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
    )


def _block_rows(block: Any) -> np.ndarray:
    return np.array([len(block)], dtype=np.int64)


def known_row_chunks(
    arrays: Sequence[da.Array | None],
    labels: Sequence[str],
    *,
    retries: int = 0,
    also: Sequence[Any] = (),
) -> tuple[list[da.Array | None], int]:
    """The arrays with their row chunk sizes known, and the passes that took (0 or 1).

    A dask DataFrame does not know its partitions' lengths. Those of every array
    that lacks them are computed in one pass (arrays read from the same DataFrame
    share its read tasks), with ``retries`` and a named error; the data is not kept.

    Parameters
    ----------
    arrays : sequence of dask arrays or None
        The inputs of a fit (``None`` for one not given).
    labels : sequence of str
        The name the user knows each by (``"X"``), for errors.
    retries : int, default=0
        Reruns of a task that raised.
    also : sequence of dask collections, optional
        More to compute over the same data in the same pass; their values are
        appended to ``arrays`` in the result (the pass is then always made).

    Returns
    -------
    arrays : list
        The same arrays, with known chunks along rows (then the values of ``also``).
    n_passes : int
        1 if any lengths (or ``also``) had to be computed, else 0.
    """
    unknown = [
        i
        for i, array in enumerate(arrays)
        if array is not None and any(np.isnan(size) for size in array.chunks[0])
    ]
    if not unknown and not also:
        return list(arrays), 0
    counts = [
        da.map_blocks(
            _block_rows,
            arrays[i].rechunk({1: -1}) if arrays[i].ndim == 2 else arrays[i],  # type: ignore[union-attr]
            drop_axis=1 if arrays[i].ndim == 2 else None,  # type: ignore[union-attr]
            chunks=(1,),
            dtype=np.int64,
            meta=np.empty((0,), dtype=np.int64),
        )
        for i in unknown
    ]
    *lengths, extra = compute(
        *counts, list(also), retries=retries, array_names=input_names(arrays, labels)
    )
    result: list[Any] = list(arrays)
    for i, sizes in zip(unknown, lengths, strict=True):
        array = arrays[i]
        assert array is not None
        chunks = (tuple(int(n) for n in sizes),) + array.chunks[1:]
        result[i] = da.Array(array.dask, array.name, chunks, meta=array._meta)
    return result + list(extra), 1


@dataclass(frozen=True)
class ChunkLoader:
    """The graph that loads one chunk of a streamed input, run inside the task that reads it."""

    graph: Mapping[Any, Any]
    key: Any

    def load(self) -> Any:
        """The chunk, computed here by dask's synchronous scheduler."""
        return get_sync(dict(self.graph), self.key)


def map_loaded_chunk(function: Callable[..., Any], broadcast: Any, *blocks: Any) -> Any:
    """:func:`map_chunk` over blocks some of which are loaded here (:class:`ChunkLoader`).

    A derived column kept from streamed inputs is made this way: chunks loaded by
    tasks of their own run far ahead of the tasks that shrink them, and pile up.
    """
    loaded = [block.load() if isinstance(block, ChunkLoader) else block for block in blocks]
    return tasks.map_chunk(function, broadcast, *loaded)
