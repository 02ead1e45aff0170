"""Analysis state handed over between consumer-group members when Kafka moves a partition.

The topic is keyed by driver, so all of one driver's messages sit in one partition and a
partition's analysis state is the state of its drivers: rolling features, the River
detectors, the rule checks' runs (:class:`f1live.processors.DriverStateful`) and the last
sequence number of each ``(run, driver)``. When a rebalance moves a partition to another
member (a member joined, left or died), that member continues from a **checkpoint**:

* every member writes, per partition it owns, a :class:`Checkpoint` (the state of the
  partition's drivers after every message before ``offset``) to the compacted topic
  ``<topic>.state.<group>`` (:func:`state_topic`), into the partition of the same number,
  so the newest checkpoint of partition ``p`` is the last record of state partition ``p``.
  It does so at an offset commit when :data:`CHECKPOINT_EVERY_S` seconds or
  :data:`CHECKPOINT_EVERY_MESSAGES` messages have passed, and always when the partition is
  revoked or the member stops (a graceful hand-over then replays nothing);
* the new owner restores the checkpoint and re-reads the partition from its ``offset`` up to
  the group's committed offset *without emitting anything* (a silent replay: no results,
  no live state, no latency samples), then goes on as usual. Restored state plus the same
  messages in the same order give the same state, bit for bit, so every result after the
  hand-over equals what the previous owner - or one consumer reading every partition -
  would have produced: there is no warm-up window.

Rebuilding the state from the last N seconds of the partition instead was measured and
rejected: replaying 30-600 s of the 2023 race before a hand-over left 13 % of the
anomaly results different for the rest of the race (the River detector's learnt
gear ratios and the rule checks' sample-interval mean remember far longer than any
window; ``docs/scaling.md``).

What does not move: :class:`f1live.features.RaceRecord`, the cross-driver part of the
features (gaps to the cars ahead and behind, other cars' pit stops, the field's pace). A
group member only sees the drivers of its own partitions, so those features - and the
model scores that use them - are computed from those drivers alone, hand-over or not.
The anomaly results use no cross-driver feature.

Checkpoints are pickles: give only the group's members write access to the state topic.

>>> cp = Checkpoint(partition=2, offset=1830, drivers={"VER": [{"n": 1}]}, seqs={("r1", "VER"): 1829})
>>> back = Checkpoint.decode(cp.encode())
>>> back.partition, back.offset, back.drivers, back.seqs
(2, 1830, {'VER': [{'n': 1}]}, {('r1', 'VER'): 1829})
>>> state_topic("f1-speed-stream", "f1live")
'f1-speed-stream.state.f1live'
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from f1live.clients import Consumer, Producer, make_consumer, make_producer
from f1live.delivery import DeliveryTracker
from f1live.processors import DriverStateful, Processor

log = logging.getLogger(__name__)

#: A partition's checkpoint is written at an offset commit once this many seconds ...
CHECKPOINT_EVERY_S = 5.0
#: ... or this many of its messages have passed since its last one: the silent replay of a
#: hand-over after a crash is at most about this long. Measured: a checkpoint costs ~3 KB
#: and 0.05-0.3 ms to pickle per driver (5 drivers: 18 KB, 0.23 ms; 20 drivers with the
#: models' features: 62 KB, 1.3-5.6 ms on a loaded machine); at the real car-data rate a
#: partition of 5 drivers (~19 msg/s) writes ~4 KB/s every 5 s.
CHECKPOINT_EVERY_MESSAGES = 5000
#: How long a commit waits for its checkpoints to be acknowledged before it goes on without.
CHECKPOINT_FLUSH_S = 5.0

_FORMAT = "f1live-checkpoint/1"

#: Configuration of the state topic: compacted (the newest checkpoint per partition stays).
STATE_TOPIC_CONFIG: dict[str, str] = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.5",
}


def state_topic(topic: str, group: str) -> str:
    """The compacted topic holding ``group``'s checkpoints of ``topic``."""
    return f"{topic}.state.{group}"


