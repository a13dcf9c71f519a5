"""LogisticRegressionCV against scikit-learn's: the same folds, scores, choice and refit."""

from __future__ import annotations

import pickle
import warnings

import dask.array as da
import numpy as np
import pytest
from sklearn import linear_model
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from daskgd import LogisticRegression, LogisticRegressionCV
from daskgd.estimators._logistic_cv_attributes import (
    CONFUSION_METRICS,
    SUM_SCORERS,
    confusion_score,
    positive_class,
)
from daskgd.folds import ALL_ROWS, block_fold_pass
from daskgd.losses import BinaryLogLoss
from daskgd.objective import LinearObjective
from daskgd.penalties import L2
from daskgd.solvers.newton_folds import solve_newton_folds
from daskgd.stratified import chunk_label_table, stratified_ranks, summarize_labels

QUIET = {"l1_ratios": (0,), "use_legacy_attributes": False, "scoring": "neg_log_loss"}


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    return _standardised(load_breast_cancer)


@pytest.fixture(scope="module")
def wine():
    return _standardised(load_wine)


def _uneven(X, y, sizes):
    chunks = (tuple(sizes) + (len(y) - sum(sizes),),)
    return da.from_array(X, chunks=(chunks[0], X.shape[1])), da.from_array(y, chunks=chunks)


def _assert_same(ours, theirs, coef_rtol=1e-5):
    assert ours.C_ == theirs.C_
    assert ours.l1_ratio_ == theirs.l1_ratio_
    np.testing.assert_allclose(ours.Cs_, theirs.Cs_)
    np.testing.assert_allclose(ours.scores_, theirs.scores_, rtol=0, atol=1e-6)
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=coef_rtol * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=coef_rtol * scale)
    assert ours.coefs_paths_.shape == theirs.coefs_paths_.shape
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


# ---- the folds ----


@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_stratified_ranks_are_stratified_kfolds_test_folds(n_splits):
    rng = np.random.default_rng(n_splits)
    y = rng.permutation(np.repeat(np.array(["b", "c", "a"]), [61, 17, 40]))
    sizes = [13, 1, 40, 29, 35]  # uneven chunks
    starts = np.cumsum([0, *sizes[:-1]])
    blocks = np.split(y, starts[1:])
    summary = summarize_labels([chunk_label_table(b, None) for b in blocks], list(starts))
    ranks = stratified_ranks(summary, n_splits)
    encoded = np.searchsorted(summary.classes, y)
    ours = np.concatenate(
        [
            ranks.folds_of_chunk(i, int(start), encoded[start : start + len(block)])
            for i, (start, block) in enumerate(zip(starts, blocks, strict=True))
        ]
    )
    np.testing.assert_array_equal(ours, StratifiedKFold(n_splits)._make_test_folds(None, y))


def test_too_few_rows_per_class_fail_as_in_scikit_learn():
    summary = summarize_labels([chunk_label_table(np.array([0, 0, 1]), None)], [0])
    with pytest.raises(ValueError, match="cannot be greater than the number of members"):
        stratified_ranks(summary, 3)
    with pytest.warns(UserWarning, match="least populated class in y has only 1"):
        stratified_ranks(summary, 2)


def test_fold_pass_equals_the_sums_of_each_folds_rows():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = (rng.random(50) < 0.4).astype(float)[:, None]
    weight = rng.uniform(0.5, 2.0, 50)
    fold = rng.integers(0, 3, 50)
    objective = LinearObjective(BinaryLogLoss(), L2(1.0), 3, 1, True)
    points = {k: rng.standard_normal(4) for k in (0, 2, ALL_ROWS)}
    sums = block_fold_pass(objective, X, y, weight, fold, np.array([1.0, 3.0]), points)
    for k, coef in points.items():
        train = fold != k
        class_weighted = weight * np.where(y[:, 0] == 1, 3.0, 1.0)
        expected = objective.block_loss_grad_hess(X[train], y[train], class_weighted[train], coef)
        np.testing.assert_allclose(sums[k]["grad"], expected["grad"])
        np.testing.assert_allclose(sums[k]["hess"], expected["hess"])
        assert sums[k]["test_n"] == pytest.approx(weight[~train].sum())


