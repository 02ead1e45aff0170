"""Compiled small-batch inference gives scikit-learn's scores exactly, and the consumer uses it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from f1live.labels import TARGETS


@pytest.fixture(scope="module")
def held_out_features(eval_2023: Any) -> np.ndarray:
    """Real features of the held-out race (NaNs included: first laps, no previous lap, ...)."""
    from f1live.features import build_feature_table

    return build_feature_table(eval_2023.telemetry).to_numpy(np.float64)


@pytest.fixture(scope="module")
def bundle(trained: Any) -> Any:
    from f1live.models import load_models

    return load_models(trained.out_dir)


@pytest.fixture(scope="module")
def gbm_estimators(train_2022: Any) -> dict[str, Any]:
    """Three gradient-boosted models on real 2022 labels (the trained bundle may pick the
    logistic baseline for some targets; this covers the trees for all three)."""
    from f1live.features import build_feature_table
    from f1live.labels import make_labels
    from f1live.models import fit_estimator, make_model

    d = train_2022
    X = build_feature_table(d.telemetry).to_numpy(np.float64)
    labels = make_labels(d.telemetry, d.laps, d.track_status)
    out = {}
    for n in TARGETS:
        y = labels[n].to_numpy(float)
        ok = ~np.isnan(y)
        out[n] = fit_estimator(make_model(seed=0, max_iter=30), X[ok], y[ok].astype(int))
    return out


def _assert_same(
    compiled: Any, estimators: dict[str, Any], X: np.ndarray, columns: dict[str, list[int]] | None = None
) -> None:
    rng = np.random.default_rng(1)
    for size in (1, 7, 300, len(X)):  # the last: every leaf path the real data reaches
        rows = X[rng.choice(len(X), size=size, replace=False)]
        got = compiled.predict_proba(rows)
        assert set(got) == set(estimators)
        for name, est in estimators.items():
            cols = rows if columns is None else rows[:, columns[name]]
            np.testing.assert_array_equal(got[name], est.predict_proba(cols)[:, 1], err_msg=f"{name}, {size} rows")


def test_compiled_trees_equal_sklearn_bit_for_bit(
    gbm_estimators: dict[str, Any], held_out_features: np.ndarray
) -> None:
    from f1live.tree_inference import CompiledForest

    X = held_out_features
    assert np.isnan(X).any(), "the held-out features should exercise missing-value routing"
    forest = CompiledForest(gbm_estimators)
    assert forest.n_trees == sum(len(e._predictors) for e in gbm_estimators.values())
    _assert_same(forest, gbm_estimators, X)


def test_trained_bundle_compiles_completely_and_exactly(bundle: Any, held_out_features: np.ndarray) -> None:
    """Each model reads its own columns of the feature vector; compiled scores are bit-identical."""
    from f1live.features import FEATURE_NAMES
    from f1live.tree_inference import compile_models

    estimators = {n: m.estimator for n, m in bundle.models.items()}
    columns = {n: m.columns for n, m in bundle.models.items()}
    assert any(len(c) < len(FEATURE_NAMES) for c in columns.values())  # subsets, not the whole vector
    compiled, rest = compile_models(estimators, columns, len(FEATURE_NAMES))
    assert rest == {} and compiled is not None and sorted(compiled.names) == sorted(TARGETS)
    _assert_same(compiled, estimators, held_out_features, columns)
    full = bundle.predict_proba(held_out_features[:50])
    np.testing.assert_array_equal(
        np.vstack([full[n] for n in TARGETS]),
        np.vstack([compiled.predict_proba(held_out_features[:50])[n] for n in TARGETS]),
    )


def test_monotone_trees_and_column_subsets_compile_exactly(held_out_features: np.ndarray) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from f1live.tree_inference import CompiledForest

    X = held_out_features
    rng = np.random.default_rng(3)
    cols_a, cols_b = [0, 5, 9], [12, 3]
    y = (np.nan_to_num(X[:, 0]) + rng.normal(0, 30, len(X)) > np.nanmedian(X[:, 0])).astype(int)
    a = HistGradientBoostingClassifier(max_iter=15, monotonic_cst=[1, 0, -1], random_state=0).fit(X[:, cols_a], y)
    b = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X[:, cols_b], y)
    forest = CompiledForest({"a": a, "b": b}, {"a": cols_a, "b": cols_b}, X.shape[1])
    _assert_same(forest, {"a": a, "b": b}, X, {"a": cols_a, "b": cols_b})


def test_consumer_small_batches_skip_sklearn_and_match_large_batches(
    trained: Any, monaco_2023_slice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from f1live.analysis import AnalyticsProcessor, analyse_table
    from f1live.config import Settings
    from f1live.tree_inference import SMALL_BATCH

    tel = monaco_2023_slice.telemetry.head(1500)
    big = analyse_table(tel, AnalyticsProcessor(Settings(), models_dir=trained.out_dir), batch_size=500)

    small_proc = AnalyticsProcessor(Settings(), models_dir=trained.out_dir)
    small_proc.start()
    calls: list[int] = []
    for m in small_proc._bundle.models.values():
        orig = m.estimator.predict_proba
        monkeypatch.setattr(m.estimator, "predict_proba", lambda X, _o=orig: (calls.append(len(X)), _o(X))[1])
    small = analyse_table(tel, small_proc, batch_size=5)
    assert 5 < SMALL_BATCH and calls == [], f"scikit-learn was called on small batches: {calls[:5]}"
    for name in TARGETS:
        # equal up to BLAS summation order (a logistic model's dot product may differ in
        # the last bit between a 5-row and a 500-row matrix, in scikit-learn too)
        np.testing.assert_allclose(
            small[name].to_numpy(float), big[name].to_numpy(float), rtol=0, atol=1e-12, err_msg=name
        )
        assert (small[name + "_alert"] == big[name + "_alert"]).all()


def test_unsupported_models_stay_with_sklearn_and_are_named() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from f1live.tree_inference import CompiledForest, UnsupportedModelError, compile_models

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    multi = HistGradientBoostingClassifier(max_iter=5).fit(X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0))
    binary = HistGradientBoostingClassifier(max_iter=5).fit(X, (X[:, 0] > 0).astype(int))
    lr = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(UnsupportedModelError, match="crash_risk: multi-class"):
        CompiledForest({"crash_risk": multi})
    forest, rest = compile_models({"a": binary, "b": lr})
    assert forest is not None and forest.names == ["a"] and list(rest) == ["b"]
    with pytest.raises(ValueError, match=r"expected \(rows, 2\) features"):
        forest.predict_proba(np.zeros((1, 3)))
