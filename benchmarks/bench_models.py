"""Model benchmark: daskgd's newer linear models against scikit-learn, dask-ml and glum.

One run, one ``LocalCluster`` (2 workers x 1 thread, 127.0.0.1), one zarr data
set per model (``daskgd.io.write_synthetic``, uncompressed; Poisson counts drawn
from the classification features):

* ``Lasso`` (alpha=0.05) and ``ElasticNet`` (alpha=0.05, l1_ratio=0.5): daskgd
  (one pass), scikit-learn in memory, dask-ml ``LinearRegression(penalty="l1" or
  "elastic_net")`` (admm);
* ``LassoCV`` (5 folds, 100 alphas): daskgd (one pass for every fold and the
  refit), scikit-learn in memory (dask-ml has none);
* L1 ``LogisticRegression`` (C=1 per 10,000 rows): daskgd (proximal Newton),
  scikit-learn's saga in memory, dask-ml ``LogisticRegression(penalty="l1")``
  (proximal_grad);
* ``PoissonRegressor`` (alpha=1e-4): daskgd (Newton), scikit-learn (lbfgs) and
  glum (IRLS) in memory, dask-ml ``PoissonRegression`` (admm);
* sparse logistic: documents hashed to 2**18 features (one tenth as many
  documents as rows), daskgd on dask arrays of CSR chunks against scikit-learn
  on the same CSR matrix in memory;
* sparse Lasso on the same documents (a linear target of 200 of their features):
  daskgd's working sets (a pass each) and its proximal gradient descent against
  scikit-learn on the CSR matrix in memory.

In-memory peers fit ``X`` computed to NumPy (the load is timed apart). Figures
are medians of ``--repeats`` runs (``--peer-repeats`` for dask-ml's). Quality:
each model's own objective at each result, minus the smallest of them
("gap"), and passes over the data where the method reports them.

Usage::

    python benchmarks/bench_models.py            # 1,000,000 x 50 per model (400 MB each)
    python benchmarks/bench_models.py --quick    # 200,000 x 20
    python benchmarks/bench_models.py --no-dask-ml   # without dask-ml's fits (minutes each)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median seconds of ``repeats`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def enet_objective(X, y, coef, intercept, alpha, l1_ratio):
    residual = y - X @ coef - intercept
    penalty = alpha * l1_ratio * np.abs(coef).sum() + 0.5 * alpha * (1 - l1_ratio) * coef @ coef
    return 0.5 * float(residual @ residual) / len(y) + float(penalty)


def l1_logistic_objective(X, y, coef, intercept, C):
    raw = X @ coef + intercept
    log_loss = np.logaddexp(0.0, raw) - y * raw
    return float(log_loss.mean()) + float(np.abs(coef).sum()) / (C * len(y))


def l2_logistic_objective(X, y, coef, intercept, alpha):
    raw = X @ coef + intercept
    return float(np.mean(np.logaddexp(0.0, raw) - y * raw)) + 0.5 * alpha * float(coef @ coef)


def poisson_objective(X, y, coef, intercept, alpha):
    raw = X @ coef + intercept
    return float(np.mean(np.exp(raw) - y * raw)) + 0.5 * alpha * float(coef @ coef)


def score_rows(rows: list[dict[str, Any]], objective: Callable[[Any, float], float]) -> None:
    """Add each row's coefficients, passes and ``objective(coef, intercept)``."""
    for row in rows:
        coef = np.ravel(row["model"].coef_)
        intercept = float(np.ravel(row["model"].intercept_)[0])
        row.update(
            coef=coef,
            passes=getattr(row["model"], "n_passes_", ""),
            objective=objective(coef, intercept),
        )


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    best = min(row["objective"] for row in rows if row.get("objective") is not None)
    print(f"\n{title}")
    print(f"  {'method':<46} {'fit s':>8} {'passes':>7} {'gap to best':>12} {'zeros':>6}")
    for row in rows:
        gap = "" if row.get("objective") is None else f"{row['objective'] - best:.2e}"
        zeros = "" if row.get("coef") is None else int((np.ravel(row["coef"]) == 0).sum())
        print(
            f"  {row['name']:<46} {row['seconds']:>8.2f} {row.get('passes', '')!s:>7} "
            f"{gap:>12} {zeros!s:>6}"
        )


