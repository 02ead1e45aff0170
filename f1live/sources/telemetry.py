"""Build the f1live telemetry table from car data + laps (shared by the FastF1 sources).

The join is FastF1's own clock: car samples carry ``session_time`` = ``Date - t0_date``
and laps carry ``LapStartTime``/``Time`` on the same clock, so a sample belongs to the
lap whose ``LapStartTime <= session_time <= Time`` (the slice FastF1's
``Lap.get_car_data()`` takes; at a shared boundary the sample goes to the later lap).
Everything is a vectorised ``merge_asof`` over all drivers at once.

>>> import numpy as np, pandas as pd
>>> car = pd.DataFrame({"driver_number": [1, 1, 1], "session_time": [0.5, 1.5, 9.0],
...     "date": pd.to_datetime([0, 1, 2], unit="s", utc=True), "speed": [1.0, 2.0, 3.0],
...     "rpm": 0.0, "gear": 1, "throttle": 0.0, "brake": False, "drs": 0})
>>> laps = pd.DataFrame({"Driver": ["VER"], "DriverNumber": [1], "LapNumber": [1.0],
...     "LapStartTime": [1.0], "Time": [5.0], "PitInTime": [np.nan], "PitOutTime": [np.nan],
...     "Stint": [1.0], "Compound": ["SOFT"], "TyreLife": [1.0], "TrackStatus": ["1"],
...     "Position": [3.0], "Team": ["Red Bull Racing"]})
>>> t = build_telemetry(car, laps, drivers={1: ("VER", "Red Bull Racing")}, source="fastf1-csv")
>>> t["lap_number"].tolist(), t["compound"].tolist()
([<NA>, 1, <NA>], [<NA>, 'SOFT', <NA>])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from f1live.schema import TELEMETRY_COLUMNS, coerce_frame

_log = logging.getLogger(__name__)

#: Car-data columns a source hands to :func:`build_telemetry`.
CAR_COLUMNS = ("driver_number", "date", "session_time", "speed", "rpm", "gear", "throttle", "brake", "drs")


def parse_timedelta_seconds(values: pd.Series) -> np.ndarray:
    """Timedelta strings as written by pandas (``'0 days 00:00:01.957000'``) -> float seconds.

    ~40x faster than ``pd.to_timedelta`` for the common fixed-width layout; anything
    else (other widths, NaN, already-numeric) goes through ``pd.to_timedelta``.

    >>> parse_timedelta_seconds(pd.Series(["0 days 00:00:01.957000", "0 days 01:02:03", None]))
    array([1.957e+00, 3.723e+03,       nan])
    """
    if pd.api.types.is_timedelta64_dtype(values):
        return values.dt.total_seconds().to_numpy(dtype="float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64")
    out = np.full(len(values), np.nan)
    if len(values) == 0:
        return out
    raw = values.fillna("").astype(str).to_numpy()
    lengths = np.char.str_len(raw.astype("U"))
    fixed = lengths == 22
    if fixed.any():
        b = raw[fixed].astype("S22")
        m = np.frombuffer(b.tobytes(), dtype=np.uint8).reshape(len(b), 22).astype(np.int64) - 48
        ok = (m[:, 1] == ord(" ") - 48) & (m[:, 9] == ord(":") - 48) & (m[:, 15] == ord(".") - 48)
        secs = (
            m[:, 0] * 86400
            + (m[:, 7] * 10 + m[:, 8]) * 3600
            + (m[:, 10] * 10 + m[:, 11]) * 60
            + m[:, 13] * 10
            + m[:, 14]
        )
        micros = m[:, 16:22] @ np.array([100000, 10000, 1000, 100, 10, 1])
        vals = secs + micros / 1e6
        idx = np.flatnonzero(fixed)
        out[idx[ok]] = vals[ok]
        fixed[idx[~ok]] = False
    rest = ~fixed & (lengths > 0)
    if rest.any():
        out[rest] = pd.to_timedelta(pd.Series(raw[rest]), errors="coerce").dt.total_seconds().to_numpy()
    return out


def _asof(left_t: np.ndarray, left_key: np.ndarray, right: pd.DataFrame, on: str, by: str) -> pd.DataFrame:
    """Backward as-of join of (time, key) points onto ``right``; returns right's rows aligned to left."""
    left = pd.DataFrame({"_t": left_t, "_k": left_key, "_i": np.arange(len(left_t))})
    left = left.sort_values("_t", kind="stable")
    r = right.dropna(subset=[on]).sort_values(on, kind="stable")
    merged = pd.merge_asof(
        left, r, left_on="_t", right_on=on, left_by="_k", right_by=by, direction="backward", allow_exact_matches=True
    )
    merged = merged.sort_values("_i", kind="stable")
    return merged.reset_index(drop=True)


