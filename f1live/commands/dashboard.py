"""``f1live dashboard``: serve the live dashboard (``widgets/dashboard.ipynb``) with Voila.

Voila listens on 127.0.0.1 only. The command starts one broker for the server (embedded
Apache Kafka, Tansu without Java; none with ``--bootstrap-servers``); each page view starts
a kernel whose pipeline (producer, consumer, analytics) replays into a topic of the page's
own on that broker, so several pages stream at once. A kernel starts its pipeline only
when its page is really displayed (its first heartbeat), gives up when no page shows up
within ``--wait-for-page`` seconds (a health check, ``curl``), and stops when the page goes
away (heartbeat) or the server stops. Examples::

    f1live dashboard                                   # default session, http://127.0.0.1:8866/
    f1live dashboard --speed 20 --drivers VER,HAM,LEC --from "lap 30"
    f1live dashboard --bootstrap-servers localhost:9092 --port 9000 --no-browser
    f1live dashboard --source simulated                # labelled SIMULATED everywhere
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from f1live.commands._data_args import add_from_arg, add_kafka_args, speed_arg

NAME = "dashboard"
HELP = "serve the live dashboard with Voila (127.0.0.1) and print its URL"


def add_dashboard_args(p: argparse.ArgumentParser) -> None:
    """All ``f1live dashboard`` options (session/source ones + :func:`add_server_args`)."""
    p.add_argument(
        "--speed",
        type=speed_arg,
        default=None,
        help="replay speed: 1 = real time ... 100, or 'max' (default: env F1LIVE_SPEED, 1)",
    )
    p.add_argument("--source", default=None, help="auto | fastf1 | fastf1-csv | file | simulated (default: auto)")
    p.add_argument("--file", type=Path, default=None, help="replay this f1live export / FastF1 CSV folder")
    p.add_argument("--year", type=int, default=None, help="session year (default 2023)")
    p.add_argument("--event", default=None, help="event name (default Monaco)")
    p.add_argument("--session", default=None, help="R | Q | S | SQ | FP1-3 (default R)")
    add_from_arg(p)
    p.add_argument("--start-lap", type=int, default=None, help=argparse.SUPPRESS)  # old spelling of --from "lap N"
    add_server_args(p)


def add_server_args(p: argparse.ArgumentParser) -> None:
    """Server/pipeline options shared by ``f1live dashboard`` and ``f1live run``."""
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866; 0 = any free port)")
    add_kafka_args(p, default="one embedded broker started for the server")
    p.add_argument("--broker", default=None, help="embedded broker kind: auto | kafka | tansu (default: settings)")
    p.add_argument("--drivers", default=None, help="comma-separated driver codes (default: all)")
    p.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=60.0,
        help="stop a page's pipeline when the page was silent this long (s; default 60)",
    )
    p.add_argument(
        "--wait-for-page",
        type=float,
        default=20.0,
        help="a request whose page never displays (no heartbeat within this many s) "
        "starts nothing and is released (default 20)",
    )
    p.add_argument(
        "--cull-idle-timeout",
        type=int,
        default=120,
        help="shut idle kernels (closed pages) down after this many seconds (default 120)",
    )
    p.add_argument(
        "--no-train",
        action="store_true",
        help="do not train the models when models/ has none (the predictions panel then says why)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dashboard_args(p)
    p.set_defaults(func=run)
    return p


def kernel_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``F1LIVE_*`` variables the Voila kernels read (``Dashboard.from_env``)."""
    env: dict[str, str] = {}
    start = args.replay_from or (f"lap {args.start_lap}" if getattr(args, "start_lap", None) else None)
    pairs = {
        "F1LIVE_SPEED": args.speed,
        "F1LIVE_BOOTSTRAP_SERVERS": args.bootstrap_servers,
        "F1LIVE_CLIENT": getattr(args, "client", None),
        "F1LIVE_BROKER": args.broker,
        "F1LIVE_SOURCE": args.source,
        "F1LIVE_YEAR": args.year,
        "F1LIVE_EVENT": args.event,
        "F1LIVE_SESSION": args.session,
        "F1LIVE_REPLAY_FROM": start,
        "F1LIVE_DASHBOARD_DRIVERS": args.drivers,
        "F1LIVE_DASHBOARD_HEARTBEAT_S": args.heartbeat_timeout,
        "F1LIVE_DASHBOARD_WAIT_FOR_PAGE_S": getattr(args, "wait_for_page", None),
        "F1LIVE_DASHBOARD_PAGE_TOPIC": "1",
    }
    if args.file is not None:
        if not args.file.exists():
            raise FileNotFoundError(f"--file {args.file}: no such file or folder")
        pairs["F1LIVE_SOURCE_PATH"] = str(args.file.resolve())
        pairs["F1LIVE_SOURCE"] = args.source or ("fastf1-csv" if args.file.is_dir() else "file")
    for k, v in pairs.items():
        if v is not None:
            env[k] = str(v)
    return env


