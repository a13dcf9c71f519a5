r"""The ``daskgd`` command line: make data, fit a model on files, predict.

Examples
--------
daskgd make-data data.zarr --rows 1000000 --features 20 --task classification
daskgd fit data.zarr --model logistic --param C=0.5 -o model.daskgd --plot loss.png
daskgd predict model.daskgd data.zarr -o predictions.zarr
daskgd fit data.zarr --model linear -o model.daskgd --tls
daskgd fit data.zarr --model linear -o model.daskgd --scheduler tls://host:8786 \
    --tls-ca-file ca.pem --tls-cert client.pem --tls-key client-key.pem
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from daskgd.registry import cli_models, estimator_class

#: ``--model`` name -> estimator class name, from :mod:`daskgd.registry`.
MODELS = cli_models()


#: The files that join a TLS scheduler, by ``daskgd.cluster.tls_security`` parameter:
#: option, what it holds, the dask config it defaults to.
TLS_OPTIONS = {
    "ca_file": ("--tls-ca-file", "CA certificate", "distributed.comm.tls.ca-file"),
    "cert": ("--tls-cert", "client certificate", "distributed.comm.tls.client.cert"),
    "key": ("--tls-key", "client key", "distributed.comm.tls.client.key"),
}


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes key=value, got {text!r}.")
    key, value = text.split("=", 1)
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daskgd", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    make = commands.add_parser("make-data", help="write synthetic data with a known model")
    make.add_argument("output", type=Path, help="zarr directory to create")
    make.add_argument("--rows", type=int, required=True)
    make.add_argument("--features", type=int, required=True)
    make.add_argument("--task", choices=["regression", "classification"], default="regression")
    make.add_argument("--chunk-rows", type=int, default=100_000)
    make.add_argument("--seed", type=int, default=0)

    def add_cluster_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--scheduler", help="address of a running dask scheduler")
        command.add_argument("--workers", type=int, default=2, help="local workers")
        command.add_argument("--threads", type=int, default=1, help="threads per local worker")
        command.add_argument("--memory-limit", default="auto", help="per local worker")
        command.add_argument(
            "--tls",
            action="store_true",
            help="encrypt and authenticate with TLS: a local cluster gets temporary "
            "credentials; a --scheduler tls://... is joined with the --tls-* files",
        )
        for option, what, key in TLS_OPTIONS.values():
            command.add_argument(
                option, type=Path, help=f"PEM {what} to join a TLS scheduler (default: {key})"
            )

    def add_data_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--columns", help="comma-separated feature columns (tables)")
        command.add_argument("--one-hot", action="store_true", help="one-hot text columns")
        command.add_argument("--chunk-mb", type=float, default=128.0, help="planned chunk size")

    fit = commands.add_parser("fit", help="train a model on data files")
    fit.add_argument("data", nargs="+", help="zarr / HDF5 (file.h5::X) / .npy / Parquet / CSV")
    fit.add_argument("--target", help="target array, file::dataset, or table column")
    fit.add_argument("--model", choices=sorted(MODELS), required=True)
    fit.add_argument("--param", type=_parse_param, action="append", default=[])
    fit.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    fit.add_argument("--plot", type=Path, help="write the loss curve to this PNG")
    fit.add_argument("--report", type=Path, help="write a JSON report here")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_options(fit)
    add_data_options(fit)

    predict = commands.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model", type=Path)
    predict.add_argument("data", nargs="+")
    predict.add_argument("-o", "--output", type=Path, required=True, help=".zarr or .npy")
    predict.add_argument("--proba", action="store_true", help="class probabilities")
    add_cluster_options(predict)
    add_data_options(predict)
    return parser


def _client(args: argparse.Namespace) -> Any:
    """A client of ``--scheduler``, or of a local cluster it starts; TLS as the options ask."""
    from daskgd.cluster import MissingTLSCredentials, connect, start_local_cluster, tls_security

    files = {
        name: getattr(args, option[2:].replace("-", "_"))
        for name, (option, _, _) in TLS_OPTIONS.items()
    }
    given = [TLS_OPTIONS[name][0] for name, path in files.items() if path is not None]
    if not args.scheduler:
        if given:
            raise ValueError(
                f"{', '.join(given)} join a running TLS scheduler (--scheduler tls://...); "
                "a local cluster started with --tls makes temporary credentials."
            )
        return start_local_cluster(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            memory_limit=args.memory_limit,
            tls=args.tls,
        )
    address = args.scheduler
    protocol = address.split("://")[0] if "://" in address else None
    if not (args.tls or given or protocol == "tls"):
        return connect(address)
    if protocol is None:
        address = f"tls://{address}"
    elif protocol != "tls":
        raise ValueError(
            f"--scheduler {address} is not a TLS address: with --tls or --tls-* files, "
            "pass tls://host:port."
        )
    for name, path in files.items():
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{TLS_OPTIONS[name][0]} {path}: no such file.")
    try:
        security = tls_security(**files)
    except MissingTLSCredentials as error:
        missing = [TLS_OPTIONS[name] for name in error.missing]
        raise ValueError(
            f"joining {address} needs "
            + ", ".join(
                f"{option} (the {what}, or dask config {key})" for option, what, key in missing
            )
            + "."
        ) from None
    return connect(address, security=security)


def _load(args: argparse.Namespace, target: str | None) -> tuple[Any, Any]:
    from daskgd.io import load

    columns = args.columns.split(",") if args.columns else None
    source: Any = args.data if len(args.data) > 1 else args.data[0]
    return load(
        source,
        target,
        columns=columns,
        chunk_bytes=int(args.chunk_mb * 2**20),
        one_hot=args.one_hot,
    )


def _plot(curve: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    values = np.asarray(curve, dtype=float)
    gap = values - values.min()
    if len(values) > 1 and np.all(gap[:-1] > 0):
        axes.semilogy(np.arange(1, len(values)), gap[:-1], marker="o")
        axes.set_ylabel("objective - final objective")
    else:
        axes.plot(np.arange(1, len(values) + 1), values, marker="o")
        axes.set_ylabel("objective")
    axes.set_xlabel("iteration")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def cmd_make_data(args: argparse.Namespace) -> int:
    """``daskgd make-data``."""
    from daskgd.io import write_synthetic

    started = time.perf_counter()
    info = write_synthetic(
        args.output,
        args.rows,
        args.features,
        task=args.task,
        chunk_rows=args.chunk_rows,
        seed=args.seed,
        progress=True,
    )
    print(
        f"wrote {args.rows:,} x {args.features} {args.task} data to {args.output} "
        f"in {time.perf_counter() - started:.1f}s (true intercept {info['intercept']})"
    )
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """``daskgd fit``."""
    from daskgd.serialization import save_model

    params = dict(args.param)
    estimator = estimator_class(MODELS[args.model])()
    unknown = sorted(set(params) - set(estimator.get_params()))
    if unknown:
        raise SystemExit(
            f"daskgd fit: {MODELS[args.model]} has no parameter {unknown}; it has "
            f"{sorted(estimator.get_params())}."
        )
    estimator.set_params(**params, **({} if args.quiet else {"verbose": 1}))
    client = _client(args)
    try:
        scheduler = client.scheduler.address
        print(f"scheduler: {scheduler}\ndashboard: {client.dashboard_link}", file=sys.stderr)
        X, y = _load(args, args.target)
        if y is None:
            raise SystemExit("daskgd fit: no target; pass --target.")
        started = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - started
    finally:
        from daskgd.cluster import close_client

        close_client(client)
    save_model(estimator, args.output)
    curve = np.asarray(getattr(estimator, "loss_curve_", []), dtype=float)
    if not curve.size and np.size(getattr(estimator, "train_score_", [])) > 1:
        curve = -np.asarray(estimator.train_score_, dtype=float)[1:]  # trees: loss per tree
    if hasattr(estimator, "coef_"):
        size = {"n_coefficients": int(np.size(estimator.coef_) + np.size(estimator.intercept_))}
        described = f"{size['n_coefficients']} coefficients"
    else:
        size = {"n_trees": int(estimator.n_iter_ * estimator.n_trees_per_iteration_)}
        described = f"{size['n_trees']} trees"
    report = {
        "model": type(estimator).__name__,
        "params": {k: repr(v) for k, v in estimator.get_params().items()},
        "solver": getattr(estimator, "solver_", getattr(estimator, "strategy", None)),
        "n_rows": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_iter": int(np.max(estimator.n_iter_)),
        "n_passes": int(estimator.n_passes_),
        "objective": float(curve[-1]) if curve.size else None,
        "loss_curve": curve.tolist(),
        "seconds": seconds,
        "scheduler": scheduler,
        **size,
        "output": str(args.output),
    }
    print(
        f"{report['model']} ({report['solver']}): {report['n_iter']} iterations, "
        f"{report['n_passes']} passes, objective {report['objective']}, "
        f"{seconds:.2f}s, {described} -> {args.output}"
    )
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    if args.plot and curve.size:
        _plot(curve, args.plot, f"{report['model']} ({report['solver']})")
    elif args.plot:
        print(
            f"daskgd fit: no loss curve to plot ({report['model']} records its loss only "
            "with early stopping); no plot written.",
            file=sys.stderr,
        )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``daskgd predict``."""
    from daskgd.serialization import load_model

    estimator = load_model(args.model)
    client = _client(args)
    try:
        print(f"scheduler: {client.scheduler.address}", file=sys.stderr)
        X, _ = _load(args, None)
        method = estimator.predict_proba if args.proba else estimator.predict
        prediction = method(X)
        if str(args.output).endswith(".npy"):
            np.save(args.output, prediction.compute())
        else:
            # Workers write the chunks: give them a path that does not depend on
            # their working directory.
            prediction.to_zarr(str(args.output.resolve()), overwrite=True)
    finally:
        from daskgd.cluster import close_client

        close_client(client)
    print(f"wrote {prediction.shape[0]:,} predictions to {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``daskgd`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        Exit status.
    """
    args = _parser().parse_args(argv)
    commands = {"make-data": cmd_make_data, "fit": cmd_fit, "predict": cmd_predict}
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"daskgd {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
