"""The orjson codec behind f1live.schema gives what the standard-library path gives.

``decode_message`` takes a fast path (orjson + one pass over the fields) and hands every
message it does not certainly accept to ``_decode_reference`` (the standard library, the
checks in schema order). Here both are run on real messages and on thousands of seeded
corruptions of them: same dict (values and Python types), or the same error (reason and
detail). Encoding: the bytes decode to the values ``json`` would have written, and the
producer's spliced bytes equal ``encode_message``'s.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from f1live.schema import (
    ENVELOPE,
    SCHEMA_VERSION,
    TELEMETRY_COLUMNS,
    MessageError,
    _decode_reference,
    decode_message,
    encode_body,
    encode_message,
    frame_message,
)


def _outcome(fn: Any, raw: bytes | None) -> tuple[str, Any]:
    try:
        obj = fn(raw)
    except MessageError as exc:
        return ("error", (exc.reason, exc.detail))
    return ("ok", [(k, type(v).__name__, repr(v)) for k, v in obj.items()])


def _reference(raw: bytes | None) -> dict[str, Any]:
    """What decode_message did before the fast path: size checks, then the stdlib path."""
    if raw is None or len(raw) == 0:
        raise MessageError("empty", "message has no value")
    return _decode_reference(raw)


def _real_messages(cache: Any, n: int) -> list[bytes]:
    step = max(len(cache) // n, 1)
    return [
        frame_message(
            encode_body(cache.row(i)),
            seq=i,
            gseq=i,
            segment=i % 3,
            event_time_ns=int(cache.date_ns[i]),
            produced_at_ns=1_700_000_000_000_000_000 + i,
        )
        for i in range(0, len(cache), step)
    ][:n]


#: Values a corrupted field gets: every JSON type, edge numbers, what orjson reads differently.
_ODD_VALUES = [
    None,
    True,
    False,
    0,
    -0,
    1,
    -1,
    2**63,
    -(2**63) - 1,
    2**64 + 5,
    10**30,
    0.0,
    -0.0,
    1e308,
    5e-324,
    1e16,
    1.5,
    "x",
    "",
    "NaN",
    "\u00e9",
    [],
    [1],
    {},
    {"a": 1},
]
_RAW_TOKENS = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"123456789012345678901234567890",
    b"-9223372036854775809",
    b'"\\ud800"',
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"tru",
    b"nul",
]


def _mutations(raw: bytes, rng: random.Random) -> list[bytes]:
    obj = json.loads(raw)
    keys = list(obj)
    out: list[bytes] = []
    for _ in range(40):
        m = dict(obj)
        k = rng.choice(keys + ["schema_version", "segment", "seq", "lap_number", "extra_field"])
        action = rng.random()
        if action < 0.15:
            m.pop(k, None)
        else:
            m[k] = rng.choice(_ODD_VALUES)
        out.append(json.dumps(m).encode())
        # A raw token spliced in where json.dumps cannot write it.
        tok = rng.choice(_RAW_TOKENS)
        text = json.dumps(dict(obj, **{k: "@@"})).encode()
        out.append(text.replace(b'"@@"', tok))
    out += [
        raw[: rng.randrange(len(raw))],
        raw + b"x",
        b"\xef\xbb\xbf" + raw,
        raw.replace(b"{", b"[", 1),
        raw.decode().encode("utf-16"),
        raw.replace(b'"', b"'"),
        b" " + raw + b"\n",
        b"",
        b"null",
        b"[1,2]",
        raw.replace(b'"driver":"', b'"driver":"\xff'),
    ]
    return out


def test_real_messages_decode_identically(slice_cache: Any) -> None:
    msgs = _real_messages(slice_cache, 600)
    for raw in msgs:
        fast = decode_message(raw)
        ref = _decode_reference(raw)
        assert fast == ref and [type(v) for v in fast.values()] == [type(v) for v in ref.values()]
        assert fast["schema_version"] == SCHEMA_VERSION and set(ENVELOPE) <= set(fast)


def test_corrupted_messages_same_value_or_same_error(slice_cache: Any) -> None:
    rng = random.Random(20)
    outcomes: dict[str, int] = {}
    for raw in _real_messages(slice_cache, 60):
        for bad in _mutations(raw, rng):
            fast, ref = _outcome(decode_message, bad), _outcome(_reference, bad)
            assert fast == ref, bad[:300]
            outcomes[fast[1][0] if fast[0] == "error" else "ok"] = (
                outcomes.get(fast[1][0] if fast[0] == "error" else "ok", 0) + 1
            )
    # The corruptions reach every path, accepted ones included (e.g. a dropped optional field).
    assert {"ok", "json", "type", "missing-field", "non-finite", "schema-version", "not-object", "encoding"} <= set(
        outcomes
    ), outcomes


def test_a_shape_seen_valid_still_checks_what_the_shape_does_not_decide(slice_cache: Any) -> None:
    """The fast path remembers message shapes (keys and value types); the schema version and a
    float's range are values, checked on every message of a shape already accepted."""
    raw = _real_messages(slice_cache, 1)[0]
    assert decode_message(raw)["schema_version"] == SCHEMA_VERSION  # its shape is now known
    obj = json.loads(raw)
    other = json.dumps(dict(obj, schema_version=SCHEMA_VERSION + 1)).encode()
    with pytest.raises(MessageError, match="schema-version"):
        decode_message(other)
    floats = [k for k, v in obj.items() if type(v) is float]
    for huge in (1e19, -3e20):  # floats orjson may have read from integers beyond 64 bits
        big = json.dumps(dict(obj, **{floats[0]: huge})).encode()
        assert _outcome(decode_message, big) == _outcome(_reference, big)
    big_int = json.dumps(obj).replace(f'"{floats[0]}": ', f'"{floats[0]}": 123456789012345678901234567890, "_x": ')
    assert _outcome(decode_message, big_int.encode()) == _outcome(_reference, big_int.encode())


