"""kafka-python behind the seam (:mod:`f1live.clients.base`): pure Python, the seed's client.

``crc32c`` (a dependency) keeps its record-batch checksums in C; without it every 1x
burst costs ~19 ms of pure-Python CRC (``docs/streaming.md``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import AsyncConsumerRebalanceListener

from f1live.clients.base import (
    AssignCallback,
    ClientError,
    DeliveryCallback,
    Headers,
    RevokeCallback,
    TopicExistsError,
    UnknownTopicError,
    unreachable,
)

log = logging.getLogger(__name__)


def _check_names(cfg: Mapping[str, Any]) -> None:
    dotted = [k for k in cfg if "." in k]
    if dotted:
        raise ValueError(
            f"{dotted}: librdkafka setting names; kafka-python takes names like linger_ms (or use --client confluent)"
        )


def _ok(callback: DeliveryCallback, _metadata: Any) -> None:
    callback(None)


class KafkaPythonProducer:
    """``KafkaProducer`` with f1live's settings; connects in ``__init__`` (the factory is the start)."""

    name = "kafka-python"

    def __init__(self, bootstrap_servers: str, cfg: Mapping[str, Any]) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError, KafkaTimeoutError

        _check_names(cfg)
        self.bootstrap_servers = bootstrap_servers
        try:
            self._p: Any = KafkaProducer(bootstrap_servers=bootstrap_servers, **cfg)
        except KafkaTimeoutError:
            raise unreachable(bootstrap_servers, cfg.get("bootstrap_timeout_ms", 3000) / 1000) from None
        except KafkaError as exc:
            raise ConnectionError(f"cannot connect a Kafka producer to {bootstrap_servers}: {exc}") from exc

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        fut = self._p.send(topic, value=value, key=key, headers=list(headers) if headers else None, partition=partition)
        if on_delivery is not None:
            fut.add_callback(_ok, on_delivery)
            fut.add_errback(on_delivery)

    def flush(self, timeout: float | None = None) -> None:
        from kafka.errors import KafkaTimeoutError

        try:
            self._p.flush(timeout=timeout)
        except KafkaTimeoutError as exc:
            raise TimeoutError(str(exc)) from None

    def partitions_for(self, topic: str) -> set[int]:
        return set(self._p.partitions_for(topic) or ())

    def close(self, timeout: float = 10.0) -> None:
        if self._p is not None:
            p, self._p = self._p, None
            p.close(timeout=timeout)


