"""Property tests (Hypothesis) of the objective, the penalties and chunking.

Two families of properties, over shapes, sample weights (zeros included) and dtypes
that Hypothesis draws:

* the objective :class:`~daskgd.objective.LinearObjective`, for every loss and penalty,
  with and without an intercept: its gradient against central differences of its value,
  its Hessian against central differences of its gradient, its being a weighted mean
  (invariant to a common scale of the weights, an integer weight repeating a row), and
  the proximal operators of the penalties against their optimality conditions;
* chunking: any partition of the rows into chunks gives the fit of one chunk, and the
  fit of NumPy input, to 1e-10.

``tests/test_losses.py`` checks each loss pointwise at fixed shapes; here the losses are
checked through the objective the solvers see. Every test is derandomised and keeps no
example database, so every run (CI included) tries the same examples.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from daskgd.estimators import LinearRegression, LogisticRegression, Ridge
from daskgd.losses import (
    BinaryLogLoss,
    EpsilonInsensitive,
    HalfSquaredError,
    Hinge,
    Huber,
    MarginLogLoss,
    MarginLoss,
    ModifiedHuber,
    MultinomialLogLoss,
    SmoothedHinge,
    SquaredHinge,
)
from daskgd.losses.margin import signed_targets
from daskgd.objective import LinearObjective
from daskgd.penalties import L1, L2, ElasticNet, NoPenalty, Penalty


def property_settings(max_examples: int) -> settings:
    """Reproducible settings: examples derived from the test's source, no database."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None)


# ---- drawing problems: an objective, data, weights and a coefficient vector ----

#: Losses with a (generalised) Hessian; the last two of ALL_LOSSES have none.
HESSIAN_LOSSES = (
    "half-squared",
    "binary-log",
    "multinomial-log",
    "margin-log",
    "squared-hinge",
    "modified-huber",
    "smoothed-hinge",
    "huber",
    "squared-epsilon-insensitive",
)
ALL_LOSSES = (*HESSIAN_LOSSES, "hinge", "epsilon-insensitive")
MARGIN_LOSSES = {
    "margin-log": lambda draw: MarginLogLoss(),
    "squared-hinge": lambda draw: SquaredHinge(draw(st.sampled_from([0.0, 1.0]))),
    "modified-huber": lambda draw: ModifiedHuber(),
    "smoothed-hinge": lambda draw: SmoothedHinge(draw(st.floats(0.05, 1.0))),
    "hinge": lambda draw: Hinge(draw(st.sampled_from([0.0, 1.0]))),
}

#: Central-difference step. With it, and data of order one, the truncation error
#: (``step**2 / 6`` times a third derivative) is below 1e-11, and the rounding error of
#: a difference quotient of values accurate to ``n * eps`` relative is about 1e-8 of
#: their size: the tolerances below sit between the two.
STEP = 1e-6


@dataclasses.dataclass
class Problem:
    """An objective, its data (in the drawn dtype) and a float64 coefficient vector."""

    objective: LinearObjective
    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None
    coef: np.ndarray

    def weights64(self) -> np.ndarray:
        """The sample weights in float64, ones when unweighted."""
        if self.sample_weight is None:
            return np.ones(len(self.X))
        return self.sample_weight.astype(np.float64)


def _draw_loss(draw: Any, name: str) -> tuple[Any, int, bool]:
    """``(loss, n_outputs, whether targets are class indices)``."""
    if name == "half-squared":
        return HalfSquaredError(), draw(st.integers(1, 3)), False
    if name == "huber":
        return Huber(draw(st.floats(0.1, 2.0))), draw(st.integers(1, 3)), False
    if name in ("squared-epsilon-insensitive", "epsilon-insensitive"):
        squared = name.startswith("squared")
        return EpsilonInsensitive(draw(st.floats(0.05, 1.0)), squared=squared), 1, False
    if name == "binary-log":
        return BinaryLogLoss(), 1, True
    if name == "multinomial-log":
        return MultinomialLogLoss(), draw(st.integers(2, 4)), True
    loss = MARGIN_LOSSES[name](draw)
    n_outputs = draw(st.integers(1, 3))
    if n_outputs > 1 and draw(st.booleans()):  # liblinear-style class weights per problem
        weight = draw(st.lists(st.floats(0.1, 5.0), min_size=n_outputs, max_size=n_outputs))
        loss = loss.with_positive_weight(np.array(weight))
    return loss, n_outputs, True