@dataclasses.dataclass
class Checkpoint:
    """The analysis state of one partition's drivers after every message before ``offset``.

    Attributes:
        partition: the source partition.
        offset: the next offset to process (the state covers every message before it).
        drivers: driver -> one state per processor (``None`` for a processor that keeps none).
        seqs: the last sequence number of each ``(run, driver)`` (de-duplication goes on).
        segments: each run's newest replay segment (a seek resets the analysis).
        written_ns: wall clock when it was written.
    """

    partition: int
    offset: int
    drivers: dict[str, list[Any]]
    seqs: dict[tuple[str, str], int]
    segments: dict[str, int] = dataclasses.field(default_factory=dict)
    written_ns: int = 0

    def encode(self) -> bytes:
        # the fields as they are (dataclasses.asdict would deep-copy every River object first:
        # measured 51 ms instead of ~1 ms for a partition of 20 drivers)
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return pickle.dumps((_FORMAT, fields), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def decode(cls, data: bytes) -> Checkpoint:
        fmt, fields = pickle.loads(data)  # noqa: S301 - written by the group's own members (see module doc)
        if fmt != _FORMAT:
            raise ValueError(f"checkpoint format {fmt!r}; expected {_FORMAT!r} (written by another f1live version?)")
        return cls(**fields)


class CheckpointStore:
    """Checkpoints in the compacted state topic: :meth:`save` / :meth:`load` per partition.

    Args:
        bootstrap_servers, client, kind: the Kafka cluster and client library.
        topic: the state topic (:func:`state_topic`); created (compacted) with ``partitions``
            partitions by :meth:`start` if missing. A state topic with fewer partitions than
            the source (partitions were added) keeps no checkpoint for the new ones: they
            start with fresh state, with a warning.
    """

    def __init__(
        self, bootstrap_servers: str, topic: str, partitions: int, *, client: str, kind: str, replication: int = 1
    ) -> None:
        self.servers = bootstrap_servers
        self.topic = topic
        self.partitions = partitions
        self.replication = replication
        self.client = client
        self.kind = kind
        self._producer: Producer | None = None
        self._reader: Consumer | None = None

    def start(self) -> CheckpointStore:
        """Create the topic if needed and connect the writer (idempotent)."""
        if self._producer is None:
            from f1live.topics import describe_topic, ensure_topic

            info = describe_topic(self.servers, self.topic, client=self.client)
            if info is None:
                info = ensure_topic(
                    self.servers,
                    self.topic,
                    self.partitions,
                    self.replication,
                    configs=STATE_TOPIC_CONFIG,
                    client=self.client,
                )
            if info.partitions < self.partitions:
                log.warning(
                    "state topic %s has %d partitions for %d source partitions: the others hand over no state",
                    self.topic,
                    info.partitions,
                    self.partitions,
                )
            self.partitions = info.partitions
            self._producer = make_producer(self.servers, client=self.client, kind=self.kind)
        return self

    def save(self, cp: Checkpoint) -> None:
        """Queue ``cp`` (durable after :meth:`flush`; a failed delivery is logged)."""
        if self._producer is None or cp.partition >= self.partitions:
            return
        self._producer.send(
            self.topic, cp.encode(), str(cp.partition).encode(), partition=cp.partition, on_delivery=self._delivered
        )

    def _delivered(self, error: BaseException | None) -> None:
        if error is not None:  # the client's thread: only log
            log.warning("a checkpoint to %s was not delivered (%s); the previous one stands", self.topic, error)

    def flush(self, timeout: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)

    def load(self, partition: int, timeout: float = 5.0) -> Checkpoint | None:
        """The newest checkpoint of ``partition`` (the last record of its state partition), or None."""
        if partition >= self.partitions:
            return None
        if self._reader is None:
            self._reader = make_consumer(self.servers, client=self.client, kind=self.kind, group_id=None)
        reader = self._reader
        end = reader.end_offsets(self.topic, [partition])[partition]
        if end <= 0:
            return None
        reader.assign(self.topic, [partition], offsets={partition: end - 1})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in reader.poll(0.2, 10):
                if rec.partition == partition and rec.offset == end - 1 and rec.value:
                    return Checkpoint.decode(rec.value)
        raise TimeoutError(
            f"checkpoint of partition {partition} at {self.topic}/{partition}@{end - 1} not read within {timeout:g} s"
        )

    def close(self) -> None:
        for client in (self._reader, self._producer):
            if client is not None:
                try:
                    client.close()
                except Exception:
                    log.debug("closing a checkpoint client failed", exc_info=True)
        self._reader = self._producer = None


@dataclasses.dataclass
class Takeover:
    """How one partition's state was taken over (one entry per assignment; times in ms).

    ``source``: ``kept`` (it stayed with this member), ``checkpoint`` or ``fresh`` (none
    found). ``catch_up_ms``: from the assignment to the state being current (checkpoint
    read and restored, silent replay done); ``None`` while the replay runs.
    """

    partition: int
    source: str
    committed: int | None
    checkpoint_offset: int | None
    replay_to: int | None
    restore_ms: float
    replayed: int = 0
    catch_up_ms: float | None = None


class PartitionStates:
    """A group member's side of the hand-over: which drivers are on which partition, what
    to checkpoint, what to restore and re-read on assignment (used by
    :class:`f1live.consumer.RealTimeConsumer` in group mode).

    Args:
        store: where checkpoints go (``None``: state is kept while a partition stays, and
            starts fresh when it arrives from elsewhere).
        processors: the consumer's processors; those implementing
            :class:`f1live.processors.DriverStateful` move with their drivers.
        tracker: the consumer's de-duplication state (each driver's last seq moves too).
    """

    def __init__(
        self,
        store: CheckpointStore | None,
        processors: Sequence[Processor],
        tracker: DeliveryTracker,
        *,
        every_s: float = CHECKPOINT_EVERY_S,
        every_messages: int = CHECKPOINT_EVERY_MESSAGES,
    ) -> None:
        self.store = store
        self.processors = list(processors)
        self.stateful: list[DriverStateful | None] = [
            p if isinstance(p, DriverStateful) else None for p in self.processors
        ]
        self.tracker = tracker
        self.every_s = every_s
        self.every_messages = every_messages
        self.drivers: dict[int, set[str]] = {}  # partition -> drivers seen on it
        self.replay_to: dict[int, int] = {}  # partition -> offset the silent replay ends at
        self.takeovers: list[Takeover] = []
        self._pending: dict[int, tuple[Takeover, float]] = {}  # replaying partition -> (record, t0)
        self._saved: dict[int, tuple[int, float]] = {}  # partition -> (offset, monotonic) of last checkpoint
        self._parked: dict[int, int] = {}  # revoked partition -> offset its kept state is at
        self._failures = 0
        self.segments: dict[str, int] = {}

    # ---------------------------------------------------------------- bookkeeping
    def seen(self, partition: int, driver: str) -> None:
        """Record that ``driver``'s messages are on ``partition``."""
        drivers = self.drivers.get(partition)
        if drivers is None:
            drivers = self.drivers[partition] = set()
        drivers.add(driver)

    def replaying(self, partition: int, offset: int) -> bool:
        """This record only rebuilds state (it was processed before the hand-over)."""
        end = self.replay_to.get(partition)
        return end is not None and offset < end

    def progress(self, next_offsets: Mapping[int, int], replayed: Mapping[int, int]) -> None:
        """After a batch: count replayed records and close the replays that reached their end."""
        for p, n in replayed.items():
            item = self._pending.get(p)
            if item is not None:
                item[0].replayed += n
        for p in [p for p, end in self.replay_to.items() if next_offsets.get(p, -1) >= end]:
            self._finish(p)

    def _finish(self, partition: int) -> None:
        del self.replay_to[partition]
        item = self._pending.pop(partition, None)
        if item is None:
            return
        take, t0 = item
        take.catch_up_ms = round((time.monotonic() - t0) * 1e3, 2)
        log.info(
            "partition %d: state current after %.1f ms (checkpoint at offset %s, %d messages replayed to %s)",
            partition,
            take.catch_up_ms,
            take.checkpoint_offset,
            take.replayed,
            take.replay_to,
        )

    # ---------------------------------------------------------------- checkpoints
    def _checkpoint(self, partition: int, offset: int) -> Checkpoint:
        drivers = self.drivers.get(partition, set())
        states = {d: [None if s is None else s.driver_state(d) for s in self.stateful] for d in sorted(drivers)}
        return Checkpoint(
            partition, offset, states, self.tracker.positions(frozenset(drivers)), dict(self.segments), time.time_ns()
        )

    def due(self, next_offsets: Mapping[int, int]) -> list[int]:
        """Partitions whose checkpoint is due at this commit (time or message count)."""
        now = time.monotonic()
        out = []
        for p, off in next_offsets.items():
            last = self._saved.get(p)
            if last is None or (
                off > last[0] and (now - last[1] >= self.every_s or off - last[0] >= self.every_messages)
            ):
                out.append(p)
        return out

    def save(self, next_offsets: Mapping[int, int], *, durable: bool = True) -> int:
        """Write the checkpoints of these partitions at these offsets (skips unchanged ones).

        ``durable``: wait (up to :data:`CHECKPOINT_FLUSH_S`) until the broker has them - for a
        revoke or a stop, where the next owner reads them at once. The periodic ones are only
        queued: a checkpoint that is late or lost makes the next owner start from an older one
        and replay further, never from a wrong one (the outputs of every message before a
        checkpoint are flushed before it is written), and an unavailable state topic (its
        leader restarting) must not stall the consumer at every commit.
        """
        if self.store is None:
            return 0
        written: dict[int, int] = {}
        try:
            for p, off in next_offsets.items():
                last = self._saved.get(p)
                if last is None or last[0] != off:
                    # (during a silent replay too: the state covers every message before ``off``)
                    self.store.save(self._checkpoint(p, off))
                    written[p] = off
            if written and durable:
                self.store.flush(CHECKPOINT_FLUSH_S)
        except Exception as exc:
            self._failed(sorted(written), exc)
            return 0
        now = time.monotonic()
        for p, off in written.items():
            self._saved[p] = (off, now)
        return len(written)

    def _failed(self, partitions: list[int], exc: BaseException) -> None:
        self._failures += 1
        (log.warning if self._failures <= 5 else log.debug)(
            "checkpoints of partitions %s not written (%s); the previous ones stand", partitions, exc
        )

    # ---------------------------------------------------------------- rebalance
    def revoked(self, next_offsets: Mapping[int, int], lost: Iterable[int] = ()) -> None:
        """Partitions are taken away: checkpoint them (not the ``lost`` ones: another member
        may own those already) and keep their state until the next assignment says whether
        they come back."""
        self.save(next_offsets)
        for p, off in next_offsets.items():
            self._parked[p] = off
        for p in lost:
            self._drop(p)
        for p in list(self.replay_to):
            if p in next_offsets or p in set(lost):
                self.replay_to.pop(p, None)
                self._pending.pop(p, None)

    def assigned(self, committed: Mapping[int, int | None]) -> dict[int, int]:
        """New assignment: restore what moved here; the offsets to start these partitions at
        (where a silent replay is needed) - for :data:`f1live.clients.AssignCallback`."""
        start: dict[int, int] = {}
        for p in [p for p in self._parked if p not in committed]:
            self._drop(p)  # went to another member
        for p, c in committed.items():
            t0 = time.monotonic()
            kept = self._parked.pop(p, None)
            if kept is not None and kept == c:
                self.takeovers.append(Takeover(p, "kept", c, kept, None, 0.0, catch_up_ms=0.0))
                continue
            if kept is not None:
                self._drop(p)  # it was elsewhere meanwhile: what this member kept is stale
            cp = self._load(p)
            if cp is not None and not self._restore(cp):
                cp = None
            if cp is None:
                take = Takeover(p, "fresh", c, None, None, round((time.monotonic() - t0) * 1e3, 2), catch_up_ms=0.0)
                if c:
                    log.warning("partition %d: no checkpoint; its drivers' analysis starts fresh at offset %d", p, c)
                self.takeovers.append(take)
                continue
            take = Takeover(p, "checkpoint", c, cp.offset, None, round((time.monotonic() - t0) * 1e3, 2))
            self.takeovers.append(take)
            self._saved[p] = (cp.offset, time.monotonic())
            if c is not None and cp.offset < c:
                start[p] = cp.offset
                self.replay_to[p] = take.replay_to = c
                self._pending[p] = (take, t0)
            else:
                # at the commit (a graceful hand-over), or past it: the previous owner wrote this
                # checkpoint after flushing the results of every message before it
                start[p] = cp.offset
                take.catch_up_ms = take.restore_ms
        return start

    def _load(self, partition: int) -> Checkpoint | None:
        if self.store is None:
            return None
        try:
            return self.store.load(partition)
        except Exception as exc:  # a missing or unreadable checkpoint costs state, never messages
            log.warning(
                "partition %d: checkpoint not readable (%s); its drivers' analysis starts fresh", partition, exc
            )
            return None

    def _restore(self, cp: Checkpoint) -> bool:
        """Continue from ``cp``; False (nothing changed) if it was written with other processors."""
        if any(len(states) != len(self.stateful) for states in cp.drivers.values()):
            log.warning(
                "partition %d: checkpoint written with %d processors, this consumer runs %d; "
                "its drivers' analysis starts fresh",
                cp.partition,
                len(next(iter(cp.drivers.values()))),
                len(self.stateful),
            )
            return False
        self.drivers[cp.partition] = set(cp.drivers)
        for driver, states in cp.drivers.items():
            for proc, state in zip(self.stateful, states, strict=True):
                if proc is not None:
                    proc.restore_driver(driver, state)
        self.tracker.resume(cp.seqs)
        for run, seg in cp.segments.items():
            self.segments[run] = max(seg, self.segments.get(run, seg))
        return True

    def _drop(self, partition: int) -> None:
        self._parked.pop(partition, None)
        self._saved.pop(partition, None)
        for driver in self.drivers.pop(partition, set()):
            for proc in self.stateful:
                if proc is not None:
                    proc.forget_driver(driver)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
