"""Read f1live exports (CSV / Parquet telemetry + JSON sidecar) -- the ``file`` source.

Errors name the file and the problem: missing file, empty file, unsupported suffix,
unreadable content, missing columns (named), unparseable/missing timestamps.

>>> export_stem(2023, "Monaco", "R", "20260101T000000Z")
'2023_Monaco_R_20260101T000000Z'
>>> find_export(Path("/nonexistent"), 2023, "Monaco", "R") is None
True
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from f1live.schema import FIELDS, TELEMETRY_COLUMNS, check_timestamps, coerce_frame, missing_columns
from f1live.sources import SessionData, empty_track_status

_log = logging.getLogger(__name__)

SOURCE = "file"
SUFFIXES = (".parquet", ".csv", ".csv.gz")
#: CSV dtypes that pandas would otherwise guess wrong (e.g. track status "12" -> int).
_CSV_DTYPES = {f.name: "string" for f in FIELDS.values() if f.dtype.startswith("string")}


def export_stem(year: int, event: str, session: str, timestamp: str, simulated: bool = False) -> str:
    """File stem ``<year>_<event>_<session>_<timestamp>`` (``_SIMULATED`` appended for simulated data)."""
    stem = f"{year}_{event.replace(' ', '-')}_{session}_{timestamp}"
    return stem + "_SIMULATED" if simulated else stem


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for s in (".csv.gz", ".parquet", ".csv"):
        if name.endswith(s):
            return s
    return p.suffix.lower()


def sidecar_path(path: Path) -> Path:
    """``data/x.parquet`` -> ``data/x.json``."""
    s = _suffix(path)
    return path.with_name(path.name[: len(path.name) - len(s)] + ".json")


def read_sidecar(path: Path) -> dict[str, Any]:
    """The export's JSON sidecar (``{}`` when there is none)."""
    side = sidecar_path(Path(path))
    if not side.exists():
        return {}
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"sidecar {side} is not valid JSON: {exc}") from None


