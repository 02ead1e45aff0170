"""Weak-scaling experiment: consumers x partitions x streams grown together (seed step 7).

For ``N`` consumers the experiment creates a fresh topic with ``N`` partitions, replays
``N`` streams in parallel -- ``N`` copies of the same real driver group, each copy with
its own keys (``VER-s0``, ``VER-s1``, ...) and pinned to its own partition -- and gives
consumer ``k`` partition ``k`` (manual assignment). Every consumer is a real
:class:`f1live.consumer.RealTimeConsumer` (validation, de-duplication, offset commits)
running the full analysis processors (:func:`f1live.analysis.default_processors`), so the work per
consumer is constant as ``N`` grows: ideal weak scaling keeps per-event latency flat
and grows throughput ``N``-fold.

Two modes:

* ``thread``: the ``N`` consumers are threads of one process (like a Jupyter kernel).
  Python's GIL lets one thread run Python code at a time, so throughput stays at about
  one core's worth: the experiment shows that honestly instead of hiding it.
* ``process``: ``N`` worker processes (``multiprocessing`` *spawn*), each with its own
  consumer and analysis, report their statistics back: real parallelism, bounded by
  the machine's cores (``cpu_count`` is in every result row).

Two rates:

* ``max`` (throughput): each stream's ``messages_per_stream`` are produced first (in
  parallel, as fast as possible); then all consumers are released together at a
  barrier and drain their partition. Throughput is total messages / wall time from
  the barrier to the last consumer's last message. The per-event latency reported is
  the *processing* latency (poll returned -> analysis done): end-to-end latency of a
  backlog only measures the queue.
* ``fixed`` (the seed's check): consumers are started first, then every stream is
  replayed at ``speed`` x real time for ``duration`` wall seconds, by producer threads of
  the parent (in both modes: one producer *process* per stream was measured worse on 2
  cores, N=2 p99 +143..+528 % vs +9..+106 % with threads, as the extra processes compete
  for the same cores). The per-event
  latency reported is *end to end* (producer send -> analysis done); with enough cores
  it stays flat as ``N`` grows.

Every run also checks delivery: each produced message is consumed exactly once across
the consumers (each partition read by exactly one consumer, its offsets contiguous from
0 to the produced count, no duplicates, no foreign partition).

Efficiency is ``throughput(N) / (N x throughput(1))`` within a (mode, rate) series.

Run it::

    from f1live.scaling import ScaleConfig, run_experiment
    result = run_experiment(settings, ScaleConfig(consumers=(1, 2, 4), mode="process"))
    result.table            # DataFrame, one row per (mode, rate, N)
    result.save()           # runs/scaling/<timestamp>/scaling_results.{parquet,json} + latest.json

The pure helpers are testable offline:

>>> efficiency([1, 2, 4], [1000.0, 1900.0, 2000.0])
[1.0, 0.95, 0.5]
>>> StreamPartitioner(3).partition("t", b"VER-s3", b"VER-s3", None, None, None)
3
>>> stream_key("VER", 2)
'VER-s2'
>>> parse_consumers("1,2,4")
(1, 2, 4)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from f1live.config import Settings
from f1live.processors import Processor, run_processors

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("thread", "process")
RATES: tuple[str, ...] = ("max", "fixed")

#: Result columns in display order (the dashboard panel shows the first eight).
COLUMNS: tuple[str, ...] = (
    "mode", "rate", "consumers", "throughput_msgs_s", "efficiency", "latency_p50_ms", "latency_p99_ms",
    "delivery_ok", "latency_kind", "latency_p95_ms", "p99_growth_pct", "per_consumer_msgs_s",
    "per_consumer_min_msgs_s", "ideal_msgs_s", "partitions", "streams", "drivers_per_stream", "speed",
    "produced", "consumed", "duplicates", "missing", "foreign", "e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms",
    "proc_p50_ms", "proc_p95_ms", "proc_p99_ms", "lag_max", "lag_mean", "lag_end", "cpu_util_pct",
    "consumer_cpu_pct", "system_cpu_pct", "cpu_count", "load_avg_1m", "wall_s", "start_skew_s",
    "offered_msgs_s", "producer_lateness_p99_ms", "anomalies", "processor_errors", "analysis", "data",
    "broker", "topic", "run_id", "timestamp",
)

RESULTS_STEM = "scaling_results"


# --------------------------------------------------------------------------- small helpers
def parse_consumers(value: str | Iterable[int]) -> tuple[int, ...]:
    """``"1,2,4"`` (or an iterable of ints) -> ``(1, 2, 4)``; each must be >= 1.

    >>> parse_consumers([4, 1, 2, 2])
    (1, 2, 4)
    """
    items = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    out: set[int] = set()
    for item in items:
        if item == "":
            continue
        try:
            n = int(item)
        except (TypeError, ValueError):
            raise ValueError(f"consumers {value!r}: expected comma-separated integers like 1,2,4") from None
        if n < 1:
            raise ValueError(f"consumers {value!r}: every count must be >= 1, got {n}")
        out.add(n)
    if not out:
        raise ValueError(f"consumers {value!r}: give at least one count, e.g. 1,2,4")
    return tuple(sorted(out))


def stream_key(driver: str, stream: int) -> str:
    """The driver code of ``driver`` in replayed stream ``stream`` (distinct keys per copy)."""
    return f"{driver}-s{stream}"


def stream_of_key(key: bytes | str) -> int:
    """Inverse of :func:`stream_key` for the stream number.

    >>> stream_of_key(b"LEC-s11")
    11
    """
    text = key.decode() if isinstance(key, bytes) else key
    head, sep, tail = text.rpartition("-s")
    if not sep or not tail.isdigit():
        raise ValueError(f"key {text!r} is not a scaling stream key (expected CODE-s<N>)")
    return int(tail)


def efficiency(consumers: Sequence[int], throughput: Sequence[float]) -> list[float]:
    """``throughput(N) / (N * throughput(1))`` for each point (NaN without an N=1 point)."""
    base = next((t for n, t in zip(consumers, throughput, strict=True) if n == 1), None)
    out = []
    for n, t in zip(consumers, throughput, strict=True):
        if base is None or not base or not math.isfinite(base) or not math.isfinite(t):
            out.append(float("nan"))
        else:
            out.append(round(t / (n * base), 4))
    return out


def _pct(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return (float("nan"),) * 3  # type: ignore[return-value]
    p = np.percentile(values, [50, 95, 99])
    return tuple(round(float(x), 3) for x in p)  # type: ignore[return-value]


class StreamPartitioner:
    """kafka-python partitioner pinning every record of one stream to partition ``partition``.

    The default partitioner hashes the key (murmur2), which could put two streams on
    one partition; weak scaling needs exactly one stream per partition.
    """

    def __init__(self, partition: int) -> None:
        self.partition_id = int(partition)

    def partition(self, topic: str, key: Any, serialized_key: Any, value: Any, serialized_value: Any,
                  cluster: Any) -> int:
        return self.partition_id


# --------------------------------------------------------------------------- configuration
@dataclasses.dataclass(frozen=True)
class ScaleConfig:
    """One experiment: which points to run and how.

    Attributes:
        consumers: consumer counts ``N`` (each gets ``N`` partitions and ``N`` streams).
        modes: ``thread`` and/or ``process``.
        rates: ``max`` (drain a backlog: throughput) and/or ``fixed`` (paced replay: latency).
        speed: replay speed factor of the ``fixed`` rate (1 = real time).
        duration: wall seconds each stream is replayed for at the ``fixed`` rate.
        messages_per_stream: backlog per stream (= per consumer) at the ``max`` rate.
        drivers_per_stream: how many real drivers one stream carries (20 = a full grid).
        drivers: explicit driver codes for a stream (overrides ``drivers_per_stream``).
        start_time: session time the replayed window starts at (default: race start).
        timeout: seconds a point may take once consumers are released.
        keep_topics: keep the per-run topics (default: delete them afterwards).
    """

    consumers: tuple[int, ...] = (1, 2, 4)
    modes: tuple[str, ...] = ("process",)
    rates: tuple[str, ...] = ("max",)
    speed: float = 10.0
    duration: float = 20.0
    messages_per_stream: int = 10_000
    drivers_per_stream: int = 20
    drivers: tuple[str, ...] | None = None
    start_time: float | None = None
    timeout: float = 180.0
    keep_topics: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "consumers", parse_consumers(self.consumers))
        for name, allowed in (("modes", MODES), ("rates", RATES)):
            vals = tuple(getattr(self, name))
            bad = [v for v in vals if v not in allowed]
            if bad or not vals:
                raise ValueError(f"{name} {vals!r}: expected one or more of {', '.join(allowed)}")
            object.__setattr__(self, name, vals)
        if "fixed" in self.rates and not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed {self.speed!r}: the fixed rate needs a positive speed factor (e.g. 1 or 10)")
        if self.duration <= 0:
            raise ValueError(f"duration {self.duration!r}: expected > 0 seconds")
        if self.messages_per_stream < 1:
            raise ValueError(f"messages_per_stream {self.messages_per_stream!r}: expected >= 1")
        if self.drivers_per_stream < 1:
            raise ValueError(f"drivers_per_stream {self.drivers_per_stream!r}: expected >= 1")


class _Stage:
    """The consumer's one processor: barrier, analysis, timing and the delivery ledger.

    Runs in the consumer's thread, so ``time.thread_time`` is that consumer's CPU.
    """

    name = "scaling-stage"

    def __init__(self, inner: Sequence[Processor], go: Any, ready: Any | None) -> None:
        self.inner = list(inner)
        self.go = go
        self.ready = ready
        self.offsets: dict[int, array] = {}
        self.first_batch = 0
        self.barrier_wait_ms = 0.0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.proc_first = 0.0
        self.proc_last = 0.0
        self.batches = 0
        self.anomalies = 0
        self.errors = 0
        self.error: str | None = None

    def process_batch(self, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.t_first is None:
            _one_native_thread()
            t_wait = time.monotonic()
            if self.ready is not None:  # max rate: hold the first batch until everyone has one
                self.ready.set()
            self.go.wait()
            self.barrier_wait_ms = (time.monotonic() - t_wait) * 1e3
            self.first_batch = len(msgs)
            self.t_first = time.monotonic()
            self.cpu_first = time.thread_time()
            self.proc_first = _proc_cpu()
        for m in msgs:
            p = m["_partition"]
            arr = self.offsets.get(p)
            if arr is None:
                arr = self.offsets[p] = array("q")
            arr.append(m["_offset"])
        results, errors = run_processors(self.inner, msgs)
        self.errors += errors
        self.anomalies += sum(1 for r in results if r.get("anomaly"))
        self.batches += 1
        self.t_last = time.monotonic()
        self.cpu_last = time.thread_time()
        self.proc_last = _proc_cpu()
        return results


def _one_native_thread() -> None:
    """Limit OpenMP/BLAS pools to one thread *in the calling consumer thread*.

    One consumer = one core is the experiment's unit. scikit-learn's gradient boosting
    otherwise starts an OpenMP team per ``predict_proba``; with N consumers on 2 cores
    those teams oversubscribe the CPUs and spin: measured 609 us of CPU per message with
    the default pool vs 101 us with one thread (AnalyticsProcessor with models, 2 cores,
    loaded machine). The OpenMP thread count is per thread, hence the call in the
    consumer's own thread.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn depends on it; without it, nothing to limit
        return
    threadpool_limits(limits=1)


