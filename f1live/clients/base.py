"""What every client adapter offers: the record type, the three protocols, shared errors.

f1live's streaming code talks to Kafka only through these (see :mod:`f1live.clients`);
:mod:`f1live.clients.kafka_python` and :mod:`f1live.clients.confluent` implement them.

* :class:`Producer`: ``send(topic, value, key, headers, partition, on_delivery)`` never
  blocks on the network; ``on_delivery(error)`` is called once per message, from the
  client's own thread, with ``None`` on a broker acknowledgement or the exception.
* :class:`Consumer`: ``poll(timeout_s, max_records)`` returns a flat list of
  :class:`Record` (each partition's records in offset order) as soon as one record is
  there, with whatever else is already fetched, up to ``max_records``. As a group member
  (``subscribe``) it calls :data:`AssignCallback` / :data:`RevokeCallback` on every
  rebalance, from the polling thread, and commits what the revoke callback returns
  before the partitions move.
* :class:`Admin`: topic metadata, creation, deletion, a group's committed offsets.

>>> r = Record("t", 2, 41, b"VER", b"{}", [("f1live-run", b"abc")], 1700000000000)
>>> r.partition, r.offset, r.headers[0][0]
(2, 41, 'f1live-run')
>>> str(unreachable("127.0.0.1:9", 3.0)).split(" (")[0]
'no Kafka broker reachable at 127.0.0.1:9 within 3 s'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

#: Called once per sent message: ``None`` when the broker acknowledged it, else the error.
DeliveryCallback = Callable[[BaseException | None], None]

#: Kafka message headers as both clients take and give them.
Headers = Sequence[tuple[str, bytes]]

#: Group member, partitions assigned: called with ``{partition: committed offset or None}``
#: of the newly assigned partitions, before any of their records is returned by ``poll``,
#: in the thread that polls (blocking calls on *other* clients are fine); returns the
#: offsets to start some of them at instead (``None`` / missing: the committed offset, else
#: ``auto_offset_reset``).
AssignCallback = Callable[[dict[int, int | None]], Mapping[int, int] | None]

#: Group member, partitions taken away: called with the partitions and ``lost`` (``True``:
#: the membership was already lost, another member may own them, nothing can be committed)
#: before the rebalance goes on; returns the offsets to commit for them (``{partition: next
#: offset}``), which the adapter commits synchronously before the partitions move.
RevokeCallback = Callable[[list[int], bool], Mapping[int, int] | None]


class Record:
    """One consumed Kafka record (kafka-python's ``ConsumerRecord`` has the same attributes).

    Attributes:
        topic, partition, offset: where it was read.
        key, value: raw bytes (``None`` for a missing key or a tombstone).
        headers: ``[(name, bytes), ...]`` (empty when none).
        timestamp: the record's timestamp in ms since the epoch (``None`` if unknown).
    """

    __slots__ = ("topic", "partition", "offset", "key", "value", "headers", "timestamp")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        timestamp: int | None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers or []
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return f"Record({self.topic}/{self.partition}/{self.offset}, {len(self.value or b'')} B)"


class ClientError(RuntimeError):
    """An error reported by the Kafka client library (delivery failure, fatal client error)."""


class TopicExistsError(ClientError):
    """``create_topic`` found the topic already there."""


class UnknownTopicError(ClientError):
    """The broker does not know the topic."""


def unreachable(servers: str, seconds: float) -> ConnectionError:
    """The one error both clients raise when no broker answers within ``seconds``."""
    return ConnectionError(
        f"no Kafka broker reachable at {servers} within {seconds:g} s "
        "(is it running? start one with `f1live broker start`, or pass --bootstrap-servers)"
    )


class Producer(Protocol):
    """A Kafka producer behind the seam. ``name`` is the client library (``confluent``, ...)."""

    name: str

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue one message (raises at once when the client cannot take it)."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued message is acknowledged or failed; ``TimeoutError`` if not in time."""
        ...

    def partitions_for(self, topic: str) -> set[int]:
        """The topic's partitions (fetches metadata now, so the first send does not)."""
        ...

    def close(self, timeout: float = 10.0) -> None:
        """Flush (up to ``timeout``) and release the client; idempotent."""
        ...


class Consumer(Protocol):
    """A Kafka consumer behind the seam: one topic, group membership or manual assignment."""

    name: str

    def subscribe(
        self, topic: str, on_assign: AssignCallback | None = None, on_revoke: RevokeCallback | None = None
    ) -> None:
        """Join the group on ``topic``; the callbacks see every rebalance (see their types)."""
        ...

    def assign(self, topic: str, partitions: Sequence[int], offsets: Mapping[int, int] | None = None) -> None:
        """Read ``partitions`` without a group rebalance, from ``offsets`` where given, else from
        the committed offset / ``auto_offset_reset``."""
        ...

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """The partitions' end offsets (the next offset to be written), asked from the broker."""
        ...

    def poll(self, timeout_s: float, max_records: int = 500) -> list[Any]:
        """Records (attributes of :class:`Record`) as soon as one is there; ``[]`` after ``timeout_s``."""
        ...

    def assignment(self) -> list[int]:
        """Partitions currently assigned (empty before the group join completes)."""
        ...

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end offset as last seen in a fetch response (no request)."""
        ...

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None, *, asynchronous: bool = False) -> None:
        """Commit ``{(topic, partition): next offset}``, or (``None``) the positions consumed so far."""
        ...

    def close(self) -> None: ...


class Admin(Protocol):
    """Topic administration behind the seam."""

    name: str

    def describe_topic(self, name: str) -> list[tuple[int, int, list[int], list[int]]] | None:
        """``[(partition, leader, replicas, isr), ...]`` or ``None`` when the topic does not exist."""
        ...

    def list_topics(self) -> list[str]: ...

    def create_topic(
        self,
        name: str,
        partitions: int,
        replication: int,
        configs: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Create it; :class:`TopicExistsError` if it is there already, :class:`ClientError` if refused."""
        ...

    def delete_topic(self, name: str, timeout: float = 30.0) -> bool:
        """Delete it; ``False`` if it did not exist."""
        ...

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets ``{(topic, partition): offset}``."""
        ...

    def topic_configs(self, name: str) -> dict[str, str]:
        """The topic's configuration as the broker reports it (``{"retention.ms": "3600000", ...}``)."""
        ...

    def close(self) -> None: ...
