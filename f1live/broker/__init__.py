"""Kafka brokers for f1live behind one interface: embedded Apache Kafka, KAFKA_HOME, Tansu, external.

>>> from f1live.config import Settings
>>> resolve_kind(Settings(bootstrap_servers="kafka1:9092"))
'external'
>>> resolve_kind(Settings(broker="tansu"))
'tansu'

Start one (a real process; see docs/broker.md)::

    with start_broker(Settings.from_env()) as broker:
        print(broker.kind, broker.bootstrap_servers, f"{broker.start_seconds:.1f} s")
"""

from __future__ import annotations

import logging
import time

from f1live.broker.base import KINDS, Broker, BrokerError, Node, cluster_metadata
from f1live.broker.jars import fetch_kafka_jars, jars_ready, java_problem, kafka_libs_dir
from f1live.config import Settings

log = logging.getLogger(__name__)

__all__ = [
    "KINDS", "Broker", "BrokerError", "Node", "cluster_metadata", "fetch_kafka_jars",
    "java_problem", "jars_ready", "kafka_libs_dir", "resolve_kind", "start_broker",
]  # fmt: skip

_CHOICES = ("auto", *KINDS)


def resolve_kind(settings: Settings, kind: str | None = None) -> str:
    """Which broker ``auto`` means here (no process started, no network).

    ``auto``: ``bootstrap_servers`` set -> external; ``KAFKA_HOME`` set -> that
    distribution; else embedded Apache Kafka if Java >= 17 is installed; else Tansu
    (with a warning naming what is missing).
    """
    kind = kind or settings.broker or "auto"
    if kind not in _CHOICES:
        raise ValueError(f"broker kind {kind!r} is not one of {', '.join(_CHOICES)}")
    if kind != "auto":
        return kind
    if settings.bootstrap_servers:
        return "external"
    if settings.kafka_home:
        return "kafka-home"
    problem = java_problem()
    if problem is None:
        return "kafka"
    log.warning("embedded Apache Kafka unavailable (%s); falling back to Tansu (memory-only)", problem)
    return "tansu"


def start_broker(
    settings: Settings,
    *,
    kind: str | None = None,
    nodes: int = 1,
    fresh: bool = False,
    port: int | None = None,
    timeout: float | None = None,
    detach: bool = False,
    private: bool = False,
) -> Broker:
    """Start (or, for ``external``, check) a broker and return it once metadata answers.

    Args:
        settings: ``broker``, ``bootstrap_servers``, ``kafka_home``, ``kafka_version``,
            ``broker_heap_mb`` and ``run_dir`` are used.
        kind: ``auto`` | ``kafka`` | ``kafka-home`` | ``tansu`` | ``external``
            (default ``settings.broker``).
        nodes: KRaft nodes (Apache Kafka only); 3 gives replication 3, min ISR 2.
        fresh: wipe this kind's run directory first (topics and messages are lost).
        port: client port of the (first) node; default a free port (last run's if free).
        timeout: seconds to wait for the first metadata answer.
        detach: let the processes outlive this interpreter (``f1live broker start --detach``).
        private: run from a directory of this process's own (``<run_dir>/broker/<kind>-<pid>``)
            instead of the shared ``<run_dir>/broker/<kind>``, so brokers started by several
            processes (notebook kernels) never share files; the caller removes it after stop.

    Raises:
        BrokerError: not startable / not ready in time (the message has the log tail).
    """
    kind = resolve_kind(settings, kind)
    if nodes != 1 and kind not in ("kafka", "kafka-home"):
        raise ValueError(f"--nodes {nodes} needs Apache Kafka (kind kafka or kafka-home), not {kind}")
    if kind == "external":
        if not settings.bootstrap_servers:
            raise BrokerError("broker 'external' needs --bootstrap-servers / F1LIVE_BOOTSTRAP_SERVERS")
        t0 = time.monotonic()
        md = cluster_metadata(settings.bootstrap_servers, timeout=timeout or 8.0)
        log.info("external Kafka at %s answers (%d brokers)", settings.bootstrap_servers, len(md["brokers"]))
        return Broker(kind="external", bootstrap_servers=settings.bootstrap_servers,
                      start_seconds=time.monotonic() - t0, info={"cluster_id": md.get("cluster_id")})  # fmt: skip
    if kind == "tansu":
        from f1live.broker.tansu import start_tansu

        return start_tansu(settings, port=port, timeout=timeout or 20.0, detach=detach, private=private)
    from f1live.broker.kafka import start_kafka

    return start_kafka(
        settings, kind=kind, nodes=nodes, fresh=fresh or private, port=port,
        timeout=timeout or (90.0 if nodes == 1 else 180.0), detach=detach, private=private,
    )  # fmt: skip
