"""Categorical features: the trees equal scikit-learn's, from NumPy, pandas and dask input."""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier as SkClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as SkRegressor

from daskgd import HistGradientBoostingClassifier, HistGradientBoostingRegressor

N_ROWS = 3000
PARAMS = {"max_iter": 10, "early_stopping": False, "random_state": 0}
MASK = [False, True, False, True, False]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Two categorical columns among three numeric ones: 12 codes with NaN, and 4 odd values."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 12, N_ROWS).astype(float)
    codes[rng.random(N_ROWS) < 0.05] = np.nan
    odd = rng.choice([3.5, -2.0, 7.0, 100.0], N_ROWS)
    numbers = rng.standard_normal((N_ROWS, 3))
    effect = np.where(np.isnan(codes), 2.0, 3 * np.sin(np.nan_to_num(codes)))
    y = effect + np.where(odd > 5, 1.5, -0.5) + numbers[:, 0] + 0.3 * rng.standard_normal(N_ROWS)
    X = np.column_stack([numbers[:, 0], codes, numbers[:, 1], odd, numbers[:, 2]])
    return X, y


def frame_of(X: np.ndarray) -> pd.DataFrame:
    """The data as a DataFrame whose categorical columns have the category dtype (strings)."""
    words = np.where(np.isnan(X[:, 1]), None, [f"k{int(c)}" for c in np.nan_to_num(X[:, 1])])
    return pd.DataFrame(
        {
            "a": X[:, 0],
            "word": pd.Categorical(words),
            "b": X[:, 2],
            "odd": pd.Categorical(X[:, 3]),
            "c": X[:, 4],
        }
    )


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_categorical_mask_on_numpy_gives_scikit_learn_trees(data, task):
    X, y = data
    ours, theirs = HistGradientBoostingRegressor, SkRegressor
    if task == "classification":
        y = (y > np.median(y)).astype(int)
        ours, theirs = HistGradientBoostingClassifier, SkClassifier
    model = ours(categorical_features=MASK, **PARAMS).fit(X, y)
    reference = theirs(categorical_features=MASK, **PARAMS).fit(X, y)
    np.testing.assert_array_equal(model.is_categorical_, reference.is_categorical_)
    # Unknown categories (and negative ones) at predict time follow the missing values.
    unseen = X.copy()
    unseen[::3, 1] = 40.0
    unseen[1::3, 3] = -5.0
    for rows in (X, unseen):
        if task == "classification":
            np.testing.assert_array_equal(model.predict_proba(rows), reference.predict_proba(rows))
        else:
            np.testing.assert_array_equal(model.predict(rows), reference.predict(rows))
    # The categories matter: without them the trees differ.
    plain = ours(**PARAMS).fit(X, y)
    assert not np.array_equal(plain.predict(X), model.predict(X))


def test_category_dtype_columns_of_pandas_and_dask_frames(data, client):
    X, y = data
    frame = frame_of(X)
    reference = SkRegressor(**PARAMS).fit(frame, y)
    model = HistGradientBoostingRegressor(**PARAMS).fit(frame, y)
    np.testing.assert_array_equal(model.predict(frame), reference.predict(frame))
    np.testing.assert_array_equal(model.feature_names_in_, reference.feature_names_in_)
    np.testing.assert_array_equal(model.is_categorical_, [False, True, False, True, False])

    dask_frame = dd.from_pandas(frame, npartitions=4)
    on_dask = HistGradientBoostingRegressor(**PARAMS).fit(
        dask_frame, dd.from_pandas(pd.Series(y), npartitions=4)
    )
    predictions = on_dask.predict(dask_frame)
    assert isinstance(predictions, da.Array)  # lazy
    # The baseline is a mean summed chunk by chunk: equal up to rounding.
    np.testing.assert_allclose(predictions.compute(), reference.predict(frame), rtol=1e-12)
    # A category unseen in training is a missing value.
    unseen = frame.assign(word=pd.Categorical(["new"] * N_ROWS))
    np.testing.assert_allclose(
        on_dask.predict(dd.from_pandas(unseen, npartitions=3)).compute(),
        reference.predict(unseen),
        rtol=1e-12,
    )
    # One pass finds the partition lengths and the categories; then the fit's own.
    assert on_dask.n_passes_ == model.n_passes_ + 1


def test_categorical_errors_name_the_feature(data):
    X, y = data
    many = X.copy()
    many[:, 1] = np.arange(N_ROWS) % 300
    with pytest.raises(ValueError, match="feature at index 1 is expected to have a cardinality"):
        HistGradientBoostingRegressor(categorical_features=MASK, **PARAMS).fit(many, y)
    frame = frame_of(X)
    with pytest.raises(ValueError, match="feature 'word' is expected to have a cardinality <= 8"):
        HistGradientBoostingRegressor(max_bins=8, **PARAMS).fit(frame, y)
    with pytest.raises(ValueError, match="Categorical features cannot have monotonic"):
        HistGradientBoostingRegressor(monotonic_cst={"word": 1}, **PARAMS).fit(frame, y)
