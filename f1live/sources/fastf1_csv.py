"""Raw FastF1 dumps as people commonly save them -> :class:`~f1live.sources.SessionData`.

The layout (see ``shared/data/fastf1_csv_exports/monaco_<year>_race/``)::

    car_data_<year>_driver_<N>.csv[.gz]   fastf1.api.car_data(...)[N].to_csv(index=False)
    monaco_laps_<year>.csv                session.laps.to_csv(index=False)
    driver_info_<year>.csv                fastf1.api.driver_info(...)
    track_status_<year>.csv               fastf1.api.track_status_data(...)
    lap_count_<year>.csv                  fastf1.api.lap_count(...)              (optional)
    weather_<year>.csv                    fastf1.api.weather_data(...)           (optional)
    race_control*.csv                     session.race_control_messages.to_csv() (optional)

Race-control messages and weather missing from the folder are taken from a FastF1 cache of
the same session when there is one (:func:`f1live.sources.fastf1.timing_from_cache`).

Car data is aligned to the laps exactly as FastF1 does it: ``t0_date = max(Date - Time)``
over all drivers, rounded to ms; ``Date`` rounded to ms; ``SessionTime = Date - t0_date``.

>>> find_csv_dump(Settings(shared_data=Path("/nonexistent"))) is None
True
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from f1live.config import Settings
from f1live.schema import TRACK_STATUS_COLUMNS, side_table
from f1live.sources import (
    LAP_COLUMNS,
    LAP_TIME_COLUMNS,
    SessionData,
    SourceUnavailableError,
    empty_track_status,
    racing_start,
)
from f1live.sources.telemetry import build_telemetry, parse_timedelta_seconds

_log = logging.getLogger(__name__)

SOURCE = "fastf1-csv"
_SESSION_WORDS = {
    "R": "race",
    "Q": "qualifying",
    "S": "sprint",
    "SQ": "sprint_qualifying",
    "FP1": "practice_1",
    "FP2": "practice_2",
    "FP3": "practice_3",
}
_CAR_FILE = re.compile(r"car_data_(?:\d{4}_)?driver_(\d+)\.csv(?:\.gz)?$")
_CAR_RAW = ("Time", "Date", "RPM", "Speed", "nGear", "Throttle", "Brake", "DRS")


def session_word(session: str) -> str:
    """``'R'`` -> ``'race'`` (the folder naming of the dumps).

    >>> session_word("R"), session_word("Race")
    ('race', 'race')
    """
    return _SESSION_WORDS.get(session.upper(), session.lower().replace(" ", "_"))


def find_csv_dump(settings: Settings) -> Path | None:
    """The dump folder for the settings' session under ``shared_data/fastf1_csv_exports``."""
    base = Path(settings.shared_data) / "fastf1_csv_exports"
    name = f"{settings.event.lower().replace(' ', '_')}_{settings.year}_{session_word(settings.session)}"
    cand = base / name
    return cand if cand.is_dir() and any(cand.glob("car_data_*")) else None


def _one(folder: Path, pattern: str, what: str, required: bool = True) -> Path | None:
    found = sorted(folder.glob(pattern))
    if not found:
        if required:
            raise FileNotFoundError(f"no {what} ({pattern}) in {folder}")
        return None
    return found[0]


