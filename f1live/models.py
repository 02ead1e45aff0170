"""Batch-trained scikit-learn models: datasets, training, evaluation, manifest, safe loading.

Three binary models -- ``pit_stop_probability``, ``crash_risk``, ``tire_failure`` --
are trained on the features of :mod:`f1live.features` and the real-event labels of
:mod:`f1live.labels`, on races *other* than the one that is streamed (default: train on
2022 + 2024 Monaco, evaluate on the held-out 2023 Monaco race).

* Each target has a few **candidates** (:data:`CANDIDATES`: a feature subset and an
  estimator -- gradient-boosted trees, some with monotonic constraints, or a logistic
  regression). **Leave-one-race-out** cross-validation on the training races gives
  out-of-fold scores (a single training race is split into contiguous time blocks
  instead): stops, flags and weather cluster in time and across drivers, so folds
  grouped by driver inside one race leak.
* The candidate with the best out-of-fold result ships, with its threshold chosen on
  the same out-of-fold scores -- as a rank (each fold's model is calibrated differently;
  the chosen rank becomes a threshold of the final model through its scores on the
  training rows): for the pit model the threshold that announces the most
  real stops at no more than :data:`PIT_FALSE_ALERTS_PER_HOUR` false alerts per
  driver-hour (:mod:`f1live.evaluation`), for the others the best F1. Nothing of the
  held-out race is used for any choice.
* Class imbalance: positives are replicated to balance the classes (=
  ``class_weight="balanced"``); scores are ranking scores, the threshold makes alerts.
* The held-out race is scored per row (accuracy, F1, ROC-AUC, PR-AUC, Brier, confusion
  matrix, next to the majority class) and per **event** (pit entries announced, lead
  times, false alerts per driver-hour, with bootstrap intervals, next to the baselines a
  strategist would use; incident events vs chance; the tyre proxy vs persistence). A
  one-sentence ``evidence`` per model goes into the manifest for the dashboard.

Files: ``<models_dir>/<name>_model.pkl`` (joblib of a plain dict: estimator, features,
threshold) and ``<models_dir>/manifest.json`` (sha256 of every file, input feature list
and each model's subset, feature parameters, label definitions, sessions, versions,
metrics, evidence). :func:`load_models` checks the manifest -- sha256 of *every* file,
scikit-learn/River versions, features -- *before* unpickling anything.

>>> model_filename("crash_risk")
'crash_risk_model.pkl'
>>> load_models("/nonexistent/models")
Traceback (most recent call last):
...
f1live.models.ModelsMissingError: no trained models in /nonexistent/models (manifest.json not found); run `f1live train` first
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import platform
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import river
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from f1live.evaluation import (
    AlertRules,
    TyreAgeHazard,
    alert_curve,
    choose_alert_threshold,
    event_metrics,
    incident_events,
    incident_hits,
    persistence_metrics,
    trigger_score,
)
from f1live.features import FEATURE_NAMES, OnlineFeatures, build_feature_table, typical_stint_laps
from f1live.labels import TARGETS, LabelConfig, make_labels, pit_entries

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DEFAULT_LABELS = LabelConfig()
DEFAULT_RULES = AlertRules()
#: v2: per-model feature subsets, feature parameters, event-level metrics and evidence.
MANIFEST_FORMAT = 2
#: False-alert budget of the pit alert (per driver-hour) used to choose its threshold.
PIT_FALSE_ALERTS_PER_HOUR = 2.0
#: Default training and held-out races (same event: Monaco).
DEFAULT_TRAIN_YEARS: tuple[int, ...] = (2022, 2024)
DEFAULT_EVAL_YEAR = 2023


class ModelsMissingError(FileNotFoundError):
    """No trained models where they were expected."""


class ModelIntegrityError(ValueError):
    """A model file or its manifest does not match what the code expects; nothing was unpickled."""


def model_filename(name: str) -> str:
    """File name of a model (the names the seed project uses)."""
    if name not in TARGETS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(TARGETS)}")
    return f"{name}_model.pkl"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- candidates
#: Pit stop: what a strategist watches -- others stopping, tyre age against the compound's
#: usual stint, the car's and the field's pace against the race's best lap, rain, and where
#: in the lap the car is (the pit entry is at the end of the lap).
PIT_FEATURES: tuple[str, ...] = (
    "others_pitted_120",
    "others_pitted_300",
    "tyre_age_ratio",
    "pace_ratio",
    "field_pace_ratio",
    "rainfall",
    "time_in_lap",
)
PIT_WIDE_FEATURES: tuple[str, ...] = PIT_FEATURES + (
    "tyre_life",
    "last_lap_vs_stint_best",
    "stint_deg",
    "laps_remaining",
    "dry_compounds_used",
    "wet_tyres_used",
    "compound_code",
    "gap_ahead",
    "gap_behind",
    "position",
    "status_sc",
    "status_vsc",
    "status_age",
    "rain_age",
    "dry_age",
    "track_temp",
    "track_temp_change",
)
CRASH_FEATURES: tuple[str, ...] = (
    "status_yellow",
    "status_sc",
    "status_vsc",
    "status_age",
    "prev_lap_yellow",
    "prev_lap_sc",
    "prev_lap_vsc",
    "rainfall",
    "rain_age",
    "track_temp",
    "field_pace_ratio",
    "pace_ratio",
    "lap_number",
    "laps_remaining",
    "position",
    "gap_ahead",
    "gap_behind",
    "speed_mean",
    "speed_std",
    "brake_mean",
    "throttle_std",
    "accel",
)
TYRE_FEATURES: tuple[str, ...] = (
    "tyre_life",
    "tyre_age_ratio",
    "compound_code",
    "compound_wet",
    "stint",
    "last_lap_time",
    "lap_time_trend",
    "last_lap_vs_stint_best",
    "stint_deg",
    "pace_ratio",
    "field_pace_ratio",
    "track_temp",
    "track_temp_change",
    "rainfall",
    "laps_remaining",
    "time_in_lap",
)


@dataclass(frozen=True)
class Candidate:
    """One model candidate: an estimator kind on a feature subset.

    Attributes:
        name: identifier (manifest, reports).
        kind: ``hgb`` (``HistGradientBoostingClassifier``) or ``logistic``.
        features: names from :data:`f1live.features.FEATURE_NAMES`.
        monotonic: feature -> +1/-1 monotonic constraint (hgb only): domain knowledge that
            keeps a model trained on two races from learning their accidents.
        max_iter, max_leaf_nodes, min_samples_leaf: tree settings.
    """

    name: str
    kind: str
    features: tuple[str, ...]
    monotonic: Mapping[str, int] = field(default_factory=dict)
    max_iter: int = 100
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 80

    def make(self, seed: int = 0, max_iter: int | None = None) -> Any:
        """A fresh unfitted estimator."""
        if self.kind == "logistic":
            return make_logistic(seed)
        cst = [int(self.monotonic.get(f, 0)) for f in self.features] if self.monotonic else None
        return HistGradientBoostingClassifier(
            max_iter=min(self.max_iter, max_iter) if max_iter else self.max_iter,
            learning_rate=0.08,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
            monotonic_cst=cst,
        )


_PIT_MONOTONE = {
    "others_pitted_120": 1,
    "others_pitted_300": 1,
    "tyre_age_ratio": 1,
    "pace_ratio": 1,
    "field_pace_ratio": 1,
    "rainfall": 1,
}

#: The candidates of each target, tried in leave-one-race-out CV on the training races.
CANDIDATES: dict[str, tuple[Candidate, ...]] = {
    "pit_stop_probability": (
        Candidate(
            "hgb_monotone_strategy",
            "hgb",
            PIT_FEATURES,
            _PIT_MONOTONE,
            max_iter=60,
            max_leaf_nodes=7,
            min_samples_leaf=400,
        ),
        Candidate("hgb_wide", "hgb", PIT_WIDE_FEATURES, max_iter=80, max_leaf_nodes=15, min_samples_leaf=200),
        Candidate("logistic_strategy", "logistic", PIT_FEATURES),
    ),
    "crash_risk": (
        Candidate("hgb_context", "hgb", CRASH_FEATURES, max_iter=80, max_leaf_nodes=15, min_samples_leaf=200),
        Candidate("logistic_context", "logistic", CRASH_FEATURES),
    ),
    "tire_failure": (
        Candidate("hgb_stint", "hgb", TYRE_FEATURES, max_iter=100),
        Candidate("logistic_stint", "logistic", TYRE_FEATURES),
        Candidate(
            "logistic_lap_loss",
            "logistic",
            ("last_lap_vs_stint_best", "stint_deg", "lap_time_trend", "tyre_age_ratio", "pace_ratio"),
        ),
    ),
}


# --------------------------------------------------------------------------- datasets
@dataclass
class Dataset:
    """Features, labels and context of one or more sessions.

    ``X`` has the columns :data:`f1live.features.FEATURE_NAMES`; ``y`` one float column
    per target (1/0/NaN); ``groups`` the driver of every row; ``session`` its label;
    ``session_time`` the replay clock; ``events`` per session label the real events the
    event-level evaluation needs (``pit``: strategic stops, ``incidents``: flag periods
    and retirements); ``laps``/``track_status`` per session label for the baselines.
    """

    X: pd.DataFrame
    y: pd.DataFrame
    groups: np.ndarray
    session: np.ndarray
    session_time: np.ndarray
    sessions: list[str] = field(default_factory=list)
    events: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    laps: dict[str, pd.DataFrame] = field(default_factory=dict)
    track_status: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.X)

    @staticmethod
    def concat(parts: Sequence[Dataset]) -> Dataset:
        return Dataset(
            X=pd.concat([p.X for p in parts], ignore_index=True),
            y=pd.concat([p.y for p in parts], ignore_index=True),
            groups=np.concatenate([p.groups for p in parts]),
            session=np.concatenate([p.session for p in parts]),
            session_time=np.concatenate([p.session_time for p in parts]),
            sessions=[s for p in parts for s in p.sessions],
            events={k: v for p in parts for k, v in p.events.items()},
            laps={k: v for p in parts for k, v in p.laps.items()},
            track_status={k: v for p in parts for k, v in p.track_status.items()},
        )

    def take(self, mask: np.ndarray) -> Dataset:
        """The rows where ``mask`` is true (events and tables kept)."""
        return Dataset(
            X=self.X[mask].reset_index(drop=True),
            y=self.y[mask].reset_index(drop=True),
            groups=self.groups[mask],
            session=self.session[mask],
            session_time=self.session_time[mask],
            sessions=list(self.sessions),
            events=self.events,
            laps=self.laps,
            track_status=self.track_status,
        )


def session_label(data: Any) -> str:
    """``"2023 Monaco R"`` from a SessionData's meta."""
    m = getattr(data, "meta", {}) or {}
    return f"{m.get('year', '?')} {m.get('event', '?')} {m.get('session', '?')}"


