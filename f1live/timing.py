"""Timing as of the replay clock: leaderboard, gaps, track status, race control, weather.

Live timing publishes the order of the cars at the timing line, lap times, pit entries,
track-status and race-control messages next to the car data. :class:`SessionTiming`
holds those tables of one session (``SessionData.laps``, ``track_status``,
``race_control``, ``weather``) and answers "what had been published at session time
``t``": nothing it returns depends on anything later than ``t``.

* **Order and position** change at line crossings: a driver's position is the one of
  their last completed lap (FastF1 laps ``Position``), set when they crossed the line;
  inside a lap that is still running it does not move. Cars are ranked by laps completed,
  then by when they completed them (the timing order; it equals ``Position`` where
  FastF1 has one).
* **Gap** to the leader and **interval** to the car ahead are differences of line-crossing
  times after the same number of laps; a car the leader has lapped shows ``+N LAP``.
* **Last / best lap** times of completed laps; **tyre** compound and age of the lap being
  run (the set was fitted at the last pit exit); **pits**: pit-lane entries so far, not
  counting entries under a red flag (the field is held in the pit lane then).
* **Track status** in force at ``t`` and the race-control messages issued up to ``t``.

>>> import pandas as pd
>>> laps = pd.DataFrame({"Driver": ["VER", "VER", "ALO", "ALO"], "LapNumber": [1.0, 2.0, 1.0, 2.0],
...     "LapStartTime": [0.0, 80.0, 0.0, 81.5], "Time": [80.0, 158.0, 81.5, 159.0],
...     "LapTime": [80.0, 78.0, 81.5, 77.5], "Position": [1.0, 1.0, 2.0, 2.0],
...     "PitInTime": [float("nan")] * 4, "PitOutTime": [float("nan")] * 4,
...     "Compound": ["SOFT"] * 4, "TyreLife": [1.0, 2.0, 1.0, 2.0], "Stint": [1.0] * 4})
>>> timing = SessionTiming(laps, total_laps=78)
>>> [(r["driver"], r["position"], r["gap"]) for r in timing.leaderboard(100.0)]
[('VER', 1, 'LEADER'), ('ALO', 2, '+1.500')]
>>> timing.leaderboard(158.5)[1]["interval_s"]   # ALO has not crossed the line of lap 2 yet
1.5
>>> timing.race_lap(100.0), timing.race_lap(-5.0)
(2, 0)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: FastF1 track-status codes -> (short label, long label).
TRACK_STATUS: dict[str, tuple[str, str]] = {
    "1": ("GREEN", "Track clear"),
    "2": ("YELLOW", "Yellow flag"),
    "4": ("SC", "Safety Car"),
    "5": ("RED", "Red flag"),
    "6": ("VSC", "Virtual Safety Car deployed"),
    "7": ("VSC END", "VSC ending"),
}

#: A car whose last line crossing is older than this many of the field's median lap times
#: (and at least :data:`STOPPED_MIN_S`), with no red flag in force, is shown as stopped.
STOPPED_LAPS = 2.5
STOPPED_MIN_S = 300.0


def to_float(x: Any) -> float:
    """A float, NaN for anything that is not a number (None, NA, text).

    >>> to_float("1.5"), to_float(None)
    (1.5, nan)
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def fmt_gap(seconds: float | None, laps_down: int = 0) -> str:
    """``+1.234``, ``+1 LAP``, ``+2 LAPS`` or ``—``.

    >>> fmt_gap(1.2345), fmt_gap(90.0, 1), fmt_gap(None)
    ('+1.234', '+1 LAP', '—')
    """
    if laps_down > 0:
        return f"+{laps_down} LAP{'S' if laps_down > 1 else ''}"
    if seconds is None or seconds != seconds:
        return "—"
    return f"+{int(seconds * 1000) / 1000:.3f}"


