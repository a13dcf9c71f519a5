"""Drop-in scikit-learn use: a Pipeline in GridSearchCV, on NumPy arrays and on dask arrays.

daskgd's ``StandardScaler`` and ``LogisticRegression`` take scikit-learn's
parameters and minimise its objective, so they slot into ``Pipeline`` and
``GridSearchCV`` unchanged. The same search runs three times:

1. scikit-learn's own pipeline on NumPy arrays (the reference);
2. daskgd's pipeline on the same NumPy arrays (fits in process, no cluster);
3. daskgd's pipeline on dask arrays, on a 2-worker LocalCluster: every fit is a
   few passes of chunk tasks on the workers, and ``predict_proba`` stays lazy.

All three must pick the same ``C`` with the same cross-validated scores.

Run it with ``python examples/sklearn_pipeline.py`` (about 10 seconds).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from daskgd.cluster import close_client, start_local_cluster

# scikit-learn and the daskgd estimators are imported inside main(): the worker
# processes re-import this script when they start (multiprocessing "spawn"), and
# a worker needs neither (scikit-learn alone is ~100 MB and a second of start-up).

C_GRID = [0.001, 0.1, 10.0]


def make_data(n_rows: int = 400, n_features: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Features on very different scales (so the scaler matters) and 0/1 labels."""
    rng = np.random.default_rng(0)
    scales = np.logspace(-2, 3, n_features)
    X = rng.standard_normal((n_rows, n_features)) * scales + 5.0
    signal = (X - 5.0) / scales @ rng.standard_normal(n_features)
    y = (signal + rng.standard_normal(n_rows) > 0).astype(int)
    return X, y


def search(pipeline: Any, X: Any, y: Any) -> tuple[Any, float]:
    """``GridSearchCV`` over ``C_GRID`` with 2 folds: the fitted search and its seconds."""
    from sklearn.model_selection import GridSearchCV

    started = time.perf_counter()
    grid = GridSearchCV(pipeline, {"model__C": C_GRID}, cv=2).fit(X, y)
    return grid, time.perf_counter() - started


def report(name: str, grid: Any, seconds: float) -> None:
    """One line: the best ``C`` and the mean test score of every candidate."""
    scores = " ".join(f"{score:.4f}" for score in grid.cv_results_["mean_test_score"])
    print(f"{name:<24} best C={grid.best_params_['model__C']:<5} scores [{scores}]  {seconds:.1f}s")


def main() -> None:
    import dask.array as da
    from sklearn import linear_model, preprocessing
    from sklearn.pipeline import Pipeline

    import daskgd

    X, y = make_data()
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features; searching C in {C_GRID}, 2 folds")

    reference = Pipeline(
        [
            ("scale", preprocessing.StandardScaler()),
            ("model", linear_model.LogisticRegression(tol=1e-10, max_iter=1000)),
        ]
    )
    ours = Pipeline(
        [("scale", daskgd.StandardScaler()), ("model", daskgd.LogisticRegression(tol=1e-10))]
    )

    sklearn_grid, seconds = search(reference, X, y)
    report("scikit-learn, NumPy", sklearn_grid, seconds)
    numpy_grid, seconds = search(ours, X, y)
    report("daskgd, NumPy", numpy_grid, seconds)

    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        X_dask = da.from_array(X, chunks=(100, X.shape[1]))
        y_dask = da.from_array(y, chunks=100)
        dask_grid, seconds = search(ours, X_dask, y_dask)
        report("daskgd, dask (2 workers)", dask_grid, seconds)

        proba = dask_grid.predict_proba(X_dask)  # lazy: one task per chunk
        assert isinstance(proba, da.Array), type(proba)
        expected = sklearn_grid.predict_proba(X)
        gap = float(np.max(np.abs(proba.compute() - expected)))
        print(f"refitted best pipeline on dask: lazy predict_proba, max |p - sklearn's| {gap:.1e}")
        assert gap < 1e-6, gap
    finally:
        close_client(client)

    for grid in (numpy_grid, dask_grid):
        assert grid.best_params_ == sklearn_grid.best_params_
        np.testing.assert_allclose(
            grid.cv_results_["mean_test_score"], sklearn_grid.cv_results_["mean_test_score"]
        )
    print("same best C and the same cross-validated scores as scikit-learn")


if __name__ == "__main__":
    main()