def build_dataset(
    data: Any,
    config: LabelConfig = DEFAULT_LABELS,
    stride: int = 1,
    progress: bool = False,
    warmup_s: float | None = 300.0,
    feature_params: Mapping[str, Any] | None = None,
) -> Dataset:
    """Features (over every row from the run-up on, as the stream sees them) + labels of one session.

    Labels exist only on racing laps, so features are computed from ``warmup_s`` seconds
    before the first lap starts (``None``: from the first row) -- hours of pre-race
    standstill skipped; the 20-sample windows are warm long before the start. Only rows
    with at least one defined label are kept; ``stride`` keeps every n-th of them per
    driver (consecutive samples 0.25 s apart are near-duplicates). ``feature_params``
    are :class:`f1live.features.OnlineFeatures` arguments (the training races' stint lengths).
    """
    if stride < 1:
        raise ValueError(f"stride={stride} must be >= 1")
    if getattr(data, "simulated", False):
        logger.warning("building a dataset from SIMULATED data (%s)", session_label(data))
    tel = data.telemetry
    if warmup_s is not None and len(data.laps) and data.laps["LapStartTime"].notna().any():
        start = float(data.laps["LapStartTime"].min()) - warmup_s
        tel = tel[tel["session_time"] >= start]
    t0 = time.perf_counter()
    X = build_feature_table(tel, progress=progress, extractor=OnlineFeatures(**dict(feature_params or {})))
    y = make_labels(tel, data.laps, data.track_status, config)
    keep = y.notna().any(axis=1).to_numpy()
    if stride > 1:
        # every stride-th kept row per driver (the table is in time order within a driver)
        drv = tel["driver"].astype(str).to_numpy()
        rank = pd.Series(keep.astype(int)).groupby(drv).cumsum().to_numpy()
        keep &= (rank % stride) == 1 % stride
    label = session_label(data)
    stops = pit_entries(data.laps, data.track_status)
    stops = stops[stops["kind"] == "stop"]
    events = {
        "pit": pd.DataFrame({"driver": stops["driver"].to_numpy(), "time": stops["pit_in"].to_numpy(float)}),
        "incidents": incident_events(data.track_status, data.laps, merge_s=config.crash_horizon_s),
    }
    logger.info(
        "dataset %s: %d of %d rows (stride %d) in %.1f s",
        label,
        int(keep.sum()),
        len(tel),
        stride,
        time.perf_counter() - t0,
    )
    return Dataset(
        X=X[keep].reset_index(drop=True),
        y=y[keep].reset_index(drop=True),
        groups=tel["driver"].astype(str).to_numpy()[keep],
        session=np.full(int(keep.sum()), label, dtype=object),
        session_time=tel["session_time"].to_numpy(float)[keep],
        sessions=[label],
        events={label: events},
        laps={label: data.laps},
        track_status={label: data.track_status},
    )