def _draw_penalty(draw: Any) -> Penalty:
    kind = draw(st.sampled_from(["none", "l2", "l1", "elastic-net"]))
    if kind == "none":
        return NoPenalty()
    strength = draw(st.floats(0.0, 5.0))
    if kind == "l2":
        return L2(strength)
    if kind == "l1":
        return L1(strength)
    return ElasticNet(strength, draw(st.floats(0.0, 1.0)))


def scaled_penalty(penalty: Penalty, factor: float) -> Penalty:
    """``factor * penalty``."""
    if isinstance(penalty, ElasticNet):
        return ElasticNet(factor * penalty.strength, penalty.l1_ratio)
    if isinstance(penalty, L2):
        return L2(factor * penalty.strength)
    assert isinstance(penalty, NoPenalty)
    return penalty


#: A weight is 0 or in [0.01, 10]: subnormal weights would only test float underflow.
WEIGHTS = st.one_of(st.just(0.0), st.floats(0.01, 10.0))


@st.composite
def problems(draw: Any, losses: tuple[str, ...] = ALL_LOSSES, weights: str = "any") -> Problem:
    """A random problem: 1-50 rows, 1-6 features, 1-4 outputs, float32 or float64.

    ``weights``: ``"any"`` (none, or non-negative with zeros), ``"positive-sum"``
    (always given) or ``"integer"`` (counts 0-3).
    """
    name = draw(st.sampled_from(losses))
    loss, n_outputs, labels = _draw_loss(draw, name)
    n_samples = draw(st.integers(1, 50))
    n_features = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    fit_intercept = draw(st.booleans())
    intercept_l2 = draw(st.sampled_from([0.0, 0.5])) if fit_intercept else 0.0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n_samples, n_features)) * draw(st.floats(0.1, 2.0))
    if labels:
        y = rng.integers(0, max(2, n_outputs), size=(n_samples, 1)).astype(np.float64)
    else:
        y = 2.0 * rng.normal(size=(n_samples, n_outputs))
    if weights == "integer":
        count = st.integers(0, 3)
        sample_weight = np.array(draw(st.lists(count, min_size=n_samples, max_size=n_samples)))
    elif weights == "positive-sum" or draw(st.booleans()):
        draws = draw(st.lists(WEIGHTS, min_size=n_samples, max_size=n_samples))
        sample_weight = np.array(draws, dtype=dtype)
    else:
        sample_weight = None
    assume(sample_weight is None or sample_weight.sum() > 0)
    objective = LinearObjective(
        loss=loss,
        penalty=_draw_penalty(draw),
        n_features=n_features,
        n_outputs=n_outputs,
        fit_intercept=fit_intercept,
        intercept_l2=intercept_l2,
    )
    coef = rng.normal(size=objective.n_coef) * draw(st.floats(0.1, 2.0))
    return Problem(objective, X.astype(dtype), y.astype(dtype), sample_weight, coef)


# ---- evaluating a problem ----


def value_and_gradient(problem: Problem, coef: np.ndarray) -> tuple[float, np.ndarray]:
    """The objective and its gradient at ``coef``, as a NumPy oracle computes them."""
    objective = problem.objective
    partial = objective.block_loss_grad(problem.X, problem.y, problem.sample_weight, coef)
    return objective.finalize_loss_grad(partial, coef, partial["n"])


def hessian(problem: Problem) -> tuple[dict[str, Any], np.ndarray]:
    """The loss-gradient-Hessian partial at ``problem.coef`` and the objective's Hessian."""
    objective, coef = problem.objective, problem.coef
    partial = objective.block_loss_grad_hess(problem.X, problem.y, problem.sample_weight, coef)
    return partial, objective.finalize_hessian(partial, coef, partial["n"])


