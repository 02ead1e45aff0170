"""Race analysis at the replay clock: lap records, stints, pit stops, positions by lap, lap
times and personal bests, neutralised laps, weather and rain, the session summary, and lap
traces compared by distance.

Every function reads the session's timing tables (:class:`f1live.timing.SessionTiming`) at a
session time ``t`` and uses nothing later than ``t``:

* a **lap** exists once its line crossing (FastF1 laps ``Time``) is at or before ``t``; its lap
  time, position, compound, stint, tyre life, pit entry (in-lap) and pit exit (out-lap) are
  those of the laps table, all known at that crossing;
* a **pit stop** exists from its pit-lane entry, its pit-lane time once the car has left;
* a **flag period** (yellow, SC, VSC, red) from the track-status message that started it;
* a **weather reading** from its time (about one a minute).

One exception, said here: the laps table marks the laps the stewards **deleted** (track
limits) but not when; a deleted lap is shown deleted from its own line crossing, typically a
minute or two before the deletion was announced.

**Personal bests** follow F1 timing: a lap is a personal best when it is faster than every
earlier lap of the driver, not counting lap 1 (standing start), in- and out-laps and deleted
laps (on the 2023 race this equals FastF1's ``IsPersonalBest`` on all 1,512 laps).

**Memory.** :class:`RaceAnalysis` builds the whole session's lap records once (one small
frozen record per driver and lap: 1,512 for the 2023 race, at most ``drivers x total_laps``)
and cuts them at the clock; a result at ``t`` shares those records, so it costs a few lists.

>>> import pandas as pd
>>> nan = float("nan")
>>> laps = pd.DataFrame({"Driver": ["VER"] * 3 + ["ALO"] * 3, "LapNumber": [1.0, 2.0, 3.0] * 2,
...     "LapStartTime": [0.0, 90.0, 170.0, 0.0, 91.0, 200.0], "Time": [90.0, 170.0, 250.0, 91.0, 200.0, 281.0],
...     "LapTime": [90.0, 80.0, 80.0, 91.0, 109.0, 81.0], "Position": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
...     "PitInTime": [nan, nan, nan, nan, 180.0, nan], "PitOutTime": [nan, nan, nan, nan, nan, 205.0],
...     "Compound": ["MEDIUM"] * 3 + ["MEDIUM", "MEDIUM", "HARD"], "TyreLife": [1.0, 2.0, 3.0, 1.0, 2.0, 1.0],
...     "Stint": [1.0, 1.0, 1.0, 1.0, 1.0, 2.0]})
>>> timing = SessionTiming(laps, total_laps=3)
>>> race = RaceAnalysis(timing)
>>> now = race.at(210.0)        # VER has completed 2 laps, ALO 2 (he pitted at the end of lap 2)
>>> [(s.compound, s.first_lap, s.last_lap) for s in now.stints["ALO"]]
[('MEDIUM', 1, 2)]
>>> [(p.lap, p.pit_lane_s) for p in now.pits["ALO"]]
[(2, 25.0)]
>>> [(r.lap, r.lap_time, r.personal_best) for r in now.laps["VER"]]
[(1, 90.0, False), (2, 80.0, True)]
>>> [(s.compound, s.first_lap, s.last_lap) for s in race.at(300.0).stints["ALO"]]
[('MEDIUM', 1, 2), ('HARD', 3, 3)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from f1live.timing import SessionTiming

#: Track-status codes by how much they slow the field (most first) and the label shown.
SEVERITY: tuple[tuple[str, str], ...] = (("5", "RED"), ("4", "SC"), ("6", "VSC"), ("7", "VSC"), ("2", "YELLOW"))
#: Statuses that neutralise the whole field (shaded on the lap chart).
NEUTRALISED = ("RED", "SC", "VSC")
#: Weather columns kept for the strip (the schema's :data:`f1live.schema.WEATHER_COLUMNS`).
WEATHER_FIELDS = ("session_time", "air_temp", "track_temp", "humidity", "rainfall", "wind_speed", "wind_direction")


@dataclass(frozen=True, slots=True)
class LapRecord:
    """One completed lap of one driver, as timing published it at the lap's line crossing.

    ``status`` is the most severe track status in force during the lap (``""`` green,
    ``YELLOW``, ``VSC``, ``SC``, ``RED``); ``personal_best``: the driver's fastest lap so far
    when it was set (see the module docstring).
    """

    driver: str
    lap: int
    start: float
    end: float
    lap_time: float | None
    position: int | None
    compound: str | None
    stint: int | None
    tyre_life: int | None
    in_lap: bool
    out_lap: bool
    status: str
    deleted: bool
    personal_best: bool


@dataclass(frozen=True, slots=True)
class Stint:
    """Consecutive completed laps on one set of tyres (FastF1 ``Stint``; compound changes split)."""

    driver: str
    number: int | None
    compound: str | None
    first_lap: int
    last_lap: int
    tyre_life_start: int | None  # the set's age at its first lap (> 1: a used set)

    @property
    def laps(self) -> int:
        return self.last_lap - self.first_lap + 1


@dataclass(frozen=True, slots=True)
class PitStop:
    """A pit-lane visit: entered during in-lap ``lap``; ``exit`` is None while still in the lane
    (or when the table has no exit time); ``entry`` is None when only the exit is known."""

    driver: str
    lap: int
    entry: float | None
    exit: float | None
    under_red: bool

    @property
    def pit_lane_s(self) -> float | None:
        """Time from pit entry to pit exit (both known), seconds."""
        if self.entry is None or self.exit is None:
            return None
        return self.exit - self.entry


@dataclass(frozen=True)
class RaceAt:
    """Everything the race-analysis panels show at one clock (see :meth:`RaceAnalysis.at`).

    ``key`` changes whenever anything in it changes, so a panel redraws only then.
    """

    session_time: float
    key: tuple[Any, ...]
    total_laps: int | None
    teams: dict[str, str | None]
    order: list[str]  # drivers in timing order at the clock
    laps: dict[str, list[LapRecord]]  # completed laps per driver, in order
    stints: dict[str, list[Stint]]
    pits: dict[str, list[PitStop]]
    flag_laps: list[tuple[int, str]]  # (leader lap, RED/SC/VSC) neutralised laps
    weather: dict[str, np.ndarray]  # WEATHER_FIELDS columns, readings up to the clock
    rain: list[tuple[float, float]]  # (start, end) session times of rain periods
    rain_laps: list[tuple[float, float]]  # the same as fractions of the leader's race distance
    race_start: float | None
    leader_laps: int  # laps the leader has completed
    chequered: bool  # the race distance is done, or the chequered flag shown

    @property
    def fastest(self) -> LapRecord | None:
        return fastest_lap(self.laps)


# ---------------------------------------------------------------------------- pure functions
def lap_status(start: float, end: float, periods: Sequence[Mapping[str, Any]]) -> str:
    """The most severe non-green status of ``periods`` (``SessionTiming.markers()``) in force
    at some point of ``[start, end]`` (``""`` when green throughout).

    >>> periods = [{"start": 10.0, "end": 20.0, "status": "2"}, {"start": 50.0, "end": None, "status": "4"}]
    >>> lap_status(0.0, 15.0, periods), lap_status(21.0, 40.0, periods), lap_status(30.0, 60.0, periods)
    ('YELLOW', '', 'SC')
    """
    found: set[str] = set()
    for p in periods:
        p_end = math.inf if p.get("end") is None else float(p["end"])
        if float(p["start"]) <= end and p_end > start:
            found.update(str(p["status"]))
    for code, label in SEVERITY:
        if code in found:
            return label
    return ""


def _int(v: float) -> int | None:
    return None if v != v else int(v)


def lap_records(timing: SessionTiming, t: float, drivers: Iterable[str] | None = None) -> dict[str, list[LapRecord]]:
    """Each driver's laps completed by ``t`` (line crossing at or before ``t``), in order.

    Laps with no line-crossing time (e.g. a retirement's last lap) never complete.
    """
    periods = timing.markers()
    out: dict[str, list[LapRecord]] = {}
    for code in drivers if drivers is not None else timing.drivers:
        d = timing.driver_laps(code)
        best = math.inf
        rows = []
        for i in timing.completed(code, t):
            lap = int(d.lap[i])
            lt = float(d.lap_time[i])
            in_lap, out_lap = not math.isnan(d.lap_pit_in[i]), not math.isnan(d.lap_pit_out[i])
            counts = lt == lt and lap > 1 and not in_lap and not out_lap and not bool(d.deleted[i])
            pb = counts and lt < best
            if pb:
                best = lt
            start = float(d.start[i]) if d.start[i] == d.start[i] else float(d.end[i]) - (lt if lt == lt else 0.0)
            compound = d.compound[i]
            rows.append(
                LapRecord(
                    driver=code,
                    lap=lap,
                    start=start,
                    end=float(d.end[i]),
                    lap_time=lt if lt == lt else None,
                    position=_int(float(d.position[i])),
                    compound=str(compound) if isinstance(compound, str) and compound else None,
                    stint=_int(float(d.stint[i])),
                    tyre_life=_int(float(d.tyre_life[i])),
                    in_lap=in_lap,
                    out_lap=out_lap,
                    status=lap_status(start, float(d.end[i]), periods),
                    deleted=bool(d.deleted[i]),
                    personal_best=pb,
                )
            )
        out[code] = rows
    return out


def stints(laps: Mapping[str, Sequence[LapRecord]]) -> dict[str, list[Stint]]:
    """Stints from completed laps: a new one when the stint number or the compound changes.

    >>> r = [LapRecord("VER", k, 0.0, 1.0, 80.0, 1, c, s, 1, False, False, "", False, False)
    ...      for k, c, s in [(1, "SOFT", 1), (2, "SOFT", 1), (3, "HARD", 2)]]
    >>> [(s.compound, s.first_lap, s.laps) for s in stints({"VER": r})["VER"]]
    [('SOFT', 1, 2), ('HARD', 3, 1)]
    """
    out: dict[str, list[Stint]] = {}
    for code, rows in laps.items():
        runs: list[Stint] = []
        for r in rows:
            last = runs[-1] if runs else None
            if last is not None and last.number == r.stint and last.compound == r.compound:
                runs[-1] = Stint(code, last.number, last.compound, last.first_lap, r.lap, last.tyre_life_start)
            else:
                runs.append(Stint(code, r.stint, r.compound, r.lap, r.lap, r.tyre_life))
        out[code] = runs
    return out


def pit_stops(timing: SessionTiming, t: float, drivers: Iterable[str] | None = None) -> dict[str, list[PitStop]]:
    """Pit-lane visits up to ``t``: each entry (the in-lap's ``PitInTime``) paired with the next
    exit; an exit with no entry before it (the table missed the in-lap) is a stop on the lap
    before the out-lap. A start from the pit lane (exit on lap 1, no entry) is not a stop."""
    out: dict[str, list[PitStop]] = {}
    for code in drivers if drivers is not None else timing.drivers:
        d = timing.driver_laps(code)
        entries = sorted((float(x), int(k)) for x, k in zip(d.lap_pit_in, d.lap, strict=True) if x == x and x <= t)
        exits = sorted((float(x), int(k)) for x, k in zip(d.lap_pit_out, d.lap, strict=True) if x == x and x <= t)
        stops: list[PitStop] = []
        used: set[float] = set()
        for i, (a, lap) in enumerate(entries):
            nxt = entries[i + 1][0] if i + 1 < len(entries) else math.inf
            b = next((x for x, _ in exits if a < x < nxt), None)
            if b is not None:
                used.add(b)
            stops.append(PitStop(code, lap, a, b, timing.red_at(a)))
        for b, out_lap in exits:
            if b not in used and out_lap > 1:
                stops.append(PitStop(code, out_lap - 1, None, b, timing.red_at(b)))
        out[code] = sorted(stops, key=lambda s: s.lap)
    return out


def positions_by_lap(laps: Mapping[str, Sequence[LapRecord]]) -> dict[str, tuple[list[int], list[int]]]:
    """(laps, positions) per driver: the position at the end of each completed lap."""
    return {
        code: ([r.lap for r in rows if r.position is not None], [r.position for r in rows if r.position is not None])
        for code, rows in laps.items()
    }


def personal_best(rows: Sequence[LapRecord]) -> LapRecord | None:
    """The driver's current personal best (the last lap marked as one)."""
    return next((r for r in reversed(rows) if r.personal_best), None)


def fastest_lap(laps: Mapping[str, Sequence[LapRecord]]) -> LapRecord | None:
    """The fastest personal best of the field (ties: the one set first)."""
    bests = [b for b in (personal_best(rows) for rows in laps.values()) if b is not None]
    return min(bests, key=lambda r: (r.lap_time, r.end)) if bests else None


def flag_laps(timing: SessionTiming, t: float) -> list[tuple[int, str]]:
    """The leader's laps (started by ``t``) during which the field was neutralised (RED, SC,
    VSC), with the most severe of them; flag periods that began after ``t`` are not seen."""
    periods = [m for m in timing.markers() if m["start"] <= t]
    starts = [(k, s) for k, s in timing.lap_starts() if s is not None and s <= t]
    out = []
    for i, (k, s) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else t
        label = lap_status(s, min(end, t), periods)
        if label in NEUTRALISED:
            out.append((k, label))
    return out


def race_distance(timing: SessionTiming, times: np.ndarray) -> np.ndarray:
    """Session times as the leader's race distance in laps (2.5: half-way round lap 3);
    0 before the start. The lap chart's x axis, for marking times (rain) on it."""
    crossings = np.unique([s for _, s in timing.lap_starts() if s is not None])  # lights out, then lap ends
    if not len(crossings):
        return np.zeros(len(times))
    return np.interp(np.asarray(times, dtype=float), crossings, np.arange(len(crossings), dtype=float))


def weather_until(timing: SessionTiming, t: float) -> dict[str, np.ndarray]:
    """The weather readings at or before ``t`` as columns (:data:`WEATHER_FIELDS`)."""
    wx = timing.weather
    if wx is None:
        return {k: np.zeros(0) for k in WEATHER_FIELDS}
    n = int(np.searchsorted(wx["session_time"].to_numpy(dtype=float), t, side="right"))
    out = {}
    for k in WEATHER_FIELDS:
        if k in wx.columns:
            col = wx[k].iloc[:n]
            out[k] = col.fillna(False).to_numpy(dtype=bool) if k == "rainfall" else col.to_numpy(dtype=float)
        else:
            out[k] = np.full(n, np.nan)
    return out


def rain_periods(weather: Mapping[str, np.ndarray], t: float) -> list[tuple[float, float]]:
    """(start, end) of rain: from a reading reporting rain to the next one that does not (or
    ``t`` while it still rains).

    >>> rain_periods({"session_time": np.array([0.0, 60.0, 120.0, 180.0]),
    ...               "rainfall": np.array([False, True, True, False])}, 200.0)
    [(60.0, 180.0)]
    >>> rain_periods({"session_time": np.array([0.0, 60.0]), "rainfall": np.array([False, True])}, 90.0)
    [(60.0, 90.0)]
    """
    times, rain = weather["session_time"], weather["rainfall"]
    out = []
    start = None
    for s, r in zip(times, rain, strict=True):
        if r and start is None:
            start = float(s)
        elif not r and start is not None:
            out.append((start, float(s)))
            start = None
    if start is not None:
        out.append((start, float(t)))
    return out


def time_delta(
    ref_distance: np.ndarray, ref_time: np.ndarray, distance: np.ndarray, time: np.ndarray, step_m: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """The time gap along the lap: at each distance (every ``step_m`` metres, up to the shorter
    trace), the time a car took to get there minus the reference car's time (positive: behind).

    >>> d, dt = time_delta(np.array([0.0, 100.0, 200.0]), np.array([0.0, 1.0, 2.0]),
    ...                    np.array([0.0, 100.0, 200.0]), np.array([0.0, 1.5, 2.5]), step_m=100)
    >>> d.tolist(), dt.tolist()
    ([0.0, 100.0, 200.0], [0.0, 0.5, 0.5])
    """
    if len(ref_distance) < 2 or len(distance) < 2:
        return np.zeros(0), np.zeros(0)
    end = min(float(np.nanmax(ref_distance)), float(np.nanmax(distance)))
    grid = np.arange(0.0, end + 1e-9, step_m)
    # distances are non-decreasing (integrated speed); np.interp wants increasing x
    a = np.interp(grid, np.maximum.accumulate(ref_distance), ref_time)
    b = np.interp(grid, np.maximum.accumulate(distance), time)
    return grid, b - a


# ---------------------------------------------------------------------------- at a clock
class RaceAnalysis:
    """The analysis of one session, cut at any clock (:meth:`at`), memoised.

    The whole session's lap records are built once (:func:`lap_records` at +inf) and cut at
    the clock: a lap record depends only on its own lap and earlier ones, so the cut equals
    :func:`lap_records` at that clock. Results are cached by what can change them (laps
    completed, pit events, weather readings and track-status messages up to the clock).

    Args:
        timing: the session's timing tables.
        drivers: restrict to these codes (default: the timing's own restriction, else all).
    """

    def __init__(self, timing: SessionTiming, drivers: Iterable[str] | None = None) -> None:
        self.timing = timing
        only = set(drivers) if drivers else timing.only
        self.drivers = [d for d in timing.drivers if only is None or d in only]
        self._all = lap_records(timing, math.inf, self.drivers)
        self._ends = {d: np.array([r.end for r in rows]) for d, rows in self._all.items()}
        self._pit_times = np.sort(
            np.concatenate(
                [np.r_[timing.driver_laps(d).pit_in, timing.driver_laps(d).pit_out] for d in self.drivers]
                or [np.zeros(0)]
            )
        )
        wx = timing.weather
        self._wx_times = wx["session_time"].to_numpy(dtype=float) if wx is not None else np.zeros(0)
        ts = timing.track_status
        self._ts_times = ts["session_time"].to_numpy(dtype=float) if ts is not None else np.zeros(0)
        self._lead_times = np.array([s for _, s in timing.lap_starts() if s is not None])
        self.teams = {d: timing.driver_laps(d).team for d in self.drivers}
        rc = timing.race_control  # a shortened race ends with the chequered flag before the distance
        flags = (
            rc[rc["flag"].astype(str).str.upper() == "CHEQUERED"]["session_time"]
            if rc is not None and "flag" in rc.columns
            else []
        )
        self._chequered_at = float(min(flags)) if len(flags) else math.inf
        self._cache: tuple[tuple[Any, ...], RaceAt] | None = None

    def key(self, t: float) -> tuple[Any, ...]:
        """What :meth:`at` depends on at ``t``: equal keys, equal results."""

        def n(a: np.ndarray) -> int:
            return int(np.searchsorted(a, t, side="right"))

        return (
            tuple(n(e) for e in self._ends.values()),
            n(self._pit_times),
            n(self._wx_times),
            n(self._ts_times),
            n(self._lead_times),
        )

    def at(self, t: float) -> RaceAt:
        """The analysis at session time ``t`` (nothing later than ``t`` is in it)."""
        key = self.key(t)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        laps = {d: rows[: int(np.searchsorted(self._ends[d], t, side="right"))] for d, rows in self._all.items()}
        board = [r for r in self.timing.leaderboard(t) if r["driver"] in self._all]
        wx = weather_until(self.timing, t)
        rain = rain_periods(wx, t)
        rain_laps = (
            [
                (float(a), float(b))
                for a, b in zip(
                    *(race_distance(self.timing, np.array(c)) for c in zip(*rain, strict=True)), strict=True
                )
            ]
            if rain
            else []
        )
        leader_laps = board[0]["laps"] if board else 0
        total = self.timing.total_laps
        result = RaceAt(
            session_time=float(t),
            key=key,
            total_laps=total,
            teams=dict(self.teams),
            order=[r["driver"] for r in board],
            laps=laps,
            stints=stints(laps),
            pits=pit_stops(self.timing, t, self.drivers),
            flag_laps=flag_laps(self.timing, t),
            weather=wx,
            rain=rain,
            rain_laps=rain_laps,
            race_start=self.timing.race_start,
            leader_laps=int(leader_laps),
            chequered=bool(total and leader_laps >= total) or self._chequered_at <= t,
        )
        self._cache = (key, result)
        return result