def build_telemetry(
    car: pd.DataFrame,
    laps: pd.DataFrame,
    *,
    drivers: Mapping[int, tuple[str, str | None]],
    source: str,
    track_status: pd.DataFrame | None = None,
    weather: pd.DataFrame | None = None,
    total_laps: int | None = None,
    simulated: bool = False,
    circuit_key: str | None = None,
) -> pd.DataFrame:
    """Join car data of all drivers with lap context into the schema-coerced telemetry table.

    Args:
        car: :data:`CAR_COLUMNS` for every driver (any order).
        laps: FastF1 laps with timedeltas as float seconds (see ``f1live.sources.LAP_COLUMNS``).
        drivers: driver number -> (three-letter code, team) for every driver in ``car``.
        source: value of the ``source`` column.
        track_status: track-status messages (``session_time``, ``status``): each sample gets
            the status in force at its time.
        weather: weather readings (:data:`f1live.schema.WEATHER_COLUMNS`): each sample gets
            the last reading at or before its time.
        total_laps: the scheduled race distance (``None``: unknown).
        circuit_key: circuit outline for the estimated position (see :mod:`f1live.track`);
            ``None`` leaves ``lap_distance``/``x``/``y`` empty.
    """
    n = len(car)
    num = car["driver_number"].to_numpy(dtype=np.int64)
    t = car["session_time"].to_numpy(dtype=np.float64)
    if np.isnan(t).any():
        raise ValueError(f"{int(np.isnan(t).sum())} car samples without a session time")
    unknown = sorted(set(np.unique(num).tolist()) - set(drivers))
    if unknown:
        raise ValueError(f"car data for driver numbers {unknown} missing from the driver list")
    codes = {k: v[0] for k, v in drivers.items()}
    teams = {k: v[1] for k, v in drivers.items()}
    numbers = np.array(sorted(codes, key=lambda k: codes[k]))
    code_arr = np.array([codes[k] for k in numbers], dtype=object)
    team_arr = np.array([teams[k] for k in numbers], dtype=object)
    pos_of = np.searchsorted(numbers, num, sorter=np.argsort(numbers))
    # rank of each driver code so (session_time, driver) is a stable total order
    sorter = np.argsort(numbers)
    code_rank = sorter[pos_of]  # index into `numbers` (sorted by code)
    order = np.lexsort((code_rank, t))
    num, t, code_rank = num[order], t[order], code_rank[order]
    out: dict[str, object] = {}
    # .array.take keeps tz-aware dates vectorised (to_numpy() would box 800k Timestamps)
    out["date"] = pd.Series(pd.to_datetime(car["date"], utc=True).array.take(order))
    for c in ("speed", "rpm", "gear", "throttle", "brake", "drs"):
        out[c] = car[c].to_numpy()[order]
    for c in ("x", "y", "z"):  # measured position, when the source has it
        if c in car.columns:
            out[c] = car[c].to_numpy(dtype="float32")[order]
    out["session_time"] = t
    out["driver_number"] = num
    # categorical -> string[pyarrow] without materialising one Python str per row
    out["driver"] = _text(pd.Categorical.from_codes(code_rank, categories=list(code_arr)))
    team_names = sorted({v for v in team_arr if v is not None})
    team_code = np.array([-1 if v is None else team_names.index(v) for v in team_arr], dtype=np.int64)
    out["team"] = _text(pd.Categorical.from_codes(team_code[code_rank], categories=team_names))

    lap_cols = ["DriverNumber", "LapStartTime", "Time", "LapNumber", "Compound", "TyreLife", "Stint", "PitOutTime"]
    lp = laps[lap_cols].copy() if len(laps) else pd.DataFrame(columns=lap_cols)
    lp["DriverNumber"] = lp["DriverNumber"].astype(np.int64)
    lp = lp.dropna(subset=["LapStartTime", "LapNumber"])
    lp["_pit_out"] = lp["PitOutTime"].notna()
    lp = lp.rename(columns={"Time": "_lap_end"}).drop(columns=["PitOutTime"])
    j = _asof(t, num, lp, on="LapStartTime", by="DriverNumber")
    inside = (j["LapStartTime"].notna() & (t <= j["_lap_end"].to_numpy(dtype=float))).to_numpy()

    # samples past a lap's end with no next lap yet (after the flag, retirements) get no lap
    def lapcol(name: str, fill: object = None) -> pd.Series:
        s = j[name]
        return s.where(inside, fill)

    out["lap_number"] = lapcol("LapNumber").astype("Float64").round().astype("Int16")
    out["total_laps"] = pd.array([total_laps] * n, dtype="Int16")
    out["compound"] = lapcol("Compound").astype("string")
    out["tyre_life"] = lapcol("TyreLife").astype("float32")
    out["stint"] = lapcol("Stint").astype("Float64").round().astype("Int16")
    # What timing had published at the sample's time, never what the running lap will end with:
    # the live track status, and the position at the driver's last completed lap.
    out["track_status"] = _asof_table(t, track_status, "status").astype("string")
    done = (
        laps[["DriverNumber", "Time", "Position"]].dropna(subset=["Time"])
        if len(laps)
        else pd.DataFrame(columns=["DriverNumber", "Time", "Position"])
    )
    done = done.astype({"DriverNumber": np.int64})
    out["position"] = (
        _asof(t, num, done, on="Time", by="DriverNumber")["Position"].astype("Float64").round().astype("Int16")
    )
    out["pit_out_lap"] = lapcol("_pit_out", False).astype(bool).to_numpy()
    out["air_temp"] = _asof_table(t, weather, "air_temp").astype("float32")
    out["track_temp"] = _asof_table(t, weather, "track_temp").astype("float32")
    out["rainfall"] = _asof_table(t, weather, "rainfall").astype("boolean")
    out["in_pit"] = _in_pit(t, num, laps)
    out["source"] = _text(pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[source]))
    out["simulated"] = np.full(n, simulated, dtype=bool)
    df = pd.DataFrame(out)
    if circuit_key is not None:
        from f1live.track import add_estimated_position

        df = add_estimated_position(df, laps, circuit_key)
    return coerce_frame(
        df.reindex(columns=[c for c in TELEMETRY_COLUMNS if c in df.columns]), origin=f"{source} telemetry"
    )


