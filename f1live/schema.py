"""The single source of truth for f1live's telemetry fields, dtypes and units.

Every other module (sources, export, cache, messages, features, widgets) spells
field names through this module.  One row of the telemetry table is one car-data
sample of one driver; a Kafka message is that row plus envelope fields.

>>> FIELDS["speed"].unit
'km/h'
>>> "date" in TELEMETRY_COLUMNS and "x" in TELEMETRY_COLUMNS
True
>>> msg = encode_message({"driver": "VER", "speed": 287.0}, envelope={"seq": 1})
>>> json.loads(msg)["speed"]
287.0
"""

from __future__ import annotations

import base64
import json
import math
import operator
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

#: Bumped whenever a field is added, removed or changes meaning/unit.
#: v2: ``position`` and ``track_status`` are as known at the sample's time (no look-ahead),
#: ``pit_in_lap`` (the end of the running lap) is gone, ``total_laps`` and the weather
#: readings (``air_temp``, ``track_temp``, ``rainfall``) were added.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Field:
    """One telemetry column.

    Attributes:
        name: column / JSON key.
        dtype: pandas dtype of the column in the telemetry table.
        unit: physical unit ('' when dimensionless).
        description: meaning, including where it comes from.
        nullable: whether missing values are allowed.
        json_type: Python type(s) accepted in a decoded message (None allowed when nullable).
    """

    name: str
    dtype: str
    unit: str
    description: str
    nullable: bool = False
    json_type: tuple[type, ...] = (float, int)

    @property
    def masked(self) -> bool:
        """Held as numpy values plus a null mask (pandas nullable ``Int*`` / ``boolean``).

        >>> FIELDS["lap_number"].masked, FIELDS["rainfall"].masked, FIELDS["speed"].masked
        (True, True, False)
        """
        return self.dtype[0] == "I" or self.dtype == "boolean"

    @property
    def numpy_dtype(self) -> str:
        """The numpy dtype of the values (``Int16`` -> ``int16``, ``boolean`` -> ``bool``).

        >>> FIELDS["lap_number"].numpy_dtype, FIELDS["rainfall"].numpy_dtype, FIELDS["speed"].numpy_dtype
        ('int16', 'bool', 'float32')
        """
        if self.dtype == "boolean":
            return "bool"
        return self.dtype.lower() if self.dtype[0] == "I" else self.dtype


_NUM = (float, int)