def _proc_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- consumer worker
@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What one consumer worker needs (picklable: it crosses into spawned processes)."""

    index: int
    settings: Settings
    bootstrap_servers: str
    broker_kind: str
    topic: str
    group: str
    partition: int
    rate: str
    timeout: float


class _Worker:
    """One consumer + its analysis; the monitor samples lag and stops it when done."""

    def __init__(self, spec: WorkerSpec, go: Any, ready: Any, expected: Any) -> None:
        from f1live.consumer import RealTimeConsumer

        self.spec = spec
        self.expected = expected
        self.ready = ready
        from f1live.analysis import default_processors

        chosen = default_processors(spec.settings)
        procs, self.analysis = chosen.processors, chosen.label
        self.stage = _Stage(procs, go, ready if spec.rate == "max" else None)
        self.consumer = RealTimeConsumer(
            spec.settings, spec.bootstrap_servers, processors=[self.stage], group_id=spec.group,
            partitions=[spec.partition], topic=spec.topic, broker_kind=spec.broker_kind)
        self.lag_samples: list[int] = []
        self.done = False

    def start(self) -> None:
        self.consumer.start(timeout_seconds=self.spec.timeout)

    def tick(self) -> bool:
        """Sample lag, signal readiness, stop when the expected count is in; True while running."""
        cons = self.consumer
        if self.spec.rate == "fixed" and cons.join_s is not None:
            self.ready.set()
        try:
            offs = list(cons.offsets.values())
        except RuntimeError:  # resized by the consumer thread mid-copy: sample next tick
            offs = []
        if offs:
            self.lag_samples.append(sum(int(o["lag"]) for o in offs if o.get("lag") is not None))
        exp = int(self.expected.value)
        if exp >= 0 and cons.processed + cons.duplicates >= exp:
            cons.stop()
        if not cons.running:
            self.done = True
        return not self.done

    def result(self) -> dict[str, Any]:
        cons = self.consumer
        summary = None
        error = None
        try:
            summary = cons.join(30)
        except RuntimeError as exc:
            error = str(exc)
        cons.close()
        st = self.stage
        e2e = cons.e2e_ms.window_values()
        proc = cons.processing_ms.window_values()
        if cons.processing_ms.count <= proc.size:
            # the first batch waited at the barrier: that wait is not processing time
            proc[: st.first_batch] -= st.barrier_wait_ms
        offsets = {p: np.frombuffer(a, dtype=np.int64).copy() for p, a in st.offsets.items()}
        return {
            "index": self.spec.index,
            "partition": self.spec.partition,
            "pid": os.getpid(),
            "analysis": self.analysis,
            "consumed": cons.consumed,
            "processed": cons.processed,
            "duplicates": cons.duplicates,
            "dlq": cons.dlq,
            "gaps": None if summary is None else summary.gaps,
            "stopped_reason": None if summary is None else summary.stopped_reason,
            "error": error or (st.error if st.error else None),
            "t_first": st.t_first,
            "t_last": st.t_last,
            "thread_cpu_s": st.cpu_last - st.cpu_first,
            "proc_cpu_s": st.proc_last - st.proc_first,
            "batches": st.batches,
            "anomalies": st.anomalies,
            "processor_errors": st.errors,
            "lag_max": max(self.lag_samples, default=0),
            "lag_mean": float(np.mean(self.lag_samples)) if self.lag_samples else 0.0,
            "lag_end": self.lag_samples[-1] if self.lag_samples else 0,
            "e2e_ms": e2e,
            "proc_ms": proc,
            "offsets": offsets,
        }


def _monitor(workers: Sequence[_Worker], deadline: float, abort: Any = None) -> None:
    while any(not w.done for w in workers):
        for w in workers:
            if not w.done:
                w.tick()
        if time.monotonic() > deadline or (abort is not None and abort.is_set()):
            for w in workers:
                w.consumer.stop()
        time.sleep(0.02)


def _process_main(spec: WorkerSpec, go: Any, ready: Any, expected: Any, abort: Any, out: Any) -> None:
    """Entry point of a worker process (spawn): one consumer, results back through ``out``."""
    try:
        worker = _Worker(spec, go, ready, expected)
        worker.start()
        _monitor([worker], time.monotonic() + spec.timeout + 600, abort)
        res = worker.result()
    except BaseException as exc:  # reported to the parent, which raises with the index
        log.exception("scaling worker %d failed", spec.index)
        ready.set()
        res = {"index": spec.index, "error": f"{type(exc).__name__}: {exc}"}
    out.put(res)


class _Value:
    """``multiprocessing.Value``-alike for thread mode."""

    def __init__(self, value: int) -> None:
        self.value = value


# --------------------------------------------------------------------------- streams
def pick_drivers(telemetry: pd.DataFrame, count: int, start_time: float | None = None) -> list[str]:
    """``count`` drivers with data in the window (most samples first, then by code)."""
    tel = telemetry if start_time is None else telemetry[telemetry["session_time"] >= start_time]
    counts = tel["driver"].astype(str).value_counts()
    ranked = sorted(counts.index, key=lambda d: (-int(counts[d]), d))
    if not ranked:
        raise ValueError(f"no telemetry rows at or after session time {start_time}")
    return ranked[:count]


def build_streams(
    telemetry: pd.DataFrame,
    n: int,
    drivers: Sequence[str],
    *,
    start_time: float | None = None,
    rows: int | None = None,
    data_seconds: float | None = None,
    meta: dict[str, Any] | None = None,
) -> list[Any]:
    """``n`` replay caches with identical content and distinct keys (``CODE-s<k>``).

    The window starts at ``start_time`` and holds the first ``rows`` rows of ``drivers``
    (``max`` rate) or ``data_seconds`` of session time (``fixed`` rate).
    """
    from f1live.cache import ReplayCache

    tel = telemetry[telemetry["driver"].astype(str).isin(list(drivers))]
    if start_time is not None:
        tel = tel[tel["session_time"] >= start_time]
    tel = tel.sort_values(["session_time", "driver"], kind="stable")
    if data_seconds is not None and len(tel):
        tel = tel[tel["session_time"] < float(tel["session_time"].iloc[0]) + data_seconds]
    if rows is not None:
        tel = tel.iloc[:rows]
    if len(tel) == 0:
        raise ValueError(f"no telemetry rows for drivers {list(drivers)} after session time {start_time}")
    base = tel.reset_index(drop=True)
    codes = base["driver"].astype(str)
    out = []
    for k in range(n):
        df = base.copy()
        df["driver"] = (codes + f"-s{k}").astype(base["driver"].dtype)
        out.append(ReplayCache.from_frame(df, meta=dict(meta or {}, scaling_stream=k), origin=f"scaling stream {k}"))
    return out


# --------------------------------------------------------------------------- one point
def _produce(settings: Settings, servers: str, kind: str, topic: str, caches: Sequence[Any], *,
             speed: float, duration: float | None, max_messages: int | None) -> list[Any]:
    """Replay every cache into its own partition in parallel threads; their summaries."""
    from f1live.producer import RealTimeProducer

    prods = [RealTimeProducer(settings, servers, topic=topic, ensure_topic=False, broker_kind=kind,
                              partition=k).load_cache(c)
             for k, c in enumerate(caches)]
    try:
        for p in prods:
            p.start(duration_seconds=duration, speed=speed, max_messages=max_messages)
        summaries = [p.join(None) for p in prods]
    finally:
        for p in prods:
            p.close()
    for k, s in enumerate(summaries):
        if s is None or not s.ok:
            raise RuntimeError(f"stream {k}: producer did not deliver every message "
                               f"({None if s is None else (s.sent, s.acked, s.failed, s.errors[:2])})")
    return summaries


def delivery_check(produced: Sequence[int], results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Exactly once across consumers: each stream's partition read by one consumer only,
    its offsets ``0..produced-1`` each seen once, nothing from another partition.

    >>> r = [{"partition": 0, "offsets": {0: np.arange(3)}, "duplicates": 0, "dlq": 0},
    ...      {"partition": 1, "offsets": {1: np.array([0, 1, 1])}, "duplicates": 0, "dlq": 0}]
    >>> c = delivery_check([3, 3], r)
    >>> c["ok"], c["duplicates"], c["missing"], c["detail"]
    (False, 1, 1, 'partition 1: 1 duplicate offsets, 1 missing')
    """
    readers: dict[int, list[int]] = {}
    problems: list[str] = []
    dup = missing = foreign = consumed = 0
    for r in results:
        for p, offs in r["offsets"].items():
            readers.setdefault(int(p), []).append(r["partition"])
            consumed += len(offs)
            if int(p) != r["partition"]:
                foreign += len(offs)
                problems.append(f"consumer of partition {r['partition']} read {len(offs)} from partition {p}")
        dup += int(r.get("duplicates", 0))
        if r.get("dlq"):
            problems.append(f"partition {r['partition']}: {r['dlq']} messages to the DLQ")
    for k, n_prod in enumerate(produced):
        offs = np.concatenate([r["offsets"][k] for r in results if k in r["offsets"]] or [np.zeros(0, np.int64)])
        uniq = np.unique(offs)
        d = int(offs.size - uniq.size)
        m = int(n_prod - np.count_nonzero((uniq >= 0) & (uniq < n_prod)))
        extra = int(np.count_nonzero(uniq >= n_prod))
        dup += d
        missing += m
        if len(readers.get(k, [])) > 1:
            problems.append(f"partition {k} read by {len(readers[k])} consumers")
        if d or m or extra:
            parts = [f"{d} duplicate offsets" if d else "", f"{m} missing" if m else "",
                     f"{extra} beyond the produced count" if extra else ""]
            problems.append(f"partition {k}: " + ", ".join(p for p in parts if p))
    ok = not problems and dup == 0 and missing == 0 and foreign == 0
    return {"ok": ok, "produced": int(sum(produced)), "consumed": consumed, "duplicates": dup,
            "missing": missing, "foreign": foreign, "detail": "; ".join(problems) or "exactly once"}