def test_size_and_empty_checks_come_first() -> None:
    with pytest.raises(MessageError, match="empty"):
        decode_message(None)
    with pytest.raises(MessageError, match="oversize"):
        decode_message(b"{" + b" " * 100 + b"}", max_bytes=50)


def test_encoding_writes_the_values_json_would(slice_cache: Any) -> None:
    env = {"seq": 3, "gseq": 7, "segment": 1, "event_time_ns": 11, "produced_at_ns": 13}
    for i in range(0, len(slice_cache), 97):
        row = slice_cache.row(i)
        ours = encode_message(row, envelope=env)
        ref = json.dumps({"schema_version": SCHEMA_VERSION, **env, **row}, separators=(",", ":"))
        assert json.loads(ours) == json.loads(ref)
        assert list(json.loads(ours)) == ["schema_version", *env, *TELEMETRY_COLUMNS]
        assert frame_message(encode_body(row), 3, 7, 1, 11, 13) == ours
    # numpy scalars, NaN / inf and missing values: converted as before (NaN -> null).
    odd = {
        "driver": "VER",
        "speed": np.float32(280.5),
        "gear": np.int16(7),
        "tyre_life": float("nan"),
        "rpm": math.inf,
        "brake": np.bool_(True),
        "lap_number": None,
        "big": 2**70,
    }
    got = json.loads(encode_message(odd, envelope=env))
    assert got["speed"] == 280.5 and got["gear"] == 7 and got["brake"] is True and got["big"] == 2**70
    assert got["tyre_life"] is None and got["rpm"] is None and got["lap_number"] is None
    assert frame_message(encode_body({k: v for k, v in odd.items() if k != "big"}), 3, 7, 1, 11, 13) == encode_message(
        {k: v for k, v in odd.items() if k != "big"}, envelope=env
    )
