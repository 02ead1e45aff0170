"""confluent-kafka (librdkafka) behind the seam (:mod:`f1live.clients.base`).

What differs from kafka-python, and how the adapter hides it:

* Settings: written once in kafka-python's names (:func:`f1live.clients.producer_config`)
  and translated here (:func:`librdkafka_config`); librdkafka's own dotted names pass
  through. The producer uses the ``murmur2_random`` partitioner: a key goes to the
  partition kafka-python and the Java client choose (librdkafka's default, CRC32, would not).
* Delivery reports: librdkafka calls them from ``poll()``; :class:`ConfluentProducer` runs one
  small thread (``f1live-confluent-delivery``; started by the factory, stopped and joined by
  ``close()``) that polls, so acknowledgements are counted as they arrive.
* Batches: ``Consumer.consume(n, timeout)`` waits for *n* messages or the timeout, which
  would hold a 1x burst for the whole wait; :meth:`ConfluentConsumer.poll` waits for the
  first message only (``poll``) and then takes what is already fetched (``consume(n, 0)``).
* A missing broker: librdkafka connects lazily, so the factory asks for metadata within
  ``bootstrap_timeout_ms`` and raises the same ``ConnectionError`` as kafka-python.
* librdkafka's log lines go to the ``f1live.clients.librdkafka`` logger (DEBUG), not to
  stderr; its errors to this module's logger (transient ones, like a broker that is
  down, at DEBUG).

>>> cfg = librdkafka_config({"linger_ms": 0, "acks": "all", "bootstrap_timeout_ms": 3000, "linger.ms": 2},
...                         PRODUCER_NAMES)
>>> cfg["linger.ms"], cfg["acks"], "bootstrap_timeout_ms" in cfg
(2, 'all', False)
>>> librdkafka_config({"partitioner": object()}, PRODUCER_NAMES)
Traceback (most recent call last):
...
ValueError: confluent-kafka has no setting 'partitioner' (kafka-python name); use its librdkafka name (e.g. 'linger.ms') or --client kafka-python
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from f1live.clients.base import (
    AssignCallback,
    ClientError,
    DeliveryCallback,
    Headers,
    Record,
    RevokeCallback,
    TopicExistsError,
    unreachable,
)

log = logging.getLogger(__name__)
#: librdkafka's own log lines (connection attempts, broker state, retries), at DEBUG: what
#: needs attention also comes through the error callback, logged at its level by ``log``.
rdkafka_log = logging.getLogger("f1live.clients.librdkafka")


class _DebugLog:
    """The ``logger`` librdkafka is given: every line at DEBUG on :data:`rdkafka_log`."""

    def log(self, _level: int, msg: str, *args: Any) -> None:
        if rdkafka_log.isEnabledFor(logging.DEBUG):
            rdkafka_log.debug(msg, *args)


#: kafka-python producer setting -> librdkafka property.
PRODUCER_NAMES: dict[str, str] = {
    "acks": "acks",
    "enable_idempotence": "enable.idempotence",
    "retries": "retries",
    "retry_backoff_ms": "retry.backoff.ms",
    "linger_ms": "linger.ms",
    "batch_size": "batch.size",
    "max_in_flight_requests_per_connection": "max.in.flight.requests.per.connection",
    "request_timeout_ms": "request.timeout.ms",
    "delivery_timeout_ms": "delivery.timeout.ms",
    "reconnect_backoff_max_ms": "reconnect.backoff.max.ms",
    "compression_type": "compression.type",
    "client_id": "client.id",
}

#: kafka-python consumer setting -> librdkafka property.
CONSUMER_NAMES: dict[str, str] = {
    "enable_auto_commit": "enable.auto.commit",
    "auto_offset_reset": "auto.offset.reset",
    "fetch_min_bytes": "fetch.min.bytes",
    "fetch_max_wait_ms": "fetch.wait.max.ms",
    "session_timeout_ms": "session.timeout.ms",
    "heartbeat_interval_ms": "heartbeat.interval.ms",
    "max_poll_interval_ms": "max.poll.interval.ms",
    "reconnect_backoff_max_ms": "reconnect.backoff.max.ms",
    "request_timeout_ms": "socket.timeout.ms",
    "client_id": "client.id",
}

#: Settings the adapters use themselves (no librdkafka property).
_ADAPTER_ONLY = frozenset({"bootstrap_timeout_ms", "max_block_ms", "max_poll_records"})

#: Transient error codes seen whenever a broker is down or restarting: debug, not warning.
_TRANSIENT = frozenset({"_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_TIMED_OUT", "_MSG_TIMED_OUT"})


def librdkafka_config(cfg: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka properties for kafka-python-named settings (dotted names pass through)."""
    out: dict[str, Any] = {}
    dotted: dict[str, Any] = {}
    for k, v in cfg.items():
        if k in _ADAPTER_ONLY:
            continue
        if "." in k:
            dotted[k] = v
        elif k in names:
            out[names[k]] = v
        else:
            raise ValueError(
                f"confluent-kafka has no setting {k!r} (kafka-python name); use its librdkafka "
                "name (e.g. 'linger.ms') or --client kafka-python"
            )
    out.update(dotted)  # explicit librdkafka names win
    return out


