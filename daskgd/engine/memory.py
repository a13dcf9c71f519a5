"""The frame of in-memory (NumPy) data: one chunk, the same derive and reduce as on dask."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from daskgd.engine.reductions import Reduction


class InMemoryFrame:
    """Named, row-aligned NumPy columns treated as a single chunk.

    Models written against :class:`daskgd.engine.frame.ChunkedFrame` (``derive``,
    ``release``, ``reduce``, ``n_passes``) run on it unchanged, in this process.

    Parameters
    ----------
    columns : mapping of str to ndarray or None
        The columns; None for an absent one.
    """

    def __init__(self, columns: Mapping[str, np.ndarray | None]) -> None:
        self._columns = {name: value for name, value in columns.items() if value is not None}
        first = next(iter(self._columns.values()))
        self.chunk_rows = (len(first),)
        self.first_rows = (0,)
        self.n_chunks = 1
        self.groups = [[0]]
        self.placement: list[str] = []
        self.persisted = True
        self.n_passes = 0

    def has(self, name: str) -> bool:
        """Whether the frame holds column ``name``."""
        return name in self._columns

    def column(self, name: str) -> np.ndarray | None:
        """The values of column ``name`` (None when absent)."""
        return self._columns.get(name)

    def derive(
        self,
        name: str,
        function: Callable[..., Any],
        inputs: Sequence[str],
        broadcast: Any = None,
        keep: bool | None = None,
    ) -> None:
        """Make (or replace) column ``name``: ``function(*inputs[, broadcast])``.

        ``keep`` is accepted for the frame's interface: everything here is in memory.
        """
        blocks = [self._columns.get(column) for column in inputs]
        self._columns[name] = (
            function(*blocks) if broadcast is None else function(*blocks, broadcast)
        )

    def release(self, name: str) -> None:
        """Drop column ``name``."""
        self._columns.pop(name, None)

    def reduce(self, reduction: Reduction, broadcast: Any = None) -> Any:
        """One pass: ``reduction``'s partial of the single chunk."""
        blocks = [self._columns.get(column) for column in reduction.columns]
        self.n_passes += 1
        return reduction.chunk(broadcast, 0, *blocks)