def central_differences(function: Callable[[np.ndarray], Any], coef: np.ndarray) -> np.ndarray:
    """``(function(coef + STEP e_j) - function(coef - STEP e_j)) / (2 STEP)``, stacked on j last."""
    columns = []
    for j in range(coef.size):
        shift = np.zeros_like(coef)
        shift[j] = STEP
        columns.append((np.asarray(function(coef + shift)) - function(coef - shift)) / (2 * STEP))
    return np.stack(columns, axis=-1)


def _margin_kinks(loss: MarginLoss) -> list[float]:
    if isinstance(loss, (Hinge, SquaredHinge)):
        return [loss.threshold]
    if isinstance(loss, ModifiedHuber):
        return [-1.0, 1.0]
    if isinstance(loss, SmoothedHinge):
        return [1.0, 1.0 - loss.smoothing]
    return []


def distance_to_kinks(problem: Problem) -> float:
    """How far ``problem.coef`` is from where the objective's second derivative jumps.

    Measured on the raw predictions (margins or residuals, where each loss has its kinks)
    and on the penalised coefficients (where the L1 norm has its kink, at zero).
    """
    objective = problem.objective
    raw = objective.raw_prediction(problem.X.astype(np.float64), problem.coef)
    y = problem.y.astype(np.float64)
    loss = objective.loss
    if isinstance(loss, MarginLoss):
        values, kinks = signed_targets(y, raw.shape[1]) * raw, _margin_kinks(loss)
    elif isinstance(loss, (Huber, EpsilonInsensitive)):
        values, kinks = np.abs(raw - y), [loss.epsilon]
    else:
        values, kinks = raw, []
    distance = min((float(np.min(np.abs(values - kink))) for kink in kinks), default=np.inf)
    penalty = objective.penalty
    if isinstance(penalty, ElasticNet) and penalty.strength * penalty.l1_ratio > 0:
        weights, _ = objective.unpack(problem.coef)
        distance = min(distance, float(np.min(np.abs(weights))))
    return distance


def assume_away_from_kinks(problem: Problem) -> None:
    """Keep only problems where no difference quotient straddles a kink.

    A step of STEP in one coefficient moves a raw prediction by at most STEP times the
    largest ``|x_ij|`` (or 1, for an intercept) and a penalised coefficient by STEP; ten
    times that keeps both sides of every quotient on the same smooth piece.
    """
    reach = STEP * max(1.0, float(np.max(np.abs(problem.X))))
    assume(distance_to_kinks(problem) > 10 * reach)


def gradient_term_scale(problem: Problem) -> float:
    """The largest sum of ``|terms|`` behind one gradient entry, divided by the weight sum.

    A sum's rounding error scales with the sum of its terms' magnitudes, not with the
    sum itself, which can cancel to near zero: tolerances on gradients (and on
    differences of gradients) are relative to this.
    """
    objective = problem.objective
    X = problem.X.astype(np.float64)
    weight = problem.weights64()
    raw = objective.raw_prediction(X, problem.coef)
    terms = weight[:, np.newaxis] * np.abs(objective.loss.gradient(problem.y.astype(float), raw))
    design = np.abs(X)
    if objective.fit_intercept:
        design = np.hstack([design, np.ones((len(X), 1))])
    weights, intercept = objective.unpack(problem.coef)
    penalty_terms = max(
        float(np.max(np.abs(objective.penalty.gradient(weights)))),
        objective.intercept_l2 * float(np.max(np.abs(intercept))),
    )
    return max(float(np.max(design.T @ terms)), penalty_terms) / float(weight.sum())


# ---- gradients and Hessians against finite differences ----


