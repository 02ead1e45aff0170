"""Replay the telemetry cache into Kafka at the real rate (seed step 3).

:class:`RealTimeProducer` sends each cached row as one JSON message (see
:func:`f1live.schema.encode_message`) to ``Settings.topic``, keyed by driver so each
driver's samples stay in order within one partition. Rows are paced by their own
``session_time`` against a monotonic clock on an *absolute* schedule: row ``i`` is due
at ``anchor_wall + (session_time[i] - anchor_data) / speed``, so a late send never
pushes the following rows back (no accumulated drift). ``speed=0`` (or ``"max"``)
sends as fast as the client can.

Every message carries an envelope: ``schema_version``, ``seq`` (per driver, 0-based,
gap-free), ``gseq`` (over the whole replay), ``event_time_ns`` (the sample's ``date``)
and ``produced_at_ns`` (wall clock at send). A Kafka header ``f1live-run`` carries the
run id so consumers can tell replays apart when de-duplicating by ``seq``.
Delivery uses ``acks=all`` with idempotent retries; every send is counted as sent,
then acked or failed (never dropped silently); a missing broker fails fast with a
:class:`ConnectionError` that names the address.

Seed API (blocking)::

    summary = RealTimeProducer().load_cache("data/monaco_2023_R.parquet").stream_at_frequency(
        duration_seconds=30, speed=1.0)

Kernel-friendly background mode::

    with RealTimeProducer(settings).load_cache(cache) as prod:
        prod.start(speed=10)
        prod.pause(); prod.seek(lap=40); prod.set_speed(1.0); prod.resume()
        prod.stop(); summary = prod.join(5)

Pacing is testable without real time by injecting a :class:`Clock`:

>>> clk = FakeClock()
>>> sched = Schedule([0.0, 0.25, 0.5], clock=clk, speed=2.0)
>>> [round(sched.due(i), 3) for i in range(3)]
[0.0, 0.125, 0.25]
>>> clk.sleep(1.0); sched.reanchor(1, speed=1.0); round(sched.due(2), 3)
1.25
>>> parse_speed("max"), parse_speed("10x"), parse_speed(1)
(0.0, 10.0, 1.0)
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from f1live.background import BackgroundLoop
from f1live.clients import (
    Producer,
    find_or_start_broker,
    make_producer,
    resolve_bootstrap,
    resolve_client,
)
from f1live.config import Settings
from f1live.metrics import LatencyStats
from f1live.schema import RUN_HEADER, encode_body, frame_message

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- clock
class Clock(Protocol):
    """Time source for pacing: monotonic seconds and a sleep."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.perf_counter`` (monotonic, ns resolution) and ``time.sleep``."""

    def monotonic(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A deterministic clock for tests: ``sleep`` advances time exactly; ``advance`` too.

    ``cost`` seconds are added on every ``monotonic()`` call to model work taking time.
    """

    def __init__(self, start: float = 0.0, cost: float = 0.0) -> None:
        self.t = start
        self.cost = cost
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            self.t += self.cost
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self.t += seconds

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


def parse_speed(speed: float | int | str | None) -> float:
    """Speed factor from ``1``, ``10.0``, ``"10x"``, ``"max"`` (0 = as fast as possible)."""
    if speed is None:
        return 1.0
    if isinstance(speed, str):
        s = speed.strip().lower()
        s = s[:-1] if s.endswith("x") and s != "max" else s
        if s in {"max", "inf", "0", ""}:
            return 0.0
        try:
            speed = float(s)
        except ValueError:
            raise ValueError(f"speed {speed!r}: expected a positive number like 1, 10, 0.5 or 'max'") from None
    value = float(speed)
    if value < 0 or not np.isfinite(value):
        raise ValueError(f"speed {speed!r}: expected a positive number or 'max' (0)")
    return value


class Schedule:
    """Absolute pacing schedule over sorted data times (seconds).

    ``due(i)`` is the monotonic time row ``i`` should be sent at; :meth:`reanchor`
    restarts the schedule at row ``i`` *now* (after a pause, seek or speed change).
    With ``speed == 0`` every row is due immediately.
    """

    def __init__(self, times: Sequence[float] | np.ndarray, clock: Clock, speed: float = 1.0, start: int = 0) -> None:
        self.times = np.asarray(times, dtype=np.float64)
        self.clock = clock
        self.speed = speed
        self.anchor_index = start
        self.anchor_wall = clock.monotonic()

    def reanchor(self, index: int, speed: float | None = None) -> None:
        if speed is not None:
            self.speed = speed
        self.anchor_index = index
        self.anchor_wall = self.clock.monotonic()

    def due(self, i: int) -> float:
        if self.speed <= 0:
            return self.anchor_wall
        t0 = float(self.times[min(self.anchor_index, len(self.times) - 1)])
        return float(self.anchor_wall + (float(self.times[i]) - t0) / self.speed)


# --------------------------------------------------------------------------- summary
@dataclasses.dataclass
class ProducerSummary:
    """What a replay did. All rates are messages per second; times in ms unless named."""

    run_id: str
    topic: str
    bootstrap_servers: str
    speed: float
    rows_available: int
    sent: int
    acked: int
    failed: int
    errors: list[str]
    per_driver: dict[str, int]
    elapsed_s: float
    achieved_rate: float | None
    data_rate: float | None
    rate_error_pct: float | None
    lateness_ms: dict[str, float | int]
    send_ms: dict[str, float | int]
    ack_ms: dict[str, float | int]
    first_session_time: float | None
    last_session_time: float | None
    source: str | None
    simulated: bool
    stopped_reason: str
    client: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def ok(self) -> bool:
        """Every sent message acknowledged, none failed."""
        return self.failed == 0 and self.acked == self.sent


# --------------------------------------------------------------------------- producer
class RealTimeProducer(BackgroundLoop[ProducerSummary]):
    """Paced replay of a :class:`f1live.cache.ReplayCache` into Kafka.

    Args:
        settings: configuration (topic, partitions, broker); ``Settings()`` if None.
        bootstrap_servers: ``host:port[,...]``; default ``settings.bootstrap_servers``,
            else the embedded broker (:func:`f1live.broker.start_broker`) is used.
        clock: pacing clock (:class:`SystemClock` by default; :class:`FakeClock` in tests).
        topic: overrides ``settings.topic``.
        drivers: only replay these driver codes.
        client: a ready :class:`f1live.clients.Producer` (``send``/``flush``/``close``); by
            default one is made with :func:`f1live.clients.make_producer` for the library
            ``settings.client`` names (``confluent`` | ``kafka-python`` | ``auto``).
        producer_overrides: extra producer settings in kafka-python's names (e.g.
            ``linger_ms``; librdkafka's dotted names work with confluent).
        partition: send every message to this partition (default: by key, murmur2, the
            same partition with both client libraries).
        ensure_topic: create the topic with ``settings.partitions`` if missing.
        broker_kind: ``kafka`` | ``tansu`` | ``external`` (client tuning); inferred otherwise.

    No I/O happens here; :meth:`stream_at_frequency` / :meth:`start` connect.
    """

    kind = "producer"

    def __init__(
        self,
        settings: Settings | None = None,
        bootstrap_servers: str | None = None,
        clock: Clock | None = None,
        *,
        topic: str | None = None,
        drivers: Sequence[str] | None = None,
        client: Producer | None = None,
        producer_overrides: dict[str, Any] | None = None,
        ensure_topic: bool = True,
        broker_kind: str | None = None,
        state: Any = None,
        partition: int | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._servers, kind = resolve_bootstrap(self.settings, bootstrap_servers)
        self.broker_kind = broker_kind or kind
        self.clock: Clock = clock or SystemClock()
        self.topic = topic or self.settings.topic
        self.drivers = list(drivers) if drivers else None
        self._client: Producer | None = client
        self._own_client = client is None
        self.partition = partition
        #: the client library (``confluent`` / ``kafka-python``), or the given client's ``name``
        self.client_name = getattr(client, "name", None) or resolve_client(self.settings.client)
        self._overrides = dict(producer_overrides or {})
        self._ensure_topic = ensure_topic
        self.state = state
        self.broker: Any = None  # an embedded broker this producer had to start
        self.cache: Any = None
        self.run_id = uuid.uuid4().hex[:12]
        self._runs = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        BackgroundLoop.__init__(self)
        self._pending: dict[str, Any] = {}
        self._speed = parse_speed(self.settings.speed)
        self._pos = 0
        self._reset_counters()

    # ------------------------------------------------------------ setup
    def load_cache(self, path_or_cache: Any) -> RealTimeProducer:
        """Use a ReplayCache, or load one from a CSV/Parquet export path. Returns self."""
        if isinstance(path_or_cache, str | Path):
            from f1live.cache import ReplayCache

            cache = ReplayCache.from_path(Path(path_or_cache))
        elif hasattr(path_or_cache, "session_time") and hasattr(path_or_cache, "row"):
            cache = path_or_cache
        else:
            from f1live.cache import ReplayCache

            cache = ReplayCache.from_frame(path_or_cache)
        if self.drivers:
            cache = cache.filter(drivers=self.drivers)
        if len(cache) == 0:
            raise ValueError(f"the replay cache has no rows (drivers={self.drivers}); nothing to stream")
        self.cache = cache
        self._pos = cache.index_of_start(self.settings.replay_from) if hasattr(cache, "index_of_start") else 0
        return self

    @property
    def bootstrap_servers(self) -> str | None:
        return self._servers

    def _reset_counters(self) -> None:
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.errors: list[str] = []
        self.per_driver: Counter[str] = Counter()
        self._seq: Counter[str] = Counter()
        self._gseq = 0
        self._segment = 0
        self.lateness_ms = LatencyStats()
        self.send_ms = LatencyStats()
        self.ack_ms = LatencyStats()
        self._sched_span = 0.0
        self._wall_span = 0.0
        self._first_st: float | None = None
        self._last_st: float | None = None
        self._elapsed = 0.0

    def stats(self) -> dict[str, Any]:
        """Live counters (thread-safe copy)."""
        with self._lock:
            return {
                "sent": self.sent,
                "acked": self.acked,
                "failed": self.failed,
                "position": self._pos,
                "rows": len(self.cache) if self.cache is not None else 0,
                "speed": self._speed,
                "paused": not self._resume.is_set(),
                "running": self.running,
                "errors": list(self.errors[-3:]),
            }

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        if not self._servers:
            self._servers, self.broker_kind, self.broker = find_or_start_broker(self.settings)
        if self._ensure_topic:
            from f1live.topics import ensure_topic

            ensure_topic(
                self._servers, self.topic, self.settings.partitions, self.settings.replication, client=self.client_name
            )
        self._client = make_producer(self._servers, client=self.client_name, kind=self.broker_kind, **self._overrides)
        try:  # fetch the topic's metadata now, not on the first (timed) send
            self._client.partitions_for(self.topic)
        except Exception as exc:
            log.warning("no metadata for topic %s yet: %s", self.topic, exc)
        return self._client

    # ------------------------------------------------------------ callbacks (client thread)
    def _delivered(self, t_send: float, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(error)
            return
        self.ack_ms.add((time.perf_counter() - t_send) * 1e3)
        with self._lock:
            self.acked += 1

    def _on_error(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if len(self.errors) < 20:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        log.warning("message delivery failed: %s", exc)

    # ------------------------------------------------------------ controls
    def pause(self) -> None:
        """Stop sending until :meth:`resume` (the schedule restarts on resume)."""
        self._resume.clear()
        self._set_status("paused")

    def resume(self) -> None:
        with self._lock:
            self._pending["reanchor"] = True
        self._resume.set()
        self._set_status("running")

    def seek(
        self,
        lap: int | None = None,
        *,
        index: int | None = None,
        session_time: float | None = None,
        start: str | None = None,
    ) -> None:
        """Continue the replay from the first row of ``lap``, at ``session_time`` (s), from a
        start point (``"race"``, ``"lap 30"``, ``"time 1:20:00"``) or from row ``index``.

        The messages after a seek carry the next ``segment`` number, so consumers know the
        analysis state of the stretch before it no longer applies.
        """
        if self.cache is None:
            raise RuntimeError("load_cache() first")
        if lap is not None:
            target = self.cache.index_of_lap(int(lap))
        elif session_time is not None:
            target = min(self.cache.index_of_time(float(session_time)), len(self.cache) - 1)
        elif start is not None:
            target = self.cache.index_of_start(start)
        else:
            target = int(index or 0)
        if not 0 <= target < len(self.cache):
            raise ValueError(f"seek target row {target} outside the cache (0..{len(self.cache) - 1})")
        with self._lock:
            self._pending["seek"] = target
            if not self.running:
                self._pos = target

    def set_speed(self, speed: float | str) -> None:
        """Change the replay speed factor (1 = real time, ``'max'`` = no pacing)."""
        value = parse_speed(speed)
        with self._lock:
            self._pending["speed"] = value
            if not self.running:
                self._speed = value

    def _set_status(self, text: str) -> None:
        if self.state is not None:
            self.state.set_status("producer", text)

    # ------------------------------------------------------------ the loop
    def stream_at_frequency(
        self,
        duration_seconds: float | None = None,
        speed: float | str | None = None,
        *,
        max_messages: int | None = None,
        start_lap: int | None = None,
        start: str | None = None,
        progress: bool = False,
    ) -> ProducerSummary:
        """Replay (blocking) for ``duration_seconds`` of wall time (None: to the end).

        The replay begins at ``start`` (``"race"``, ``"session"``, ``"lap N"``, ``"time
        H:MM:SS"``; ``start_lap=N`` is ``"lap N"``), else where the previous replay stopped,
        else at ``Settings.replay_from`` (default: the race start).

        Returns a :class:`ProducerSummary`; raises ``ConnectionError`` if no broker is
        reachable. Delivery failures do not raise: they are counted in the summary.
        """
        if self.cache is None:
            raise RuntimeError("no data: call load_cache(path_or_cache) before streaming")
        if speed is not None:
            self._speed = parse_speed(speed)
        self._start_at(start_lap, start)
        self._stop.clear()
        client = self._connect()
        return self._run(client, duration_seconds, max_messages, progress)

    def start(
        self,
        duration_seconds: float | None = None,
        speed: float | str | None = None,
        *,
        max_messages: int | None = None,
        start_lap: int | None = None,
        start: str | None = None,
    ) -> RealTimeProducer:
        """Replay in a background thread (connects first, so a missing broker raises here).

        ``start`` / ``start_lap`` as in :meth:`stream_at_frequency`.
        """
        if self.running:
            raise RuntimeError("producer already running; stop() it first")
        if self.cache is None:
            raise RuntimeError("no data: call load_cache(path_or_cache) before start()")
        if speed is not None:
            self._speed = parse_speed(speed)
        self._start_at(start_lap, start)
        self._stop.clear()
        self._resume.set()
        client = self._connect()
        self._launch(lambda: self._run(client, duration_seconds, max_messages, False))
        return self

    def _start_at(self, start_lap: int | None, start: str | None) -> None:
        if start_lap is not None:
            self._pos = self.cache.index_of_lap(int(start_lap))
        elif start is not None:
            self._pos = self.cache.index_of_start(start)

    def stop(self) -> None:
        """Ask the replay to stop (idempotent; safe before start)."""
        self._stop.set()
        self._resume.set()

    def _close_clients(self) -> None:
        """Flush and close the Kafka client if this producer made it."""
        if self._client is not None and self._own_client:
            try:
                self._client.close(timeout=10)
            except Exception:  # closing after a broker loss must not raise
                log.debug("producer close failed", exc_info=True)
            self._client = None

    # one replay (caller's thread or background thread)
    def _run(
        self, client: Producer, duration: float | None, max_messages: int | None, progress: bool
    ) -> ProducerSummary:
        cache = self.cache
        clock = self.clock
        times = np.asarray(cache.session_time, dtype=np.float64)
        n = len(times)
        self._reset_counters()
        if self._runs:  # seq restarts at 0: a new run id keeps consumers' dedup per run correct
            self.run_id = uuid.uuid4().hex[:12]
        self._runs += 1
        meta = getattr(cache, "meta", {}) or {}
        headers = [(RUN_HEADER, self.run_id.encode())]
        topic = self.topic
        partition = self.partition
        delivered = self._delivered
        sched = Schedule(times, clock, self._speed, self._pos)
        seg_first: tuple[float, float] | None = None  # (due, sent) of the segment's first row
        seg_last: tuple[float, float] | None = None
        t_start = clock.monotonic()
        paused_total = 0.0
        reason = "end"
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_messages or (n - self._pos), unit="msg", desc="produce")
        self._set_status("running")
        last_date: Any = None
        last_ns = 0
        prep: dict[int, tuple[str, bytes, bytes, Any]] = {}
        rows = _RowReader(cache)
        date_ns = getattr(cache, "date_ns", None)  # ReplayCache keeps dates as epoch ns

        def close_segment() -> None:
            nonlocal seg_first, seg_last
            if seg_first is not None and seg_last is not None:
                self._sched_span += seg_last[0] - seg_first[0]
                self._wall_span += seg_last[1] - seg_first[1]
            seg_first = seg_last = None

        i = self._pos
        while True:
            if self._stop.is_set():
                reason = "stopped"
                break
            if self._pending:
                with self._lock:
                    pending, self._pending = self._pending, {}
                if "seek" in pending:
                    i = pending["seek"]
                    self._segment += 1
                if "speed" in pending:
                    self._speed = pending["speed"]
                close_segment()
                prep.clear()
                sched.reanchor(i, self._speed)
            if not self._resume.is_set():
                t_p = clock.monotonic()
                close_segment()
                while not self._resume.wait(0.05) and not self._stop.is_set():
                    pass
                paused_total += clock.monotonic() - t_p
                sched.reanchor(i, self._speed)
                continue
            if i >= n:
                break
            if max_messages is not None and self.sent >= max_messages:
                reason = "max_messages"
                break
            now = clock.monotonic()
            if duration is not None and now - t_start - paused_total >= duration:
                reason = "duration"
                break
            due = sched.due(i)
            if due > now:
                # Pre-encode the rows due next (row lookup + JSON is the expensive part)
                # shortly before they are due - not right after a burst, where holding the
                # GIL would delay the client's sender thread - then sleep in short slices so
                # stop/pause/seek react within 50 ms.
                wait = due - now
                if wait > _PREP_LEAD:
                    clock.sleep(min(wait - _PREP_LEAD + 0.001, 0.05))
                    continue
                if wait > 0.002 and len(prep) < 64:
                    j = i + len(prep)
                    added = 0
                    while j < n and len(prep) < 64 and (j == i or times[j] == times[i]):
                        if j not in prep:
                            prep[j] = _prepare(rows.get(j))
                            added += 1
                        j += 1
                    if added:
                        continue
                clock.sleep(min(wait, 0.05))
                continue
            item = prep.pop(i, None) or _prepare(rows.get(i))
            drv, key, body, date = item
            if date_ns is not None:
                last_ns = int(date_ns[i])
            elif date is not last_date and date != last_date:
                last_ns = _epoch_ns(date)
                last_date = date
            seq = self._seq[drv]
            value = frame_message(body, seq, self._gseq, self._segment, last_ns, time.time_ns())
            t_send = clock.monotonic()
            try:
                client.send(topic, value, key, headers, partition, partial(delivered, time.perf_counter()))
            except Exception as exc:  # buffer full / metadata timeout: counted, then stop
                with self._lock:
                    self.sent += 1
                self._on_error(exc)
                reason = "error"
                log.error("send failed at row %d (%s); stopping the replay", i, exc)
                break
            t_done = clock.monotonic()
            with self._lock:
                self.sent += 1
                self._pos = i + 1
            self._seq[drv] = seq + 1
            self._gseq += 1
            self.per_driver[drv] += 1
            if self._speed > 0:
                self.lateness_ms.add((t_send - due) * 1e3)
                if seg_first is None:
                    seg_first = (due, t_send)
                seg_last = (due, t_send)
            self.send_ms.add((t_done - t_send) * 1e3)
            if self._first_st is None:
                self._first_st = float(times[i])
            self._last_st = float(times[i])
            if bar is not None:
                bar.update(1)
            i += 1
        close_segment()
        self._elapsed = clock.monotonic() - t_start - paused_total
        try:
            client.flush(timeout=self.flush_timeout_s)
        except Exception as exc:
            log.warning("flush did not complete: %s", exc)
            with self._lock:
                self.errors.append(f"flush: {type(exc).__name__}: {exc}")
        if bar is not None:
            bar.close()
        self._summary = self._make_summary(reason, meta, n)
        self._set_status(f"done ({reason}): {self.acked}/{self.sent} acked, {self.failed} failed")
        log.info(
            "producer %s done (%s): sent %d, acked %d, failed %d",
            self.run_id,
            reason,
            self._summary.sent,
            self._summary.acked,
            self._summary.failed,
        )
        return self._summary

    #: seconds to wait for outstanding acks at the end of a replay
    flush_timeout_s: float = 30.0

    def _make_summary(self, reason: str, meta: dict[str, Any], n: int) -> ProducerSummary:
        with self._lock:
            sent, acked, failed, errors = self.sent, self.acked, self.failed, list(self.errors)
        achieved = data = err = None
        if self._speed > 0 and self._wall_span > 0 and self._sched_span > 0:
            achieved = sent / self._wall_span
            data = sent / self._sched_span
            err = (achieved / data - 1.0) * 100.0
        elif self._elapsed > 0:
            achieved = sent / self._elapsed
        lat = self.lateness_ms.summary()
        return ProducerSummary(
            run_id=self.run_id,
            topic=self.topic,
            bootstrap_servers=str(self._servers),
            speed=self._speed,
            rows_available=n,
            sent=sent,
            acked=acked,
            failed=failed,
            errors=errors,
            per_driver=dict(self.per_driver),
            elapsed_s=round(self._elapsed, 4),
            achieved_rate=_r(achieved),
            data_rate=_r(data),
            rate_error_pct=_r(err, 4),
            lateness_ms=lat,
            send_ms=self.send_ms.summary(),
            ack_ms=self.ack_ms.summary(),
            first_session_time=self._first_st,
            last_session_time=self._last_st,
            source=meta.get("source"),
            simulated=bool(meta.get("simulated", False)),
            stopped_reason=reason,
            client=self.client_name,
        )


class _RowReader:
    """Rows by index, read sequentially through ``cache.iter_rows`` when the cache has it.

    ``iter_rows`` converts blocks of rows at once (~30x cheaper per row than ``row(i)``);
    the replay asks for increasing indices, and a seek simply restarts the iterator.
    """

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.it: Any = None
        self.next = -1
        self.sequential = hasattr(cache, "iter_rows")

    def get(self, i: int) -> dict[str, Any]:
        if not self.sequential:
            return self.cache.row(i)
        if i != self.next or self.it is None:
            self.it = self.cache.iter_rows(i)
            self.next = i
        _delay, row = next(self.it)
        self.next += 1
        return row


#: How long before a row is due its burst is pre-encoded (seconds).
_PREP_LEAD = 0.02


def _prepare(row: dict[str, Any]) -> tuple[str, bytes, bytes, Any]:
    """(driver, key, JSON body after the envelope, date) of one row: the JSON work happens
    before the row is due; :func:`f1live.schema.frame_message` adds the envelope at send time."""
    drv = row["driver"]
    return drv, drv.encode(), encode_body(row), row.get("date")


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(float(x), digits)


def _epoch_ns(value: Any) -> int:
    """Unix epoch nanoseconds of a row's ``date`` (Timestamp, datetime, ISO string or int)."""
    if value is None:
        return 0
    if isinstance(value, int | np.integer):
        return int(value)
    import pandas as pd

    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)
