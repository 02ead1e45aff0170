"""Soak: the whole pipeline at 10x for a long time; memory, latency and leaks over time.

Runs the real 2023 Monaco race through the embedded Apache Kafka at ``--speed`` (10x)
for ``--minutes`` (30; ``--quick``: 1.5), replaying the race again whenever it ends
(each pass a new producer run). Attached, as in the live dashboard: the consumer with
the full analysis (:class:`f1live.analysis.AnalyticsProcessor`: features, River
anomaly detection and the three models when ``models/`` has them), the
:class:`f1live.pipeline.Pipeline` live state, and a :class:`f1live.widgets.Dashboard`
whose refresher renders every panel at the configured rate (no browser needed).

Sampled every ``--sample-s``: RSS of this process (the broker is a separate process,
its RSS is sampled too), e2e latency p50/p99 of the messages consumed in that
interval (exact, from the consumer's latency window), messages/s, threads.

Targets: RSS growth < 10 % from the end of warm-up (first 20 % of the run, at least
one sample) to the end; p99 of the last third within 50 % (or 25 ms) of the first
third after warm-up; after stop: no thread and no child process left behind.

    .venv/bin/python bench/bench_soak.py --quick
    .venv/bin/python bench/bench_soak.py --minutes 30 --json-out runs/soak.json

Prints a table and one JSON object. On a shared 2-core machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from f1live.config import Settings  # noqa: E402


def _rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 1e6


def _broker_rss(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss / 1e6
        except psutil.Error:
            pass
    return total


def run(args: argparse.Namespace) -> dict[str, Any]:
    import tqdm

    from f1live.analysis import AnalyticsProcessor
    from f1live.broker import start_broker
    from f1live.cache import ReplayCache
    from f1live.pipeline import Pipeline
    from f1live.producer import RealTimeProducer
    from f1live.sources import load_session
    from f1live.widgets import Dashboard

    tqdm.tqdm.monitor_interval = 0  # tqdm's process-global monitor thread lives until exit by design
    me = psutil.Process()
    threads0 = {t.ident for t in threading.enumerate()}
    children0 = {c.pid for c in me.children(recursive=True)}
    work = Path(tempfile.mkdtemp(prefix="f1live-soak-"))
    base = Settings.from_env()
    settings = base.replace(
        run_dir=work / "runs",
        speed=args.speed,
        offline=True,
        source=base.source if base.source != "auto" else "fastf1-csv",
    )
    models_dir = Path(args.models_dir) if args.models_dir else settings.models_dir
    has_models = (models_dir / "manifest.json").is_file()
    settings = settings.replace(models_dir=models_dir)
    drivers = [d.strip().upper() for d in args.drivers.split(",") if d.strip()] or None
    data = load_session(settings, progress=False)
    cache = ReplayCache.from_session(data)
    if drivers:
        cache = cache.filter(drivers=drivers)

    broker = None
    servers = args.bootstrap_servers
    if not servers:
        broker = start_broker(settings, kind="kafka", fresh=True)
        servers = broker.bootstrap_servers
    s = settings.replace(
        bootstrap_servers=servers,
        topic=f"soak-{os.getpid()}",
        dlq_topic=f"soak-{os.getpid()}.dlq",
        analysis_topic=f"soak-{os.getpid()}-analysis",
    )
    proc = AnalyticsProcessor(s, models=has_models)
    pipe = Pipeline(
        s,
        bootstrap_servers=servers,
        cache=cache,
        data=data,
        processors=[proc],
        broker_kind=broker.kind if broker is not None else "external",
    )
    dash = Dashboard(s, bootstrap_servers=servers)
    samples: list[dict[str, Any]] = []
    passes = 1
    t_end = 0.0
    try:
        pipe.start()
        dash.pipeline = pipe  # the dashboard renders this pipeline's state (the refresher reads pipe.snapshot())
        dash.refresher.start()
        cons = pipe.consumer
        t0 = time.monotonic()
        t_end = t0 + args.minutes * 60.0
        last_count, last_t, last_processed = cons.e2e_ms.count, t0, 0
        cpu0 = me.cpu_times()
        while time.monotonic() < t_end:
            time.sleep(min(args.sample_s, max(0.0, t_end - time.monotonic())))
            if not pipe.producer.running:  # race over: replay it again (a new run, new seq space)
                pipe.producer.close()
                pipe.producer = RealTimeProducer(
                    s, bootstrap_servers=servers, state=pipe.state, ensure_topic=False
                ).load_cache(cache)
                pipe.producer.start(speed=args.speed)
                passes += 1
            now = time.monotonic()
            n = cons.e2e_ms.count
            new = min(n - last_count, 65536)
            vals = cons.e2e_ms.window_values()[-new:] if new > 0 else np.array([])
            processed = cons.stats()["processed"]
            cpu = me.cpu_times()
            samples.append(
                {
                    "t_s": round(now - t0, 1),
                    "rss_mb": round(_rss_mb(me), 1),
                    "broker_rss_mb": round(_broker_rss(list(broker.pids)) if broker is not None else 0.0, 1),
                    "msgs": int(new),
                    "msgs_per_s": round((processed - last_processed) / (now - last_t), 1),
                    "p50_ms": round(float(np.percentile(vals, 50)), 2) if len(vals) else None,
                    "p99_ms": round(float(np.percentile(vals, 99)), 2) if len(vals) else None,
                    "threads": threading.active_count(),
                    "cpu_share": round(((cpu.user + cpu.system) - (cpu0.user + cpu0.system)) / (now - last_t), 3),
                    "ui_updates_per_s": round(dash.refresher.stats().get("applied_per_s") or 0.0, 1),
                }
            )
            cpu0 = cpu
            if args.verbose:
                print(samples[-1], file=sys.stderr, flush=True)
            last_count, last_t, last_processed = n, now, processed
        final = cons.stats()
    finally:
        dash.refresher.stop()
        dash.refresher.join(10)
        pipe.stop()
        if broker is not None:
            broker.stop()
    time.sleep(1.0)
    leaked_threads = [t.name for t in threading.enumerate() if t.ident not in threads0 and t.is_alive()]
    leaked_children = [
        c.pid
        for c in me.children(recursive=True)
        if c.pid not in children0 and c.is_running() and c.status() != psutil.STATUS_ZOMBIE
    ]

    warm = max(1, int(len(samples) * 0.2))
    steady = samples[warm - 1 :]
    rss_start, rss_end = steady[0]["rss_mb"], steady[-1]["rss_mb"]
    growth = 100.0 * (rss_end - rss_start) / rss_start if rss_start else float("nan")
    p99s = [x["p99_ms"] for x in samples[warm:] if x["p99_ms"] is not None]
    third = max(1, len(p99s) // 3)
    p99_first = float(np.median(p99s[:third])) if p99s else float("nan")
    p99_last = float(np.median(p99s[-third:])) if p99s else float("nan")
    allowed = p99_first + max(0.5 * p99_first, 25.0)
    return {
        "minutes": args.minutes,
        "speed": args.speed,
        "drivers": drivers or "all",
        "passes": passes,
        "models": "loaded" if has_models else "none (anomaly detection only: run `f1live train`)",
        "cpus": psutil.cpu_count(),
        "load_avg_1m_start": None,
        "samples": samples,
        "processed": final["processed"],
        "dlq": final["dlq"],
        "duplicates": final.get("duplicates"),
        "rss_warm_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_max_mb": max(x["rss_mb"] for x in samples),
        "rss_growth_pct": round(growth, 2),
        "p99_first_third_ms": p99_first,
        "p99_last_third_ms": p99_last,
        "p99_allowed_ms": allowed,
        "leaked_threads": leaked_threads,
        "leaked_children": leaked_children,
        "targets": {
            "rss_growth<10%": bool(growth < 10.0),
            "p99_stable": bool(p99_last <= allowed),
            "no_leaks": not leaked_threads and not leaked_children,
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--quick", action="store_true", help="1.5 minutes, 10 s samples")
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--drivers", default="", help="comma-separated (default: the whole field)")
    ap.add_argument("--sample-s", type=float, default=30.0, help="sampling period (s)")
    ap.add_argument("--models-dir", default=None, help="trained models (default: settings models_dir)")
    ap.add_argument("--bootstrap-servers", default=None, help="external Kafka (default: embedded)")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--json", action="store_true", help="print only the JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every sample to stderr")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.sample_s = min(args.minutes, 1.5), min(args.sample_s, 10.0)
    load = os.getloadavg()[0]
    res = run(args)
    res["load_avg_1m_start"] = load
    if not args.json:
        print(
            f"\nsoak: {res['minutes']:g} min at {res['speed']:g}x, drivers {res['drivers']}, {res['passes']} pass(es), "
            f"models {res['models']}; {res['cpus']} CPUs, load avg {load:.1f} at start (shared machine: noisy)"
        )
        print(
            f"{'t (s)':>7} {'RSS MB':>8} {'broker MB':>9} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'threads':>7} "
            f"{'CPU':>5} {'UI/s':>5}"
        )
        for x in res["samples"]:
            print(
                f"{x['t_s']:7.0f} {x['rss_mb']:8.1f} {x['broker_rss_mb']:9.1f} {x['msgs_per_s']:7.0f} "
                f"{x['p50_ms'] if x['p50_ms'] is not None else float('nan'):7.1f} "
                f"{x['p99_ms'] if x['p99_ms'] is not None else float('nan'):7.1f} {x['threads']:7d} "
                f"{x['cpu_share']:5.2f} {x['ui_updates_per_s']:5.1f}"
            )
        print(
            f"RSS after warm-up {res['rss_warm_mb']:.1f} MB -> end {res['rss_end_mb']:.1f} MB: "
            f"{res['rss_growth_pct']:+.2f} % (target < 10 %)"
        )
        print(
            f"p99 first third {res['p99_first_third_ms']:.1f} ms -> last third {res['p99_last_third_ms']:.1f} ms "
            f"(allowed <= {res['p99_allowed_ms']:.1f})"
        )
        print(
            f"processed {res['processed']:,}, DLQ {res['dlq']}; leaked threads {res['leaked_threads']}, "
            f"leaked processes {res['leaked_children']}"
        )
    print(json.dumps(res, default=float))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(res, indent=1, default=float))
    return 0 if all(res["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
