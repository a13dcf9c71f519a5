"""The dask oracle against the NumPy one, and the block functions it is built from.

``DaskOracle`` evaluates the same :class:`~daskgd.objective.LinearObjective` as
``NumpyOracle``, one row chunk per task and a tree reduction of the partials, so
the two agree to rounding for any chunking and any ``split_every``; with the
reduction order fixed, one dask oracle gives the same bits on every call.

Most tests run on dask's synchronous scheduler (a pass costs milliseconds);
the reproducibility tests run on the shared 2-worker cluster as well.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback
from dask.utils import key_split
from distributed import Client

from daskgd.losses import BinaryLogLoss, HalfSquaredError, MultinomialLogLoss
from daskgd.objective import LinearObjective, combine_partials, merge_gram_partials, sum_partials
from daskgd.oracles.dask import DaskOracle
from daskgd.oracles.numpy import NumpyOracle
from daskgd.penalties import L2

N_SAMPLES, N_FEATURES = 157, 4
LOSSES = {
    "squared-1": (HalfSquaredError(), 1),
    "squared-2": (HalfSquaredError(), 2),
    "binary": (BinaryLogLoss(), 1),
    "multinomial": (MultinomialLogLoss(), 3),
}
# (row chunks, split_every): one chunk; 8 chunks reduced by 2, 3 and 8 (trees of depth
# 3, 2 and 1); unbalanced chunks, down to a single row.
PARTITIONS = [(N_SAMPLES, 8), (20, 2), (20, 3), (20, 8), ((1, 7, 60, 89), 3), ((50, 50, 50, 7), 2)]
GRAM_KEYS = ("n", "mean_x", "mean_y", "xx", "xy", "yy")


def assert_close(actual: Any, desired: Any, rtol: float = 1e-12) -> None:
    """Entry-wise ``rtol`` with an absolute floor of ``rtol`` times the largest entry.

    Chunked sums add the same terms in another order; an entry that is small because
    its terms cancel is only accurate relative to the size of the terms, which the
    largest entry stands for.
    """
    desired = np.asarray(desired, dtype=np.float64)
    scale = float(np.max(np.abs(desired), initial=0.0))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def make_problem(
    loss_name: str,
    *,
    weighted: bool,
    fit_intercept: bool,
    n_samples: int = N_SAMPLES,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, LinearObjective, np.ndarray]:
    """``X``, 2-D encoded ``y``, weights (some exactly 0), the objective and a coefficient."""
    rng = np.random.default_rng(seed)
    loss, n_outputs = LOSSES[loss_name]
    # Off-centre columns, so that the centring of the Gram partials matters.
    X = rng.normal(size=(n_samples, N_FEATURES)) + np.array([3.0, -1.0, 0.0, 0.5])
    if isinstance(loss, HalfSquaredError):
        y = rng.normal(size=(n_samples, n_outputs)) + 2.0
    else:
        n_classes = max(2, n_outputs)
        y = rng.integers(0, n_classes, size=(n_samples, 1)).astype(np.float64)
    sample_weight = None
    if weighted:
        sample_weight = rng.uniform(0.0, 2.0, size=n_samples)
        sample_weight[::10] = 0.0
    objective = LinearObjective(
        loss=loss,
        penalty=L2(0.7),
        n_features=N_FEATURES,
        n_outputs=n_outputs,
        fit_intercept=fit_intercept,
    )
    coef = 0.3 * rng.normal(size=objective.n_coef)
    return X, y, sample_weight, objective, coef


def dask_oracle(
    objective: LinearObjective,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    chunks: Any,
    *,
    split_every: int = 8,
    cache: bool = False,
) -> DaskOracle:
    """A DaskOracle over ``from_array`` copies; ``chunks``: an int or a tuple of row counts."""
    return DaskOracle(
        objective,
        da.from_array(X, chunks=(chunks, X.shape[1])),
        da.from_array(y, chunks=(chunks, y.shape[1])),
        None if sample_weight is None else da.from_array(sample_weight, chunks=(chunks,)),
        cache=cache,
        split_every=split_every,
    )


def evaluate(oracle: Any, coef: np.ndarray) -> dict[str, Any]:
    """Every evaluation an oracle offers, at ``coef``."""
    value, grad = oracle.value_and_grad(coef)
    value_h, grad_h, hess = oracle.value_grad_hessian(coef)
    gram = oracle.gram()
    return {
        "value": value,
        "grad": grad,
        "value_h": value_h,
        "grad_h": grad_h,
        "hess": hess,
        **{f"gram_{key}": gram[key] for key in GRAM_KEYS},
    }


@pytest.fixture
def sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


# ---- the dask oracle equals the NumPy one ----


@pytest.mark.usefixtures("sync_scheduler")
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_dask_oracle_equals_numpy_oracle(loss_name, weighted, fit_intercept):
    X, y, sample_weight, objective, coef = make_problem(
        loss_name, weighted=weighted, fit_intercept=fit_intercept
    )
    numpy_oracle = NumpyOracle(objective, X, y, sample_weight)
    expected = evaluate(numpy_oracle, coef)
    assert expected["hess"].shape == (objective.n_coef, objective.n_coef)
    for chunks, split_every in PARTITIONS:
        oracle = dask_oracle(objective, X, y, sample_weight, chunks, split_every=split_every)
        assert oracle.weight_sum == pytest.approx(numpy_oracle.weight_sum, rel=1e-14)
        actual = evaluate(oracle, coef)
        for name, value in expected.items():
            try:
                assert_close(actual[name], value)
            except AssertionError as error:
                raise AssertionError(
                    f"{name}, chunks={chunks}, split_every={split_every}"
                ) from error


@pytest.mark.usefixtures("sync_scheduler")
def test_dask_oracle_with_cache_equals_numpy_oracle():
    X, y, sample_weight, objective, coef = make_problem(
        "multinomial", weighted=True, fit_intercept=True
    )
    expected = evaluate(NumpyOracle(objective, X, y, sample_weight), coef)
    oracle = dask_oracle(objective, X, y, sample_weight, 20, cache=True)
    assert oracle.persisted
    actual = evaluate(oracle, coef)
    for name, value in expected.items():
        assert_close(actual[name], value)


# ---- reproducibility: the reduction order is fixed ----


def _assert_identical(first: dict[str, Any], second: dict[str, Any]) -> None:
    for name in first:
        assert np.array_equal(first[name], second[name]), name


def _check_reproducible(
    loss_name: str, *, cache: bool, split_everys: tuple[int, ...], repeats: int, with_gram: bool
) -> None:
    X, y, sample_weight, objective, coef = make_problem(
        loss_name, weighted=True, fit_intercept=True
    )

    def run(oracle: DaskOracle) -> dict[str, Any]:
        value, grad = oracle.value_and_grad(coef)
        _, _, hess = oracle.value_grad_hessian(coef)
        result = {"value": value, "grad": grad, "hess": hess}
        if with_gram:
            result.update(oracle.gram())
        return result

    for split_every in split_everys:
        oracle = dask_oracle(
            objective, X, y, sample_weight, 20, split_every=split_every, cache=cache
        )
        first = run(oracle)
        for _ in range(repeats):
            _assert_identical(first, run(oracle))
        # A second oracle over the same chunks with the same split_every: the same bits.
        twin = dask_oracle(objective, X, y, sample_weight, 20, split_every=split_every, cache=cache)
        _assert_identical(first, run(twin))


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_dask_oracle_is_bit_reproducible_locally(scheduler):
    with dask.config.set(scheduler=scheduler):
        for loss_name in ("binary", "multinomial"):
            _check_reproducible(
                loss_name, cache=False, split_everys=(2, 3, 8), repeats=2, with_gram=True
            )


@pytest.mark.parametrize("cache", [False, True], ids=["streamed", "cached"])
def test_dask_oracle_is_bit_reproducible_on_the_cluster(client: Client, cache: bool):
    # Chunks may run on either worker, and cached ones may move between them.
    _check_reproducible("binary", cache=cache, split_everys=(3,), repeats=2, with_gram=False)


def _misaligned_copy(block: np.ndarray) -> np.ndarray:
    """A copy of ``block`` whose data starts 1 byte past an 8-byte boundary.

    That is how a chunk can arrive after travelling between dask.distributed workers:
    deserialised in place from a message frame, at whatever offset it had there.
    """
    buffer = np.empty(block.nbytes + 16, dtype=np.uint8)
    start = (-buffer.ctypes.data) % 8 + 1
    copy = np.frombuffer(buffer[start : start + block.nbytes], dtype=block.dtype)
    copy = copy.reshape(block.shape)
    copy[...] = block
    assert not copy.flags.aligned
    return copy


@pytest.mark.usefixtures("sync_scheduler")
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_dask_oracle_bits_do_not_depend_on_chunk_memory_alignment(loss_name):
    # Results must not depend on where chunks ran, so not on the byte offset at which a
    # chunk landed in memory either.
    X, y, sample_weight, objective, coef = make_problem(
        loss_name, weighted=True, fit_intercept=True
    )
    arrays = [
        da.from_array(X, chunks=(20, N_FEATURES)),
        da.from_array(y, chunks=(20, y.shape[1])),
        da.from_array(sample_weight, chunks=20),
    ]
    aligned = DaskOracle(objective, *arrays, cache=False, split_every=3)
    misaligned = DaskOracle(
        objective,
        *[array.map_blocks(_misaligned_copy, dtype=array.dtype) for array in arrays],
        cache=False,
        split_every=3,
    )
    _assert_identical(evaluate(aligned, coef), evaluate(misaligned, coef))


# ---- passes and graphs ----


class _ComputeCounter(Callback):
    """Counts the computations that dask's local schedulers start."""

    def __init__(self) -> None:
        super().__init__()
        self.n_computes = 0

    def _start(self, dsk: Any) -> None:
        self.n_computes += 1


