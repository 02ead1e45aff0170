"""The consumer's analytics: features -> River anomaly detection -> three models, per message.

:class:`AnalyticsProcessor` implements :class:`f1live.processors.Processor`: the consumer
hands it the decoded messages of one poll, it returns one result dict per message with

* ``anomaly`` (bool), ``anomaly_score`` (0-1), ``anomaly_type``, ``anomaly_reason``,
  ``anomaly_source`` (``"river"``, ``"rule"``, ``"river+rule"``; None without an anomaly),
  ``quality`` and ``quality_reason`` (a data-quality note such as ``throttle_sentinel``,
  ``gear_code`` or ``not_racing``; None when the sample is clean) -- see :mod:`f1live.anomaly`;
* ``pit_stop_probability``, ``crash_risk``, ``tire_failure`` (model scores 0-1) and
  ``<name>_alert`` (score at or above the threshold chosen on the training races).

The three models run once per *batch* (one call on the poll's feature matrix). A poll
at real-time rates holds a few rows, where scikit-learn's ``predict_proba`` costs ~1 ms
per model in fixed overhead (mostly holding the GIL): batches under
:data:`f1live.tree_inference.SMALL_BATCH` rows go through
:mod:`f1live.tree_inference` instead (the same scores, bit for bit,
~20x cheaper for one row); large batches use scikit-learn's multi-threaded trees
(``bench/bench_inference.py`` measures both). ``tire_failure`` is a tyre-degradation
**proxy** (see :data:`f1live.labels.LABEL_DEFINITIONS`); :meth:`AnalyticsProcessor.metadata`
gives the UI the label definitions to show next to the numbers.

>>> from f1live.config import Settings
>>> p = AnalyticsProcessor(Settings(), models=False)
>>> msg = {"driver": "VER", "session_time": 1.0, "speed": 200.0, "rpm": 11000.0, "gear": 6,
...        "throttle": 104.0, "brake": False, "drs": 0}
>>> r = p.process_batch([msg])[0]
>>> r["anomaly"], r["quality"]
(False, 'not_racing')
>>> r = p.process_batch([dict(msg, session_time=1.25, lap_number=3, speed=420.0)])[0]
>>> r["anomaly"], r["anomaly_type"], r["anomaly_source"], r["quality"]
(True, 'out_of_range', 'rule', 'throttle_sentinel')
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from f1live.anomaly import AnomalyDetector, RiverLimits, RuleLimits
from f1live.config import Settings
from f1live.features import FEATURE_NAMES, OnlineFeatures
from f1live.labels import LABEL_DEFINITIONS, TARGETS
from f1live.processors import Processor

logger = logging.getLogger(__name__)


class AnalyticsProcessor:
    """Features + anomaly detection + the three models, as a consumer processor.

    Args:
        settings: ``settings.models_dir`` is where the models are looked for.
        models_dir: overrides ``settings.models_dir``.
        models: run the three scikit-learn models (``False``: anomaly detection only).
        anomaly: run the anomaly detector.
        river: run the River detector (rules and data-quality notes always run).
        seed: kept for compatibility (the River residual detector is deterministic).
        river_limits: the River residuals' alarm lines.
        keep: keep the last ``keep`` analysis records (``driver``, ``session_time``, ``lap_number``
            + results) in :attr:`records` for notebooks (:func:`summarise`); 0 keeps none.

    Models are loaded (and verified against ``manifest.json``) on :meth:`start` or on the
    first batch, never in ``__init__``. Missing models raise
    :class:`f1live.models.ModelsMissingError` telling the user to run ``f1live train``.
    """

    name = "analytics"

    def __init__(
        self,
        settings: Settings,
        models_dir: Path | str | None = None,
        *,
        models: bool = True,
        anomaly: bool = True,
        river: bool = True,
        seed: int = 42,
        limits: RuleLimits | None = None,
        keep: int = 0,
        river_limits: RiverLimits | None = None,
    ) -> None:
        self.settings = settings
        self.models_dir = Path(models_dir) if models_dir is not None else Path(settings.models_dir)
        self.use_models = models
        self.use_anomaly = anomaly
        self.features = OnlineFeatures()
        self.detector = AnomalyDetector(limits, river_limits=river_limits, river=river) if anomaly else None
        self._bundle: Any = None
        self._compiled: Any = None  # CompiledModels: the models that compile
        self._sklearn_only: list[str] = []  # models left to scikit-learn at every batch size
        self._names: list[str] = []
        self._thresholds: dict[str, float] = {}
        self.records: deque[dict[str, Any]] = deque(maxlen=keep or 1)
        self._keep = keep > 0

    def start(self) -> None:
        """Load and verify the models (idempotent)."""
        if self.use_models and self._bundle is None:
            from f1live.models import load_models

            self._bundle = load_models(self.models_dir)
            self._names = list(self._bundle.models)
            self._thresholds = {n: m.threshold for n, m in self._bundle.models.items()}
            # the features the models were trained with (e.g. the training races' stint lengths)
            params = self._bundle.feature_params
            if params != self.features.params():
                self.features = OnlineFeatures(**params)
            from f1live.tree_inference import compile_models

            ms = self._bundle.models
            self._compiled, rest = compile_models(
                {n: m.estimator for n, m in ms.items()}, {n: m.columns for n, m in ms.items()}, len(FEATURE_NAMES)
            )
            self._sklearn_only = list(rest)
            if rest:
                logger.info("analytics: %s not compiled (scikit-learn at every batch size)", ", ".join(rest))
            logger.info("analytics: loaded %s from %s", ", ".join(self._names), self.models_dir)

    @property
    def thresholds(self) -> dict[str, float]:
        """The saved alert threshold of each loaded model (empty before :meth:`start` or without models)."""
        return dict(self._thresholds)

    def stop(self) -> None:
        """Nothing to release (no threads, no files); present for a uniform lifecycle."""

    def reset(self) -> None:
        """Forget all per-driver state (features, race record, detectors), e.g. after a seek.

        The models and the feature parameters stay.
        """
        self.features.reset()
        if self.detector is not None:
            self.detector.reset()

    def driver_state(self, driver: str) -> dict[str, Any] | None:
        """One driver's features and detector state, to continue elsewhere
        (:class:`f1live.processors.DriverStateful`; the models hold no per-driver state)."""
        feats = self.features.driver_state(driver)
        if feats is None:
            return None
        return {"features": feats, "anomaly": None if self.detector is None else self.detector.driver_state(driver)}

    def restore_driver(self, driver: str, state: dict[str, Any] | None) -> None:
        if state is None:
            self.forget_driver(driver)
            return
        self.features.restore_driver(driver, state["features"])
        if self.detector is not None and state["anomaly"] is not None:
            self.detector.restore_driver(driver, state["anomaly"])

    def forget_driver(self, driver: str) -> None:
        self.features.forget_driver(driver)
        if self.detector is not None:
            self.detector.forget_driver(driver)

    def metadata(self) -> dict[str, Any]:
        """What the numbers mean: label definitions, thresholds, proxy flags, evidence, training sessions."""
        self.start()
        out: dict[str, Any] = {"models": {}, "features": list(FEATURE_NAMES)}
        if self._bundle is not None:
            man = self._bundle.manifest
            out["training_sessions"] = man.get("training_sessions")
            out["eval_session"] = man.get("eval_session")
            for n, m in self._bundle.models.items():
                out["models"][n] = {
                    "label_definition": m.label_definition,
                    "threshold": m.threshold,
                    "proxy": m.proxy,
                    "evidence": m.evidence,
                    "features": list(m.features),
                    "display_name": "Tyre degradation (proxy)" if m.proxy else n.replace("_", " "),
                }
        else:
            for n in TARGETS:
                out["models"][n] = {
                    "label_definition": LABEL_DEFINITIONS[n],
                    "threshold": None,
                    "proxy": n == "tire_failure",
                }
        return out

    def _predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Scores of every model for the feature matrix ``X`` (compiled walk for small batches)."""
        from f1live.tree_inference import SMALL_BATCH

        if self._compiled is None or len(X) >= SMALL_BATCH:
            return self._bundle.predict_proba(X, self._names)
        probs = self._compiled.predict_proba(X)
        if self._sklearn_only:
            probs.update(self._bundle.predict_proba(X, self._sklearn_only))
        return probs

    def process_batch(self, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One result dict per message (same order)."""
        if self.use_models and self._bundle is None:
            self.start()
        update = self.features.update
        det = self.detector
        results: list[dict[str, Any]] = []
        rows: list[list[float]] = []
        names = FEATURE_NAMES
        for m in msgs:
            f = update(m)
            results.append(det.update(m, f) if det is not None else {})
            rows.append([f[k] for k in names])
        if self._bundle is not None and msgs:
            X = np.asarray(rows, dtype=np.float64)
            probs = self._predict(X)
            for name in self._names:
                p = probs[name]
                thr = self._thresholds[name]
                for r, v in zip(results, p.tolist(), strict=True):
                    r[name] = v
                    r[name + "_alert"] = v >= thr
        if self._keep:
            for m, r in zip(msgs, results, strict=True):
                self.records.append(
                    {
                        "driver": m.get("driver"),
                        "session_time": m.get("session_time"),
                        "lap_number": m.get("lap_number"),
                        **r,
                    }
                )
        return results


@dataclass(frozen=True)
class ProcessorSet:
    """What :func:`default_processors` chose: the processors, whether the models are in, and why.

    Attributes:
        processors: run them on every poll batch (one :class:`AnalyticsProcessor`).
        models_loaded: the three trained models are loaded and verified.
        label: one line for the UI, the logs and the scaling results.
    """

    processors: list[Processor]
    models_loaded: bool
    label: str

    @property
    def status(self) -> str:
        """``"loaded"`` or ``"missing"`` (the dashboard's models status)."""
        return "loaded" if self.models_loaded else "missing"


def default_processors(settings: Settings, *, keep: int = 0) -> ProcessorSet:
    """The consumer's analysis, fresh state: the one processor set of the pipeline, the
    scaling workers, :class:`f1live.consumer.RealTimeConsumer` and notebook 05.

    One :class:`AnalyticsProcessor` with the models of ``settings.models_dir`` loaded and
    verified; without trained models (:class:`f1live.models.ModelsMissingError`) the same
    processor runs features and anomaly detection only and the label says so (``f1live
    train`` adds the models). Models that exist but fail verification raise: a corrupt
    model must not silently disappear from the page.

    >>> import tempfile
    >>> ps = default_processors(Settings(models_dir=tempfile.mkdtemp()))
    >>> ps.status, ps.label, [p.name for p in ps.processors]
    ('missing', 'analytics: features+anomaly (no trained models)', ['analytics'])
    """
    from f1live.models import ModelsMissingError

    proc = AnalyticsProcessor(settings, keep=keep)
    try:
        proc.start()
    except ModelsMissingError as exc:
        logger.warning("no trained models (%s); running features + anomaly detection only", exc)
        bare = AnalyticsProcessor(settings, models=False, keep=keep)
        return ProcessorSet([bare], False, "analytics: features+anomaly (no trained models)")
    names = ", ".join(sorted(proc.metadata().get("models", {})))
    return ProcessorSet([proc], True, f"analytics: features+anomaly+models ({names})")


def analyse_table(telemetry: pd.DataFrame, processor: AnalyticsProcessor, batch_size: int = 500) -> pd.DataFrame:
    """Run ``processor`` over a telemetry table in time order (as a replay would); results per row."""
    from f1live.features import table_messages

    order = telemetry.sort_values("session_time", kind="stable").index
    msgs = table_messages(telemetry.loc[order], extra=("x", "y"))
    out: list[dict[str, Any]] = []
    for i in range(0, len(msgs), batch_size):
        out.extend(processor.process_batch(msgs[i : i + batch_size]))
    res = pd.DataFrame.from_records(out, index=order)
    return res.loc[telemetry.index]


def summarise(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Per-driver summary of analysis records (consumer output or :func:`analyse_table` + telemetry).

    Columns: ``messages``, ``anomalies``, ``anomaly_rate``, the most frequent
    ``top_anomaly_type``, and mean / max of each model score that is present.

    >>> s = summarise([{"driver": "VER", "anomaly": True, "anomaly_type": "spike", "crash_risk": 0.2},
    ...                {"driver": "VER", "anomaly": False, "anomaly_type": None, "crash_risk": 0.4}])
    >>> s.loc["VER", "messages"], s.loc["VER", "top_anomaly_type"], float(s.loc["VER", "crash_risk_max"])
    (np.int64(2), 'spike', 0.4)
    """
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    if "driver" not in df.columns:
        raise ValueError("analysis records need a 'driver' field (merge the results with their messages)")
    g = df.groupby("driver", sort=True)
    out = pd.DataFrame({"messages": g.size()})
    if "anomaly" in df.columns:
        out["anomalies"] = g["anomaly"].sum().astype(int)
        out["anomaly_rate"] = out["anomalies"] / out["messages"]
        if "anomaly_type" in df.columns:
            out["top_anomaly_type"] = g["anomaly_type"].agg(
                lambda s: s.dropna().mode().iloc[0] if s.notna().any() else None
            )
    for name in TARGETS:
        if name in df.columns:
            out[f"{name}_mean"] = g[name].mean()
            out[f"{name}_max"] = g[name].max()
    return out


def anomaly_counts(records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.Series:
    """How many messages were flagged, by anomaly type."""
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    if "anomaly" not in df.columns:
        return pd.Series(dtype=int)
    return df.loc[df["anomaly"].astype(bool), "anomaly_type"].value_counts()
