"""Small-batch inference for the three gradient-boosted models, without scikit-learn's per-tree overhead.

The consumer scores the messages of one poll: at real-time rates that is 1-10 rows.
``HistGradientBoostingClassifier.predict_proba`` then costs ~1 ms per model however few
the rows, almost all of it fixed overhead (input validation, then one Cython call per
tree, 100 trees per model), and most of it holding the GIL, which the producer, the
consumer and the dashboard refresher of the same kernel all need.

:class:`CompiledForest` flattens the trees of *all* models into one node table and walks
every tree of every model at once with a few NumPy gathers per depth level, so one poll
costs one traversal whatever the number of models. It reproduces scikit-learn exactly:

* the same split rule as ``sklearn.ensemble._hist_gradient_boosting._predictor``:
  ``x <= threshold`` goes left, a missing value (NaN) goes where the tree learnt
  (``missing_go_to_left``);
* the same sum, in the same order (baseline, then tree 1, 2, ...: a sequential
  ``cumsum``), and the same link (``scipy.special.expit``);

so the scores are bit-for-bit those of ``predict_proba`` (the tests compare them on
held-out real data, NaNs included). The logistic-regression baseline that training may
choose instead (imputer -> scaler -> logistic regression) is compiled to the same
arithmetic by :class:`CompiledLogistic`. Models neither takes (categorical splits,
multi-class, other estimator types) stay with scikit-learn: :func:`compile_models`
returns them separately.

For large batches scikit-learn's multi-threaded tree code is faster;
:class:`f1live.analysis.AnalyticsProcessor` switches at :data:`SMALL_BATCH` rows
(``bench/bench_inference.py`` measures both).

>>> import numpy as np
>>> from sklearn.ensemble import HistGradientBoostingClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)); X[::7, 1] = np.nan
>>> y = (X[:, 0] + np.nan_to_num(X[:, 1]) > 0).astype(int)
>>> est = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
>>> forest = CompiledForest({"m": est})
>>> bool(np.array_equal(forest.predict_proba(X[:5])["m"], est.predict_proba(X[:5])[:, 1]))
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

#: Below this many rows per call the compiled walk beats scikit-learn (measured by
#: ``bench/bench_inference.py``: ~0.2 ms vs ~3 ms for the three models on one row).
SMALL_BATCH = 64


class UnsupportedModelError(TypeError):
    """The estimator is not a binary, numeric-split ``HistGradientBoostingClassifier``."""


def _check(name: str, est: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not isinstance(est, HistGradientBoostingClassifier):
        raise UnsupportedModelError(f"{name}: {type(est).__name__} is not a HistGradientBoostingClassifier")
    if getattr(est, "n_trees_per_iteration_", None) != 1:
        raise UnsupportedModelError(f"{name}: multi-class model ({est.n_trees_per_iteration_} trees per iteration)")
    if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
        raise UnsupportedModelError(f"{name}: categorical splits are not compiled")


class CompiledForest:
    """All trees of several binary ``HistGradientBoostingClassifier`` models, walked together.

    Args:
        models: name -> fitted estimator.
        columns: name -> the columns of ``X`` each model reads, in its feature order
            (models trained on different subsets of one feature vector); ``None``: every
            model reads all columns of ``X``.
        n_features: the width of ``X`` (required with ``columns``).

    Raises:
        UnsupportedModelError: naming the model that cannot be compiled.
    """

    def __init__(
        self,
        models: Mapping[str, Any],
        columns: Mapping[str, Sequence[int]] | None = None,
        n_features: int | None = None,
    ) -> None:
        if not models:
            raise ValueError("CompiledForest needs at least one model")
        self.names = list(models)
        if columns is None:
            widths = {int(est.n_features_in_) for est in models.values()}
            if len(widths) != 1:
                raise ValueError(f"models take different numbers of features: {widths}; pass columns=")
            n_features = widths.pop()
            columns = {n: list(range(n_features)) for n in models}
        elif n_features is None:
            raise ValueError("n_features (the width of X) is required with columns")
        for name, est in models.items():
            if len(columns[name]) != int(est.n_features_in_):
                raise ValueError(f"{name}: {len(columns[name])} columns for a model of {est.n_features_in_} features")
        self.n_features = int(n_features)
        F = self.n_features
        cols: list[np.ndarray]
        thr: list[np.ndarray]
        left: list[np.ndarray]
        right: list[np.ndarray]
        leaf: list[np.ndarray]
        value: list[np.ndarray]
        roots: list[int]
        cols, thr, left, right, leaf, value, roots = [], [], [], [], [], [], []
        segments: list[tuple[int, int]] = []  # per model: (first tree, number of trees)
        baselines = []
        offset = 0
        depth = 0
        for name, est in models.items():
            _check(name, est)
            cmap = np.asarray(columns[name], dtype=np.int64)
            first = len(roots)
            for (pred,) in est._predictors:  # one tree per iteration (binary)
                nodes = pred.nodes
                n = len(nodes)
                is_leaf = nodes["is_leaf"].astype(bool)
                own = np.arange(offset, offset + n, dtype=np.int64)
                # A node reads column f of X with NaN -> -inf when missing values go left,
                # or column F + f (X as is) when they go right (NaN <= t is False, even for
                # the t = +inf of a "missing or not" split): one comparison then routes NaNs
                # as the tree learnt. Leaves read column 0 (never NaN), compare against +inf
                # and point at themselves, so every walk can run the same number of steps.
                col = cmap[nodes["feature_idx"].astype(np.int64)] + F * (
                    1 - nodes["missing_go_to_left"].astype(np.int64)
                )
                col[is_leaf] = 0
                t = nodes["num_threshold"].astype(np.float64).copy()
                t[is_leaf] = np.inf
                lc = nodes["left"].astype(np.int64) + offset
                rc = nodes["right"].astype(np.int64) + offset
                lc[is_leaf] = own[is_leaf]
                rc[is_leaf] = own[is_leaf]
                cols.append(col)
                thr.append(t)
                left.append(lc)
                right.append(rc)
                leaf.append(is_leaf)
                value.append(nodes["value"].astype(np.float64))
                roots.append(offset)
                depth = max(depth, int(nodes["depth"].max()))
                offset += n
            segments.append((first, len(roots) - first))
            baselines.append(float(np.asarray(est._baseline_prediction).ravel()[0]))
        self._col = np.concatenate(cols)
        self._thr = np.concatenate(thr)
        self._left = np.concatenate(left)
        self._right = np.concatenate(right)
        self._leaf = np.concatenate(leaf)
        self._value = np.concatenate(value)
        self._roots = np.asarray(roots, dtype=np.int64)
        self._segments = segments
        self._baselines = baselines
        self.depth = depth
        self.n_trees = len(roots)
        self.n_nodes = offset

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Index (into the node table) of the leaf each row reaches in each tree: ``(rows, trees)``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; expected (rows, {self.n_features}) features")
        n = X.shape[0]
        both = np.empty((n, 2 * self.n_features), dtype=np.float64)
        nan = np.isnan(X)
        both[:, : self.n_features] = np.where(nan, -np.inf, X)
        both[:, self.n_features :] = X
        flat = both.ravel()
        base = (np.arange(n, dtype=np.int64) * (2 * self.n_features))[:, None]
        idx = np.broadcast_to(self._roots, (n, self.n_trees)).copy()
        col, thr, left, right, leaf = self._col, self._thr, self._left, self._right, self._leaf
        for step in range(self.depth):
            if step >= 4 and step % 2 == 0 and leaf[idx].all():
                break
            go_left = flat[base + col[idx]] <= thr[idx]
            idx = np.where(go_left, left[idx], right[idx])
        return idx

    def predict_proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Positive-class probability of every model, as ``predict_proba(X)[:, 1]`` would give."""
        values = self._value[self.leaves(X)]
        out: dict[str, np.ndarray] = {}
        for name, (first, count), base in zip(self.names, self._segments, self._baselines, strict=True):
            # baseline + tree 1 + tree 2 + ..., left to right like scikit-learn (cumsum is sequential)
            seq = np.empty((values.shape[0], count + 1), dtype=np.float64)
            seq[:, 0] = base
            seq[:, 1:] = values[:, first : first + count]
            out[name] = expit(np.cumsum(seq, axis=1)[:, -1])
        return out