@pytest.mark.usefixtures("sync_scheduler")
def test_one_pass_and_one_compute_per_call():
    X, y, sample_weight, objective, coef = make_problem(
        "squared-2", weighted=True, fit_intercept=True
    )
    numpy_oracle = NumpyOracle(objective, X, y, sample_weight)
    oracle = dask_oracle(objective, X, y, sample_weight, 20, split_every=3)
    assert oracle.n_passes == numpy_oracle.n_passes == 0
    # The weights are summed when first needed: one compute of its own, counted with
    # the passes made before the oracle's.
    counter = _ComputeCounter()
    with counter:
        assert oracle.weight_sum == pytest.approx(numpy_oracle.weight_sum)
    assert counter.n_computes == 1
    assert oracle.prior_passes == numpy_oracle.prior_passes == 1
    calls = [
        lambda o: o.value_and_grad(coef),
        lambda o: o.value_grad_hessian(coef),
        lambda o: o.gram(),
        lambda o: o.value_and_grad(coef),
    ]
    for expected_passes, call in enumerate(calls, start=1):
        counter = _ComputeCounter()
        with counter:
            call(oracle)
        assert counter.n_computes == 1
        assert oracle.n_passes == expected_passes
        call(numpy_oracle)
        assert numpy_oracle.n_passes == expected_passes
    # The prox of a smooth penalty is free: no pass.
    np.testing.assert_array_equal(oracle.prox(coef, 0.1), coef)
    assert oracle.n_passes == len(calls)


