"""The FastF1 API as a source: ``session.load()`` with an explicit cache directory.

No global side effects at import: :mod:`fastf1` is imported and its cache configured
only inside :func:`load_fastf1` (FastF1 keeps its cache settings on a class, so the call
sets them each time). The cache directory is ``settings.fastf1_cache`` (``--cache``, env
``F1LIVE_FASTF1_CACHE``), default ``<data_dir>/fastf1_cache``; FastF1 writes into it
(an HTTP cache), so point it at a copy when the source must stay untouched.

Order: the cache only (FastF1 offline mode) first; then, unless ``settings.offline``,
FastF1 with network access. Car data (and position data when FastF1 has it) are joined
with the laps exactly as in :mod:`f1live.sources.telemetry`.

>>> "--source simulated" in offline_help(Settings())
True
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from f1live.config import Settings
from f1live.schema import RACE_CONTROL_COLUMNS, WEATHER_COLUMNS, side_table
from f1live.sources import (
    LAP_COLUMNS,
    LAP_TIME_COLUMNS,
    SessionData,
    SourceUnavailableError,
    empty_track_status,
    racing_start,
)
from f1live.sources.telemetry import build_telemetry

_log = logging.getLogger(__name__)

SOURCE = "fastf1"


def cache_dir_for(settings: Settings) -> Path:
    """The FastF1 cache directory the settings point at."""
    return Path(settings.fastf1_cache) if settings.fastf1_cache else Path(settings.data_dir) / "fastf1_cache"


def offline_help(settings: Settings, reason: str = "") -> str:
    """The message a user gets when FastF1 cannot deliver: what failed and the choices."""
    what = f"FastF1 could not load {settings.year} {settings.event} {settings.session}"
    return (
        f"{what}{': ' + reason if reason else ''}.\n"
        "Choices:\n"
        f"  --cache DIR                   a FastF1 cache directory that has this session incl. car data "
        f"(now: {cache_dir_for(settings)})\n"
        "  --source file --path FILE     an f1live export (CSV/Parquet, see `f1live prepare`)\n"
        "  --source fastf1-csv --path D  raw FastF1 CSV dumps (car_data_*driver_<N>.csv + laps CSV)\n"
        "  --source simulated            a deterministic SIMULATED session (same schema, not real data)"
    )


def _configure(fastf1: Any, cache_dir: Path, offline: bool) -> None:
    # ignore_version: caches written by older FastF1 (API core 12) still parse correctly for
    # the data we read; without it FastF1 would try to re-download and fail offline.
    fastf1.Cache.configure(cache_dir=str(cache_dir), ignore_version=True)
    fastf1.Cache.offline_mode(offline)


def _load(settings: Settings, cache_dir: Path, offline: bool) -> Any:
    import contextlib

    import fastf1

    _configure(fastf1, cache_dir, offline)
    # FastF1 logs every failed request with its traceback; the caller reports the failure in
    # one line (the tracebacks show with -v, i.e. this logger at DEBUG)
    quiet = contextlib.nullcontext() if _log.isEnabledFor(logging.DEBUG) else _quiet_fastf1()
    try:
        with quiet:
            session = fastf1.get_session(int(settings.year), settings.event, settings.session)
            if offline:
                _require_cached_car_data(session, cache_dir, settings)
            session.load(laps=True, telemetry=True, weather=True, messages=True)
    except SystemExit:  # FastF1 calls exit() when a cache update fails to download
        raise SourceUnavailableError(offline_help(settings, "FastF1 gave up downloading (no network?)")) from None
    except SourceUnavailableError:
        raise
    except Exception as exc:  # FastF1/requests raise many types; report, keep the chain for -vv
        raise SourceUnavailableError(offline_help(settings, f"{type(exc).__name__}: {exc}")) from exc
    try:
        n_laps = len(session.laps)
    except Exception:  # DataNotLoadedError
        n_laps = 0
    if n_laps == 0:
        raise SourceUnavailableError(offline_help(settings, f"no lap timing in {'the cache' if offline else 'FastF1'}"))
    if not session.car_data:
        raise SourceUnavailableError(
            offline_help(
                settings,
                f"FastF1 loaded {n_laps} laps but no car telemetry "
                f"({'not in the cache ' + str(cache_dir) if offline else 'not downloadable'})",
            )
        )
    return session


def _require_cached_car_data(session: Any, cache_dir: Path, settings: Settings) -> None:
    """Fail fast offline when the cache has no car data for the session (a full
    ``session.load()`` takes seconds before FastF1 reports it). FastF1 keeps API results in
    ``<cache>/<api_path without '/static/'>/<function>.ff1pkl``; if that layout ever changes
    we only lose the shortcut, not correctness."""
    api_path = getattr(session, "api_path", None)
    if not isinstance(api_path, str) or not api_path.startswith("/static/"):
        return
    folder = cache_dir / api_path[len("/static/") :]
    if folder.is_dir() and not (folder / "car_data.ff1pkl").exists():
        raise SourceUnavailableError(
            offline_help(settings, f"no car telemetry in the cache ({folder} has no car_data.ff1pkl)")
        )


def load_fastf1(settings: Settings, *, progress: bool = True) -> SessionData:
    """Load the session through FastF1 (cache first, then network unless offline)."""
    return session_to_data(load_fastf1_session(settings), settings, progress=progress)


def load_fastf1_session(settings: Settings) -> Any:
    """The loaded ``fastf1.core.Session`` (laps, car/position data, messages), or
    :class:`SourceUnavailableError` with the user's choices."""
    cache_dir = cache_dir_for(settings)
    if not cache_dir.is_dir():
        if settings.offline or settings.fastf1_cache is not None:
            raise SourceUnavailableError(offline_help(settings, f"cache directory {cache_dir} does not exist"))
        cache_dir.mkdir(parents=True, exist_ok=True)  # the default location, created for a download
    try:
        session = _load(settings, cache_dir, offline=True)
    except SourceUnavailableError:
        if settings.offline:
            raise
        _log.debug("FastF1: session not in cache %s; trying the network", cache_dir)
        session = _load(settings, cache_dir, offline=False)
    return session


