"""Losses and penalties against finite differences, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import _sgd_fast  # scikit-learn's own Cython SGD losses

from daskgd.losses import (
    BinaryLogLoss,
    EpsilonInsensitive,
    HalfSquaredError,
    Hinge,
    Huber,
    ModifiedHuber,
    MultinomialLogLoss,
    SquaredHinge,
)
from daskgd.penalties import L1, L2, ElasticNet, NoPenalty, soft_threshold

RNG = np.random.default_rng(42)


def _targets(loss, n_samples, n_outputs, dtype):
    if isinstance(loss, BinaryLogLoss):
        return RNG.integers(0, 2, size=(n_samples, 1)).astype(dtype)
    if isinstance(loss, MultinomialLogLoss):
        return RNG.integers(0, n_outputs, size=(n_samples, 1)).astype(dtype)
    return RNG.normal(size=(n_samples, n_outputs)).astype(dtype)


CASES = [(HalfSquaredError(), 1), (HalfSquaredError(), 3), (BinaryLogLoss(), 1)]
CASES += [(MultinomialLogLoss(), 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("loss", "n_outputs"), CASES)
def test_gradient_and_hessian_match_finite_differences(loss, n_outputs, dtype):
    n_samples = 20
    y = _targets(loss, n_samples, n_outputs, dtype)
    raw = (3 * RNG.normal(size=(n_samples, n_outputs))).astype(dtype)
    # Finite differences in float64 around the (possibly float32) point.
    raw64 = raw.astype(np.float64)
    step = 1e-6
    grad = loss.gradient(y, raw)
    hess = loss.hessian(y, raw)
    assert grad.shape == (n_samples, n_outputs)
    assert hess.shape == (n_samples, n_outputs, n_outputs)
    rtol = 1e-5 if dtype == np.float32 else 1e-7
    for k in range(n_outputs):
        shift = np.zeros_like(raw64)
        shift[:, k] = step
        numeric_grad = (loss.loss(y, raw64 + shift) - loss.loss(y, raw64 - shift)) / (2 * step)
        np.testing.assert_allclose(grad[:, k], numeric_grad, rtol=rtol, atol=1e-6)
        numeric_hess = (loss.gradient(y, raw64 + shift) - loss.gradient(y, raw64 - shift)) / (
            2 * step
        )
        np.testing.assert_allclose(hess[:, :, k], numeric_hess, rtol=1e-5, atol=1e-6)
    value, grad_again = loss.loss_gradient(y, raw)
    np.testing.assert_allclose(value, loss.loss(y, raw), rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(grad_again, grad, rtol=rtol, atol=1e-6)


def test_logistic_is_stable_for_huge_raw_predictions():
    raw = np.array([[-800.0], [-50.0], [0.0], [50.0], [800.0]])
    y = np.array([[1.0], [1.0], [0.0], [0.0], [0.0]])
    with np.errstate(all="raise"):
        value = BinaryLogLoss().loss(y, raw)
        grad = BinaryLogLoss().gradient(y, raw)
    np.testing.assert_allclose(value, [800.0, 50.0, np.log(2), 50.0, 800.0], rtol=1e-12)
    np.testing.assert_allclose(grad[:, 0], expit(raw[:, 0]) - y[:, 0])
    multi = MultinomialLogLoss()
    raw3 = np.array([[900.0, -900.0, 0.0]])
    np.testing.assert_allclose(multi.loss(np.array([[1.0]]), raw3), [1800.0])
    assert np.all(np.isfinite(multi.gradient(np.array([[1.0]]), raw3)))


def test_multinomial_with_two_classes_equals_binary_on_score_difference():
    raw = RNG.normal(size=(30, 1))
    y = RNG.integers(0, 2, size=(30, 1)).astype(float)
    both = np.hstack([np.zeros_like(raw), raw])
    np.testing.assert_allclose(
        MultinomialLogLoss().loss(y, both), BinaryLogLoss().loss(y, raw), rtol=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("penalty", [NoPenalty(), L2(0.7)])
def test_penalty_gradient_and_prox(penalty, dtype):
    w = RNG.normal(size=(5, 2)).astype(dtype)
    step = 1e-6
    numeric = np.zeros_like(w, dtype=np.float64)
    for index in np.ndindex(*w.shape):
        shift = np.zeros(w.shape)
        shift[index] = step
        w64 = w.astype(np.float64)
        numeric[index] = (penalty.value(w64 + shift) - penalty.value(w64 - shift)) / (2 * step)
    np.testing.assert_allclose(penalty.gradient(w), numeric, rtol=1e-5, atol=1e-7)
    # The prox is the minimiser of 1/(2t)||v - w||^2 + g(v): its optimality condition.
    t = 0.3
    v = penalty.prox(w.astype(np.float64), t)
    np.testing.assert_allclose((v - w) / t + penalty.gradient(v), 0, atol=1e-6)


def test_l2_rejects_negative_strength():
    with pytest.raises(ValueError, match="non-negative"):
        L2(-1.0)


# ---- the SGD / SVM losses of scikit-learn, and the L1-type penalties ----


SKLEARN_CLASSIFICATION = [
    (Hinge(1.0), _sgd_fast.Hinge(1.0)),
    (Hinge(0.0), _sgd_fast.Hinge(0.0)),
    (SquaredHinge(1.0), _sgd_fast.SquaredHinge(1.0)),
    (ModifiedHuber(), _sgd_fast.ModifiedHuber()),
]
SKLEARN_REGRESSION = [
    (EpsilonInsensitive(0.2), _sgd_fast.EpsilonInsensitive(0.2)),
    (EpsilonInsensitive(0.2, squared=True), _sgd_fast.SquaredEpsilonInsensitive(0.2)),
]


@pytest.mark.parametrize(("loss", "reference"), SKLEARN_CLASSIFICATION)
def test_margin_losses_equal_scikit_learns(loss, reference):
    raw = np.linspace(-3, 3, 61)[:, np.newaxis]
    for label in (0.0, 1.0):
        y = np.full_like(raw, label)
        sign = 2 * label - 1
        expected = [reference.py_loss(float(z), sign) for z in raw[:, 0]]
        expected_grad = [reference.py_dloss(float(z), sign) for z in raw[:, 0]]
        np.testing.assert_allclose(loss.loss(y, raw), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(loss.gradient(y, raw)[:, 0], expected_grad, atol=1e-12)


@pytest.mark.parametrize(("loss", "reference"), SKLEARN_REGRESSION)
def test_robust_losses_equal_scikit_learns(loss, reference):
    raw = np.linspace(-2, 2, 41)[:, np.newaxis]
    y = np.full_like(raw, 0.25)
    expected = [reference.py_loss(float(z), 0.25) for z in raw[:, 0]]
    expected_grad = [reference.py_dloss(float(z), 0.25) for z in raw[:, 0]]
    np.testing.assert_allclose(loss.loss(y, raw), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss.gradient(y, raw)[:, 0], expected_grad, atol=1e-12)


def test_huber_equals_scikit_learns():
    from sklearn._loss.loss import HuberLoss

    raw = np.linspace(-2, 2, 41)
    y = np.full_like(raw, 0.25)
    reference = HuberLoss(delta=0.3)
    ours = Huber(0.3)
    expected = reference.loss(y_true=y, raw_prediction=raw)
    np.testing.assert_allclose(ours.loss(y[:, None], raw[:, None]), expected, rtol=1e-12)
    expected_grad = reference.gradient(y_true=y, raw_prediction=raw)
    np.testing.assert_allclose(ours.gradient(y[:, None], raw[:, None])[:, 0], expected_grad)


@pytest.mark.parametrize(
    "loss", [SquaredHinge(), ModifiedHuber(), Huber(0.5), EpsilonInsensitive(0.2, squared=True)]
)
def test_smooth_new_losses_match_finite_differences_away_from_kinks(loss):
    n_outputs = 3 if isinstance(loss, (SquaredHinge, ModifiedHuber)) else 1
    y = (
        RNG.integers(0, n_outputs, size=(40, 1)).astype(float)
        if n_outputs > 1
        else RNG.normal(size=(40, 1))
    )
    raw = 3 * RNG.normal(size=(40, n_outputs))
    step = 1e-7
    for k in range(n_outputs):
        shift = np.zeros_like(raw)
        shift[:, k] = step
        numeric = (loss.loss(y, raw + shift) - loss.loss(y, raw - shift)) / (2 * step)
        np.testing.assert_allclose(loss.gradient(y, raw)[:, k], numeric, rtol=1e-6, atol=1e-6)
    assert loss.hessian(y, raw).shape == (40, n_outputs, n_outputs)


def test_one_vs_rest_margin_loss_sums_binary_problems():
    y = RNG.integers(0, 3, size=(25, 1)).astype(float)
    raw = RNG.normal(size=(25, 3))
    total = Hinge().loss(y, raw)
    per_class = [Hinge().loss((y == k).astype(float), raw[:, [k]]) for k in range(3)]
    np.testing.assert_allclose(total, np.sum(per_class, axis=0), rtol=1e-12)


@pytest.mark.parametrize("penalty", [L1(0.4), ElasticNet(0.4, 0.3), ElasticNet(0.4, 0.0)])
def test_l1_type_prox_minimises_its_objective(penalty):
    w = RNG.normal(size=(6, 2))
    step = 0.7
    v = penalty.prox(w, step)

    def prox_objective(candidate):
        return 0.5 / step * np.sum((candidate - w) ** 2) + penalty.value(candidate)

    best = prox_objective(v)
    for _ in range(200):
        assert prox_objective(v + 1e-3 * RNG.normal(size=v.shape)) >= best - 1e-12
    assert penalty.is_smooth == (penalty.l1_ratio == 0)


def test_soft_threshold_zeroes_small_entries():
    np.testing.assert_array_equal(
        soft_threshold(np.array([-2.0, -0.5, 0.0, 0.3, 1.5]), 0.5), [-1.5, -0.0, 0.0, 0.0, 1.0]
    )
