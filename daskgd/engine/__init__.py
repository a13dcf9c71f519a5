"""The engine: the one place that builds the graphs of passes over the data.

- :mod:`daskgd.engine.frame`: :class:`~daskgd.engine.frame.ChunkedFrame`, named
  row-aligned columns of one set of row chunks (X, y, weights and derived
  columns), where they are kept, and every pass over them (reduce, derive, SGD
  chains and averaging rounds);
- :mod:`daskgd.engine.reductions`: typed reductions (chunk step, fixed-order
  combine) over mergeable dataclass partials (NumPy only);
- :mod:`daskgd.engine.blocks` and :mod:`daskgd.engine.tasks`: what runs on the
  workers (NumPy only);
- :mod:`daskgd.engine.execution`: the scheduler, retries, and named chunk failures.

This package imports nothing on its own, so a worker that unpickles a task
function of :mod:`daskgd.engine.tasks` loads only the NumPy-level modules.
"""