def _td_seconds(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_timedelta64_dtype(s):
        return s.dt.total_seconds().to_numpy(dtype="float64")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")


def laps_frame(laps: pd.DataFrame) -> pd.DataFrame:
    """FastF1 ``Laps`` -> plain DataFrame with timedeltas as float seconds (``LAP_COLUMNS``)."""
    out = pd.DataFrame(index=pd.RangeIndex(len(laps)))
    for c in LAP_COLUMNS:
        if c not in laps.columns:
            out[c] = np.nan
        elif c in LAP_TIME_COLUMNS:
            out[c] = _td_seconds(laps[c])
        else:
            out[c] = laps[c].to_numpy()
    out["DriverNumber"] = pd.to_numeric(out["DriverNumber"]).astype("int64")
    for c in ("Driver", "Compound", "Team", "TrackStatus"):
        out[c] = out[c].astype("string")
    return out


def race_control_frame(rc: pd.DataFrame | None, t0: pd.Timestamp) -> pd.DataFrame | None:
    """FastF1 ``race_control_messages`` (``Time`` as UTC datetimes) -> :data:`RACE_CONTROL_COLUMNS`.

    >>> rc = pd.DataFrame({"Time": ["2023-05-28 13:03:10"], "Category": ["Flag"], "Flag": ["YELLOW"],
    ...                    "Scope": ["Sector"], "Sector": [9.0], "RacingNumber": [None], "Lap": [1],
    ...                    "Message": ["YELLOW IN TRACK SECTOR 9"]})
    >>> race_control_frame(rc, pd.Timestamp("2023-05-28 12:01:00.977", tz="UTC"))["session_time"].tolist()
    [3729.023]
    """
    if rc is None or not len(rc) or "Time" not in rc.columns:
        return None
    when = pd.to_datetime(rc["Time"])
    when = when.dt.tz_localize("UTC") if when.dt.tz is None else when.dt.tz_convert("UTC")
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0
    out = pd.DataFrame(
        {
            "session_time": (when - t0).dt.total_seconds().round(3),
            "category": rc.get("Category"),
            "flag": rc.get("Flag"),
            "scope": rc.get("Scope"),
            "sector": pd.to_numeric(rc.get("Sector"), errors="coerce"),
            "driver_number": pd.to_numeric(rc.get("RacingNumber"), errors="coerce"),
            "lap": pd.to_numeric(rc.get("Lap"), errors="coerce"),
            "message": rc.get("Message"),
        }
    )
    return side_table(out, RACE_CONTROL_COLUMNS, origin="race-control messages")


def weather_frame(wd: pd.DataFrame | None) -> pd.DataFrame | None:
    """FastF1 ``weather_data`` (``Time`` as a timedelta or its text) -> :data:`WEATHER_COLUMNS`."""
    if wd is None or not len(wd) or "Time" not in wd.columns:
        return None
    from f1live.sources.telemetry import parse_timedelta_seconds

    names = {
        "AirTemp": "air_temp",
        "TrackTemp": "track_temp",
        "Humidity": "humidity",
        "Pressure": "pressure",
        "Rainfall": "rainfall",
        "WindSpeed": "wind_speed",
        "WindDirection": "wind_direction",
    }
    out = pd.DataFrame({"session_time": parse_timedelta_seconds(wd["Time"])})
    for raw, name in names.items():
        if raw in wd.columns:
            col = wd[raw]
            if name == "rainfall" and col.dtype == object:  # CSV text "True"/"False"
                col = col.map({"True": True, "False": False, True: True, False: False})
            out[name] = col.to_numpy()
    return side_table(out, WEATHER_COLUMNS, origin="weather data")


def timing_from_cache(settings: Settings, t0: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Race-control messages and weather of the settings' session from a FastF1 cache, offline.

    For sources without these tables (raw car-data dumps): the FastF1 cache may still hold
    the session's timing (the shared data's does: timing, no car data). Looked for in
    ``settings.fastf1_cache`` and ``<shared_data>/fastf1_cache``; the session's folder is
    copied to a temporary cache first, because FastF1 writes into its cache directory.
    Returns the tables found (possibly none); never raises for a missing cache.
    """
    import shutil
    import tempfile

    found: dict[str, pd.DataFrame] = {}
    for base in dict.fromkeys(p for p in (settings.fastf1_cache, Path(settings.shared_data) / "fastf1_cache") if p):
        base = Path(base)
        year = base / str(settings.year)
        if not year.is_dir():
            continue
        tmp = Path(tempfile.mkdtemp(prefix="f1live-ff1-"))
        try:
            shutil.copytree(year, tmp / str(settings.year), dirs_exist_ok=True)
            for q in tmp.rglob("*"):  # a read-only source stays read-only in the copy
                q.chmod(0o755 if q.is_dir() else 0o644)
            import fastf1

            _configure(fastf1, tmp, offline=True)
            with _quiet_fastf1():
                session = fastf1.get_session(int(settings.year), settings.event, settings.session)
                session.load(laps=False, telemetry=False, weather=True, messages=True)
            rc = race_control_frame(_loaded(session, "race_control_messages"), t0)
            wd = weather_frame(_loaded(session, "weather_data"))
        except Exception as exc:  # a cache of another layout/version: only the enrichment is lost
            _log.debug("no timing tables from the FastF1 cache %s: %s", base, exc)
            continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if rc is not None:
            found.setdefault("race_control", rc)
        if wd is not None:
            found.setdefault("weather", wd)
        if found:
            _log.info(
                "timing tables %s of %s %s %s from the FastF1 cache %s",
                sorted(found),
                settings.year,
                settings.event,
                settings.session,
                base,
            )
            break
    return found


def _loaded(session: Any, name: str) -> Any:
    try:
        return getattr(session, name)
    except Exception:  # FastF1's DataNotLoadedError: the cache does not have it
        return None


class _quiet_fastf1:
    """Silence FastF1's logger and warnings while it reports failures f1live reports itself."""

    def __enter__(self) -> None:
        import warnings

        self._logger = logging.getLogger("fastf1")
        self._level = self._logger.level
        self._logger.setLevel(logging.CRITICAL)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: Any) -> None:
        self._warnings.__exit__(*exc)
        self._logger.setLevel(self._level)


