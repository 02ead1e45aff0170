"""Batch-trained scikit-learn models: datasets, training, evaluation, manifest, safe loading.

Three binary models -- ``pit_stop_probability``, ``crash_risk``, ``tire_failure`` --
are trained on the features of :mod:`f1live.features` and the real-event labels of
:mod:`f1live.labels`, on sessions *other* than the one that is streamed (default:
train on 2022 + 2024 Monaco, evaluate on the held-out 2023 Monaco race).

* Grouped cross-validation by driver on the training sessions gives out-of-fold
  probabilities for two candidates (gradient-boosted trees and a logistic regression);
  the one with the better out-of-fold PR-AUC ships, with the threshold that maximises
  its out-of-fold F1 (model selection and threshold use training data only).
* Class imbalance (the positive class is 1-25 % of rows): positives are replicated to
  balance the classes (= ``class_weight="balanced"``; the logistic baseline uses that).
  Scores are therefore *ranking* scores; the decision threshold, not 0.5, turns them
  into alarms, and the Brier score is reported as is.
* The held-out session is scored with accuracy, F1, ROC-AUC, PR-AUC, Brier and the
  confusion matrix, next to its base rate and two baselines (majority class and a
  plain logistic regression on the same features).

Files: ``<models_dir>/<name>_model.pkl`` (joblib of a plain dict: estimator, features,
threshold) and ``<models_dir>/manifest.json`` (sha256 of every file, feature list,
label definitions, sessions, library versions, metrics). :func:`load_models` checks
the manifest -- sha256, scikit-learn/River versions, feature list -- *before*
unpickling anything.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import river
import sklearn
from sklearn.dummy import DummyClassifier
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
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from f1live.features import FEATURE_NAMES, build_feature_table
from f1live.labels import TARGETS, LabelConfig, make_labels

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DEFAULT_LABELS = LabelConfig()
MANIFEST_FORMAT = 1


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


# --------------------------------------------------------------------------- datasets
@dataclass
class Dataset:
    """Features, labels and groups (driver) of one or more sessions.

    ``X`` has the columns :data:`f1live.features.FEATURE_NAMES`; ``y`` one float column
    per target (1/0/NaN); ``groups`` the driver of every row; ``session`` its label;
    ``session_time`` the replay clock (for plots of predictions over time).
    """

    X: pd.DataFrame
    y: pd.DataFrame
    groups: np.ndarray
    session: np.ndarray
    session_time: np.ndarray
    sessions: list[str] = field(default_factory=list)

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
        )


def session_label(data: Any) -> str:
    """``"2023 Monaco R"`` from a SessionData's meta."""
    m = getattr(data, "meta", {}) or {}
    return f"{m.get('year', '?')} {m.get('event', '?')} {m.get('session', '?')}"


