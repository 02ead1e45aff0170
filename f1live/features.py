"""Per-driver online features: one code path for live inference and for training.

:class:`OnlineFeatures` keeps a small state per driver (River rolling statistics, the
previous sample, lap/stint context) plus one shared :class:`RaceRecord` of what the
stream has shown about *all* drivers (line crossings, pit-lane entries, lap times), and
turns every telemetry message into a flat ``dict[str, float]`` of the features listed in
:data:`FEATURE_NAMES`. :func:`build_feature_table` runs **the same**
:meth:`OnlineFeatures.update` over the rows of a telemetry table in time order over all
drivers, so the features a model was trained on are exactly the features it sees in the
stream (``tests/test_features.py`` proves it, bit for bit, through the JSON codec).

Only what is known at the message's time is used: the schema-v2 fields are as known at
the sample's time (``position`` at the last completed lap, the track status in force,
the last weather reading), lap times are measured from the stream's own lap changes,
and the cross-driver features (gaps to the cars ahead and behind, other cars' pit
entries, the field's pace) come from the messages received so far.

>>> fx = OnlineFeatures(window=4)
>>> f = fx.update({"driver": "VER", "session_time": 10.0, "speed": 100.0, "rpm": 9000.0,
...                "gear": 4, "throttle": 80.0, "brake": False, "drs": 0})
>>> f["speed"], f["dt"]
(100.0, 0.0)
>>> f = fx.update({"driver": "VER", "session_time": 10.25, "speed": 109.0, "rpm": 9300.0,
...                "gear": 4, "throttle": 100.0, "brake": False, "drs": 0})
>>> f["d_speed"], f["dt"], round(f["accel"], 1)
(9.0, 0.25, 10.0)
>>> round(f["speed_mean"], 1), len(f) == len(FEATURE_NAMES)
(104.5, True)
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from river import stats, utils

from f1live.processors import PerDriverState

logger = logging.getLogger(__name__)

NAN = float("nan")

#: Rolling window in samples (~5 s at the 3.8 Hz car-data rate).
DEFAULT_WINDOW = 20

#: Ordinal code of each tyre compound (dry compounds by hardness, then wet-weather tyres).
COMPOUND_CODES: dict[str, int] = {"SOFT": 0, "MEDIUM": 1, "HARD": 2, "INTERMEDIATE": 3, "WET": 4}
DRY_COMPOUNDS: frozenset[str] = frozenset({"SOFT", "MEDIUM", "HARD"})

#: Look-back windows (s) of the cross-driver features.
PIT_WINDOWS_S: tuple[float, float] = (120.0, 300.0)
FIELD_PACE_WINDOW_S = 150.0
TEMP_LOOKBACK_S = 600.0

_ROLLED = ("speed", "rpm", "throttle", "brake")

#: Every feature :meth:`OnlineFeatures.update` returns, in model-input order.
FEATURE_NAMES: tuple[str, ...] = (
    # current sample
    "speed",
    "rpm",
    "gear",
    "throttle",
    "brake",
    "drs_open",
    # dynamics
    "dt",
    "d_speed",
    "d_rpm",
    "d_throttle",
    "accel",
    # rolling statistics (River utils.Rolling over the last `window` samples)
    "speed_mean",
    "speed_std",
    "rpm_mean",
    "rpm_std",
    "throttle_mean",
    "throttle_std",
    "brake_mean",
    "brake_std",
    "speed_mean_long",
    # lap / stint context
    "lap_number",
    "laps_remaining",
    "time_in_lap",
    "tyre_life",
    "tyre_age_ratio",
    "stint",
    "compound_code",
    "compound_soft",
    "compound_medium",
    "compound_hard",
    "compound_wet",
    "dry_compounds_used",
    "wet_tyres_used",
    "pit_out_lap",
    "last_lap_time",
    "lap_time_trend",
    "last_lap_vs_stint_best",
    "stint_deg",
    "pace_ratio",
    # race context from the stream (cross-driver)
    "position",
    "gap_ahead",
    "gap_behind",
    "others_pitted_120",
    "others_pitted_300",
    "field_pace_ratio",
    # track status in force now, and during the last completed lap
    "status_green",
    "status_yellow",
    "status_sc",
    "status_vsc",
    "status_red",
    "status_age",
    "prev_lap_green",
    "prev_lap_yellow",
    "prev_lap_sc",
    "prev_lap_vsc",
    "prev_lap_red",
    # weather (last reading)
    "rainfall",
    "rain_age",
    "dry_age",
    "track_temp",
    "air_temp",
    "track_temp_change",
)

#: Per-message inputs the extractor reads (besides ``driver``); nothing else is used.
INPUT_FIELDS: tuple[str, ...] = (
    "session_time",
    "speed",
    "rpm",
    "gear",
    "throttle",
    "brake",
    "drs",
    "lap_number",
    "total_laps",
    "tyre_life",
    "stint",
    "compound",
    "track_status",
    "position",
    "pit_out_lap",
    "in_pit",
    "rainfall",
    "track_temp",
    "air_temp",
)


def _num(value: Any) -> float:
    """A float, with None/NaN/NA (missing in a message or a table) as NaN."""
    if value is None or value is pd.NA:
        return NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def status_flags(code: Any) -> tuple[float, float, float, float, float]:
    """(green, yellow, SC, VSC, red) flags of a FastF1 track-status string such as ``"12"``.

    >>> status_flags("124")
    (1.0, 1.0, 1.0, 0.0, 0.0)
    >>> status_flags(None)
    (nan, nan, nan, nan, nan)
    """
    if code is None or code is pd.NA or (isinstance(code, float) and math.isnan(code)):
        return (NAN, NAN, NAN, NAN, NAN)
    s = str(code)
    return (
        float("1" in s),
        float("2" in s),
        float("4" in s),
        float("6" in s or "7" in s),
        float("5" in s),
    )


_NO_STATUS = (NAN, NAN, NAN, NAN, NAN)


class RaceRecord:
    """What the stream has shown about every driver: the shared part of the features.

    Updated by :meth:`OnlineFeatures.update` as messages arrive (time order over all
    drivers in a replay), read for the cross-driver features. Everything here is known at
    the time of the message that added it: a line crossing is the first sample of a new
    lap, a pit entry the first sample with ``in_pit`` set, a lap time the time between
    two crossings of one driver.

    >>> rec = RaceRecord()
    >>> rec.crossing("LEC", 5, 100.0); rec.crossing("VER", 5, 101.5); rec.crossing("HAM", 5, 104.0)
    >>> rec.gaps("VER", 5, 101.5)
    (1.5, 2.5)
    >>> rec.pit_entry("HAM", 200.0); rec.pits_since("VER", 250.0, 120.0), rec.pits_since("HAM", 250.0, 120.0)
    (1, 0)
    """

    __slots__ = ("laps", "pits", "lap_log", "race_best", "_pace", "_pace_key")

    def __init__(self) -> None:
        self.laps: dict[int, tuple[list[float], list[str]]] = {}  # lap -> (crossing times sorted, drivers)
        self.pits: deque[tuple[float, str]] = deque()  # pit-lane entries (time, driver), oldest first
        self.lap_log: deque[tuple[float, float]] = deque()  # (end time, lap time) of clean laps, oldest first
        self.race_best = NAN
        self._pace = NAN
        self._pace_key: tuple[int, float] = (-1, NAN)

    def crossing(self, driver: str, lap: int, t: float) -> None:
        """``driver`` started ``lap`` at ``t`` (crossed the line)."""
        times, drivers = self.laps.setdefault(lap, ([], []))
        i = bisect.bisect_right(times, t)
        times.insert(i, t)
        drivers.insert(i, driver)

    def gaps(self, driver: str, lap: int, t: float) -> tuple[float, float]:
        """(gap to the car ahead, gap to the car behind) in s at ``driver``'s crossing into ``lap`` at ``t``.

        Ahead: the last other car to start the same lap before. Behind: the next car to
        start it after, once it has crossed; until then the gap behind at the previous lap.
        """
        entry = self.laps.get(lap)
        if entry is None:
            return NAN, NAN
        times, drivers = entry
        i = bisect.bisect_left(times, t)
        while i < len(times) and drivers[i] != driver:
            i += 1
        if i == len(times):
            return NAN, NAN
        ahead = t - times[i - 1] if i > 0 else NAN
        if i + 1 < len(times):
            return ahead, times[i + 1] - t
        prev = self.laps.get(lap - 1)
        if prev is not None:
            ptimes, pdrivers = prev
            try:
                j = pdrivers.index(driver)
            except ValueError:
                return ahead, NAN
            if j + 1 < len(ptimes):
                return ahead, ptimes[j + 1] - ptimes[j]
        return ahead, NAN

    def pit_entry(self, driver: str, t: float) -> None:
        """``driver`` entered the pit lane at ``t``."""
        self.pits.append((t, driver))
        while self.pits and self.pits[0][0] < t - max(PIT_WINDOWS_S) - 60.0:
            self.pits.popleft()

    def pits_since(self, driver: str, now: float, window: float) -> int:
        """Pit-lane entries of *other* drivers in ``(now - window, now]``."""
        lo = now - window
        return sum(1 for t, d in self.pits if lo < t <= now and d != driver)

    def lap_done(self, t: float, lap_time: float) -> None:
        """A clean (green, not in/out) lap of some driver ended at ``t``."""
        if not self.race_best <= lap_time:
            self.race_best = lap_time
        self.lap_log.append((t, lap_time))

    def field_pace(self, now: float) -> float:
        """Median clean lap time of the field over the last :data:`FIELD_PACE_WINDOW_S` / race best lap.

        NaN with fewer than three laps in the window.
        """
        log = self.lap_log
        lo = now - FIELD_PACE_WINDOW_S
        while log and log[0][0] <= lo:
            log.popleft()
        key = (len(log), log[0][0] if log else NAN)
        if key != self._pace_key:
            self._pace_key = key
            if len(log) >= 3 and self.race_best > 0:
                self._pace = float(np.median([lt for _, lt in log])) / self.race_best
            else:
                self._pace = NAN
        return self._pace


class _DriverState:
    """Everything remembered about one driver between two of its samples."""

    __slots__ = (
        "rolls",
        "speed_long",
        "prev",
        "lap",
        "lap_start",
        "lap_clean",
        "lap_flags",
        "stint",
        "stint_best",
        "stint_laps",
        "last_lap_time",
        "prev_lap_time",
        "prev_status",
        "compounds",
        "wet_used",
        "in_pit",
        "status",
        "status_since",
        "rain",
        "rain_since",
        "temps",
        "gap_ahead",
        "gap_behind",
        "gap_key",
    )

    def __init__(self, window: int, long_window: int) -> None:
        self.rolls = {k: utils.Rolling(stats.Var, window_size=window) for k in _ROLLED}
        # An exponentially weighted mean costs O(1) with no window to keep (alpha ~ 2/(n+1)).
        self.speed_long = stats.EWMean(fading_factor=2.0 / (long_window + 1))
        self.prev: tuple[float, float, float, float] | None = None  # t, speed, rpm, throttle
        self.lap = NAN
        self.lap_start = NAN
        self.lap_clean = False  # the running lap: green throughout, not in/out of the pit lane
        self.lap_flags = [0.0, 0.0, 0.0, 0.0, 0.0]  # green-only, yellow, SC, VSC, red seen in the running lap
        self.stint = NAN
        self.stint_best = NAN
        self.stint_laps: list[float] = []  # clean lap times of the stint
        self.last_lap_time = NAN
        self.prev_lap_time = NAN
        self.prev_status: tuple[float, float, float, float, float] = _NO_STATUS
        self.compounds: set[str] = set()
        self.wet_used = False
        self.in_pit = False
        self.status: Any = None
        self.status_since = NAN
        self.rain: Any = None
        self.rain_since = NAN
        self.temps: deque[tuple[float, float]] = deque()  # (time, track temp) at each change
        self.gap_ahead = NAN
        self.gap_behind = NAN
        self.gap_key: tuple[int, int] = (-1, -1)


class OnlineFeatures(PerDriverState):
    """Online feature extractor keyed by driver (River rolling statistics) with a shared race record.

    Verbs: :meth:`update` (learn the message and return its features) and
    :meth:`reset`; one driver's state moves with :meth:`driver_state` /
    :meth:`restore_driver` (:class:`f1live.processors.PerDriverState`). The shared
    :class:`RaceRecord` does not move with a driver: it holds what this extractor has seen
    of every driver it was given. Messages of one driver must arrive in time order (the consumer
    guarantees it: the topic is keyed by driver); drivers may interleave, and the
    cross-driver features use what has arrived so far (a replay delivers all drivers in
    time order, as :func:`build_feature_table` does).

    Args:
        window: samples in the short rolling window (mean/std).
        long_window: span (samples) of the exponentially weighted long mean of speed (~50 s).
        stint_laps: typical stint length (laps) of each compound, learnt from the training
            races (:func:`typical_stint_laps`); ``tyre_age_ratio`` = tyre life / this.
            Saved with the models and handed back at serving time.
    """

    def __init__(
        self, window: int = DEFAULT_WINDOW, long_window: int = 200, stint_laps: Mapping[str, float] | None = None
    ) -> None:
        if window < 2 or long_window < 2:
            raise ValueError(f"window={window} and long_window={long_window} must both be >= 2 samples")
        self.window = window
        self.long_window = long_window
        self.stint_laps: dict[str, float] = {str(k): float(v) for k, v in (stint_laps or {}).items()}
        self._drivers: dict[str, _DriverState] = {}
        self.race = RaceRecord()

    @property
    def drivers(self) -> list[str]:
        """Drivers seen so far."""
        return list(self._drivers)

    def params(self) -> dict[str, Any]:
        """The constructor arguments (saved with the models so serving builds the same features)."""
        return {"window": self.window, "long_window": self.long_window, "stint_laps": dict(self.stint_laps)}

    def reset(self) -> None:
        """Forget every driver's state and the race record (keeps the parameters)."""
        self._drivers.clear()
        self.race = RaceRecord()

    def update(self, msg: Mapping[str, Any]) -> dict[str, float]:
        """Learn one telemetry message and return its features (see :data:`FEATURE_NAMES`)."""
        driver = msg.get("driver")
        if driver is None:
            raise ValueError("telemetry message has no 'driver' field; expected the f1live telemetry schema")
        st = self._drivers.get(driver)
        if st is None:
            st = self._drivers[driver] = _DriverState(self.window, self.long_window)
        race = self.race
        get = msg.get
        t = _num(get("session_time"))
        speed = _num(get("speed"))
        rpm = _num(get("rpm"))
        throttle = _num(get("throttle"))
        brake = 1.0 if get("brake") else 0.0
        gear = _num(get("gear"))
        drs = _num(get("drs"))

        prev = st.prev
        if prev is None:
            dt = d_speed = d_rpm = d_throttle = accel = 0.0
        else:
            dt = t - prev[0]
            d_speed = speed - prev[1]
            d_rpm = rpm - prev[2]
            d_throttle = throttle - prev[3]
            accel = d_speed / 3.6 / dt if dt > 0 else 0.0
        st.prev = (t, speed, rpm, throttle)

        rolls = st.rolls
        out: dict[str, float] = {
            "speed": speed,
            "rpm": rpm,
            "gear": gear,
            "throttle": throttle,
            "brake": brake,
            "drs_open": 1.0 if drs >= 10 else 0.0,
            "dt": dt,
            "d_speed": d_speed,
            "d_rpm": d_rpm,
            "d_throttle": d_throttle,
            "accel": accel,
        }
        for name, value in (("speed", speed), ("rpm", rpm), ("throttle", throttle), ("brake", brake)):
            r = rolls[name]
            if value == value:  # NaN never enters the rolling window
                r.update(value)
            var = r.obj.get()
            out[name + "_mean"] = r.obj.mean.get()
            out[name + "_std"] = math.sqrt(var) if var > 0 else 0.0
        if speed == speed:
            st.speed_long.update(speed)
        out["speed_mean_long"] = st.speed_long.get()

        # Track status in force now (schema v2: the code at the sample's time) and how long it has been.
        status = get("track_status")
        if status != st.status:
            st.status = status
            st.status_since = t
        flags = status_flags(status)

        # Pit-lane entry: the first sample with in_pit set (what a timing screen shows as "in pit").
        in_pit = bool(get("in_pit"))
        if in_pit and not st.in_pit:
            race.pit_entry(driver, t)
        st.in_pit = in_pit

        # Lap / stint context: a lap change closes the previous lap (its time, its flags).
        lap = _num(get("lap_number"))
        if lap == lap and lap != st.lap:
            if st.lap == st.lap and lap == st.lap + 1 and st.lap_start == st.lap_start:
                lap_time = t - st.lap_start
                st.prev_lap_time, st.last_lap_time = st.last_lap_time, lap_time
                if st.lap_clean:
                    st.stint_best = lap_time if not st.stint_best <= lap_time else st.stint_best
                    st.stint_laps.append(lap_time)
                    race.lap_done(t, lap_time)
            else:
                st.prev_lap_time = st.last_lap_time = NAN
            st.prev_status = tuple(st.lap_flags) if st.lap == st.lap else _NO_STATUS  # type: ignore[assignment]
            st.lap = lap
            st.lap_start = t
            st.lap_clean = not get("pit_out_lap")
            st.lap_flags = [1.0, 0.0, 0.0, 0.0, 0.0]
            race.crossing(driver, int(lap), t)
        if lap == lap:
            lf = st.lap_flags
            if flags[0] != 1.0 or flags[1] + flags[2] + flags[3] + flags[4] > 0.0:
                st.lap_clean = False
                lf[0] = 0.0
            if in_pit:
                st.lap_clean = False
            lf[1] = max(lf[1], flags[1])
            lf[2] = max(lf[2], flags[2])
            lf[3] = max(lf[3], flags[3])
            lf[4] = max(lf[4], flags[4])
        stint = _num(get("stint"))
        if stint == stint and stint != st.stint:
            st.stint = stint
            st.stint_best = NAN
            st.stint_laps = []
        compound = get("compound")
        code = COMPOUND_CODES.get(compound, -1) if isinstance(compound, str) else -1
        if code >= 0 and lap == lap:
            if compound in DRY_COMPOUNDS:
                st.compounds.add(compound)
            else:
                st.wet_used = True
        tyre_life = _num(get("tyre_life"))
        typical = self.stint_laps.get(str(compound), NAN) if code >= 0 else NAN
        total = _num(get("total_laps"))

        out["lap_number"] = lap
        out["laps_remaining"] = total - lap
        out["time_in_lap"] = t - st.lap_start if lap == lap else NAN
        out["tyre_life"] = tyre_life
        out["tyre_age_ratio"] = tyre_life / typical if typical > 0 else NAN
        out["stint"] = stint
        out["compound_code"] = float(code) if code >= 0 else NAN
        out["compound_soft"] = 1.0 if code == 0 else 0.0
        out["compound_medium"] = 1.0 if code == 1 else 0.0
        out["compound_hard"] = 1.0 if code == 2 else 0.0
        out["compound_wet"] = 1.0 if code >= 3 else 0.0
        out["dry_compounds_used"] = float(len(st.compounds))
        out["wet_tyres_used"] = 1.0 if st.wet_used else 0.0
        out["pit_out_lap"] = 1.0 if get("pit_out_lap") else 0.0
        out["last_lap_time"] = st.last_lap_time
        out["lap_time_trend"] = st.last_lap_time - st.prev_lap_time
        out["last_lap_vs_stint_best"] = st.last_lap_time - st.stint_best
        sl = st.stint_laps
        out["stint_deg"] = (sum(sl[-3:]) / len(sl[-3:]) - st.stint_best) if len(sl) >= 3 else NAN
        out["pace_ratio"] = st.last_lap_time / race.race_best if race.race_best > 0 else NAN

        # Cross-driver: gaps at the last line crossing (recomputed only when a crossing was added).
        out["position"] = _num(get("position"))
        if st.lap == st.lap:
            lap_i = int(st.lap)
            entry = race.laps.get(lap_i)
            prev_entry = race.laps.get(lap_i - 1)
            key = (len(entry[0]) if entry else 0, len(prev_entry[0]) if prev_entry else 0)
            if key != st.gap_key:
                st.gap_key = key
                st.gap_ahead, st.gap_behind = race.gaps(driver, lap_i, st.lap_start)
            out["gap_ahead"], out["gap_behind"] = st.gap_ahead, st.gap_behind
        else:
            out["gap_ahead"] = out["gap_behind"] = NAN
        out["others_pitted_120"] = float(race.pits_since(driver, t, PIT_WINDOWS_S[0]))
        out["others_pitted_300"] = float(race.pits_since(driver, t, PIT_WINDOWS_S[1]))
        out["field_pace_ratio"] = race.field_pace(t)

        out["status_green"], out["status_yellow"], out["status_sc"], out["status_vsc"], out["status_red"] = flags
        out["status_age"] = t - st.status_since if status is not None else NAN
        g, y, sc, vsc, red = st.prev_status
        out["prev_lap_green"] = g
        out["prev_lap_yellow"] = y
        out["prev_lap_sc"] = sc
        out["prev_lap_vsc"] = vsc
        out["prev_lap_red"] = red

        # Weather: the last reading; how long it has rained (or been dry since rain), track temp trend.
        rain = get("rainfall")
        if rain is not None and rain != st.rain:
            # dry_age counts from the end of rain the stream has shown, not from a dry start
            st.rain_since = NAN if (st.rain is None and not rain) else t
            st.rain = rain
        out["rainfall"] = NAN if st.rain is None else (1.0 if st.rain else 0.0)
        out["rain_age"] = t - st.rain_since if st.rain else NAN
        out["dry_age"] = t - st.rain_since if st.rain is False else NAN
        track_temp = _num(get("track_temp"))
        temps = st.temps
        if track_temp == track_temp and (not temps or temps[-1][1] != track_temp):
            temps.append((t, track_temp))
            while len(temps) > 1 and temps[1][0] <= t - TEMP_LOOKBACK_S:
                temps.popleft()
        out["track_temp"] = track_temp
        out["air_temp"] = _num(get("air_temp"))
        out["track_temp_change"] = track_temp - temps[0][1] if temps and temps[0][0] <= t - TEMP_LOOKBACK_S else NAN
        return out

    def vector(self, features: Mapping[str, float], names: Iterable[str] = FEATURE_NAMES) -> list[float]:
        """The feature dict as a list in model-input order."""
        return [features[n] for n in names]