def test_lockstep_newton_leaves_converged_folds_out():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 2))
    y = (X[:, 0] + rng.standard_normal(80) > 0).astype(float)[:, None]
    fold = np.arange(80) % 2
    objective = LinearObjective(BinaryLogLoss(), L2(1.0), 2, 1, True)
    asked = []

    def evaluate(points):
        asked.append(sorted(points))
        return block_fold_pass(objective, X, y, None, fold, None, points)

    first = solve_newton_folds(objective, evaluate, {0: np.zeros(3), 1: np.zeros(3)}, tol=1e-10)
    assert first.n_passes == len(asked)
    # From the solutions, with their sums known, nothing is left to evaluate.
    asked.clear()
    starts = {k: r.coef for k, r in first.results.items()}
    known = {k: r.info["partial"] for k, r in first.results.items()}
    again = solve_newton_folds(objective, evaluate, starts, known=known, tol=1e-10)
    assert again.n_passes == 0 and asked == []


# ---- against scikit-learn, in memory ----


def test_binary_equals_scikit_learn(cancer):
    X, y = cancer
    params = {"Cs": 10, "cv": 5, "tol": 1e-10, **QUIET}
    ours = LogisticRegressionCV(**params).fit(X, y)
    theirs = linear_model.LogisticRegressionCV(solver="newton-cholesky", **params).fit(X, y)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours.coefs_paths_, theirs.coefs_paths_, atol=1e-6)
    # label pass + one pass at zero + the trial steps of every C + the refit's.
    steps = ours.n_iter_.max(axis=0).sum()
    assert ours.n_passes_ <= 1 + 1 + steps + 1 + 10


def test_multinomial_equals_scikit_learn(wine):
    X, y = wine
    params = {"Cs": np.logspace(-3, 2, 6), "cv": 4, "tol": 1e-10, **QUIET}
    ours = LogisticRegressionCV(**params).fit(X, y)
    theirs = linear_model.LogisticRegressionCV(solver="newton-cholesky", **params).fit(X, y)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours.coefs_paths_, theirs.coefs_paths_, atol=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        {"scoring": None, "refit": False},
        {"class_weight": "balanced", "cv": KFold(3)},
        {"fit_intercept": False, "cv": KFold(4, shuffle=True, random_state=0)},
    ],
    ids=repr,
)
def test_options_equal_scikit_learn(cancer, params):
    X, y = cancer
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    params = {**QUIET, "Cs": 5, "tol": 1e-10, **params}
    ours = LogisticRegressionCV(**params).fit(X, y, sample_weight=weight)
    theirs = linear_model.LogisticRegressionCV(solver="newton-cholesky", **params)
    theirs.fit(X, y, sample_weight=weight)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("l1_ratios", [(1.0,), (0.3, 0.9)], ids=["l1", "elasticnet"])
def test_l1_paths_are_each_folds_prox_newton_fit_and_match_saga(cancer, l1_ratios):
    X, y = cancer
    params = {"Cs": [0.05, 0.2], "cv": 3, "l1_ratios": l1_ratios, "scoring": "neg_log_loss"}
    params["use_legacy_attributes"] = False
    ours = LogisticRegressionCV(tol=1e-10, **params).fit(X, y)
    # Each fold's path point is the proximal Newton fit of its training rows.
    for k, (train, _) in enumerate(StratifiedKFold(3).split(X, y)):
        for j, ratio in enumerate(l1_ratios):
            single = LogisticRegression(C=0.2, l1_ratio=ratio, solver="prox-newton", tol=1e-10)
            single.fit(X[train], y[train])
            path = ours.coefs_paths_[k, j, 1, 0]
            np.testing.assert_allclose(path[:-1], single.coef_[0], atol=1e-7)
    # saga converges slowly: its scores and coefficients to its own accuracy.
    theirs = linear_model.LogisticRegressionCV(solver="saga", tol=1e-6, max_iter=3000, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
    assert (ours.C_, ours.l1_ratio_) == (theirs.C_, theirs.l1_ratio_)
    np.testing.assert_allclose(ours.scores_, theirs.scores_, atol=1e-3)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-2 * np.abs(theirs.coef_).max())


