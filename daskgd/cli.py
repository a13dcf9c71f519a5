r"""The ``daskgd`` command line: make data, fit a model on files, predict.

Examples
--------
daskgd make-data data.zarr --rows 1000000 --features 20 --task classification
daskgd fit data.zarr --model logistic --param C=0.5 -o model.daskgd --plot loss.svg
daskgd predict model.daskgd data.zarr -o predictions.zarr
daskgd evaluate model.daskgd data.zarr --json metrics.json
daskgd fit data.zarr --model linear -o model.daskgd --n-workers 4 --memory-limit 2GB
daskgd fit data.zarr --model linear -o model.daskgd --tls
daskgd fit data.zarr --model linear -o model.daskgd --scheduler tls://host:8786 \
    --tls-ca-file ca.pem --tls-cert client.pem --tls-key client-key.pem
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a positive whole number, got {text!r}")
    return value


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes key=value, got {text!r}.")
    key, value = text.split("=", 1)
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), no usage dump."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    from daskgd import __version__

    parser = _Parser(prog="daskgd", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"daskgd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    make = commands.add_parser("make-data", help="write synthetic data with a known model")
    make.add_argument("output", type=Path, help="zarr directory to create")
    make.add_argument("--rows", type=int, required=True)
    make.add_argument("--features", type=int, required=True)
    make.add_argument("--task", choices=["regression", "classification"], default="regression")
    make.add_argument("--chunk-rows", type=int, default=100_000)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument(
        "--scheduler",
        default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
        help="write from this dask scheduler's workers, which must reach OUTPUT (default: "
        "$DASK_SCHEDULER_ADDRESS; without either, this process writes with threads)",
    )

    def add_cluster_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--scheduler",
            default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
            help="address of a running dask scheduler (default: $DASK_SCHEDULER_ADDRESS; "
            "without either, a local cluster on 127.0.0.1)",
        )
        command.add_argument(
            "--n-workers", "--workers", type=_positive_int, default=2, help="local cluster: workers"
        )
        command.add_argument(
            "--threads-per-worker",
            "--threads",
            type=_positive_int,
            default=1,
            help="local cluster: threads per worker",
        )
        command.add_argument(
            "--memory-limit", default="auto", help="local cluster: memory per worker (e.g. 2GB)"
        )
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
    fit.add_argument(
        "--plot", type=Path, help="write the loss curve here: .svg, or .png with matplotlib"
    )
    fit.add_argument("--report", type=Path, help="write a JSON report here")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_options(fit)
    add_data_options(fit)

    predict = commands.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model", type=Path)
    predict.add_argument("data", nargs="+")
    predict.add_argument("-o", "--output", type=Path, required=True, help=".zarr or .npy")
    predict.add_argument("--proba", action="store_true", help="class probabilities")
    predict.add_argument(
        "--overwrite", action="store_true", help="replace an existing output (never an input)"
    )
    add_cluster_options(predict)
    add_data_options(predict)

    evaluate = commands.add_parser(
        "evaluate", help="score a saved model on data files, in one pass"
    )
    evaluate.add_argument("model", type=Path)
    evaluate.add_argument("data", nargs="+")
    evaluate.add_argument("--target", help="target array, file::dataset, or table column")
    evaluate.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    add_cluster_options(evaluate)
    add_data_options(evaluate)
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
            n_workers=args.n_workers,
            threads_per_worker=args.threads_per_worker,
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


def json_value(value: Any) -> Any:
    """``value`` as JSON: numbers, strings, booleans, None, lists and dicts as themselves.

    Non-finite floats, which JSON lacks, become the strings ``"inf"``, ``"-inf"`` and
    ``"nan"``; anything else (an estimator, a callable) becomes its ``repr``.

    Parameters
    ----------
    value : object
        A parameter value or a figure.

    Returns
    -------
    value : object
        Something ``json.dumps`` writes as standard JSON.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return repr(value)


