"""Thread-safe live state: the single thing the dashboard reads.

The consumer thread writes (:meth:`LiveState.record_batch`, counters, partition
offsets, status strings); any other thread reads a :meth:`LiveState.snapshot`, a
plain-data copy (dicts, lists, tuples, numbers) taken under one short lock. Every
buffer is bounded (deques with ``maxlen``, fixed latency windows), so memory does
not grow with the length of the replay.

>>> st = LiveState(history=3)
>>> st.set_meta(source="fastf1-csv", simulated=False)
>>> msg = {"driver": "VER", "seq": 0, "session_time": 10.0, "speed": 280.0, "rpm": 11000.0,
...        "gear": 7, "throttle": 100.0, "brake": False, "lap_number": 3}
>>> st.record_batch([(msg, {"anomaly": True, "anomaly_reason": "speed spike", "anomaly_score": 0.9}, 1.5, 0.2)])
>>> snap = st.snapshot()
>>> snap["counters"]["processed"], snap["latest"]["VER"]["row"]["speed"], snap["anomalies"][0]["reason"]
(1, 280.0, 'speed spike')
>>> snap["history"]["VER"][0][:3]
(10.0, 280.0, 11000.0)
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Collection, Mapping
from typing import Any

from f1live import schema
from f1live.laptraces import LapTraces
from f1live.metrics import LatencyStats, SecondSeries

#: Order of the values in each per-driver history tuple (defined in :mod:`f1live.schema`).
HISTORY_FIELDS = schema.HISTORY_FIELDS
_HIST_ROW = schema.HISTORY_TELEMETRY
#: The analysis values of a history tuple; booleans are stored as bool (False when absent).
_HIST_RES = tuple((k, schema.ANALYSIS_FIELDS[k].kind == "bool") for k in schema.HISTORY_ANALYSIS)

#: Counter names the consumer maintains (all start at 0).
COUNTERS: tuple[str, ...] = (
    "consumed",
    "processed",
    "dlq",
    "duplicates",
    "gaps",
    "stale",
    "processor_errors",
    "published",
)


class LiveState:
    """Bounded, lock-protected live view of the stream.

    Args:
        history: samples kept per driver (at ~3.8 Hz, 600 is about 2.6 minutes).
        anomalies: most recent anomalies kept.
        latency_window: samples the latency percentiles are computed over.
        series_seconds: per-second latency/throughput points kept.
        traces: per-lap car-data traces for lap comparisons (bounded, see :mod:`f1live.laptraces`).
    """

    def __init__(
        self,
        history: int = 600,
        anomalies: int = 200,
        latency_window: int = 8192,
        series_seconds: int = 300,
        traces: LapTraces | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._history_len = history
        self._latest: dict[str, dict[str, Any]] = {}
        self._history: dict[str, deque[tuple[Any, ...]]] = {}
        self._anomalies: deque[dict[str, Any]] = deque(maxlen=anomalies)
        self._anomaly_counts: Counter[str] = Counter()  # per driver, this segment (the log keeps the newest)
        self._traces = traces if traces is not None else LapTraces()
        self._counters: Counter[str] = Counter({c: 0 for c in COUNTERS})
        self._partitions: dict[int, dict[str, int | None]] = {}
        self._status: dict[str, str] = {"producer": "idle", "consumer": "idle", "broker": "unknown"}
        self._meta: dict[str, Any] = {}
        self.e2e_ms = LatencyStats(window=latency_window)
        self.processing_ms = LatencyStats(window=latency_window)
        self._series = SecondSeries(seconds=series_seconds)
        self._updated_at = 0.0
        self._clock: float | None = None
        self._segment = 0
        # data-quality notes: (driver, type) -> {"count", "first_session_time", "reason"}
        self._quality: dict[tuple[str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------------ writers
    def set_meta(self, **meta: Any) -> None:
        """Session metadata shown by the UI (``source``, ``simulated``, event, ...)."""
        with self._lock:
            self._meta.update(meta)

    def set_status(self, component: str, text: str) -> None:
        """Human-readable status of ``producer`` / ``consumer`` / ``broker``."""
        with self._lock:
            self._status[component] = text

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def set_partition(self, partition: int, offset: int | None, lag: int | None) -> None:
        """Next offset to consume and lag (high watermark - offset) of one partition."""
        with self._lock:
            self._partitions[partition] = {"offset": offset, "lag": lag}

    def new_segment(self) -> None:
        """The replay jumped (a seek): forget what belongs to the old stretch of the session.

        The replay clock, the latest row and the history of every driver, and the anomaly log
        describe the stretch before the jump; keeping them would show the page a mix of two
        moments (and, after a seek backwards, events from the future). Counters, latency and
        data-quality notes are about the stream, not the moment, and are kept.
        """
        with self._lock:
            self._clock = None
            self._latest.clear()
            self._history.clear()
            self._anomalies.clear()
            self._anomaly_counts.clear()
            self._traces.new_segment()
            self._segment += 1
            self._updated_at = time.time()

    def record_batch(self, records: list[tuple[dict[str, Any], dict[str, Any], float, float]]) -> None:
        """Record processed messages: ``(message, analysis result, e2e_ms, processing_ms)``.

        The replay clock is the newest ``session_time`` processed in the current segment.
        A result with a ``quality`` note (a known raw-data artefact, see
        :mod:`f1live.anomaly`) is counted per driver and type, not logged as an anomaly.
        """
        now = time.time()
        for _m, _r, e2e, proc in records:
            self.e2e_ms.add(e2e)
            self.processing_ms.add(proc)
            self._series.add(now, e2e)
        with self._lock:
            for msg, res, e2e, _proc in records:
                drv = msg.get("driver", "?")
                self._latest[drv] = {"row": msg, "analysis": res, "e2e_ms": e2e}
                hist = self._history.get(drv)
                if hist is None:
                    hist = self._history[drv] = deque(maxlen=self._history_len)
                anomaly = bool(res.get("anomaly", False))
                hist.append(
                    (
                        *[msg.get(k) for k in _HIST_ROW],
                        *[bool(res.get(k, False)) if flag else res.get(k) for k, flag in _HIST_RES],
                        e2e,
                    )
                )
                self._traces.add(msg)
                t = msg.get("session_time")
                if t is not None and (self._clock is None or t > self._clock):
                    self._clock = t
                note = res.get("quality")
                if note:
                    q = self._quality.get((drv, note))
                    if q is None:
                        q = self._quality[(drv, note)] = {
                            "count": 0,
                            "first_session_time": t,
                            "reason": res.get("quality_reason") or note,
                        }
                    q["count"] += 1
                if anomaly:
                    self._anomaly_counts[drv] += 1
                    self._anomalies.append(
                        {
                            "session_time": msg.get("session_time"),
                            "driver": drv,
                            "lap_number": msg.get("lap_number"),
                            "seq": msg.get("seq"),
                            "type": res.get("anomaly_type", "anomaly"),
                            "reason": res.get("anomaly_reason", ""),
                            "score": res.get("anomaly_score"),
                            "detector": res.get("anomaly_source"),
                        }
                    )
            self._counters["processed"] += len(records)
            self._updated_at = now

    # ------------------------------------------------------------------ reader
    def snapshot(
        self,
        history: bool | Collection[str] = True,
        latency: bool = True,
        traces: Mapping[str, int | None] | None = None,
    ) -> dict[str, Any]:
        """A plain-data copy of everything (cheap: one lock, shallow copies).

        Keys: ``session_time`` (the replay clock: newest session time processed in this
        segment), ``segment``, ``meta``, ``status``, ``counters``, ``partitions``, ``latest``
        (driver -> {row, analysis, e2e_ms}), ``history`` (driver -> list of tuples in
        :data:`HISTORY_FIELDS` order; omitted with ``history=False``, only the named
        drivers' with a collection of codes), ``history_fields``, ``anomalies`` (newest
        last), ``quality`` (data-quality notes: driver, type, count, first_session_time,
        reason), ``latency`` (``e2e_ms`` / ``processing_ms`` stats and ``series`` of
        (unix second, msgs, p50 ms, p99 ms); omitted with ``latency=False``: the
        percentiles are the costly part of a snapshot), ``updated_at``, ``anomaly_counts``
        (driver -> anomalies flagged in this segment). With ``traces`` ({driver: lap, or None
        for the latest}): ``traces`` (driver -> :class:`f1live.laptraces.LapTrace` or None)
        and ``trace_laps`` (driver -> complete laps), up to the replay clock.

        >>> st = LiveState()
        >>> st.record_batch([({"driver": d, "session_time": 1.0}, {}, 2.0, 0.1) for d in ("VER", "HAM")])
        >>> light = st.snapshot(history=["HAM"], latency=False)
        >>> sorted(light["history"]), "latency" in light, sorted(light["latest"])
        (['HAM'], False, ['HAM', 'VER'])
        """
        with self._lock:
            snap: dict[str, Any] = {
                "meta": dict(self._meta),
                "status": dict(self._status),
                "counters": dict(self._counters),
                "partitions": {p: dict(v) for p, v in self._partitions.items()},
                "latest": {d: dict(v) for d, v in self._latest.items()},
                "anomalies": list(self._anomalies),
                "anomaly_counts": dict(self._anomaly_counts),
                "quality": [{"driver": d, "type": k, **v} for (d, k), v in self._quality.items()],
                "history_fields": HISTORY_FIELDS,
                "updated_at": self._updated_at,
                "session_time": self._clock,
                "segment": self._segment,
            }
            if history is True:
                snap["history"] = {d: list(h) for d, h in self._history.items()}
            elif history:
                snap["history"] = {d: list(self._history[d]) for d in history if d in self._history}
            if traces:
                until = self._clock if self._clock is not None else float("-inf")  # none before the clock
                snap["trace_laps"] = {d: self._traces.complete_laps(d, until) for d in traces}
                snap["traces"] = {d: self._traces.trace(d, lap, until) for d, lap in traces.items()}
        if not latency:
            return snap
        snap["latency"] = {
            "e2e_ms": self.e2e_ms.summary(),
            "processing_ms": self.processing_ms.summary(),
            "series": self._series.points(),
        }
        return snap
