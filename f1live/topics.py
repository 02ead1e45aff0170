"""Kafka topics for the pipeline: create idempotently, describe, delete.

Through the client seam's admin (:func:`f1live.clients.make_admin`), so either client
library does it (``client=``: ``confluent`` | ``kafka-python``; default
:func:`f1live.clients.default_client`).

``ensure_topic`` is safe to call on every start: a topic that already exists with the
requested partition count is accepted as is; a different count is an error unless
``recreate=True`` (which deletes it, losing its messages). After creating, the topic is
read back from the broker's metadata until it shows the requested partitions, each
with a leader, so the next producer never races the creation.

>>> pipeline_topic_specs(Settings())
[TopicSpec(name='f1-speed-stream', partitions=4, replication=1), TopicSpec(name='f1-speed-stream.dlq', partitions=1, replication=1), TopicSpec(name='f1-analysis', partitions=4, replication=1)]
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from f1live.broker.base import BrokerError, cluster_metadata
from f1live.clients import Admin, ClientError, TopicExistsError, make_admin
from f1live.config import Settings

log = logging.getLogger(__name__)

#: A broker that does not answer within this many seconds is reported as unreachable.
CONNECT_TIMEOUT_S = 8.0


class TopicError(RuntimeError):
    """A topic is missing, has another shape than asked for, or could not be changed."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int = 1


@dataclass(frozen=True)
class TopicInfo:
    """What the broker reports for a topic (metadata read back, not what was requested)."""

    name: str
    partitions: int
    replication: int
    leaders: dict[int, int] = field(default_factory=dict)  # partition -> leader broker id
    isr: dict[int, list[int]] = field(default_factory=dict)  # partition -> in-sync replicas

    def summary(self) -> str:
        lead = ", ".join(f"p{p}->b{b}" for p, b in sorted(self.leaders.items()))
        return f"{self.name}: {self.partitions} partitions, replication {self.replication}, leaders [{lead}]"


def pipeline_topic_specs(settings: Settings) -> list[TopicSpec]:
    """The telemetry topic, its dead-letter topic, and the analysis topic."""
    r = settings.replication
    return [
        TopicSpec(settings.topic, settings.partitions, r),
        TopicSpec(settings.dlq_topic, 1, r),
        TopicSpec(settings.analysis_topic, settings.partitions, r),
    ]


@contextlib.contextmanager
def admin_client(
    bootstrap_servers: str, timeout: float = CONNECT_TIMEOUT_S, client: str | None = None
) -> Iterator[Admin]:
    """An :class:`f1live.clients.Admin`, after a quiet reachability check (clear error within ``timeout`` s)."""
    try:
        cluster_metadata(bootstrap_servers, timeout=timeout)
    except BrokerError as exc:
        raise ConnectionError(
            f"{exc}. Is a broker running? Start one with `f1live broker start` or set "
            "--bootstrap-servers / F1LIVE_BOOTSTRAP_SERVERS"
        ) from None
    admin = make_admin(bootstrap_servers, client=client, timeout=max(timeout, 5))
    try:
        yield admin
    finally:
        admin.close()


def _describe(admin: Admin, name: str) -> TopicInfo | None:
    parts = admin.describe_topic(name)
    if parts is None:
        return None
    return TopicInfo(
        name=name,
        partitions=len(parts),
        replication=max((len(replicas) for _p, _leader, replicas, _isr in parts), default=0),
        leaders={p: leader for p, leader, _replicas, _isr in parts},
        isr={p: list(isr) for p, _leader, _replicas, isr in parts},
    )


def describe_topic(bootstrap_servers: str, name: str, *, client: str | None = None) -> TopicInfo | None:
    """The topic as the broker's metadata shows it, or ``None`` if it does not exist."""
    with admin_client(bootstrap_servers, client=client) as admin:
        return _describe(admin, name)


