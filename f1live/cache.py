"""In-memory replay cache: the telemetry table as numpy columns, replayed in time order.

Rows are ordered by ``session_time`` then ``driver`` (stable for equal timestamps).
Columns are stored as numpy arrays (text as small-int codes into a category list,
nullable ints with a mask), so a full race (~800k rows) takes ~60 MB, and
:meth:`ReplayCache.iter_rows` converts a block of rows at a time with ``tolist()``
instead of touching pandas per row.

>>> import pandas as pd
>>> df = pd.DataFrame({"date": pd.to_datetime([2, 1, 1], unit="s", utc=True),
...     "session_time": [2.0, 1.0, 1.0], "driver": ["VER", "VER", "HAM"],
...     "driver_number": [1, 1, 44], "speed": [100.0, 90.0, 80.0], "rpm": 10000.0, "gear": 3,
...     "throttle": 50.0, "brake": False, "drs": 0})
>>> cache = ReplayCache.from_frame(df)            # out of order: sorted, with a warning
>>> len(cache), cache.drivers
(3, ['HAM', 'VER'])
>>> [(d, r["driver"], r["speed"]) for d, r in cache.iter_rows()]
[(0.0, 'HAM', 80.0), (0.0, 'VER', 90.0), (1.0, 'VER', 100.0)]
>>> len(cache.filter(drivers=["VER"], start=1.5))
1
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from f1live.schema import (
    FIELDS,
    REQUIRED_COLUMNS,
    TELEMETRY_COLUMNS,
    check_timestamps,
    coerce_frame,
    missing_columns,
)

_log = logging.getLogger(__name__)

#: Rows converted to Python objects at a time by :meth:`ReplayCache.iter_rows`. Blocks of
#: ~1k rows keep one block's values and dicts in the CPU caches while they are consumed
#: (measured: ~10-20 % more rows/s than 4k-row blocks), and a seek converts little it drops.
BLOCK_ROWS = 1024


#: What ``--from`` / ``Settings.replay_from`` accepts (see :func:`parse_start`).
START_HELP = "race (lights out / first timed lap; default) | session | lap N | time H:MM:SS"


@dataclass(frozen=True)
class StartPoint:
    """Where a replay begins: ``kind`` is ``race``, ``session``, ``lap`` or ``time``.

    ``value`` is the lap number (``lap``) or the session time in seconds (``time``).
    """

    kind: str
    value: float | None = None

    def __str__(self) -> str:
        if self.kind == "lap":
            return f"lap {int(self.value or 0)}"
        if self.kind == "time":
            return f"time {format_session_time(self.value or 0.0)}"
        return self.kind


def format_session_time(seconds: float) -> str:
    """``3723.5`` -> ``'1:02:03'`` (whole seconds, as ``--from time`` takes them).

    >>> format_session_time(3723.5), format_session_time(59)
    ('1:02:03', '0:00:59')
    """
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def parse_start(text: str | StartPoint | None) -> StartPoint:
    """Parse a replay start: ``race``, ``session``, ``lap N`` (``lap:N``, ``lapN``) or
    ``time H:MM:SS`` (also ``M:SS``, plain seconds, or just ``H:MM:SS``).

    >>> parse_start("race"), parse_start(None).kind
    (StartPoint(kind='race', value=None), 'race')
    >>> parse_start("lap 23"), parse_start("LAP:23").value
    (StartPoint(kind='lap', value=23.0), 23.0)
    >>> parse_start("time 1:02:03").value, parse_start("1:02:03").value, parse_start("time 95.5").value
    (3723.0, 3723.0, 95.5)
    >>> parse_start("lap zero")
    Traceback (most recent call last):
    ...
    ValueError: replay start 'lap zero': expected race (lights out / first timed lap; default) | session | lap N | time H:MM:SS
    """
    if isinstance(text, StartPoint):
        return text
    raw = "race" if text is None else str(text)
    t = raw.strip().lower()
    if t in ("race", "start", ""):
        return StartPoint("race")
    if t == "session":
        return StartPoint("session")
    try:
        if t.startswith("lap"):
            n = int(t[3:].lstrip(" :=").strip())
            if n < 1:
                raise ValueError
            return StartPoint("lap", float(n))
        if t.startswith("time"):
            t = t[4:].lstrip(" :=").strip()
        parts = [float(p) for p in t.split(":")]
        if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
            raise ValueError
        seconds = 0.0
        for p in parts:
            seconds = seconds * 60 + p
        return StartPoint("time", seconds)
    except ValueError:
        raise ValueError(f"replay start {raw!r}: expected {START_HELP}") from None


def race_start_time(meta: dict[str, Any]) -> float | None:
    """The session time where the racing starts, from a session's (or export sidecar's) meta."""
    for m in (meta, meta.get("meta") or {}):
        v = m.get("race_start_session_time")
        if v is not None and v == v:
            return float(v)
    return None


class ReplayCache:
    """Columnar, time-ordered telemetry for replay.

    Build with :meth:`from_frame` or :meth:`from_path`; the constructor takes already
    validated columns and does no I/O.

    Attributes:
        columns: field names in schema order.
        meta: metadata (export sidecar / ``SessionData.meta``) -- source, simulated, ...
    """

    def __init__(
        self,
        data: dict[str, np.ndarray],
        masks: dict[str, np.ndarray],
        categories: dict[str, np.ndarray],
        meta: dict[str, Any] | None = None,
        origin: str = "<frame>",
    ) -> None:
        self._data = data
        self._masks = masks
        self._cats = categories
        self.columns: tuple[str, ...] = tuple(c for c in TELEMETRY_COLUMNS if c in data)
        self.meta: dict[str, Any] = dict(meta or {})
        self.origin = origin

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, *, meta: dict[str, Any] | None = None, origin: str = "<frame>"
    ) -> ReplayCache:
        """Validate, coerce to the schema, sort (warning when needed) and store as columns.

        Raises ``ValueError`` naming ``origin`` for: no rows, missing columns (named),
        unparseable or missing (NaN/NaT) timestamps.
        """
        if len(df) == 0:
            raise ValueError(f"{origin} is empty: no telemetry rows")
        miss = missing_columns(df.columns)
        if miss:
            raise ValueError(
                f"missing columns {miss} in {origin}; expected the f1live telemetry "
                f"schema (required: {', '.join(REQUIRED_COLUMNS)})"
            )
        for c in ("session_time", "date"):
            check_timestamps(df[c], c, origin)
        tel = coerce_frame(df, origin=origin)
        check_timestamps(tel["session_time"], "session_time", origin)
        check_timestamps(tel["date"], "date", origin)
        t = tel["session_time"].to_numpy(dtype=np.float64)
        drv = tel["driver"].astype(str).to_numpy()
        dcodes, dinv = np.unique(drv, return_inverse=True)
        order = np.lexsort((dinv, t))
        if np.any(order != np.arange(len(order))):
            moved = int(np.count_nonzero(order != np.arange(len(order))))
            _log.warning(
                "%s is not in time order (%d of %d rows out of place); sorted by "
                "session_time then driver, nothing dropped",
                origin,
                moved,
                len(order),
            )
            tel = tel.take(order).reset_index(drop=True)
        data: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        cats: dict[str, np.ndarray] = {}
        for c in tel.columns:
            s = tel[c]
            dt = str(FIELDS[c].dtype)
            if dt.startswith("string"):
                cat = pd.Categorical(s)
                data[c] = cat.codes.astype(np.int16 if len(cat.categories) > 120 else np.int8)
                cats[c] = np.array(list(cat.categories) + [None], dtype=object)  # code -1 -> None
            elif dt.startswith("datetime64"):
                data[c] = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
            elif FIELDS[c].masked:  # nullable integer / boolean
                m = s.isna().to_numpy()
                data[c] = s.fillna(0 if FIELDS[c].numpy_dtype != "bool" else False).to_numpy(
                    dtype=FIELDS[c].numpy_dtype
                )
                if m.any():
                    masks[c] = m
            else:
                data[c] = s.to_numpy(dtype=dt)
        return cls(data, masks, cats, meta=meta, origin=origin)

    @classmethod
    def from_path(cls, path: str | Path) -> ReplayCache:
        """Load an f1live export (``.csv``, ``.csv.gz``, ``.parquet``) and its JSON sidecar.

        Parquet is read straight into numpy columns through Arrow (no pandas copy), which
        keeps peak memory near the cache's own size.
        """
        from f1live.sources.exports import _suffix, read_export_frame, read_sidecar

        p = Path(path)
        if _suffix(p) == ".parquet" and p.is_file() and p.stat().st_size > 0:
            import pyarrow.parquet as pq

            try:
                table = _ParquetColumns(pq.ParquetFile(p))
            except Exception as exc:  # pyarrow's own error types; name the file
                raise ValueError(f"cannot read {p} as parquet: {exc}") from None
            cache = cls.from_arrow(table, meta=read_sidecar(p), origin=str(p))
            import pyarrow as pa

            pa.default_memory_pool().release_unused()  # hand decompression buffers back to the OS
            return cache
        df = read_export_frame(p)
        return cls.from_frame(df, meta=read_sidecar(p), origin=str(p))

    @classmethod
    def from_arrow(cls, table: Any, *, meta: dict[str, Any] | None = None, origin: str = "<arrow>") -> ReplayCache:
        """From a ``pyarrow.Table`` with the schema's columns (same checks as :meth:`from_frame`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if table.num_rows == 0:
            raise ValueError(f"{origin} is empty: no telemetry rows")
        miss = missing_columns(table.column_names)
        if miss:
            raise ValueError(
                f"missing columns {miss} in {origin}; expected the f1live telemetry "
                f"schema (required: {', '.join(REQUIRED_COLUMNS)})"
            )
        n = table.num_rows
        data: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        cats: dict[str, np.ndarray] = {}
        for f in FIELDS.values():
            c = f.name
            dt = str(f.dtype)
            if c not in table.column_names:
                if dt.startswith("string"):
                    data[c] = np.zeros(n, dtype=np.int8)
                    cats[c] = np.array(["file" if c == "source" else None, None], dtype=object)
                    if c != "source":
                        data[c][:] = -1
                elif dt == "bool":
                    data[c] = np.zeros(n, dtype=bool)
                elif f.masked:
                    data[c] = np.zeros(n, dtype=f.numpy_dtype)
                    masks[c] = np.ones(n, dtype=bool)
                else:
                    data[c] = np.full(n, np.nan, dtype=dt)
                continue
            col = table.column(c).combine_chunks()
            try:
                if dt.startswith("string"):
                    enc = pc.dictionary_encode(col.cast(pa.string()))
                    idx = enc.indices.fill_null(-1).to_numpy()
                    cats[c] = np.array(enc.dictionary.to_pylist() + [None], dtype=object)
                    data[c] = idx.astype(np.int16 if len(enc.dictionary) > 120 else np.int8)
                elif dt.startswith("datetime64"):
                    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                        raise TypeError("dates stored as text")
                    ts = col.cast(pa.timestamp("ns", tz="UTC"))
                    if ts.null_count:
                        check_timestamps(pd.Series(ts.to_pandas()), c, origin)
                    data[c] = ts.cast(pa.int64()).to_numpy()
                elif f.masked:
                    if col.null_count:
                        masks[c] = col.is_null().to_numpy(zero_copy_only=False)
                    if f.numpy_dtype == "bool":
                        data[c] = col.fill_null(False).cast(pa.bool_()).to_numpy(zero_copy_only=False)
                    else:
                        data[c] = col.fill_null(0).cast(getattr(pa, f.numpy_dtype)()).to_numpy()
                elif dt == "bool":
                    data[c] = col.fill_null(False).cast(pa.bool_()).to_numpy(zero_copy_only=False)
                else:
                    data[c] = col.cast(pa.from_numpy_dtype(np.dtype(dt))).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
                raise ValueError(
                    f"column {c!r} in {origin} cannot be read as {dt} ({f.unit or 'no unit'}): {exc}"
                ) from None
        t = data["session_time"]
        if np.isnan(t).any():
            check_timestamps(pd.Series(t), "session_time", origin)
        order = _time_order(t, data["driver"], cats["driver"])
        if order is not None:
            _log.warning(
                "%s is not in time order (%d of %d rows out of place); sorted by "
                "session_time then driver, nothing dropped",
                origin,
                int(np.count_nonzero(order != np.arange(n))),
                n,
            )
            data = {k: v[order] for k, v in data.items()}
            masks = {k: v[order] for k, v in masks.items()}
        return cls(data, masks, cats, meta=meta, origin=origin)

    @classmethod
    def from_session(cls, data: Any) -> ReplayCache:
        """From a :class:`f1live.sources.SessionData` (keeps its ``meta``)."""
        return cls.from_frame(data.telemetry, meta=data.meta, origin=f"{data.meta.get('source', 'session')}")

    # ------------------------------------------------------------------ basic access
    def __len__(self) -> int:
        return int(len(self._data["session_time"]))

    def __repr__(self) -> str:
        sim = " SIMULATED" if self.meta.get("simulated") else ""
        return f"<ReplayCache{sim} {len(self)} rows, {len(self.drivers)} drivers from {self.origin}>"

    @property
    def session_time(self) -> np.ndarray:
        """Sorted session times (float64 seconds)."""
        return self._data["session_time"]

    @property
    def date_ns(self) -> np.ndarray:
        """Sample dates as Unix epoch nanoseconds (int64), aligned with :attr:`session_time`."""
        return self._data["date"]

    @property
    def drivers(self) -> list[str]:
        """Driver codes present, sorted."""
        cats = self._cats["driver"]
        present = np.unique(self._data["driver"])
        return sorted(str(cats[i]) for i in present if i >= 0)

    def driver_info(self) -> dict[str, dict[str, Any]]:
        """Driver code -> ``{"team", "number"}`` from each driver's first row (no row is copied).

        >>> import pandas as pd
        >>> c = ReplayCache.from_frame(pd.DataFrame({"date": ["2023-05-28T13:00:00Z"] * 2,
        ...     "session_time": [1.0, 1.0], "driver": ["VER", "HAM"], "driver_number": [1, 44],
        ...     "team": ["Red Bull Racing", "Mercedes"], "speed": 1.0, "rpm": 1.0, "gear": 1,
        ...     "throttle": 1.0, "brake": False, "drs": 0}))
        >>> c.driver_info()["HAM"]
        {'team': 'Mercedes', 'number': 44}
        """
        codes = self._data["driver"]
        uniq, first = np.unique(codes, return_index=True)
        teams = self._cats.get("team")
        out: dict[str, dict[str, Any]] = {}
        for code, i in zip(uniq.tolist(), first.tolist(), strict=True):
            if code < 0:
                continue
            team = teams[self._data["team"][i]] if teams is not None else None
            out[str(self._cats["driver"][code])] = {
                "team": None if team is None else str(team),
                "number": int(self._data["driver_number"][i]),
            }
        return out

    @property
    def laps(self) -> list[int]:
        """Lap numbers present, sorted."""
        lap = self._data["lap_number"]
        m = self._masks.get("lap_number")
        return sorted(int(v) for v in np.unique(lap if m is None else lap[~m]))

    def column(self, name: str) -> np.ndarray:
        """One column as a numpy array (text decoded to an object array, nulls as None/NaN)."""
        if name not in self._data:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        if name in self._cats:
            return self._cats[name][self._data[name]]
        if name == "date":
            return self._data[name].view("datetime64[ns]")
        if name in self._masks:
            out = self._data[name].astype(float)
            out[self._masks[name]] = np.nan
            return out
        return self._data[name]

    def to_frame(self) -> pd.DataFrame:
        """Back to a schema-typed DataFrame."""
        cols = {}
        for c in self.columns:
            v = self.column(c)
            if c == "date":
                v = pd.to_datetime(v).tz_localize("UTC")
            cols[c] = v
        return coerce_frame(pd.DataFrame(cols), origin=self.origin)

    def _block(self, start: int, stop: int) -> list[list[Any]]:
        """Python values of rows [start, stop) column by column (schema order)."""
        out = []
        for c in self.columns:
            a = self._data[c][start:stop]
            if c in self._cats:
                out.append(self._cats[c][a].tolist())
            elif c == "date":
                # all cars share live-timing timestamps: format each distinct date once
                u, inv = np.unique(a, return_inverse=True)
                txt = np.datetime_as_string(u.view("datetime64[ns]"), unit="us", timezone="UTC").astype(object)
                out.append(txt[inv].tolist())
            elif c in self._masks:
                m = self._masks[c][start:stop]
                if m.any():
                    o = a.astype(object)
                    o[m] = None
                    out.append(o.tolist())
                else:
                    out.append(a.tolist())
            elif a.dtype.kind == "f" and FIELDS[c].nullable:
                nan = np.isnan(a)
                if nan.all():
                    out.append([None] * len(a))
                elif nan.any():
                    o = a.astype(object)
                    o[nan] = None
                    out.append(o.tolist())
                else:
                    out.append(a.tolist())
            else:
                out.append(a.tolist())
        return out

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a dict of plain Python values (date as ISO-8601 UTC string, nulls None).

        >>> import pandas as pd
        >>> c = ReplayCache.from_frame(pd.DataFrame({"date": ["2023-05-28T13:00:00Z"],
        ...     "session_time": [1.5], "driver": ["VER"], "driver_number": [1], "speed": [287.0],
        ...     "rpm": [11000.0], "gear": [7], "throttle": [100.0], "brake": [False], "drs": [12]}))
        >>> r = c.row(0)
        >>> r["date"], r["driver"], r["speed"], r["lap_number"], r["simulated"]
        ('2023-05-28T13:00:00.000000Z', 'VER', 287.0, None, False)
        """
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        i %= n
        out: dict[str, Any] = {}
        for c in self.columns:
            v = self._data[c][i]
            if c in self._cats:
                out[c] = self._cats[c][v]
            elif c == "date":
                out[c] = str(np.datetime_as_string(v.view("datetime64[ns]"), unit="us", timezone="UTC"))
            elif c in self._masks and self._masks[c][i]:
                out[c] = None
            else:
                val = v.item()
                out[c] = None if isinstance(val, float) and val != val and FIELDS[c].nullable else val
        return out

    def iter_rows(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[float, dict[str, Any]]]:
        """Yield ``(delay_s, row)`` in chronological order from row ``start``.

        ``delay_s`` is the session-time gap to the previous yielded row (0.0 for the first).
        Rows are made a block at a time; the per-row iteration runs in C (``chain`` over
        ``zip``), with no Python frame per row.
        """
        n = len(self) if stop is None else min(stop, len(self))
        make = _row_maker(self.columns)
        template = dict.fromkeys(self.columns)

        def blocks() -> Iterator[Iterator[tuple[float, dict[str, Any]]]]:
            for b0, b1, delays in self._delay_blocks(start, n):
                yield zip(delays, make(self._block(b0, b1), template), strict=True)

        return chain.from_iterable(blocks())

    def _delay_blocks(self, start: int, n: int) -> Iterator[tuple[int, int, list[float]]]:
        """``(first row, end row, delays)`` of each block of :data:`BLOCK_ROWS` rows from ``start``."""
        t = self._data["session_time"]
        prev = None
        for b0 in range(max(start, 0), n, BLOCK_ROWS):
            b1 = min(b0 + BLOCK_ROWS, n)
            tb = t[b0:b1]
            yield b0, b1, np.diff(tb, prepend=tb[0] if prev is None else prev).tolist()
            prev = tb[-1]

    def iter_tuples(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[float, tuple[Any, ...]]]:
        """Like :meth:`iter_rows` but each row is a tuple in :attr:`columns` order (~4x faster)."""
        n = len(self) if stop is None else min(stop, len(self))
        return chain.from_iterable(
            zip(delays, zip(*self._block(b0, b1), strict=True), strict=True)
            for b0, b1, delays in self._delay_blocks(start, n)
        )

    def iter_batches(self, batch_rows: int = 65536, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Yield dicts of numpy column slices (views, text as decoded object arrays) -- fastest access."""
        t = self._data["session_time"]
        for b0 in range(max(start, 0), len(self), batch_rows):
            b1 = min(b0 + batch_rows, len(self))
            out = {
                c: (self._cats[c][self._data[c][b0:b1]] if c in self._cats else self._data[c][b0:b1])
                for c in self.columns
            }
            out["delay_s"] = np.diff(t[b0:b1], prepend=t[b0 - 1] if b0 > start else t[b0])
            yield out

    # ------------------------------------------------------------------ selection
    def _take(self, idx: np.ndarray) -> ReplayCache:
        data = {c: a[idx] for c, a in self._data.items()}
        masks = {c: m[idx] for c, m in self._masks.items() if m[idx].any()}
        meta = dict(self.meta)
        return ReplayCache(data, masks, self._cats, meta=meta, origin=self.origin)

    def filter(
        self,
        drivers: Iterable[str] | None = None,
        laps: Iterable[int] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> ReplayCache:
        """A new cache with only these drivers / laps / session-time window ``[start, end]``."""
        keep = np.ones(len(self), dtype=bool)
        if drivers is not None:
            want = {d.upper() for d in ([drivers] if isinstance(drivers, str) else drivers)}
            unknown = want - set(self.drivers)
            if unknown:
                raise ValueError(f"unknown drivers {sorted(unknown)}; present: {', '.join(self.drivers)}")
            cats = self._cats["driver"]
            codes = [i for i, c in enumerate(cats) if c in want]
            keep &= np.isin(self._data["driver"], codes)
        if laps is not None:
            lap_list = [laps] if isinstance(laps, int) else list(laps)
            keep &= np.isin(self._data["lap_number"], lap_list)
            if "lap_number" in self._masks:
                keep &= ~self._masks["lap_number"]
        if start is not None:
            keep &= self._data["session_time"] >= start
        if end is not None:
            keep &= self._data["session_time"] <= end
        return self._take(np.flatnonzero(keep))

    def index_of_lap(self, lap: int) -> int:
        """Index of the first row (any driver) of lap ``lap`` -- seek target for a replay."""
        hit = self._data["lap_number"] == lap
        if "lap_number" in self._masks:
            hit &= ~self._masks["lap_number"]
        idx = np.flatnonzero(hit)
        if not len(idx):
            raise ValueError(f"lap {lap} not in the cache; laps {self.laps[:1]}..{self.laps[-1:]}")
        return int(idx[0])

    def index_of_time(self, session_time: float) -> int:
        """Index of the first row at or after ``session_time``."""
        return int(np.searchsorted(self._data["session_time"], session_time, side="left"))

    def index_of_start(self, start: str | StartPoint | None = None) -> int:
        """Row where a replay from ``start`` (see :func:`parse_start`) begins.

        ``race`` is the session's racing start from the metadata (lights out: the start of
        lap 1; the first timed lap in qualifying and practice), else the first row of lap 1,
        else the first row. Raises ``ValueError`` for a lap or time the cache does not have.
        """
        sp = parse_start(start)
        n = len(self)
        if sp.kind == "session":
            return 0
        if sp.kind == "lap":
            return self.index_of_lap(int(sp.value or 1))
        if sp.kind == "time":
            t = self._data["session_time"]
            if not t[0] - 1e-9 <= float(sp.value or 0.0) <= t[-1]:
                raise ValueError(
                    f"replay start {sp}: outside the data's session time "
                    f"{format_session_time(t[0])}-{format_session_time(t[-1])}"
                )
            return self.index_of_time(float(sp.value or 0.0))
        start_t = race_start_time(self.meta)
        if start_t is not None:
            i = self.index_of_time(start_t)
            if i < n:
                return i
        try:
            return self.index_of_lap(1)
        except ValueError:
            return 0

    def frequency(self) -> dict[str, Any]:
        """Measured frequency of the cached rows (see :func:`f1live.frequency.measure_frequency`)."""
        from f1live.frequency import measure_frequency

        return measure_frequency(self.session_time, self.column("driver"))

    def nbytes(self) -> int:
        """Bytes held by the column arrays."""
        return int(sum(a.nbytes for a in self._data.values()) + sum(m.nbytes for m in self._masks.values()))


class _ParquetColumns:
    """Reads one Parquet column at a time, so peak memory is the cache plus one column."""

    def __init__(self, pf: Any) -> None:
        self._pf = pf
        self.column_names = list(pf.schema_arrow.names)
        self.num_rows = pf.metadata.num_rows

    def column(self, name: str) -> Any:
        return self._pf.read(columns=[name]).column(0)


def _time_order(t: np.ndarray, driver_codes: np.ndarray, driver_cats: np.ndarray) -> np.ndarray | None:
    """Permutation sorting by (session_time, driver code), or None when already sorted."""
    names = np.array([str(x) for x in driver_cats], dtype=object)
    rank = np.argsort(np.argsort(names, kind="stable"), kind="stable")[driver_codes]
    dt = np.diff(t)
    if np.all((dt > 0) | ((dt == 0) & (np.diff(rank) > 0))):
        return None
    return np.lexsort((rank, t))


@lru_cache(maxsize=16)
def _row_maker(columns: tuple[str, ...]) -> Callable[[list[list[Any]], dict[str, Any]], list[dict[str, Any]]]:
    """A function turning column blocks into row dicts, specialised for ``columns``.

    Copying a pre-sized template dict and assigning each key is ~2x faster than
    ``dict(zip(columns, values))`` for 28 keys (no incremental resizing); the
    per-row dict is the cost that decides replay throughput.
    """
    args = [f"a{i}" for i in range(len(columns))]
    body = "".join(f"        d[{c!r}] = {a}\n" for c, a in zip(columns, args, strict=True))
    src = (
        f"def make(block, template):\n    out = []\n    app = out.append\n    copy = template.copy\n"
        f"    for {', '.join(args)}, in zip(*block):\n        d = copy()\n{body}        app(d)\n"
        f"    return out\n"
    )
    ns: dict[str, Any] = {}
    exec(compile(src, f"<ReplayCache rows {len(columns)} columns>", "exec"), ns)  # noqa: S102 - generated from field names
    return ns["make"]


__all__: Sequence[str] = ("ReplayCache", "BLOCK_ROWS")
