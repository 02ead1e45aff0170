"""The dashboard's read-only view of the pipeline: one plain-data snapshot per frame.

Panels never touch Kafka or threads; they get a :class:`View` built from
``LiveState.snapshot()`` (plus the pipeline's status) by :func:`to_view`.  ``to_view``
tolerates missing keys, so a panel renders (empty) before the first message and when a
part of the pipeline (e.g. the models) is absent.

The snapshot contract (that of :meth:`f1live.state.LiveState.snapshot`, plus ``events``
added by the pipeline; all keys optional)::

    {
      "updated_at": float,                  # changes whenever the state changed
      "session_time": float,                # latest replay clock (s since session t0)
      "meta": {"year", "event", "session", "source", "simulated", "circuit",
               "total_laps", "drivers": {code: {"team", "team_colour", "number"}},
               "outline": {"x": [...], "y": [...]}},           # circuit, metres
      "latest": {code: {"row": {<telemetry row>}, "analysis": {...}, "e2e_ms": float}},
      "history": {code: [tuple in history_fields order, ...]},    # or dict of columns
      "history_fields": ("session_time", "speed", ..., "anomaly", ...),
      "anomalies": [{"session_time", "time", "driver", "type", "reason", "score"}],
      "events": [{"session_time", "time", "category", "message", "flag"}],
      "timing": {"lap", "total_laps", "leaderboard": [...], "track_status", "weather"},
      "lap": int, "track_status": str,          # at the replay clock (every frame)
      "quality": [{"driver", "type", "count", "first_session_time", "reason"}],
      "anomaly_counts": {code: int},            # anomalies flagged per driver in this segment
      "race": RaceAt,                           # f1live.race_analysis at the clock (full frames)
      "traces": {code: LapTrace | None}, "trace_laps": {code: [lap, ...]},   # lap comparison
      "counters": {"consumed", "processed", "dlq", ...},
      "partitions": {partition: {"offset", "lag"}},
      "latency": {"e2e_ms": {"p50", "p99", "rate", ...}, "series": [(unix s, msgs, p50, p99)]},
      "status": {"broker", "producer", "consumer", "models"},
    }

>>> v = to_view({"drivers": {"VER": {"latest": {"speed": 280.0, "team": "Red Bull Racing"}}}})
>>> v.driver_codes, v.latest("VER")["speed"], v.colour("VER")
(['VER'], 280.0, '#3671C6')
>>> to_view({}).simulated
False
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from f1live.widgets.style import PALETTE, normalise_hex, team_colour


def _get(m: Any, *keys: str, default: Any = None) -> Any:
    """First present key of a mapping (tolerates the live state's naming variants)."""
    if not isinstance(m, Mapping):
        return default
    for k in keys:
        if k in m and m[k] is not None:
            return m[k]
    return default


@dataclass
class View:
    """One frame of the dashboard (see the module docstring for the fields)."""

    version: float = 0
    session_time: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    drivers: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, dict[str, Sequence[Any]]] = field(default_factory=dict)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    history_fields: tuple[str, ...] = ()
    timing: dict[str, Any] = field(default_factory=dict)
    quality: list[dict[str, Any]] = field(default_factory=list)
    anomaly_counts: dict[str, int] = field(default_factory=dict)
    race: Any = None  # f1live.race_analysis.RaceAt, or None (live frames, no timing tables)
    traces: dict[str, Any] = field(default_factory=dict)
    trace_laps: dict[str, list[int]] = field(default_factory=dict)
    _columns: dict[tuple[str, str], list[Any]] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lap(self) -> int | None:
        """The leader's lap at the replay clock (from timing), if known."""
        lap = self.extra.get("lap") or self.timing.get("lap")
        return int(lap) if lap else None

    @property
    def track_status(self) -> str | None:
        """The track-status code in force at the replay clock, if known."""
        ts = self.extra.get("track_status") or self.timing.get("track_status")
        return None if ts is None else str(ts)

    @property
    def leaderboard(self) -> list[dict[str, Any]]:
        """Timing's leaderboard at the replay clock (see :mod:`f1live.timing`), or ``[]``."""
        return list(self.timing.get("leaderboard") or [])

    @property
    def simulated(self) -> bool:
        if bool(self.meta.get("simulated")):
            return True
        return any(bool(d.get("latest", {}).get("simulated")) for d in self.drivers.values())

    @property
    def driver_codes(self) -> list[str]:
        """Drivers seen so far, in race order when positions are known (timing's order first)."""
        known = self.meta.get("drivers") or {}
        codes = set(self.drivers) | {str(c) for c in known}
        order = {r["driver"]: i for i, r in enumerate(self.leaderboard)}
        if order:
            return sorted(codes, key=lambda c: (order.get(c, 999), c))

        def key(code: str) -> tuple[int, str]:
            pos: Any = self.latest(code).get("position")
            try:
                return (int(pos), code)
            except (TypeError, ValueError):
                return (999, code)

        return sorted(codes, key=key)

    def latest(self, code: str) -> dict[str, Any]:
        return dict(self.drivers.get(code, {}).get("latest", {}) or {})

    def analysis(self, code: str) -> dict[str, Any]:
        return dict(self.drivers.get(code, {}).get("analysis", {}) or {})

    def series(self, code: str, name: str) -> list[Any]:
        """One field of a driver's recent history (dict of lists or list of rows).

        >>> View(history={"VER": {"speed": [1, 2]}}).series("VER", "speed")
        [1, 2]
        >>> View(history={"VER": [{"speed": 1}, {"speed": None}]}).series("VER", "speed")
        [1, None]
        """
        h = self.history.get(code)
        if h is None:
            return []
        if isinstance(h, Mapping):
            return list(h.get(name) or [])
        if h and isinstance(h[0], (tuple, list)):  # LiveState rows in history_fields order
            if name not in self.history_fields:
                return [None] * len(h)
            i = self.history_fields.index(name)
            key = (code, name)
            col = self._columns.get(key)
            if col is None:  # one column, once per frame: a frame reads 2-3 of the 12
                col = self._columns[key] = [r[i] if i < len(r) else None for r in h]
            return list(col)
        return [row.get(name) if isinstance(row, Mapping) else None for row in h]

    def colour(self, code: str) -> str:
        known = self.meta.get("drivers") or {}
        info = (known.get(code) if isinstance(known, Mapping) else None) or {}
        fallback = PALETTE[sum(map(ord, code)) % len(PALETTE)]
        c = normalise_hex(info.get("team_colour"), "")
        if c:
            return c
        team = info.get("team") or self.latest(code).get("team") or (getattr(self.race, "teams", None) or {}).get(code)
        return team_colour(team, fallback)