# --------------------------------------------------------------------------- estimators
def make_model(seed: int = 0, max_iter: int = 150) -> HistGradientBoostingClassifier:
    """Gradient-boosted trees with the default settings (NaN-aware, fast batched predict).

    Class balance comes from :func:`balanced_index` (row replication), not ``class_weight``:
    with sample weights scikit-learn 1.9 bins features by weighted percentiles, measured
    ~18x slower (119 s vs 6.5 s for 30k x 39 rows, 40 trees).
    """
    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.08,
        max_leaf_nodes=15,
        min_samples_leaf=80,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def balanced_index(y: np.ndarray, max_factor: int = 50) -> np.ndarray:
    """Row indices with every positive repeated ``round(n_neg / n_pos)`` times (at most ``max_factor``).

    Integer replication is what ``class_weight="balanced"`` does with integer weights.

    >>> balanced_index(np.array([0, 0, 0, 0, 1])).tolist()
    [0, 1, 2, 3, 4, 4, 4, 4]
    """
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y != 1)
    if len(pos) == 0 or len(neg) == 0:
        return np.arange(len(y))
    k = int(min(max(round(len(neg) / len(pos)), 1), max_factor))
    return np.sort(np.concatenate([neg, np.repeat(pos, k)]))


def fit_estimator(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit ``model`` on ``(X, y)``: trees on the class-balanced replication, a logistic
    pipeline with its own balanced class weights.

    A column that is missing in every training row (e.g. rain in a dry race) is set to 0
    for the fit: scikit-learn cannot bin an all-NaN column, and no split can use it anyway.

    >>> X = np.array([[0.0, np.nan], [1.0, np.nan], [2.0, np.nan], [3.0, np.nan]] * 10)
    >>> m = fit_estimator(make_model(max_iter=3), X, np.array([0, 0, 1, 1] * 10))
    >>> m.predict_proba(X[:1]).shape
    (1, 2)
    """
    X = np.asarray(X, dtype=np.float64)
    empty = np.isnan(X).all(axis=0)
    if empty.any():
        X = X.copy()
        X[:, empty] = 0.0
    if isinstance(model, HistGradientBoostingClassifier):
        idx = balanced_index(y)
        return model.fit(X[idx], y[idx])
    return model.fit(X, y)


def fit_balanced(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit ``model`` on the class-balanced replication of ``(X, y)`` (see :func:`fit_estimator`)."""
    return fit_estimator(model, X, y)


def make_logistic(seed: int = 0) -> Any:
    """Median-imputed, standardised logistic regression (balanced class weights)."""
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=500, random_state=seed),
    )


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising F1 of ``p >= t`` (used on out-of-fold training predictions only).

    >>> choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.35
    """
    prec, rec, thr = precision_recall_curve(y, p)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)[:-1]
    if len(thr) == 0:
        return 0.5
    return float(thr[int(np.argmax(f1))])


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Accuracy, F1, ROC-AUC, PR-AUC, Brier, confusion matrix and base rate."""
    y = np.asarray(y).astype(int)
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    cm = confusion_matrix(y, pred, labels=[0, 1])
    return {
        "n": int(len(y)),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(cm[1, 1] / max(cm[:, 1].sum(), 1)),
        "recall": float(cm[1, 1] / max(cm[1, :].sum(), 1)),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "confusion_matrix": cm.tolist(),
    }


def _columns(features: Sequence[str]) -> list[int]:
    idx = {n: i for i, n in enumerate(FEATURE_NAMES)}
    missing = [f for f in features if f not in idx]
    if missing:
        raise ValueError(f"features {missing} are not in f1live.features.FEATURE_NAMES")
    return [idx[f] for f in features]


# --------------------------------------------------------------------------- cross-validation
def cv_folds(ds: Dataset, n_blocks: int = 2) -> tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """(scheme, [(fold name, train mask, test mask)]): leave-one-race-out, or time blocks of one race.

    With two or more training sessions every fold holds one race out. With one, the race
    is cut into ``n_blocks`` contiguous blocks of session time, each held out in turn.
    """
    sessions = list(dict.fromkeys(ds.session.tolist()))
    if len(sessions) >= 2:
        return "leave-one-race-out", [(s, ds.session != s, ds.session == s) for s in sessions]
    t = ds.session_time
    edges = np.quantile(t, np.linspace(0, 1, max(n_blocks, 2) + 1))
    folds = []
    for k in range(len(edges) - 1):
        test = (t >= edges[k]) & ((t < edges[k + 1]) if k < len(edges) - 2 else (t <= edges[k + 1]))
        folds.append((f"{sessions[0] if sessions else '?'} time block {k + 1}", ~test, test))
    return "time blocks of one race", folds


def score_ranks(p: np.ndarray) -> np.ndarray:
    """Scores as ranks in 0-1 (the share of scores below; ties share their lowest rank).

    >>> score_ranks(np.array([0.2, 0.9, 0.2, 0.5])).tolist()
    [0.0, 0.75, 0.0, 0.5]
    """
    p = np.asarray(p, dtype=float)
    s = np.sort(p)
    return np.searchsorted(s, p, side="left") / max(len(p), 1)


def rank_threshold(p: np.ndarray, rank: float) -> float:
    """The score at rank ``rank`` of ``p`` (so that ``score_ranks(p) >= rank`` is ``p >= it``).

    >>> rank_threshold(np.array([0.2, 0.9, 0.2, 0.5]), 0.5)
    0.5
    """
    s = np.sort(np.asarray(p, dtype=float))
    if not len(s):
        return 0.5
    i = min(int(np.ceil(rank * len(s) - 1e-9)), len(s) - 1)
    return float(s[i])


