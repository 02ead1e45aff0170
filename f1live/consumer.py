"""Kafka -> validation -> processors -> live state, with a dead-letter queue (seed step 5).

:class:`RealTimeConsumer` reads ``Settings.topic`` as a member of a consumer group
(default ``f1live``) or from explicitly assigned partitions. Per poll it

1. validates every record with :func:`f1live.schema.decode_message`; a malformed one
   (bad JSON, missing/wrongly typed field, NaN, oversize, ...) goes to
   ``Settings.dlq_topic`` as a JSON wrapper (reason, detail, source topic/partition/
   offset, key, original bytes base64) with an ``f1live-dlq-reason`` header, is
   counted, and consumption continues;
2. drops duplicates by ``(run, driver, seq)`` (:class:`f1live.delivery.DeliveryTracker`),
   which makes at-least-once redelivery after a restart harmless;
3. runs the processors (:mod:`f1live.processors`) on the valid batch;
4. records per message the end-to-end latency (results ready - ``produced_at_ns``) and
   the processing time (results ready - poll returned), updates the
   :class:`f1live.state.LiveState`, optionally publishes the analysis records to
   ``Settings.analysis_topic``;
5. commits the offsets after processing (DLQ writes and the ``sink`` are flushed first),
   so a crash replays rather than loses messages.

As a consumer-group member (no ``partitions``) it also takes part in every rebalance: it
commits what it processed when a partition is revoked, and hands each partition's
per-driver analysis state to the next owner through checkpoints
(:mod:`f1live.handover`), so the analysis goes on exactly where it was.

Seed API::

    summary = RealTimeConsumer().consume_messages(timeout_seconds=30)  # with the analysis
    RealTimeConsumer(analyse=False)                                    # transport only

Background mode::

    with RealTimeConsumer(settings, processors=[detector], state=state) as cons:
        cons.start()
        ...
        cons.stop(); summary = cons.join(10)

Kafka is reached through the client seam (:mod:`f1live.clients`): ``Settings.client``
picks confluent-kafka or kafka-python; both give the same records, headers and results.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from f1live.background import BackgroundLoop
from f1live.clients import (
    Consumer,
    Producer,
    Record,
    find_or_start_broker,
    make_consumer,
    make_producer,
    resolve_bootstrap,
    resolve_client,
)
from f1live.config import Settings
from f1live.delivery import DeliveryTracker
from f1live.handover import CheckpointStore, PartitionStates, Takeover, state_topic
from f1live.metrics import LatencyStats, percentiles
from f1live.processors import DriverStateful, Processor, run_processors
from f1live.schema import (
    DLQ_REASON_HEADER,
    DLQ_SOURCE_HEADER,
    RUN_HEADER,
    MessageError,
    decode_message,
    dlq_record,
)
from f1live.sinks import ResultSink

log = logging.getLogger(__name__)

#: Records per poll, i.e. the largest batch the processors get. Below 256 rows the models'
#: tree prediction runs on one OpenMP thread (:meth:`f1live.models.ModelBundle.predict_proba`);
#: from 256 rows on an OpenMP team, which on 2 shared cores waits for CPUs: measured per
#: analysed message, 66-70 us of CPU at 255 rows against 440-990 us at 256 and 82-84 us
#: (on both cores) at 500. Results do not depend on how messages are batched.
MAX_BATCH = 250

#: Offsets are committed (async) once the stream has been quiet for :data:`COMMIT_IDLE_S`
#: (the gap after a burst) or, while messages keep coming, every this many messages or
#: seconds. Not after every poll, nor as soon as one poll comes back empty: a 1x burst of
#: 20 messages reaches the consumer in 3-4 fetches a few ms apart, and a commit sent
#: between them delays the fetch of the burst's rest (measured, confluent, 1x, quiet
#: machine, 5 interleaved rounds: e2e p50 3.8-4.0 ms committing whenever a poll found
#: nothing against 3.5-3.6 ms without commits; with per-poll commits 5.7-14.8 ms). A crash
#: re-reads at most what was not committed; the tracker drops what was processed twice.
COMMIT_EVERY_MESSAGES = 500
COMMIT_EVERY_S = 0.5
#: Seconds without a message after which the processed offsets are committed: longer than
#: the gaps inside a burst (a few ms), shorter than the gap between 1x bursts (240 ms).
COMMIT_IDLE_S = 0.05

#: The consumer's periodic stats line (``Settings.stats_log_s``) and its parser; benchmarks
#: read kernel logs with it.
STATS_FORMAT = "consumer stats: %d msgs in %.1f s (%.0f msg/s), e2e p50 %.2f ms p99 %.2f ms"
_STATS_RE = re.compile(r"consumer stats: (\d+) msgs in ([\d.]+) s \((\d+) msg/s\), e2e p50 ([\d.]+) ms p99 ([\d.]+) ms")


#: A group member's log lines about its partitions (INFO) and their parser: tests and
#: benchmarks follow members running as processes with it.
ASSIGNED_FORMAT = "consumer (%s) group %s: assigned %s (committed %s, starting %s)"
REVOKED_FORMAT = "consumer group %s: revoked %s (committing %s)"
_OWNERSHIP_RE = re.compile(r"group \S+: (assigned|revoked) \[([\d, ]*)\]")


def owned_from_log(text: str) -> set[int]:
    """The partitions a group member owns according to its log: its last assignment minus
    what it gave up since.

    >>> lines = [ASSIGNED_FORMAT % ("confluent", "g", [0, 1], {}, {}), REVOKED_FORMAT % ("g", [1], {1: 40})]
    >>> owned_from_log(" ... ".join(lines))
    {0}
    """
    owned: set[int] = set()
    for kind, parts in _OWNERSHIP_RE.findall(text):
        ps = {int(p) for p in parts.split(",") if p.strip()}
        owned = ps if kind == "assigned" else owned - ps
    return owned


def parse_stats_line(text: str) -> dict[str, float] | None:
    """The numbers of a consumer stats line found in ``text`` (``None`` if there is none).

    >>> parse_stats_line("12:00:01 INFO " + STATS_FORMAT % (250, 2.0, 125.0, 8.5, 31.25))
    {'messages': 250, 'seconds': 2.0, 'msgs_per_s': 125.0, 'p50_ms': 8.5, 'p99_ms': 31.25}
    """
    m = _STATS_RE.search(text)
    if m is None:
        return None
    return {
        "messages": int(m[1]),
        "seconds": float(m[2]),
        "msgs_per_s": float(m[3]),
        "p50_ms": float(m[4]),
        "p99_ms": float(m[5]),
    }


@dataclasses.dataclass
class ConsumerSummary:
    """What a consumer run did. Latencies in ms."""

    topic: str
    group_id: str | None
    bootstrap_servers: str
    consumed: int
    processed: int
    dlq: int
    dlq_reasons: dict[str, int]
    duplicates: int
    gaps: int
    processor_errors: int
    published: int
    per_driver: dict[str, int]
    partitions: dict[int, dict[str, int | None]]
    elapsed_s: float
    join_s: float | None
    rate: float | None
    e2e_ms: dict[str, float | int]
    processing_ms: dict[str, float | int]
    stopped_reason: str
    #: group mode: how each assigned partition's analysis state was taken over (:class:`f1live.handover.Takeover`)
    takeovers: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: A partition this group member does not own (any more): its records are dropped.
_NOT_OWNED = -2


class RealTimeConsumer(BackgroundLoop[ConsumerSummary]):
    """Consume, validate, de-duplicate, process and measure the telemetry stream.

    Args:
        settings: configuration; ``Settings()`` if None.
        bootstrap_servers: ``host:port[,...]``; default from settings, else the embedded broker.
        processors: :class:`f1live.processors.Processor` objects run on every poll batch;
            default (None): :func:`f1live.analysis.default_processors` (features, River +
            rule anomaly detection and the trained models), loaded when consuming starts.
        analyse: with ``processors=None``, ``False`` consumes without analysis (transport only).
        state: a :class:`f1live.state.LiveState` to update (the dashboard reads it).
        group_id: consumer group (default ``settings.consumer_group``); with
            ``partitions`` set, the group is used for offsets only (no rebalancing).
        partitions: assign these partitions manually instead of joining the group.
        topic: overrides ``settings.topic``.
        tracker: a :class:`DeliveryTracker` to share across restarts (dedup state).
        publish_analysis: send each analysis record to ``settings.analysis_topic``.
        keep_messages: keep every processed message (decoded dict) in ``.messages``
            (for tests and notebooks; unbounded, so only for short runs).
        commit: commit offsets after processing (off for read-only inspection).
        broker_kind: ``kafka`` | ``tansu`` | ``external`` (client tuning); inferred otherwise.
        consumer_overrides: extra consumer settings in kafka-python's names (librdkafka's
            dotted names work with confluent).
        max_batch: at most this many records per poll are decoded and handed to the
            processors together (:data:`MAX_BATCH`; a 1x burst is 20).
        sink: also gets every analysed message (:class:`f1live.sinks.ResultSink`), flushed
            before the offsets are committed.
        handover: group mode: checkpoint each partition's per-driver analysis state to
            ``<topic>.state.<group>`` and restore it when a partition arrives from another
            member (:mod:`f1live.handover`); ``False``: a partition that arrives starts fresh.
            Only with processors that keep such state (:class:`f1live.processors.DriverStateful`):
            a transport-only consumer creates no state topic.

    The client library is ``settings.client`` (:func:`f1live.clients.resolve_client`).
    """

    kind = "consumer"

    def __init__(
        self,
        settings: Settings | None = None,
        bootstrap_servers: str | None = None,
        processors: Sequence[Processor] | None = None,
        state: Any = None,
        group_id: str | None = None,
        partitions: Sequence[int] | None = None,
        *,
        topic: str | None = None,
        tracker: DeliveryTracker | None = None,
        publish_analysis: bool = False,
        keep_messages: bool = False,
        commit: bool = True,
        broker_kind: str | None = None,
        consumer_overrides: dict[str, Any] | None = None,
        max_batch: int = MAX_BATCH,
        analyse: bool = True,
        sink: ResultSink | None = None,
        handover: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self._servers, kind = resolve_bootstrap(self.settings, bootstrap_servers)
        self.broker_kind = broker_kind or kind
        #: None until consuming starts when the default analysis is chosen (see ``processors``)
        self.processors: list[Processor] | None = (
            list(processors) if processors is not None else (None if analyse else [])
        )
        self.state = state
        self.group_id = group_id if group_id is not None else self.settings.consumer_group
        self.partitions = list(partitions) if partitions is not None else None
        self.topic = topic or self.settings.topic
        self.tracker = tracker or DeliveryTracker()
        self.publish_analysis = publish_analysis
        self.keep_messages = keep_messages
        self.commit = commit
        self._overrides = dict(consumer_overrides or {})
        self.sink = sink
        self.handover = handover
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        #: the client library this consumer uses (``confluent`` / ``kafka-python``)
        self.client_name = resolve_client(self.settings.client)
        self.broker: Any = None
        self.messages: list[dict[str, Any]] = []
        self.dlq_messages: list[dict[str, Any]] = []
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        #: group mode: owned partition -> next offset to process (None: from the reset policy)
        self._owned: dict[int, int | None] | None = None if self.partitions is not None else {}
        self._states: PartitionStates | None = None
        self._crashed = False
        self._stop = threading.Event()
        BackgroundLoop.__init__(self)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.consumed = 0
        self.processed = 0
        self.dlq = 0
        self.dlq_reasons: Counter[str] = Counter()
        self.duplicates = 0
        self.processor_errors = 0
        self.published = 0
        self.per_driver: Counter[str] = Counter()
        self.offsets: dict[int, dict[str, int | None]] = {}
        self.e2e_ms = LatencyStats()
        self.processing_ms = LatencyStats()
        self.join_s: float | None = None
        self._first_batch_t: float | None = None
        self._last_batch_t: float | None = None
        self.stale = 0
        self._segments: dict[str, int] = {}  # run -> newest replay segment seen
        # Offsets processed but not committed yet (see COMMIT_EVERY_MESSAGES).
        self._pending: dict[tuple[str, int], int] = {}
        self._pending_n = 0
        self._unflushed = False
        self._committed_t = time.monotonic()

    @property
    def bootstrap_servers(self) -> str | None:
        return self._servers

    # ------------------------------------------------------------ connection
    def _connect(self) -> Consumer:
        if self.processors is None:
            from f1live.analysis import default_processors

            self.processors = default_processors(self.settings).processors
        if not self._servers:
            self._servers, self.broker_kind, self.broker = find_or_start_broker(self.settings)
        group = self.group_id or None
        if self.partitions is None and group is None:
            raise ValueError("group_id is empty: join a group or pass partitions=[...] to assign manually")
        consumer = make_consumer(
            self._servers, client=self.client_name, kind=self.broker_kind, group_id=group, **self._overrides
        )
        if self.partitions is not None:
            consumer.assign(self.topic, self.partitions)
        else:
            self._owned = {}
            self._states = self._partition_states()
            consumer.subscribe(self.topic, on_assign=self._assigned, on_revoke=self._revoked)
        self._consumer = consumer
        return consumer

    def _partition_states(self) -> PartitionStates:
        """Group mode: the hand-over of per-partition analysis state (checkpoints if ``handover``)."""
        store = None
        if self.handover and self.group_id and any(isinstance(p, DriverStateful) for p in self.processors or ()):
            from f1live.topics import describe_topic

            name = state_topic(self.topic, self.group_id)
            try:
                info = describe_topic(self._servers or "", self.topic, client=self.client_name)
                store = CheckpointStore(
                    self._servers or "",
                    name,
                    info.partitions if info is not None else self.settings.partitions,
                    client=self.client_name,
                    kind=self.broker_kind,
                    replication=self.settings.replication,
                ).start()
            except Exception as exc:  # e.g. no right to create the topic: consume on, hand nothing over
                log.warning(
                    "no analysis state hand-over (state topic %s: %s); partitions arriving from "
                    "other members start fresh",
                    name,
                    exc,
                )
        return PartitionStates(store, self.processors or [], self.tracker)

    @property
    def assignment(self) -> list[int]:
        """The partitions this consumer reads now (group mode: as the last rebalance left them)."""
        owned = self._owned
        # copy() is one step under the GIL: safe while a rebalance in the consumer thread changes it
        return sorted(owned.copy()) if owned is not None else list(self.partitions or [])

    @property
    def takeovers(self) -> list[Takeover]:
        """Group mode: how each partition assigned so far was taken over (catch-up times)."""
        return list(self._states.takeovers) if self._states is not None else []

    # ------------------------------------------------------------ rebalance (group mode)
    def _assigned(self, committed: dict[int, int | None]) -> dict[int, int]:
        """Partitions arrive: restore their state; where to start them (silent replay first)."""
        assert self._owned is not None and self._states is not None
        self._states.segments = self._segments
        start = self._states.assigned(committed)
        for p, c in committed.items():
            self._owned[p] = start.get(p, c)
        log.info(
            ASSIGNED_FORMAT,
            self.client_name,
            self.group_id,
            sorted(committed),
            committed,
            start or "at the committed offsets",
        )
        self._set_status(f"consuming {len(self._owned)} partitions")
        return start

    def _revoked(self, partitions: list[int], lost: bool) -> dict[int, int] | None:
        """Partitions leave: results durable, state checkpointed, offsets to commit (none if lost)."""
        assert self._owned is not None and self._states is not None
        owned = {p: self._owned.pop(p) for p in partitions if p in self._owned}
        for p in partitions:
            self._pending.pop((self.topic, p), None)
        if lost or self._crashed:
            log.warning(
                "consumer group %s: partitions %s %s; their state is not handed over",
                self.group_id,
                partitions,
                "lost" if lost else "dropped after a crash",
            )
            self._states.revoked({}, lost=partitions)
            return None
        nexts = {p: n for p, n in owned.items() if n is not None}
        # a replay not finished: the group's committed offset is further on and stays
        commit = {p: n for p, n in nexts.items() if p not in self._states.replay_to}
        self._flush_outputs()
        self._states.revoked(nexts)
        log.info(REVOKED_FORMAT, self.group_id, partitions, commit)
        return commit if self.commit and self.group_id else None

    def _flush_outputs(self) -> None:
        """Make what was emitted durable before offsets are committed (DLQ copies, published
        analysis records, the sink)."""
        if self._unflushed:
            self._dlq_producer().flush(timeout=10)
            self._unflushed = False
        if self.sink is not None:
            self.sink.flush()

    def _dlq_producer(self) -> Producer:
        if self._producer is None:
            self._producer = make_producer(self._servers or "", client=self.client_name, kind=self.broker_kind)
        return self._producer

    def _set_status(self, text: str) -> None:
        if self.state is not None:
            self.state.set_status("consumer", text)

    # ------------------------------------------------------------ public API
    def consume_messages(
        self,
        timeout_seconds: float = 10.0,
        *,
        max_messages: int | None = None,
        idle_timeout: float | None = None,
    ) -> ConsumerSummary:
        """Consume (blocking) until ``timeout_seconds`` pass, ``max_messages`` valid
        messages were processed, or nothing arrived for ``idle_timeout`` seconds after
        the first message. Returns a :class:`ConsumerSummary`."""
        self._stop.clear()
        consumer = self._connect()
        return self._run(consumer, timeout_seconds, max_messages, idle_timeout)

    def start(
        self,
        timeout_seconds: float | None = None,
        *,
        max_messages: int | None = None,
        idle_timeout: float | None = None,
    ) -> RealTimeConsumer:
        """Consume in a background thread until :meth:`stop` (or a limit)."""
        if self.running:
            raise RuntimeError("consumer already running; stop() it first")
        self._stop.clear()
        consumer = self._connect()
        self._launch(lambda: self._run(consumer, timeout_seconds, max_messages, idle_timeout))
        return self

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and close (idempotent)."""
        self._stop.set()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "consumed": self.consumed,
                "processed": self.processed,
                "dlq": self.dlq,
                "duplicates": self.duplicates,
                "running": self.running,
            }

    # ------------------------------------------------------------ the loop
    def _close_clients(self) -> None:
        # the consumer first: leaving the group may still flush, checkpoint and commit
        for attr in ("_consumer", "_producer"):
            client = getattr(self, attr)
            if client is not None:
                try:
                    client.close() if attr == "_consumer" else client.close(timeout=5)
                except Exception:
                    log.debug("closing %s failed", attr, exc_info=True)
                setattr(self, attr, None)
        if self._states is not None:
            self._states.close()

    def _run(
        self, consumer: Consumer, timeout: float | None, max_messages: int | None, idle_timeout: float | None
    ) -> ConsumerSummary:
        self._reset()
        t0 = time.monotonic()
        deadline = None if timeout is None else t0 + timeout
        last_msg_t: float | None = None
        reason = "timeout"
        crashed = False
        max_bytes = self.settings.max_message_bytes
        state = self.state
        stats_every, stats_at, stats_n = self.settings.stats_log_s, t0, 0
        self._set_status(f"joining {self.group_id}" if self.partitions is None else "assigned")
        try:
            while True:
                if self._stop.is_set():
                    reason = "stopped"
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    reason = "timeout"
                    break
                if max_messages is not None and self.processed >= max_messages:
                    reason = "max_messages"
                    break
                if idle_timeout is not None and last_msg_t is not None and now - last_msg_t >= idle_timeout:
                    reason = "idle"
                    break
                wait_s = 0.1 if deadline is None else max(0.001, min(0.1, deadline - now))
                if self._pending and last_msg_t is not None:  # wake up when the commit is due
                    wait_s = max(0.0, min(wait_s, last_msg_t + COMMIT_IDLE_S - now))
                batch = consumer.poll(wait_s, self.max_batch)
                t_recv_ns = time.time_ns()
                if self.join_s is None:
                    assigned = consumer.assignment()
                    if assigned:
                        self.join_s = round(time.monotonic() - t0, 3)
                        self._set_status(f"consuming {len(assigned)} partitions")
                        log.info("consumer (%s) assigned %s after %.2f s", self.client_name, assigned, self.join_s)
                if not batch:
                    if self._pending and (last_msg_t is None or time.monotonic() - last_msg_t >= COMMIT_IDLE_S):
                        self._commit_pending(consumer)  # quiet: the burst is over
                    continue
                last_msg_t = time.monotonic()
                if self._first_batch_t is None:
                    self._first_batch_t = last_msg_t
                self._last_batch_t = last_msg_t
                self._handle(consumer, batch, t_recv_ns, max_bytes, state)
                if self._pending and (
                    self._pending_n >= COMMIT_EVERY_MESSAGES or last_msg_t - self._committed_t >= COMMIT_EVERY_S
                ):
                    self._commit_pending(consumer)  # a long backlog: commit on the way
                if stats_every and last_msg_t >= stats_at + stats_every:
                    stats_n = self._log_stats(last_msg_t - stats_at, stats_n)
                    stats_at = last_msg_t
        except BaseException:
            # Crashed mid-batch: the consumer's position is past messages that were never
            # processed; committing it would lose them. The last commit stands.
            crashed = self._crashed = True
            raise
        finally:
            elapsed = time.monotonic() - t0
            if crashed:
                log.warning(
                    "consumer crashed: offsets since the last commit are not committed (a restart re-reads them)"
                )
            else:
                self._finish(consumer)
            if stats_every and not crashed and last_msg_t is not None:  # the last, partial interval
                self._log_stats(max(last_msg_t - stats_at, 1e-3), stats_n)
            self._summary = self._make_summary(reason, elapsed)
            self._set_status(f"stopped ({reason}): {self.processed} processed, {self.dlq} to DLQ")
            self._close_clients()
        return self._summary

    def _finish(self, consumer: Consumer) -> None:
        """Stopping cleanly: outputs durable, state checkpointed (group mode), offsets committed."""
        try:
            self._flush_outputs()
            if self._owned is None:
                if self.commit and self.group_id:
                    consumer.commit()  # synchronous: what was processed is committed before close
                return
            assert self._states is not None
            nexts = {p: n for p, n in self._owned.items() if n is not None}
            self._states.save(nexts)
            commit = {(self.topic, p): n for p, n in nexts.items() if p not in self._states.replay_to}
            if self.commit and self.group_id and commit:
                consumer.commit(commit)
        except Exception as exc:
            log.warning("final offset commit failed: %s", exc)

    def _handle(self, consumer: Consumer, batch: list[Any], t_recv_ns: int, max_bytes: int, state: Any) -> None:
        good: list[dict[str, Any]] = []
        silent: list[bool] = []  # group mode: replayed only to rebuild state (no output)
        gaps_before = len(self.tracker.gaps) and sum(len(v) for v in self.tracker.gaps.values())
        dlq_sent = False
        n_dup = 0
        last: dict[int, int] = {}  # partition -> last offset in this batch
        replayed: dict[int, int] = {}
        accept = self.tracker.accept
        owned, states = self._owned, self._states
        if owned is not None:
            batch = self._owned_records(batch, owned)
        run = ""
        run_raw: bytes | None = None
        for rec in batch:
            p = rec.partition
            last[p] = rec.offset
            quiet = states is not None and states.replaying(p, rec.offset)
            try:
                msg = decode_message(rec.value, max_bytes=max_bytes)
            except MessageError as exc:
                if not quiet:  # a replayed one went to the DLQ before the hand-over
                    self._send_dlq(rec, exc.reason, exc.detail)
                    dlq_sent = True
                continue
            raw = b""
            for k, v in rec.headers or ():
                if k == RUN_HEADER:
                    raw = v
            if raw != run_raw:  # a poll's records mostly share one run: decode it once
                run_raw, run = raw, raw.decode("utf-8", "replace") if raw else ""
            driver = msg["driver"]
            if not quiet and self.tracker.replay_upto and self.tracker.replayed(run, driver, msg["seq"]):
                quiet = True  # accepted before an older checkpoint was restored: state only
            if quiet:
                if not self.tracker.advance(run, driver, msg["seq"]):
                    continue
                replayed[p] = replayed.get(p, 0) + 1
            elif not accept(run, driver, msg["seq"]):
                n_dup += 1
                continue
            if states is not None:
                states.seen(p, driver)
            msg["_partition"] = p
            msg["_offset"] = rec.offset
            msg["_run"] = run
            good.append(msg)
            silent.append(quiet)
        for p, off in last.items():
            hw = consumer.highwater(self.topic, p)
            self.offsets[p] = {"offset": off + 1, "lag": None if hw is None else max(hw - off - 1, 0)}
        good, silent, n_stale = self._current_segment(good, silent, state)
        results, errors = run_processors(self.processors, good) if self.processors else ([{} for _ in good], 0)
        t_done_ns = time.time_ns()
        proc_ms = (t_done_ns - t_recv_ns) / 1e6
        recs = []
        live: list[dict[str, Any]] = []
        e2es: list[float] = []
        per_driver = self.per_driver
        for msg, res, quiet in zip(good, results, silent, strict=True):
            if quiet:
                continue
            e2e = (t_done_ns - msg["produced_at_ns"]) / 1e6
            e2es.append(e2e)
            per_driver[msg["driver"]] += 1
            recs.append((msg, res, e2e, proc_ms))
            live.append(msg)
        if e2es:
            self.e2e_ms.extend(e2es)
            self.processing_ms.extend([proc_ms] * len(e2es))
        n_consumed = len(batch)
        with self._lock:
            self.consumed += n_consumed
            self.processed += len(live)
            self.duplicates += n_dup
            self.stale += n_stale
            self.processor_errors += errors
        if self.keep_messages:
            self.messages.extend(live)
        if self.publish_analysis and recs:
            self._publish(recs)
        if self.sink is not None and recs:
            self.sink.write(recs)
        if state is not None:
            state.record_batch(recs)
            state.count("consumed", n_consumed)
            if n_dup:
                state.count("duplicates", n_dup)
            if n_stale:
                state.count("stale", n_stale)
            if errors:
                state.count("processor_errors", errors)
            new_gaps = sum(len(v) for v in self.tracker.gaps.values()) - gaps_before
            if new_gaps:
                state.count("gaps", new_gaps)
            for p, o in self.offsets.items():
                state.set_partition(p, o["offset"], o["lag"])
        if owned is not None:
            for p, off in last.items():
                owned[p] = off + 1
            if states is not None and (replayed or states.replay_to):
                states.progress(owned, replayed)  # type: ignore[arg-type]
        if self.commit and self.group_id:
            for p, off in last.items():
                if states is None or not states.replaying(p, off):  # never commit back into a replay
                    self._pending[(self.topic, p)] = off + 1
            self._pending_n += n_consumed
            self._unflushed = self._unflushed or dlq_sent

    def _commit_pending(self, consumer: Consumer) -> None:
        """Commit the processed batches' offsets (async); DLQ copies, published records and the
        sink are made durable first, and due checkpoints are queued (group mode)."""
        self._flush_outputs()
        if self._states is not None and self._owned:
            nexts = {p: n for p, n in self._owned.items() if n is not None}
            self._states.save({p: nexts[p] for p in self._states.due(nexts)}, durable=False)
        try:
            consumer.commit(self._pending, asynchronous=True)
        except Exception as exc:
            log.warning("offset commit failed (will be retried by the next commit): %s", exc)
        self._pending = {}
        self._pending_n = 0
        self._committed_t = time.monotonic()

    @staticmethod
    def _owned_records(batch: list[Record], owned: dict[int, int | None]) -> list[Record]:
        """Group mode: the records of partitions this member owns, from its position on (a poll
        can still hand out records of a partition revoked - or revoked and given back - in it)."""
        keep = []
        for rec in batch:
            nxt = owned.get(rec.partition, _NOT_OWNED)
            if nxt is None or (nxt != _NOT_OWNED and rec.offset >= nxt):
                keep.append(rec)
        if len(keep) < len(batch):
            log.debug("dropped %d records of partitions not owned (any more)", len(batch) - len(keep))
        return keep

    def _current_segment(
        self, msgs: list[dict[str, Any]], silent: list[bool], state: Any
    ) -> tuple[list[dict[str, Any]], list[bool], int]:
        """Keep each run's newest replay segment; a seek (a new segment) resets the analysis.

        After a seek, what the processors and the live state remember (rolling windows,
        laps, the replay clock) belongs to another stretch of the session: it is reset
        before the first message of the new segment, and messages of the older segment
        still in flight (other partitions) are dropped as ``stale``: counted, never analysed.
        Runs are independent (several producers may share a topic).
        """
        newest = dict(self._segments)
        for m in msgs:
            run, seg = m["_run"], m.get("segment", 0)
            if seg > newest.get(run, -1):
                newest[run] = seg
        if any(run in self._segments and seg > self._segments[run] for run, seg in newest.items()):
            log.info("replay segment %s -> %s: resetting the analysis state", self._segments, newest)
            for proc in self.processors or ():
                reset = getattr(proc, "reset", None)
                if callable(reset):
                    reset()
            if state is not None and hasattr(state, "new_segment"):
                state.new_segment()
        self._segments = newest
        if self._states is not None:
            self._states.segments = newest
        keep = [i for i, m in enumerate(msgs) if m.get("segment", 0) == newest[m["_run"]]]
        if len(keep) == len(msgs):
            return msgs, silent, 0
        return [msgs[i] for i in keep], [silent[i] for i in keep], len(msgs) - len(keep)

    def _send_dlq(self, rec: Any, reason: str, detail: str) -> None:
        body = dlq_record(
            reason,
            detail,
            rec.topic,
            rec.partition,
            rec.offset,
            rec.key,
            rec.value,
            getattr(rec, "timestamp", None),
            self.group_id,
        )
        headers = [
            (DLQ_REASON_HEADER, reason.encode()),
            (DLQ_SOURCE_HEADER, f"{rec.topic}/{rec.partition}/{rec.offset}".encode()),
        ]
        self._dlq_producer().send(self.settings.dlq_topic, body, rec.key, headers)
        with self._lock:
            self.dlq += 1
            self.dlq_reasons[reason] += 1
        if self.keep_messages:
            self.dlq_messages.append(json.loads(body))
        if self.state is not None:
            self.state.count("dlq")
        # One line per rejected record would flood a notebook; the counts are in the summary.
        (log.warning if self.dlq <= 10 else log.debug)(
            "DLQ %s/%d/%d: %s %s", rec.topic, rec.partition, rec.offset, reason, detail[:200]
        )

    def _log_stats(self, seconds: float, count_before: int) -> int:
        """Log the messages processed since the last stats line, and their e2e p50/p99."""
        count = self.e2e_ms.count  # this thread is the only writer: since() sees the same count
        if count > count_before:
            p = percentiles(self.e2e_ms.since(count_before), (50, 99))
            n = count - count_before
            log.info(STATS_FORMAT, n, seconds, n / seconds, p["p50"], p["p99"])
        return count

    def _publish(self, recs: list[tuple[dict[str, Any], dict[str, Any], float, float]]) -> None:
        prod = self._dlq_producer()
        topic = self.settings.analysis_topic
        for msg, res, e2e, proc in recs:
            record = {
                "driver": msg["driver"],
                "seq": msg["seq"],
                "gseq": msg["gseq"],
                "session_time": msg["session_time"],
                "lap_number": msg.get("lap_number"),
                "e2e_ms": round(e2e, 3),
                "processing_ms": round(proc, 3),
                **res,
            }
            prod.send(topic, json.dumps(record, separators=(",", ":"), default=str).encode(), msg["driver"].encode())
        self._unflushed = True  # durable before the offsets are committed, like the DLQ copies
        with self._lock:
            self.published += len(recs)
        if self.state is not None:
            self.state.count("published", len(recs))

    def _rate(self) -> float | None:
        """Processed messages per second between the first and the last non-empty poll."""
        if self._first_batch_t is None or self._last_batch_t is None:
            return None
        span = self._last_batch_t - self._first_batch_t
        return round(self.processed / span, 3) if span > 0 else None

    def _make_summary(self, reason: str, elapsed: float) -> ConsumerSummary:
        snap = self.tracker.snapshot()
        return ConsumerSummary(
            topic=self.topic,
            group_id=self.group_id or None,
            bootstrap_servers=str(self._servers),
            consumed=self.consumed,
            processed=self.processed,
            dlq=self.dlq,
            dlq_reasons=dict(self.dlq_reasons),
            duplicates=self.duplicates,
            gaps=snap["gaps"],
            processor_errors=self.processor_errors,
            published=self.published,
            per_driver=dict(self.per_driver),
            partitions={p: dict(v) for p, v in sorted(self.offsets.items())},
            elapsed_s=round(elapsed, 4),
            join_s=self.join_s,
            rate=self._rate(),
            e2e_ms=self.e2e_ms.summary(),
            processing_ms=self.processing_ms.summary(),
            stopped_reason=reason,
            takeovers=[dataclasses.asdict(t) for t in self.takeovers],
        )
