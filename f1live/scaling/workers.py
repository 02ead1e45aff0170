"""The workers of one weak-scaling point: consumers as threads, processes or group members.

Each :class:`Worker` is a real :class:`f1live.consumer.RealTimeConsumer` running the full
analysis (:func:`f1live.analysis.default_processors`) inside a :class:`Stage` that times it
and keeps the delivery ledger. In thread mode :class:`Monitor` (a
:class:`f1live.background.BackgroundLoop`) samples their lag and stops each when its
partition is drained; a worker process runs the same loop in its main thread.
:class:`Point` starts them, waits until they are ready (group mode: a stable group),
releases them together and collects their reports.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from f1live.analysis import default_processors
from f1live.background import BackgroundLoop
from f1live.config import Settings
from f1live.consumer import RealTimeConsumer
from f1live.processors import DriverStateful, Processor, run_processors

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


def proc_cpu() -> float:
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
            self.proc_first = proc_cpu()
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
        self.proc_last = proc_cpu()
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


def make_handles(mode: str, n: int) -> Handles:
    if mode == "thread":
        import threading

        return Handles(
            threading.Event(),
            threading.Event(),
            [threading.Event() for _ in range(n)],
            [-1] * n,
            [_Value(0) for _ in range(n)],
        )
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    return Handles(
        ctx.Event(),
        ctx.Event(),
        [ctx.Event() for _ in range(n)],
        ctx.Array("q", [-1] * n),
        [ctx.Value("q", 0) for _ in range(n)],
        ctx.Queue(),
    )


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
            spec.settings,
            spec.bootstrap_servers,
            processors=[self.stage],
            group_id=spec.group,
            partitions=self.partitions or None,
            topic=spec.topic,
            broker_kind=spec.broker_kind,
            consumer_overrides=None if self.partitions else {"max_poll_interval_ms": GROUP_MAX_POLL_INTERVAL_MS},
        )
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

    def _set_status(self, text: str) -> None:
        log.debug("scaling monitor of %d workers: %s", len(self.workers), text)

    def run(self) -> None:
        """Tick until every worker is done (blocking)."""
        while any(not w.done for w in self.workers):
            for w in self.workers:
                if not w.done:
                    w.tick()
            if time.monotonic() > self.deadline or self.abort.is_set():
                for w in self.workers:
                    w.consumer.stop()
            time.sleep(0.02)

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


class Point:
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
        self.procs = [
            ctx.Process(target=_process_main, args=(s, self.handles), name=f"f1live-scale-{s.index}", daemon=True)
            for s in self.specs
        ]
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
                    raise RuntimeError(
                        f"scaling workers {dead or 'timed out'}; got {len(results)}/{n} results"
                    ) from None
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