def _on_error(err: Any) -> None:
    if err.fatal():
        log.error("Kafka client fatal error: %s", err)
    elif err.name() in _TRANSIENT:
        log.debug("Kafka client: %s", err)
    else:
        log.warning("Kafka client: %s", err)


def _common(bootstrap_servers: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "socket.nagle.disable": True,
        "logger": _DebugLog(),
        "error_cb": _on_error,
    }


def _kafka_error(exc: BaseException) -> Any:
    return exc.args[0] if exc.args and hasattr(exc.args[0], "code") else None


class ConfluentProducer:
    """librdkafka producer; a delivery thread serves acknowledgements as they arrive."""

    name = "confluent"

    def __init__(self, bootstrap_servers: str, cfg: Mapping[str, Any]) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka import Producer as _Producer

        conf = {**_common(bootstrap_servers), "partitioner": "murmur2_random", **librdkafka_config(cfg, PRODUCER_NAMES)}
        self.bootstrap_servers = bootstrap_servers
        self._timeout = float(cfg.get("bootstrap_timeout_ms", 3000)) / 1000
        self._max_block = float(cfg.get("max_block_ms", 10_000)) / 1000
        self._p: Any = _Producer(conf)
        try:
            self._p.list_topics(timeout=self._timeout)
        except KafkaException:
            self._p.purge()
            raise unreachable(bootstrap_servers, self._timeout) from None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="f1live-confluent-delivery", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        p, stop = self._p, self._stop
        while not stop.is_set():
            p.poll(0.05)  # waits in C without the GIL; wakes at once for a delivery report

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        report = None if on_delivery is None else _report(on_delivery)
        kw: dict[str, Any] = {"on_delivery": report}
        if headers:
            kw["headers"] = headers
        if partition is not None:
            kw["partition"] = partition
        try:
            self._p.produce(topic, value, key, **kw)
        except BufferError:  # local queue full: wait for room like kafka-python's max_block_ms
            deadline = time.monotonic() + self._max_block
            while True:
                self._p.poll(0.05)
                try:
                    self._p.produce(topic, value, key, **kw)
                    return
                except BufferError:
                    if time.monotonic() > deadline:
                        raise

    def flush(self, timeout: float | None = None) -> None:
        left = self._p.flush(-1 if timeout is None else timeout)
        if left:
            raise TimeoutError(f"{left} messages not acknowledged within {timeout:g} s")

    def partitions_for(self, topic: str) -> set[int]:
        md = self._p.list_topics(topic, timeout=self._timeout)
        t = md.topics.get(topic)
        return set() if t is None or t.error is not None else set(t.partitions)

    def close(self, timeout: float = 10.0) -> None:
        if self._p is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        p, self._p = self._p, None
        if p.flush(timeout):
            # Not acknowledged in time (broker gone): fail them now, counted by their callbacks.
            p.purge()
            p.poll(0)
        p.close()


def _report(callback: DeliveryCallback) -> Any:
    def report(err: Any, _msg: Any) -> None:
        callback(None if err is None else ClientError(f"{err.name()}: {err.str()}"))

    return report