@property_settings(max_examples=150)
@given(problem=problems())
def test_objective_gradient_matches_central_differences(problem: Problem):
    """The gradient of loss + penalty (+ intercept) is the derivative of the objective.

    Every loss, every penalty; the non-smooth ones (hinge, epsilon-insensitive, L1)
    only away from their kinks.
    """
    assume_away_from_kinks(problem)
    value, grad = value_and_gradient(problem, problem.coef)
    assert grad.shape == (problem.objective.n_coef,)
    numeric = central_differences(lambda c: value_and_gradient(problem, c)[0], problem.coef)
    # The loss terms and the penalty are all non-negative, so each value is accurate to
    # about n * eps * |value| <= 1e-14 |value|; over a difference quotient this gives
    # 1e-8 |value| (see STEP). The same holds for float32 data, which the block
    # functions upcast exactly to float64 (as checked below).
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7 * max(1.0, abs(value)))
    if problem.X.dtype == np.float32:
        upcast = dataclasses.replace(
            problem,
            X=problem.X.astype(np.float64),
            y=problem.y.astype(np.float64),
            sample_weight=None if problem.sample_weight is None else problem.weights64(),
        )
        value64, grad64 = value_and_gradient(upcast, problem.coef)
        np.testing.assert_allclose(value, value64, rtol=1e-14)
        scale = gradient_term_scale(problem)
        np.testing.assert_allclose(grad, grad64, rtol=1e-13, atol=1e-13 * scale)


@property_settings(max_examples=120)
@given(problem=problems(losses=HESSIAN_LOSSES))
def test_objective_hessian_matches_central_differences_of_the_gradient(problem: Problem):
    """The Hessian is the derivative of the gradient: symmetric, positive semidefinite.

    Piecewise-quadratic losses (squared hinge, Huber, ...) away from the points where
    their second derivative jumps, and the L1 part of a penalty away from zero.
    """
    assume_away_from_kinks(problem)
    partial, hess = hessian(problem)
    n_coef = problem.objective.n_coef
    assert hess.shape == (n_coef, n_coef)
    # The hess pass must report the same loss and gradient as the gradient pass.
    plain = problem.objective.block_loss_grad(
        problem.X, problem.y, problem.sample_weight, problem.coef
    )
    assert partial["loss"] == plain["loss"]
    np.testing.assert_array_equal(partial["grad"], plain["grad"])
    # Built block by block, mirrored: exactly symmetric.
    np.testing.assert_array_equal(hess, hess.T)
    numeric = central_differences(lambda c: value_and_gradient(problem, c)[1], problem.coef)
    # Gradient entries are accurate to n * eps times their term scale, so a difference
    # quotient is to about 1e-8 of it (see STEP); within a smooth piece a quadratic
    # loss has an exactly linear gradient, and the log-losses' truncation is ~1e-12.
    atol = 1e-7 * max(1.0, gradient_term_scale(problem))
    np.testing.assert_allclose(hess, numeric, rtol=0, atol=atol)
    # Every loss and penalty here is convex.
    largest = max(1.0, float(np.max(np.abs(hess))))
    assert np.linalg.eigvalsh(hess).min() >= -1e-12 * n_coef * largest


# ---- the objective is a weighted mean ----