#: Ordered field list of the telemetry table.  Text columns are ``string[pyarrow]``: a full
#: race is ~800k rows and Python-object strings would cost ~50 MB per text column.
TELEMETRY: tuple[Field, ...] = (
    Field(
        "date", "datetime64[ns, UTC]", "UTC", "wall-clock time of the car-data sample (FastF1 `Date`)", json_type=(str,)
    ),
    Field("session_time", "float64", "s", "time since the session's t0 (FastF1 `SessionTime`), the replay clock"),
    Field(
        "driver", "string[pyarrow]", "", "three-letter driver code (FastF1 `Abbreviation`/`Driver`)", json_type=(str,)
    ),
    Field("driver_number", "int16", "", "racing number", json_type=(int,)),
    Field("team", "string[pyarrow]", "", "team name", nullable=True, json_type=(str,)),
    Field(
        "lap_number",
        "Int16",
        "lap",
        "lap the sample belongs to (null before the start / after the flag)",
        nullable=True,
        json_type=(int,),
    ),
    Field("speed", "float32", "km/h", "car speed"),
    Field("rpm", "float32", "1/min", "engine speed"),
    Field("gear", "int16", "", "gear (FastF1 `nGear`, raw: glitches such as 72/128 are kept)", json_type=(int,)),
    Field("throttle", "float32", "%", "throttle pedal 0-100 (raw: sentinel 104 kept)"),
    Field("brake", "bool", "", "brake pedal pressed", json_type=(bool,)),
    Field("drs", "int16", "", "raw DRS code: 0-3 off, 8 eligible, 10/12/14 open", json_type=(int,)),
    Field(
        "compound",
        "string[pyarrow]",
        "",
        "tyre compound of the lap (SOFT/MEDIUM/HARD/INTERMEDIATE/WET)",
        nullable=True,
        json_type=(str,),
    ),
    Field("tyre_life", "float32", "laps", "laps driven on this set of tyres", nullable=True),
    Field("stint", "Int16", "", "stint number", nullable=True, json_type=(int,)),
    Field(
        "total_laps",
        "Int16",
        "lap",
        "scheduled race distance (FastF1 lap count `TotalLaps`; null when unknown)",
        nullable=True,
        json_type=(int,),
    ),
    Field(
        "track_status",
        "string[pyarrow]",
        "",
        "track status in force at the sample's time (FastF1 track-status messages): 1 green, 2 yellow, 4 SC, 5 red, 6 VSC, 7 VSC ending",
        nullable=True,
        json_type=(str,),
    ),
    Field(
        "pit_out_lap",
        "bool",
        "",
        "the sample's lap started from the pit exit (FastF1 `PitOutTime` set)",
        json_type=(bool,),
    ),
    Field("in_pit", "bool", "", "the sample lies between a pit entry and the following pit exit", json_type=(bool,)),
    Field(
        "position",
        "Int16",
        "",
        "race position as of the sample's time: the position at the driver's last completed lap (FastF1 laps `Position`); null before the first lap is completed",
        nullable=True,
        json_type=(int,),
    ),
    Field("lap_distance", "float32", "m", "distance into the lap (integrated speed)", nullable=True),
    Field("lap_fraction", "float32", "", "lap_distance / lap length, 0-1", nullable=True),
    Field("x", "float32", "m", "car X position (FastF1 pos data, or estimated on the circuit outline)", nullable=True),
    Field("y", "float32", "m", "car Y position", nullable=True),
    Field("z", "float32", "m", "car Z position (null when estimated)", nullable=True),
    Field(
        "air_temp",
        "float32",
        "°C",
        "air temperature of the last weather reading at the sample's time (FastF1 weather, about once a minute)",
        nullable=True,
    ),
    Field("track_temp", "float32", "°C", "track temperature of the last weather reading", nullable=True),
    Field(
        "rainfall",
        "boolean",
        "",
        "rain reported by the last weather reading (null without weather data)",
        nullable=True,
        json_type=(bool,),
    ),
    Field(
        "position_estimated",
        "bool",
        "",
        "x/y were estimated from lap_distance on the circuit outline, not measured",
        json_type=(bool,),
    ),
    Field(
        "source",
        "string[pyarrow]",
        "",
        "where the row came from: fastf1 | fastf1-csv | file | simulated",
        json_type=(str,),
    ),
    Field("simulated", "bool", "", "SIMULATED data, not a real session", json_type=(bool,)),
)

FIELDS: dict[str, Field] = {f.name: f for f in TELEMETRY}
TELEMETRY_COLUMNS: tuple[str, ...] = tuple(f.name for f in TELEMETRY)
DTYPES: dict[str, str] = {f.name: f.dtype for f in TELEMETRY}
#: Columns a file must have to be accepted as an f1live export (the rest may be derived).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "date",
    "session_time",
    "driver",
    "speed",
    "rpm",
    "gear",
    "throttle",
    "brake",
    "drs",
)

