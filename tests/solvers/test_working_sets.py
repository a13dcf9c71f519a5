"""The working-set solver of the wide elastic net, on NumPy: its block statistics, its
sets, and its solutions against scikit-learn's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse
from sklearn import linear_model

from daskgd.losses import HalfSquaredError
from daskgd.objective import LinearObjective
from daskgd.oracles.numpy import NumpyOracle
from daskgd.penalties import ElasticNet
from daskgd.solvers.working_sets import next_working_set, solve_working_sets
from daskgd.working_sets import (
    block_working_set,
    centred_residual_statistics,
    merge_working_set_partials,
)

#: scikit-learn run to a far tighter tolerance than ours: its answer is the optimum.
TIGHT = {"tol": 1e-12, "max_iter": 100_000}
N_ROWS, N_FEATURES = 300, 400
#: Small sets, so that a fit takes several (the estimators use 4096).
MAX_SET = 100


def _data(n_targets: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, N_FEATURES)) + 0.5
    coef = np.zeros((N_FEATURES, n_targets))
    support = rng.choice(N_FEATURES, 12, replace=False)
    coef[support] = rng.normal(scale=2.0, size=(12, n_targets))
    y = X @ coef + 3.0 + rng.standard_normal((N_ROWS, n_targets))
    return X, y, rng.uniform(0.2, 2.0, N_ROWS)


def _objective(alpha: float, l1_ratio: float, positive: bool, n_targets: int = 1, **kw: Any):
    penalty = ElasticNet(alpha, l1_ratio, positive)
    return LinearObjective(
        HalfSquaredError(), penalty, N_FEATURES, n_targets, penalty_per_weight=True, **kw
    )


CASES = {
    "lasso": (0.5, 1.0, False),
    "elastic-net": (0.5, 0.5, False),
    "positive": (0.5, 1.0, True),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("case", list(CASES))
def test_working_sets_reach_scikit_learns_solution(case, fit_intercept, weighted):
    alpha, l1_ratio, positive = CASES[case]
    X, y, weight = _data()
    sample_weight = weight if weighted else None
    objective = _objective(alpha, l1_ratio, positive, fit_intercept=fit_intercept)
    oracle = NumpyOracle(objective, X, y, sample_weight)
    result = solve_working_sets(oracle, tol=1e-10, positive=positive, max_set=MAX_SET)
    theirs = linear_model.ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, positive=positive, fit_intercept=fit_intercept, **TIGHT
    ).fit(X, y[:, 0], sample_weight=sample_weight)
    W, b = objective.unpack(result.coef)
    assert result.converged
    np.testing.assert_allclose(W[:, 0], theirs.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(W[:, 0] == 0, theirs.coef_ == 0)
    assert b[0] == pytest.approx(theirs.intercept_, rel=1e-8, abs=1e-10)
    # Several sets (none holds more than MAX_SET), each one pass, then the confirming one.
    sizes = result.info["working_set_sizes"]
    assert len(sizes) >= 2 and max(sizes) <= MAX_SET
    assert oracle.n_passes == len(sizes) + 1
    assert 0 <= result.info["dual_gap"][0] < 1e-10 * np.var(y) * 10


def test_several_targets_share_the_sets_and_equal_their_separate_fits():
    X, y, _ = _data(n_targets=2, seed=1)
    objective = _objective(0.5, 0.8, False, n_targets=2, fit_intercept=True)
    result = solve_working_sets(NumpyOracle(objective, X, y), tol=1e-10, max_set=MAX_SET)
    W, b = objective.unpack(result.coef)
    for k in range(2):
        theirs = linear_model.ElasticNet(alpha=0.5, l1_ratio=0.8, **TIGHT).fit(X, y[:, k])
        np.testing.assert_allclose(W[:, k], theirs.coef_, rtol=1e-6, atol=1e-8)
        assert b[k] == pytest.approx(theirs.intercept_, rel=1e-8)


class _MemoryCheckpoint:
    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    def due(self, iteration: int) -> bool:
        return True

    def save(self, state: dict[str, Any]) -> None:
        self.states.append(dict(state))


def test_a_run_resumed_from_its_checkpoint_ends_with_the_same_bits():
    X, y, weight = _data(seed=2)
    objective = _objective(0.5, 1.0, False, fit_intercept=True)
    checkpoint = _MemoryCheckpoint()
    whole = solve_working_sets(
        NumpyOracle(objective, X, y, weight), tol=1e-10, max_set=MAX_SET, checkpoint=checkpoint
    )
    assert len(checkpoint.states) >= 2
    oracle = NumpyOracle(objective, X, y, weight)
    resumed = solve_working_sets(oracle, tol=1e-10, max_set=MAX_SET, resume=checkpoint.states[1])
    np.testing.assert_array_equal(resumed.coef, whole.coef)
    assert resumed.info == whole.info
    assert oracle.data_passes == len(whole.history)


def test_chunk_statistics_merge_to_the_whole_and_csr_gives_the_dense_values():
    X, y, weight = _data(seed=3)
    objective = _objective(0.5, 1.0, False, fit_intercept=True)
    rng = np.random.default_rng(4)
    coef = np.zeros(objective.n_coef)
    coef[rng.choice(N_FEATURES, 20, replace=False)] = rng.normal(size=20)
    coef[-1] = 1.5
    columns = np.sort(rng.choice(N_FEATURES, 30, replace=False))
    whole = block_working_set(objective, X, y, weight, coef, columns)
    bounds = [0, 70, 71, 200, N_ROWS]
    parts = [
        block_working_set(objective, X[a:b], y[a:b], weight[a:b], coef, columns)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    merged = merge_working_set_partials(parts)
    sparse = block_working_set(objective, scipy.sparse.csr_matrix(X), y, weight, coef, columns)
    for name, value in whole.items():
        np.testing.assert_allclose(merged[name], value, rtol=1e-10, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(sparse[name], value, rtol=1e-10, atol=1e-9, err_msg=name)
    # The centred correlations are those of the centred data, at any intercept.
    correlation, residual_ss, x_mean = centred_residual_statistics(whole, fit_intercept=True)
    mean_x, mean_y = weight @ X / weight.sum(), weight @ y / weight.sum()
    residual = (y - mean_y) - (X - mean_x) @ coef[:-1, np.newaxis]
    np.testing.assert_allclose(correlation, (X - mean_x).T @ (weight[:, None] * residual))
    np.testing.assert_allclose(residual_ss, [weight @ residual[:, 0] ** 2])
    np.testing.assert_allclose(x_mean, mean_x)
    np.testing.assert_allclose(
        whole["xx"],
        np.cov(X[:, columns].T, aweights=weight, bias=True) * weight.sum(),
        rtol=1e-9,
        atol=1e-9,
    )


def test_a_set_holds_the_support_then_the_worst_violators_first():
    W = np.zeros((10, 1))
    W[[2, 7], 0] = [1.0, -0.5]
    correlation = np.array([[0.1], [3.0], [9.0], [-2.5], [0.0], [1.5], [-4.0], [0.2], [2.0], [0.3]])
    # Support {2, 7}; then by |correlation|: 6 (4.0), 1 (3.0), 3 (2.5); cut at the limit.
    np.testing.assert_array_equal(next_working_set(W, correlation, 1.0, False, 5), [1, 2, 3, 6, 7])
    # positive=True ranks by the signed correlation: 1 (3.0), 8 (2.0), 5 (1.5).
    np.testing.assert_array_equal(next_working_set(W, correlation, 1.0, True, 5), [1, 2, 5, 7, 8])


def test_a_support_larger_than_a_set_stops_and_says_so():
    X, y, _ = _data()
    objective = _objective(0.05, 1.0, False, fit_intercept=True)  # 110 nonzero coefficients
    oracle = NumpyOracle(objective, X, y)
    result = solve_working_sets(oracle, tol=1e-10, max_set=MAX_SET)
    assert not result.converged
    assert "more than 100 nonzero coefficients" in result.message
    assert oracle.n_passes < 10