def _event_rows(ds: Dataset, mask: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Rows for :mod:`f1live.evaluation`, drivers keyed by session (VER of 2022 is not VER of 2024)."""
    return pd.DataFrame(
        {
            "driver": pd.Series(ds.session[mask].astype(str)) + ":" + pd.Series(ds.groups[mask]),
            "session_time": ds.session_time[mask],
            "score": scores,
        }
    )


def _pit_events(ds: Dataset, sessions: Iterable[str]) -> pd.DataFrame:
    parts = []
    for s in sessions:
        ev = ds.events.get(s, {}).get("pit")
        if ev is not None and len(ev):
            parts.append(pd.DataFrame({"driver": s + ":" + ev["driver"].astype(str), "time": ev["time"]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["driver", "time"])


@dataclass
class TrainingReport:
    """What :func:`train_models` did: CV and held-out metrics per model, events, evidence, timings."""

    cv: dict[str, dict[str, Any]]
    holdout: dict[str, dict[str, dict[str, Any]]]
    thresholds: dict[str, float]
    train_sessions: list[str]
    eval_session: str | None
    out_dir: str | None
    n_train: dict[str, int]
    seconds: float
    cv_scheme: str = ""
    events: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    feature_params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None  # held-out rows: driver, session_time, labels, scores

    def to_dict(self) -> dict[str, Any]:
        return {
            "cv": self.cv,
            "cv_scheme": self.cv_scheme,
            "holdout": self.holdout,
            "thresholds": self.thresholds,
            "train_sessions": self.train_sessions,
            "eval_session": self.eval_session,
            "out_dir": self.out_dir,
            "n_train": self.n_train,
            "seconds": self.seconds,
            "events": self.events,
            "evidence": self.evidence,
            "feature_params": self.feature_params,
            "timings": self.timings,
        }

    def table(self) -> pd.DataFrame:
        """Held-out row metrics, one row per (model, estimator)."""
        rows = []
        for name, by in self.holdout.items():
            for est, m in by.items():
                if not isinstance(m, dict) or "n" not in m:
                    continue
                label = f"shipped ({m['estimator']})" if est == "model" and "estimator" in m else est
                rows.append(
                    {
                        "model": name,
                        "estimator": label,
                        **{
                            k: m.get(k)
                            for k in (
                                "n",
                                "base_rate",
                                "threshold",
                                "accuracy",
                                "f1",
                                "precision",
                                "recall",
                                "roc_auc",
                                "pr_auc",
                                "brier",
                            )
                        },
                    }
                )
        return pd.DataFrame(rows)


def _fmt_ci(ci: Sequence[float | None] | None, pct: bool = True) -> str:
    if not ci or ci[0] is None:
        return "n/a"
    return f"{ci[0]:.0%}-{ci[1]:.0%}" if pct else f"{ci[0]:.1f}-{ci[1]:.1f}"


def evidence_texts(report: TrainingReport) -> dict[str, str]:
    """One sentence per model saying what the held-out race shows (the dashboard's help text)."""
    out: dict[str, str] = {}
    ev = report.events
    held = report.eval_session or "the held-out race"
    pit = ev.get("pit_stop_probability")
    if pit:
        m, hz, tr = pit["model"], pit["baseline_tyre_age"], pit["baseline_trigger"]
        target = (
            m["announced_fraction"] is not None
            and m["announced_fraction"] >= 0.5
            and (m["false_alerts_per_driver_hour"] or 0) <= PIT_FALSE_ALERTS_PER_HOUR
        )
        better = all(
            m["announced"] > b["announced"]
            or (
                m["announced"] == b["announced"]
                and (m["false_alerts_per_driver_hour"] or 0) < (b["false_alerts_per_driver_hour"] or 0)
            )
            for b in (hz, tr)
        )
        out["pit_stop_probability"] = (
            f"{held}: announced {m['announced']} of {m['events']} real pit stops within "
            f"{int(m['rules']['window_s'])} s (95% CI {_fmt_ci(m.get('announced_fraction_ci'))}) at "
            f"{m['false_alerts_per_driver_hour']:.1f} false alerts per driver-hour; tyre-age baseline "
            f"{hz['announced']}/{hz['events']} at {hz['false_alerts_per_driver_hour']:.1f}/h, SC/VSC/rain trigger "
            f"{tr['announced']}/{tr['events']} at {tr['false_alerts_per_driver_hour']:.1f}/h -- "
            + ("target (half of the stops at <= 2/h) met" if target else "below the target of half the stops at <= 2/h")
            + (", better than both baselines." if better else ", not better than both baselines.")
        )
    crash = ev.get("crash_risk")
    if crash:
        c = crash["model"]
        verdict = "more than chance" if c["distinguishable_from_chance"] else "too few events to tell it from chance"
        silent = " (its saved threshold raised no alert there)" if not c["chance_fraction"] else ""
        out["crash_risk"] = (
            f"{held}: {c['events']} independent incidents ({c['flags']} flag periods, {c['retirements']} "
            f"retirements); alerts came in the 60 s before {c['announced']}{silent} (95% CI "
            f"{_fmt_ci(c.get('announced_fraction_ci'))}) vs {c['chance_fraction']:.0%} expected by chance from "
            f"the alerts' time coverage: {verdict}. An incident proxy, not a crash predictor."
        )
    tyre = ev.get("tire_failure")
    if tyre:
        mo, pe = tyre["model"], tyre["persistence"]
        beats = (mo.get("pr_auc") or 0) > (pe.get("pr_auc") or 0)
        out["tire_failure"] = (
            f"Tyre-degradation proxy, {held}: PR-AUC {mo['pr_auc']:.2f} vs {pe['pr_auc']:.2f} for persistence "
            f"(the previous lap's loss to the stint best), F1 {mo['f1']:.2f} vs {pe['f1']:.2f}: "
            + ("the model beats persistence." if beats else "the model does NOT beat persistence; trust the lap times.")
        )
    return out


def train_models(
    train: Sequence[Any] | Dataset,
    eval_session: Any | Dataset | None = None,
    *,
    out_dir: Path | str | None = None,
    config: LabelConfig = DEFAULT_LABELS,
    stride: int = 4,
    cv_folds: int = 2,
    seed: int = 0,
    max_iter: int | None = None,
    progress: bool = False,
    n_threads: int | None = None,
    candidates: Mapping[str, Sequence[Candidate]] | None = None,
    feature_params: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
) -> TrainingReport:
    """Train with leave-one-race-out model and threshold choice, evaluate on the held-out race, save.

    Args:
        train: :class:`~f1live.sources.SessionData` objects (or a ready :class:`Dataset`).
        eval_session: the held-out session (or its :class:`Dataset`); ``None`` skips it.
        out_dir: where to write the three ``.pkl`` files and ``manifest.json`` (``None``: don't save).
        stride: keep every n-th labelled training row per driver (features still see every row).
        cv_folds: time blocks when there is a single training race (else one fold per race).
        max_iter: cap on the boosting iterations of every tree candidate (``None``: their own).
        n_threads: cap the OpenMP/BLAS threads of the fits (``None``: library default).
        candidates: override :data:`CANDIDATES` (per target).
        feature_params: :class:`~f1live.features.OnlineFeatures` arguments; default: the
            training races' typical stint lengths (ignored when ``train`` is a Dataset).
        n_boot: bootstrap resamples of the event-level intervals.
    """
    if n_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=n_threads):
            return train_models(
                train,
                eval_session,
                out_dir=out_dir,
                config=config,
                stride=stride,
                cv_folds=cv_folds,
                seed=seed,
                max_iter=max_iter,
                progress=progress,
                candidates=candidates,
                feature_params=feature_params,
                n_boot=n_boot,
            )
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    cands = dict(candidates or CANDIDATES)
    if isinstance(train, Dataset):
        ds = train
        params = dict(feature_params or {})
    else:
        params = (
            dict(feature_params)
            if feature_params is not None
            else {"stint_laps": typical_stint_laps([s.laps for s in train], [s.track_status for s in train])}
        )
        ds = Dataset.concat(
            [build_dataset(s, config, stride=stride, progress=progress, feature_params=params) for s in train]
        )
    ev = None
    if eval_session is not None:
        ev = (
            eval_session
            if isinstance(eval_session, Dataset)
            else build_dataset(eval_session, config, stride=1, progress=progress, feature_params=params)
        )
    timings["datasets_s"] = time.perf_counter() - t_start
    scheme, folds = cv_folds_of(ds, cv_folds)
    cv: dict[str, dict[str, Any]] = {}
    holdout: dict[str, dict[str, dict[str, Any]]] = {}
    thresholds: dict[str, float] = {}
    n_train: dict[str, int] = {}
    fitted: dict[str, Any] = {}
    chosen_c: dict[str, Candidate] = {}
    preds: dict[str, np.ndarray] = {}
    events: dict[str, Any] = {}
    rules = AlertRules()
    X_all = ds.X[list(FEATURE_NAMES)].to_numpy(np.float64)
    t_fit = time.perf_counter()
    for name in TARGETS:
        mask = ds.y[name].notna().to_numpy()
        y = ds.y[name].to_numpy()[mask].astype(int)
        n_train[name] = int(len(y))
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"training data for {name} has a single class ({int(y.mean())}) in "
                f"{len(y)} rows of {ds.sessions}; use more sessions or drivers"
            )
        results: dict[str, dict[str, Any]] = {}
        for cand in cands[name]:
            cols = _columns(cand.features)
            X = X_all[mask][:, cols]
            # out-of-fold scores as within-fold ranks (0-1): a model trained on one race is
            # calibrated differently from the next; the operating point transfers as a rank
            oof = np.full(len(y), np.nan)
            for fold, tr, te in folds:
                trm, tem = tr[mask], te[mask]
                if len(np.unique(y[trm])) < 2 or not tem.any():
                    logger.info("%s/%s: fold %s skipped (one class in training)", name, cand.name, fold)
                    continue
                m = fit_estimator(cand.make(seed, max_iter), X[trm], y[trm])
                oof[tem] = score_ranks(m.predict_proba(X[tem])[:, 1])
            ok = ~np.isnan(oof)
            res: dict[str, Any] = {"features": list(cand.features), "kind": cand.kind}
            if ok.sum() and len(np.unique(y[ok])) == 2:
                if name == "pit_stop_probability":
                    sub = np.flatnonzero(mask)[ok]
                    sel = np.zeros(len(ds), dtype=bool)
                    sel[sub] = True
                    rows = _event_rows(ds, sel, oof[ok])
                    rank_thr, _curve = choose_alert_threshold(
                        rows, _pit_events(ds, ds.sessions), max_false_per_hour=PIT_FALSE_ALERTS_PER_HOUR, rules=rules
                    )
                    em = event_metrics(rows, _pit_events(ds, ds.sessions), rank_thr, rules=rules)
                    res["events"] = {
                        k: em[k]
                        for k in (
                            "events",
                            "announced",
                            "announced_fraction",
                            "false_alerts_per_driver_hour",
                            "lead_s_median",
                        )
                    }
                else:
                    rank_thr = choose_threshold(y[ok], oof[ok])
                res["rank_threshold"] = float(rank_thr)
                res["oof"] = binary_metrics(y[ok], oof[ok], rank_thr)
            results[cand.name] = res
            logger.info(
                "%s/%s: out-of-fold PR-AUC %s%s",
                name,
                cand.name,
                res.get("oof", {}).get("pr_auc"),
                f", announced {res['events']['announced']}/{res['events']['events']}" if "events" in res else "",
            )

        def rank(item: tuple[str, dict[str, Any]]) -> tuple[float, float]:
            r = item[1]
            if "oof" not in r:
                return (-1.0, -1.0)
            pr = r["oof"]["pr_auc"] or 0.0
            if "events" in r:
                fa = r["events"]["false_alerts_per_driver_hour"]
                within = fa is not None and fa <= PIT_FALSE_ALERTS_PER_HOUR
                return (float(r["events"]["announced"]) if within else -0.5, pr)
            return (pr, 0.0)

        best_name = max(results.items(), key=rank)[0]
        cand = next(c for c in cands[name] if c.name == best_name)
        chosen_c[name] = cand
        cols = _columns(cand.features)
        fitted[name] = fit_estimator(cand.make(seed, max_iter), X_all[mask][:, cols], y)
        # the chosen rank as a score threshold of the final model (its scores on the training rows)
        rank_thr = float(results[best_name].get("rank_threshold", 0.5))
        thresholds[name] = rank_threshold(fitted[name].predict_proba(X_all[mask][:, cols])[:, 1], rank_thr)
        cv[name] = {
            "scheme": scheme,
            "folds": [f for f, _, _ in folds],
            "chosen": best_name,
            "rank_threshold": rank_thr,
            "candidates": results,
            "model": results[best_name].get("oof"),
        }
        logger.info("%s: chose %s (threshold %.4f) from %s", name, best_name, thresholds[name], list(results))
    timings["fits_s"] = time.perf_counter() - t_fit
    predictions = None
    if ev is not None:
        t_ev = time.perf_counter()
        Xe_all = ev.X[list(FEATURE_NAMES)].to_numpy(np.float64)
        for name in TARGETS:
            cols = _columns(chosen_c[name].features)
            preds[name] = fitted[name].predict_proba(Xe_all[:, cols])[:, 1]
            em = ev.y[name].notna().to_numpy()
            ye = ev.y[name].to_numpy()[em].astype(int)
            prior = float(ds.y[name].mean())
            holdout[name] = {
                "model": dict(binary_metrics(ye, preds[name][em], thresholds[name]), estimator=chosen_c[name].name),
                # the prior: always the training base rate, never positive at a 0.5 threshold
                "majority": binary_metrics(ye, np.full(int(em.sum()), prior), 0.5),
            }
        events = evaluate_events(ds, ev, preds, thresholds, config=config, rules=rules, n_boot=n_boot, seed=seed)
        for name in ("pit_stop_probability",):
            holdout[name]["events"] = events[name]["model"]
        holdout["tire_failure"]["persistence"] = events["tire_failure"]["persistence"]
        predictions = pd.DataFrame({"driver": ev.groups, "session_time": ev.session_time})
        for name in TARGETS:
            predictions[f"{name}_label"] = ev.y[name].to_numpy()
            predictions[name] = preds[name]
        timings["evaluation_s"] = time.perf_counter() - t_ev
    report = TrainingReport(
        cv=cv,
        holdout=holdout,
        thresholds=thresholds,
        train_sessions=list(ds.sessions),
        eval_session=(ev.sessions[0] if ev is not None and ev.sessions else None),
        out_dir=str(out_dir) if out_dir is not None else None,
        n_train=n_train,
        seconds=0.0,
        cv_scheme=scheme,
        events=events,
        feature_params=params,
        timings=timings,
        predictions=predictions,
    )
    report.evidence = evidence_texts(report)
    if out_dir is not None:
        report.manifest = save_models(
            fitted,
            out_dir,
            thresholds=thresholds,
            config=config,
            report=report,
            features={n: list(chosen_c[n].features) for n in TARGETS},
            feature_params=params,
        )
    report.seconds = time.perf_counter() - t_start
    timings["total_s"] = report.seconds
    return report