def build_dataset(data: Any, config: LabelConfig = DEFAULT_LABELS, stride: int = 1,
                  progress: bool = False, warmup_s: float | None = 300.0) -> Dataset:
    """Features (over every row from the run-up on, as the stream sees them) + labels of one session.

    Labels exist only on racing laps, so features are computed from ``warmup_s`` seconds
    before the first lap starts (``None``: from the first row) -- hours of pre-race
    standstill skipped; the 20-sample windows are warm long before the start. Only rows
    with at least one defined label are kept; ``stride`` keeps every n-th of them per
    driver (consecutive samples 0.25 s apart are near-duplicates, so subsampling *after*
    computing features loses little and trains much faster).
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
    X = build_feature_table(tel, progress=progress)
    y = make_labels(tel, data.laps, data.track_status, config)
    keep = y.notna().any(axis=1).to_numpy()
    if stride > 1:
        # every stride-th kept row per driver (the table is in time order within a driver)
        drv = tel["driver"].astype(str).to_numpy()
        rank = pd.Series(keep.astype(int)).groupby(drv).cumsum().to_numpy()
        keep &= (rank % stride) == 1 % stride
    label = session_label(data)
    logger.info("dataset %s: %d of %d rows (stride %d) in %.1f s", label, int(keep.sum()), len(tel), stride,
                time.perf_counter() - t0)
    return Dataset(
        X=X[keep].reset_index(drop=True), y=y[keep].reset_index(drop=True),
        groups=tel["driver"].astype(str).to_numpy()[keep],
        session=np.full(int(keep.sum()), label, dtype=object),
        session_time=tel["session_time"].to_numpy(float)[keep],
        sessions=[label],
    )


# --------------------------------------------------------------------------- estimators
def make_model(seed: int = 0, max_iter: int = 150) -> HistGradientBoostingClassifier:
    """The production model: gradient-boosted trees (NaN-aware, fast batched predict).

    Class balance comes from :func:`balanced_index` (row replication), not ``class_weight``:
    with sample weights scikit-learn 1.9 bins features by weighted percentiles, measured
    ~18x slower (119 s vs 6.5 s for 30k x 39 rows, 40 trees).
    """
    return HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=80,
        l2_regularization=1.0, early_stopping=False, random_state=seed,
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


def fit_balanced(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit ``model`` on the class-balanced replication of ``(X, y)``."""
    idx = balanced_index(y)
    return model.fit(X[idx], y[idx])


def make_logistic(seed: int = 0) -> Any:
    """Baseline: median-imputed, standardised logistic regression (balanced class weights)."""
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                         LogisticRegression(class_weight="balanced", max_iter=500, random_state=seed))


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


@dataclass
class TrainingReport:
    """What :func:`train_models` did: metrics per model, files written, timings."""

    cv: dict[str, dict[str, Any]]
    holdout: dict[str, dict[str, dict[str, Any]]]
    thresholds: dict[str, float]
    train_sessions: list[str]
    eval_session: str | None
    out_dir: str | None
    n_train: dict[str, int]
    seconds: float
    manifest: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None  # held-out rows: driver, session_time, labels, probabilities

    def to_dict(self) -> dict[str, Any]:
        return {"cv": self.cv, "holdout": self.holdout, "thresholds": self.thresholds,
                "train_sessions": self.train_sessions, "eval_session": self.eval_session,
                "out_dir": self.out_dir, "n_train": self.n_train, "seconds": self.seconds}

    def table(self) -> pd.DataFrame:
        """Held-out metrics, one row per (model, estimator)."""
        rows = []
        for name, by in self.holdout.items():
            for est, m in by.items():
                label = f"shipped ({m['estimator']})" if est == "model" and "estimator" in m else est
                rows.append({"model": name, "estimator": label, **{k: m.get(k) for k in (
                    "n", "base_rate", "threshold", "accuracy", "f1", "precision", "recall", "roc_auc",
                    "pr_auc", "brier")}})
        return pd.DataFrame(rows)