def run_point(
    settings: Settings,
    bootstrap_servers: str,
    caches: Sequence[Any],
    *,
    mode: str,
    rate: str,
    config: ScaleConfig,
    broker_kind: str = "kafka",
    run_id: str | None = None,
) -> dict[str, Any]:
    """Run one point (``len(caches)`` consumers) and return its result row (plus details)."""
    import psutil

    from f1live.topics import delete_topic, ensure_topic

    n = len(caches)
    if mode not in MODES or rate not in RATES:
        raise ValueError(f"mode {mode!r} / rate {rate!r}: expected mode in {MODES} and rate in {RATES}")
    run_id = run_id or uuid.uuid4().hex[:8]
    topic = f"f1-scale-{run_id}-{mode}-{rate}-n{n}"
    ensure_topic(bootstrap_servers, topic, n, settings.replication)
    load1 = os.getloadavg()[0]
    produced: list[int]
    offered: dict[str, float] = {"offered_msgs_s": float("nan"), "producer_lateness_p99_ms": float("nan")}
    try:
        if rate == "max":
            sums = _produce(settings, bootstrap_servers, broker_kind, topic, caches, speed=0.0, duration=None,
                            max_messages=config.messages_per_stream)
            produced = [s.acked for s in sums]
        specs = [WorkerSpec(k, settings, bootstrap_servers, broker_kind, topic, topic, k, rate, config.timeout)
                 for k in range(n)]
        workers: list[_Worker] = []
        procs: list[Any] = []
        mon: threading.Thread | None = None
        queue: Any = None
        if mode == "thread":
            go, abort = threading.Event(), threading.Event()
            readies = [threading.Event() for _ in range(n)]
            expected: list[Any] = [_Value(produced[k] if rate == "max" else -1) for k in range(n)]
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            go, abort = ctx.Event(), ctx.Event()
            readies = [ctx.Event() for _ in range(n)]
            expected = [ctx.Value("q", produced[k] if rate == "max" else -1) for k in range(n)]
            queue = ctx.Queue()
        try:
            if mode == "thread":
                workers = [_Worker(s, go, readies[k], expected[k]) for k, s in enumerate(specs)]
                for w in workers:
                    w.start()
                mon = threading.Thread(target=_monitor, name="f1live-scaling-monitor", daemon=True,
                                       args=(workers, time.monotonic() + config.timeout + 600, abort))
                mon.start()
            else:
                procs = [ctx.Process(target=_process_main, args=(s, go, readies[k], expected[k], abort, queue),
                                     name=f"f1live-scale-{k}", daemon=True) for k, s in enumerate(specs)]
                for p in procs:
                    p.start()
            ready_deadline = time.monotonic() + max(60.0, config.timeout)
            for k, r in enumerate(readies):
                if not r.wait(max(0.0, ready_deadline - time.monotonic())):
                    raise TimeoutError(f"scaling consumer {k} ({mode}) not ready within {ready_deadline:.0f} s")
            cpu0 = psutil.cpu_times()
            self_cpu0 = _proc_cpu()
            t_go = time.monotonic()
            go.set()
            if rate == "fixed":
                sums = _produce(settings, bootstrap_servers, broker_kind, topic, caches, speed=config.speed,
                                duration=config.duration, max_messages=None)
                produced = [s.acked for s in sums]
                for k in range(n):
                    expected[k].value = produced[k]
                # what the paced streams actually offered (a starved producer offers less)
                span_p = max(s.elapsed_s for s in sums)
                offered = {"offered_msgs_s": round(sum(produced) / span_p, 2) if span_p > 0 else float("nan"),
                           "producer_lateness_p99_ms": max(float(s.lateness_ms.get("p99", float("nan")))
                                                           for s in sums)}
            results = _collect(mode, n, workers, procs, queue, time.monotonic() + config.timeout)
            t_end = time.monotonic()
            cpu1 = psutil.cpu_times()
            self_cpu1 = _proc_cpu()
        finally:
            abort.set()
            go.set()
            if mon is not None:
                mon.join(30)
            for w in workers:
                w.consumer.close()
            for p in procs:
                p.join(30)
                if p.is_alive():
                    log.warning("scaling worker %s did not exit; terminating it", p.name)
                    p.terminate()
                    p.join(5)
    finally:
        if not config.keep_topics:
            try:
                delete_topic(bootstrap_servers, topic)
            except Exception as exc:  # a leftover topic is harmless; say so
                log.warning("could not delete topic %s: %s", topic, exc)
    errors = [f"consumer {r['index']}: {r['error']}" for r in results if r.get("error")]
    if errors:
        raise RuntimeError(f"scaling point N={n} ({mode}, {rate}) failed: " + "; ".join(errors))
    row = _row(settings, results, produced, mode=mode, rate=rate, config=config, caches=caches, topic=topic,
               run_id=run_id, broker_kind=broker_kind, t_go=t_go, t_end=t_end, cpu=(cpu0, cpu1),
               self_cpu=self_cpu1 - self_cpu0, load1=load1)
    row.update(offered)
    return row