def dask_ml_available() -> bool:
    try:
        import dask_ml.linear_model  # noqa: F401
    except ImportError:
        print("dask-ml is not installed (pip install -e '.[bench]'): its rows are left out")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-repeats", type=int, default=1, help="repeats of dask-ml's fits")
    parser.add_argument("--quick", action="store_true", help="200,000 x 20")
    parser.add_argument("--no-dask-ml", action="store_true", help="leave dask-ml's (slow) fits out")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.features, args.chunk_rows = 200_000, 20, 20_000

    import dask.array as da
    from distributed import Client, LocalCluster
    from sklearn import linear_model

    import daskgd
    from daskgd.io import load, write_synthetic

    n, d, repeats = args.rows, args.features, args.repeats
    with tempfile.TemporaryDirectory(prefix="bench-models-") as directory:
        paths = {}
        for task in ("regression", "classification"):
            paths[task] = Path(directory) / f"{task}.zarr"
            write_synthetic(
                paths[task], n, d, task=task, chunk_rows=args.chunk_rows, seed=1, compress=False
            )
        chunk_bytes = args.chunk_rows * d * 8
        X_reg, y_reg = load(paths["regression"], chunk_bytes=chunk_bytes)
        X_cls, y_cls = load(paths["classification"], chunk_bytes=chunk_bytes)
        y_reg = y_reg[:, 0] if y_reg.ndim == 2 else y_reg
        y_cls = y_cls[:, 0] if y_cls.ndim == 2 else y_cls
        # Poisson counts whose log-mean is linear in the classification features.
        true_coef = np.random.default_rng(2).normal(size=d) / np.sqrt(d)

        def draw_counts(block: np.ndarray, block_info: Any = None) -> np.ndarray:
            seed = block_info[0]["chunk-location"][0]
            rng = np.random.default_rng(seed)
            return rng.poisson(np.exp(0.5 * block @ true_coef + 0.3)).astype(np.float64)

        counts = X_cls.map_blocks(draw_counts, drop_axis=1, dtype=np.float64)
        da.to_zarr(counts, str(Path(directory) / "counts.zarr"))
        y_counts = da.from_zarr(str(Path(directory) / "counts.zarr"))
        print(
            f"{n:,} x {d} per model ({n * d * 8 / 1e6:,.0f} MB of X), {X_reg.numblocks[0]} "
            f"chunks; medians of {repeats} (dask-ml: {args.peer_repeats})"
        )
        load_s, memory = timed(
            lambda: {
                "reg": (X_reg.compute(), y_reg.compute()),
                "cls": (X_cls.compute(), y_cls.compute()),
                "counts": y_counts.compute(),
            },
            1,
        )
        print(f"(in-memory peers: loading all three data sets took {load_s:.1f} s)")
        X_r, y_r = memory["reg"]
        X_c, y_c = memory["cls"]
        counts_memory = memory["counts"]
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            has_dask_ml = not args.no_dask_ml and dask_ml_available()
            scan, _ = timed(lambda: X_reg.sum(axis=0).compute(), repeats)
            print(f"bare scan of one data set (X.sum): {scan:.2f} s")

            # ---- Lasso and ElasticNet ----
            alpha = 0.05
            for name, l1_ratio, dask_ml_penalty in (
                ("Lasso", 1.0, "l1"),
                ("ElasticNet", 0.5, "elastic_net"),
            ):
                params = {"alpha": alpha} if name == "Lasso" else {"alpha": alpha, "l1_ratio": 0.5}
                rows: list[dict[str, Any]] = []
                seconds, ours = timed(
                    lambda name=name, params=params: getattr(daskgd, name)(**params).fit(
                        X_reg, y_reg
                    ),
                    repeats,
                )
                rows.append({"name": f"daskgd {name} (cd)", "seconds": seconds, "model": ours})
                seconds, theirs = timed(
                    lambda name=name, params=params: getattr(linear_model, name)(**params).fit(
                        X_r, y_r
                    ),
                    repeats,
                )
                rows.append(
                    {
                        "name": f"scikit-learn {name} (in memory)",
                        "seconds": seconds,
                        "model": theirs,
                    }
                )
                if has_dask_ml:
                    from dask_ml.linear_model import LinearRegression as DaskMLLinear

                    seconds, peer = timed(
                        lambda penalty=dask_ml_penalty: DaskMLLinear(
                            penalty=penalty, C=1.0 / (n * alpha), solver="admm", max_iter=100
                        ).fit(X_reg, y_reg),
                        args.peer_repeats,
                    )
                    rows.append(
                        {
                            "name": f"dask-ml {dask_ml_penalty} (admm)",
                            "seconds": seconds,
                            "model": peer,
                        }
                    )
                score_rows(
                    rows,
                    lambda c, b, l1_ratio=l1_ratio: enet_objective(X_r, y_r, c, b, alpha, l1_ratio),
                )
                print_table(f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})", rows)

            # ---- LassoCV ----
            seconds, ours = timed(
                lambda: daskgd.LassoCV(cv=5, alphas=100).fit(X_reg, y_reg), repeats
            )
            seconds_sk, theirs = timed(
                lambda: linear_model.LassoCV(cv=5, alphas=100).fit(X_r, y_r), repeats
            )
            difference = float(np.max(np.abs(ours.mse_path_ - theirs.mse_path_)))
            print("\nLassoCV (5 folds, 100 alphas)")
            header = f"  {'method':<46} {'fit s':>8} {'passes':>7} {'alpha_':>12}"
            print(f"{header} {'max |mse - sklearn|':>20}")
            name = "daskgd LassoCV"
            print(
                f"  {name:<46} {seconds:>8.2f} {ours.n_passes_:>7} {ours.alpha_:>12.4e} "
                f"{difference:>20.2e}"
            )
            name = "scikit-learn LassoCV (in memory)"
            print(f"  {name:<46} {seconds_sk:>8.2f} {'':>7} {theirs.alpha_:>12.4e}")

            # ---- L1 logistic ----
            C = 100.0 / n
            rows = []
            seconds, ours = timed(
                lambda: daskgd.LogisticRegression(C=C, l1_ratio=1.0).fit(X_cls, y_cls), repeats
            )
            rows.append(
                {
                    "name": f"daskgd LogisticRegression ({ours.solver_})",
                    "seconds": seconds,
                    "model": ours,
                }
            )
            seconds, theirs = timed(
                lambda: linear_model.LogisticRegression(
                    C=C, l1_ratio=1.0, solver="saga", max_iter=100
                ).fit(X_c, y_c),
                1,
            )
            rows.append(
                {
                    "name": "scikit-learn saga (in memory, max_iter=100)",
                    "seconds": seconds,
                    "model": theirs,
                }
            )
            if has_dask_ml:
                from dask_ml.linear_model import LogisticRegression as DaskMLLogistic

                seconds, peer = timed(
                    lambda: DaskMLLogistic(
                        penalty="l1", C=C, solver="proximal_grad", max_iter=100
                    ).fit(X_cls, y_cls),
                    args.peer_repeats,
                )
                rows.append(
                    {"name": "dask-ml l1 (proximal_grad)", "seconds": seconds, "model": peer}
                )
            score_rows(rows, lambda c, b: l1_logistic_objective(X_c, y_c, c, b, C))
            print_table(f"L1 LogisticRegression(C={C:g})", rows)

            # ---- Poisson ----
            alpha = 1e-4
            rows = []
            seconds, ours = timed(
                lambda: daskgd.PoissonRegressor(alpha=alpha).fit(X_cls, y_counts), repeats
            )
            rows.append(
                {
                    "name": f"daskgd PoissonRegressor ({ours.solver_})",
                    "seconds": seconds,
                    "model": ours,
                }
            )
            seconds, theirs = timed(
                lambda: linear_model.PoissonRegressor(alpha=alpha).fit(X_c, counts_memory), repeats
            )
            rows.append(
                {
                    "name": "scikit-learn PoissonRegressor (in memory)",
                    "seconds": seconds,
                    "model": theirs,
                }
            )
            try:
                import glum
            except ImportError:
                print("glum is not installed (pip install -e '.[bench]'): its row is left out")
            else:
                seconds, peer = timed(
                    lambda: glum.GeneralizedLinearRegressor(
                        family="poisson", alpha=alpha, l1_ratio=0.0
                    ).fit(X_c, counts_memory),
                    repeats,
                )
                rows.append({"name": "glum (IRLS, in memory)", "seconds": seconds, "model": peer})
            if has_dask_ml:
                from dask_ml.linear_model import PoissonRegression

                seconds, peer = timed(
                    lambda: PoissonRegression(C=1.0 / (n * alpha), solver="admm", max_iter=100).fit(
                        X_cls, y_counts
                    ),
                    args.peer_repeats,
                )
                rows.append(
                    {"name": "dask-ml PoissonRegression (admm)", "seconds": seconds, "model": peer}
                )
            score_rows(rows, lambda c, b: poisson_objective(X_c, counts_memory, c, b, alpha))
            print_table(f"PoissonRegressor(alpha={alpha})", rows)

            # ---- sparse logistic: hashed text ----
            import scipy.sparse as sp
            from sklearn.feature_extraction.text import HashingVectorizer

            n_documents = n // 10
            rng = np.random.default_rng(5)
            vocabulary = np.array([f"w{i}" for i in range(20_000)])
            lengths = rng.integers(5, 60, size=n_documents)
            words = rng.choice(vocabulary, size=int(lengths.sum()))
            ends = np.cumsum(lengths)
            documents = [
                " ".join(words[end - k : end]) for end, k in zip(ends, lengths, strict=True)
            ]
            topic = set(vocabulary[:200])
            labels = np.array(
                [
                    int(bool(topic.intersection(doc.split())) ^ (rng.random() < 0.05))
                    for doc in documents
                ]
            )
            hashed = sp.csr_matrix(
                HashingVectorizer(n_features=2**18, alternate_sign=False).transform(documents)
            )
            chunk_documents = max(1, n_documents // X_reg.numblocks[0])
            X_text = da.from_array(hashed, chunks=(chunk_documents, 2**18), asarray=False)
            y_text = da.from_array(labels, chunks=chunk_documents)
            rows = []
            seconds, ours = timed(
                lambda: daskgd.LogisticRegression(C=1.0).fit(X_text, y_text), repeats
            )
            rows.append(
                {
                    "name": f"daskgd LogisticRegression ({ours.solver_}, CSR chunks)",
                    "seconds": seconds,
                    "model": ours,
                }
            )
            seconds, theirs = timed(
                lambda: linear_model.LogisticRegression(C=1.0).fit(hashed, labels), repeats
            )
            rows.append(
                {"name": "scikit-learn lbfgs (CSR in memory)", "seconds": seconds, "model": theirs}
            )
            # C=1: the L2 penalty per row is 1 / (2 n) ||w||^2, i.e. alpha = 1 / n.
            score_rows(
                rows,
                lambda c, b: l2_logistic_objective(hashed, labels, c, b, 1.0 / n_documents),
            )
            print_table(
                f"sparse LogisticRegression(C=1): {n_documents:,} documents x 2**18 hashed "
                f"features ({hashed.nnz:,} stored values; dask-ml takes no scipy.sparse chunks)",
                rows,
            )

            # ---- sparse Lasso: the same hashed text, a sparse linear target ----
            # Wider than any Gram matrix of all features: working sets, a pass each,
            # against proximal gradient descent (two passes an iteration).
            true_text = np.zeros(2**18)
            used = np.flatnonzero(np.asarray(hashed.sum(axis=0)).ravel())
            true_text[rng.choice(used, 200, replace=False)] = rng.normal(scale=3.0, size=200)
            y_sparse = hashed @ true_text + 0.1 * rng.standard_normal(n_documents)
            y_sparse_dask = da.from_array(y_sparse, chunks=chunk_documents)
            # A twentieth of the smallest alpha that zeroes every coefficient.
            centred = y_sparse - y_sparse.mean()
            text_alpha = float(np.abs(hashed.T @ centred).max()) / n_documents / 20
            rows = []
            # (gd is capped: it takes hundreds of iterations, and minutes, to converge.)
            for solver, max_iter in (("auto", 1000), ("gd", 300)):
                seconds, ours = timed(
                    lambda solver=solver, max_iter=max_iter: daskgd.Lasso(
                        alpha=text_alpha, solver=solver, max_iter=max_iter
                    ).fit(X_text, y_sparse_dask),
                    repeats if solver == "auto" else 1,
                )
                capped = f", max_iter={max_iter}" if solver == "gd" else ""
                rows.append(
                    {
                        "name": f"daskgd Lasso ({ours.solver_}{capped}, CSR chunks)",
                        "seconds": seconds,
                        "model": ours,
                    }
                )
            seconds, theirs = timed(
                lambda: linear_model.Lasso(alpha=text_alpha).fit(hashed, y_sparse), repeats
            )
            rows.append(
                {"name": "scikit-learn Lasso (CSR in memory)", "seconds": seconds, "model": theirs}
            )
            score_rows(rows, lambda c, b: enet_objective(hashed, y_sparse, c, b, text_alpha, 1.0))
            print_table(
                f"sparse Lasso(alpha={text_alpha:g}): the same {n_documents:,} documents x 2**18 "
                f"features, 200 true nonzero coefficients (sets of "
                f"{max(rows[0]['model']._solver_info['working_set_sizes'], default=0)} "
                "features at most)",
                rows,
            )


if __name__ == "__main__":
    main()