def train_models(
    train: Sequence[Any] | Dataset,
    eval_session: Any | Dataset | None = None,
    *,
    out_dir: Path | str | None = None,
    config: LabelConfig = DEFAULT_LABELS,
    stride: int = 4,
    cv_folds: int = 5,
    seed: int = 0,
    max_iter: int = 150,
    progress: bool = False,
    n_threads: int | None = None,
) -> TrainingReport:
    """Train, cross-validate (grouped by driver), evaluate on the held-out session, save.

    Args:
        train: :class:`~f1live.sources.SessionData` objects (or a ready :class:`Dataset`).
        eval_session: the held-out session (or its :class:`Dataset`); ``None`` skips it.
        out_dir: where to write the three ``.pkl`` files and ``manifest.json`` (``None``: don't save).
        stride: keep every n-th labelled row per driver for training (features still see every row).
        n_threads: cap the OpenMP/BLAS threads of the fits (``None``: library default, all cores);
            1 avoids thread oversubscription on a busy machine.
    """
    if n_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=n_threads):
            return train_models(train, eval_session, out_dir=out_dir, config=config, stride=stride,
                                cv_folds=cv_folds, seed=seed, max_iter=max_iter, progress=progress)
    t_start = time.perf_counter()
    ds = train if isinstance(train, Dataset) else Dataset.concat(
        [build_dataset(s, config, stride=stride, progress=progress) for s in train])
    ev = None
    if eval_session is not None:
        ev = eval_session if isinstance(eval_session, Dataset) else build_dataset(eval_session, config, stride=1,
                                                                                 progress=progress)
    cv: dict[str, dict[str, Any]] = {}
    holdout: dict[str, dict[str, dict[str, Any]]] = {}
    thresholds: dict[str, float] = {}
    n_train: dict[str, int] = {}
    fitted: dict[str, Any] = {}
    preds: dict[str, np.ndarray] = {}
    X_all = ds.X[list(FEATURE_NAMES)].to_numpy(np.float64)
    for name in TARGETS:
        mask = ds.y[name].notna().to_numpy()
        X, y, g = X_all[mask], ds.y[name].to_numpy()[mask].astype(int), ds.groups[mask]
        n_train[name] = int(len(y))
        if len(np.unique(y)) < 2:
            raise ValueError(f"training data for {name} has a single class ({int(y.mean())}) in "
                             f"{len(y)} rows of {ds.sessions}; use more sessions or drivers")
        n_groups = len(np.unique(g))
        folds = min(cv_folds, n_groups)
        oof = np.full(len(y), np.nan)
        oof_lr = np.full(len(y), np.nan)
        if folds >= 2:
            for k, (tr, te) in enumerate(GroupKFold(n_splits=folds).split(X, y, g)):
                logger.info("%s: CV fold %d/%d (%d rows)", name, k + 1, folds, len(tr))
                if len(np.unique(y[tr])) < 2:
                    continue
                m = fit_balanced(make_model(seed, max_iter), X[tr], y[tr])
                oof[te] = m.predict_proba(X[te])[:, 1]
                lr = make_logistic(seed).fit(X[tr], y[tr])
                oof_lr[te] = lr.predict_proba(X[te])[:, 1]
        ok = ~np.isnan(oof)
        thr = choose_threshold(y[ok], oof[ok]) if ok.sum() and len(np.unique(y[ok])) == 2 else 0.5
        thr_lr = choose_threshold(y[ok], oof_lr[ok]) if ok.sum() and len(np.unique(y[ok])) == 2 else 0.5
        cv_hgb = binary_metrics(y[ok], oof[ok], thr) if ok.sum() else None
        cv_lr = binary_metrics(y[ok], oof_lr[ok], thr_lr) if ok.sum() else None
        # Model selection on training data only: the estimator with the better out-of-fold
        # PR-AUC (grouped by driver) ships; the other is still reported on the held-out race.
        use_lr = bool(cv_hgb and cv_lr and (cv_lr["pr_auc"] or 0) > (cv_hgb["pr_auc"] or 0))
        chosen = "logistic" if use_lr else "hgb"
        thresholds[name] = thr_lr if use_lr else thr
        cv[name] = {"folds": folds, "groups": int(n_groups), "chosen": chosen, "hgb": cv_hgb, "logistic": cv_lr,
                    "model": cv_lr if use_lr else cv_hgb}
        hgb = fit_balanced(make_model(seed, max_iter), X, y)
        logistic = make_logistic(seed).fit(X, y)
        majority = DummyClassifier(strategy="prior").fit(X, y)
        model = logistic if use_lr else hgb
        fitted[name] = model
        logger.info("%s: %d training rows, base rate %.4f, chosen %s (CV PR-AUC hgb %s, logistic %s), threshold %.3f",
                    name, len(y), y.mean(), chosen, cv_hgb and cv_hgb["pr_auc"], cv_lr and cv_lr["pr_auc"],
                    thresholds[name])
        if ev is not None:
            em = ev.y[name].notna().to_numpy()
            Xe = ev.X[list(FEATURE_NAMES)].to_numpy(np.float64)
            ye = ev.y[name].to_numpy()[em].astype(int)
            p = model.predict_proba(Xe)[:, 1]
            preds[name] = p
            holdout[name] = {
                "model": dict(binary_metrics(ye, p[em], thresholds[name]), estimator=chosen),
                "hgb": binary_metrics(ye, hgb.predict_proba(Xe[em])[:, 1], thr),
                "logistic": binary_metrics(ye, logistic.predict_proba(Xe[em])[:, 1], thr_lr),
                # the prior: always the training base rate, never positive at a 0.5 threshold
                "majority": binary_metrics(ye, majority.predict_proba(Xe[em])[:, 1], 0.5),
            }
    predictions = None
    if ev is not None:
        predictions = pd.DataFrame({"driver": ev.groups, "session_time": ev.session_time})
        for name in TARGETS:
            predictions[f"{name}_label"] = ev.y[name].to_numpy()
            predictions[name] = preds[name]
    report = TrainingReport(cv=cv, holdout=holdout, thresholds=thresholds, train_sessions=list(ds.sessions),
                            eval_session=(ev.sessions[0] if ev is not None and ev.sessions else None),
                            out_dir=str(out_dir) if out_dir is not None else None, n_train=n_train,
                            seconds=0.0, predictions=predictions)
    if out_dir is not None:
        report.manifest = save_models(fitted, out_dir, thresholds=thresholds, config=config, report=report)
    report.seconds = time.perf_counter() - t_start
    return report


