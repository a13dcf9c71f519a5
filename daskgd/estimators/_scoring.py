"""``score`` in one pass on dask data: scikit-learn's mixins, scoring through the engine.

scikit-learn's ``ClassifierMixin.score`` and ``RegressorMixin.score`` hand the
lazy predictions to ``accuracy_score`` / ``r2_score``, which compute them, and the
labels, several times over. On dask input these mixins compute the same figures
from one pass (:func:`daskgd.evaluation.evaluate`); on NumPy input they are
scikit-learn's.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin, RegressorMixin

from daskgd import validation


class DaskClassifierMixin(ClassifierMixin):
    """scikit-learn's classifier mixin, whose ``score`` takes dask data in one pass."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on the given data and labels.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            Test samples.
        y : dask array or array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), optional
            Sample weights.

        Returns
        -------
        score : float
            Accuracy of ``self.predict(X)``, weighted; one pass for dask input.
        """
        if not validation.is_dask_collection(X):
            return float(super().score(X, y, sample_weight))
        from daskgd.evaluation import evaluate

        return float(evaluate(self, X, y, sample_weight, with_auc=False)["accuracy"])


class DaskRegressorMixin(RegressorMixin):
    """scikit-learn's regressor mixin, whose ``score`` takes dask data in one pass."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R^2 on the given data.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            Test samples.
        y : dask array or array-like of shape (n_samples,) or (n_samples, n_outputs)
            True values.
        sample_weight : array-like of shape (n_samples,), optional
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` (averaged over outputs), weighted; one pass for
            dask input.
        """
        if not validation.is_dask_collection(X):
            return float(super().score(X, y, sample_weight))
        from daskgd.evaluation import evaluate

        return float(evaluate(self, X, y, sample_weight, with_auc=False)["r2"])
