"""Map-reduce averaging against sequential SGD, and both against the full-batch optimum.

``SGDClassifier`` runs scikit-learn's per-sample SGD inside the chunk tasks, so
the small model travels to the data, never the data to the model:

- ``strategy="sequential"`` threads one model through the chunks in order, each
  step on the worker that holds the chunk. It is exactly scikit-learn's
  out-of-core ``partial_fit`` loop over the same chunks (checked below), and
  just as serial: one chunk at a time, whatever the number of workers.
- ``strategy="average"`` is map-reduce: in each round every worker trains a copy
  of the model on its own chunks (``local_epochs`` passes, all workers at once),
  and the copies are averaged, weighted by the rows each saw; the average starts
  the next round (``n_rounds``).

Both minimise the same L2-regularised log-loss; the script compares their
objective and held-out accuracy with the exact optimum, found by the
full-batch ``LogisticRegression`` with the equivalent ``C = 1 / (alpha n)``.

Run it with ``python examples/sgd_averaging.py`` (about 10 seconds).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

import daskgd
from daskgd.cluster import close_client, start_local_cluster

# The estimators are used as daskgd.NAME inside main(), not imported here: the
# worker processes re-import this script when they start (multiprocessing
# "spawn"), and a worker needs no scikit-learn until an SGD task unpickles one.

N_ROWS, N_FEATURES, CHUNK_ROWS, EPOCHS, ALPHA = 40_000, 10, 5_000, 5, 1e-4


def make_data(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a logistic model (the same true model for every seed)."""
    coef = np.random.default_rng(0).standard_normal(N_FEATURES)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, N_FEATURES))
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-(X @ coef + 0.5)))).astype(int)
    return X, y


def objective(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """``mean log-loss + alpha/2 ||w||^2``: what SGDClassifier(loss="log_loss") minimises."""
    raw = X @ np.ravel(model.coef_) + model.intercept_[0]
    signs = np.where(y == 1, 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -signs * raw)) + ALPHA / 2 * np.sum(model.coef_**2))


def main() -> None:
    import dask.array as da
    from sklearn import linear_model

    X, y = make_data(N_ROWS, seed=1)
    X_test, y_test = make_data(10_000, seed=2)
    sgd = {
        **{"loss": "log_loss", "alpha": ALPHA, "learning_rate": "invscaling", "eta0": 0.05},
        **{"shuffle": False, "random_state": 0, "tol": None},
    }

    # scikit-learn's out-of-core recipe, in this process: partial_fit chunk by chunk.
    loop = linear_model.SGDClassifier(**sgd)
    for _ in range(EPOCHS):
        for start in range(0, N_ROWS, CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            loop.partial_fit(X[start:stop], y[start:stop], classes=[0, 1])

    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        X_dask = da.from_array(X, chunks=(CHUNK_ROWS, N_FEATURES)).persist()
        y_dask = da.from_array(y, chunks=CHUNK_ROWS).persist()
        print(
            f"{N_ROWS:,} rows in {X_dask.npartitions} chunks on 2 workers; "
            f"{EPOCHS} passes over the data each"
        )
        models = {
            "sequential": daskgd.SGDClassifier(strategy="sequential", max_iter=EPOCHS, **sgd),
            "average": daskgd.SGDClassifier(strategy="average", n_rounds=EPOCHS, **sgd),
            "full batch (optimum)": daskgd.LogisticRegression(C=1.0 / (ALPHA * N_ROWS), tol=1e-10),
        }
        # The SGD tasks unpickle scikit-learn models: import it on the workers now, so
        # that the first timed fit does not pay for it.
        client.run(importlib.import_module, "sklearn.linear_model")
        seconds = {}
        for name, model in models.items():
            started = time.perf_counter()
            model.fit(X_dask, y_dask)
            seconds[name] = time.perf_counter() - started
    finally:
        close_client(client)

    best = objective(models["full batch (optimum)"], X, y)
    print(f"{'':<22}{'objective':>11}{'- optimum':>11}{'accuracy':>10}{'passes':>8}{'time':>7}")
    for name, model in models.items():
        value = objective(model, X, y)
        accuracy = float(np.mean(model.predict(X_test) == y_test))
        print(
            f"{name:<22}{value:>11.6f}{value - best:>11.2e}{accuracy:>10.4f}"
            f"{model.n_passes_:>8}{seconds[name]:>6.1f}s"
        )
        assert best - 1e-9 <= value < best + 5e-3, (name, value, best)

    sequential, average = models["sequential"], models["average"]
    print(f"averaging rounds: {average.n_iter_}, over chunk groups {average.groups_}")
    np.testing.assert_allclose(sequential.coef_, loop.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sequential.intercept_, loop.intercept_, rtol=1e-10, atol=1e-12)
    print("sequential SGD equals scikit-learn's partial_fit loop over the same chunks")


if __name__ == "__main__":
    main()
