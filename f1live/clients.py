"""kafka-python client settings for f1live, in one place, per broker kind.

Why these values (measured numbers are in ``docs/streaming.md``):

* Producer: ``acks=all`` + idempotence (no duplicates from retries), retries with
  ``retry_backoff_ms``; ``linger_ms=0`` because at 1x the stream is ~83 msg/s in bursts
  of 20 and batching delay would be pure latency; ``bootstrap_timeout_ms`` short so a
  missing broker is reported in seconds rather than the 30 s default;
  ``delivery_timeout_ms`` bounds how long a record may wait before it is failed (and
  counted) instead of silently retried forever.
* Consumer on Apache Kafka: ``fetch_min_bytes=1`` with a long ``fetch_max_wait_ms``
  is a long poll that returns as soon as one record arrives - lowest latency without
  busy polling.
* Consumer on Tansu: the broker answers a fetch only when the wait runs out, so the
  wait itself is the latency floor: ``fetch_max_wait_ms=10``.
* Group membership: kafka-python 3.0 waits up to the rebalance timeout
  (``max_poll_interval_ms``) for a join on Tansu; ~5-6 s session/poll-interval settings
  make a join take ~3 s there and well under that on Kafka.

>>> consumer_config("tansu")["fetch_max_wait_ms"]
10
>>> producer_config("kafka", linger_ms=5)["linger_ms"]
5
>>> consumer_config("external", fetch_max_wait_ms=50)["fetch_max_wait_ms"]
50
"""

from __future__ import annotations

from typing import Any

#: Broker kinds f1live knows (``external`` = someone else's Kafka: treated like Kafka).
BROKER_KINDS: tuple[str, ...] = ("kafka", "kafka-home", "tansu", "external")

_PRODUCER_COMMON: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "retries": 2**31 - 1,
    "retry_backoff_ms": 100,
    "linger_ms": 0,
    "batch_size": 64 * 1024,
    "max_in_flight_requests_per_connection": 5,
    "request_timeout_ms": 10_000,
    "delivery_timeout_ms": 30_000,
    "max_block_ms": 10_000,
    "bootstrap_timeout_ms": 3_000,
    "reconnect_backoff_max_ms": 1_000,
}

_CONSUMER_COMMON: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "fetch_min_bytes": 1,
    "max_poll_records": 500,
    "request_timeout_ms": 10_000,
    "bootstrap_timeout_ms": 3_000,
    "reconnect_backoff_max_ms": 1_000,
    "session_timeout_ms": 6_000,
    "heartbeat_interval_ms": 1_000,
    "max_poll_interval_ms": 6_000,
}

_CONSUMER_BY_KIND: dict[str, dict[str, Any]] = {
    "kafka": {"fetch_max_wait_ms": 100},
    "kafka-home": {"fetch_max_wait_ms": 100},
    "external": {"fetch_max_wait_ms": 100},
    # Tansu holds every fetch for the full wait: the wait is the latency floor.
    "tansu": {"fetch_max_wait_ms": 10},
}


def _kind(kind: str | None) -> str:
    kind = (kind or "kafka").lower()
    if kind not in BROKER_KINDS:
        raise ValueError(f"unknown broker kind {kind!r}; expected one of {', '.join(BROKER_KINDS)}")
    return kind


def producer_config(kind: str | None = None, **overrides: Any) -> dict[str, Any]:
    """KafkaProducer keyword arguments for a broker of ``kind`` (overrides win)."""
    _kind(kind)
    return {**_PRODUCER_COMMON, **overrides}


def consumer_config(kind: str | None = None, **overrides: Any) -> dict[str, Any]:
    """KafkaConsumer keyword arguments for a broker of ``kind`` (overrides win)."""
    return {**_CONSUMER_COMMON, **_CONSUMER_BY_KIND[_kind(kind)], **overrides}


def resolve_bootstrap(settings: Any, bootstrap_servers: str | None) -> tuple[str | None, str]:
    """(bootstrap servers, broker kind) from an explicit value or the settings.

    ``None`` servers means: nothing configured, the caller should start/find the
    embedded broker (:func:`f1live.broker.start_broker`).
    """
    servers = bootstrap_servers or getattr(settings, "bootstrap_servers", None)
    broker = str(getattr(settings, "broker", "auto") or "auto").lower()
    if broker in BROKER_KINDS and broker != "external":
        return servers, broker
    return servers, "external" if servers else "kafka"


def find_or_start_broker(settings: Any, bootstrap_servers: str | None = None) -> tuple[str, str, Any]:
    """(bootstrap servers, kind, broker this call started or None).

    Order: explicit/configured servers; the broker recorded by ``f1live broker start``
    (if its processes are alive); else :func:`f1live.broker.start_broker` starts the
    embedded one, owned by this interpreter (stop it with ``broker.stop()``).
    """
    servers, kind = resolve_bootstrap(settings, bootstrap_servers)
    if servers:
        return servers, kind, None
    try:
        from f1live.broker.state import live_pids, read_state

        state = read_state(settings)
        if state and live_pids(state):
            return str(state["bootstrap_servers"]), str(state.get("kind", "kafka")), None
    except ImportError:
        pass
    from f1live.broker import start_broker

    broker = start_broker(settings)
    return broker.bootstrap_servers, broker.kind, broker