def _announce(client: Any) -> str:
    """Print where the work runs (scheduler and dashboard) on standard error."""
    scheduler = str(client.scheduler.address)
    from daskgd.engine.execution import scheduler_workers

    workers = scheduler_workers(client)
    if workers:
        threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
        limits = {int(w.get("memory_limit") or 0) for w in workers.values()}
        memory = (
            f", {limits.pop() / 1e6:,.0f} MB each" if len(limits) == 1 and 0 not in limits else ""
        )
        print(f"workers: {len(workers)}, {threads} threads in all{memory}", file=sys.stderr)
    link = str(client.dashboard_link)
    page = link.rsplit("/", 1)[0] + "/daskgd" if link.endswith("/status") else None
    print(
        f"scheduler: {scheduler}\ndashboard: {link}"
        + (f" (daskgd's page: {page})" if page else ""),
        file=sys.stderr,
    )
    return scheduler


def _load_model(path: Path) -> Any:
    from daskgd.serialization import load_model

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file.")
    return load_model(path, warn=False)


def cmd_make_data(args: argparse.Namespace) -> int:
    """``daskgd make-data``."""
    from daskgd.cluster import close_client, connect
    from daskgd.io import write_synthetic

    started = time.perf_counter()
    client = connect(args.scheduler) if args.scheduler else None
    try:
        if client is not None:
            _announce(client)
        info = write_synthetic(
            args.output,
            args.rows,
            args.features,
            task=args.task,
            chunk_rows=args.chunk_rows,
            seed=args.seed,
            progress=True,
            client=client,
        )
    finally:
        if client is not None:
            close_client(client)
    print(
        f"wrote {args.rows:,} x {args.features} {args.task} data to {args.output} "
        f"in {time.perf_counter() - started:.1f}s (true intercept {info['intercept']})"
    )
    return 0


class CommandError(ValueError):
    """A mistake in the command line or its files: one line, exit status 2."""


def _estimator(args: argparse.Namespace) -> Any:
    """The ``--model`` estimator with the ``--param`` values, refusing unknown parameters."""
    params = dict(args.param)
    estimator = estimator_class(MODELS[args.model])()
    unknown = sorted(set(params) - set(estimator.get_params()))
    if unknown:
        raise CommandError(
            f"{MODELS[args.model]} has no parameter {', '.join(unknown)}; it has "
            f"{', '.join(sorted(estimator.get_params()))}."
        )
    return estimator.set_params(**{**({} if args.quiet else {"verbose": 1}), **params})


def cmd_fit(args: argparse.Namespace) -> int:
    """``daskgd fit``."""
    from daskgd.cluster import close_client
    from daskgd.plotting import check_plot_path, write_loss_plot
    from daskgd.serialization import save_model

    estimator = _estimator(args)
    _check_outputs(args, args.output, args.report, args.plot)
    if args.plot:
        check_plot_path(args.plot)
    X, y = _load(args, args.target)  # metadata only: a bad path fails before any cluster
    if y is None:
        raise CommandError("no target: pass --target (an array, file::dataset or column).")
    client = _client(args)
    try:
        scheduler = _announce(client)
        started = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - started
    finally:
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
        "params": json_value(estimator.get_params()),
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
        args.report.write_text(json.dumps(json_value(report), indent=2, allow_nan=False))
    if args.plot and curve.size:
        write_loss_plot(curve, args.plot, f"{report['model']} ({report['solver']})")
    elif args.plot:
        print(
            f"daskgd fit: no loss curve to plot ({report['model']} records its loss only "
            "with early stopping); no plot written.",
            file=sys.stderr,
        )
    return 0


def _check_outputs(args: argparse.Namespace, *outputs: Path | None) -> None:
    """Refuse, before any work, output files whose folder is missing or that are inputs."""
    inputs = [Path(path).resolve() for path in getattr(args, "data", [])]
    for output in outputs:
        if output is None:
            continue
        if not output.resolve().parent.is_dir():
            raise CommandError(f"{output}: the folder {output.parent} does not exist.")
        target = output.resolve()
        for source in inputs:
            if target == source or source in target.parents or target in source.parents:
                raise CommandError(f"{output} would overwrite the input {source}.")