def read_car_file(path: Path) -> pd.DataFrame:
    """One driver's raw FastF1 car data CSV: Date (UTC), Time (s) and the channels."""
    try:
        df = pd.read_csv(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises its own types; name the file
        raise ValueError(f"cannot read FastF1 car data {path}: {exc}") from None
    miss = [c for c in _CAR_RAW if c not in df.columns]
    if miss:
        raise ValueError(f"missing columns {miss} in {path}; expected FastF1 car data {list(_CAR_RAW)}")
    if df.empty:
        raise ValueError(f"{path} has no rows")
    date = (
        pd.to_datetime(df["Date"], utc=True, format="ISO8601")
        if df["Date"].dtype == object
        else pd.to_datetime(df["Date"], utc=True)
    )
    if date.isna().any():
        raise ValueError(f"{int(date.isna().sum())} unparseable Date values in {path}")
    return pd.DataFrame(
        {
            "date": date,
            "stream_time": parse_timedelta_seconds(df["Time"]),
            "speed": df["Speed"].to_numpy(dtype="float32"),
            "rpm": df["RPM"].to_numpy(dtype="float32"),
            "gear": df["nGear"].to_numpy(dtype="int16"),
            "throttle": df["Throttle"].to_numpy(dtype="float32"),
            "brake": df["Brake"].astype(bool).to_numpy(),
            "drs": df["DRS"].to_numpy(dtype="int16"),
        }
    )


def read_laps(path: Path) -> pd.DataFrame:
    """``session.laps`` CSV -> laps with timedeltas as float seconds (see ``LAP_COLUMNS``)."""
    df = pd.read_csv(path, dtype={"TrackStatus": "string", "Compound": "string", "Driver": "string", "Team": "string"})
    miss = [c for c in ("Driver", "DriverNumber", "LapNumber", "LapStartTime", "Time") if c not in df.columns]
    if miss:
        raise ValueError(f"missing columns {miss} in {path}; expected FastF1 session.laps columns")
    out = pd.DataFrame(index=df.index)
    for c in LAP_COLUMNS:
        if c not in df.columns:
            out[c] = np.nan
        elif c in LAP_TIME_COLUMNS:
            out[c] = parse_timedelta_seconds(df[c])
        else:
            out[c] = df[c]
    out["DriverNumber"] = pd.to_numeric(out["DriverNumber"]).astype("int64")
    return out


def read_track_status(path: Path | None) -> pd.DataFrame:
    """``api.track_status_data`` CSV -> ``session_time``, ``status``, ``message``."""
    if path is None:
        return empty_track_status()
    df = pd.read_csv(path, dtype={"Status": "string", "Message": "string"})
    return side_table(
        pd.DataFrame(
            {"session_time": parse_timedelta_seconds(df["Time"]), "status": df["Status"], "message": df.get("Message")}
        ),
        TRACK_STATUS_COLUMNS,
        origin=str(path),
    )


def read_weather(path: Path | None) -> pd.DataFrame | None:
    """``api.weather_data`` CSV -> :data:`f1live.schema.WEATHER_COLUMNS` (``None`` without a file)."""
    if path is None:
        return None
    from f1live.sources.fastf1 import weather_frame

    return weather_frame(pd.read_csv(path, dtype={"Rainfall": "string"}).astype({"Rainfall": object}))


def read_race_control(path: Path | None, t0: pd.Timestamp) -> pd.DataFrame | None:
    """``session.race_control_messages`` CSV -> :data:`f1live.schema.RACE_CONTROL_COLUMNS`."""
    if path is None:
        return None
    from f1live.sources.fastf1 import race_control_frame

    df = pd.read_csv(path)
    if "Time" not in df.columns:
        raise ValueError(f"missing column 'Time' in {path}; expected FastF1 race_control_messages columns")
    return race_control_frame(df, t0)


def read_driver_info(path: Path | None, laps: pd.DataFrame) -> dict[int, tuple[str, str | None]]:
    """Driver number -> (code, team) from ``driver_info`` (falling back to the laps)."""
    info: dict[int, tuple[str, str | None]] = {}
    for num, g in laps.groupby("DriverNumber"):
        info[int(num)] = (str(g["Driver"].iloc[0]), None if pd.isna(g["Team"].iloc[0]) else str(g["Team"].iloc[0]))
    if path is not None:
        di = pd.read_csv(path)
        for _, r in di.iterrows():
            team = r.get("TeamName")
            info[int(r["RacingNumber"])] = (str(r["Tla"]), None if pd.isna(team) else str(team))
    return info


def load_fastf1_csv(
    settings: Settings, *, path: Path | None = None, progress: bool = True, drivers: list[str] | None = None
) -> SessionData:
    """Load a raw FastF1 CSV dump folder into the telemetry table.

    Args:
        settings: ``year``/``event``/``session`` label the data; the folder is ``path``,
            else ``settings.source_path``, else :func:`find_csv_dump`.
        progress: show a tqdm bar over drivers.
        drivers: only these driver codes (all by default) -- quicker for tests/notebooks.
    """
    given = path or settings.source_path
    found = Path(given) if given is not None else find_csv_dump(settings)
    if found is None or not found.is_dir():
        where = (
            found
            if found is not None
            else (
                Path(settings.shared_data)
                / "fastf1_csv_exports"
                / f"{settings.event.lower()}_{settings.year}_{session_word(settings.session)}"
            )
        )
        raise SourceUnavailableError(
            f"no FastF1 CSV dump for {settings.year} {settings.event} {settings.session}: "
            f"{where} is not a folder with car_data_*driver_<N>.csv files"
        )
    folder = found
    car_files = {int(m.group(1)): p for p in folder.iterdir() if (m := _CAR_FILE.search(p.name))}
    if not car_files:
        raise SourceUnavailableError(f"no car_data_*driver_<N>.csv[.gz] files in {folder}")
    laps = read_laps(_one(folder, "*laps*.csv*", "laps CSV"))  # type: ignore[arg-type]
    track_status = read_track_status(_one(folder, "track_status*.csv", "track status", required=False))
    info = read_driver_info(_one(folder, "driver_info*.csv", "driver info", required=False), laps)
    missing = sorted(set(car_files) - set(info))
    for num in missing:  # a car without a name anywhere: keep it, labelled by number
        info[num] = (f"#{num}", None)
    numbers = sorted(car_files)
    if drivers is not None:
        want = {d.upper() for d in drivers}
        numbers = [n for n in numbers if info[n][0] in want]
        if not numbers:
            raise ValueError(f"none of drivers {sorted(want)} in {folder}")

    frames = []
    t0 = None
    for num in tqdm(
        numbers, desc=f"{settings.year} {settings.event} car data", unit="driver", disable=not progress, leave=False
    ):
        f = read_car_file(car_files[num])
        # FastF1 Session._calculate_t0_date: the latest Date - Time is the least delayed
        off = (f["date"] - pd.to_timedelta(f["stream_time"], unit="s")).max()
        t0 = off if t0 is None or off > t0 else t0
        f["driver_number"] = np.int16(num)
        frames.append(f.drop(columns="stream_time"))
    if drivers is not None and len(numbers) < len(car_files):
        # t0 is a session property: take it over *all* drivers, as FastF1 does
        for num in sorted(set(car_files) - set(numbers)):
            f = pd.read_csv(car_files[num], engine="pyarrow", usecols=["Time", "Date"])
            d = pd.to_datetime(f["Date"], utc=True)
            off = (d - pd.to_timedelta(parse_timedelta_seconds(f["Time"]), unit="s")).max()
            t0 = max(t0, off)
    assert t0 is not None
    t0 = t0.round("ms")
    car = pd.concat(frames, ignore_index=True)
    car["date"] = car["date"].dt.round("ms")
    car["session_time"] = (car["date"] - t0).dt.total_seconds()
    from f1live.track import circuit_key_for_event

    weather = read_weather(_one(folder, "weather*.csv", "weather", required=False))
    race_control = read_race_control(_one(folder, "race_control*.csv", "race control", required=False), t0)
    if race_control is None or weather is None:
        from f1live.sources.fastf1 import timing_from_cache

        extra = timing_from_cache(settings, t0)
        race_control = race_control if race_control is not None else extra.get("race_control")
        weather = weather if weather is not None else extra.get("weather")
    circuit = circuit_key_for_event(settings.event)
    lap_count = _one(folder, "lap_count*.csv", "lap count", required=False)
    total_laps = int(pd.read_csv(lap_count)["TotalLaps"].max()) if lap_count is not None else None
    tel = build_telemetry(
        car,
        laps,
        drivers={n: info[n] for n in numbers},
        source=SOURCE,
        track_status=track_status,
        weather=weather,
        total_laps=total_laps,
        circuit_key=circuit,
    )
    meta = {
        "source": SOURCE,
        "source_path": str(folder),
        "year": int(settings.year),
        "event": settings.event,
        "session": settings.session,
        "simulated": False,
        "fastf1_version": _fastf1_version(),
        "circuit_key": circuit,
        "drivers": sorted(info[n][0] for n in numbers),
        "driver_numbers": {info[n][0]: int(n) for n in numbers},
        "t0_date": t0.isoformat(),
        "total_laps": total_laps,
        "race_start_session_time": racing_start(laps, settings.session),
        "has_position_data": False,
        "position_estimated": circuit is not None,
    }
    _log.info("loaded %s rows for %d drivers from %s", len(tel), len(numbers), folder)
    return SessionData(
        telemetry=tel,
        laps=laps,
        track_status=track_status,
        race_control=race_control,
        position=None,
        meta=meta,
        weather=weather,
    )


def _fastf1_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("fastf1")
    except Exception:  # not installed: the dump still loads
        return None
