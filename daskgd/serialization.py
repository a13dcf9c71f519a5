"""Model files that say what they are before anything is unpickled.

A daskgd model file is a one-line JSON header behind a magic string, then the
joblib payload. ``load_model`` reads and checks the header first, so a file
that daskgd did not write is refused without being unpickled. Unpickling still
runs code: load only model files from sources you trust.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import joblib

MAGIC = b"DASKGD-MODEL\n"
FORMAT_VERSION = 1


class UntrustedModelWarning(UserWarning):
    """Loading a model file unpickles it, which can execute code."""


def save_model(estimator: Any, path: str | Path) -> None:
    """Write a fitted estimator with a daskgd header.

    Parameters
    ----------
    estimator : object
        A fitted daskgd (or scikit-learn) estimator.
    path : str or Path
        File to write.
    """
    from daskgd import __version__

    header = {
        "format": FORMAT_VERSION,
        "daskgd": __version__,
        "estimator": type(estimator).__name__,
    }
    with open(path, "wb") as handle:
        handle.write(MAGIC)
        handle.write(json.dumps(header).encode() + b"\n")
        joblib.dump(estimator, handle)


def read_header(path: str | Path) -> dict[str, Any]:
    """The header of a daskgd model file, read without unpickling anything.

    Parameters
    ----------
    path : str or Path
        Model file.

    Returns
    -------
    header : dict
        ``{"format", "daskgd", "estimator"}``.
    """
    with open(path, "rb") as handle:
        magic = handle.read(len(MAGIC))
        if magic != MAGIC:
            raise ValueError(
                f"{str(path)!r} is not a daskgd model file (no daskgd header); refusing to "
                "unpickle it."
            )
        try:
            header = dict(json.loads(handle.readline()))
        except ValueError as error:
            raise ValueError(f"{str(path)!r} has a damaged daskgd header.") from error
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} is a daskgd model file of format {header.get('format')!r}; this "
            f"daskgd reads format {FORMAT_VERSION}."
        )
    return header


def load_model(path: str | Path, *, warn: bool = True) -> Any:
    """Load a model written by :func:`save_model`, after checking its header.

    Parameters
    ----------
    path : str or Path
        Model file.
    warn : bool, default=True
        Warn that unpickling executes code.

    Returns
    -------
    estimator : object
    """
    read_header(path)
    if warn:
        warnings.warn(
            f"Loading {str(path)!r} unpickles it, which can execute code: load only model "
            "files you trust.",
            UntrustedModelWarning,
            stacklevel=2,
        )
    with open(path, "rb") as handle:
        handle.read(len(MAGIC))
        handle.readline()
        return joblib.load(handle)
