"""Runs a weak-scaling experiment: per point a topic, N streams, N consumers, one result row.

For ``N`` consumers a point creates a fresh topic with ``N`` partitions, replays ``N``
streams into it (:mod:`f1live.scaling.streams`) and runs ``N`` consumers, each a real
:class:`f1live.consumer.RealTimeConsumer` (validation, de-duplication, offset commits)
running the full analysis (:func:`f1live.analysis.default_processors`) inside a
:class:`Stage` that times it and keeps the delivery ledger. How the consumers run
(:data:`f1live.scaling.config.MODES`):

* ``thread``: threads of this process; :class:`Monitor` (a :class:`f1live.background.BackgroundLoop`)
  samples their lag and stops each when its partition is drained;
* ``process``: one spawned worker process each, assigned partition ``k``;
* ``group``: one spawned worker process each, all members of one consumer group: Kafka
  assigns the partitions. The members join the empty topic first and the point waits for a
  stable group (one partition each) before anything is produced; a backlog present at the
  join would go to the first member before the others arrive.

At the ``max`` rate the backlog is produced first and the consumers hold their first batch
at a barrier until every one has one, so they start together; at the ``fixed`` rate the
consumers start first and the streams are replayed at ``speed``. Workers report back
through queues; :func:`f1live.scaling.results.point_row` makes the row.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import sys
import time
import uuid
from array import array
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from f1live.analysis import default_processors
from f1live.background import BackgroundLoop
from f1live.cache import ReplayCache
from f1live.config import Settings
from f1live.consumer import RealTimeConsumer
from f1live.processors import DriverStateful, Processor, run_processors
from f1live.scaling.config import MODES, RATES, ScaleConfig
from f1live.scaling.results import PointRun, ScaleResult, finish_table, point_row
from f1live.scaling.streams import build_streams, pick_drivers, produce_streams

log = logging.getLogger(__name__)

#: Group mode: a member may hold its first batch at the barrier while the backlog is being
#: produced; the group must not evict it for not polling meanwhile (default 6 s).
GROUP_MAX_POLL_INTERVAL_MS = 300_000


def _one_native_thread() -> None:
    """Limit OpenMP/BLAS pools to one thread *in the calling consumer thread*.

    One consumer = one core is the experiment's unit. scikit-learn's gradient boosting
    otherwise starts an OpenMP team per ``predict_proba``; with N consumers on 2 cores
    those teams oversubscribe the CPUs and spin: measured 609 us of CPU per message with
    the default pool vs 101 us with one thread (AnalyticsProcessor with models, 2 cores,
    loaded machine). The OpenMP thread count is per thread, hence the call in the
    consumer's own thread.
    """
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    threadpool_limits(limits=1)


def _proc_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Stage:
    """The consumer's one processor: barrier, analysis, timing and the delivery ledger.

    Runs in the consumer's thread, so ``time.thread_time`` is that consumer's CPU. Its
    analysis state moves like the analysis's own (:class:`f1live.processors.DriverStateful`),
    so group members checkpoint as deployed ones do.
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
        self.cpu_first = self.cpu_last = self.proc_first = self.proc_last = 0.0
        self.batches = 0
        self.anomalies = 0
        self.errors = 0

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

    def driver_state(self, driver: str) -> list[Any]:
        return [p.driver_state(driver) if isinstance(p, DriverStateful) else None for p in self.inner]

    def restore_driver(self, driver: str, state: list[Any]) -> None:
        for p, st in zip(self.inner, state, strict=True):
            if isinstance(p, DriverStateful):
                p.restore_driver(driver, st)

    def forget_driver(self, driver: str) -> None:
        for p in self.inner:
            if isinstance(p, DriverStateful):
                p.forget_driver(driver)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What one consumer worker needs (picklable: it crosses into spawned processes).

    ``partition`` is the partition it is assigned, or ``None`` for a group member.
    """

    index: int
    settings: Settings
    bootstrap_servers: str
    broker_kind: str
    topic: str
    group: str
    partition: int | None
    rate: str
    timeout: float


@dataclasses.dataclass
class Handles:
    """What the point and its workers share (events and values; ``multiprocessing`` ones
    in process and group mode). ``produced[p]``: the messages of partition ``p`` once known
    (-1 before); ``owned[k]``: how many partitions worker ``k`` reads now."""

    go: Any
    abort: Any
    readies: list[Any]
    produced: Any
    owned: list[Any]
    queue: Any = None


def _handles(mode: str, n: int) -> Handles:
    if mode == "thread":
        import threading

        return Handles(threading.Event(), threading.Event(), [threading.Event() for _ in range(n)],
                       [-1] * n, [_Value(0) for _ in range(n)])
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    return Handles(ctx.Event(), ctx.Event(), [ctx.Event() for _ in range(n)], ctx.Array("q", [-1] * n),
                   [ctx.Value("q", 0) for _ in range(n)], ctx.Queue())


class _Value:
    """``multiprocessing.Value``-alike for thread mode."""

    def __init__(self, value: int) -> None:
        self.value = value


class Worker:
    """One consumer and its analysis; :meth:`tick` samples it, :meth:`result` reports it."""

    def __init__(self, spec: WorkerSpec, handles: Handles) -> None:
        self.spec = spec
        self.handles = handles
        self.ready = handles.readies[spec.index]
        chosen = default_processors(spec.settings)
        self.analysis = chosen.label
        self.stage = Stage(chosen.processors, handles.go, self.ready if spec.rate == "max" else None)
        #: the partitions it reads: assigned (process, thread) or as the group left them (group)
        self.partitions: list[int] = [] if spec.partition is None else [spec.partition]
        self.consumer = RealTimeConsumer(
            spec.settings, spec.bootstrap_servers, processors=[self.stage], group_id=spec.group,
            partitions=self.partitions or None, topic=spec.topic, broker_kind=spec.broker_kind,
            consumer_overrides=None if self.partitions else {"max_poll_interval_ms": GROUP_MAX_POLL_INTERVAL_MS})
        self.lag_samples: list[int] = []
        self.done = False

    def start(self) -> None:
        self.consumer.start(timeout_seconds=self.spec.timeout)

    def tick(self) -> bool:
        """Sample lag and ownership, signal readiness, stop when the partition is drained;
        True while running."""
        cons = self.consumer
        if cons.join_s is not None:
            owned = cons.assignment
            if owned:
                self.partitions = owned
            self.handles.owned[self.spec.index].value = len(owned)
            if self.spec.rate == "fixed":
                self.ready.set()
        try:
            offs = list(cons.offsets.values())
        except RuntimeError:  # resized by the consumer thread mid-copy: sample next tick
            offs = []
        if offs:
            self.lag_samples.append(sum(int(lag) for o in offs if (lag := o.get("lag")) is not None))
        counts = [self.handles.produced[p] for p in self.partitions]
        if counts and min(counts) >= 0 and cons.processed + cons.duplicates >= sum(counts):
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
            "partition": self.partitions[0] if len(self.partitions) == 1 else -1,
            "pid": os.getpid(),
            "analysis": self.analysis,
            "consumed": cons.consumed,
            "processed": cons.processed,
            "duplicates": cons.duplicates,
            "dlq": cons.dlq,
            "gaps": None if summary is None else summary.gaps,
            "join_s": cons.join_s,
            "stopped_reason": None if summary is None else summary.stopped_reason,
            "error": error,
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


class Monitor(BackgroundLoop[None]):
    """Ticks workers every 20 ms until all are done; stops them at ``deadline`` or on ``abort``.

    In thread mode it runs in the background (:meth:`start` / :meth:`stop` / :meth:`join`);
    a worker process runs it in its main thread (:meth:`run`).
    """

    kind = "scaling-monitor"

    def __init__(self, workers: Sequence[Worker], deadline: float, abort: Any) -> None:
        super().__init__()
        self.workers = list(workers)
        self.deadline = deadline
        self.abort = abort
        self.status = "idle"

    def _set_status(self, text: str) -> None:
        self.status = text

    def run(self) -> None:
        """Tick until every worker is done (blocking)."""
        self._set_status("monitoring")
        while any(not w.done for w in self.workers):
            for w in self.workers:
                if not w.done:
                    w.tick()
            if time.monotonic() > self.deadline or self.abort.is_set():
                for w in self.workers:
                    w.consumer.stop()
            time.sleep(0.02)
        self._set_status("done")

    def start(self) -> Monitor:
        self._launch(self.run)
        return self

    def stop(self) -> None:
        """Stop the workers' consumers (the loop ends when they have)."""
        for w in self.workers:
            w.consumer.stop()


