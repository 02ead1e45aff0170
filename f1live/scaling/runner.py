"""Runs a weak-scaling experiment: per point a topic, N streams, N consumers, one result row.

For ``N`` consumers a point creates a fresh topic with ``N`` partitions, replays ``N``
streams into it (:mod:`f1live.scaling.streams`) and runs ``N`` consumers
(:mod:`f1live.scaling.workers`), each a real :class:`f1live.consumer.RealTimeConsumer`
(validation, de-duplication, offset commits) running the full analysis. How the consumers
run (:data:`f1live.scaling.config.MODES`):

* ``thread``: threads of this process;
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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from f1live.cache import ReplayCache
from f1live.config import Settings
from f1live.scaling.config import MODES, RATES, ScaleConfig
from f1live.scaling.results import PointRun, ScaleResult, finish_table, point_row
from f1live.scaling.streams import build_streams, pick_drivers, produce_streams
from f1live.scaling.workers import Point, WorkerSpec, make_handles, proc_cpu

log = logging.getLogger(__name__)


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
    handles = make_handles(mode, n)
    specs = [
        WorkerSpec(
            k,
            settings,
            bootstrap_servers,
            broker_kind,
            topic,
            topic,
            None if mode == "group" else k,
            rate,
            config.timeout,
        )
        for k in range(n)
    ]
    point = Point(mode, specs, handles, config.timeout)

    def produce(speed: float, duration: float | None, max_messages: int | None) -> list[Any]:
        sums = produce_streams(
            settings,
            bootstrap_servers,
            broker_kind,
            topic,
            caches,
            speed=speed,
            duration=duration,
            max_messages=max_messages,
        )
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
            self_cpu0 = proc_cpu()
            t_go = time.monotonic()
            handles.go.set()
            if rate == "fixed":
                sums = produce(config.speed, config.duration, None)
                # what the paced streams actually offered (a starved producer offers less)
                span_p = max(s.elapsed_s for s in sums)
                offered = {
                    "offered_msgs_s": round(sum(produced) / span_p, 2) if span_p > 0 else float("nan"),
                    "producer_lateness_p99_ms": max(float(s.lateness_ms.get("p99", float("nan"))) for s in sums),
                }
            results = point.collect(time.monotonic() + config.timeout)
            t_end = time.monotonic()
            cpu1 = psutil.cpu_times()
            self_cpu1 = proc_cpu()
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
    run = PointRun(
        mode=mode,
        rate=rate,
        speed=config.speed,
        topic=topic,
        run_id=run_id,
        broker_kind=broker_kind,
        data_meta=dict(caches[0].meta or {}),
        drivers_per_stream=len({str(d).rsplit("-s", 1)[0] for d in caches[0].drivers}),
        t_go=t_go,
        t_end=t_end,
        cpu=(cpu0, cpu1),
        self_cpu=self_cpu1 - self_cpu0,
        load1=load1,
    )
    row = point_row(results, produced, run)
    row.update(offered)
    return row


def machine_info() -> dict[str, Any]:
    """CPU count, load and platform of this machine (goes into every result)."""
    import psutil

    return {
        "cpu_count": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gil": "enabled" if getattr(sys, "_is_gil_enabled", lambda: True)() else "disabled",
    }


def _telemetry(source: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    if hasattr(source, "telemetry"):
        return source.telemetry, dict(getattr(source, "meta", {}) or {})
    if hasattr(source, "to_frame") and hasattr(source, "session_time"):
        return source.to_frame(), dict(getattr(source, "meta", {}) or {})
    if isinstance(source, pd.DataFrame):
        return source, {}
    raise TypeError(f"data {type(source).__name__}: expected SessionData, ReplayCache or a telemetry DataFrame")


def _broker(
    settings: Settings, bootstrap_servers: str | None, broker_kind: str | None, say: Callable[[str], None]
) -> tuple[str, str, Any]:
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
    meta: dict[str, Any] = {
        "started": started,
        "machine": machine_info(),
        "bootstrap_servers": servers,
        "broker": kind,
        "client": settings.client,
        "config": dataclasses.asdict(config),
    }
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
        meta.update(
            drivers=drivers,
            start_time=start,
            data_meta={k: dmeta.get(k) for k in ("source", "year", "event", "session", "simulated")},
        )
        if dmeta.get("simulated"):
            log.warning("the scaling experiment runs on SIMULATED data")
        n_max = max(config.consumers)
        for rate in config.rates:
            if rate == "max":
                caches = build_streams(
                    tel, n_max, drivers, start_time=start, rows=config.messages_per_stream, meta=dmeta
                )
            else:
                caches = build_streams(
                    tel,
                    n_max,
                    drivers,
                    start_time=start,
                    data_seconds=config.duration * config.speed * 1.2 + 5,
                    meta=dmeta,
                )
            for mode in config.modes:
                for n in config.consumers:
                    row = run_point(
                        settings,
                        servers,
                        caches[:n],
                        mode=mode,
                        rate=rate,
                        config=config,
                        broker_kind=kind,
                        run_id=run_id,
                    )
                    rows.append(row)
                    say(
                        f"{rate:>5} {mode:>7} N={n}: {row['throughput_msgs_s']:>9.1f} msg/s  "
                        f"{row['latency_kind']} p50 {row['latency_p50_ms']:.1f} ms  p99 {row['latency_p99_ms']:.1f} ms  "
                        f"cpu {row['cpu_util_pct']:.0f}%  delivery {'OK' if row['delivery_ok'] else 'FAILED'}"
                    )
    finally:
        if broker is not None:
            broker.stop()
    table = finish_table(rows)
    details = [
        {k: r[k] for k in ("mode", "rate", "consumers", "topic", "delivery_detail", "per_consumer")} for r in rows
    ]
    result = ScaleResult(table=table, details=details, meta=meta, settings=settings)
    if save:
        result.save(out)
    return result


def run_small(settings: Settings, **overrides: Any) -> ScaleResult:
    """A quick experiment (the dashboard's button): process mode, N=1,2, 2000 messages each; saved."""
    cfg: dict[str, Any] = dict(
        consumers=(1, 2), modes=("process",), rates=("max",), messages_per_stream=2000, drivers_per_stream=5
    )
    cfg.update(overrides)
    return run_experiment(settings, ScaleConfig(**cfg))
