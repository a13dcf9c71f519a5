"""Loss + penalty + intercept layout of a linear model, evaluated over ONE block of rows.

The objective of every full-batch fit is

    f(coef) = 1/S * (sum_i s_i * loss(y_i, x_i @ W + b) + penalty(W)),   S = sum_i s_i,

with coefficients laid out as a matrix of shape (n_features + fit_intercept, n_outputs),
intercept last, and flattened in C order for the solvers. The block functions return
*unnormalised* partial sums as dicts so that any partition of the rows can be reduced
(in any tree, but in a fixed order) to the same totals; ``finalize_*`` then divide by
``S`` after adding the penalty. The penalty is on the scale of the *sum*, so
scikit-learn's strengths carry over unchanged: Ridge's ``alpha`` with the half
squared error, LogisticRegression's ``1 / C`` with the log-loss. Dividing by ``S``
keeps gradients (and so ``tol``) independent of the number of rows.
Everything here is NumPy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray
from scipy.linalg import blas

from daskgd.losses import PointwiseLoss
from daskgd.penalties import Penalty

FloatArray = NDArray[np.floating]
Partial = dict[str, Any]


def gram_matrix(A: FloatArray) -> FloatArray:
    """``A^T A`` for a tall ``A`` of shape (n, d), by BLAS ``syrk``.

    ``syrk`` on the transposed (Fortran-ordered) view needs no copy and is an
    order of magnitude faster than ``A.T @ A`` for tall, narrow chunks with some
    OpenBLAS builds; it fills the upper triangle, mirrored here.
    """
    A = np.asarray(A, dtype=np.float64)
    if A.shape[0] == 0 or A.shape[1] == 0:  # (BLAS rejects an empty side)
        return np.zeros((A.shape[1], A.shape[1]))
    if A.flags.c_contiguous:
        upper = blas.dsyrk(1.0, A.T, trans=0)
    else:
        upper = blas.dsyrk(1.0, np.asfortranarray(A), trans=1)
    return upper + np.triu(upper, 1).T


def aligned_block(array: Any) -> Any:
    """``array`` as aligned float64 (a copy only when it is not already).

    Chunks that arrive over the network can start off an 8-byte boundary, and
    BLAS rounds differently on misaligned data: without this, the same chunk
    would give different bits depending on how it reached the worker.
    """
    if array is None:
        return None
    if scipy.sparse.issparse(array):
        csr: Any = scipy.sparse.csr_matrix(array)  # type: ignore[call-overload]
        data = np.require(csr.data, dtype=np.float64, requirements=["A"])
        return scipy.sparse.csr_matrix((data, csr.indices, csr.indptr), shape=csr.shape)
    return np.require(array, dtype=np.float64, requirements=["A"])


#: A sparse block of at most this many values (8 MB dense) is centred densely for its Gram
#: statistics; larger ones are centred implicitly, staying sparse.
DENSIFY_VALUES = 2**20
#: Bytes of ``X`` per panel when a dense block's Hessian is accumulated panel by panel.
PANEL_BYTES = 2**21
#: Beyond this many coefficients (a Hessian of 8 MB) a block's Hessian is formed whole:
#: a Hessian per panel would cost more than the temporaries the panels avoid.
MAX_PANEL_COEF = 1024


def _add_into(total: Partial, part: Partial) -> None:
    """Add ``part`` to ``total`` key by key, in place (``total`` starts empty)."""
    if not total:
        total.update(part)
        return
    for key, value in part.items():
        if isinstance(total[key], np.ndarray):
            total[key] += value
        else:
            total[key] = total[key] + value


def _weights(sample_weight: FloatArray | None, n_samples: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n_samples)
    return np.asarray(sample_weight, dtype=np.float64).reshape(-1)


def panel_rows(n_features: int, side: int) -> int:
    """Rows per panel of a dense block: about 2 MB of ``X``, and never fewer than the
    side of the matrix summed panel by panel, so that its sums stay cheap beside the flops."""
    return max(PANEL_BYTES // (8 * max(n_features, 1)), side, 256)


def weighted_gram(
    X: Any, weight: FloatArray | None, fit_intercept: bool, workspace: FloatArray | None = None
) -> FloatArray:
    """``[X 1]^T diag(weight) [X 1]`` (``X^T diag(weight) X`` without an intercept).

    ``[X 1]`` is never built. ``weight=None`` means unit weights: the dense Gram is
    then one ``syrk`` on ``X`` itself, with no scaled copy. ``workspace``, a dense
    buffer of at least ``X``'s shape, takes the scaled rows otherwise.
    """
    is_sparse = scipy.sparse.issparse(X)
    if is_sparse:
        scaled = X if weight is None else X.multiply(weight[:, np.newaxis])
        xtdx = np.asarray((X.T @ scaled).todense())
    elif weight is None:
        xtdx = gram_matrix(X)
    else:
        scaled = np.empty_like(X) if workspace is None else workspace[: X.shape[0]]
        if np.all(weight >= 0):
            xtdx = gram_matrix(np.multiply(X, np.sqrt(weight)[:, np.newaxis], out=scaled))
        else:  # off-diagonal class blocks of the multinomial Hessian
            xtdx = np.multiply(X, weight[:, np.newaxis], out=scaled).T @ X
    if not fit_intercept:
        return xtdx
    if weight is None:
        xtd1 = np.asarray(X.sum(axis=0)).ravel()
        total = float(X.shape[0])
    else:
        xtd1 = np.asarray(X.T @ weight).ravel() if is_sparse else weight @ X
        total = weight.sum()
    n_rows = X.shape[1] + 1
    gram = np.empty((n_rows, n_rows))
    gram[:-1, :-1] = xtdx
    gram[:-1, -1] = xtd1
    gram[-1, :-1] = xtd1
    gram[-1, -1] = total
    return gram


#: A block with more distinct labels than this keeps no per-label sums in
#: :func:`block_label_moments` (a continuous target given to a classifier, say).
MAX_MOMENT_LABELS = 256


def block_label_moments(
    X: Any, labels: Any, sample_weight: FloatArray | None, fit_intercept: bool
) -> Partial:
    """Distinct labels of one block, and what a classifier's objective at zero needs.

    At ``coef = 0`` every row's raw prediction is zero, so its loss, gradient and
    Hessian depend on its label alone: the value, gradient and Hessian of the
    objective there follow from each label's weight sum and weighted sum of
    ``[X 1]``, and the weighted Gram matrix of ``[X 1]``
    (:meth:`LinearObjective.totals_at_zero`). The label pass, which must come
    first, finds them at little cost, and the fit's first pass is saved.

    Returns
    -------
    partial : dict
        ``values`` (sorted distinct labels), ``counts``, ``weights`` (their weight
        sums), ``sums`` of shape (n_values, n_features + fit_intercept) and
        ``gram``; those two are None beyond :data:`MAX_MOMENT_LABELS` labels.
    """
    labels = np.asarray(labels).ravel()
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    X, sample_weight = aligned_block(X), aligned_block(sample_weight)
    weight = None if sample_weight is None else _weights(sample_weight, len(labels))
    weights = np.bincount(inverse, weights=weight, minlength=len(values))
    partial: Partial = {"values": values, "counts": counts.astype(np.int64), "weights": weights}
    if len(values) > MAX_MOMENT_LABELS:
        return {**partial, "sums": None, "gram": None}
    n_features = X.shape[1]
    if scipy.sparse.issparse(X):
        indicator: Any = scipy.sparse.csr_matrix(
            (np.ones(len(labels)) if weight is None else weight, (inverse, np.arange(len(labels)))),
            shape=(len(values), len(labels)),
        )
        feature_sums = np.asarray((indicator @ X).todense())
        xtdx = weighted_gram(X, weight, fit_intercept=False)
    else:
        # Panel by panel (see block_loss_grad_hess): each panel's Gram and per-label
        # sums are formed while it is in cache, and no copy the size of X is made.
        rows = panel_rows(n_features, n_features)
        workspace = np.empty((min(rows, X.shape[0]), n_features))
        feature_sums = np.zeros((len(values), n_features))
        xtdx = np.zeros((n_features, n_features))
        for start in range(0, X.shape[0], rows):
            panel, codes = X[start : start + rows], inverse[start : start + rows]
            panel_weight = None if weight is None else weight[start : start + rows]
            in_label = np.zeros((len(codes), len(values)))
            in_label[np.arange(len(codes)), codes] = 1.0 if panel_weight is None else panel_weight
            feature_sums += in_label.T @ panel
            xtdx += weighted_gram(panel, panel_weight, fit_intercept=False, workspace=workspace)
    if not fit_intercept:
        return {**partial, "sums": feature_sums, "gram": xtdx}
    sums = np.column_stack([feature_sums, weights])
    gram = np.empty((n_features + 1, n_features + 1))
    gram[:-1, :-1] = xtdx
    gram[:-1, -1] = gram[-1, :-1] = feature_sums.sum(axis=0)
    gram[-1, -1] = weights.sum()
    return {**partial, "sums": sums, "gram": gram}


@dataclass(frozen=True)
class LinearObjective:
    """A pointwise loss composed with ``X @ W + b`` and a penalty on ``W``.

    Parameters
    ----------
    loss : PointwiseLoss
        Loss on raw predictions.
    penalty : Penalty
        Penalty on the feature coefficients ``W`` (never on the intercept ``b``).
    n_features : int
        Number of columns of ``X``.
    n_outputs : int
        Number of raw outputs per row (targets, or classes for the multinomial loss).
    fit_intercept : bool
        Whether a last coefficient row holds an intercept (unpenalised by default).
    intercept_l2 : float, default=0.0
        Strength of an L2 penalty ``intercept_l2 / 2 * ||b||^2`` on the intercept,
        for models that penalise it (liblinear's synthetic-feature intercept).
    penalty_per_weight : bool, default=False
        Whether the penalty is added to the weighted *mean* loss, ``L / S + g(w)``
        (scikit-learn's Lasso, ElasticNet and GLMs), rather than to the summed loss,
        ``(L + g(w)) / S`` (Ridge, LogisticRegression's ``C``). The solvers see the
        sum form either way, the penalty scaled by :meth:`penalty_scale`.
    """

    loss: PointwiseLoss
    penalty: Penalty
    n_features: int
    n_outputs: int
    fit_intercept: bool
    intercept_l2: float = 0.0
    penalty_per_weight: bool = False

    def penalty_scale(self, weight_sum: float) -> float:
        """What the penalty is multiplied by in the sum form: ``S`` or 1."""
        return float(weight_sum) if self.penalty_per_weight else 1.0

    @property
    def n_rows(self) -> int:
        """Rows of the coefficient matrix: features plus one for the intercept."""
        return self.n_features + int(self.fit_intercept)

    @property
    def n_coef(self) -> int:
        """Length of the flat coefficient vector the solvers see."""
        return self.n_rows * self.n_outputs

    def unpack(self, coef: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Split a flat coefficient vector into ``W`` (n_features, n_outputs) and ``b``."""
        matrix = np.asarray(coef, dtype=np.float64).reshape(self.n_rows, self.n_outputs)
        if self.fit_intercept:
            return matrix[: self.n_features], matrix[self.n_features]
        return matrix, np.zeros(self.n_outputs)

    def raw_prediction(self, X: FloatArray, coef: FloatArray) -> FloatArray:
        """``X @ W + b`` of shape (n_samples, n_outputs)."""
        weights, intercept = self.unpack(coef)
        return X @ weights + intercept

    # ---- block functions: unnormalised partial sums over one block of rows ----

    def block_loss_grad(
        self, X: FloatArray, y: FloatArray, sample_weight: FloatArray | None, coef: FloatArray
    ) -> Partial:
        """Weighted loss sum and its gradient in ``coef`` over one block.

        Returns
        -------
        partial : dict
            ``{"n": sum of weights, "loss": weighted loss sum, "grad": flat gradient}``.
        """
        X, y, sample_weight = (aligned_block(a) for a in (X, y, sample_weight))
        rows = self._panel_rows()
        if scipy.sparse.issparse(X) or X.shape[0] <= rows:
            return self._loss_grad_at(X, y, sample_weight, self.raw_prediction(X, coef))
        # Panels keep every temporary small (see block_loss_grad_hess).
        total: Partial = {}
        for start in range(0, X.shape[0], rows):
            panel = X[start : start + rows]
            weight = None if sample_weight is None else sample_weight[start : start + rows]
            raw = self.raw_prediction(panel, coef)
            _add_into(total, self._loss_grad_at(panel, y[start : start + rows], weight, raw))
        return total

    def _loss_grad_at(
        self, X: FloatArray, y: FloatArray, sample_weight: FloatArray | None, raw: FloatArray
    ) -> Partial:
        loss, grad_raw = self.loss.loss_gradient(y, raw)
        if sample_weight is None:
            total, loss_sum = float(X.shape[0]), float(loss.sum())
        else:
            weight = _weights(sample_weight, X.shape[0])
            total, loss_sum = float(weight.sum()), float(weight @ loss)
            grad_raw = grad_raw * weight[:, np.newaxis]
        grad = np.empty((self.n_rows, self.n_outputs))
        grad[: self.n_features] = X.T @ grad_raw
        if self.fit_intercept:
            grad[self.n_features] = grad_raw.sum(axis=0)
        return {"n": total, "loss": loss_sum, "grad": grad.ravel()}

    def block_loss_grad_hess(
        self, X: FloatArray, y: FloatArray, sample_weight: FloatArray | None, coef: FloatArray
    ) -> Partial:
        """Like :meth:`block_loss_grad`, plus the Hessian of the loss sum in ``coef``.

        The Hessian is accumulated in the same pass, with shape (n_coef, n_coef).
        """
        X, y, sample_weight = (aligned_block(a) for a in (X, y, sample_weight))
        rows = self._panel_rows()
        if scipy.sparse.issparse(X) or X.shape[0] <= rows or self.n_coef > MAX_PANEL_COEF:
            return self._loss_grad_hess_at(X, y, sample_weight, coef)
        # Panel by panel, into one reused buffer: a panel of X stays in cache while its
        # predictions, gradient and weighted Gram are formed, and no temporary the size
        # of X is allocated (dask's workers set MALLOC_TRIM_THRESHOLD_, which makes
        # every large allocation fresh pages from the kernel: twice the time).
        workspace = np.empty((rows, X.shape[1]))
        total: Partial = {}
        for start in range(0, X.shape[0], rows):
            part = self._loss_grad_hess_at(
                X[start : start + rows],
                y[start : start + rows],
                None if sample_weight is None else sample_weight[start : start + rows],
                coef,
                workspace,
            )
            _add_into(total, part)
        return total

    def _panel_rows(self) -> int:
        return panel_rows(self.n_features, self.n_coef)

    def _loss_grad_hess_at(
        self,
        X: FloatArray,
        y: FloatArray,
        sample_weight: FloatArray | None,
        coef: FloatArray,
        workspace: FloatArray | None = None,
    ) -> Partial:
        raw = self.raw_prediction(X, coef)
        partial = self._loss_grad_at(X, y, sample_weight, raw)
        curvature = self.loss.hessian(y, raw)
        if sample_weight is not None:
            curvature = curvature * _weights(sample_weight, X.shape[0])[:, None, None]
        hess = np.zeros((self.n_rows, self.n_outputs, self.n_rows, self.n_outputs))
        for k in range(self.n_outputs):
            for m in range(k, self.n_outputs):
                block = self._weighted_gram(X, curvature[:, k, m], workspace)
                hess[:, k, :, m] = block
                hess[:, m, :, k] = block.T
        partial["hess"] = hess.reshape(self.n_coef, self.n_coef)
        return partial

    def _weighted_gram(
        self, X: FloatArray, weight: FloatArray, workspace: FloatArray | None = None
    ) -> FloatArray:
        return weighted_gram(X, weight, self.fit_intercept, workspace)

    def block_gram(self, X: FloatArray, y: FloatArray, sample_weight: FloatArray | None) -> Partial:
        """Weighted means and centred cross-products of one block (for least squares).

        With an intercept the block is centred on its own weighted means and blocks
        are merged with the pairwise update of Chan, Golub and LeVeque, which stays
        accurate when the means are large; without one the means stay at zero.

        Returns
        -------
        partial : dict
            ``{"n", "mean_x", "mean_y", "xx", "xy", "yy"}``.
        """
        X, y, sample_weight = (aligned_block(a) for a in (X, y, sample_weight))
        weight = None if sample_weight is None else _weights(sample_weight, X.shape[0])
        if scipy.sparse.issparse(X):
            if X.shape[0] * X.shape[1] > DENSIFY_VALUES:
                ones = np.ones(X.shape[0])
                return self._sparse_block_gram(X, y, ones if weight is None else weight)
            # Small enough to centre densely: the same bits as the dense block would give.
            X = np.asarray(X.todense())  # type: ignore[attr-defined]
        total = float(X.shape[0]) if weight is None else float(weight.sum())
        mean_x = np.zeros(X.shape[1])
        mean_y = np.zeros(y.shape[1])
        if self.fit_intercept and total > 0:
            mean_x = (X.sum(axis=0) if weight is None else weight @ X) / total
            mean_y = (y.sum(axis=0) if weight is None else weight @ y) / total
            X = X - mean_x
            y = y - mean_y
        weighted_x = X if weight is None else X * weight[:, np.newaxis]
        weighted_y = y if weight is None else y * weight[:, np.newaxis]
        root_weighted_x = X if weight is None else X * np.sqrt(weight)[:, np.newaxis]
        return {
            "n": total,
            "mean_x": mean_x,
            "mean_y": mean_y,
            "xx": gram_matrix(root_weighted_x),
            "xy": weighted_x.T @ y,
            "yy": weighted_y.T @ y,
        }

    def _sparse_block_gram(self, X: Any, y: FloatArray, weight: FloatArray) -> Partial:
        """:meth:`block_gram` of a CSR block, centred implicitly (the matrix stays sparse).

        ``sum s (x - m)(x - m)^T = X^T S X - S m m^T``, and so on for ``y``.
        """
        total = float(weight.sum())
        weighted_y = y * weight[:, np.newaxis]
        xx = np.asarray(
            (X.T @ scipy.sparse.csr_matrix(X).multiply(weight[:, np.newaxis])).todense()
        )
        xy = np.asarray(X.T @ weighted_y)
        yy = weighted_y.T @ y
        mean_x = np.zeros(X.shape[1])
        mean_y = np.zeros(y.shape[1])
        if self.fit_intercept and total > 0:
            mean_x = np.asarray(X.T @ weight).ravel() / total
            mean_y = weighted_y.sum(axis=0) / total
            xx -= total * np.outer(mean_x, mean_x)
            xy -= total * np.outer(mean_x, mean_y)
            yy = yy - total * np.outer(mean_y, mean_y)
        return {"n": total, "mean_x": mean_x, "mean_y": mean_y, "xx": xx, "xy": xy, "yy": yy}

    def totals_at_zero(
        self, weights: FloatArray, sums: FloatArray, gram: FloatArray
    ) -> Partial | None:
        """The loss, gradient and Hessian totals at ``coef = 0`` from label moments.

        ``weights[c]`` and ``sums[c]`` are class index ``c``'s weight sum and weighted
        sum of ``[X 1]``, ``gram`` the weighted Gram matrix of ``[X 1]``, as
        :func:`block_label_moments` gives them. The same totals as a
        ``loss_grad_hess`` pass at zero, summed in another order. None when the
        loss's Hessian at a zero raw prediction depends on the label (the Hessian
        would then need a Gram matrix per label).
        """
        n_classes = len(weights)
        encoded = np.arange(n_classes, dtype=np.float64)[:, np.newaxis]
        raw = np.zeros((n_classes, self.n_outputs))
        loss, grad_raw = self.loss.loss_gradient(encoded, raw)
        curvature = self.loss.hessian(encoded, raw)
        if not np.all(curvature == curvature[:1]):
            return None
        hess = gram[:, np.newaxis, :, np.newaxis] * curvature[0][np.newaxis, :, np.newaxis, :]
        return {
            "n": float(weights.sum()),
            "loss": float(weights @ loss),
            "grad": (sums.T @ grad_raw).ravel(),
            "hess": hess.reshape(self.n_coef, self.n_coef),
        }

    # ---- normalisation and penalty: from reduced totals to the objective ----

    def _penalty_parts(self, coef: FloatArray, weight_sum: float) -> tuple[float, FloatArray]:
        weights, intercept = self.unpack(coef)
        scale = self.penalty_scale(weight_sum)
        grad = np.zeros((self.n_rows, self.n_outputs))
        grad[: self.n_features] = scale * self.penalty.gradient(weights)
        value = scale * self.penalty.value(weights)
        if self.fit_intercept and self.intercept_l2:
            grad[self.n_features] = self.intercept_l2 * intercept
            value += 0.5 * self.intercept_l2 * float(intercept @ intercept)
        return value, grad.ravel()

    def feature_penalty(self, coef: FloatArray, weight_sum: float) -> tuple[float, FloatArray]:
        """The penalty on ``W`` alone (no intercept term), on the mean objective's scale.

        Returns its value and its (sub)gradient in the flat coefficients, as
        :meth:`finalize_loss_grad` adds them: what a proximal solver takes out
        again to get the smooth part, whose prox it applies instead.
        """
        weights, _ = self.unpack(coef)
        scale = self.penalty_scale(weight_sum) / weight_sum
        grad = np.zeros((self.n_rows, self.n_outputs))
        grad[: self.n_features] = scale * self.penalty.gradient(weights)
        return scale * self.penalty.value(weights), grad.ravel()

    def finalize_loss_grad(
        self, total: Partial, coef: FloatArray, weight_sum: float
    ) -> tuple[float, FloatArray]:
        """Objective value and gradient from reduced block totals."""
        penalty_value, penalty_grad = self._penalty_parts(coef, weight_sum)
        value = (total["loss"] + penalty_value) / weight_sum
        return value, (total["grad"] + penalty_grad) / weight_sum

    def finalize_hessian(self, total: Partial, coef: FloatArray, weight_sum: float) -> FloatArray:
        """Objective Hessian from reduced block totals."""
        weights, _ = self.unpack(coef)
        diagonal = np.zeros((self.n_rows, self.n_outputs))
        diagonal[: self.n_features] = self.penalty_scale(
            weight_sum
        ) * self.penalty.hessian_diagonal(weights)
        if self.fit_intercept:
            diagonal[self.n_features] = self.intercept_l2
        hess = total["hess"].copy()
        hess[np.diag_indices_from(hess)] += diagonal.ravel()
        return hess / weight_sum


def sum_partials(parts: Sequence[Partial]) -> Partial:
    """Add dict partials key by key, in the order given (a fixed order keeps results exact)."""
    total = dict(parts[0])
    for part in parts[1:]:
        for key, value in part.items():
            total[key] = total[key] + value
    return total


def merge_gram_partials(parts: Sequence[Partial]) -> Partial:
    """Merge :meth:`LinearObjective.block_gram` partials, in the order given."""
    total = dict(parts[0])
    for part in parts[1:]:
        n_a, n_b = total["n"], part["n"]
        n = n_a + n_b
        if n_b == 0:
            continue
        if n_a == 0:
            total = dict(part)
            continue
        delta_x = part["mean_x"] - total["mean_x"]
        delta_y = part["mean_y"] - total["mean_y"]
        scale = n_a * n_b / n
        total = {
            "n": n,
            "mean_x": total["mean_x"] + delta_x * (n_b / n),
            "mean_y": total["mean_y"] + delta_y * (n_b / n),
            "xx": total["xx"] + part["xx"] + scale * np.outer(delta_x, delta_x),
            "xy": total["xy"] + part["xy"] + scale * np.outer(delta_x, delta_y),
            "yy": total["yy"] + part["yy"] + scale * np.outer(delta_y, delta_y),
        }
    return total


BLOCK_KINDS = ("loss_grad", "loss_grad_hess", "gram")


def combine_partials(kind: str, parts: Sequence[Partial]) -> Partial:
    """Combine partials of one kind (see ``BLOCK_KINDS``)."""
    if kind == "gram":
        return merge_gram_partials(parts)
    return sum_partials(parts)
