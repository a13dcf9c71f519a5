"""scikit-learn's SGD objective in daskgd's terms: its loss and penalty names as our objects.

scikit-learn's SGD minimises ``1/n sum_i loss(y_i, x_i @ w + b) + alpha * R(w)``;
its own Cython losses do the updates, and these objects only report the
objective (``loss_curve_``) and score the step sizes of the ``eta0`` search.
The loss travels to the workers inside the :class:`~daskgd.stochastic.steps.BlockTrainer`,
so this module imports NumPy-level modules only.
"""

from __future__ import annotations

import numpy as np

from daskgd.losses import (
    BinaryLogLoss,
    EpsilonInsensitive,
    HalfSquaredError,
    Hinge,
    Huber,
    MarginLogLoss,
    ModifiedHuber,
    PointwiseLoss,
    SquaredHinge,
)
from daskgd.losses.margin import signed_targets
from daskgd.penalties import L1, L2, ElasticNet, NoPenalty, Penalty


class _SignedRegressionLoss(PointwiseLoss):
    """A regression loss applied to +-1 one-vs-rest targets (SGDClassifier with such a loss)."""

    def __init__(self, loss: PointwiseLoss) -> None:
        self.inner = loss
        self.is_smooth = loss.is_smooth

    def loss(self, y: np.ndarray, raw_prediction: np.ndarray) -> np.ndarray:
        return self.inner.loss(signed_targets(y, raw_prediction.shape[1]), raw_prediction)

    def gradient(self, y: np.ndarray, raw_prediction: np.ndarray) -> np.ndarray:
        return self.inner.gradient(signed_targets(y, raw_prediction.shape[1]), raw_prediction)

    def hessian(self, y: np.ndarray, raw_prediction: np.ndarray) -> np.ndarray:
        return self.inner.hessian(signed_targets(y, raw_prediction.shape[1]), raw_prediction)


def pointwise_loss(name: str, epsilon: float, n_classes: int | None) -> PointwiseLoss:
    """Our pointwise loss for scikit-learn's SGD loss ``name`` (to report the objective).

    Parameters
    ----------
    name : str
        scikit-learn's ``loss`` parameter ("hinge", "log_loss", "squared_error", ...).
    epsilon : float
        Epsilon of the Huber and epsilon-insensitive losses.
    n_classes : int or None
        Number of classes of a classifier; None for a regressor.

    Returns
    -------
    loss : PointwiseLoss
        The loss on raw predictions; a regression loss given to a classifier is
        applied to the +-1 one-vs-rest targets, as scikit-learn does.
    """
    regression: dict[str, PointwiseLoss] = {
        "squared_error": HalfSquaredError(),
        "huber": Huber(epsilon),
        "epsilon_insensitive": EpsilonInsensitive(epsilon),
        "squared_epsilon_insensitive": EpsilonInsensitive(epsilon, squared=True),
    }
    if n_classes is None:
        return regression[name]
    classification: dict[str, PointwiseLoss] = {
        "hinge": Hinge(1.0),
        "perceptron": Hinge(0.0),
        "squared_hinge": SquaredHinge(1.0),
        "modified_huber": ModifiedHuber(),
        "log_loss": BinaryLogLoss() if n_classes <= 2 else MarginLogLoss(),
    }
    if name in classification:
        return classification[name]
    return _SignedRegressionLoss(regression[name])


def sgd_penalty(name: str | None, alpha: float, l1_ratio: float) -> Penalty:
    """scikit-learn's SGD penalty ``alpha * R(w)`` as a penalty object.

    Parameters
    ----------
    name : {"l2", "l1", "elasticnet"} or None
        scikit-learn's ``penalty`` parameter.
    alpha : float
        Penalty strength.
    l1_ratio : float
        Share of L1 in the elastic net.

    Returns
    -------
    penalty : Penalty
        ``NoPenalty`` when ``name`` is None or ``alpha`` is 0.
    """
    if name is None or alpha == 0:
        return NoPenalty()
    if name == "l2":
        return L2(alpha)
    if name == "l1":
        return L1(alpha)
    return ElasticNet(alpha, l1_ratio)
