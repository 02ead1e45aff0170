"""Sources of telemetry: each one produces a :class:`SessionData` (one telemetry table).

``load_session(settings)`` dispatches on ``settings.source``:

* ``fastf1``     -- the FastF1 API with its cache (:mod:`f1live.sources.fastf1`)
* ``file``       -- an f1live CSV/Parquet export (:mod:`f1live.sources.exports`)
* ``fastf1-csv`` -- raw FastF1 dumps: per-driver ``car_data`` CSVs + ``session.laps`` CSV
  (:mod:`f1live.sources.fastf1_csv`)
* ``simulated``  -- a deterministic SIMULATED session (:mod:`f1live.sources.simulated`)
* ``auto``       -- an existing export in ``settings.data_dir``, then FastF1 (cache, then
  network unless offline), then raw FastF1 CSV dumps under ``settings.shared_data``, else
  the simulated session with a loud warning.

>>> sorted(SOURCES)
['auto', 'fastf1', 'fastf1-csv', 'file', 'simulated']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from f1live.config import Settings

_log = logging.getLogger(__name__)

#: Accepted values of ``Settings.source``.
SOURCES: tuple[str, ...] = ("auto", "fastf1", "file", "fastf1-csv", "simulated")

#: FastF1 ``session.laps`` columns kept in :attr:`SessionData.laps` (timedeltas as float seconds).
LAP_COLUMNS: tuple[str, ...] = (
    "Driver",
    "DriverNumber",
    "LapNumber",
    "LapTime",
    "LapStartTime",
    "Time",
    "PitInTime",
    "PitOutTime",
    "Stint",
    "Compound",
    "TyreLife",
    "TrackStatus",
    "Position",
    "Team",
    "Sector1Time",
    "Sector2Time",
    "Sector3Time",
    "SpeedI1",
    "SpeedI2",
    "SpeedFL",
    "SpeedST",
    "IsPersonalBest",
    "FreshTyre",
    "Deleted",
    "IsAccurate",
)
#: Lap columns that are timedeltas in FastF1 and float seconds here.
LAP_TIME_COLUMNS: tuple[str, ...] = (
    "LapTime",
    "LapStartTime",
    "Time",
    "PitInTime",
    "PitOutTime",
    "Sector1Time",
    "Sector2Time",
    "Sector3Time",
)


class SourceUnavailableError(RuntimeError):
    """A source cannot provide the requested session (offline, not cached, not found)."""


@dataclass
class SessionData:
    """One session's data, whatever the source.

    Attributes:
        telemetry: the telemetry table, exactly :data:`f1live.schema.TELEMETRY_COLUMNS`
            with the schema dtypes, sorted by ``session_time`` then ``driver``.
        laps: FastF1 ``session.laps`` columns (see :data:`LAP_COLUMNS`; timedeltas as
            float seconds on the ``session_time`` clock; ``DriverNumber`` int).
        track_status: :data:`f1live.schema.TRACK_STATUS_COLUMNS` (the track-status messages).
        race_control: :data:`f1live.schema.RACE_CONTROL_COLUMNS` when the source has the
            race-control messages, else ``None``.
        weather: :data:`f1live.schema.WEATHER_COLUMNS` when the source has weather readings,
            else ``None``.
        position: raw position samples (``driver``, ``session_time``, ``x``, ``y``, ``z``)
            when the source has position data, else ``None``.
        meta: source, year, event, session, simulated, fastf1_version, circuit_key,
            drivers, t0_date, total_laps, race_start_session_time, ...
    """

    telemetry: pd.DataFrame
    laps: pd.DataFrame
    track_status: pd.DataFrame
    race_control: pd.DataFrame | None = None
    position: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    weather: pd.DataFrame | None = None

    @property
    def simulated(self) -> bool:
        """True for SIMULATED data."""
        return bool(self.meta.get("simulated", False))


def empty_track_status() -> pd.DataFrame:
    """An empty track-status table with the expected columns."""
    from f1live.schema import TRACK_STATUS_COLUMNS, side_table

    return side_table(None, TRACK_STATUS_COLUMNS)


def racing_start(laps: pd.DataFrame, session: str) -> float | None:
    """Session time where the racing starts: lights out (the start of lap 1) in a race or
    sprint, the start of the first timed lap in qualifying and practice.

    >>> laps = pd.DataFrame({"LapNumber": [1.0, 2.0, 1.0], "LapStartTime": [100.0, 190.0, 100.0],
    ...                      "LapTime": [float("nan"), 88.0, 91.0]})
    >>> racing_start(laps, "R"), racing_start(laps, "Q")
    (100.0, 100.0)
    >>> racing_start(laps.iloc[:2], "Q")
    190.0
    """
    if laps is None or not len(laps) or "LapStartTime" not in laps.columns:
        return None
    starts = laps["LapStartTime"].to_numpy(dtype=float)
    if session.upper() in ("R", "S", "RACE", "SPRINT"):
        first = laps["LapNumber"].to_numpy(dtype=float) == 1
        pick = starts[first] if first.any() else starts
    else:
        timed = laps["LapTime"].notna().to_numpy() if "LapTime" in laps.columns else np.ones(len(laps), bool)
        pick = starts[timed] if timed.any() else starts
    pick = pick[~np.isnan(pick)]
    return float(pick.min()) if len(pick) else None


def restrict_drivers(data: SessionData, drivers: list[str] | None) -> SessionData:
    """``data`` with only these driver codes (telemetry, laps, position, meta)."""
    if not drivers:
        return data
    want = [d.upper() for d in drivers]
    missing = sorted(set(want) - set(data.telemetry["driver"].unique()))
    if missing:
        raise ValueError(
            f"drivers {missing} not in the session; present: {', '.join(sorted(data.telemetry['driver'].unique()))}"
        )
    tel = data.telemetry[data.telemetry["driver"].isin(want)].reset_index(drop=True)
    laps = data.laps[data.laps["Driver"].isin(want)].reset_index(drop=True)
    pos = (
        data.position[data.position["driver"].isin(want)].reset_index(drop=True) if data.position is not None else None
    )
    meta = dict(data.meta, drivers=sorted(want))
    return SessionData(
        telemetry=tel,
        laps=laps,
        track_status=data.track_status,
        race_control=data.race_control,
        position=pos,
        meta=meta,
        weather=data.weather,
    )


def load_session(
    settings: Settings, *, progress: bool = True, drivers: list[str] | None = None, allow_simulated: bool = True
) -> SessionData:
    """Load the session described by ``settings`` from ``settings.source``.

    ``drivers`` (codes) keeps only those cars; the ``fastf1-csv`` source then reads only
    their files (quick), the others load everything and filter. ``allow_simulated=False``
    makes ``auto`` raise :class:`SourceUnavailableError` instead of falling back to the
    simulated session (e.g. for training data).

    Raises ``ValueError`` for an unknown source and :class:`SourceUnavailableError`
    (with the choices the user has) when an explicit source cannot deliver.
    """
    if drivers and settings.source == "fastf1-csv":
        from f1live.sources.fastf1_csv import load_fastf1_csv

        return load_fastf1_csv(settings, progress=progress, drivers=drivers)
    return restrict_drivers(_load(settings, progress=progress, allow_simulated=allow_simulated), drivers)


def _load(settings: Settings, *, progress: bool, allow_simulated: bool = True) -> SessionData:
    source = settings.source
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if source == "fastf1-csv":
        from f1live.sources.fastf1_csv import load_fastf1_csv

        return load_fastf1_csv(settings, progress=progress)
    if source == "file":
        if settings.source_path is None:
            raise ValueError("--source file needs a path (--path FILE, env F1LIVE_SOURCE_PATH)")
        from f1live.sources.exports import load_export

        return load_export(settings.source_path)
    if source == "simulated":
        from f1live.sources.simulated import simulate_session

        return simulate_session(settings)
    if source == "fastf1":
        from f1live.sources.fastf1 import load_fastf1

        return load_fastf1(settings, progress=progress)
    return _load_auto(settings, progress=progress, allow_simulated=allow_simulated)


def _load_auto(settings: Settings, *, progress: bool, allow_simulated: bool = True) -> SessionData:
    tried: list[str] = []
    if settings.source_path is not None:
        p = settings.source_path
        if p.is_dir():
            from f1live.sources.fastf1_csv import load_fastf1_csv

            return load_fastf1_csv(settings, progress=progress)
        from f1live.sources.exports import load_export

        return load_export(p)
    # 1. an existing export of this session
    from f1live.sources.exports import find_export, load_export

    found = find_export(settings.data_dir, settings.year, settings.event, settings.session)
    if found is not None:
        _log.info("auto: using existing export %s", found)
        return load_export(found)
    tried.append(f"no export for {settings.year} {settings.event} {settings.session} in {settings.data_dir}")
    # 2. FastF1 (cache, then network unless offline)
    try:
        from f1live.sources.fastf1 import load_fastf1

        return load_fastf1(settings, progress=progress)
    except SourceUnavailableError as exc:
        reason = str(exc).splitlines()[0]
        tried.append(reason)
        fastf1_failed = reason
    # 3. raw FastF1 CSV dumps in the shared data folder
    from f1live.sources.fastf1_csv import find_csv_dump, load_fastf1_csv

    dump = find_csv_dump(settings)
    if dump is not None:
        _log.warning("%s; using the raw FastF1 CSV dump %s instead", fastf1_failed, dump)
        return load_fastf1_csv(settings.replace(source_path=dump), progress=progress)
    tried.append(f"no FastF1 CSV dump under {settings.shared_data / 'fastf1_csv_exports'}")
    if not allow_simulated:
        raise SourceUnavailableError(
            f"no real data for {settings.year} {settings.event} {settings.session}: " + "; ".join(tried)
        )
    # 4. simulated, loudly
    from f1live.sources.simulated import simulate_session

    _log.warning(
        "!!! auto: NO REAL DATA for %s %s %s (%s). Falling back to a SIMULATED session. "
        "Give a FastF1 cache (--cache DIR), an export (--source file --path FILE), or "
        "choose --source simulated explicitly.",
        settings.year,
        settings.event,
        settings.session,
        "; ".join(tried),
    )
    data = simulate_session(settings)
    data.meta["auto_fallback"] = tried
    return data
