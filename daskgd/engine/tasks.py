"""The task functions of the engine's passes: what runs on the workers (NumPy only).

Each is a module-level function, pickled by reference, so a worker imports this
module, :mod:`daskgd.engine.reductions`, :mod:`daskgd.engine.blocks` and the block
math they call, and nothing else of daskgd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from daskgd.engine.blocks import check_finite_columns
from daskgd.engine.reductions import Reduction, combine_local, tree_combine


def _checked(
    reduction: Reduction, check: frozenset[str], chunk_index: int, first_row: int, blocks: Any
) -> None:
    if check:
        named = dict(zip(reduction.columns, blocks, strict=True))
        check_finite_columns(
            {name: block for name, block in named.items() if name in check},
            chunk_index,
            first_row,
        )


def reduce_chunk(
    reduction: Reduction,
    check: frozenset[str],
    broadcast: Any,
    chunk_index: int,
    first_row: int,
    *blocks: Any,
) -> Any:
    """The partial of one chunk, after checking the columns in ``check`` for NaN and infinity."""
    _checked(reduction, check, chunk_index, first_row, blocks)
    return reduction.chunk(broadcast, chunk_index, *blocks)


def reduce_loaded_chunk(
    reduction: Reduction,
    check: frozenset[str],
    loaders: Sequence[Any],
    broadcast: Any,
    chunk_index: int,
    first_row: int,
    *blocks: Any,
) -> Any:
    """:func:`reduce_chunk`, the streamed columns' blocks loaded here by their ``loaders``.

    ``loaders`` has an entry per column: a ``ChunkLoader`` for a streamed column (whose
    block is passed as None), None for one whose block is passed.
    """
    loaded = [
        block if loader is None else loader.load()
        for loader, block in zip(loaders, blocks, strict=True)
    ]
    return reduce_chunk(reduction, check, broadcast, chunk_index, first_row, *loaded)


def combine_parts(reduction: Reduction, *parts: Any) -> Any:
    """One node of a combine tree: merge ``parts`` in the order given."""
    return reduction.combine(parts)


def reduce_group(
    reduction: Reduction,
    check: frozenset[str],
    broadcast: Any,
    chunk_indices: Sequence[int],
    first_rows: Sequence[int],
    n_chunks: int,
    split_every: int,
    *blocks: Any,
) -> dict[tuple[int, int], Any]:
    """The partials of a worker's chunks, its whole subtrees of the combine tree combined.

    ``blocks`` holds the blocks of ``reduction.columns`` chunk after chunk.
    """
    width = len(reduction.columns)
    partials = {}
    for position, chunk_index in enumerate(chunk_indices):
        chunk_blocks = blocks[position * width : (position + 1) * width]
        _checked(reduction, check, chunk_index, first_rows[position], chunk_blocks)
        partials[chunk_index] = reduction.chunk(broadcast, chunk_index, *chunk_blocks)
    return combine_local(reduction, partials, n_chunks, split_every)


def finish_tree(
    reduction: Reduction, n_chunks: int, split_every: int, *groups: dict[tuple[int, int], Any]
) -> Any:
    """The root of the combine tree, from every worker's subtrees."""
    nodes: dict[tuple[int, int], Any] = {}
    for group in groups:
        nodes.update(group)
    return tree_combine(reduction, nodes, n_chunks, split_every)


def map_chunk(function: Callable[..., Any], broadcast: Any, *blocks: Any) -> Any:
    """One chunk of a derived column: ``function(*blocks, broadcast)`` (or without it)."""
    return function(*blocks) if broadcast is None else function(*blocks, broadcast)


def kept_block(block: Any) -> Any:
    """A chunk as it is, under the key of the frame that keeps it."""
    return block