def session_to_data(session: Any, settings: Settings, *, progress: bool = True) -> SessionData:
    """A loaded ``fastf1.core.Session`` -> :class:`SessionData`."""
    import fastf1

    from f1live.track import circuit_key_for_event

    t0 = pd.Timestamp(session.t0_date)
    laps = laps_frame(session.laps)
    res = session.results
    drivers: dict[int, tuple[str, str | None]] = {}
    for _, r in res.iterrows():
        team = r.get("TeamName")
        drivers[int(r["DriverNumber"])] = (str(r["Abbreviation"]), None if pd.isna(team) else str(team))
    for num, g in laps.groupby("DriverNumber"):  # drivers missing from results
        drivers.setdefault(int(num), (str(g["Driver"].iloc[0]), g["Team"].iloc[0]))
    frames, pos_frames = [], []
    for drv in tqdm(
        sorted(session.car_data, key=int),
        desc=f"{settings.year} {settings.event} FastF1",
        unit="driver",
        disable=not progress,
        leave=False,
    ):
        num = int(drv)
        drivers.setdefault(num, (f"#{num}", None))
        cd = session.car_data[drv]
        f = pd.DataFrame(
            {
                "driver_number": np.full(len(cd), num, dtype=np.int16),
                "date": pd.to_datetime(cd["Date"]).dt.tz_localize("UTC"),
                "session_time": _td_seconds(cd["SessionTime"]),
                "speed": cd["Speed"].to_numpy(dtype="float32"),
                "rpm": cd["RPM"].to_numpy(dtype="float32"),
                "gear": cd["nGear"].to_numpy(dtype="int16"),
                "throttle": cd["Throttle"].to_numpy(dtype="float32"),
                "brake": cd["Brake"].astype(bool).to_numpy(),
                "drs": cd["DRS"].to_numpy(dtype="int16"),
            }
        )
        pdata = getattr(session, "pos_data", None) or {}
        if drv in pdata and len(pdata[drv]):
            pos = pdata[drv]
            pt = _td_seconds(pos["SessionTime"])
            # FastF1 X/Y/Z are 1/10 m; car and position samples have their own clocks,
            # so position is interpolated at the car-data times (as FastF1's merge does)
            for axis in ("X", "Y", "Z"):
                f[axis.lower()] = np.interp(f["session_time"], pt, pos[axis].to_numpy(dtype=float)) / 10.0
            pos_frames.append(
                pd.DataFrame(
                    {
                        "driver": drivers[num][0],
                        "session_time": pt,
                        "x": pos["X"].to_numpy(dtype=float) / 10.0,
                        "y": pos["Y"].to_numpy(dtype=float) / 10.0,
                        "z": pos["Z"].to_numpy(dtype=float) / 10.0,
                    }
                )
            )
        frames.append(f)
    car = pd.concat(frames, ignore_index=True)
    ts = session.track_status
    track_status = (
        pd.DataFrame(
            {
                "session_time": _td_seconds(ts["Time"]),
                "status": ts["Status"].astype("string"),
                "message": ts["Message"].astype("string"),
            }
        )
        if ts is not None and len(ts)
        else empty_track_status()
    )
    rc = race_control_frame(_loaded(session, "race_control_messages"), t0)
    weather = weather_frame(_loaded(session, "weather_data"))
    circuit = circuit_key_for_event(str(session.event.get("Location", settings.event))) or circuit_key_for_event(
        settings.event
    )
    try:
        total_laps = int(session.total_laps) if session.total_laps else None
    except Exception:
        total_laps = None
    tel = build_telemetry(
        car,
        laps,
        drivers={n: drivers[n] for n in car["driver_number"].unique().tolist()},
        source=SOURCE,
        track_status=track_status,
        weather=weather,
        total_laps=total_laps,
        circuit_key=circuit,
    )
    position = pd.concat(pos_frames, ignore_index=True) if pos_frames else None
    meta = {
        "source": SOURCE,
        "year": int(settings.year),
        "event": settings.event,
        "event_name": str(session.event.get("EventName", settings.event)),
        "session": settings.session,
        "session_name": str(session.name),
        "simulated": False,
        "fastf1_version": fastf1.__version__,
        "fastf1_cache": str(cache_dir_for(settings)),
        "circuit_key": circuit,
        "fastf1_circuit_key": (
            session.session_info.get("Meeting", {}).get("Circuit", {}).get("Key")
            if isinstance(getattr(session, "session_info", None), dict)
            else None
        ),
        "drivers": sorted(tel["driver"].unique().tolist()),
        "driver_numbers": {drivers[n][0]: int(n) for n in sorted(car["driver_number"].unique().tolist())},
        "t0_date": t0.tz_localize("UTC").isoformat() if t0.tzinfo is None else t0.isoformat(),
        "total_laps": total_laps,
        "race_start_session_time": racing_start(laps, settings.session),
        "has_position_data": position is not None,
        "position_estimated": position is None and circuit is not None,
    }
    return SessionData(
        telemetry=tel,
        laps=laps,
        track_status=track_status,
        race_control=rc,
        position=position,
        meta=meta,
        weather=weather,
    )