def _tree_size(n_chunks: int, split_every: int) -> int:
    """Number of combine tasks of a tree reduction of ``n_chunks`` partials."""
    total = 0
    while n_chunks > 1:
        n_chunks = -(-n_chunks // split_every)
        total += n_chunks
    return total


@pytest.mark.parametrize(
    ("kind", "block_name"),
    [
        ("loss_grad", "daskgd-grad"),
        ("loss_grad_hess", "daskgd-loss-grad-hess"),
        ("gram", "daskgd-gram"),
    ],
)
@pytest.mark.parametrize("split_every", [2, 3, 8])
def test_graph_task_keys_start_with_daskgd(kind, block_name, split_every):
    X, y, sample_weight, objective, coef = make_problem(
        "squared-1", weighted=True, fit_intercept=True
    )
    dX = da.from_array(X, chunks=(20, N_FEATURES))
    dy = da.from_array(y, chunks=(20, 1))
    dw = da.from_array(sample_weight, chunks=20)
    oracle = DaskOracle(objective, dX, dy, dw, cache=False, split_every=split_every)
    point = None if kind == "gram" else coef
    graph = dict(oracle.graph(kind, point).__dask_graph__())

    # The tasks that read the data are the input arrays' own; all others are daskgd's.
    data_keys: set[Any] = set()
    for array in (dX, dy, dw):
        for block in array.to_delayed().ravel():
            data_keys |= set(dict(block.__dask_graph__()))
    own = [key for key in graph if key not in data_keys]
    prefixes = [(key[0] if isinstance(key, tuple) else key) for key in own]
    assert all(str(prefix).startswith("daskgd-") for prefix in prefixes), prefixes

    names = [key_split(key) for key in own]
    n_chunks = dX.numblocks[0]
    assert names.count(block_name) == n_chunks
    assert names.count("daskgd-reduce") == _tree_size(n_chunks, split_every)
    assert names.count("daskgd-coef") == (0 if kind == "gram" else 1)
    assert set(names) <= {block_name, "daskgd-reduce", "daskgd-coef"}

    # Keys name the computation: the same point gives the same keys, another point others.
    assert set(oracle.graph(kind, point).__dask_graph__()) == set(graph)
    if point is not None:
        assert not set(own) & set(oracle.graph(kind, point + 1.0).__dask_graph__())


# ---- derivatives against finite differences of the objective value ----


@pytest.mark.usefixtures("sync_scheduler")
@pytest.mark.parametrize("oracle_kind", ["numpy", "dask"])
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_gradient_and_hessian_match_finite_differences(oracle_kind, loss_name):
    X, y, sample_weight, objective, coef = make_problem(
        loss_name, weighted=True, fit_intercept=True, n_samples=30, seed=1
    )
    if oracle_kind == "numpy":
        oracle: Any = NumpyOracle(objective, X, y, sample_weight)
    else:
        oracle = dask_oracle(objective, X, y, sample_weight, (7, 11, 12), split_every=2)
    value, grad = oracle.value_and_grad(coef)
    _, grad_h, hess = oracle.value_grad_hessian(coef)
    np.testing.assert_allclose(grad_h, grad, rtol=1e-14, atol=1e-15)
    # Central differences with step h: truncation O(h^2), rounding O(eps |f| / h) ~ 1e-10.
    step = 1e-6
    basis = np.eye(objective.n_coef)
    grad_fd = np.array(
        [
            (oracle.value_and_grad(coef + step * e)[0] - oracle.value_and_grad(coef - step * e)[0])
            / (2 * step)
            for e in basis
        ]
    )
    np.testing.assert_allclose(grad, grad_fd, rtol=1e-6, atol=1e-8)
    hess_fd = np.array(
        [
            (oracle.value_and_grad(coef + step * e)[1] - oracle.value_and_grad(coef - step * e)[1])
            / (2 * step)
            for e in basis
        ]
    )
    np.testing.assert_allclose(hess, hess_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(hess, hess.T)
    assert np.isfinite(value)


# ---- the pure block functions of objective.py, on NumPy ----


@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_block_gram_merged_across_a_split_equals_the_whole(weighted, fit_intercept):
    X, y, sample_weight, objective, _ = make_problem(
        "squared-2", weighted=weighted, fit_intercept=fit_intercept
    )
    whole = objective.block_gram(X, y, sample_weight)
    for cuts in [(1,), (80,), (156,), (3, 50, 51, 120)]:
        bounds = (0, *cuts, N_SAMPLES)
        parts = [
            objective.block_gram(
                X[a:b], y[a:b], None if sample_weight is None else sample_weight[a:b]
            )
            for a, b in pairwise(bounds)
        ]
        merged = merge_gram_partials(parts)
        for key in GRAM_KEYS:
            assert_close(merged[key], whole[key])
        assert combine_partials("gram", parts)["n"] == merged["n"]
    if not fit_intercept:
        np.testing.assert_array_equal(whole["mean_x"], 0.0)
        np.testing.assert_array_equal(whole["mean_y"], 0.0)


def test_block_gram_merge_is_accurate_far_from_the_origin():
    # Columns with means 1e4 times their spread: centring each block and merging with the
    # pairwise update loses nothing, where uncentred sums would lose eight digits.
    X, y, sample_weight, objective, _ = make_problem("squared-1", weighted=True, fit_intercept=True)
    X, y = X + 1e4, y - 1e4
    whole = objective.block_gram(X, y, sample_weight)
    parts = [
        objective.block_gram(X[a : a + 20], y[a : a + 20], sample_weight[a : a + 20])
        for a in range(0, N_SAMPLES, 20)
    ]
    merged = merge_gram_partials(parts)
    for key in GRAM_KEYS:
        assert_close(merged[key], whole[key], rtol=1e-10)


@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
def test_merge_gram_partials_ignores_a_zero_weight_part(fit_intercept):
    X, y, sample_weight, objective, _ = make_problem(
        "squared-2", weighted=True, fit_intercept=fit_intercept
    )
    first = objective.block_gram(X[:60], y[:60], sample_weight[:60])
    second = objective.block_gram(X[60:], y[60:], sample_weight[60:])
    zero = objective.block_gram(X[:25] * 7.0, y[:25] - 3.0, np.zeros(25))
    empty = objective.block_gram(X[:0], y[:0], sample_weight[:0])
    assert zero["n"] == empty["n"] == 0.0
    expected = merge_gram_partials([first, second])
    for parts in [
        [first, zero, second],
        [zero, first, second],
        [first, second, zero],
        [empty, first, empty, second],
    ]:
        merged = merge_gram_partials(parts)
        for key in GRAM_KEYS:
            assert np.array_equal(merged[key], expected[key]), key
    # Only zero-weight parts: a zero total, no division by zero.
    nothing = merge_gram_partials([zero, empty])
    assert nothing["n"] == 0.0
    assert all(np.all(np.isfinite(nothing[key])) for key in GRAM_KEYS)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_loss_grad_hess_partials_sum_across_a_split(loss_name):
    X, y, sample_weight, objective, coef = make_problem(
        loss_name, weighted=True, fit_intercept=True
    )
    whole = objective.block_loss_grad_hess(X, y, sample_weight, coef)
    bounds = (0, 1, 8, 100, N_SAMPLES)
    parts = [
        objective.block_loss_grad_hess(X[a:b], y[a:b], sample_weight[a:b], coef)
        for a, b in pairwise(bounds)
    ]
    for combined in (sum_partials(parts), combine_partials("loss_grad_hess", parts)):
        assert set(combined) == set(whole)
        for key, value in whole.items():
            assert_close(combined[key], value)
    grad_only = objective.block_loss_grad(X, y, sample_weight, coef)
    for key in ("n", "loss", "grad"):
        assert_close(whole[key], grad_only[key], rtol=1e-15)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_panels_of_a_dense_block_sum_to_the_whole_block(
    loss_name, weighted, fit_intercept, monkeypatch
):
    import daskgd.objective

    X, y, sample_weight, objective, coef = make_problem(
        loss_name, weighted=weighted, fit_intercept=fit_intercept, n_samples=1000
    )
    whole = objective.block_loss_grad_hess(X, y, sample_weight, coef)
    whole_grad = objective.block_loss_grad(X, y, sample_weight, coef)
    # The smallest panels (256 rows): four panels, the last one short.
    monkeypatch.setattr(daskgd.objective, "PANEL_BYTES", 1)
    assert objective._panel_rows() == 256
    panels = objective.block_loss_grad_hess(X, y, sample_weight, coef)
    panels_grad = objective.block_loss_grad(X, y, sample_weight, coef)
    for combined, reference in ((panels, whole), (panels_grad, whole_grad)):
        assert set(combined) == set(reference)
        for key, value in reference.items():
            assert_close(combined[key], value)
    for key in ("n", "loss", "grad"):
        assert_close(panels[key], panels_grad[key], rtol=1e-15)