def _collect(mode: str, n: int, workers: Sequence[_Worker], procs: Sequence[Any], queue: Any,
             deadline: float) -> list[dict[str, Any]]:
    if mode == "thread":
        while any(not w.done for w in workers):
            if time.monotonic() > deadline:
                for w in workers:
                    w.consumer.stop()
                deadline = float("inf")
            time.sleep(0.02)
        return sorted((w.result() for w in workers), key=lambda r: r["index"])
    import queue as queue_mod

    results: list[dict[str, Any]] = []
    hard = deadline + 60
    while len(results) < n:
        try:
            results.append(queue.get(timeout=0.5))
        except queue_mod.Empty:
            dead = [p.name for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
            if dead or time.monotonic() > hard:
                raise RuntimeError(f"scaling workers {dead or 'timed out'}; got {len(results)}/{n} results") from None
    return sorted(results, key=lambda r: r["index"])


def _row(settings: Settings, results: list[dict[str, Any]], produced: Sequence[int], *, mode: str, rate: str,
         config: ScaleConfig, caches: Sequence[Any], topic: str, run_id: str, broker_kind: str, t_go: float,
         t_end: float, cpu: tuple[Any, Any], self_cpu: float, load1: float) -> dict[str, Any]:
    n = len(results)
    cores = os.cpu_count() or 1
    firsts = [r["t_first"] for r in results if r["t_first"] is not None]
    lasts = [r["t_last"] for r in results if r["t_last"] is not None]
    total = sum(r["processed"] for r in results)
    span = (max(lasts) - min(firsts)) if firsts and lasts else float("nan")
    per = [r["processed"] / (r["t_last"] - r["t_first"]) if r["t_first"] is not None and r["t_last"]
           and r["t_last"] > r["t_first"] else float("nan") for r in results]
    e2e = np.concatenate([r["e2e_ms"] for r in results])
    proc = np.concatenate([r["proc_ms"] for r in results])
    e50, e95, e99 = _pct(e2e)
    p50, p95, p99 = _pct(proc)
    lat = (p50, p95, p99) if rate == "max" else (e50, e95, e99)
    check = delivery_check(produced, results)
    c0, c1 = cpu
    busy = lambda c: c.user + c.nice + c.system + getattr(c, "irq", 0) + getattr(c, "softirq", 0)  # noqa: E731
    total_dt = sum(c1) - sum(c0)
    system_pct = 100.0 * (busy(c1) - busy(c0)) / total_dt if total_dt > 0 else float("nan")
    wall = max(t_end - t_go, 1e-9)
    # process mode: the workers' own CPU over their first-to-last-message window;
    # thread mode: the whole process (consumers + main thread; + producers at the fixed rate)
    if mode == "process":
        consumer_cpu, window = sum(r["proc_cpu_s"] for r in results), span
    else:
        consumer_cpu, window = self_cpu, wall
    meta = getattr(caches[0], "meta", {}) or {}
    data = f"{meta.get('year', '')} {meta.get('event', '')} {meta.get('session', '')} ({meta.get('source', '?')})".strip()
    if meta.get("simulated"):
        data = f"SIMULATED {data}"
    drivers = len({str(d).rsplit('-s', 1)[0] for d in getattr(caches[0], "drivers", [])})
    return {
        "mode": mode,
        "rate": rate,
        "consumers": n,
        "throughput_msgs_s": round(total / span, 2) if span and span > 0 else float("nan"),
        "efficiency": float("nan"),
        "latency_p50_ms": lat[0],
        "latency_p99_ms": lat[2],
        "delivery_ok": bool(check["ok"]),
        "latency_kind": "processing" if rate == "max" else "e2e",
        "latency_p95_ms": lat[1],
        "p99_growth_pct": float("nan"),
        "per_consumer_msgs_s": round(float(np.nanmean(per)), 2) if per else float("nan"),
        "per_consumer_min_msgs_s": round(float(np.nanmin(per)), 2) if per else float("nan"),
        "ideal_msgs_s": float("nan"),
        "partitions": n,
        "streams": n,
        "drivers_per_stream": drivers,
        "speed": 0.0 if rate == "max" else float(config.speed),
        "produced": check["produced"],
        "consumed": check["consumed"],
        "duplicates": check["duplicates"],
        "missing": check["missing"],
        "foreign": check["foreign"],
        "e2e_p50_ms": e50, "e2e_p95_ms": e95, "e2e_p99_ms": e99,
        "proc_p50_ms": p50, "proc_p95_ms": p95, "proc_p99_ms": p99,
        "lag_max": int(sum(r["lag_max"] for r in results)),
        "lag_mean": round(float(sum(r["lag_mean"] for r in results)), 1),
        "lag_end": int(sum(r["lag_end"] for r in results)),
        "cpu_util_pct": round(100.0 * consumer_cpu / (window * cores), 1) if window and window > 0 else float("nan"),
        "consumer_cpu_pct": round(100.0 * float(np.mean([r["thread_cpu_s"] for r in results])) / span, 1)
        if span and span > 0 else float("nan"),
        "system_cpu_pct": round(system_pct, 1),
        "cpu_count": cores,
        "load_avg_1m": round(load1, 2),
        "wall_s": round(span, 3),
        "start_skew_s": round(max(firsts) - min(firsts), 3) if firsts else float("nan"),
        "anomalies": int(sum(r["anomalies"] for r in results)),
        "processor_errors": int(sum(r["processor_errors"] for r in results)),
        "analysis": results[0]["analysis"],
        "data": data,
        "broker": broker_kind,
        "topic": topic,
        "run_id": run_id,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "delivery_detail": check["detail"],
        "per_consumer": [{"partition": r["partition"], "pid": r["pid"], "processed": r["processed"],
                          "msgs_s": round(x, 2) if math.isfinite(x) else None,
                          "thread_cpu_s": round(r["thread_cpu_s"], 3), "lag_max": r["lag_max"],
                          "stopped": r["stopped_reason"]} for r, x in zip(results, per, strict=True)],
    }


def finish_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Result rows -> the results DataFrame (efficiency, p99 growth, ideal throughput filled in)."""
    df = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in rows], columns=list(COLUMNS))
    if df.empty:
        return df
    for (_mode, _rate), g in df.groupby(["mode", "rate"], sort=False):
        g = g.sort_values("consumers")
        df.loc[g.index, "efficiency"] = efficiency(g["consumers"].tolist(), g["throughput_msgs_s"].tolist())
        base = g[g["consumers"] == 1]
        if len(base):
            b = base.iloc[0]
            df.loc[g.index, "ideal_msgs_s"] = (g["consumers"] * b["throughput_msgs_s"]).round(2)
            if b["latency_p99_ms"] and math.isfinite(b["latency_p99_ms"]):
                df.loc[g.index, "p99_growth_pct"] = ((g["latency_p99_ms"] / b["latency_p99_ms"] - 1) * 100).round(1)
    return df.sort_values(["rate", "mode", "consumers"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- experiment
@dataclasses.dataclass
class ScaleResult:
    """Results of one experiment: the table, per-run details and where they were saved."""

    table: pd.DataFrame
    details: list[dict[str, Any]]
    meta: dict[str, Any]
    settings: Settings
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "results": _records(self.table), "details": self.details}

    def save(self, out: Path | str | None = None) -> Path:
        """Write ``scaling_results.parquet`` + ``.json`` into ``out`` (default
        ``Settings.run_dir/scaling/<timestamp>/``) and point ``latest.json`` at it."""
        base = Path(self.settings.run_dir) / "scaling"
        stamp = datetime.fromisoformat(self.meta["started"]).strftime("%Y%m%dT%H%M%SZ")
        out = Path(out) if out is not None else base / stamp
        out.mkdir(parents=True, exist_ok=True)
        self.table.to_parquet(out / f"{RESULTS_STEM}.parquet", index=False)
        (out / f"{RESULTS_STEM}.json").write_text(json.dumps(self.to_dict(), indent=1, default=_json_default))
        base.mkdir(parents=True, exist_ok=True)
        pointer = {"dir": str(out.resolve()), "results": f"{RESULTS_STEM}.parquet",
                   "created": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = base / "latest.json.tmp"
        tmp.write_text(json.dumps(pointer))
        tmp.replace(base / "latest.json")
        self.path = out
        log.info("scaling results saved to %s", out)
        return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def machine_info() -> dict[str, Any]:
    """CPU count, load and platform of this machine (goes into every result)."""
    import psutil

    return {"cpu_count": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "gil": "enabled" if getattr(__import__("sys"), "_is_gil_enabled", lambda: True)() else "disabled"}


def _telemetry(source: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    if hasattr(source, "telemetry"):
        return source.telemetry, dict(getattr(source, "meta", {}) or {})
    if hasattr(source, "to_frame") and hasattr(source, "session_time"):
        return source.to_frame(), dict(getattr(source, "meta", {}) or {})
    if isinstance(source, pd.DataFrame):
        return source, {}
    raise TypeError(f"data {type(source).__name__}: expected SessionData, ReplayCache or a telemetry DataFrame")


def run_experiment(
    settings: Settings,
    config: ScaleConfig | None = None,
    *,
    data: Any = None,
    bootstrap_servers: str | None = None,
    broker_kind: str | None = None,
    progress: Callable[[str], None] | None = None,
    save: bool = True,
    out: Path | str | None = None,
) -> ScaleResult:
    """Run every (rate, mode, N) point of ``config``; returns (and saves) a :class:`ScaleResult`.

    Args:
        settings: session/source, broker and ``run_dir`` (results go to ``run_dir/scaling``).
        config: the points to run (default :class:`ScaleConfig`).
        data: a :class:`f1live.sources.SessionData`, ReplayCache or telemetry DataFrame
            (default: ``load_session(settings)``).
        bootstrap_servers: a running Kafka; default ``settings.bootstrap_servers``, then a
            broker recorded under ``settings.run_dir``, else an embedded one is started
            (and stopped at the end).
        progress: called with one line per finished point (e.g. ``print``).
    """
    config = config or ScaleConfig()
    say = progress or (lambda line: log.info("%s", line))
    broker = None
    servers = bootstrap_servers or settings.bootstrap_servers
    kind = broker_kind
    if servers is None:
        from f1live.broker.state import read_state, running_bootstrap

        servers = running_bootstrap(settings)
        if servers is not None:
            kind = kind or str((read_state(settings) or {}).get("kind") or "kafka")
    if servers is None:
        from f1live.broker import start_broker

        say("starting an embedded broker ...")
        broker = start_broker(settings)
        servers, kind = broker.bootstrap_servers, broker.kind
    kind = kind or ("external" if (bootstrap_servers or settings.bootstrap_servers) else "kafka")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    meta = {"started": started, "machine": machine_info(), "bootstrap_servers": servers, "broker": kind,
            "config": dataclasses.asdict(config)}
    rows: list[dict[str, Any]] = []
    run_id = uuid.uuid4().hex[:6]
    try:
        if data is None:
            from f1live.sources import load_session

            say(f"loading {settings.year} {settings.event} {settings.session} ({settings.source}) ...")
            data = load_session(settings, progress=False)
        tel, dmeta = _telemetry(data)
        start = config.start_time
        if start is None:
            start = dmeta.get("race_start_session_time")
        drivers = list(config.drivers) if config.drivers else pick_drivers(tel, config.drivers_per_stream, start)
        meta.update(drivers=drivers, start_time=start, data_meta={k: dmeta.get(k) for k in
                    ("source", "year", "event", "session", "simulated")})
        if dmeta.get("simulated"):
            log.warning("the scaling experiment runs on SIMULATED data")
        n_max = max(config.consumers)
        for rate in config.rates:
            if rate == "max":
                caches = build_streams(tel, n_max, drivers, start_time=start, rows=config.messages_per_stream, meta=dmeta)
            else:
                caches = build_streams(tel, n_max, drivers, start_time=start,
                                       data_seconds=config.duration * config.speed * 1.2 + 5, meta=dmeta)
            for mode in config.modes:
                for n in config.consumers:
                    row = run_point(settings, servers, caches[:n], mode=mode, rate=rate, config=config,
                                    broker_kind=kind, run_id=run_id)
                    rows.append(row)
                    say(f"{rate:>5} {mode:>7} N={n}: {row['throughput_msgs_s']:>9.1f} msg/s  "
                        f"{row['latency_kind']} p50 {row['latency_p50_ms']:.1f} ms  p99 {row['latency_p99_ms']:.1f} ms  "
                        f"cpu {row['cpu_util_pct']:.0f}%  delivery {'OK' if row['delivery_ok'] else 'FAILED'}")
    finally:
        if broker is not None:
            broker.stop()
    table = finish_table(rows)
    details = [{k: r[k] for k in ("mode", "rate", "consumers", "topic", "delivery_detail", "per_consumer")} for r in rows]
    result = ScaleResult(table=table, details=details, meta=meta, settings=settings)
    if save:
        result.save(out)
    return result


def run_small(settings: Settings, **overrides: Any) -> ScaleResult:
    """A quick experiment for the dashboard button: process mode, N=1,2, 2000 messages each."""
    cfg = dict(consumers=(1, 2), modes=("process",), rates=("max",), messages_per_stream=2000,
               drivers_per_stream=5)
    cfg.update(overrides)
    return run_experiment(settings, ScaleConfig(**cfg))


# --------------------------------------------------------------------------- capacity
def capacity_plan(per_consumer_msgs_s: float, feeds: dict[str, float], *, cars: int = 20,
                  utilisation: float = 0.5) -> pd.DataFrame:
    """Consumers and partitions a grid of ``cars`` needs, from a *measured* per-consumer throughput.

    ``feeds`` maps a feed name to its per-car message rate (Hz). A consumer is planned at
    ``utilisation`` of its measured capacity (headroom for bursts, GC, rebalances).
    Messages are keyed by driver, so one driver's messages go to one partition and one
    consumer (per-driver features need them in order): at most ``cars`` partitions are
    useful, and a single car's rate must fit into one consumer (``per_car_fits``).

    >>> plan = capacity_plan(1500.0, {"car data": 3.7, "50 Hz": 50.0, "1 kHz": 1000.0})
    >>> plan[["feed", "grid_msgs_s", "consumers", "partitions", "per_car_fits"]].values.tolist()
    [['car data', 74.0, 1, 2, True], ['50 Hz', 1000.0, 2, 4, True], ['1 kHz', 20000.0, 27, 27, False]]
    """
    if not per_consumer_msgs_s > 0:
        raise ValueError(f"per_consumer_msgs_s {per_consumer_msgs_s!r}: expected a measured rate > 0")
    budget = per_consumer_msgs_s * utilisation
    out = []
    for name, hz in feeds.items():
        rate = cars * hz
        need = max(1, math.ceil(rate / budget))
        fits = hz <= budget
        out.append({"feed": name, "hz_per_car": hz, "cars": cars, "grid_msgs_s": round(rate, 1),
                    "consumer_capacity_msgs_s": round(per_consumer_msgs_s, 1), "utilisation": utilisation,
                    # room to add consumers later without repartitioning (keys move when
                    # partitions change), but more partitions than driver keys stay empty
                    "consumers": need, "partitions": need if need > cars else min(cars, max(2, 2 * need)),
                    "per_car_fits": bool(fits),
                    "note": "ok" if fits and need <= cars else
                            "more consumers than driver keys / one car exceeds one consumer: key below driver "
                            "level (e.g. driver+channel) or make the per-message analysis cheaper"})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- results on disk
def latest_results_path(settings: Settings) -> Path | None:
    """The newest saved results (``latest.json`` pointer, else the newest run dir)."""
    base = Path(settings.run_dir) / "scaling"
    pointer = base / "latest.json"
    if pointer.exists():
        try:
            p = json.loads(pointer.read_text())
            path = Path(p["dir"]) / p.get("results", f"{RESULTS_STEM}.parquet")
            if path.exists():
                return path
        except (OSError, ValueError, KeyError) as exc:
            log.warning("unreadable %s (%s); looking for the newest results instead", pointer, exc)
    found = sorted(base.glob(f"*/{RESULTS_STEM}.parquet"), key=lambda q: q.stat().st_mtime) if base.exists() else []
    return found[-1] if found else None


def load_latest_results(settings: Settings) -> pd.DataFrame | None:
    """The latest results table (what the dashboard's scaling panel shows), or None.

    >>> import tempfile
    >>> load_latest_results(Settings(run_dir=Path(tempfile.mkdtemp()))) is None
    True
    """
    path = latest_results_path(settings)
    if path is None:
        return None
    return pd.read_parquet(path)


# --------------------------------------------------------------------------- charts
_COLORS = {"process": "#2563eb", "thread": "#dc2626"}


def scaling_figures(df: pd.DataFrame, rate: str | None = None) -> dict[str, Any]:
    """bqplot figures of a results table: ``latency`` (consumers vs p50/p99, per mode),
    ``throughput`` (consumers vs events/s with the ideal line) and ``efficiency``.

    ``rate`` picks the series (default: ``max`` if present, else ``fixed``). Thread and
    process are separate lines (red/blue); p99 dashed.
    """
    import bqplot as bq
    import ipywidgets as w

    if rate is None:
        rate = "max" if (df["rate"] == "max").any() else "fixed"
    d = df[df["rate"] == rate].sort_values("consumers")
    xs = bq.LinearScale()
    figs: dict[str, Any] = {}
    layout = dict(height="260px", width="100%")
    margin = {"top": 30, "bottom": 45, "left": 65, "right": 15}

    def fig(marks: list[Any], ys: Any, ylabel: str, title: str) -> Any:
        return bq.Figure(marks=marks, title=title, animation_duration=0, fig_margin=margin,
                         legend_location="top-left", layout=w.Layout(**layout),
                         axes=[bq.Axis(scale=xs, label="consumers (= partitions = streams)", tick_format="d"),
                               bq.Axis(scale=ys, orientation="vertical", label=ylabel)])

    kind = d["latency_kind"].iloc[0] if len(d) else "latency"
    ys_lat = bq.LinearScale(min=0.0)
    lat_marks, thr_marks, eff_marks = [], [], []
    ys_thr = bq.LinearScale(min=0.0)
    ys_eff = bq.LinearScale(min=0.0, max=1.2)
    for mode, g in d.groupby("mode"):
        c = _COLORS.get(str(mode), "#555")
        x = g["consumers"].astype(float).to_numpy()
        lat_marks.append(bq.Lines(x=x, y=g["latency_p50_ms"].to_numpy(float), scales={"x": xs, "y": ys_lat},
                                  colors=[c], marker="circle", labels=[f"{mode} p50"], display_legend=True))
        lat_marks.append(bq.Lines(x=x, y=g["latency_p99_ms"].to_numpy(float), scales={"x": xs, "y": ys_lat},
                                  colors=[c], marker="square", line_style="dashed", labels=[f"{mode} p99"],
                                  display_legend=True))
        thr_marks.append(bq.Lines(x=x, y=g["throughput_msgs_s"].to_numpy(float), scales={"x": xs, "y": ys_thr},
                                  colors=[c], marker="circle", labels=[f"{mode} measured"], display_legend=True))
        thr_marks.append(bq.Lines(x=x, y=g["ideal_msgs_s"].to_numpy(float), scales={"x": xs, "y": ys_thr},
                                  colors=[c], line_style="dotted", labels=[f"{mode} ideal (N x N=1)"],
                                  display_legend=True))
        eff_marks.append(bq.Lines(x=x, y=g["efficiency"].to_numpy(float), scales={"x": xs, "y": ys_eff},
                                  colors=[c], marker="circle", labels=[str(mode)], display_legend=True))
    cores = int(d["cpu_count"].iloc[0]) if len(d) else 0
    figs["latency"] = fig(lat_marks, ys_lat, f"{kind} latency (ms)", f"Per-event {kind} latency ({rate} rate)")
    figs["throughput"] = fig(thr_marks, ys_thr, "events / s", f"Throughput ({rate} rate, {cores} cores)")
    figs["efficiency"] = fig(eff_marks, ys_eff, "efficiency", "Efficiency = T(N) / (N x T(1))")
    return figs


def scaling_view(df: pd.DataFrame) -> Any:
    """The figures of every rate in the table side by side (a widget to display)."""
    import ipywidgets as w

    rows = []
    for rate in [r for r in RATES if (df["rate"] == r).any()]:
        f = scaling_figures(df, rate)
        rows.append(w.HBox([f["latency"], f["throughput"], f["efficiency"]]))
    return w.VBox(rows)