@property_settings(max_examples=100)
@given(problem=problems(weights="positive-sum"), factor=st.floats(1e-3, 1e3))
def test_objective_is_a_weighted_mean(problem: Problem, factor: float):
    """``f = (sum_i s_i l_i + g(W)) / sum_i s_i``: scaling the weights and the penalty
    by the same ``c > 0`` changes nothing (the loss part alone is a weighted mean)."""
    objective = problem.objective
    weight = problem.weights64()
    value, grad = value_and_gradient(problem, problem.coef)
    # The documented formula, term by term.
    X, y = problem.X.astype(np.float64), problem.y.astype(np.float64)
    weights, intercept = objective.unpack(problem.coef)
    losses = objective.loss.loss(y, objective.raw_prediction(X, problem.coef))
    penalty = (
        objective.penalty.value(weights) + 0.5 * objective.intercept_l2 * intercept @ intercept
    )
    np.testing.assert_allclose(value, (weight @ losses + penalty) / weight.sum(), rtol=1e-12)

    scaled = dataclasses.replace(
        problem,
        objective=dataclasses.replace(
            objective,
            penalty=scaled_penalty(objective.penalty, factor),
            intercept_l2=factor * objective.intercept_l2,
        ),
        sample_weight=factor * weight,
    )
    scaled_value, scaled_grad = value_and_gradient(scaled, problem.coef)
    # Scaling rounds each weight once (relative eps); the sums then carry n * eps
    # relative to their terms, 1e-14 here: 1e-12 leaves a margin of 100.
    np.testing.assert_allclose(scaled_value, value, rtol=1e-12)
    scale = gradient_term_scale(problem)
    np.testing.assert_allclose(scaled_grad, grad, rtol=1e-12, atol=1e-12 * scale)
    if objective.loss.is_smooth:
        _, hess = hessian(problem)
        _, scaled_hess = hessian(scaled)
        largest = float(np.max(np.abs(hess)))
        np.testing.assert_allclose(scaled_hess, hess, rtol=1e-12, atol=1e-12 * largest)


@property_settings(max_examples=60)
@given(problem=problems(weights="integer"))
def test_integer_weights_equal_repeated_rows(problem: Problem):
    """A row of weight ``k`` counts as ``k`` copies of the row (0: as no row)."""
    assert problem.sample_weight is not None
    counts = problem.sample_weight.astype(np.intp)
    repeated = dataclasses.replace(
        problem,
        X=np.repeat(problem.X, counts, axis=0),
        y=np.repeat(problem.y, counts, axis=0),
        sample_weight=None,
    )
    value, grad = value_and_gradient(problem, problem.coef)
    repeated_value, repeated_grad = value_and_gradient(repeated, problem.coef)
    # The same terms, summed in another order: n * eps relative to their size.
    np.testing.assert_allclose(repeated_value, value, rtol=1e-12)
    scale = gradient_term_scale(problem)
    np.testing.assert_allclose(repeated_grad, grad, rtol=1e-12, atol=1e-12 * scale)


# ---- proximal operators ----


