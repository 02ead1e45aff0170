"""``f1live consume``: read the telemetry topic, validate, measure latency, DLQ bad messages.

The broker is ``--bootstrap-servers``, else ``F1LIVE_BOOTSTRAP_SERVERS``, else the one
started with ``f1live broker start``, else an embedded one for this command. Examples::

    f1live consume --timeout 30                 # group f1live, 30 s
    f1live consume --group debug --json         # JSON summary: counts, latency, DLQ
    f1live consume --partitions 0,1 --no-commit # manual assignment, offsets untouched
    f1live consume --group G --timeout 3600 --out member-a.jsonl   # one group member (run N of them)

As a group member (no ``--partitions``) it takes part in every rebalance: it commits what it
processed when a partition is revoked and hands its drivers' analysis state over through
checkpoints in ``<topic>.state.<group>`` (``--no-handover``: a partition arriving from
another member starts fresh). SIGTERM / SIGINT stop it cleanly: outputs flushed, state
checkpointed, offsets committed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from f1live.commands._data_args import add_kafka_args, quiet_kafka_logs
from f1live.commands._json import to_json
from f1live.config import Settings

if TYPE_CHECKING:
    from f1live.consumer import RealTimeConsumer

NAME = "consume"
HELP = "consume the telemetry topic: validate, DLQ, latency stats"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to consume (default 10)")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after this many seconds without messages")
    p.add_argument("--max-messages", type=int, default=None, help="stop after this many valid messages")
    p.add_argument("--group", default=None, help="consumer group (default: settings, f1live)")
    p.add_argument(
        "--partitions", default=None, help="comma-separated partitions to assign instead of joining the group"
    )
    p.add_argument("--no-commit", action="store_true", help="do not commit offsets")
    p.add_argument("--no-analyse", action="store_true", help="transport only: no features, anomaly detection or models")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE.jsonl",
        help="append every analysed message (run, driver, seq, partition, offset, results) as JSON lines",
    )
    p.add_argument(
        "--publish",
        action="store_true",
        help="also publish each analysis record to the analysis topic (env F1LIVE_ANALYSIS_TOPIC)",
    )
    p.add_argument("--member", default=None, help="this member's name in --out (default HOST-PID)")
    p.add_argument(
        "--no-handover",
        action="store_true",
        help="group mode: no state checkpoints; a partition from another member starts fresh",
    )
    add_kafka_args(p, topic=True)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from f1live.clients import find_or_start_broker
    from f1live.consumer import RealTimeConsumer
    from f1live.sinks import JsonLinesSink

    quiet_kafka_logs(args)
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError(f"--timeout {args.timeout}: expected seconds > 0")
    settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers, topic=args.topic,
                                 consumer_group=args.group, client=args.client)  # fmt: skip
    try:
        partitions = [int(p) for p in args.partitions.split(",")] if args.partitions else None
    except ValueError:
        raise ValueError(f"--partitions {args.partitions!r}: expected comma-separated integers like 0,1") from None
    servers, kind, owned = find_or_start_broker(settings)
    if owned is not None:
        print(f"started an embedded {kind} broker at {servers} for this command", file=sys.stderr)
    sink = JsonLinesSink(args.out, member=args.member or f"{socket.gethostname()}-{os.getpid()}") if args.out else None
    try:
        if sink is not None:
            sink.open()
        cons = RealTimeConsumer(settings, bootstrap_servers=servers, partitions=partitions,
                                commit=not args.no_commit, broker_kind=kind, analyse=not args.no_analyse,
                                sink=sink, handover=not args.no_handover,
                                publish_analysis=args.publish)  # fmt: skip
        with _stop_on_signals(cons):
            summary = cons.consume_messages(timeout_seconds=args.timeout, max_messages=args.max_messages,
                                            idle_timeout=args.idle_timeout)  # fmt: skip
    finally:
        if sink is not None:
            sink.close()
        if owned is not None:
            owned.stop()
    if args.json:
        print(to_json(summary.to_dict()))
    else:
        e2e = summary.e2e_ms
        print(
            f"consumed {summary.consumed} from {summary.topic} at {summary.bootstrap_servers}: "
            f"processed {summary.processed}, DLQ {summary.dlq} {summary.dlq_reasons or ''}, "
            f"duplicates {summary.duplicates}, gaps {summary.gaps} ({summary.stopped_reason})"
        )
        if summary.join_s is not None:
            print(f"group join {summary.join_s:.2f} s")
        if e2e["count"]:
            print(
                f"end-to-end latency ms: p50 {e2e['p50']:.3f} p95 {e2e['p95']:.3f} p99 {e2e['p99']:.3f} "
                f"max {e2e['max']:.3f}; rate {summary.rate or 0:.1f} msg/s"
            )
        for p, o in summary.partitions.items():
            print(f"  partition {p}: next offset {o['offset']}, lag {o['lag']}")
        for t in summary.takeovers:
            print(
                f"  took over partition {t['partition']}: {t['source']} (checkpoint offset {t['checkpoint_offset']}, "
                f"{t['replayed']} replayed, state current after {t['catch_up_ms']} ms)"
            )
    return 0


@contextlib.contextmanager
def _stop_on_signals(consumer: RealTimeConsumer) -> Iterator[None]:
    """SIGTERM / SIGINT ask ``consumer`` to stop (it finishes its batch, checkpoints, commits)."""
    saved = {sig: signal.signal(sig, lambda *_: consumer.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