# --------------------------------------------------------------------------- persistence
def _versions() -> dict[str, str]:
    return {"scikit-learn": sklearn.__version__, "river": river.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def save_models(fitted: dict[str, Any], out_dir: Path | str, *, thresholds: dict[str, float],
                config: LabelConfig = DEFAULT_LABELS, report: TrainingReport | None = None) -> dict[str, Any]:
    """Write ``<name>_model.pkl`` for every model and ``manifest.json``; return the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    defs = config.definitions()
    models: dict[str, Any] = {}
    for name, est in fitted.items():
        path = out / model_filename(name)
        chosen = (report.cv.get(name) or {}).get("chosen") if report is not None else None
        payload = {"name": name, "estimator": est, "features": list(FEATURE_NAMES),
                   "threshold": float(thresholds[name])}
        joblib.dump(payload, path, compress=3)
        models[name] = {
            "file": path.name,
            "sha256": sha256_file(path),
            "estimator": type(est).__name__ if chosen != "logistic" else "LogisticRegression (pipeline)",
            "threshold": float(thresholds[name]),
            "label_definition": defs[name],
            "proxy": name == "tire_failure",
        }
        if report is not None:
            models[name]["metrics"] = {"cv": report.cv.get(name), "holdout": report.holdout.get(name)}
            models[name]["n_train"] = report.n_train.get(name)
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
        "features": list(FEATURE_NAMES),
        "label_config": config.__dict__,
        "training_sessions": report.train_sessions if report else None,
        "eval_session": report.eval_session if report else None,
        "models": models,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=float))
    logger.info("saved %d models and %s to %s", len(models), MANIFEST, out)
    return manifest


@dataclass
class LoadedModel:
    """One verified model: ``estimator`` (scikit-learn), ``threshold``, ``label_definition``."""

    name: str
    estimator: Any
    threshold: float
    label_definition: str
    proxy: bool = False


@dataclass
class ModelBundle:
    """The three verified models and their manifest."""

    models: dict[str, LoadedModel]
    manifest: dict[str, Any]
    directory: Path

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    def predict_proba(self, X: np.ndarray, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Positive-class scores of every model (or of ``names``) for a 2-D feature matrix (rows = messages).

        Below 256 rows scikit-learn's trees run on one OpenMP thread: starting a thread
        team per tree costs more than a small prediction, and on a busy machine the
        team's threads wait for CPUs (measured: ~20x slower per message under load).
        """
        with _single_openmp() if len(X) < 256 else contextlib.nullcontext():
            return {n: self.models[n].estimator.predict_proba(X)[:, 1] for n in (self.models if names is None else names)}


_OPENMP: Any = None


def _single_openmp() -> Any:
    """Context limiting OpenMP (scikit-learn's tree prediction) to one thread."""
    global _OPENMP
    if _OPENMP is None:
        from threadpoolctl import ThreadpoolController

        _OPENMP = ThreadpoolController()
    return _OPENMP.limit(limits=1, user_api="openmp")


def load_models(models_dir: Path | str, names: Iterable[str] = TARGETS, *, check_versions: bool = True) -> ModelBundle:
    """Load and verify the models listed in ``manifest.json``.

    Checks, **before unpickling**: the manifest exists and names every model; each
    file's sha256 equals the manifest's; the scikit-learn and River versions equal
    the running ones; the feature list equals :data:`f1live.features.FEATURE_NAMES`.
    Any mismatch raises :class:`ModelIntegrityError` naming the file and what differs.
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
        raise ModelIntegrityError(f"{mpath}: manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    if check_versions:
        have = _versions()
        for lib in ("scikit-learn", "river"):
            want = manifest.get("versions", {}).get(lib)
            if want != have[lib]:
                raise ModelIntegrityError(
                    f"{mpath}: models were trained with {lib} {want}, this environment has {have[lib]}; "
                    "nothing was unpickled. Retrain with `f1live train` (or install the matching version).")
    if list(manifest.get("features", [])) != list(FEATURE_NAMES):
        want_f, have_f = manifest.get("features", []), list(FEATURE_NAMES)
        diff = sorted(set(want_f) ^ set(have_f)) or ["(same names, different order)"]
        raise ModelIntegrityError(f"{mpath}: feature list differs from f1live.features.FEATURE_NAMES: {diff}; "
                                  "retrain with `f1live train`")
    out: dict[str, LoadedModel] = {}
    for name in names:
        entry = manifest.get("models", {}).get(name)
        if entry is None:
            raise ModelIntegrityError(f"{mpath}: no entry for model {name!r}; run `f1live train` again")
        path = d / entry["file"]
        if path.name != model_filename(name):
            raise ModelIntegrityError(f"{mpath}: model {name!r} points to {entry['file']!r}, "
                                      f"expected {model_filename(name)!r}")
        if not path.is_file():
            raise ModelsMissingError(f"{path} is missing (listed in {mpath}); run `f1live train`")
        raw = path.read_bytes()  # verify these exact bytes, then unpickle them (no re-read)
        digest = hashlib.sha256(raw).hexdigest()
        if digest != entry["sha256"]:
            raise ModelIntegrityError(
                f"{path}: sha256 {digest[:16]}... does not match the manifest's {entry['sha256'][:16]}... "
                "(file changed since training); refusing to unpickle it. Retrain with `f1live train`.")
        payload = joblib.load(io.BytesIO(raw))
        if not isinstance(payload, dict) or payload.get("name") != name:
            raise ModelIntegrityError(f"{path}: unexpected content (expected the {name!r} model payload)")
        out[name] = LoadedModel(name=name, estimator=payload["estimator"], threshold=float(entry["threshold"]),
                                label_definition=entry["label_definition"], proxy=bool(entry.get("proxy")))
    return ModelBundle(models=out, manifest=manifest, directory=d)


def load_sessions(settings: Any, years: Sequence[int], drivers: Sequence[str] | None = None,
                  progress: bool = False) -> list[Any]:
    """Load the same event of several years through :mod:`f1live.sources` (``settings.source``).

    With ``drivers``, only those drivers' car data is read (quicker for tests/notebooks;
    needs the ``fastf1-csv`` source, the others load everything and are filtered here).
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
            data = load_session(s, progress=progress)
            if drivers is not None:
                keep = data.telemetry["driver"].isin(list(drivers))
                data = dc_replace(data, telemetry=data.telemetry[keep].reset_index(drop=True),
                                  laps=data.laps[data.laps["Driver"].isin(list(drivers))].reset_index(drop=True))
        out.append(data)
    return out
