"""Per-driver online features: one code path for live inference and for training.

:class:`OnlineFeatures` keeps a small state per driver (River rolling statistics,
the previous sample, lap/stint context) and turns every telemetry message into a
flat ``dict[str, float]`` of the features listed in :data:`FEATURE_NAMES`.
:func:`build_feature_table` runs **the same** :meth:`OnlineFeatures.update` over the
rows of a telemetry table in chronological order, so the features a model was
trained on are exactly the features it sees in the stream (``tests/test_features.py``
proves it).

Only information available at the time of the sample is used. Lap-level fields of
the telemetry table that describe the *end* of the current lap (``position``,
``track_status``, ``pit_in_lap``) would leak the future into the features, so the
extractor uses the values of the last *completed* lap instead and never reads
``pit_in_lap``.

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

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from river import stats, utils

logger = logging.getLogger(__name__)

NAN = float("nan")

#: Rolling window in samples (~5 s at the 3.8 Hz car-data rate).
DEFAULT_WINDOW = 20

#: Ordinal code of each tyre compound (dry compounds by hardness, then wet-weather tyres).
COMPOUND_CODES: dict[str, int] = {"SOFT": 0, "MEDIUM": 1, "HARD": 2, "INTERMEDIATE": 3, "WET": 4}

_ROLLED = ("speed", "rpm", "throttle", "brake")

#: Every feature :meth:`OnlineFeatures.update` returns, in model-input order.
FEATURE_NAMES: tuple[str, ...] = (
    # current sample
    "speed", "rpm", "gear", "throttle", "brake", "drs_open",
    # dynamics
    "dt", "d_speed", "d_rpm", "d_throttle", "accel",
    # rolling statistics (River utils.Rolling over the last `window` samples)
    "speed_mean", "speed_std", "rpm_mean", "rpm_std",
    "throttle_mean", "throttle_std", "brake_mean", "brake_std",
    "speed_mean_long",
    # lap / stint context
    "lap_number", "time_in_lap", "tyre_life", "stint", "compound_code",
    "compound_soft", "compound_medium", "compound_hard", "compound_wet",
    "pit_out_lap", "last_lap_time", "lap_time_trend", "last_lap_vs_stint_best",
    "prev_position", "prev_lap_green", "prev_lap_yellow", "prev_lap_sc", "prev_lap_vsc", "prev_lap_red",
)

#: Per-message inputs the extractor reads (besides ``driver``); nothing else is used.
INPUT_FIELDS: tuple[str, ...] = (
    "session_time", "speed", "rpm", "gear", "throttle", "brake", "drs",
    "lap_number", "tyre_life", "stint", "compound", "track_status", "position", "pit_out_lap",
)


def _num(value: Any) -> float:
    """A float, with None/NaN/NA (missing in a message or a table) as NaN."""
    if value is None or value is pd.NA:
        return NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def _status_flags(code: Any) -> tuple[float, float, float, float, float]:
    """(green, yellow, SC, VSC, red) flags of a FastF1 track-status string such as ``"12"``.

    >>> _status_flags("124")
    (1.0, 1.0, 1.0, 0.0, 0.0)
    >>> _status_flags(None)
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


class _DriverState:
    """Everything remembered about one driver between two of its samples."""

    __slots__ = (
        "rolls", "speed_long", "prev", "lap", "lap_start",
        "lap_track_status", "lap_position", "stint", "stint_best", "last_lap_time",
        "prev_lap_time", "prev_position", "prev_status", "row",
    )

    def __init__(self, window: int, long_window: int) -> None:
        self.rolls = {k: utils.Rolling(stats.Var, window_size=window) for k in _ROLLED}
        # An exponentially weighted mean costs O(1) with no window to keep (alpha ~ 2/(n+1)).
        self.speed_long = stats.EWMean(fading_factor=2.0 / (long_window + 1))
        self.prev: tuple[float, float, float, float] | None = None  # t, speed, rpm, throttle
        self.lap = NAN
        self.lap_start = NAN
        self.lap_track_status: Any = None
        self.lap_position = NAN
        self.stint = NAN
        self.stint_best = NAN
        self.last_lap_time = NAN
        self.prev_lap_time = NAN
        self.prev_position = NAN
        self.prev_status: tuple[float, float, float, float, float] = (NAN,) * 5