#: The session's side tables (timing published next to the car data), column -> (dtype, unit,
#: meaning). Times are seconds on the ``session_time`` clock. Laps keep FastF1's column names
#: (``f1live.sources.LAP_COLUMNS``); these three are f1live's own, lower case like the telemetry.
TRACK_STATUS_COLUMNS: dict[str, tuple[str, str, str]] = {
    "session_time": ("float64", "s", "when the status was issued"),
    "status": ("string", "", "FastF1 track-status code: 1 green, 2 yellow, 4 SC, 5 red, 6 VSC, 7 VSC ending"),
    "message": ("string", "", "FastF1's text for the code (AllClear, Yellow, SCDeployed, Red, ...)"),
}
RACE_CONTROL_COLUMNS: dict[str, tuple[str, str, str]] = {
    "session_time": ("float64", "s", "when race control published the message"),
    "category": ("string", "", "Flag | SafetyCar | Drs | CarEvent | Other (FastF1 `Category`)"),
    "flag": ("string", "", "GREEN, YELLOW, DOUBLE YELLOW, RED, BLUE, CHEQUERED, CLEAR, ... (FastF1 `Flag`)"),
    "scope": ("string", "", "Track | Sector | Driver (FastF1 `Scope`)"),
    "sector": ("float64", "", "track sector of a sector-scoped flag"),
    "driver_number": ("float64", "", "racing number the message is about (FastF1 `RacingNumber`)"),
    "lap": ("float64", "lap", "race lap when the message was published"),
    "message": ("string", "", "the message text"),
}
WEATHER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "session_time": ("float64", "s", "time of the weather station reading (about once a minute)"),
    "air_temp": ("float64", "°C", "air temperature"),
    "track_temp": ("float64", "°C", "track surface temperature"),
    "humidity": ("float64", "%", "relative humidity"),
    "pressure": ("float64", "mbar", "air pressure"),
    "rainfall": ("bool", "", "rain falling"),
    "wind_speed": ("float64", "m/s", "wind speed"),
    "wind_direction": ("float64", "°", "wind direction (0-359)"),
}