def typical_stint_laps(
    laps_tables: Iterable[pd.DataFrame],
    track_status: Iterable[pd.DataFrame | None] | None = None,
) -> dict[str, float]:
    """Median tyre life (laps) at a strategic pit stop, per compound, over the given races' laps.

    What a strategist expects a set of each compound to last, learnt from the *training*
    races only (it becomes the ``stint_laps`` of :class:`OnlineFeatures`). Red-flag pit
    entries are not stint ends.

    >>> laps = pd.DataFrame({"Driver": ["A", "A", "B"], "LapNumber": [20, 40, 30], "Time": [1.0, 2.0, 3.0],
    ...     "PitInTime": [0.5, 1.5, 2.5], "PitOutTime": [np.nan] * 3, "Compound": ["SOFT", "HARD", "SOFT"],
    ...     "TyreLife": [20.0, 20.0, 24.0]})
    >>> typical_stint_laps([laps])
    {'HARD': 20.0, 'SOFT': 22.0}
    """
    from f1live.labels import pit_entries

    statuses = list(track_status) if track_status is not None else []
    lives: dict[str, list[float]] = {}
    for k, laps in enumerate(laps_tables):
        ts = statuses[k] if k < len(statuses) else None
        stops = pit_entries(laps, ts)
        stops = stops[stops["kind"] == "stop"]
        key = laps.set_index(["Driver", "LapNumber"])
        for s in stops.itertuples():
            row = key.loc[(s.driver, float(s.lap))]
            if isinstance(row, pd.DataFrame):
                row = row.iloc[0]
            comp, life = row.get("Compound"), _num(row.get("TyreLife"))
            if isinstance(comp, str) and life == life:
                lives.setdefault(comp, []).append(life)
    return {c: float(np.median(v)) for c, v in sorted(lives.items())}


