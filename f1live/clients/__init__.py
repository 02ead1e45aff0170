"""The one Kafka client seam: producer, consumer and admin for kafka-python and confluent-kafka.

Every f1live component that talks to Kafka gets its client here::

    from f1live.clients import make_admin, make_consumer, make_producer

    prod = make_producer("127.0.0.1:9092", client=settings.client, kind="kafka")
    prod.send("f1-speed-stream", b"{...}", key=b"VER", on_delivery=lambda err: ...)
    cons = make_consumer("127.0.0.1:9092", client="kafka-python", group_id="f1live")
    cons.subscribe("f1-speed-stream"); records = cons.poll(0.1)

The objects follow :mod:`f1live.clients.base` (``Producer``, ``Consumer``, ``Admin``), so
the producer, consumer, topics and DLQ code is the same for both libraries, and so are the
bytes on the wire: the same message values, keys, headers and key -> partition mapping
(confluent-kafka is set to the murmur2 partitioner of kafka-python and the Java client).

Which client: ``Settings.client`` (env ``F1LIVE_CLIENT``, CLI ``--client``):

* ``confluent``: confluent-kafka (librdkafka, C). The default when it is installed:
  measured on this project's 2-core machine it halves the client's share of the
  end-to-end latency and costs a few µs per message instead of tens
  (``docs/streaming.md`` has the table).
* ``kafka-python``: pure Python, the seed design's client; always installed.
* ``auto`` (default value): ``confluent`` if importable, else ``kafka-python``.

Settings, written once in kafka-python's names (the adapters translate them for librdkafka;
measured reasons in ``docs/streaming.md``):

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
  wait itself is the latency floor: ``fetch_max_wait_ms=10`` (librdkafka's
  ``fetch.wait.max.ms`` likewise).
* Group membership: kafka-python 3.0 waits up to the rebalance timeout
  (``max_poll_interval_ms``) for a join on Tansu; ~5-6 s session/poll-interval settings
  make a join take ~3 s there and well under that on Kafka.

>>> consumer_config("tansu")["fetch_max_wait_ms"]
10
>>> producer_config("kafka", linger_ms=5)["linger_ms"]
5
>>> consumer_config("external", fetch_max_wait_ms=50)["fetch_max_wait_ms"]
50
>>> resolve_client("kafka_python"), resolve_client("confluent-kafka")
('kafka-python', 'confluent')
>>> resolve_client("auto") in CLIENTS
True
"""

from __future__ import annotations

import importlib.util
from typing import Any

from f1live.clients.base import (
    Admin,
    AssignCallback,
    ClientError,
    Consumer,
    DeliveryCallback,
    Producer,
    Record,
    RevokeCallback,
    TopicExistsError,
    UnknownTopicError,
    unreachable,
)

__all__ = [
    "BROKER_KINDS",
    "CLIENTS",
    "Admin",
    "AssignCallback",
    "ClientError",
    "Consumer",
    "DeliveryCallback",
    "Producer",
    "Record",
    "RevokeCallback",
    "TopicExistsError",
    "UnknownTopicError",
    "consumer_config",
    "default_client",
    "find_or_start_broker",
    "make_admin",
    "make_consumer",
    "make_producer",
    "producer_config",
    "resolve_bootstrap",
    "resolve_client",
    "unreachable",
]

#: Broker kinds f1live knows (``external`` = someone else's Kafka: treated like Kafka).
BROKER_KINDS: tuple[str, ...] = ("kafka", "kafka-home", "tansu", "external")

#: Client libraries behind the seam (``Settings.client``; ``auto`` picks the first installed).
CLIENTS: tuple[str, ...] = ("confluent", "kafka-python")

_ALIASES = {
    "confluent": "confluent",
    "confluent-kafka": "confluent",
    "confluent_kafka": "confluent",
    "librdkafka": "confluent",
    "kafka-python": "kafka-python",
    "kafka_python": "kafka-python",
    "kafkapython": "kafka-python",
    "kafka": "kafka-python",
}

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


def default_client() -> str:
    """``confluent`` when confluent-kafka is importable, else ``kafka-python``."""
    return "confluent" if importlib.util.find_spec("confluent_kafka") is not None else "kafka-python"


def resolve_client(name: str | None = None) -> str:
    """The client library for ``name`` (``None`` / ``auto`` -> :func:`default_client`).

    Raises ``ValueError`` for an unknown name, and ``ImportError`` naming the package to
    install when ``confluent`` is asked for but not installed.
    """
    key = (name or "auto").strip().lower()
    if key == "auto":
        return default_client()
    if key not in _ALIASES:
        raise ValueError(f"unknown Kafka client {name!r}; expected auto, {' or '.join(CLIENTS)}")
    client = _ALIASES[key]
    if client == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
        raise ImportError(
            "the confluent Kafka client needs the confluent-kafka package "
            "(pip install confluent-kafka), or use --client kafka-python"
        )
    return client


def producer_config(kind: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Producer settings for a broker of ``kind``, in kafka-python's names (overrides win)."""
    _kind(kind)
    return {**_PRODUCER_COMMON, **overrides}


def consumer_config(kind: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Consumer settings for a broker of ``kind``, in kafka-python's names (overrides win)."""
    return {**_CONSUMER_COMMON, **_CONSUMER_BY_KIND[_kind(kind)], **overrides}


def make_producer(
    bootstrap_servers: str, *, client: str | None = None, kind: str | None = None, **overrides: Any
) -> Producer:
    """A connected :class:`~f1live.clients.base.Producer` (``ConnectionError`` within ~3 s if no broker).

    ``overrides`` use kafka-python's names (``linger_ms=2``); with confluent, librdkafka's
    own dotted names (``"linger.ms"``) are accepted too.
    """
    cfg = producer_config(kind, **overrides)
    if resolve_client(client) == "confluent":
        from f1live.clients.confluent import ConfluentProducer

        return ConfluentProducer(bootstrap_servers, cfg)
    from f1live.clients.kafka_python import KafkaPythonProducer

    return KafkaPythonProducer(bootstrap_servers, cfg)


def make_consumer(
    bootstrap_servers: str,
    *,
    client: str | None = None,
    kind: str | None = None,
    group_id: str | None = None,
    **overrides: Any,
) -> Consumer:
    """A connected :class:`~f1live.clients.base.Consumer`; ``group_id`` ``None``/``""``: no group
    (manual assignment only, nothing committed)."""
    cfg = consumer_config(kind, **overrides)
    if resolve_client(client) == "confluent":
        from f1live.clients.confluent import ConfluentConsumer

        return ConfluentConsumer(bootstrap_servers, cfg, group_id or None)
    from f1live.clients.kafka_python import KafkaPythonConsumer

    return KafkaPythonConsumer(bootstrap_servers, cfg, group_id or None)


def make_admin(bootstrap_servers: str, *, client: str | None = None, timeout: float = 8.0) -> Admin:
    """An :class:`~f1live.clients.base.Admin` (``timeout``: seconds per request)."""
    if resolve_client(client) == "confluent":
        from f1live.clients.confluent import ConfluentAdmin

        return ConfluentAdmin(bootstrap_servers, timeout)
    from f1live.clients.kafka_python import KafkaPythonAdmin

    return KafkaPythonAdmin(bootstrap_servers, timeout)


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
    from f1live.broker.state import live_pids, read_state

    state = read_state(settings)
    if state and live_pids(state):
        return str(state["bootstrap_servers"]), str(state.get("kind", "kafka")), None
    from f1live.broker import start_broker

    broker = start_broker(settings)
    return broker.bootstrap_servers, broker.kind, broker