class ConfluentConsumer:
    """librdkafka consumer: poll for the first record, then take what is already fetched."""

    name = "confluent"

    def __init__(self, bootstrap_servers: str, cfg: Mapping[str, Any], group_id: str | None) -> None:
        from confluent_kafka import Consumer as _Consumer
        from confluent_kafka import KafkaException

        conf = {**_common(bootstrap_servers), **librdkafka_config(cfg, CONSUMER_NAMES)}
        # librdkafka needs a group id even for manual assignment; a private one commits nothing.
        conf["group.id"] = group_id or f"f1live-nogroup-{uuid.uuid4().hex[:12]}"
        self._grouped = group_id is not None
        self._reset = str(cfg.get("auto_offset_reset", conf.get("auto.offset.reset", "earliest")))
        self._timeout = timeout = float(cfg.get("bootstrap_timeout_ms", 3000)) / 1000
        self._c: Any = _Consumer(conf)
        try:
            self._c.list_topics(timeout=timeout)
        except KafkaException:
            self._c.close()
            raise unreachable(bootstrap_servers, timeout) from None
        self._tps: dict[tuple[str, int], Any] = {}
        self._errors = 0

    def _tp(self, topic: str, partition: int) -> Any:
        tp = self._tps.get((topic, partition))
        if tp is None:
            from confluent_kafka import TopicPartition

            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        return tp

    def subscribe(
        self, topic: str, on_assign: AssignCallback | None = None, on_revoke: RevokeCallback | None = None
    ) -> None:
        """Join the group; every assignment starts at explicit offsets (see :meth:`assign`).

        librdkafka calls the rebalance callbacks from inside ``poll``/``consume`` (this
        thread); its heartbeats run on its own threads, so the callbacks may block.
        """

        def assigned(consumer: Any, tps: list[Any]) -> None:
            from confluent_kafka import TopicPartition

            parts = [tp.partition for tp in tps if tp.topic == topic]
            committed = self._committed(topic, parts)
            start = (on_assign({p: committed.get(p) for p in parts}) if on_assign is not None else None) or {}
            consumer.assign(
                [TopicPartition(tp.topic, tp.partition, self._start(tp.partition, start, committed)) for tp in tps]
            )

        def revoked(consumer: Any, tps: list[Any], lost: bool = False) -> None:
            parts = [tp.partition for tp in tps if tp.topic == topic]
            offsets = on_revoke(parts, lost) if on_revoke is not None and parts else None
            if offsets and not lost:
                from confluent_kafka import KafkaException, TopicPartition

                try:
                    consumer.commit(
                        offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
                    )
                except KafkaException as exc:
                    log.warning("commit on revoke of %s %s failed: %s", topic, sorted(offsets), exc)

        self._c.subscribe(
            [topic], on_assign=assigned, on_revoke=revoked, on_lost=lambda c, tps: revoked(c, tps, lost=True)
        )

    def _committed(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """The group's committed offsets of ``partitions`` (none: missing from the dict).

        Left to librdkafka (no offset given), a failed committed-offset lookup (``NOT_COORDINATOR``
        while a fresh broker loads the group's coordinator) leaves the partition without a
        position for good; here the lookup is retried until ``bootstrap_timeout_ms`` x 3.
        """
        from confluent_kafka import KafkaException, TopicPartition

        if not self._grouped or not partitions:
            return {}
        tps = [TopicPartition(topic, p) for p in partitions]
        deadline = time.monotonic() + 3 * self._timeout
        while True:
            try:
                return {
                    tp.partition: tp.offset
                    for tp in self._c.committed(tps, timeout=self._timeout)
                    if tp.error is None and tp.offset >= 0
                }
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise ClientError(f"committed offsets of {topic} {list(partitions)}: {exc}") from None
                log.debug("committed offsets not available yet (%s); retrying", exc)
                time.sleep(0.2)

    def _start(self, partition: int, start: Mapping[int, int], committed: Mapping[int, int]) -> int:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

        if partition in start:
            return int(start[partition])
        if partition in committed:
            return committed[partition]
        return OFFSET_BEGINNING if self._reset == "earliest" else OFFSET_END

    def assign(self, topic: str, partitions: Sequence[int], offsets: Mapping[int, int] | None = None) -> None:
        """Assign with explicit start offsets: ``offsets``, else the group's committed ones,
        else ``auto.offset.reset``."""
        from confluent_kafka import TopicPartition

        committed = self._committed(topic, [p for p in partitions if p not in (offsets or {})])
        self._c.assign([TopicPartition(topic, p, self._start(p, offsets or {}, committed)) for p in partitions])

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        from confluent_kafka import KafkaException

        try:
            return {
                p: int(self._c.get_watermark_offsets(self._tp(topic, p), timeout=self._timeout, cached=False)[1])
                for p in partitions
            }
        except KafkaException:  # "Unknown partition": this client has no metadata of the topic yet
            self._c.list_topics(topic, timeout=self._timeout)
            return {
                p: int(self._c.get_watermark_offsets(self._tp(topic, p), timeout=self._timeout, cached=False)[1])
                for p in partitions
            }

    def poll(self, timeout_s: float, max_records: int = 500) -> list[Any]:
        first = self._c.poll(max(timeout_s, 0.0))
        if first is None:
            return []
        msgs = [first]
        if max_records > 1:
            msgs.extend(self._c.consume(max_records - 1, 0))
        out = []
        for m in msgs:
            err = m.error()
            if err is not None:
                self._errors += 1
                (log.warning if self._errors <= 10 else log.debug)("consumer: %s", err)
                continue
            ts = m.timestamp()
            out.append(
                Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.headers(), ts[1] if ts[0] else None)
            )
        return out

    def assignment(self) -> list[int]:
        return sorted(tp.partition for tp in self._c.assignment())

    def highwater(self, topic: str, partition: int) -> int | None:
        try:
            _low, high = self._c.get_watermark_offsets(self._tp(topic, partition), cached=True)
        except Exception:  # not fetched yet
            return None
        return int(high) if high is not None and high >= 0 else None

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None, *, asynchronous: bool = False) -> None:
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        if not self._grouped:
            return
        try:
            if offsets is None:
                self._c.commit(asynchronous=asynchronous)
            else:
                self._c.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=asynchronous
                )
        except KafkaException as exc:
            err = _kafka_error(exc)
            if err is not None and err.code() == KafkaError._NO_OFFSET:
                return  # nothing consumed since the last commit
            raise ClientError(f"offset commit failed: {err or exc}") from None

    def close(self) -> None:
        if self._c is not None:
            c, self._c = self._c, None
            c.close()