def list_topics(bootstrap_servers: str, *, client: str | None = None) -> list[str]:
    """Topic names on the broker (internal ``__*`` topics left out)."""
    with admin_client(bootstrap_servers, client=client) as admin:
        return sorted(t for t in admin.list_topics() if not t.startswith("__"))


def _wait_for(admin: Admin, name: str, *, present: bool, partitions: int | None, timeout: float) -> TopicInfo | None:
    """Poll metadata until the topic is (not) there with ``partitions`` led partitions."""
    deadline = time.monotonic() + timeout
    while True:
        info = _describe(admin, name)
        if not present and info is None:
            return None
        if (
            present
            and info is not None
            and (partitions is None or info.partitions == partitions)
            and all(leader >= 0 for leader in info.leaders.values())
        ):
            return info
        if time.monotonic() > deadline:
            state = "still exists" if not present else f"reads back as {info.summary() if info else 'missing'}"
            raise TopicError(f"topic {name!r} {state} after {timeout:.0f} s")
        time.sleep(0.1)


def delete_topic(bootstrap_servers: str, name: str, *, timeout: float = 30.0, client: str | None = None) -> bool:
    """Delete a topic and wait until metadata no longer shows it. False if it did not exist."""
    with admin_client(bootstrap_servers, client=client) as admin:
        return _delete(admin, name, timeout)


def _delete(admin: Admin, name: str, timeout: float) -> bool:
    if _describe(admin, name) is None:
        return False
    if not admin.delete_topic(name, timeout):
        return False
    _wait_for(admin, name, present=False, partitions=None, timeout=timeout)
    log.info("deleted topic %s", name)
    return True


def ensure_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int,
    replication: int = 1,
    *,
    recreate: bool = False,
    configs: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    client: str | None = None,
) -> TopicInfo:
    """Make sure ``name`` exists with ``partitions`` partitions; return it as read back.

    Raises:
        ValueError: ``partitions`` / ``replication`` < 1.
        TopicError: it exists with another partition count (and not ``recreate``), or
            the broker refused to create it (e.g. replication > number of brokers).
        ConnectionError: no broker answers at ``bootstrap_servers`` (within ~8 s).
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1 for topic {name!r}, got {partitions}")
    if replication < 1:
        raise ValueError(f"replication must be >= 1 for topic {name!r}, got {replication}")
    with admin_client(bootstrap_servers, client=client) as admin:
        existing = _describe(admin, name)
        if existing is not None and existing.partitions != partitions:
            if not recreate:
                raise TopicError(
                    f"topic {name!r} exists with {existing.partitions} partitions, not {partitions}; "
                    "use --recreate (recreate=True) to delete and recreate it (its messages are lost)"
                )
            log.warning("recreating topic %s: %d -> %d partitions", name, existing.partitions, partitions)
            _delete(admin, name, timeout)
            existing = None
        if existing is not None:
            log.info("topic %s already exists (%d partitions)", name, existing.partitions)
            return existing
        try:
            admin.create_topic(name, partitions, replication, configs, timeout)
        except TopicExistsError:
            pass  # created concurrently by someone else: validated below like any other
        except ClientError as exc:
            raise TopicError(
                f"creating topic {name!r} ({partitions} partitions, replication {replication}) "
                f"at {bootstrap_servers} failed: {exc}"
            ) from None
        info = _wait_for(admin, name, present=True, partitions=None, timeout=timeout)
        assert info is not None
        if info.partitions != partitions:
            raise TopicError(
                f"topic {name!r} was created concurrently with {info.partitions} partitions, not {partitions}"
            )
        log.info("created %s", info.summary())
        return info


def ensure_pipeline_topics(settings: Settings, bootstrap_servers: str, *, recreate: bool = False) -> list[TopicInfo]:
    """Create (idempotently) the telemetry, dead-letter and analysis topics (with ``settings.client``)."""
    return [
        ensure_topic(bootstrap_servers, s.name, s.partitions, s.replication, recreate=recreate, client=settings.client)
        for s in pipeline_topic_specs(settings)
    ]