@dataclass
class DriverLaps:
    """One driver's laps as arrays sorted by lap number (the whole session: query it through
    :meth:`SessionTiming.completed`, which keeps to what is known at a clock)."""

    code: str
    number: int | None
    team: str | None
    lap: np.ndarray
    start: np.ndarray
    end: np.ndarray  # line-crossing time at the end of each lap (NaN when unknown)
    lap_time: np.ndarray
    position: np.ndarray
    compound: list[Any]
    tyre_life: np.ndarray
    stint: np.ndarray
    pit_in: np.ndarray  # sorted pit-lane entry times
    pit_out: np.ndarray  # sorted pit-lane exit times
    lap_pit_in: np.ndarray  # per lap: pit-lane entry during it (NaN if none; the in-lap)
    lap_pit_out: np.ndarray  # per lap: pit-lane exit that started it (NaN if none; the out-lap)
    deleted: np.ndarray  # per lap: deleted by the stewards (FastF1 ``Deleted``; False when absent)
    done_end: np.ndarray  # end times of completed (timed) laps, sorted
    done_idx: np.ndarray  # their indices into the lap arrays


class SessionTiming:
    """The session's timing tables, queried at a session time (see the module docstring).

    Args:
        laps: FastF1 laps (``Driver``, ``LapNumber``, ``LapStartTime``, ``Time``, ``LapTime``,
            ``Position``, ``PitInTime``, ``PitOutTime``, ``Compound``, ``TyreLife``, ``Stint``;
            times in seconds on the session-time clock).
        track_status: :data:`f1live.schema.TRACK_STATUS_COLUMNS`.
        race_control: :data:`f1live.schema.RACE_CONTROL_COLUMNS`.
        weather: :data:`f1live.schema.WEATHER_COLUMNS`.
        total_laps: the scheduled race distance.
        drivers: restrict the leaderboard to these codes (timing still ranks the whole field).
    """

    def __init__(
        self,
        laps: pd.DataFrame,
        track_status: pd.DataFrame | None = None,
        race_control: pd.DataFrame | None = None,
        weather: pd.DataFrame | None = None,
        total_laps: int | None = None,
        drivers: Iterable[str] | None = None,
    ) -> None:
        self.total_laps = int(total_laps) if total_laps else None
        self.only = {d.upper() for d in drivers} if drivers else None
        self._drivers: dict[str, DriverLaps] = {}
        laps = laps if laps is not None else pd.DataFrame()
        for code, g in laps.groupby("Driver", sort=True) if len(laps) else ():
            g = g.sort_values("LapNumber", kind="stable")
            end = g["Time"].to_numpy(dtype=float)
            lap = g["LapNumber"].to_numpy(dtype=float)
            ok = ~np.isnan(end) & ~np.isnan(lap)
            done_idx = np.flatnonzero(ok)
            done_idx = done_idx[np.argsort(end[done_idx], kind="stable")]
            num = g["DriverNumber"].iloc[0] if "DriverNumber" in g.columns else None
            team = g["Team"].iloc[0] if "Team" in g.columns else None
            nan = end * np.nan
            self._drivers[str(code)] = DriverLaps(
                code=str(code),
                number=None if num is None or pd.isna(num) else int(num),
                team=None if team is None or pd.isna(team) else str(team),
                lap=lap,
                start=g["LapStartTime"].to_numpy(dtype=float),
                end=end,
                lap_time=g["LapTime"].to_numpy(dtype=float) if "LapTime" in g.columns else end * np.nan,
                position=g["Position"].to_numpy(dtype=float) if "Position" in g.columns else end * np.nan,
                compound=list(g["Compound"]) if "Compound" in g.columns else [None] * len(g),
                tyre_life=g["TyreLife"].to_numpy(dtype=float) if "TyreLife" in g.columns else end * np.nan,
                stint=g["Stint"].to_numpy(dtype=float) if "Stint" in g.columns else end * np.nan,
                pit_in=np.sort(g["PitInTime"].dropna().to_numpy(dtype=float))
                if "PitInTime" in g.columns
                else np.zeros(0),
                pit_out=np.sort(g["PitOutTime"].dropna().to_numpy(dtype=float))
                if "PitOutTime" in g.columns
                else np.zeros(0),
                lap_pit_in=g["PitInTime"].to_numpy(dtype=float) if "PitInTime" in g.columns else nan,
                lap_pit_out=g["PitOutTime"].to_numpy(dtype=float) if "PitOutTime" in g.columns else nan,
                deleted=g["Deleted"].eq(True).to_numpy(dtype=bool)
                if "Deleted" in g.columns
                else np.zeros(len(g), bool),
                done_end=end[done_idx],
                done_idx=done_idx,
            )
        # the leader's line crossings: for every lap count, the first car to complete it
        crossings: dict[float, float] = {}
        for d in self._drivers.values():
            for i in d.done_idx:
                k, t = d.lap[i], d.end[i]
                if t < crossings.get(k, math.inf):
                    crossings[k] = t
        self._lead_laps = np.array(sorted(crossings), dtype=float)
        self._lead_times = np.array([crossings[k] for k in sorted(crossings)], dtype=float)
        # the leader's lap starts: lap k begins when the first car completes lap k-1 (lap 1: lights out)
        starts = laps["LapStartTime"].to_numpy(dtype=float) if len(laps) else np.zeros(0)
        first = laps["LapNumber"].to_numpy(dtype=float) == 1 if len(laps) else np.zeros(0, bool)
        self.race_start = (
            float(np.nanmin(starts[first]))
            if first.any() and not np.isnan(starts[first]).all()
            else (float(np.nanmin(starts)) if len(starts) and not np.isnan(starts).all() else None)
        )
        lap_times = laps["LapTime"].to_numpy(dtype=float) if "LapTime" in laps.columns else np.zeros(0)
        lap_times = lap_times[~np.isnan(lap_times)]
        self._median_lap = float(np.median(lap_times)) if len(lap_times) else 90.0
        self.track_status = _sorted(track_status)
        self._ts_times = (
            self.track_status["session_time"].to_numpy(dtype=float) if self.track_status is not None else np.zeros(0)
        )
        self.race_control = _sorted(race_control)
        self._rc_times = (
            self.race_control["session_time"].to_numpy(dtype=float) if self.race_control is not None else np.zeros(0)
        )
        self.weather = _sorted(weather)
        self._wx_times = self.weather["session_time"].to_numpy(dtype=float) if self.weather is not None else np.zeros(0)

    @classmethod
    def from_session(cls, data: Any, drivers: Iterable[str] | None = None) -> SessionTiming:
        """From a :class:`f1live.sources.SessionData`."""
        meta = getattr(data, "meta", {}) or {}
        return cls(
            data.laps,
            getattr(data, "track_status", None),
            getattr(data, "race_control", None),
            getattr(data, "weather", None),
            total_laps=meta.get("total_laps"),
            drivers=drivers,
        )

    # ------------------------------------------------------------------ session-wide
    @property
    def drivers(self) -> list[str]:
        return sorted(self._drivers)

    def driver_laps(self, code: str) -> DriverLaps:
        """All of ``code``'s laps (the whole session; see :meth:`completed` for a clock)."""
        return self._drivers[code]

    def completed(self, code: str, t: float) -> np.ndarray:
        """Indices into :meth:`driver_laps` of the laps ``code`` completed by ``t`` (line
        crossing at or before ``t``), in the order they were completed."""
        d = self._drivers[code]
        return d.done_idx[: int(np.searchsorted(d.done_end, t, side="right"))]

    def red_at(self, t: float) -> bool:
        """A red flag is in force at ``t``."""
        code = self.track_status_at(t)
        return code is not None and "5" in code

    def race_lap(self, t: float) -> int:
        """The lap the leader is on at ``t`` (0 before the start; capped at ``total_laps``)."""
        if self.race_start is None or t < self.race_start:
            return 0
        done = bisect.bisect_right(self._lead_times.tolist(), t)
        lap = int(self._lead_laps[done - 1]) + 1 if done else 1
        return min(lap, self.total_laps) if self.total_laps else lap

    def lap_starts(self) -> list[tuple[int, float]]:
        """(lap, session time the leader started it) for every lap: the timeline's ticks."""
        out = [(1, self.race_start)] if self.race_start is not None else []
        for k, t in zip(self._lead_laps, self._lead_times, strict=True):
            if self.total_laps is None or k < self.total_laps:
                out.append((int(k) + 1, float(t)))
        return out

    def track_status_at(self, t: float) -> str | None:
        """The track-status code in force at ``t`` (``None`` before the first message)."""
        i = int(np.searchsorted(self._ts_times, t, side="right")) - 1
        return None if i < 0 or self.track_status is None else str(self.track_status["status"].iloc[i])

    def events(self, t: float, limit: int | None = 200) -> list[dict[str, Any]]:
        """Track-status changes and race-control messages issued at or before ``t`` (oldest first)."""
        out: list[dict[str, Any]] = []
        if self.track_status is not None:
            n = int(np.searchsorted(self._ts_times, t, side="right"))
            for r in self.track_status.iloc[:n].itertuples(index=False):
                label = TRACK_STATUS.get(str(r.status), (str(r.status), f"status {r.status}"))[1]
                msg = getattr(r, "message", None)
                out.append(
                    {
                        "session_time": float(r.session_time),
                        "category": "TrackStatus",
                        "flag": str(r.status),
                        "driver": "",
                        "message": f"{label} ({msg})" if isinstance(msg, str) and msg else label,
                    }
                )
        if self.race_control is not None:
            n = int(np.searchsorted(self._rc_times, t, side="right"))
            by_number = {d.number: d.code for d in self._drivers.values() if d.number is not None}
            for r in self.race_control.iloc[:n].itertuples(index=False):
                num = to_float(getattr(r, "driver_number", None))
                out.append(
                    {
                        "session_time": float(r.session_time),
                        "category": _s(r.category) or "RaceControl",
                        "flag": _s(getattr(r, "flag", None)),
                        "lap": to_float(getattr(r, "lap", None)),
                        "driver": by_number.get(int(num), f"#{int(num)}") if num == num else "",
                        "message": _s(r.message),
                    }
                )
        out.sort(key=lambda e: e["session_time"])
        return out[-limit:] if limit else out

    def markers(self) -> list[dict[str, Any]]:
        """Flag periods for the timeline: ``{start, end, status, label}`` of every non-green
        track status (end = when the next status was issued; the last one runs to the end)."""
        if self.track_status is None:
            return []
        out = []
        rows = list(self.track_status.itertuples(index=False))
        for i, r in enumerate(rows):
            code = str(r.status)
            if code == "1":
                continue
            end = float(rows[i + 1].session_time) if i + 1 < len(rows) else None
            out.append(
                {
                    "start": float(r.session_time),
                    "end": end,
                    "status": code,
                    "label": TRACK_STATUS.get(code, (code, code))[0],
                }
            )
        return out

    def weather_at(self, t: float) -> dict[str, Any] | None:
        """The last weather reading at or before ``t``."""
        i = int(np.searchsorted(self._wx_times, t, side="right")) - 1
        if i < 0 or self.weather is None:
            return None
        return {k: _plain(v) for k, v in self.weather.iloc[i].items()}

    # ------------------------------------------------------------------ per driver
    def leaderboard(self, t: float) -> list[dict[str, Any]]:
        """One row per driver, in timing order at ``t`` (see the module docstring).

        Keys: ``position`` (int or None before the first completed lap), ``driver``,
        ``number``, ``team``, ``laps`` (completed), ``lap`` (being run), ``gap`` (text),
        ``gap_s``, ``laps_down``, ``interval_s``, ``interval``, ``last_lap_s``,
        ``best_lap_s``, ``compound``, ``tyre_age``, ``pits``, ``in_pit``, ``stopped``.
        """
        red = self.red_at(t)
        rows: list[dict[str, Any]] = []
        for d in self._drivers.values():
            done = self.completed(d.code, t)
            n = len(done)
            last = int(done[np.argmax(d.lap[done])]) if n else None
            # the lap being run: the latest lap that has started by t
            started = np.flatnonzero(d.start <= t)
            cur = int(started[np.argmax(d.lap[started])]) if len(started) else None
            crossing = float(d.end[last]) if last is not None else math.nan
            lt = d.lap_time[done]
            lt = lt[~np.isnan(lt)]
            pit_in = d.pit_in[d.pit_in <= t]
            pits = int(sum(1 for x in pit_in if not self.red_at(x)))
            in_pit = bool(len(pit_in)) and not (d.pit_out[(d.pit_out > pit_in[-1]) & (d.pit_out <= t)].size)
            # a pit stay also ends with the in-lap's line crossing when no exit follows (red flag, garage)
            if in_pit and last is not None and d.end[last] > pit_in[-1] and not d.pit_out[d.pit_out > pit_in[-1]].size:
                in_pit = False
            stopped = (
                last is not None
                and not red
                and not in_pit
                and t - crossing > max(STOPPED_LAPS * self._median_lap, STOPPED_MIN_S)
                and (self.total_laps is None or d.lap[last] < self.total_laps)
            )
            info = cur if cur is not None else last
            rows.append(
                {
                    "driver": d.code,
                    "number": d.number,
                    "team": d.team,
                    "laps": int(d.lap[last]) if last is not None else 0,
                    "lap": int(d.lap[cur]) if cur is not None else None,
                    "crossing": crossing,
                    "fastf1_position": None if last is None or np.isnan(d.position[last]) else int(d.position[last]),
                    "last_lap_s": None if last is None or np.isnan(d.lap_time[last]) else float(d.lap_time[last]),
                    "best_lap_s": float(lt.min()) if len(lt) else None,
                    "compound": None if info is None else _s(d.compound[info]) or None,
                    "tyre_age": None if info is None or np.isnan(d.tyre_life[info]) else int(d.tyre_life[info]),
                    "stint": None if info is None or np.isnan(d.stint[info]) else int(d.stint[info]),
                    "pits": pits,
                    "in_pit": in_pit,
                    "stopped": bool(stopped),
                }
            )
        # timing order: laps completed (more first), then the time they completed them
        rows.sort(
            key=lambda r: (-r["laps"], r["crossing"] if r["crossing"] == r["crossing"] else math.inf, r["driver"])
        )
        leader = rows[0] if rows and rows[0]["laps"] else None
        ahead = None
        for i, r in enumerate(rows):
            r["position"] = i + 1 if r["laps"] else None
            r["gap_s"], r["laps_down"], r["interval_s"] = None, 0, None
            if leader is not None and r["laps"]:
                if r is leader:
                    r["gap"] = "LEADER"
                else:
                    lead_t = self._crossing_of_leader(leader["driver"], r["laps"])
                    r["gap_s"] = r["crossing"] - lead_t if lead_t == lead_t else None
                    # lapped: the leader had completed more laps than the car when it crossed
                    lead_d = self._drivers[leader["driver"]]
                    r["laps_down"] = int(np.searchsorted(lead_d.done_end, r["crossing"], side="right")) - r["laps"]
                    r["gap"] = fmt_gap(r["gap_s"], max(r["laps_down"], 0))
                if ahead is not None and r is not leader:
                    a_t = self._crossing_of_leader(ahead["driver"], r["laps"])
                    r["interval_s"] = round(r["crossing"] - a_t, 3) if a_t == a_t else None
            else:
                r["gap"] = "—"
            r["interval"] = (
                fmt_gap(r["interval_s"]) if r["interval_s"] is not None else ("—" if r is not leader else "")
            )
            ahead = r
        for r in rows:
            del r["crossing"]
        if self.only is not None:
            rows = [r for r in rows if r["driver"] in self.only]
        return rows

    def _crossing_of_leader(self, code: str, laps: int) -> float:
        """When ``code`` completed lap ``laps`` (NaN if it did not)."""
        d = self._drivers[code]
        hit = np.flatnonzero(d.lap[d.done_idx] == laps)
        return float(d.end[d.done_idx[hit[0]]]) if len(hit) else math.nan

    def at(self, t: float | None) -> dict[str, Any]:
        """Everything the dashboard shows from timing at ``t``, as plain data."""
        if t is None:
            return {
                "session_time": None,
                "lap": 0,
                "total_laps": self.total_laps,
                "leaderboard": [],
                "track_status": None,
                "weather": None,
            }
        return {
            "session_time": float(t),
            "lap": self.race_lap(t),
            "total_laps": self.total_laps,
            "leaderboard": self.leaderboard(t),
            "track_status": self.track_status_at(t),
            "weather": self.weather_at(t),
        }


def _sorted(df: pd.DataFrame | None) -> pd.DataFrame | None:
    if df is None or not len(df) or "session_time" not in df.columns:
        return None
    return df.sort_values("session_time", kind="stable").reset_index(drop=True)


def _s(v: Any) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v