def side_table(
    df: pd.DataFrame | None, columns: Mapping[str, tuple[str, str, str]], origin: str = "<table>"
) -> pd.DataFrame:
    """``df`` with exactly ``columns`` (absent ones as nulls) in their dtypes, sorted by time.

    >>> side_table(pd.DataFrame({"session_time": [2.0, 1.0], "status": ["1", "2"]}),
    ...            TRACK_STATUS_COLUMNS)["status"].tolist()
    ['2', '1']
    """
    df = pd.DataFrame() if df is None else df
    if len(df) and "session_time" not in df.columns:
        raise ValueError(f"missing column 'session_time' in {origin}; expected {', '.join(columns)}")
    out = {}
    for name, (dtype, _unit, _meaning) in columns.items():
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        try:
            if dtype == "bool":
                col = col.astype("boolean")
            elif dtype == "string":
                col = col.astype("string")
            else:
                col = pd.to_numeric(col, errors="raise").astype(dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {name!r} in {origin} cannot be read as {dtype}: {exc}") from None
        out[name] = col
    return pd.DataFrame(out).sort_values("session_time", kind="stable").reset_index(drop=True)


#: Message envelope fields added by the producer (name -> (json types, unit, meaning)).
ENVELOPE: dict[str, tuple[tuple[type, ...], str, str]] = {
    "schema_version": ((int,), "", "SCHEMA_VERSION of the producer"),
    "seq": ((int,), "", "per-driver sequence number, 0-based, gap-free"),
    "gseq": ((int,), "", "global sequence number over the whole replay"),
    "segment": (
        (int,),
        "",
        "replay segment: 0, then +1 at every seek (state of older segments is stale); optional, 0 when absent",
    ),
    "event_time_ns": ((int,), "ns", "sample time (`date`) as Unix epoch nanoseconds"),
    "produced_at_ns": ((int,), "ns", "wall-clock time the producer sent the message (time.time_ns)"),
}
#: Envelope fields a message may leave out (their default is documented in ``ENVELOPE``).
OPTIONAL_ENVELOPE: frozenset[str] = frozenset({"segment"})
MESSAGE_FIELDS: tuple[str, ...] = tuple(ENVELOPE) + TELEMETRY_COLUMNS

#: Kafka header naming the producer run (consumers de-duplicate per run and driver).
RUN_HEADER = "f1live-run"
#: Header on dead-letter records: why the original was rejected (a ``MessageError`` reason).
DLQ_REASON_HEADER = "f1live-dlq-reason"
#: Header on dead-letter records: ``topic/partition/offset`` of the original.
DLQ_SOURCE_HEADER = "f1live-source"


#: The envelope's bytes, in :data:`ENVELOPE` order, in front of a row's JSON body (see
#: :func:`frame_message`): the producer splices the numbers in at send time.
_ENVELOPE_TEMPLATE = ("{" + ",".join(f'"{name}":%d' for name in ENVELOPE) + ",").encode() + b"%s"
_BODY_START = len(b'{"schema_version":%d,' % SCHEMA_VERSION)


def encode_body(row: Mapping[str, Any]) -> bytes:
    """A row's JSON without its opening brace: what :func:`frame_message` puts after the envelope.

    Rows from :class:`f1live.cache.ReplayCache` are plain JSON values already (the fast
    path); numpy scalars, Timestamps and ``pd.NA`` go through :func:`encode_message`'s
    conversion, which gives the same bytes for plain values.

    >>> encode_body({"driver": "VER", "speed": 280.0})
    b'"driver":"VER","speed":280.0}'
    """
    try:
        return dumps(row)[1:]
    except TypeError:
        return encode_message(row)[_BODY_START:]


def frame_message(body: bytes, seq: int, gseq: int, segment: int, event_time_ns: int, produced_at_ns: int) -> bytes:
    """One message: the :data:`ENVELOPE` numbers, then the row ``body`` of :func:`encode_body`.

    The same bytes as :func:`encode_message` with that envelope:

    >>> env = {"seq": 3, "gseq": 7, "segment": 0, "event_time_ns": 11, "produced_at_ns": 13}
    >>> row = {"driver": "VER", "speed": 280.0, "lap_number": None}
    >>> frame_message(encode_body(row), 3, 7, 0, 11, 13) == encode_message(row, envelope=env)
    True
    >>> import numpy as np
    >>> row = {"driver": "VER", "speed": np.float32(280.5), "tyre_life": float("nan")}
    >>> frame_message(encode_body(row), 3, 7, 0, 11, 13) == encode_message(row, envelope=env)
    True
    """
    return _ENVELOPE_TEMPLATE % (SCHEMA_VERSION, seq, gseq, segment, event_time_ns, produced_at_ns, body)


def dlq_record(
    reason: str,
    detail: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int | None = None,
    group_id: str | None = None,
) -> bytes:
    """The JSON body written to the dead-letter topic for one rejected record (its headers:
    :data:`DLQ_REASON_HEADER`, :data:`DLQ_SOURCE_HEADER`, and the original's :data:`RUN_HEADER`).

    >>> import base64
    >>> body = json.loads(dlq_record("json", "Expecting value", "t", 2, 41, b"VER", b"{oops"))
    >>> body["reason"], body["partition"], body["offset"], base64.b64decode(body["value_b64"])
    ('json', 2, 41, b'{oops')
    """
    return dumps(
        {
            "reason": reason,
            "detail": detail,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp_ms": timestamp_ms,
            "key": key.decode("utf-8", "replace") if key is not None else None,
            "value_b64": base64.b64encode(value or b"").decode("ascii"),
            "value_bytes": len(value or b""),
            "group_id": group_id,
            "detected_at_ns": time.time_ns(),
        }
    )


# --------------------------------------------------------------------------- analysis results
@dataclass(frozen=True)
class ResultField:
    """One field of an analysis result (what :class:`f1live.analysis.AnalyticsProcessor`
    returns per message, published to ``Settings.analysis_topic``).

    Attributes:
        kind: ``"bool"``, ``"float"`` or ``"str"`` (``str`` fields are None when not set).
        unit: unit or range (``"0-1"``).
        description: what it means.
        history: kept in the live state's per-driver history (:data:`HISTORY_FIELDS`).
        label: display name for the page (the model scores).
    """

    kind: str
    unit: str
    description: str
    history: bool = False
    label: str = ""


#: The model scores (the seed's model files: ``models/<name>_model.pkl``).
MODEL_SCORES: tuple[str, ...] = ("pit_stop_probability", "crash_risk", "tire_failure")

#: The analysis result of one message: field -> :class:`ResultField`.
ANALYSIS_FIELDS: dict[str, ResultField] = {
    "anomaly": ResultField("bool", "", "an anomaly (River residual and/or a rule)", history=True),
    "anomaly_score": ResultField("float", "0-1", "how far past its alarm line", history=True),
    "anomaly_type": ResultField("str", "", "spike, drift, stuck, noise, dropout, out_of_range, ..."),
    "anomaly_reason": ResultField("str", "", "one readable sentence"),
    "anomaly_source": ResultField("str", "", '"river", "rule" or "river+rule"'),
    "quality": ResultField("str", "", "data-quality note (throttle_sentinel, gear_code, not_racing)"),
    "quality_reason": ResultField("str", "", "the note in words"),
    "pit_stop_probability": ResultField(
        "float", "0-1", "the driver's real pit entry within 60 s", history=True, label="Pit-stop probability"
    ),
    "crash_risk": ResultField(
        "float", "0-1", "an incident (flag period, retirement) within 60 s", history=True, label="Crash / incident risk"
    ),
    "tire_failure": ResultField("float", "0-1", "tyre-degradation proxy", history=True, label="Tyre risk (proxy)"),
    **{f"{name}_alert": ResultField("bool", "", f"{name} at or above its saved threshold") for name in MODEL_SCORES},
}

#: Telemetry fields of the per-driver history, then the analysis fields marked ``history``,
#: then the message's end-to-end latency: the order of each history tuple of
#: :class:`f1live.state.LiveState`.
HISTORY_TELEMETRY: tuple[str, ...] = ("session_time", "speed", "rpm", "gear", "throttle", "brake")
HISTORY_ANALYSIS: tuple[str, ...] = tuple(k for k, f in ANALYSIS_FIELDS.items() if f.history)
HISTORY_FIELDS: tuple[str, ...] = HISTORY_TELEMETRY + HISTORY_ANALYSIS + ("e2e_ms",)


class MessageError(ValueError):
    """A Kafka message that does not satisfy the schema; ``reason`` is short and stable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def empty_frame() -> pd.DataFrame:
    """An empty telemetry table with the schema's columns and dtypes."""
    return pd.DataFrame({f.name: pd.Series(dtype=f.dtype) for f in TELEMETRY})


def missing_columns(columns: Iterable[str], required: Iterable[str] = REQUIRED_COLUMNS) -> list[str]:
    """Required columns not present in ``columns`` (in schema order).

    >>> missing_columns(["date", "speed"])[:3]
    ['session_time', 'driver', 'rpm']
    """
    have = set(columns)
    return [c for c in required if c not in have]


def coerce_frame(df: pd.DataFrame, origin: str = "<frame>") -> pd.DataFrame:
    """Return ``df`` with exactly the schema's columns (in order) and dtypes.

    Optional columns that are absent are added as nulls/defaults; required ones must
    exist. Raises ``ValueError`` naming ``origin`` and the offending columns.
    """
    miss = missing_columns(df.columns)
    if miss:
        raise ValueError(f"missing columns {miss} in {origin}; expected the f1live telemetry schema v{SCHEMA_VERSION}")
    out = {}
    n = len(df)
    for f in TELEMETRY:
        if f.name in df.columns:
            col = df[f.name]
        elif f.dtype == "bool":
            col = pd.Series(np.zeros(n, dtype=bool), index=df.index)
        elif f.name == "source":
            col = pd.Series(["file"] * n, index=df.index)
        else:
            col = pd.Series([None] * n, index=df.index)
        try:
            if f.dtype.startswith("datetime64"):
                col = (
                    pd.to_datetime(col, utc=True, format="ISO8601")
                    if col.dtype == object
                    else pd.to_datetime(col, utc=True)
                )
                col = col.astype(f.dtype)
            elif f.dtype == "bool":
                col = col.fillna(False).astype(bool) if col.dtype == object else col.astype(bool)
            else:
                col = col.astype(f.dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"column {f.name!r} in {origin} cannot be read as {f.dtype} ({f.unit or 'no unit'}): {exc}"
            ) from None
        out[f.name] = col
    return pd.DataFrame(out, index=df.index)


# --------------------------------------------------------------------------- messages
def check_timestamps(col: pd.Series, name: str, origin: str) -> None:
    """Raise a clear error naming ``origin`` and the column for NaN/NaT or unparseable
    timestamps in ``col`` (``date``: ISO-8601 UTC; any other name: seconds as numbers).

    >>> check_timestamps(pd.Series([0.0, 0.24]), "session_time", "a.csv")
    >>> check_timestamps(pd.Series([0.0, None]), "session_time", "a.csv")
    Traceback (most recent call last):
    ...
    ValueError: 1 missing session_time timestamps in a.csv; first at row 1: missing (NaN/NaT); expected seconds as numbers
    """
    if name == "date":
        parsed = (
            pd.to_datetime(col, utc=True, errors="coerce", format="ISO8601")
            if col.dtype == object
            else pd.to_datetime(col, utc=True, errors="coerce")
        )
    else:
        parsed = pd.to_numeric(col, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raw = col.iloc[first]
        what = "missing (NaN/NaT)" if pd.isna(raw) else f"unparseable ({raw!r})"
        raise ValueError(
            f"{int(bad.sum())} {what.split(' ')[0]} {name} timestamps in {origin}; "
            f"first at row {first}: {what}; expected "
            f"{'ISO-8601 UTC dates' if name == 'date' else 'seconds as numbers'}"
        )


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON of plain Python values (orjson; NaN/inf as ``null``).

    Raises ``TypeError`` for anything else (numpy scalars, Timestamps, ``pd.NA``): convert
    those with :func:`encode_message`, which gives the same bytes for plain values.

    >>> dumps({"driver": "VER", "speed": 287.0, "lap_number": None, "tyre_life": float("nan")})
    b'{"driver":"VER","speed":287.0,"lap_number":null,"tyre_life":null}'
    """
    return orjson.dumps(obj)


def encode_message(row: Mapping[str, Any], envelope: Mapping[str, Any] | None = None) -> bytes:
    """Encode one telemetry row (+ envelope fields) as compact UTF-8 JSON.

    Missing values (NaN, NA, NaT) become ``null``; numpy scalars become Python ones.
    """
    payload: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    if envelope:
        payload.update({k: _jsonable(v) for k, v in envelope.items()})
    for k, v in row.items():
        payload[k] = _jsonable(v)
    try:
        return orjson.dumps(payload)
    except TypeError:  # e.g. an integer beyond 64 bits: the standard library writes any int
        return json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


def decode_message(raw: bytes | None, max_bytes: int = 64 * 1024) -> dict[str, Any]:
    """Decode and validate one message; raise :class:`MessageError` with a reason.

    Reasons: ``oversize``, ``empty``, ``encoding``, ``json``, ``not-object``,
    ``schema-version``, ``missing-field``, ``type``, ``non-finite``.

    >>> ok = encode_message({"date": "2023-05-28T13:00:00+00:00", "session_time": 1.0,
    ...     "driver": "VER", "driver_number": 1, "speed": 1.0, "rpm": 1.0, "gear": 1,
    ...     "throttle": 1.0, "brake": False, "drs": 0, "source": "file", "simulated": False},
    ...     envelope={"seq": 0, "gseq": 0, "event_time_ns": 0, "produced_at_ns": 0})
    >>> decode_message(ok)["driver"]
    'VER'
    >>> decode_message(b"{not json")
    Traceback (most recent call last):
    ...
    f1live.schema.MessageError: json: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)
    """
    if raw is None or len(raw) == 0:
        raise MessageError("empty", "message has no value")
    if len(raw) > max_bytes:
        raise MessageError("oversize", f"{len(raw)} bytes > limit {max_bytes}")
    # Fast path: orjson, then one pass over the fields. Anything it does not accept, or
    # might read differently from the standard library (integers beyond 64 bits come back
    # as floats, nested values are not checked), goes through the reference path below,
    # which decides the result and the error: same values, same reasons, same details.
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    if type(obj) is dict and _valid_fast(obj):
        return obj
    return _decode_reference(raw)


def _decode_reference(raw: bytes) -> dict[str, Any]:
    """The standard-library decode and the field checks in schema order (first error raised)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError("encoding", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except MessageError:
        raise
    except json.JSONDecodeError as exc:
        raise MessageError("json", str(exc)) from None
    if not isinstance(obj, dict):
        raise MessageError("not-object", f"expected a JSON object, got {type(obj).__name__}")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MessageError("schema-version", f"schema_version={version!r}, expected {SCHEMA_VERSION}")
    for name, (types, _unit, _meaning) in ENVELOPE.items():
        if name in OPTIONAL_ENVELOPE and name not in obj:
            continue
        _check(obj, name, types, nullable=False)
    for f in TELEMETRY:
        if f.name in REQUIRED_COLUMNS or f.name in obj:
            _check(obj, f.name, f.json_type, nullable=f.nullable and f.name not in REQUIRED_COLUMNS)
    return obj


def _fast_checks() -> tuple[tuple[str, frozenset[type], bool, bool], ...]:
    """(name, exact types accepted, may be null, may be absent) per field, in schema order."""
    out = []
    for name, (types, _unit, _meaning) in ENVELOPE.items():
        out.append((name, frozenset(types), False, name in OPTIONAL_ENVELOPE))
    for f in TELEMETRY:
        required = f.name in REQUIRED_COLUMNS
        out.append((f.name, frozenset(f.json_type), f.nullable and not required, not required))
    return tuple(out)


_FAST_CHECKS = _fast_checks()
_SCALARS = frozenset({str, int, float, bool, type(None)})
#: Floats this large may be integers orjson read as floats (beyond 64 bits): reference path.
_INT64_EDGE = 9.2e18


def _valid_fast(obj: dict[str, Any]) -> bool:
    """True when ``obj`` certainly passes the checks of :func:`_decode_reference` unchanged.

    JSON decoding yields exact types only (``bool`` is never an ``int`` here), so exact type
    membership is the reference's ``isinstance`` test. ``False`` means: let the reference decide.
    A message's shape (its keys in order and their values' types) decides every check but
    the floats' range; one producer sends a handful of shapes, so each is checked once
    (:func:`_shape_valid`) and remembered, and only the floats are looked at per message.
    """
    if obj.get("schema_version") != SCHEMA_VERSION:
        return False
    vals = tuple(obj.values())
    shape = (tuple(obj), tuple(map(type, vals)))
    floats = _SHAPES.get(shape)
    if floats is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        floats = _SHAPES[shape] = _shape_valid(obj, shape[1])
    if floats is False:
        return False
    if floats is True:
        return True
    return max(map(abs, floats(vals))) < _INT64_EDGE  # orjson reads no NaN or infinity


#: Picks a message's float values out of its values (see :func:`_pick`).
_FloatPick = Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _pick(idx: tuple[int, ...]) -> _FloatPick:
    """A function returning the values at ``idx`` (always a tuple)."""
    if len(idx) == 1:
        i = idx[0]
        return lambda vals: (vals[i],)
    return operator.itemgetter(*idx)


def _shape_valid(obj: dict[str, Any], types: tuple[type, ...]) -> _FloatPick | bool:
    """The checks of :func:`_valid_fast` that depend on the shape only: ``False`` (let the
    reference decide), ``True`` (valid, no floats) or the floats' positions to range-check."""
    if type(obj["schema_version"]) is not int:  # its value is checked per message
        return False
    if any(t not in _SCALARS for t in types):
        return False
    missing = _MISSING
    for name, accepted, nullable, optional in _FAST_CHECKS:
        v = obj.get(name, missing)
        if v is missing:
            if optional:
                continue
            return False
        if v is None:
            if nullable:
                continue
            return False
        if type(v) not in accepted:
            return False
    idx = tuple(i for i, t in enumerate(types) if t is float)
    return _pick(idx) if idx else True


#: Shapes seen -> :func:`_shape_valid`'s answer (cleared when it holds :data:`_MAX_SHAPES`).
_SHAPES: dict[tuple[tuple[str, ...], tuple[type, ...]], _FloatPick | bool] = {}
_MAX_SHAPES = 1024


_MISSING = object()


def _reject_constant(name: str) -> Any:
    raise MessageError("non-finite", f"{name} is not allowed")


def _check(obj: Mapping[str, Any], name: str, types: tuple[type, ...], nullable: bool) -> None:
    if name not in obj:
        raise MessageError("missing-field", name)
    value = obj[name]
    if value is None:
        if nullable:
            return
        raise MessageError("missing-field", f"{name} is null")
    if isinstance(value, bool) and bool not in types:
        raise MessageError("type", f"{name}={value!r}: expected {'/'.join(t.__name__ for t in types)}")
    if not isinstance(value, types):
        raise MessageError("type", f"{name}={value!r}: expected {'/'.join(t.__name__ for t in types)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise MessageError("non-finite", f"{name}={value!r}")
