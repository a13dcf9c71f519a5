"""A thin re-export of :mod:`daskgd.stochastic.steps`, the chunk tasks of a stochastic fit.

They lived here before :mod:`daskgd.stochastic` existed; this module is kept so that
existing imports (``from daskgd.estimators._sgd_steps import SGDState,
average_states, validation_mask``) go on working. New code imports
:mod:`daskgd.stochastic.steps`, which the workers load without scikit-learn.
"""

from __future__ import annotations

from daskgd.stochastic.steps import (
    AVERAGED_ATTRIBUTES,
    BlockTrainer,
    SGDState,
    average_states,
    partial_score,
    raw_prediction,
    sum_dicts,
    validation_mask,
    validation_score,
)

__all__ = [
    "AVERAGED_ATTRIBUTES",
    "BlockTrainer",
    "SGDState",
    "average_states",
    "partial_score",
    "raw_prediction",
    "sum_dicts",
    "validation_mask",
    "validation_score",
]