def cmd_predict(args: argparse.Namespace) -> int:
    """``daskgd predict``."""
    from daskgd.cluster import close_client

    _check_outputs(args, args.output)
    if args.output.exists() and not args.overwrite:
        raise CommandError(f"{args.output} exists; pass --overwrite to replace it.")
    estimator = _load_model(args.model)
    if args.proba and not hasattr(estimator, "predict_proba"):
        raise CommandError(f"--proba: {type(estimator).__name__} has no predict_proba.")
    X, _ = _load(args, None)
    client = _client(args)
    try:
        _announce(client)
        method = estimator.predict_proba if args.proba else estimator.predict
        prediction = method(X)
        if str(args.output).endswith(".npy"):
            np.save(args.output, prediction.compute())
        else:
            # Workers write the chunks: give them a path that does not depend on
            # their working directory.
            prediction.to_zarr(str(args.output.resolve()), overwrite=True)
    finally:
        close_client(client)
    print(f"wrote {prediction.shape[0]:,} predictions to {args.output}")
    return 0


def _metrics_text(metrics: dict[str, Any]) -> str:
    """The metrics of :func:`daskgd.evaluation.evaluate` as lines for a terminal."""

    def figure(value: Any) -> str:
        return "n/a" if value is None else f"{value:.6g}"

    if "r2" in metrics:
        names = {"r2": "R^2", "mse": "MSE", "mae": "MAE"}
        return "\n".join(f"{label:<9}{figure(metrics[key])}" for key, label in names.items())
    names = {"accuracy": "accuracy", "log_loss": "log-loss", "roc_auc": "ROC AUC"}
    lines = [f"{label:<9}{figure(metrics[key])}" for key, label in names.items()]
    if metrics.get("roc_auc_tie_bound") is not None:
        lines[-1] += f"  (within {metrics['roc_auc_tie_bound']:.1e}: scores sharing a bin tie)"
    labels = [str(c) for c in metrics["classes"]]
    rows = [[str(v) for v in row] for row in metrics["confusion_matrix"]]
    width = max(len(text) for text in labels + [v for row in rows for v in row])
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines.append(" " * (width + 2) + " ".join(label.rjust(width) for label in labels))
    lines += [
        f"{label.rjust(width)}  " + " ".join(v.rjust(width) for v in row)
        for label, row in zip(labels, rows, strict=True)
    ]
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``daskgd evaluate``."""
    from daskgd.cluster import close_client
    from daskgd.evaluation import evaluate

    _check_outputs(args, args.json)
    estimator = _load_model(args.model)
    X, y = _load(args, args.target)
    if y is None:
        raise CommandError("no target: pass --target (an array, file::dataset or column).")
    client = _client(args)
    try:
        _announce(client)
        started = time.perf_counter()
        metrics = evaluate(estimator, X, y)
        seconds = time.perf_counter() - started
    finally:
        close_client(client)
    print(
        f"{type(estimator).__name__} on {int(X.shape[0]):,} rows of {', '.join(args.data)} "
        f"(1 pass, {seconds:.2f}s):"
    )
    print(_metrics_text(metrics))
    if args.json:
        report = {
            "model": type(estimator).__name__,
            "model_file": str(args.model),
            "data": args.data,
            "n_passes": 1,
            "seconds": seconds,
            "n_rows": int(X.shape[0]),
            **metrics,
        }
        args.json.write_text(json.dumps(json_value(report), indent=2, allow_nan=False))
    return 0


COMMANDS = {
    "make-data": cmd_make_data,
    "fit": cmd_fit,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``daskgd`` command.

    Errors in the command line or its files (a missing file, an unknown target
    column or parameter, a model file this daskgd cannot read) print one line
    naming the problem and return 2; no traceback.

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
    try:
        return COMMANDS[args.command](args)
    except (ValueError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"daskgd {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