@st.composite
def prox_inputs(draw: Any) -> tuple[Penalty, np.ndarray, np.ndarray, float]:
    """A penalty, two coefficient matrices of one shape and dtype, and a step size."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, max_side=6))
    elements = st.floats(-10.0, 10.0, width=32 if dtype == np.float32 else 64)
    first = draw(hnp.arrays(dtype, shape, elements=elements))
    second = draw(hnp.arrays(dtype, shape, elements=elements))
    return _draw_penalty(draw), first, second, draw(st.floats(1e-3, 10.0))


def _l1_l2_parts(penalty: Penalty) -> tuple[float, float]:
    """``(a, b)`` with ``penalty = a ||w||_1 + b / 2 ||w||^2``."""
    if isinstance(penalty, ElasticNet):
        return penalty.strength * penalty.l1_ratio, penalty.strength * (1 - penalty.l1_ratio)
    if isinstance(penalty, L2):
        return 0.0, penalty.strength
    return 0.0, 0.0


@property_settings(max_examples=100)
@given(inputs=prox_inputs())
def test_prox_satisfies_its_optimality_condition(inputs):
    """``v = prox(w, t)`` minimises ``|v - w|^2 / (2t) + g(v)``: ``0 in (v - w)/t + dg(v)``.

    For ``g = a |.|_1 + b/2 |.|^2``: ``(v - w)/t + b v + a sign(v) = 0`` where ``v != 0``,
    ``|w| / t <= a`` where ``v == 0``; entries below the threshold become exactly 0; and
    the prox is firmly non-expansive.
    """
    penalty, w, other, step = inputs
    l1, l2 = _l1_l2_parts(penalty)
    v = np.asarray(penalty.prox(w, step))
    assert v.shape == w.shape
    w64, v64 = w.astype(np.float64), v.astype(np.float64)
    smooth_part = (v64 - w64) / step + l2 * v64
    # ``v`` is computed in the dtype of ``w``: a few roundings of quantities of size |w|,
    # t a and (1 + t b)|v|, divided by t.
    eps = np.finfo(w.dtype).eps
    tolerance = 4 * eps * (np.abs(w64) + step * l1 + (1 + step * l2) * np.abs(v64)) / step
    nonzero = v64 != 0
    residual = np.where(nonzero, smooth_part + l1 * np.sign(v64), 0.0)
    assert np.all(np.abs(residual) <= tolerance), np.max(np.abs(residual) - tolerance)
    assert np.all(np.abs(smooth_part[~nonzero]) <= l1 + tolerance[~nonzero])
    assert np.all(v64[np.abs(w64) < step * l1 * (1 - 1e-5)] == 0)
    # Firm non-expansiveness: |P(a) - P(b)|^2 <= <P(a) - P(b), a - b>.
    other_v = np.asarray(penalty.prox(other, step)).astype(np.float64)
    moved = v64 - other_v
    inner = float(np.vdot(moved, w64 - other.astype(np.float64)))
    # Each prox entry is off by at most 2 eps (|w| + |w'| + t a), and |P(a) - P(b)| <=
    # |a - b| entry by entry: both sides are accurate to 6 eps times ``size``.
    magnitude = np.abs(w64) + np.abs(other.astype(np.float64))
    size = float(np.vdot(magnitude + step * l1, magnitude))
    assert float(np.vdot(moved, moved)) <= inner + 8 * eps * size


# ---- chunking: any row chunking gives the same fit ----

FIT_CASES = ("linear", "ridge", "logistic-binary", "logistic-multinomial")


@dataclasses.dataclass
class FitProblem:
    """An estimator (one of FIT_CASES) and its NumPy data."""

    case: str
    estimator: Any
    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None


def make_fit_problem(
    case: str,
    seed: int,
    n_samples: int,
    n_features: int,
    *,
    fit_intercept: bool = True,
    weighted: bool = False,
    strength: float = 1.0,
    dtype: Any = np.float64,
    split_every: int | None = None,
) -> FitProblem:
    """Off-centre data for one of FIT_CASES; weights with zeros, every class weighted."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) + rng.uniform(-3, 3, size=n_features)
    common = {"fit_intercept": fit_intercept, "split_every": split_every}
    if case in ("linear", "ridge"):
        n_targets = rng.integers(1, 3)
        y = X @ rng.normal(size=(n_features, n_targets)) + rng.normal(size=(n_samples, n_targets))
        y = y[:, 0] if n_targets == 1 else y
        if case == "linear":
            estimator: Any = LinearRegression(solver="normal", **common)
        else:
            estimator = Ridge(alpha=strength, **common)
    else:
        n_classes = 2 if case == "logistic-binary" else 3
        X_centred = X - X.mean(axis=0)
        scores = X_centred @ rng.normal(size=(n_features, n_classes))
        y = np.argmax(scores + rng.gumbel(size=(n_samples, n_classes)), axis=1)
        y[:n_classes] = np.arange(n_classes)  # every class present...
        estimator = LogisticRegression(C=strength, solver="newton", tol=1e-10, **common)
    sample_weight = None
    if weighted:
        sample_weight = rng.uniform(0.1, 2.0, size=n_samples)
        sample_weight[rng.uniform(size=n_samples) < 0.2] = 0.0
        sample_weight[:3] = 1.0  # ... and weighted
    return FitProblem(case, estimator, X.astype(dtype), y, sample_weight)


def fit_numpy(problem: FitProblem) -> Any:
    """The estimator fitted on the NumPy arrays."""
    return clone(problem.estimator).fit(problem.X, problem.y, sample_weight=problem.sample_weight)