def table_messages(telemetry: pd.DataFrame, extra: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows of a telemetry table as message-like dicts, as the consumer would decode them.

    Only the fields the analytics read are kept (``driver``, :data:`INPUT_FIELDS` and
    ``extra``); missing values become ``None`` as in a decoded JSON message.

    >>> df = pd.DataFrame({"driver": ["VER"], "speed": [pd.NA], "lap_number": pd.array([3], "Int16")})
    >>> table_messages(df)
    [{'driver': 'VER', 'speed': None, 'lap_number': 3.0}]
    """
    wanted = ["driver", *INPUT_FIELDS, *extra]
    cols = [c for c in dict.fromkeys(wanted) if c in telemetry.columns]
    data: list[list[Any]] = []
    for c in cols:
        s = telemetry[c]
        if pd.api.types.is_bool_dtype(s) and not isinstance(s.dtype, pd.BooleanDtype):
            data.append(s.to_numpy().tolist())
        elif isinstance(s.dtype, pd.BooleanDtype):
            data.append([None if v is pd.NA else bool(v) for v in s.astype(object).tolist()])
        elif pd.api.types.is_numeric_dtype(s):
            arr = s.astype("float64").to_numpy(na_value=np.nan)
            data.append([None if v != v else v for v in arr.tolist()])
        else:
            data.append(
                [
                    None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else v
                    for v in s.astype(object).tolist()
                ]
            )
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*data, strict=True)]


def check_telemetry(telemetry: pd.DataFrame, origin: str = "<telemetry>") -> None:
    """Raise ``ValueError`` naming the missing columns the feature extractor needs."""
    need = ["driver", "session_time", "speed", "rpm", "gear", "throttle", "brake", "drs"]
    miss = [c for c in need if c not in telemetry.columns]
    if miss:
        raise ValueError(
            f"missing columns {miss} in {origin}; expected the f1live telemetry schema "
            "(see f1live.schema.TELEMETRY_COLUMNS)"
        )


def build_feature_table(
    telemetry: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    long_window: int = 200,
    progress: bool = False,
    extractor: OnlineFeatures | None = None,
) -> pd.DataFrame:
    """Features of every row of ``telemetry``, computed with :meth:`OnlineFeatures.update`.

    Rows are fed in chronological order over all drivers (stable sort by
    ``session_time``), exactly as a replay would deliver them; the result is indexed like
    ``telemetry``.

    >>> df = pd.DataFrame({"driver": ["A", "B", "A"], "session_time": [0.0, 0.1, 0.25],
    ...     "speed": [10.0, 50.0, 19.0], "rpm": [5e3, 6e3, 5.5e3], "gear": [1, 2, 1],
    ...     "throttle": [50.0, 60.0, 70.0], "brake": [False, False, True], "drs": [0, 0, 0]})
    >>> build_feature_table(df)["d_speed"].tolist()
    [0.0, 0.0, 9.0]
    """
    check_telemetry(telemetry)
    order = telemetry.sort_values("session_time", kind="stable").index
    ordered = telemetry.loc[order]
    fx = extractor or OnlineFeatures(window=window, long_window=long_window)
    recs = table_messages(ordered)
    it: Iterable[dict[str, Any]] = recs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(recs, desc="features", unit="row", mininterval=1.0)
    update = fx.update
    names = FEATURE_NAMES
    values = np.empty((len(recs), len(names)), dtype=np.float64)
    for i, r in enumerate(it):
        f = update(r)
        values[i] = [f[k] for k in names]
    table = pd.DataFrame(values, columns=list(names), index=order)
    return table.loc[telemetry.index]
