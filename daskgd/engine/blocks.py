"""Functions of one row block that run on the workers: value checks and derived columns.

NumPy only, and small on purpose: a worker that runs them imports this module and
nothing of validation, scikit-learn or pandas (its memory is for data).
"""

from __future__ import annotations

from typing import Any

import numpy as np

IMPUTE_HINT = "(e.g. keep the rows where da.isfinite holds, or use da.nan_to_num)"


def _first_bad_sparse_row(block: Any, non_negative: bool) -> tuple[int, str] | None:
    """:func:`first_bad_row` of a CSR block: its stored values, mapped back to rows."""
    data = np.asarray(block.data)
    bad = ~np.isfinite(data) if data.dtype.kind in "fc" else np.zeros(len(data), dtype=bool)
    problem = "nan"
    if not bad.any() and non_negative:
        bad, problem = data < 0, "negative"
    if not bad.any():
        return None
    position = int(np.argmax(bad))
    return int(np.searchsorted(block.indptr, position, side="right")) - 1, problem


def first_bad_row(values: Any, *, non_negative: bool = False) -> tuple[int, str] | None:
    """``(row, problem)`` of the first row holding NaN or infinity (or a negative value).

    ``values`` is a NumPy array or a scipy.sparse CSR matrix.
    """
    if hasattr(values, "indptr"):
        return _first_bad_sparse_row(values, non_negative)
    if len(values) == 0:
        return None
    rows = values.reshape(len(values), -1)
    # A finite sum proves every value finite at a tenth of the cost of isfinite; an
    # infinite or NaN sum (or one that overflowed) is looked at row by row.
    if values.dtype.kind in "fc" and not np.isfinite(np.add.reduce(rows, axis=None)):
        finite_rows = np.isfinite(rows).all(axis=1)
        if not finite_rows.all():
            return int(np.argmin(finite_rows)), "nan"
    if non_negative:
        negative_rows = (rows < 0).any(axis=1)
        if negative_rows.any():
            return int(np.argmax(negative_rows)), "negative"
    return None


def check_finite_columns(named_blocks: dict[str, Any], chunk_index: int, first_row: int) -> None:
    """Raise a ValueError naming the column, chunk and first row holding NaN or infinity.

    Run inside the chunk tasks of the first pass that reads a column, so checking
    dask input costs no pass of its own.
    """
    for name, block in named_blocks.items():
        if block is None:
            continue
        values = block if hasattr(block, "indptr") else np.asarray(block)
        bad = first_bad_row(values) if values.dtype.kind in "fc" else None
        if bad is not None:
            row = bad[0]
            raise ValueError(
                f"Input {name} contains NaN or infinity in chunk {chunk_index} at row "
                f"{first_row + row} (row {row} of the chunk). Remove or impute such rows "
                f"before fitting {IMPUTE_HINT}."
            )


def checked_block(
    block: np.ndarray, label: str, non_negative: bool, block_info: Any = None
) -> np.ndarray:
    """``block`` unchanged, after checking its values (a ``map_blocks`` function).

    Raises a ValueError naming ``label``, the chunk and the first row holding NaN
    or infinity (or, with ``non_negative``, a negative value).
    """
    values = block if hasattr(block, "indptr") else np.asarray(block)
    bad = first_bad_row(values, non_negative=non_negative)
    if bad is None:
        return block
    row, problem = bad
    chunk_index = int(block_info[0]["chunk-location"][0])
    first_row = int(block_info[0]["array-location"][0][0])
    where = f"chunk {chunk_index} at row {first_row + row} (row {row} of the chunk)"
    if problem == "nan":
        raise ValueError(
            f"Input {label} contains NaN or infinity in {where}. Remove or impute such rows "
            f"{IMPUTE_HINT}."
        )
    raise ValueError(
        f"Negative values in data passed to `{label}`: {where}. Weights must be "
        "non-negative; drop such rows or clip the weights at 0."
    )


def encode_labels(block: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class indices of the labels of ``block`` in sorted ``classes``, as a float column."""
    return np.asarray(np.searchsorted(classes, np.asarray(block).ravel()), dtype=np.float64)[
        :, np.newaxis
    ]


def class_weighted_rows(
    encoded: np.ndarray, sample_weight: np.ndarray | None, weight_per_class: np.ndarray
) -> np.ndarray:
    """Each row's class weight (from its class index), times its sample weight if any."""
    row_weight = np.asarray(weight_per_class)[np.asarray(encoded)[:, 0].astype(np.intp)]
    return row_weight if sample_weight is None else row_weight * sample_weight


def float_column_matrix(block: np.ndarray) -> np.ndarray:
    """Regression targets of one block as 2-D float64."""
    values = np.asarray(block, dtype=np.float64)
    return values[:, np.newaxis] if values.ndim == 1 else values


def predicted_labels(raw: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Labels from raw scores: the positive class where a single score is > 0, else argmax."""
    index = (raw[:, 0] > 0).astype(np.intp) if raw.shape[1] == 1 else raw.argmax(1)
    return np.asarray(classes)[index]
