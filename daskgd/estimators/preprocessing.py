"""StandardScaler: scikit-learn's scaler, fitted in one pass and transforming lazily."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing._data import _handle_zeros_in_scale, _is_constant_feature
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from daskgd import validation
from daskgd.engine.reductions import FeatureMomentsPartial, feature_moments


class StandardScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise features to zero mean and unit variance, on NumPy or dask arrays.

    ``z = (x - mean_) / scale_``, as scikit-learn's StandardScaler. On dask input
    ``fit`` makes one pass (weighted column moments merged chunk by chunk with
    the stable update of Chan, Golub and LeVeque) and ``transform`` and
    ``inverse_transform`` stay lazy, one task per chunk: a pipeline such as
    ``make_pipeline(StandardScaler(), LogisticRegression())`` never brings the
    data to the client. NaN is a missing value: left out of the moments and
    kept by ``transform``.

    Parameters
    ----------
    copy : bool, default=True
        With NumPy input, whether ``transform`` may work in place when False.
    with_mean : bool, default=True
        Centre the data before scaling.
    with_std : bool, default=True
        Scale the data to unit variance.
    split_every : int, default=None
        Fan-in of the tree reduction over chunks (None: 8).
    retries : int, default=0
        With dask input on a distributed cluster: how many times a failed chunk task
        is rerun before its exception stops the fit.

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,) or None
        Per-feature scale, ``sqrt(var_)`` with near-constant features set to 1;
        None when ``with_std=False``.
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean; None when both ``with_mean`` and ``with_std`` are False.
    var_ : ndarray of shape (n_features,) or None
        Per-feature (population) variance; None when ``with_std=False``.
    n_samples_seen_ : int, float or ndarray of shape (n_features,)
        Samples (the sum of their weights when weighted) seen per feature; one
        number when no feature has missing values. (With both ``with_mean`` and
        ``with_std`` False, scikit-learn counts weighted samples as rows; daskgd
        sums their weights, as in every other mode.)
    n_passes_ : int
        Passes over the data of the last ``fit`` or ``partial_fit``.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` has string column names.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "copy": ["boolean"],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "split_every": [Interval(Integral, 2, None, closed="left"), None],
        "retries": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        copy: bool = True,
        with_mean: bool = True,
        with_std: bool = True,
        split_every: int | None = None,
        retries: int = 0,
    ) -> None:
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.split_every = split_every
        self.retries = retries

    def _reset(self) -> None:
        for name in ("scale_", "mean_", "var_", "n_samples_seen_"):
            if hasattr(self, name):
                delattr(self, name)

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> StandardScaler:
        """Compute the mean and variance of every feature.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            The data.
        y : None
            Ignored.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        self._reset()
        return self.partial_fit(X, y, sample_weight)

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> StandardScaler:
        """Update the mean and variance with a batch of samples.

        Parameters
        ----------
        X : {array-like, dask array, dask DataFrame} of shape (n_samples, n_features)
            The batch.
        y : None
            Ignored.
        sample_weight : {array-like, dask array} of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        self._validate_params()
        first_call = not hasattr(self, "n_samples_seen_")
        weighted = sample_weight is not None
        if validation.is_dask_collection(X):
            batch = self._dask_moments(X, sample_weight, reset=first_call)
        else:
            X = validate_data(
                self,
                X,
                accept_sparse=("csr", "csc"),
                dtype=[np.float64, np.float32],
                ensure_all_finite="allow-nan",
                reset=first_call,
            )
            if scipy.sparse.issparse(X):
                self._refuse_centring_sparse("X")
            if weighted:
                sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            batch = feature_moments(X, sample_weight)
            self.n_passes_ = 1
        total = batch if first_call else self._moments().merge(batch)
        self._store(total, weighted)
        return self

    def _dask_moments(self, X: Any, sample_weight: Any, reset: bool) -> FeatureMomentsPartial:
        from daskgd.engine.frame import ChunkedFrame
        from daskgd.engine.reductions import FeatureMoments

        if hasattr(X, "columns"):
            names = np.asarray(X.columns, dtype=object)
            if reset:
                self.feature_names_in_ = names
        elif reset and hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        X, _, sample_weight, input_passes = validation.with_known_rows(
            X, None, sample_weight, retries=self.retries
        )
        X = validation.check_dask_X(X, accept_sparse=True)
        if scipy.sparse.issparse(X._meta):
            self._refuse_centring_sparse("X's chunks")
        if reset:
            self.n_features_in_ = int(X.shape[1])
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but StandardScaler is expecting "
                f"{self.n_features_in_} features as input."
            )
        if sample_weight is not None:
            sample_weight = validation.check_dask_sample_weight(sample_weight, X)
        # NaN is a missing value here: the moments' own chunk step rejects infinity.
        frame = ChunkedFrame(
            {"X": X, "sample_weight": sample_weight},
            cache=False,
            retries=self.retries,
            split_every=self.split_every,
            check=False,
        )
        weight_column = None if sample_weight is None else "sample_weight"
        moments = frame.reduce(FeatureMoments("X", weight_column), frame.first_rows)
        self.n_passes_ = input_passes + frame.n_passes
        return moments

    def _refuse_centring_sparse(self, what: str) -> None:
        if self.with_mean:
            raise ValueError(
                f"Cannot center sparse matrices ({what} are sparse): pass `with_mean=False` "
                "instead. Centring would make every zero a stored value."
            )

    def _moments(self) -> FeatureMomentsPartial:
        """The moments behind the fitted attributes (to merge a new batch into)."""
        n = np.broadcast_to(np.asarray(self.n_samples_seen_, dtype=np.float64), self._n_shape())
        mean = np.zeros(self._n_shape()) if self.mean_ is None else self.mean_
        m2 = np.zeros(self._n_shape()) if self.var_ is None else self.var_ * n
        return FeatureMomentsPartial(n.copy(), np.asarray(mean, dtype=np.float64), m2)

    def _n_shape(self) -> tuple[int]:
        return (int(self.n_features_in_),)

    def _store(self, moments: FeatureMomentsPartial, weighted: bool) -> None:
        n = moments.n if weighted else moments.n.astype(np.int64)
        self.n_samples_seen_ = n[0] if n.size and n.max() == n.min() else n
        var = np.divide(moments.m2, moments.n, out=np.zeros_like(moments.m2), where=moments.n > 0)
        keep_moments = self.with_mean or self.with_std
        self.mean_ = moments.mean.copy() if keep_moments else None
        self.var_ = var if self.with_std else None
        if self.with_std:
            constant = _is_constant_feature(var, moments.mean, self.n_samples_seen_)
            self.scale_ = _handle_zeros_in_scale(np.sqrt(var), copy=False, constant_mask=constant)
        else:
            self.scale_ = None

    def _block_function(self, inverse: bool) -> Any:
        mean = self.mean_ if self.with_mean else None
        scale = self.scale_ if self.with_std else None

        def scaled(block: Any) -> Any:
            if scipy.sparse.issparse(block):  # with_mean=False: only the scale applies
                sparse_block: Any = block
                if scale is None:
                    return scipy.sparse.csr_matrix(sparse_block, dtype=np.float64)
                factor = np.asarray(scale if inverse else 1.0 / scale)
                return scipy.sparse.csr_matrix(sparse_block.multiply(factor[np.newaxis, :]))
            out = np.array(block, dtype=np.float64)
            if inverse:
                if scale is not None:
                    out *= scale
                if mean is not None:
                    out += mean
            else:
                if mean is not None:
                    out -= mean
                if scale is not None:
                    out /= scale
            return out

        return scaled

    def _apply(self, X: Any, inverse: bool, copy: bool | None) -> Any:
        check_is_fitted(self, "n_samples_seen_")
        function = self._block_function(inverse)
        if validation.is_dask_collection(X):
            from daskgd.engine.execution import map_row_blocks

            X = validation.check_dask_X(X, accept_sparse=True)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but StandardScaler is expecting "
                    f"{self.n_features_in_} features as input."
                )
            if scipy.sparse.issparse(X._meta):
                self._refuse_centring_sparse("X's chunks")
                return X.map_blocks(function, dtype=np.float64, meta=X._meta)
            return map_row_blocks(function, X, int(X.shape[1]))
        copy = self.copy if copy is None else copy
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse=("csr", "csc"),
            copy=copy,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
        )
        if scipy.sparse.issparse(X):
            self._refuse_centring_sparse("X")
            sparse_X: Any = X
            return function(sparse_X).astype(sparse_X.dtype)
        dtype = X.dtype
        out = function(X).astype(dtype, copy=False)
        if not copy:
            X[...] = out
            return X
        return out

    def transform(self, X: Any, copy: bool | None = None) -> Any:
        """Standardise ``X``: lazily, one task per chunk, for dask input.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            The data.
        copy : bool, default=None
            With NumPy input, whether to copy ``X`` (None: the ``copy`` parameter).

        Returns
        -------
        X_scaled : {ndarray, dask array} of shape (n_samples, n_features)
        """
        return self._apply(X, inverse=False, copy=copy)

    def inverse_transform(self, X: Any, copy: bool | None = None) -> Any:
        """Undo :meth:`transform`: lazily, one task per chunk, for dask input.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            Standardised data.
        copy : bool, default=None
            With NumPy input, whether to copy ``X`` (None: the ``copy`` parameter).

        Returns
        -------
        X_original : {ndarray, dask array} of shape (n_samples, n_features)
        """
        return self._apply(X, inverse=True, copy=copy)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = not self.with_mean
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