def test_legacy_attributes_and_scikit_learns_warnings(wine):
    X, y = wine
    with pytest.warns(FutureWarning) as ours_record:
        ours = LogisticRegressionCV(Cs=[0.01, 0.1, 1.0], cv=3, tol=1e-10).fit(X, y)
    with pytest.warns(FutureWarning) as theirs_record:
        theirs = linear_model.LogisticRegressionCV(
            Cs=[0.01, 0.1, 1.0], cv=3, tol=1e-10, solver="newton-cholesky"
        )
        theirs.fit(X, y)
    assert [str(w.message) for w in ours_record if w.category is FutureWarning] == [
        str(w.message) for w in theirs_record if w.category is FutureWarning
    ]
    for name in ("C_", "l1_ratio_", "l1_ratios_", "n_iter_"):
        assert np.shape(getattr(ours, name)) == np.shape(getattr(theirs, name)), name
    assert ours.scores_.keys() == theirs.scores_.keys()
    for label in theirs.scores_:
        np.testing.assert_allclose(ours.scores_[label], theirs.scores_[label], atol=1e-6)
        assert ours.coefs_paths_[label].shape == theirs.coefs_paths_[label].shape
    assert ours.C_.tolist() == theirs.C_.tolist()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"Cs": [1.0, 0.0]}, "Cs must be positive"),
        ({"Cs": [-1.0]}, "Cs must be positive"),
        ({"l1_ratios": (0.5, 1.5)}, "l1_ratios must be an array-like of numbers between 0 and 1"),
        ({"l1_ratios": (-0.1,)}, "l1_ratios must be an array-like"),
        ({"solver": "gd"}, "solver='gd' is not supported"),
        ({"cv": ShuffleSplit(3, random_state=0)}, "partition"),
    ],
)
def test_bad_parameters_are_refused(cancer, params, match):
    X, y = cancer
    estimator = LogisticRegressionCV(**{**QUIET, **params})
    with pytest.raises(ValueError, match=match):
        estimator.fit(X, y)


def test_zero_cs_are_refused_by_the_parameter_check(cancer):
    with pytest.raises(InvalidParameterError, match="Cs"):
        LogisticRegressionCV(Cs=0, **QUIET).fit(*cancer)


# ---- dask input ----


def test_dask_uneven_chunks_equal_numpy_and_scikit_learn(client, cancer, wine):
    for (X, y), sizes in ((cancer, [100, 37, 211, 5]), (wine, [50, 3, 61])):
        # (At tol=1e-9 rounding can stop one wine fold short of tol at C=100, in one
        # of the two fits but not the other, as the BLAS build rounds: they then
        # differ by 1.5e-5. At tol=1e-8 every fold converges, and they agree to 1e-10.)
        params = {"Cs": np.logspace(-3, 2, 6), "cv": 5, "tol": 1e-8, **QUIET}
        dX, dy = _uneven(X, y, sizes)
        ours = LogisticRegressionCV(**params).fit(dX, dy)
        in_memory = LogisticRegressionCV(**params).fit(X, y)
        theirs = linear_model.LogisticRegressionCV(solver="newton-cholesky", **params).fit(X, y)
        _assert_same(ours, theirs)
        np.testing.assert_allclose(ours.coefs_paths_, in_memory.coefs_paths_, atol=1e-6)
        assert ours.n_passes_ == in_memory.n_passes_
        np.testing.assert_array_equal(ours.predict(dX).compute(), in_memory.predict(X))
        assert ours.score(dX, dy) == pytest.approx(in_memory.score(X, y))
        # The fit's frame (futures of kept chunks) does not outlive it: the model pickles.
        assert not {"_frame", "_folds_in_memory"} & set(vars(ours))
        restored = pickle.loads(pickle.dumps(ours))
        np.testing.assert_array_equal(restored.predict(X), in_memory.predict(X))