def _process_main(spec: WorkerSpec, handles: Handles) -> None:
    """Entry point of a worker process (spawn): one consumer, results back through the queue."""
    try:
        worker = Worker(spec, handles)
        worker.start()
        Monitor([worker], time.monotonic() + spec.timeout + 600, handles.abort).run()
        res = worker.result()
    except BaseException as exc:  # reported to the parent, which raises with the index
        log.exception("scaling worker %d failed", spec.index)
        handles.readies[spec.index].set()
        res = {"index": spec.index, "error": f"{type(exc).__name__}: {exc}"}
    handles.queue.put(res)


class _Point:
    """The workers of one point: start, wait for readiness, release, collect, stop."""

    def __init__(self, mode: str, specs: list[WorkerSpec], handles: Handles, timeout: float) -> None:
        self.mode = mode
        self.specs = specs
        self.handles = handles
        self.timeout = timeout
        self.workers: list[Worker] = []
        self.procs: list[Any] = []
        self.monitor: Monitor | None = None

    def start(self) -> None:
        if self.mode == "thread":
            self.workers = [Worker(s, self.handles) for s in self.specs]
            for w in self.workers:
                w.start()
            self.monitor = Monitor(self.workers, time.monotonic() + self.timeout + 600, self.handles.abort).start()
            return
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.procs = [ctx.Process(target=_process_main, args=(s, self.handles), name=f"f1live-scale-{s.index}",
                                  daemon=True) for s in self.specs]
        for p in self.procs:
            p.start()

    def wait(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + max(60.0, self.timeout)
        while not done():
            dead = [p.name for p in self.procs if not p.is_alive()]
            if dead:
                raise RuntimeError(f"scaling workers {dead} exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"scaling consumers ({self.mode}) not {what} within {deadline:.0f} s")
            time.sleep(0.02)

    def joined(self) -> None:
        """Group mode: wait until every member owns exactly one partition (a stable group)."""
        self.wait("joined as a stable group", lambda: all(v.value == 1 for v in self.handles.owned))

    def ready(self) -> None:
        self.wait("ready", lambda: all(r.is_set() for r in self.handles.readies))

    def collect(self, deadline: float) -> list[dict[str, Any]]:
        n = len(self.specs)
        if self.mode == "thread":
            while any(not w.done for w in self.workers):
                if time.monotonic() > deadline:
                    for w in self.workers:
                        w.consumer.stop()
                    deadline = float("inf")
                time.sleep(0.02)
            return sorted((w.result() for w in self.workers), key=lambda r: r["index"])
        import queue as queue_mod

        results: list[dict[str, Any]] = []
        hard = deadline + 60
        while len(results) < n:
            try:
                results.append(self.handles.queue.get(timeout=0.5))
            except queue_mod.Empty:
                dead = [p.name for p in self.procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead or time.monotonic() > hard:
                    raise RuntimeError(f"scaling workers {dead or 'timed out'}; got {len(results)}/{n} results") from None
        return sorted(results, key=lambda r: r["index"])

    def stop(self) -> None:
        self.handles.abort.set()
        self.handles.go.set()
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor.join(30)
        for w in self.workers:
            w.consumer.close()
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                log.warning("scaling worker %s did not exit; terminating it", p.name)
                p.terminate()
                p.join(5)


def run_point(
    settings: Settings,
    bootstrap_servers: str,
    caches: Sequence[ReplayCache],
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
    produced: list[int] = [-1] * n
    offered: dict[str, float] = {"offered_msgs_s": float("nan"), "producer_lateness_p99_ms": float("nan")}
    handles = _handles(mode, n)
    specs = [WorkerSpec(k, settings, bootstrap_servers, broker_kind, topic, topic, None if mode == "group" else k,
                        rate, config.timeout) for k in range(n)]
    point = _Point(mode, specs, handles, config.timeout)

    def produce(speed: float, duration: float | None, max_messages: int | None) -> list[Any]:
        sums = produce_streams(settings, bootstrap_servers, broker_kind, topic, caches, speed=speed,
                               duration=duration, max_messages=max_messages)
        for k, s in enumerate(sums):
            produced[k] = handles.produced[k] = s.acked
        return sums

    try:
        try:
            if rate == "max" and mode != "group":
                produce(0.0, None, config.messages_per_stream)
            point.start()
            if mode == "group":
                point.joined()
                if rate == "max":
                    produce(0.0, None, config.messages_per_stream)
            point.ready()
            cpu0 = psutil.cpu_times()
            self_cpu0 = _proc_cpu()
            t_go = time.monotonic()
            handles.go.set()
            if rate == "fixed":
                sums = produce(config.speed, config.duration, None)
                # what the paced streams actually offered (a starved producer offers less)
                span_p = max(s.elapsed_s for s in sums)
                offered = {"offered_msgs_s": round(sum(produced) / span_p, 2) if span_p > 0 else float("nan"),
                           "producer_lateness_p99_ms": max(float(s.lateness_ms.get("p99", float("nan")))
                                                           for s in sums)}
            results = point.collect(time.monotonic() + config.timeout)
            t_end = time.monotonic()
            cpu1 = psutil.cpu_times()
            self_cpu1 = _proc_cpu()
        finally:
            point.stop()
    finally:
        if not config.keep_topics:
            try:
                delete_topic(bootstrap_servers, topic)
            except Exception as exc:  # a leftover topic is harmless; say so
                log.warning("could not delete topic %s: %s", topic, exc)
    errors = [f"consumer {r['index']}: {r['error']}" for r in results if r.get("error")]
    if errors:
        raise RuntimeError(f"scaling point N={n} ({mode}, {rate}) failed: " + "; ".join(errors))
    run = PointRun(mode=mode, rate=rate, speed=config.speed, topic=topic, run_id=run_id, broker_kind=broker_kind,
                   data_meta=dict(caches[0].meta or {}),
                   drivers_per_stream=len({str(d).rsplit("-s", 1)[0] for d in caches[0].drivers}),
                   t_go=t_go, t_end=t_end, cpu=(cpu0, cpu1), self_cpu=self_cpu1 - self_cpu0, load1=load1)
    row = point_row(results, produced, run)
    row.update(offered)
    return row


def machine_info() -> dict[str, Any]:
    """CPU count, load and platform of this machine (goes into every result)."""
    import psutil

    return {"cpu_count": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "gil": "enabled" if getattr(sys, "_is_gil_enabled", lambda: True)() else "disabled"}


def _telemetry(source: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    if hasattr(source, "telemetry"):
        return source.telemetry, dict(getattr(source, "meta", {}) or {})
    if hasattr(source, "to_frame") and hasattr(source, "session_time"):
        return source.to_frame(), dict(getattr(source, "meta", {}) or {})
    if isinstance(source, pd.DataFrame):
        return source, {}
    raise TypeError(f"data {type(source).__name__}: expected SessionData, ReplayCache or a telemetry DataFrame")


def _broker(settings: Settings, bootstrap_servers: str | None, broker_kind: str | None,
            say: Callable[[str], None]) -> tuple[str, str, Any]:
    """(servers, kind, broker started here or None): explicit, configured, recorded, else embedded."""
    servers = bootstrap_servers or settings.bootstrap_servers
    if servers is not None:
        return servers, broker_kind or "external", None
    from f1live.broker.state import read_state, running_bootstrap

    servers = running_bootstrap(settings)
    if servers is not None:
        return servers, broker_kind or str((read_state(settings) or {}).get("kind") or "kafka"), None
    from f1live.broker import start_broker

    say("starting an embedded broker ...")
    broker = start_broker(settings)
    return broker.bootstrap_servers, broker.kind, broker


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
    servers, kind, broker = _broker(settings, bootstrap_servers, broker_kind, say)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    meta: dict[str, Any] = {"started": started, "machine": machine_info(), "bootstrap_servers": servers,
                            "broker": kind, "client": settings.client, "config": dataclasses.asdict(config)}
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
    """A quick experiment (the dashboard's button): process mode, N=1,2, 2000 messages each; saved."""
    cfg: dict[str, Any] = dict(consumers=(1, 2), modes=("process",), rates=("max",), messages_per_stream=2000,
                               drivers_per_stream=5)
    cfg.update(overrides)
    return run_experiment(settings, ScaleConfig(**cfg))