class KafkaPythonConsumer:
    """``KafkaConsumer`` with f1live's settings; :meth:`poll` flattens its per-partition dict."""

    name = "kafka-python"

    def __init__(self, bootstrap_servers: str, cfg: Mapping[str, Any], group_id: str | None) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError, KafkaTimeoutError

        _check_names(cfg)
        cfg = dict(cfg)
        self._max_records = int(cfg.pop("max_poll_records", 500))
        try:
            self._c: Any = KafkaConsumer(
                bootstrap_servers=bootstrap_servers, group_id=group_id, max_poll_records=self._max_records, **cfg
            )
        except KafkaTimeoutError:
            raise unreachable(bootstrap_servers, cfg.get("bootstrap_timeout_ms", 3000) / 1000) from None
        except KafkaError as exc:
            raise ConnectionError(f"cannot connect a Kafka consumer to {bootstrap_servers}: {exc}") from exc
        self._tps: dict[tuple[str, int], Any] = {}
        self._rebalance: _Rebalance | None = None
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        self._transient = (KafkaConnectionError, KafkaTimeoutError)

    def _tp(self, topic: str, partition: int) -> Any:
        tp = self._tps.get((topic, partition))
        if tp is None:
            from kafka import TopicPartition

            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        return tp

    def subscribe(
        self, topic: str, on_assign: AssignCallback | None = None, on_revoke: RevokeCallback | None = None
    ) -> None:
        """Join the group; with callbacks, a rebalance listener runs them (see :class:`_Rebalance`)."""
        # Know the topic's partitions before joining: kafka-python 3.0's group leader assigns
        # from its metadata cache, and a topic missing there ("No partition metadata for topic")
        # gets no partitions until a refresh minutes later (seen with just-created topics).
        deadline = time.monotonic() + 5.0
        while not self._c.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.1)
        if on_assign is None and on_revoke is None:
            self._c.subscribe([topic])
            return
        self._rebalance = _Rebalance(self._c, topic, on_assign, on_revoke)
        self._c.subscribe([topic], listener=self._rebalance)

    def assign(self, topic: str, partitions: Sequence[int], offsets: Mapping[int, int] | None = None) -> None:
        self._c.assign([self._tp(topic, p) for p in partitions])
        for p, off in (offsets or {}).items():
            self._c.seek(self._tp(topic, p), int(off))

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        ends = self._c.end_offsets([self._tp(topic, p) for p in partitions])
        return {tp.partition: int(off) for tp, off in ends.items()}

    def poll(self, timeout_s: float, max_records: int = 500) -> list[Any]:
        try:
            batch = self._c.poll(timeout_ms=max(int(timeout_s * 1000), 0), max_records=max_records)
        except self._transient as exc:
            # The broker is down or restarting: kafka-python 3.0 can raise from poll (with a
            # short timeout, while it looks for the group coordinator). Nothing to read now;
            # the caller polls again, as librdkafka's consumer does by itself.
            log.debug("poll: %s", exc)
            time.sleep(max(timeout_s, 0.05))
            return []
        records = [r for recs in batch.values() for r in recs] if len(batch) != 1 else next(iter(batch.values()))
        if self._rebalance is not None and self._rebalance.pending:
            records = self._rebalance.assigned_now(records)
        return records

    def assignment(self) -> list[int]:
        return sorted(tp.partition for tp in self._c.assignment())

    def highwater(self, topic: str, partition: int) -> int | None:
        mark: int | None = self._c.highwater(self._tp(topic, partition))
        return mark

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None, *, asynchronous: bool = False) -> None:
        if offsets is None:
            if asynchronous:
                self._c.commit_async()
            else:
                self._c.commit()
            return
        from kafka.structs import OffsetAndMetadata

        om = {self._tp(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}
        if asynchronous:
            self._c.commit_async(om)
        else:
            self._c.commit(om)

    def close(self) -> None:
        if self._c is not None:
            c, self._c = self._c, None
            c.close()


class _Rebalance(AsyncConsumerRebalanceListener):
    """The group callbacks for kafka-python 3.0, whose listeners run on its IO thread.

    A listener there must not block on the consumer it serves (``net.run`` from the IO
    thread raises), so: revocation runs the callback inline (it only touches *other*
    clients: flushes) and awaits the asynchronous commit of the offsets it returns, before
    the rebalance goes on; an assignment is only recorded here and handed to the callback
    by :meth:`assigned_now` in the polling thread, right after the poll that saw it -
    where asking for committed offsets and seeking are allowed - before any record of
    those partitions leaves the adapter.
    """

    def __init__(
        self, consumer: Any, topic: str, on_assign: AssignCallback | None, on_revoke: RevokeCallback | None
    ) -> None:
        self._c = consumer
        self.topic = topic
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self.pending: set[int] = set()

    def _parts(self, tps: Any) -> list[int]:
        return sorted(tp.partition for tp in tps if tp.topic == self.topic)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        parts = self._parts(revoked)
        self.pending.difference_update(parts)
        offsets = self._on_revoke(parts, False) if self._on_revoke is not None and parts else None
        if offsets:
            from kafka import TopicPartition
            from kafka.structs import OffsetAndMetadata

            om = {TopicPartition(self.topic, p): OffsetAndMetadata(int(o), "", -1) for p, o in offsets.items()}
            # Queued here, sent before the re-join completes (awaiting it in this listener left
            # the following SyncGroup hanging in 1 of 3-5 rebalances with kafka-python 3.0.12).
            # Should the broker refuse it (a one-member group re-joins at once), nothing is lost:
            # the checkpoint written by ``on_revoke`` is at these offsets, and the next owner
            # starts there (f1live.handover).
            self._c.commit_async(om, callback=self._committed)

    def _committed(self, offsets: Any, response: Any) -> None:
        if isinstance(response, Exception):
            log.info(
                "commit on revoke of %s not accepted (%s); the checkpoint stands for it",
                sorted(tp.partition for tp in offsets),
                response,
            )

    async def on_partitions_lost(self, lost: Any) -> None:
        parts = self._parts(lost)
        self.pending.difference_update(parts)
        if self._on_revoke is not None and parts:
            self._on_revoke(parts, True)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.pending.update(self._parts(assigned))

    def assigned_now(self, records: list[Any]) -> list[Any]:
        """Run the assignment callback for the partitions assigned since the last poll;
        the records of partitions it moves elsewhere are dropped (the seek re-reads them)."""
        from kafka import TopicPartition

        parts, self.pending = sorted(self.pending), set()
        tps = {p: TopicPartition(self.topic, p) for p in parts}
        committed = {p: self._c.committed(tp) for p, tp in tps.items()}
        start = (self._on_assign(committed) if self._on_assign is not None else None) or {}
        moved = set()
        for p, off in start.items():
            if p in tps and off != committed.get(p):
                self._c.seek(tps[p], int(off))
                moved.add(p)
        return [r for r in records if r.partition not in moved] if moved else records


class KafkaPythonAdmin:
    """``KafkaAdminClient`` behind :class:`f1live.clients.base.Admin`."""

    name = "kafka-python"

    def __init__(self, bootstrap_servers: str, timeout: float) -> None:
        from kafka import KafkaAdminClient

        self._a: Any = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="f1live-admin",
            request_timeout_ms=int(max(timeout, 5) * 1000),
        )

    def describe_topic(self, name: str) -> list[tuple[int, int, list[int], list[int]]] | None:
        from kafka.errors import KafkaError, UnknownTopicOrPartitionError

        try:
            [desc] = self._a.describe_topics([name])
        except UnknownTopicOrPartitionError:
            return None
        except KafkaError as exc:
            if "UnknownTopic" in type(exc).__name__ or "UnknownTopic" in str(exc):
                return None
            raise ClientError(f"describing topic {name!r} failed: {exc}") from exc
        code = desc.get("error_code", 0)
        if code == 3:  # UNKNOWN_TOPIC_OR_PARTITION
            return None
        if code not in (0, None):
            raise ClientError(f"describing topic {name!r} failed: error code {code}")
        return [
            (p["partition_index"], p["leader_id"], list(p["replica_nodes"]), list(p["isr_nodes"]))
            for p in desc.get("partitions") or []
        ]

    def list_topics(self) -> list[str]:
        return list(self._a.list_topics())

    def create_topic(
        self,
        name: str,
        partitions: int,
        replication: int,
        configs: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        try:
            self._a.create_topics(
                [NewTopic(name, partitions, replication, topic_configs=dict(configs or {}))],
                timeout_ms=int(timeout * 1000),
            )
        except TopicAlreadyExistsError:
            raise TopicExistsError(name) from None
        except KafkaError as exc:
            raise ClientError(str(exc)) from None

    def delete_topic(self, name: str, timeout: float = 30.0) -> bool:
        from kafka.errors import UnknownTopicOrPartitionError

        try:
            self._a.delete_topics([name], timeout_ms=int(timeout * 1000))
        except UnknownTopicOrPartitionError:
            return False
        return True

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        offsets = self._a.list_group_offsets(group)
        if group in offsets and isinstance(offsets[group], dict):  # kafka-python 3: {group: {tp: om}}
            offsets = offsets[group]
        return {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()}

    def topic_configs(self, name: str) -> dict[str, str]:
        from kafka.admin import ConfigResource, ConfigResourceType

        resp = self._a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        return {k: v.get("value") for k, v in resp["topic"][name].items()}

    def close(self) -> None:
        if self._a is not None:
            a, self._a = self._a, None
            a.close()


__all__ = ["KafkaPythonAdmin", "KafkaPythonConsumer", "KafkaPythonProducer", "UnknownTopicError"]