def cv_folds_of(ds: Dataset, n_blocks: int) -> tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """:func:`cv_folds` (kept apart so ``train_models``' ``cv_folds`` argument does not shadow it)."""
    return cv_folds(ds, n_blocks)


def evaluate_events(
    train: Dataset,
    ev: Dataset,
    preds: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    *,
    config: LabelConfig = DEFAULT_LABELS,
    rules: AlertRules = DEFAULT_RULES,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Event-level evaluation of the held-out race for the three models, with the baselines.

    * pit: strategic stops announced within ``rules.window_s``, lead times, false alerts
      per driver-hour (bootstrap 95 % intervals), for the model at its saved threshold,
      the tyre-age hazard baseline (threshold chosen on the training rows by the same
      rule) and the SC/VSC/rain trigger; plus each one's curve over thresholds.
    * crash: incident events (flag periods, retirements) announced in the 60 s before vs chance.
    * tyre: the proxy's row metrics next to the persistence baseline.
    """
    out: dict[str, Any] = {}
    label = ev.sessions[0] if ev.sessions else "held-out"
    # --- pit
    pm = ev.y["pit_stop_probability"].notna().to_numpy()
    pit_ev = ev.events.get(label, {}).get("pit", pd.DataFrame(columns=["driver", "time"]))
    rows = pd.DataFrame(
        {"driver": ev.groups[pm], "session_time": ev.session_time[pm], "score": preds["pit_stop_probability"][pm]}
    )
    hazard = TyreAgeHazard().fit(
        [train.laps[s] for s in train.sessions if s in train.laps],
        [train.track_status.get(s) for s in train.sessions if s in train.laps],
    )
    tm = train.y["pit_stop_probability"].notna().to_numpy()
    train_rows = _event_rows(train, tm, hazard.score(train.X[tm]))
    hz_thr, _ = choose_alert_threshold(
        train_rows, _pit_events(train, train.sessions), max_false_per_hour=PIT_FALSE_ALERTS_PER_HOUR, rules=rules
    )
    hz_rows = rows.assign(score=hazard.score(ev.X[pm]))
    tr_rows = rows.assign(score=trigger_score(ev.X[pm]))
    out["pit_stop_probability"] = {
        "model": event_metrics(rows, pit_ev, thresholds["pit_stop_probability"], rules=rules, n_boot=n_boot, seed=seed),
        "baseline_tyre_age": event_metrics(hz_rows, pit_ev, hz_thr, rules=rules, n_boot=n_boot, seed=seed),
        "baseline_trigger": event_metrics(tr_rows, pit_ev, 0.5, rules=rules, n_boot=n_boot, seed=seed),
        "curves": {
            "model": alert_curve(rows, pit_ev, rules=rules).to_dict("records"),
            "baseline_tyre_age": alert_curve(hz_rows, pit_ev, rules=rules).to_dict("records"),
        },
        "target": {"announced_fraction": 0.5, "false_alerts_per_driver_hour": PIT_FALSE_ALERTS_PER_HOUR},
        "red_flag_entries_excluded": True,
    }
    # --- crash / incidents: per race, train and held out
    cm = ev.y["crash_risk"].notna().to_numpy()
    crash_rows = pd.DataFrame(
        {"driver": ev.groups[cm], "session_time": ev.session_time[cm], "score": preds["crash_risk"][cm]}
    )
    inc = ev.events.get(label, {}).get("incidents", pd.DataFrame(columns=["kind", "driver", "time"]))
    per_race = {
        s: {
            "flags": int((e["incidents"]["kind"] == "flag").sum()),
            "retirements": int((e["incidents"]["kind"] == "retirement").sum()),
        }
        for s, e in {**train.events, **ev.events}.items()
    }
    out["crash_risk"] = {
        "model": incident_hits(
            crash_rows, inc, thresholds["crash_risk"], horizon_s=config.crash_horizon_s, n_boot=n_boot, seed=seed
        ),
        "events_per_race": per_race,
    }
    # --- tyre proxy vs persistence
    ym = ev.y["tire_failure"].notna().to_numpy()
    yt = ev.y["tire_failure"].to_numpy()[ym].astype(int)
    out["tire_failure"] = {
        "model": binary_metrics(yt, preds["tire_failure"][ym], thresholds["tire_failure"]),
        "persistence": persistence_metrics(yt, ev.X["last_lap_vs_stint_best"].to_numpy(float)[ym], config.tyre_loss_s),
    }
    return out


# --------------------------------------------------------------------------- default training (first run)
def train_default_models(
    settings: Any,
    out_dir: Path | str | None = None,
    progress: bool = True,
    *,
    train_years: Sequence[int] = DEFAULT_TRAIN_YEARS,
    eval_year: int | None = DEFAULT_EVAL_YEAR,
    drivers: Sequence[str] | None = None,
    stride: int = 4,
    n_threads: int | None = 1,
    n_boot: int = 1000,
    **train_kw: Any,
) -> TrainingReport:
    """Train the three models with the default configuration and save them (the first-run path).

    Loads the default training races (2022 + 2024 Monaco) and the held-out race (2023)
    through ``settings`` (the same sources as everything else: cache, FastF1, the raw
    dumps), trains with leave-one-race-out choice, evaluates on the held-out race and
    writes to ``out_dir`` (default ``settings.models_dir``). ``f1live train`` without
    options runs exactly this. Budget: about 4 minutes on a 2-core machine (measured in
    ``docs/analytics.md``). ``n_threads`` defaults to one: on a busy 2-core machine an
    OpenMP team per tree waits for cores (measured ~10x slower fits). ``train_kw`` goes
    to :func:`train_models` (``cv_folds``, ``max_iter``, ...).
    """
    if eval_year is not None and int(eval_year) in [int(y) for y in train_years]:
        raise ValueError(f"held-out race {eval_year} is also a training race; the held-out race must differ")
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else Path(settings.models_dir)
    train = load_sessions(settings, list(train_years), drivers=drivers, progress=False)
    held = (
        load_sessions(settings, [int(eval_year)], drivers=drivers, progress=False)[0] if eval_year is not None else None
    )
    load_s = time.perf_counter() - t0
    logger.info(
        "loaded %d training races and %s in %.1f s",
        len(train),
        "the held-out race" if held else "no held-out race",
        load_s,
    )
    report = train_models(
        train, held, out_dir=out, stride=stride, progress=progress, n_threads=n_threads, n_boot=n_boot, **train_kw
    )
    report.timings["load_s"] = load_s
    report.seconds = time.perf_counter() - t0
    report.timings["total_s"] = report.seconds
    return report


# --------------------------------------------------------------------------- persistence
def _versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "river": str(getattr(river, "__version__", "?")),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _estimator_name(est: Any) -> str:
    steps = getattr(est, "steps", None)
    if steps:
        return " -> ".join(type(s).__name__ for _, s in steps)
    return type(est).__name__


def save_models(
    fitted: dict[str, Any],
    out_dir: Path | str,
    *,
    thresholds: dict[str, float],
    config: LabelConfig = DEFAULT_LABELS,
    report: TrainingReport | None = None,
    features: Mapping[str, Sequence[str]] | None = None,
    feature_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<name>_model.pkl`` for every model and ``manifest.json``; return the manifest.

    ``features``: each model's input columns (names from ``FEATURE_NAMES``; default: all).
    ``feature_params``: the :class:`~f1live.features.OnlineFeatures` arguments serving must use.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    defs = config.definitions()
    models: dict[str, Any] = {}
    for name, est in fitted.items():
        feats = list(features[name]) if features is not None else list(FEATURE_NAMES)
        _columns(feats)
        path = out / model_filename(name)
        payload = {"name": name, "estimator": est, "features": feats, "threshold": float(thresholds[name])}
        joblib.dump(payload, path, compress=3)
        models[name] = {
            "file": path.name,
            "sha256": sha256_file(path),
            "estimator": _estimator_name(est),
            "features": feats,
            "threshold": float(thresholds[name]),
            "label_definition": defs[name],
            "proxy": name == "tire_failure",
        }
        if report is not None:
            models[name]["candidate"] = (report.cv.get(name) or {}).get("chosen")
            models[name]["evidence"] = report.evidence.get(name)
            models[name]["metrics"] = {
                "cv": report.cv.get(name),
                "holdout": report.holdout.get(name),
                "events": report.events.get(name),
            }
            models[name]["n_train"] = report.n_train.get(name)
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
        "features": list(FEATURE_NAMES),
        "feature_params": dict(feature_params or {}),
        "label_config": asdict(config),
        "alert_rules": asdict(AlertRules()),
        "cv_scheme": report.cv_scheme if report else None,
        "training_sessions": report.train_sessions if report else None,
        "eval_session": report.eval_session if report else None,
        "models": models,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
    logger.info("saved %d models and %s to %s", len(models), MANIFEST, out)
    return manifest


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    return float(o)


@dataclass
class LoadedModel:
    """One verified model: ``estimator`` (scikit-learn), its ``features`` and ``columns`` (indices into
    :data:`f1live.features.FEATURE_NAMES`), ``threshold``, ``label_definition``, ``evidence``."""

    name: str
    estimator: Any
    threshold: float
    label_definition: str
    proxy: bool = False
    features: list[str] = field(default_factory=lambda: list(FEATURE_NAMES))
    columns: list[int] = field(default_factory=lambda: list(range(len(FEATURE_NAMES))))
    evidence: str | None = None


@dataclass
class ModelBundle:
    """The three verified models and their manifest."""

    models: dict[str, LoadedModel]
    manifest: dict[str, Any]
    directory: Path

    @property
    def features(self) -> list[str]:
        """The input feature vector (all of :data:`FEATURE_NAMES`); each model reads its columns of it."""
        return list(self.manifest["features"])

    @property
    def feature_params(self) -> dict[str, Any]:
        """The :class:`~f1live.features.OnlineFeatures` arguments the models were trained with."""
        return dict(self.manifest.get("feature_params") or {})

    def predict_proba(self, X: np.ndarray, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Positive-class scores of every model (or of ``names``) for a 2-D feature matrix (rows = messages,
        columns = :data:`FEATURE_NAMES`).

        Below 256 rows scikit-learn's trees run on one OpenMP thread: starting a thread
        team per tree costs more than a small prediction, and on a busy machine the
        team's threads wait for CPUs (measured: ~20x slower per message under load).
        """
        X = np.asarray(X, dtype=np.float64)
        with _single_openmp() if len(X) < 256 else contextlib.nullcontext():
            return {
                n: self.models[n].estimator.predict_proba(X[:, self.models[n].columns])[:, 1]
                for n in (self.models if names is None else names)
            }


_OPENMP: Any = None


def _single_openmp() -> Any:
    """Context limiting OpenMP (scikit-learn's tree prediction) to one thread."""
    global _OPENMP
    if _OPENMP is None:
        from threadpoolctl import ThreadpoolController

        _OPENMP = ThreadpoolController()
    return _OPENMP.limit(limits=1, user_api="openmp")


def verify_models(
    models_dir: Path | str,
    names: Iterable[str] = TARGETS,
    *,
    check_versions: bool = True,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Check the manifest and the sha256 of **every** listed file; return (manifest, name -> verified bytes).

    Nothing is unpickled. Raises :class:`ModelsMissingError` / :class:`ModelIntegrityError`
    naming the file and what differs.
    """
    d = Path(models_dir)
    mpath = d / MANIFEST
    if not mpath.is_file():
        raise ModelsMissingError(f"no trained models in {d} ({MANIFEST} not found); run `f1live train` first")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise ModelIntegrityError(f"{mpath}: not valid JSON ({exc}); run `f1live train` again") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ModelIntegrityError(
            f"{mpath}: manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT} "
            "(models from an older f1live); retrain with `f1live train`"
        )
    if check_versions:
        have = _versions()
        for lib in ("scikit-learn", "river"):
            want = manifest.get("versions", {}).get(lib)
            if want != have[lib]:
                raise ModelIntegrityError(
                    f"{mpath}: models were trained with {lib} {want}, this environment has {have[lib]}; "
                    "nothing was unpickled. Retrain with `f1live train` (or install the matching version)."
                )
    if list(manifest.get("features", [])) != list(FEATURE_NAMES):
        want_f, have_f = manifest.get("features", []), list(FEATURE_NAMES)
        diff = sorted(set(want_f) ^ set(have_f)) or ["(same names, different order)"]
        raise ModelIntegrityError(
            f"{mpath}: feature list differs from f1live.features.FEATURE_NAMES: {diff}; retrain with `f1live train`"
        )
    raw: dict[str, bytes] = {}
    for name in names:
        entry = manifest.get("models", {}).get(name)
        if entry is None:
            raise ModelIntegrityError(f"{mpath}: no entry for model {name!r}; run `f1live train` again")
        path = d / entry["file"]
        if path.name != model_filename(name):
            raise ModelIntegrityError(
                f"{mpath}: model {name!r} points to {entry['file']!r}, expected {model_filename(name)!r}"
            )
        unknown = sorted(set(entry.get("features", [])) - set(FEATURE_NAMES))
        if unknown:
            raise ModelIntegrityError(
                f"{path}: features {unknown} are not produced by f1live.features; retrain with `f1live train`"
            )
        if not path.is_file():
            raise ModelsMissingError(f"{path} is missing (listed in {mpath}); run `f1live train`")
        data = path.read_bytes()  # verify these exact bytes, then unpickle them (no re-read)
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise ModelIntegrityError(
                f"{path}: sha256 {digest[:16]}... does not match the manifest's {entry['sha256'][:16]}... "
                "(file changed since training); refusing to unpickle it. Retrain with `f1live train`."
            )
        raw[name] = data
    return manifest, raw


def load_models(models_dir: Path | str, names: Iterable[str] = TARGETS, *, check_versions: bool = True) -> ModelBundle:
    """Load and verify the models listed in ``manifest.json``.

    Checks, **before unpickling any file**: the manifest exists and names every model;
    every file's sha256 equals the manifest's; the scikit-learn and River versions equal
    the running ones; the input feature list equals :data:`f1live.features.FEATURE_NAMES`
    and each model's features are among them. Any mismatch raises
    :class:`ModelIntegrityError` naming the file and what differs.
    """
    d = Path(models_dir)
    names = list(names)
    manifest, raw = verify_models(d, names, check_versions=check_versions)
    out: dict[str, LoadedModel] = {}
    for name in names:
        entry = manifest["models"][name]
        path = d / entry["file"]
        payload = joblib.load(io.BytesIO(raw[name]))
        if not isinstance(payload, dict) or payload.get("name") != name:
            raise ModelIntegrityError(f"{path}: unexpected content (expected the {name!r} model payload)")
        feats = list(entry.get("features") or payload.get("features") or FEATURE_NAMES)
        out[name] = LoadedModel(
            name=name,
            estimator=payload["estimator"],
            threshold=float(entry["threshold"]),
            label_definition=entry["label_definition"],
            proxy=bool(entry.get("proxy")),
            features=feats,
            columns=_columns(feats),
            evidence=entry.get("evidence"),
        )
    return ModelBundle(models=out, manifest=manifest, directory=d)


def load_sessions(
    settings: Any,
    years: Sequence[int],
    drivers: Sequence[str] | None = None,
    progress: bool = False,
    allow_simulated: bool = False,
) -> list[Any]:
    """Load the same event of several years through :mod:`f1live.sources` (``settings.source``).

    With ``drivers``, only those drivers' car data is read (quicker for tests/notebooks;
    needs the ``fastf1-csv`` source, the others load everything and are filtered here).
    Models learn from real events: ``auto`` raises
    :class:`f1live.sources.SourceUnavailableError` rather than fall back to a SIMULATED
    session unless ``allow_simulated`` (an explicit ``source="simulated"`` is always allowed).
    """
    from dataclasses import replace as dc_replace

    from f1live.sources import load_session
    from f1live.sources.fastf1_csv import load_fastf1_csv

    out = []
    for year in years:
        s = settings.replace(year=int(year))
        if drivers is not None and s.source == "fastf1-csv":
            data = load_fastf1_csv(s, progress=progress, drivers=list(drivers))
        else:
            data = load_session(s, progress=progress, allow_simulated=allow_simulated)
            if drivers is not None:
                keep = data.telemetry["driver"].isin(list(drivers))
                data = dc_replace(
                    data,
                    telemetry=data.telemetry[keep].reset_index(drop=True),
                    laps=data.laps[data.laps["Driver"].isin(list(drivers))].reset_index(drop=True),
                )
        out.append(data)
    return out