def read_export_frame(path: str | Path) -> pd.DataFrame:
    """The raw table of an export file (not yet coerced), with clear errors."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"export file {p} does not exist")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; expected an f1live export file ({', '.join(SUFFIXES)})")
    if p.stat().st_size == 0:
        raise ValueError(f"{p} is empty (0 bytes); expected an f1live telemetry export")
    suffix = _suffix(p)
    if suffix not in (".parquet", ".csv", ".csv.gz"):
        raise ValueError(f"{p} has unsupported suffix {suffix!r}; expected {', '.join(SUFFIXES)}")
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, dtype=_CSV_DTYPES, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{p} is empty: no header and no rows") from None
    except Exception as exc:  # pyarrow/parser errors (ArrowInvalid is a ValueError too): name the file
        raise ValueError(f"cannot read {p} as {suffix.lstrip('.')}: {exc}") from None
    if df.empty:
        raise ValueError(f"{p} is empty: header but no telemetry rows")
    return df


def read_export(path: str | Path) -> pd.DataFrame:
    """An export file as a schema-typed telemetry table (coerced via ``coerce_frame``)."""
    p = Path(path)
    df = read_export_frame(p)

    miss = missing_columns(df.columns)
    if miss:
        raise ValueError(f"missing columns {miss} in {p}; expected the f1live telemetry schema")
    for c in ("session_time", "date"):
        check_timestamps(df[c], c, str(p))
    return coerce_frame(df, origin=str(p))


def laps_from_telemetry(tel: pd.DataFrame) -> pd.DataFrame:
    """A FastF1-like laps table reconstructed from telemetry rows (exports carry no laps table).

    ``LapStartTime``/``Time`` are the first/last sample times of the lap (FastF1's lie on
    the timing line); ``PitInTime``/``PitOutTime`` are the first/last ``in_pit`` sample
    times on pit-in/pit-out laps, so they are approximate.
    """
    t = tel[tel["lap_number"].notna()]
    if t.empty:
        from f1live.sources import LAP_COLUMNS

        return pd.DataFrame(columns=list(LAP_COLUMNS))
    g = t.groupby(["driver", "lap_number"], sort=True, observed=True)
    laps = g.agg(
        DriverNumber=("driver_number", "first"),
        LapStartTime=("session_time", "min"),
        Time=("session_time", "max"),
        Stint=("stint", "first"),
        Compound=("compound", "first"),
        TyreLife=("tyre_life", "first"),
        TrackStatus=("track_status", "first"),
        Position=("position", "last"),
        Team=("team", "first"),
        _pout=("pit_out_lap", "any"),
    ).reset_index()
    laps = laps.rename(columns={"driver": "Driver", "lap_number": "LapNumber"})
    laps["LapTime"] = laps["Time"] - laps["LapStartTime"]
    pit = t[t["in_pit"]].groupby(["driver", "lap_number"], observed=True)["session_time"].agg(["min", "max"])
    key = pd.MultiIndex.from_frame(laps[["Driver", "LapNumber"]])
    pmin = pit["min"].reindex(key).to_numpy()
    pmax = pit["max"].reindex(key).to_numpy()
    # a lap whose in-pit stretch is not the start of an out-lap ends in the pit lane
    laps["PitInTime"] = np.where(~np.isnan(pmin) & ~laps["_pout"].to_numpy(), pmin, np.nan)
    laps["PitOutTime"] = np.where(laps["_pout"], pmax, np.nan)
    laps["LapNumber"] = laps["LapNumber"].astype("float64")
    laps["DriverNumber"] = laps["DriverNumber"].astype("int64")
    return laps.drop(columns=["_pout"])


def read_side_table(path: str | Path, name: str, side: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """One side table of an export (``laps``, ``track_status``, ``race_control``, ``weather``).

    Listed in the sidecar's ``tables`` (Parquet preferred); exports of schema v1 embedded only
    the track status in the sidecar, which is read from there. ``None`` when absent.
    """
    p = Path(path)
    side = read_sidecar(p) if side is None else side
    entry = (side.get("tables") or {}).get(name)
    if entry:
        files = entry.get("files", {})
        for fmt in ("parquet", "csv"):
            if fmt in files and (p.parent / files[fmt]).is_file():
                f = p.parent / files[fmt]
                try:
                    df = pd.read_parquet(f) if fmt == "parquet" else pd.read_csv(f, low_memory=False)
                except Exception as exc:  # name the file
                    raise ValueError(f"cannot read the {name} table {f}: {exc}") from None
                return _typed(df, name, str(f))
        raise FileNotFoundError(
            f"the sidecar of {p} lists a {name} table, but none of {sorted(files.values())} is next to it"
        )
    if name == "track_status" and side.get("track_status"):
        return _typed(pd.DataFrame(side["track_status"]), name, str(sidecar_path(p)))
    return None


def _typed(df: pd.DataFrame, name: str, origin: str) -> pd.DataFrame:
    from f1live.schema import (
        RACE_CONTROL_COLUMNS,
        TRACK_STATUS_COLUMNS,
        WEATHER_COLUMNS,
        side_table,
    )

    if name == "laps":
        from f1live.sources import LAP_COLUMNS

        miss = [c for c in ("Driver", "DriverNumber", "LapNumber", "LapStartTime", "Time") if c not in df.columns]
        if miss:
            raise ValueError(f"missing columns {miss} in {origin}; expected FastF1 laps columns {list(LAP_COLUMNS)}")
        for c in ("Driver", "Compound", "Team", "TrackStatus"):
            if c in df.columns:
                df[c] = df[c].astype("string")
        df["DriverNumber"] = df["DriverNumber"].astype("int64")
        return df
    spec = {"track_status": TRACK_STATUS_COLUMNS, "race_control": RACE_CONTROL_COLUMNS, "weather": WEATHER_COLUMNS}[
        name
    ]
    return side_table(df, spec, origin=origin)


def load_export(path: str | Path, *, telemetry: bool = True) -> SessionData:
    """An f1live export -> :class:`SessionData` (meta and side tables from the sidecar).

    ``telemetry=False`` reads only the sidecar and the side tables (the telemetry table is
    left empty): for a caller that loads the rows into a :class:`f1live.cache.ReplayCache`
    itself. Exports without a laps table (schema v1) get laps reconstructed from the
    telemetry rows (approximate line-crossing times), with a warning.
    """
    from f1live.schema import empty_frame

    p = Path(path)
    side = read_sidecar(p)
    laps = read_side_table(p, "laps", side)
    tel = read_export(p) if telemetry or laps is None else empty_frame()
    meta = dict(side.get("meta") or {})
    meta.update(
        {k: side[k] for k in ("source", "simulated", "fastf1_version", "year", "event", "session") if k in side}
    )
    simulated = (bool(tel["simulated"].any()) if len(tel) else False) or bool(meta.get("simulated", False))
    meta.setdefault("source", str(tel["source"].iloc[0]) if len(tel) else "file")
    meta["simulated"] = simulated
    meta["export_path"] = str(p)
    meta["drivers"] = sorted(tel["driver"].unique().tolist()) if len(tel) else list(side.get("drivers") or [])
    order = np.lexsort((tel["driver"].astype(str).to_numpy(), tel["session_time"].to_numpy()))
    if np.any(order != np.arange(len(order))):
        _log.warning("%s is not in time order; sorted by session_time then driver", p)
        tel = tel.take(order).reset_index(drop=True)
    if laps is None:
        _log.warning(
            "%s has no laps table (an older export): lap times and pit times are "
            "reconstructed from its telemetry rows (approximate)",
            p,
        )
        laps = laps_from_telemetry(tel)
    if not telemetry:
        tel = empty_frame()
    track_status = read_side_table(p, "track_status", side)
    return SessionData(
        telemetry=tel.reindex(columns=list(TELEMETRY_COLUMNS)),
        laps=laps,
        track_status=track_status if track_status is not None else empty_track_status(),
        race_control=read_side_table(p, "race_control", side),
        position=None,
        meta=meta,
        weather=read_side_table(p, "weather", side),
    )


def is_current(path: Path) -> bool:
    """The export was written with this schema version (older ones are prepared again)."""
    from f1live.schema import SCHEMA_VERSION

    try:
        version = read_sidecar(path).get("schema_version")
    except ValueError:
        return False
    return version == SCHEMA_VERSION


def find_export(data_dir: Path, year: int, event: str, session: str, include_simulated: bool = False) -> Path | None:
    """Newest export of that session in ``data_dir`` written with the current schema version
    (Parquet preferred over CSV), else None. Side-table files (``<stem>.laps.parquet``) are
    not exports."""
    d = Path(data_dir)
    if not d.is_dir():
        return None
    prefix = f"{year}_{event.replace(' ', '-')}_{session}_"
    best: Path | None = None
    for suffix in (".parquet", ".csv", ".csv.gz"):
        cands = [
            p
            for p in d.glob(prefix + "*" + suffix)
            if "." not in p.name[: -len(suffix)] and (include_simulated or "SIMULATED" not in p.name)
        ]
        old = [p for p in cands if not is_current(p)]
        for p in old:
            _log.info("skipping %s: written with an older schema version", p.name)
        cands = [p for p in cands if p not in old]
        if cands:
            newest = max(cands, key=lambda q: q.name)
            if best is None or newest.name.split(".")[0] > best.name.split(".")[0]:
                best = newest
    return best
