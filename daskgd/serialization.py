"""Model files that say what they are before anything is unpickled.

A daskgd model file is a one-line JSON header behind a magic string, then the
joblib payload. ``load_model`` reads and checks the header first, so a file
that daskgd did not write is refused without being unpickled. Unpickling still
runs code: load only model files from sources you trust.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zlib
from pathlib import Path
from typing import Any, BinaryIO

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
    # Written next to its place, then renamed: a failed write leaves no half file.
    partial = Path(f"{path}.partial")
    with open(partial, "wb") as handle:
        write_framed_header(handle, MAGIC, header)
        joblib.dump(estimator, handle)
    os.replace(partial, path)


def write_framed_header(handle: BinaryIO, magic: bytes, header: dict[str, Any]) -> None:
    """Write ``magic`` and ``header`` as one JSON line: what a reader checks before unpickling.

    Parameters
    ----------
    handle : binary file
        Open for writing, at its start.
    magic : bytes
        The file kind's magic line.
    header : dict
        JSON-compatible header.
    """
    handle.write(magic)
    handle.write(json.dumps(header).encode() + b"\n")


def read_framed_header(
    handle: BinaryIO, magic: bytes, kind: str, path: str | Path
) -> dict[str, Any]:
    """Check ``magic`` and read the JSON header line that :func:`write_framed_header` wrote.

    Parameters
    ----------
    handle : binary file
        Open for reading, at its start; left just after the header.
    magic : bytes
        The expected magic line.
    kind : str
        What the file should be, for messages ("model file", "checkpoint").
    path : str or Path
        The file, for messages.

    Returns
    -------
    header : dict
    """
    if handle.read(len(magic)) != magic:
        raise ValueError(
            f"{str(path)!r} is not a daskgd {kind} (no daskgd header); refusing to unpickle it."
        )
    try:
        return dict(json.loads(handle.readline()))
    except ValueError as error:
        raise ValueError(f"{str(path)!r} has a damaged daskgd header.") from error


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
        header = read_framed_header(handle, MAGIC, "model file", path)
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

    Raises
    ------
    ValueError
        For a file without a daskgd header, of another format or daskgd version,
        or damaged (it cannot be unpickled).
    """
    from daskgd import __version__

    header = read_header(path)
    if header.get("daskgd") != __version__:
        raise ValueError(
            f"{str(path)!r} was written by daskgd {header.get('daskgd')}; this is daskgd "
            f"{__version__}, whose classes may differ: refit the model with this version, "
            f"or load it with daskgd {header.get('daskgd')}."
        )
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
        try:
            return joblib.load(handle)
        except (pickle.UnpicklingError, EOFError, zlib.error, ValueError) as error:
            raise ValueError(
                f"{str(path)!r} is a damaged daskgd model file (cannot unpickle it: {error})."
            ) from error
