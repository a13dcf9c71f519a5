"""Stochastic training: scikit-learn's per-sample SGD, taken to the chunks of the data.

The model moves, the data stays. The modules, from the workers up:

- :mod:`daskgd.stochastic.steps`: what one chunk task does (``BlockTrainer``),
  the state it passes on (``SGDState``) and the averaging of states; it runs on
  the workers and imports NumPy-level modules only.
- :mod:`daskgd.stochastic.objective`: scikit-learn's SGD loss and penalty names
  as daskgd's loss and penalty objects, to report the objective.
- :mod:`daskgd.stochastic.eta`: the search for ``eta0`` of ``learning_rate="auto"``.
- :mod:`daskgd.stochastic.loop`: the epoch loop (rounds, stopping rules, adaptive
  step reduction, early-stopping scores, checkpoints), which returns an
  ``EpochResult`` for the estimators of :mod:`daskgd.estimators.sgd` to unpack.

Nothing here imports scikit-learn or dask: the estimators hand in scikit-learn
models, and the chunk runners of :mod:`daskgd.oracles` run the passes. This
package imports none of its modules, so that a worker unpickling a chunk task
loads only what that task needs.
"""