def test_dask_shuffled_stratified_folds_equal_numpy_and_scikit_learn(client, cancer):
    X, y = cancer
    cv = StratifiedKFold(4, shuffle=True, random_state=3)
    params = {"Cs": np.logspace(-2, 1, 4), "cv": cv, "tol": 1e-8, **QUIET}
    dX, dy = _uneven(X, y, [150, 9, 200])
    ours = LogisticRegressionCV(**params).fit(dX, dy)
    in_memory = LogisticRegressionCV(**params).fit(X, y)
    theirs = linear_model.LogisticRegressionCV(solver="newton-cholesky", **params).fit(X, y)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours.coefs_paths_, in_memory.coefs_paths_, atol=1e-6)
    # The shuffled folds need the labels on the client: one pass over y.
    assert ours.n_passes_ == in_memory.n_passes_ + 1


# ---- scorers from the folds' sums ----

CONFUSION_SCORERS = [name for name in SUM_SCORERS if name not in ("accuracy", "neg_log_loss")]


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("name", CONFUSION_SCORERS)
def test_confusion_scores_are_scikit_learns(name, n_classes):
    from sklearn.metrics import get_scorer

    rng = np.random.default_rng(n_classes)
    true = rng.integers(0, n_classes, 60)
    predicted = np.where(rng.random(60) < 0.6, true, rng.integers(0, n_classes, 60))
    predicted[predicted == n_classes - 1] = 0  # one class is never predicted
    true[:3] = n_classes - 1  # ... but occurs
    weight = rng.uniform(0.1, 3.0, 60)
    confusion = np.zeros((n_classes, n_classes))
    np.add.at(confusion, (true, predicted), weight)
    if n_classes > 2 and name in CONFUSION_METRICS:
        with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
            positive_class(name, np.arange(n_classes))
        return
    function = get_scorer(name)._score_func
    kwargs = get_scorer(name)._kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (precision's zero division warns)
        expected = function(true, predicted, sample_weight=weight, **kwargs)
    positive = positive_class(name, np.arange(n_classes))
    assert confusion_score(name, confusion, positive) == pytest.approx(expected, rel=1e-12)


#: (binary, multiclass) scorers: scikit-learn 1.9.1's LogisticRegressionCV fails on the
#: averaged ones with two classes (make_scorer gets pos_label twice).
SCORER_PAIRS = [
    ("f1", "f1_macro"),
    ("balanced_accuracy", "balanced_accuracy"),
    ("jaccard", "jaccard_weighted"),
    ("recall", "precision_micro"),
]


@pytest.mark.parametrize(("binary", "multiclass"), SCORER_PAIRS)
def test_dask_folds_scored_from_their_sums_equal_scikit_learn(
    client, cancer, wine, binary, multiclass
):
    for (X, y), sizes, scoring in (
        (cancer, [100, 37, 211, 5], binary),
        (wine, [50, 3, 61], multiclass),
    ):
        params = {"Cs": np.logspace(-3, 2, 4), "cv": 4, "tol": 1e-8, **QUIET, "scoring": scoring}
        ours = LogisticRegressionCV(**params).fit(*_uneven(X, y, sizes))
        theirs = linear_model.LogisticRegressionCV(solver="newton-cholesky", **params).fit(X, y)
        _assert_same(ours, theirs)
        in_memory = LogisticRegressionCV(**params).fit(X, y)
        assert ours.n_passes_ == in_memory.n_passes_


def test_scorers_the_sums_cannot_give_are_refused_on_dask_and_binary_ones_need_label_1(cancer):
    X, y = cancer
    dX, dy = _uneven(X, y, [200])
    with pytest.raises(ValueError, match=r"by one of \['accuracy', 'neg_log_loss'.*roc_auc"):
        LogisticRegressionCV(scoring="roc_auc", cv=3).fit(dX, dy)
    labels = np.where(y == 1, "benign", "malignant")
    with pytest.raises(ValueError, match=r"pos_label=1 is not a valid label"):
        LogisticRegressionCV(scoring="f1", cv=3).fit(X, labels)
