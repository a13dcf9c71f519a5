"""Losses and penalties against finite differences, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from daskgd.losses import BinaryLogLoss, HalfSquaredError, MultinomialLogLoss
from daskgd.penalties import L2, NoPenalty

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