def _asof_table(t: np.ndarray, table: pd.DataFrame | None, column: str) -> pd.Series:
    """``table[column]`` of the last row at or before each time ``t`` (null before the first
    row or without a table); ``table`` has a ``session_time`` column.

    >>> ts = pd.DataFrame({"session_time": [0.0, 10.0], "status": ["1", "2"]})
    >>> _asof_table(np.array([-1.0, 5.0, 10.0]), ts, "status").tolist()
    [nan, '1', '2']
    """
    if table is None or not len(table) or column not in table.columns:
        return pd.Series([None] * len(t), dtype=object)
    right = table[["session_time", column]].copy()
    right["_k"] = 0
    return _asof(t, np.zeros(len(t), dtype=np.int64), right, on="session_time", by="_k")[column]


def _text(cat: pd.Categorical) -> pd.Series:
    """Categorical -> ``string[pyarrow]`` via a dictionary array (no per-row Python objects)."""
    import pyarrow as pa

    codes = pa.array(np.asarray(cat.codes), mask=np.asarray(cat.codes) < 0)
    dict_arr = pa.DictionaryArray.from_arrays(codes, pa.array([str(c) for c in cat.categories], pa.string()))
    return pd.Series(pd.arrays.ArrowStringArray(dict_arr.cast(pa.string())))


def _in_pit(t: np.ndarray, num: np.ndarray, laps: pd.DataFrame) -> np.ndarray:
    """True from a pit entry (``PitInTime`` of lap k) to the pit exit (``PitOutTime`` of lap k+1).

    When lap k+1 has no ``PitOutTime`` (real data: cars held in the pit lane under a red
    flag, then released to the grid; a car retired in the garage) the stay ends with lap k.
    """
    if not len(laps) or laps["PitInTime"].notna().sum() == 0:
        return np.zeros(len(t), dtype=bool)
    lp = laps[["DriverNumber", "LapNumber", "Time", "PitInTime", "PitOutTime"]].copy()
    lp["DriverNumber"] = lp["DriverNumber"].astype(np.int64)
    nxt = lp[["DriverNumber", "LapNumber", "PitOutTime"]].copy()
    nxt["LapNumber"] = nxt["LapNumber"] - 1  # lap k+1's pit exit, keyed by k
    ins = lp.dropna(subset=["PitInTime"]).merge(
        nxt.rename(columns={"PitOutTime": "_next_out"}), on=["DriverNumber", "LapNumber"], how="left"
    )
    ins["_end"] = ins["_next_out"].where(ins["_next_out"] > ins["PitInTime"], ins["Time"])
    ins = ins.rename(columns={"PitInTime": "_in"})[["DriverNumber", "_in", "_end"]]
    j = _asof(t, num, ins, on="_in", by="DriverNumber")
    end = j["_end"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return ~np.isnan(j["_in"].to_numpy(dtype=float)) & (t < end)