class CompiledLogistic:
    """``make_pipeline(SimpleImputer, StandardScaler, LogisticRegression)`` (binary) as plain NumPy.

    The same operations in the same order as scikit-learn (impute, ``(x - mean) / scale``,
    ``X @ coef.T + intercept``, ``expit``), without its per-call validation.

    >>> import numpy as np
    >>> from sklearn.impute import SimpleImputer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 3.0], [3.0, 2.0]])
    >>> pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression())
    >>> pipe = pipe.fit(X, [0, 0, 1, 1])
    >>> bool(np.array_equal(CompiledLogistic("m", pipe).predict_proba(X), pipe.predict_proba(X)[:, 1]))
    True
    """

    def __init__(self, name: str, pipeline: Any, columns: Sequence[int] | None = None) -> None:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        steps = [s for _, s in getattr(pipeline, "steps", [])]
        kinds = [type(s) for s in steps]
        if kinds != [SimpleImputer, StandardScaler, LogisticRegression]:
            raise UnsupportedModelError(f"{name}: {type(pipeline).__name__} is not imputer -> scaler -> logistic")
        imp, sc, lr = steps
        stats = np.asarray(imp.statistics_, dtype=np.float64)
        mv = imp.missing_values
        if (
            not (isinstance(mv, float) and np.isnan(mv))
            or np.isnan(stats).any()
            or getattr(imp, "add_indicator", False)
        ):
            raise UnsupportedModelError(f"{name}: imputer setup not compiled (missing_values={mv!r})")
        if len(lr.classes_) != 2:
            raise UnsupportedModelError(f"{name}: multi-class logistic regression")
        self.name = name
        self.columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        self.n_features = int(pipeline.n_features_in_)
        self._stats = stats
        self._mean = None if sc.mean_ is None else np.asarray(sc.mean_, dtype=np.float64)
        self._scale = None if sc.scale_ is None else np.asarray(sc.scale_, dtype=np.float64)
        self._coef_t = np.asarray(lr.coef_, dtype=np.float64).T
        self._intercept = np.asarray(lr.intercept_, dtype=np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Positive-class probability, as ``pipeline.predict_proba(X[:, columns])[:, 1]``."""
        X = np.asarray(X, dtype=np.float64)
        X = X[:, self.columns] if self.columns is not None else X.copy()  # a copy: imputed and scaled in place
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; expected (rows, {self.n_features}) features")
        nan = np.isnan(X)
        if nan.any():
            X[nan] = np.broadcast_to(self._stats, X.shape)[nan]
        if self._mean is not None:
            X -= self._mean
        if self._scale is not None:
            X /= self._scale
        scores = (X @ self._coef_t + self._intercept).reshape(-1)
        return expit(scores)


class CompiledModels:
    """The compiled models of a bundle: one :class:`CompiledForest` plus any :class:`CompiledLogistic`."""

    def __init__(self, forest: CompiledForest | None, logistic: Mapping[str, CompiledLogistic]) -> None:
        self.forest = forest
        self.logistic = dict(logistic)
        self.names = (forest.names if forest is not None else []) + list(self.logistic)

    def predict_proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
        out = self.forest.predict_proba(X) if self.forest is not None else {}
        for name, m in self.logistic.items():
            out[name] = m.predict_proba(X)
        return out


def compile_models(
    models: Mapping[str, Any], columns: Mapping[str, Sequence[int]] | None = None, n_features: int | None = None
) -> tuple[CompiledModels | None, dict[str, Any]]:
    """Split ``models`` into the compiled ones (:class:`CompiledModels`) and the rest.

    ``columns``/``n_features`` as in :class:`CompiledForest` (each model's columns of one
    feature matrix).

    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> lr = LogisticRegression().fit(np.eye(2), [0, 1])
    >>> compiled, rest = compile_models({"lr": lr})
    >>> compiled is None, list(rest)
    (True, ['lr'])
    """
    trees: dict[str, Any] = {}
    logistic: dict[str, CompiledLogistic] = {}
    rest: dict[str, Any] = {}
    for name, est in models.items():
        try:
            _check(name, est)
            trees[name] = est
            continue
        except UnsupportedModelError:
            pass
        try:
            logistic[name] = CompiledLogistic(name, est, None if columns is None else columns[name])
        except UnsupportedModelError:
            rest[name] = est
    if not trees and not logistic:
        return None, rest
    forest = None
    if trees:
        forest = CompiledForest(trees, None if columns is None else {n: columns[n] for n in trees}, n_features)
    return CompiledModels(forest, logistic), rest
