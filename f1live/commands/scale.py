"""``f1live scale``: the weak-scaling experiment (consumers x partitions x streams).

For each N in ``--consumers`` a fresh topic with N partitions gets N replayed streams
(copies of one real driver group with distinct keys); N consumers, each owning one
partition, run the full analysis: threads of one process, worker processes assigned a
partition each, or worker processes in one consumer group (``--mode group``: Kafka
assigns the partitions; what a multi-machine deployment runs). Prints the results table and saves it (Parquet +
JSON) under ``runs/scaling/<timestamp>/`` (or ``--out``); the dashboard shows the latest.

The broker is ``--bootstrap-servers``, else ``F1LIVE_BOOTSTRAP_SERVERS``, else the one
started with ``f1live broker start``, else an embedded one for this command. Examples::

    f1live scale --consumers 1,2,4 --mode process             # throughput: drain a backlog
    f1live scale --consumers 1,2 --mode both --messages 5000  # thread (GIL) vs process
    f1live scale --consumers 1,2,4 --mode group               # consumer-group members
    f1live scale --rate fixed --speed 10 --duration 20        # latency at 10x real time
    f1live scale --rate both --json --out runs/my-scaling     # both rates, JSON on stdout
    f1live scale --bootstrap-servers kafka1:9092,kafka2:9092  # an external cluster
"""

from __future__ import annotations

import argparse
import logging
import sys

from f1live.commands._data_args import add_kafka_args, quiet_kafka_logs, speed_arg
from f1live.commands._json import to_json
from f1live.config import Settings

NAME = "scale"
HELP = "weak-scaling experiment: latency/throughput vs consumers (thread, process or group)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--consumers", default="1,2,4", help="consumer counts N, comma-separated (default 1,2,4)")
    p.add_argument(
        "--mode",
        default="process",
        choices=["thread", "process", "group", "both"],
        help="consumers as threads of one process (GIL), as processes assigned a partition each "
        "(default), or as processes in one consumer group; both = thread and process",
    )
    p.add_argument(
        "--rate",
        default=None,
        choices=["max", "fixed", "both"],
        help="max: drain a backlog as fast as possible (throughput); fixed: replay at --speed "
        "(latency). Default: fixed if --speed is a number, else max",
    )
    p.add_argument(
        "--speed",
        type=speed_arg,
        default=None,
        help="replay speed of the fixed rate: a factor like 1 or 10 (default 10), or 'max' (= --rate max)",
    )
    p.add_argument(
        "--duration", type=float, default=20.0, help="fixed rate: wall seconds each stream is replayed (default 20)"
    )
    p.add_argument(
        "--messages", type=int, default=10_000, help="max rate: messages per stream = per consumer (default 10000)"
    )
    p.add_argument(
        "--drivers-per-stream", type=int, default=20, help="real drivers in one stream (default 20: a full grid)"
    )
    p.add_argument("--drivers", default=None, help="explicit driver codes of a stream, e.g. VER,HAM,LEC")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds one point may take (default 180)")
    p.add_argument("--keep-topics", action="store_true", help="keep the per-run topics (default: deleted)")
    p.add_argument("--source", default=None, help="data source (default: settings, auto)")
    add_kafka_args(p)
    p.add_argument("--out", default=None, help="results directory (default runs/scaling/<timestamp>)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.set_defaults(func=run)
    return p


def _rates(args: argparse.Namespace) -> tuple[tuple[str, ...], float]:
    if args.speed == 0.0:  # 'max' (speed_arg parses it to 0)
        if args.rate == "fixed":
            raise ValueError("--rate fixed needs a numeric --speed (e.g. 1 or 10), not 'max'")
        return ("max",), 10.0
    rate = args.rate or ("fixed" if args.speed is not None else "max")
    return (("max", "fixed") if rate == "both" else (rate,)), 10.0 if args.speed is None else args.speed


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from f1live.scaling import ScaleConfig, run_experiment

    quiet_kafka_logs(args, logging.ERROR)
    rates, speed = _rates(args)
    config = ScaleConfig(
        consumers=args.consumers,
        modes=("thread", "process") if args.mode == "both" else (args.mode,),
        rates=rates,
        speed=speed,
        duration=args.duration,
        messages_per_stream=args.messages,
        drivers_per_stream=args.drivers_per_stream,
        drivers=tuple(d.strip().upper() for d in args.drivers.split(",") if d.strip()) if args.drivers else None,
        timeout=args.timeout,
        keep_topics=args.keep_topics,
    )
    settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers, source=args.source, client=args.client)
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = run_experiment(settings, config, progress=say, out=args.out)
    if args.json:
        print(to_json(result.to_dict()))
        return 0 if result.table["delivery_ok"].all() else 1
    m = result.meta["machine"]
    print(f"\nmachine: {m['cpu_count']} CPUs, load average {m['load_avg']} at start; broker {result.meta['broker']}")
    cols = [
        "mode",
        "rate",
        "consumers",
        "throughput_msgs_s",
        "efficiency",
        "latency_kind",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "p99_growth_pct",
        "per_consumer_msgs_s",
        "lag_max",
        "cpu_util_pct",
        "delivery_ok",
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(result.table[cols].to_string(index=False))
    print(f"analysis per message: {result.table['analysis'].iloc[0]}; data: {result.table['data'].iloc[0]}")
    print(f"saved: {result.path}")
    bad = result.table[~result.table["delivery_ok"]]
    if len(bad):
        print(f"DELIVERY CHECK FAILED for {len(bad)} run(s): see {result.path}/scaling_results.json", file=sys.stderr)
        return 1
    return 0