def _latency(raw: Mapping[str, Any]) -> dict[str, Any]:
    """LiveState's ``series`` of (unix second, msgs, p50, p99) -> columns."""
    out = dict(raw or {})
    series = out.get("series")
    if series and "t" not in out:
        t, n, p50, p99 = (list(c) for c in zip(*series, strict=False))
        out.update(t=t, msgs_per_s=n, p50_ms=p50, p99_ms=p99)
    return out


def to_view(snapshot: Mapping[str, Any] | None, status: Mapping[str, str] | None = None) -> View:
    """Build a :class:`View` from a :meth:`f1live.state.LiveState.snapshot` (missing parts stay empty).

    >>> from f1live.state import LiveState
    >>> st = LiveState()
    >>> st.record_batch([({"driver": "VER", "session_time": 5.0, "speed": 200.0},
    ...                   {"pit_stop_probability": 0.2}, 3.0, 0.1)])
    >>> v = to_view(st.snapshot())
    >>> v.latest("VER")["speed"], v.analysis("VER")["pit_stop_probability"], v.series("VER", "speed")
    (200.0, 0.2, [200.0])
    >>> v.counters["processed"], v.session_time
    (1, 5.0)
    """
    s = snapshot or {}
    drivers: dict[str, dict[str, Any]] = {}
    raw_drivers = _get(s, "drivers", "latest", default={}) or {}
    for code, d in raw_drivers.items():
        if isinstance(d, Mapping) and ("latest" in d or "row" in d or "analysis" in d):
            entry = dict(d)
            entry["latest"] = dict(d.get("latest") or d.get("row") or {})
            entry["analysis"] = dict(d.get("analysis") or {})
        else:  # a bare latest row
            entry = {"latest": dict(d or {}), "analysis": {}}
        drivers[str(code)] = entry
    counters = dict(_get(s, "counters", "stats", default={}) or {})
    partitions = _get(s, "partitions", default={}) or {}
    if partitions and "lag" not in counters:
        counters["lag"] = {p: v.get("lag") for p, v in partitions.items() if isinstance(v, Mapping)}
    st = dict(_get(s, "status", default={}) or {})
    st.update(status or {})
    session_time = _get(s, "session_time")
    if session_time is None:
        times = [d["latest"].get("session_time") for d in drivers.values()]
        times = [t for t in times if isinstance(t, (int, float))]
        session_time = max(times) if times else None
    version = _get(s, "version", "updated_at", default=0) or 0
    known = {
        "version",
        "updated_at",
        "session_time",
        "meta",
        "drivers",
        "latest",
        "history",
        "history_fields",
        "anomalies",
        "events",
        "counters",
        "stats",
        "partitions",
        "latency",
        "status",
        "timing",
        "quality",
        "anomaly_counts",
        "race",
        "traces",
        "trace_laps",
    }
    return View(
        version=version,
        session_time=session_time,
        meta=dict(_get(s, "meta", default={}) or {}),
        drivers=drivers,
        history={str(k): v for k, v in (_get(s, "history", default={}) or {}).items()},
        history_fields=tuple(_get(s, "history_fields", default=()) or ()),
        anomalies=list(_get(s, "anomalies", default=[]) or []),
        events=list(_get(s, "events", default=[]) or []),
        counters=counters,
        latency=_latency(_get(s, "latency", default={}) or {}),
        status={str(k): str(v) for k, v in st.items()},
        timing=dict(_get(s, "timing", default={}) or {}),
        quality=list(_get(s, "quality", default=[]) or []),
        anomaly_counts=dict(_get(s, "anomaly_counts", default={}) or {}),
        race=_get(s, "race"),
        traces=dict(_get(s, "traces", default={}) or {}),
        trace_laps=dict(_get(s, "trace_laps", default={}) or {}),
        extra={k: v for k, v in s.items() if k not in known},
    )
