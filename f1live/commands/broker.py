"""``f1live broker start|stop|status|fetch``: run the Kafka broker the pipeline talks to.

Examples::

    f1live broker start                  # embedded Apache Kafka, foreground, Ctrl-C stops it
    f1live broker start --detach         # in the background; `f1live broker stop` later
    f1live broker start --nodes 3        # three-node KRaft cluster (replication 3, min ISR 2)
    f1live broker start --broker tansu   # memory-only Tansu (no Java needed)
    f1live broker status
    f1live broker fetch                  # only resolve the Apache Kafka jars (Maven Central)
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from f1live.commands._data_args import quiet_kafka_logs
from f1live.config import Settings

NAME = "broker"
HELP = "start/stop/status of the Kafka broker (embedded Apache Kafka, KAFKA_HOME, Tansu)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = sub.add_parser("start", help="start a broker (foreground until Ctrl-C, or --detach)")
    start.add_argument(
        "--broker",
        choices=["auto", "kafka", "kafka-home", "tansu", "external"],
        default=None,
        help="which broker (default: settings/F1LIVE_BROKER, auto)",
    )
    start.add_argument("--nodes", type=int, default=1, help="KRaft nodes (Apache Kafka only; default 1)")
    start.add_argument("--port", type=int, default=None, help="client port of the first node (default: a free port)")
    start.add_argument("--fresh", action="store_true", help="wipe this broker's data under the run dir first")
    start.add_argument("--detach", action="store_true", help="run in the background and return")
    start.add_argument("--bootstrap-servers", default=None, help="an external Kafka (with --broker external)")
    start.add_argument("--timeout", type=float, default=None, help="seconds to wait until it answers")
    start.set_defaults(func=cmd_start)

    stop = sub.add_parser("stop", help="stop the broker started with `f1live broker start`")
    stop.set_defaults(func=cmd_stop)
    status = sub.add_parser("status", help="is the recorded broker running and answering?")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    fetch = sub.add_parser("fetch", help="resolve the Apache Kafka jars from Maven Central (once)")
    fetch.add_argument("--force", action="store_true", help="resolve again even if cached")
    fetch.set_defaults(func=cmd_fetch)
    return p


def _settings(args: argparse.Namespace) -> Settings:
    quiet_kafka_logs(args, logging.WARNING)
    return Settings.from_env(
        broker=getattr(args, "broker", None), bootstrap_servers=getattr(args, "bootstrap_servers", None)
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_start(args: argparse.Namespace) -> int:
    from f1live.broker import start_broker
    from f1live.broker.state import clear_state, live_pids, read_state, write_state

    settings = _settings(args)
    old = read_state(settings)
    if old and live_pids(old):
        raise RuntimeError(
            f"a {old['kind']} broker is already running at {old['bootstrap_servers']} "
            f"(pids {live_pids(old)}); run `f1live broker stop` first"
        )
    # SIGTERM/SIGHUP behave like Ctrl-C: unwind through the finally below and stop the broker.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    broker = start_broker(settings, kind=args.broker, nodes=args.nodes, fresh=args.fresh, port=args.port,
                          timeout=args.timeout, detach=args.detach)  # fmt: skip
    try:
        state = write_state(settings, broker, detached=args.detach)
        what = {"kafka": f"Apache Kafka {settings.kafka_version}", "kafka-home": "Apache Kafka (KAFKA_HOME)",
                "tansu": "Tansu (memory-only)", "external": "external Kafka"}[broker.kind]  # fmt: skip
        print(f"{what} ready at {broker.bootstrap_servers} in {broker.start_seconds:.1f} s"
              f" ({len(broker.nodes) or 'external'} node(s); log {broker.log_path})", flush=True)  # fmt: skip
        print(f"export F1LIVE_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
        if broker.kind == "tansu":
            print("note: Tansu answers a fetch only when its wait expires: use fetch_max_wait_ms ~10 ms", flush=True)
        if args.detach or broker.kind == "external":
            print(f"state: {state}; stop with `f1live broker stop`", flush=True)
            return 0
        print("running; press Ctrl-C to stop", flush=True)
        while broker.alive():
            time.sleep(0.5)
        dead = [n.node_id for n in broker.nodes if not n.alive()]
        print(f"broker node(s) {dead} exited; see {broker.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping broker...", file=sys.stderr, flush=True)
        return 130
    finally:
        if not args.detach:
            t0 = time.monotonic()
            broker.stop()
            clear_state(settings)
            if broker.kind != "external":
                print(f"broker stopped in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


def cmd_stop(args: argparse.Namespace) -> int:
    from f1live.broker.state import read_state, state_path, stop_recorded

    settings = _settings(args)
    state = read_state(settings)
    if state is None:
        print(f"no broker recorded ({state_path(settings)} does not exist); nothing to stop")
        return 0
    t0 = time.monotonic()
    pids = stop_recorded(settings)
    if pids:
        print(
            f"stopped {state['kind']} broker at {state['bootstrap_servers']} (pids {pids}) in {time.monotonic() - t0:.1f} s"
        )
    else:
        print(f"the {state['kind']} broker at {state['bootstrap_servers']} was not running; state cleared")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from f1live.broker import BrokerError, cluster_metadata
    from f1live.broker.state import live_pids, read_state, state_path

    settings = _settings(args)
    state = read_state(settings)
    if state is None:
        msg = {"running": False, "reason": f"no broker recorded at {state_path(settings)}"}
        print(json.dumps(msg) if args.json else f"not running ({msg['reason']})")
        return 1
    pids = live_pids(state)
    try:
        md = cluster_metadata(state["bootstrap_servers"], timeout=3)
        answer = f"answers metadata: {len(md['brokers'])} broker(s), cluster {md['cluster_id']}"
    except BrokerError as exc:
        md, answer = None, f"does not answer ({exc})"
    running = bool(pids) and md is not None
    if args.json:
        print(json.dumps({**state, "running": running, "live_pids": pids, "metadata": md}, default=str))
    else:
        print(f"{state['kind']} broker at {state['bootstrap_servers']}: "
              f"{'running' if running else 'NOT running'} (pids alive {pids} of {state['pids']}); {answer}")  # fmt: skip
        print(f"log: {state.get('log_path')}")
    return 0 if running else 1


def cmd_fetch(args: argparse.Namespace) -> int:
    from f1live.broker.jars import fetch_kafka_jars, jars_ready

    settings = Settings.from_env()
    cached = jars_ready(settings) and not args.force
    t0 = time.monotonic()
    libs = fetch_kafka_jars(settings, force=args.force)
    n = len(list(Path(libs).glob("*.jar")))
    how = "already cached" if cached else f"resolved from Maven Central in {time.monotonic() - t0:.1f} s"
    print(f"Apache Kafka {settings.kafka_version}: {n} jars in {libs} ({how})")
    return 0