class OnlineFeatures:
    """Online feature extractor keyed by driver (River rolling statistics).

    Verbs: :meth:`update` (learn the message and return its features) and
    :meth:`reset`. Messages of one driver must arrive in time order (the consumer
    guarantees it: the topic is keyed by driver); drivers may interleave freely.

    Args:
        window: samples in the short rolling window (mean/std/min/max).
        long_window: span (samples) of the exponentially weighted long mean of speed (~50 s).
    """

    def __init__(self, window: int = DEFAULT_WINDOW, long_window: int = 200) -> None:
        if window < 2 or long_window < 2:
            raise ValueError(f"window={window} and long_window={long_window} must both be >= 2 samples")
        self.window = window
        self.long_window = long_window
        self._drivers: dict[str, _DriverState] = {}

    @property
    def drivers(self) -> list[str]:
        """Drivers seen so far."""
        return list(self._drivers)

    def reset(self) -> None:
        """Forget every driver's state."""
        self._drivers.clear()

    def update(self, msg: Mapping[str, Any]) -> dict[str, float]:
        """Learn one telemetry message and return its features (see :data:`FEATURE_NAMES`)."""
        driver = msg.get("driver")
        if driver is None:
            raise ValueError("telemetry message has no 'driver' field; expected the f1live telemetry schema")
        st = self._drivers.get(driver)
        if st is None:
            st = self._drivers[driver] = _DriverState(self.window, self.long_window)
        t = _num(msg.get("session_time"))
        speed = _num(msg.get("speed"))
        rpm = _num(msg.get("rpm"))
        throttle = _num(msg.get("throttle"))
        brake = 1.0 if msg.get("brake") else 0.0
        gear = _num(msg.get("gear"))
        drs = _num(msg.get("drs"))

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
            "speed": speed, "rpm": rpm, "gear": gear, "throttle": throttle, "brake": brake,
            "drs_open": 1.0 if drs >= 10 else 0.0,
            "dt": dt, "d_speed": d_speed, "d_rpm": d_rpm, "d_throttle": d_throttle, "accel": accel,
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

        # Lap / stint context: a lap change closes the previous lap (its time, end position, status).
        lap = _num(msg.get("lap_number"))
        if lap == lap and lap != st.lap:
            if st.lap == st.lap and lap == st.lap + 1 and st.lap_start == st.lap_start:
                lap_time = t - st.lap_start
                st.prev_lap_time, st.last_lap_time = st.last_lap_time, lap_time
                flags = _status_flags(st.lap_track_status)
                if flags[0] == 1.0 and flags[1] + flags[2] + flags[3] + flags[4] == 0.0:
                    st.stint_best = lap_time if not st.stint_best <= lap_time else st.stint_best
            else:
                st.prev_lap_time = st.last_lap_time = NAN
            st.prev_position = st.lap_position
            st.prev_status = _status_flags(st.lap_track_status) if st.lap == st.lap else (NAN,) * 5
            st.lap = lap
            st.lap_start = t
        if lap == lap:
            st.lap_track_status = msg.get("track_status")
            st.lap_position = _num(msg.get("position"))
        stint = _num(msg.get("stint"))
        if stint == stint and stint != st.stint:
            st.stint = stint
            st.stint_best = NAN
        compound = msg.get("compound")
        code = COMPOUND_CODES.get(compound, -1) if isinstance(compound, str) else -1
        out["lap_number"] = lap
        out["time_in_lap"] = t - st.lap_start if lap == lap else NAN
        out["tyre_life"] = _num(msg.get("tyre_life"))
        out["stint"] = stint
        out["compound_code"] = float(code) if code >= 0 else NAN
        out["compound_soft"] = 1.0 if code == 0 else 0.0
        out["compound_medium"] = 1.0 if code == 1 else 0.0
        out["compound_hard"] = 1.0 if code == 2 else 0.0
        out["compound_wet"] = 1.0 if code >= 3 else 0.0
        out["pit_out_lap"] = 1.0 if msg.get("pit_out_lap") else 0.0
        out["last_lap_time"] = st.last_lap_time
        out["lap_time_trend"] = st.last_lap_time - st.prev_lap_time
        out["last_lap_vs_stint_best"] = st.last_lap_time - st.stint_best
        out["prev_position"] = st.prev_position
        g, y, sc, vsc, red = st.prev_status
        out["prev_lap_green"] = g
        out["prev_lap_yellow"] = y
        out["prev_lap_sc"] = sc
        out["prev_lap_vsc"] = vsc
        out["prev_lap_red"] = red
        return out

    def vector(self, features: Mapping[str, float], names: Iterable[str] = FEATURE_NAMES) -> list[float]:
        """The feature dict as a list in model-input order."""
        return [features[n] for n in names]


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
        elif pd.api.types.is_numeric_dtype(s):
            arr = s.astype("float64").to_numpy(na_value=np.nan)
            data.append([None if v != v else v for v in arr.tolist()])
        else:
            data.append([None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else v
                         for v in s.astype(object).tolist()])
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*data, strict=True)]


def check_telemetry(telemetry: pd.DataFrame, origin: str = "<telemetry>") -> None:
    """Raise ``ValueError`` naming the missing columns the feature extractor needs."""
    need = ["driver", "session_time", "speed", "rpm", "gear", "throttle", "brake", "drs"]
    miss = [c for c in need if c not in telemetry.columns]
    if miss:
        raise ValueError(f"missing columns {miss} in {origin}; expected the f1live telemetry schema "
                         "(see f1live.schema.TELEMETRY_COLUMNS)")


def build_feature_table(
    telemetry: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    long_window: int = 200,
    progress: bool = False,
    extractor: OnlineFeatures | None = None,
) -> pd.DataFrame:
    """Features of every row of ``telemetry``, computed with :meth:`OnlineFeatures.update`.

    Rows are fed in chronological order (stable sort by ``session_time``), exactly as a
    replay would deliver them; the result is indexed like ``telemetry``.

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
    rows = [update(r) for r in it]
    table = pd.DataFrame.from_records(rows, columns=list(FEATURE_NAMES), index=order)
    return table.loc[telemetry.index].astype("float64")
