"""Write a session as CSV + Parquet with a JSON sidecar (``data/`` by default).

Files: ``<year>_<event>_<session>_<UTC timestamp>.{csv,parquet}`` (the telemetry),
``<stem>.<table>.{csv,parquet}`` for each side table the session has (``laps``,
``track_status``, ``race_control``, ``weather``: the timing published next to the car
data, kept so a replay of the export can show the leaderboard, flags and weather as of its
clock), and ``<stem>.json`` (the sidecar): source, SIMULATED flag, FastF1 version, rows,
drivers, laps, measured frequency (car / position / merged), schema version, the side
tables and the sha256 + size of every data file.  Parquet keeps every dtype; CSV reads
back to equal values through :func:`f1live.schema.coerce_frame` (see
:func:`f1live.sources.exports.read_export`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from f1live.frequency import session_frequency
from f1live.schema import DTYPES, SCHEMA_VERSION, TELEMETRY_COLUMNS, coerce_frame
from f1live.sources import SessionData
from f1live.sources.exports import export_stem

_log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")
_CSV_BATCH = 100_000


@dataclass(frozen=True)
class ExportResult:
    """Paths written by :func:`export_session` and the sidecar content."""

    files: dict[str, Path]
    sidecar: Path
    meta: dict[str, Any]

    @property
    def parquet(self) -> Path | None:
        return self.files.get("parquet")

    @property
    def csv(self) -> Path | None:
        return self.files.get("csv")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def _with_exact_dtypes(table: pa.Table) -> pa.Table:
    """Record ``string[pyarrow]`` (not just ``string``) in the pandas metadata.

    pandas writes ``numpy_type: "string"`` for both string storages and reads that back as
    Python-object strings; naming the storage makes a plain ``pd.read_parquet`` exact.
    """
    md = json.loads(table.schema.metadata[b"pandas"])
    for col in md["columns"]:
        dt = DTYPES.get(col["name"])
        if dt is not None and dt.startswith("string"):
            col["numpy_type"] = dt
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(md).encode()})


def export_session(
    data: SessionData,
    out_dir: Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    timestamp: str | None = None,
    progress: bool = True,
) -> ExportResult:
    """Write ``data.telemetry`` to ``out_dir`` in ``formats`` plus the JSON sidecar.

    Args:
        timestamp: file-name timestamp (default: now, UTC, ``YYYYmmddTHHMMSSZ``).
        progress: tqdm bars while writing.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown export formats {bad}; expected {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = data.meta
    ts = timestamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = export_stem(
        meta.get("year", 0),
        str(meta.get("event", "session")),
        str(meta.get("session", "X")),
        ts,
        simulated=bool(meta.get("simulated")),
    )
    tel = coerce_frame(data.telemetry, origin="export")
    table = _with_exact_dtypes(pa.Table.from_pandas(tel, preserve_index=False))
    files: dict[str, Path] = {}
    if "parquet" in formats:
        p = out / f"{stem}.parquet"
        with tqdm(total=1, desc=f"write {p.name}", disable=not progress, leave=False) as bar:
            pq.write_table(table, p, compression="zstd")
            bar.update()
        files["parquet"] = p
    if "csv" in formats:
        p = out / f"{stem}.csv"
        with (
            pacsv.CSVWriter(p, table.schema) as writer,
            tqdm(
                total=len(tel), desc=f"write {p.name}", unit="row", unit_scale=True, disable=not progress, leave=False
            ) as bar,
        ):
            for batch in table.to_batches(max_chunksize=_CSV_BATCH):
                writer.write_batch(batch)
                bar.update(batch.num_rows)
        files["csv"] = p
    tables: dict[str, Any] = {}
    for name, frame in side_tables(data).items():
        entry: dict[str, Any] = {"rows": int(len(frame)), "files": {}}
        for fmt in formats:
            p = out / f"{stem}.{name}.{fmt}"
            if fmt == "parquet":
                frame.to_parquet(p, index=False, compression="zstd")
            else:
                frame.to_csv(p, index=False)
            files[f"{name}.{fmt}"] = p
            entry["files"][fmt] = p.name
        tables[name] = entry
    freq = session_frequency(tel, data.position)
    side = {
        "schema_version": SCHEMA_VERSION,
        "source": meta.get("source"),
        "simulated": bool(meta.get("simulated", False)),
        "label": "SIMULATED" if meta.get("simulated") else "real",
        "fastf1_version": meta.get("fastf1_version"),
        "year": meta.get("year"),
        "event": meta.get("event"),
        "session": meta.get("session"),
        "rows": int(len(tel)),
        "columns": list(TELEMETRY_COLUMNS),
        "drivers": sorted(tel["driver"].unique().tolist()),
        "laps": int(tel["lap_number"].max()) if tel["lap_number"].notna().any() else 0,
        "session_time_s": [float(tel["session_time"].min()), float(tel["session_time"].max())],
        "frequency": freq,
        "tables": tables,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": {
            fmt: {"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for fmt, p in files.items()
        },
        "meta": meta,
    }
    side_path = out / f"{stem}.json"
    side_path.write_text(json.dumps(_jsonable(side), indent=2, default=str), encoding="utf-8")
    _log.info("exported %d rows to %s", len(tel), ", ".join(str(p) for p in files.values()))
    return ExportResult(files=files, sidecar=side_path, meta=side)


def side_tables(data: SessionData) -> dict[str, Any]:
    """The session's side tables that have rows, by export name (laps, track_status, ...)."""
    cand = {
        "laps": data.laps,
        "track_status": data.track_status,
        "race_control": data.race_control,
        "weather": data.weather,
    }
    return {k: v for k, v in cand.items() if v is not None and len(v)}


def verify_export(path: Path) -> None:
    """Check the sha256 recorded in the sidecar; raise ``ValueError`` naming the file that differs."""
    from f1live.sources.exports import read_sidecar, sidecar_path

    side = read_sidecar(path)
    if not side:
        raise ValueError(f"no sidecar {sidecar_path(path)} for {path}")
    for fmt, info in side.get("files", {}).items():
        f = Path(path).with_name(info["name"])
        got = sha256_file(f)
        if got != info["sha256"]:
            raise ValueError(
                f"{f} sha256 {got[:12]}... differs from the sidecar's {info['sha256'][:12]}... "
                f"({fmt}): the file changed after export"
            )