class ConfluentAdmin:
    """librdkafka ``AdminClient`` behind :class:`f1live.clients.base.Admin`."""

    name = "confluent"

    def __init__(self, bootstrap_servers: str, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        self._timeout = float(timeout)
        self._a: Any = AdminClient({**_common(bootstrap_servers), "client.id": "f1live-admin"})

    def _metadata(self) -> Any:
        from confluent_kafka import KafkaException

        try:
            # Every topic, not list_topics(name): a metadata request naming a topic may auto-create it.
            return self._a.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise ClientError(f"metadata request failed: {_kafka_error(exc) or exc}") from None

    def describe_topic(self, name: str) -> list[tuple[int, int, list[int], list[int]]] | None:
        t = self._metadata().topics.get(name)
        if t is None:
            return None
        if t.error is not None:
            from confluent_kafka import KafkaError

            if t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            raise ClientError(f"describing topic {name!r} failed: {t.error}")
        return [
            (p.id, p.leader, list(p.replicas), list(p.isrs)) for p in sorted(t.partitions.values(), key=lambda p: p.id)
        ]

    def list_topics(self) -> list[str]:
        return list(self._metadata().topics)

    def create_topic(
        self,
        name: str,
        partitions: int,
        replication: int,
        configs: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        fs = self._a.create_topics(
            [NewTopic(name, partitions, replication, config=dict(configs or {}))],
            operation_timeout=timeout,
            request_timeout=max(timeout, self._timeout),
        )
        try:
            fs[name].result()
        except KafkaException as exc:
            err = _kafka_error(exc)
            if err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicExistsError(name) from None
            raise ClientError(str(err.str() if err is not None else exc)) from None

    def delete_topic(self, name: str, timeout: float = 30.0) -> bool:
        from confluent_kafka import KafkaError, KafkaException

        fs = self._a.delete_topics([name], operation_timeout=timeout, request_timeout=max(timeout, self._timeout))
        try:
            fs[name].result()
        except KafkaException as exc:
            err = _kafka_error(exc)
            if err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return False
            raise ClientError(str(err.str() if err is not None else exc)) from None
        return True

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        fs = self._a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=self._timeout)
        res = fs[group].result()
        return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions or []}

    def topic_configs(self, name: str) -> dict[str, str]:
        from confluent_kafka.admin import ConfigResource

        [fut] = self._a.describe_configs([ConfigResource("topic", name)], request_timeout=self._timeout).values()
        return {k: e.value for k, e in fut.result().items()}

    def close(self) -> None:
        self._a = None  # librdkafka's admin handle is released with the object
