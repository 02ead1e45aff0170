"""``f1live produce``: replay telemetry into Kafka at the real rate (or faster).

The data is ``--file`` (an f1live CSV/Parquet export), else the session loaded by
``--source`` (default ``auto``: an existing export, FastF1, the CSV dump...). The broker is
``--bootstrap-servers``, else ``F1LIVE_BOOTSTRAP_SERVERS``, else the one started with
``f1live broker start``, else an embedded broker started for this command. Examples::

    f1live produce --duration 30                       # 30 s of the race at 1x
    f1live produce --drivers VER,HAM --speed 10 --start-lap 40
    f1live produce --speed max --json                  # as fast as possible, JSON summary
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from f1live.commands._data_args import add_from_arg, add_kafka_args, quiet_kafka_logs, speed_arg
from f1live.commands._json import to_json
from f1live.config import Settings

NAME = "produce"
HELP = "replay telemetry into Kafka, paced by the data's timestamps"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", type=Path, default=None, help="f1live export (.parquet, .csv, .csv.gz) to replay")
    src.add_argument("--source", default=None, help="auto | fastf1 | fastf1-csv | file | simulated (default: settings)")
    p.add_argument("--drivers", default=None, help="comma-separated driver codes, e.g. VER,HAM (default: all)")
    p.add_argument(
        "--speed",
        type=speed_arg,
        default=None,
        help="replay speed: 1 = real time, 10, 0.5, or 'max' (default: env F1LIVE_SPEED, 1)",
    )
    p.add_argument("--duration", type=float, default=None, help="seconds of wall time to stream (default: to the end)")
    p.add_argument("--max-messages", type=int, default=None, help="stop after this many messages")
    add_from_arg(p)
    p.add_argument("--start-lap", type=int, default=None, help=argparse.SUPPRESS)  # old spelling of --from "lap N"
    add_kafka_args(p, topic=True)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from f1live.cache import ReplayCache
    from f1live.clients import find_or_start_broker
    from f1live.producer import RealTimeProducer

    quiet_kafka_logs(args)
    settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers, source=args.source,
                                 topic=args.topic, replay_from=args.replay_from, client=args.client)  # fmt: skip
    if args.file is not None:
        if not args.file.exists():
            raise FileNotFoundError(f"--file {args.file}: no such file (expected an f1live CSV/Parquet export)")
        cache = ReplayCache.from_path(args.file)
    else:
        from f1live.sources import load_session

        cache = ReplayCache.from_session(load_session(settings, progress=not args.json))
    drivers = [d.strip().upper() for d in args.drivers.split(",") if d.strip()] if args.drivers else None
    servers, kind, owned = find_or_start_broker(settings)
    if owned is not None:
        print(
            f"started an embedded {kind} broker at {servers} for this command "
            "(use `f1live broker start --detach` to keep one running)",
            file=sys.stderr,
        )
    if cache.meta.get("simulated"):
        print("NOTE: replaying SIMULATED data, not a real session", file=sys.stderr)
    try:
        with RealTimeProducer(settings, bootstrap_servers=servers, drivers=drivers, broker_kind=kind) as prod:
            prod.load_cache(cache)
            summary = prod.stream_at_frequency(
                duration_seconds=args.duration, speed=args.speed if args.speed is not None else settings.speed,
                max_messages=args.max_messages, start_lap=args.start_lap, progress=not args.json,
            )  # fmt: skip
    finally:
        if owned is not None:
            owned.stop()
    if args.json:
        print(to_json(summary.to_dict()))
    else:
        lat = summary.lateness_ms
        label = " SIMULATED" if summary.simulated else ""
        print(
            f"sent {summary.sent}, acked {summary.acked}, failed {summary.failed} to {summary.topic} "
            f"at {summary.bootstrap_servers} ({summary.stopped_reason}){label}"
        )
        if summary.data_rate is not None:
            print(
                f"rate {summary.achieved_rate:.2f} msg/s vs data {summary.data_rate:.2f} msg/s "
                f"({summary.rate_error_pct:+.3f} %), lateness p50 {lat['p50']:.3f} ms p99 {lat['p99']:.3f} ms"
            )
        elif summary.achieved_rate is not None:
            print(f"rate {summary.achieved_rate:.1f} msg/s (max speed)")
        for e in summary.errors[:5]:
            print(f"error: {e}", file=sys.stderr)
    return 0 if summary.failed == 0 else 1