def fit_dask(problem: FitProblem, chunks: tuple[int, ...]) -> Any:
    """The estimator fitted on dask arrays with row chunks ``chunks``."""
    X = da.from_array(problem.X, chunks=(chunks, problem.X.shape[1]))
    y = da.from_array(problem.y, chunks=(chunks,) + problem.y.shape[1:])
    weight = problem.sample_weight
    weight = None if weight is None else da.from_array(weight, chunks=(chunks,))
    model = clone(problem.estimator).fit(X, y, sample_weight=weight)
    assert model.n_passes_ >= 1
    return model


def assert_same_fit(model: Any, reference: Any) -> None:
    """``coef_`` and ``intercept_`` equal to 1e-10, relative with an absolute floor.

    Chunkings add the same terms in other orders, so the Gram statistics or gradients
    differ by rounding (n * eps relative to the terms, ~1e-14 here); the solution moves
    by that times the problem's condition number, ~1e-12 for these well-conditioned
    problems (Newton's iterates follow the same path to rounding, and tol=1e-10 puts both
    at the optimum to rounding, its convergence being quadratic). 1e-10 leaves 100 of
    margin. An entry near zero is only accurate relative to the largest, hence the
    absolute floor of 1e-10 times the largest coefficient or intercept.
    """
    expected = [np.asarray(reference.coef_), np.asarray(reference.intercept_)]
    scale = max(float(np.max(np.abs(array), initial=0.0)) for array in expected)
    for actual, desired in zip([model.coef_, model.intercept_], expected, strict=True):
        np.testing.assert_allclose(actual, desired, rtol=1e-10, atol=1e-10 * scale)


@st.composite
def row_chunks(draw: Any, n_samples: int) -> tuple[int, ...]:
    """Positive chunk sizes summing to ``n_samples``, often with chunks of one row."""
    sizes: list[int] = []
    remaining = n_samples
    while remaining:
        size = draw(st.one_of(st.just(1), st.integers(1, remaining)))
        sizes.append(size)
        remaining -= size
    return tuple(sizes)


@st.composite
def chunked_fits(draw: Any, case: str) -> tuple[FitProblem, tuple[int, ...]]:
    """A fit problem of ``case``, 1-4 features and up to 50 rows, and a row chunking."""
    n_features = draw(st.integers(1, 4))
    n_samples = draw(st.integers(3 * n_features + 6, 50))
    problem = make_fit_problem(
        case,
        draw(st.integers(0, 2**32 - 1)),
        n_samples,
        n_features,
        fit_intercept=draw(st.booleans()),
        weighted=draw(st.booleans()),
        strength=draw(st.floats(0.1, 10.0)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        split_every=draw(st.sampled_from([None, 2, 3])),
    )
    return problem, draw(row_chunks(n_samples))


@pytest.mark.parametrize("case", FIT_CASES)
@property_settings(max_examples=15)
@given(data=st.data())
def test_any_row_chunking_gives_the_same_fit(case: str, data: st.DataObject):
    """A dask fit with any row chunking equals the one-chunk fit and the NumPy fit."""
    problem, chunks = data.draw(chunked_fits(case))
    event(f"one-row chunks: {1 in chunks}")  # shown by --hypothesis-show-statistics
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reference = fit_numpy(problem)
        single = fit_dask(problem, (len(problem.X),))
        chunked = fit_dask(problem, chunks)
    assert_same_fit(single, reference)
    assert_same_fit(chunked, single)
    assert_same_fit(chunked, reference)


CLUSTER_ROWS = 40
#: Unbalanced with single rows, and balanced (the property test covers one chunk).
CLUSTER_CHUNKINGS = [(1, 1, 12, 26), (7, 7, 7, 7, 7, 5)]


def test_row_chunkings_give_the_same_fit_on_the_cluster(client: Client):
    """On the 2-worker cluster, two chunkings give the NumPy fit for every estimator."""
    for case in FIT_CASES:
        problem = make_fit_problem(
            case, seed=5, n_samples=CLUSTER_ROWS, n_features=3, weighted=True
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            reference = fit_numpy(problem)
            for chunks in CLUSTER_CHUNKINGS:
                assert_same_fit(fit_dask(problem, chunks), reference)
