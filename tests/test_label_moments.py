"""The label pass that brings a classifier's objective at zero (LabelMoments).

The block math against the objective's own pass at ``coef = 0``, the merge of
chunk partials against the whole, and a LogisticRegression on a cluster: the
same fit with one pass fewer.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.sparse
from distributed import Client

import daskgd.objective
from daskgd import LogisticRegression
from daskgd.engine.label_moments import LabelMomentsPartial
from daskgd.losses import BinaryLogLoss, HalfSquaredError, MultinomialLogLoss
from daskgd.objective import LinearObjective, block_label_moments
from daskgd.penalties import L2

N_SAMPLES, N_FEATURES = 700, 5


def _problem(n_classes: int, weighted: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES)) + np.arange(N_FEATURES)
    labels = rng.choice(np.array([-3.0, 0.5, 7.0, 9.0])[:n_classes], size=N_SAMPLES)
    weight = rng.uniform(0.0, 2.0, size=N_SAMPLES) if weighted else None
    return X, labels, weight


def _objective(n_classes: int, fit_intercept: bool) -> LinearObjective:
    loss = BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss()
    n_outputs = 1 if n_classes == 2 else n_classes
    return LinearObjective(loss, L2(0.3), N_FEATURES, n_outputs, fit_intercept)


def _assert_close(actual, desired, rtol=1e-12):
    scale = float(np.max(np.abs(desired), initial=0.0))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("layout", ["dense", "panels", "sparse"])
def test_label_moments_give_the_pass_at_zero(
    n_classes, weighted, fit_intercept, layout, monkeypatch
):
    X, labels, weight = _problem(n_classes, weighted)
    if layout == "panels":  # panels of 256 rows, the last one short
        monkeypatch.setattr(daskgd.objective, "PANEL_BYTES", 1)
    block = scipy.sparse.csr_matrix(X) if layout == "sparse" else X
    objective = _objective(n_classes, fit_intercept)
    moments = block_label_moments(block, labels, weight, fit_intercept)
    np.testing.assert_array_equal(moments["values"], np.unique(labels))
    np.testing.assert_array_equal(moments["counts"], np.unique(labels, return_counts=True)[1])
    totals = objective.totals_at_zero(moments["weights"], moments["sums"], moments["gram"])
    encoded = np.searchsorted(moments["values"], labels).astype(np.float64)[:, np.newaxis]
    direct = objective.block_loss_grad_hess(X, encoded, weight, np.zeros(objective.n_coef))
    assert totals is not None and set(totals) == set(direct)
    for key, value in direct.items():
        _assert_close(totals[key], value)


def test_a_loss_whose_curvature_at_zero_depends_on_the_label_gets_no_totals():
    X, labels, _ = _problem(2, weighted=False)
    moments = block_label_moments(X, labels, None, True)
    # The half squared error is flat in the label; a loss that is not returns None.
    squared = LinearObjective(HalfSquaredError(), L2(0.3), N_FEATURES, 1, True)
    assert squared.totals_at_zero(moments["weights"], moments["sums"], moments["gram"]) is not None

    class LabelCurvedLoss(BinaryLogLoss):
        def hessian(self, y, raw_prediction):
            return super().hessian(y, raw_prediction) * (1.0 + y[:, :, np.newaxis])

    curved = LinearObjective(LabelCurvedLoss(), L2(0.3), N_FEATURES, 1, True)
    assert curved.totals_at_zero(moments["weights"], moments["sums"], moments["gram"]) is None


def test_chunk_partials_merge_to_the_whole_even_when_their_labels_differ():
    X, labels, weight = _problem(3, weighted=True)
    labels[:300] = np.where(labels[:300] == 9.0, 0.5, labels[:300])  # chunk 0 lacks 9.0
    labels[300:500] = -3.0  # chunk 1 holds one label
    bounds = [(0, 300), (300, 500), (500, N_SAMPLES)]
    parts = [
        LabelMomentsPartial.from_block(block_label_moments(X[a:b], labels[a:b], weight[a:b], True))
        for a, b in bounds
    ]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    whole = block_label_moments(X, labels, weight, True)
    np.testing.assert_array_equal(merged.values, whole["values"])
    np.testing.assert_array_equal(merged.counts, whole["counts"])
    for name in ("weights", "sums", "gram"):
        _assert_close(getattr(merged, name), whole[name])


def test_too_many_distinct_labels_keep_counts_but_no_moments(monkeypatch):
    monkeypatch.setattr(daskgd.objective, "MAX_MOMENT_LABELS", 2)
    X, labels, _ = _problem(3, weighted=False)
    moments = block_label_moments(X, labels, None, True)
    assert moments["sums"] is None and moments["gram"] is None
    assert moments["counts"].sum() == N_SAMPLES
    few = LabelMomentsPartial.from_block(block_label_moments(X[:10], np.zeros(10), None, True))
    merged = few.merge(LabelMomentsPartial.from_block(moments))
    assert merged.sums is None and merged.gram is None and merged.counts.sum() == N_SAMPLES + 10


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_newton_fit_takes_its_start_from_the_label_pass(client: Client, n_classes, weighted):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2_000, 6))
    raw = X @ rng.normal(size=(6, n_classes))
    y = np.argmax(raw + rng.gumbel(size=raw.shape), axis=1) * 10.0
    weight = rng.uniform(0.5, 2.0, size=len(y)) if weighted else None
    chunks = (300, 700, 1_000)
    dX, dy = da.from_array(X, chunks=(chunks, 6)), da.from_array(y, chunks=(chunks,))
    dw = None if weight is None else da.from_array(weight, chunks=(chunks,))
    params = {"C": 2.0, "solver": "newton", "tol": 1e-10}
    folded = LogisticRegression(**params).fit(dX, dy, sample_weight=dw)
    # Class weights of one are the same objective, but they keep the label pass
    # plain: the fit then evaluates its start in a pass of its own, and sums the
    # (class-weighted) rows' weights in another.
    ones = {label: 1.0 for label in np.unique(y)}
    plain = LogisticRegression(class_weight=ones, **params).fit(dX, dy, sample_weight=dw)
    in_memory = LogisticRegression(**params).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(folded.coef_, plain.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(folded.coef_, in_memory.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(folded.intercept_, in_memory.intercept_, rtol=1e-8, atol=1e-10)
    assert folded.n_iter_[0] == plain.n_iter_[0]
    assert folded.n_passes_ == plain.n_passes_ - 2
    assert folded.n_passes_ == in_memory.n_passes_ - 1 - int(weighted)
    assert not hasattr(folded, "_label_moments")