def serve(args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> int:
    """Start Voila, print the URL, block until Ctrl-C, stop everything."""
    from f1live.config import Settings
    from f1live.serve import VoilaServer, free_port

    env = kernel_env(args)
    env.update(extra_env or {})
    settings = Settings.from_env({**__import__("os").environ, **env})
    port = args.port or free_port()
    log_path = Path(settings.run_dir) / "dashboard" / "voila.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ensure_first_run_models(settings, train=not getattr(args, "no_train", False))
    broker = None
    server = VoilaServer(port=port, env=env, cull_idle_timeout=args.cull_idle_timeout, log_path=log_path)
    try:
        broker, bootstrap, kind = server_broker(settings)
        server.env.update(F1LIVE_BOOTSTRAP_SERVERS=bootstrap, F1LIVE_BROKER=kind)
        print(f"starting the dashboard (Voila, log {log_path}) ...", file=sys.stderr)
        server.start()
    except BaseException:
        server.stop()
        _stop_broker(broker, settings)
        raise
    print(f"f1live dashboard: {server.url}", flush=True)
    print(
        f"each page view replays into its own topic on the {kind} broker at {bootstrap}; press Ctrl-C to stop",
        file=sys.stderr,
    )
    if settings.source == "simulated":
        print("NOTE: the source is SIMULATED data, not a real session", file=sys.stderr)
    import signal

    def _term(_sig: int, _frame: object) -> None:  # `kill` / service stop: clean up like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        while server.running:
            time.sleep(0.5)
        print("voila exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the dashboard ...", file=sys.stderr)
        return 0
    finally:
        server.stop()
        _stop_broker(broker, settings)


def ensure_first_run_models(settings: Any, *, train: bool = True) -> None:
    """Train the models before the first page when ``models_dir`` has none (one line either way)."""
    from f1live.model_setup import ensure_models, models_present

    if not models_present(settings) and train:
        print(
            f"no models in {settings.models_dir}: training them on the {settings.event} training races "
            "first (only this once) ...",
            file=sys.stderr,
        )
    status = ensure_models(settings.replace(source="auto", source_path=None), train=train, progress=True)
    print(status.message, file=sys.stderr)


def server_broker(settings: Any) -> tuple[Any, str, str]:
    """(broker this server started or None, bootstrap servers, broker kind) for the pages.

    An external Kafka (``--bootstrap-servers``) or the broker recorded by ``f1live broker
    start`` when it still runs is used as is; otherwise one embedded broker is started here
    (from the main thread: it dies with this process) and recorded, so notebook kernels and
    ``f1live topic`` find it too.
    """
    from f1live.broker import start_broker
    from f1live.broker.state import live_pids, read_state, write_state
    from f1live.clients import resolve_bootstrap

    if settings.bootstrap_servers:
        return None, settings.bootstrap_servers, resolve_bootstrap(settings, settings.bootstrap_servers)[1]
    state = read_state(settings)
    if state and live_pids(state):
        return None, str(state["bootstrap_servers"]), str(state.get("kind", "kafka"))
    print("starting the broker for the dashboard ...", file=sys.stderr)
    broker = start_broker(settings)
    write_state(settings, broker, detached=False)
    return broker, broker.bootstrap_servers, broker.kind


def _stop_broker(broker: Any, settings: Any) -> None:
    if broker is None:
        return
    from f1live.broker.state import clear_state

    try:
        broker.stop()
    finally:
        clear_state(settings)


def run(args: argparse.Namespace) -> int:
    return serve(args)
