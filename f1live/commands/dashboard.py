"""``f1live dashboard``: serve the live dashboard (``widgets/dashboard.ipynb``) with Voila.

Voila listens on 127.0.0.1 only. Each page view starts a kernel that runs one whole
pipeline (broker unless ``--bootstrap-servers``, producer, consumer, analytics) and
stops it when the page goes away (heartbeat) or the server stops. Examples::

    f1live dashboard                                   # default session, http://127.0.0.1:8866/
    f1live dashboard --speed 20 --drivers VER,HAM,LEC --start-lap 30
    f1live dashboard --bootstrap-servers localhost:9092 --port 9000 --no-browser
    f1live dashboard --source simulated                # labelled SIMULATED everywhere
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from f1live.commands._data_args import add_kafka_args, speed_arg

NAME = "dashboard"
HELP = "serve the live dashboard with Voila (127.0.0.1) and print its URL"


def add_dashboard_args(p: argparse.ArgumentParser) -> None:
    """All ``f1live dashboard`` options (session/source ones + :func:`add_server_args`)."""
    p.add_argument("--speed", type=speed_arg, default=None,
                   help="replay speed: 1 = real time ... 100, or 'max' (default: env F1LIVE_SPEED, 1)")
    p.add_argument("--source", default=None, help="auto | fastf1 | fastf1-csv | file | simulated (default: auto)")
    p.add_argument("--file", type=Path, default=None, help="replay this f1live export / FastF1 CSV folder")
    p.add_argument("--year", type=int, default=None, help="session year (default 2023)")
    p.add_argument("--event", default=None, help="event name (default Monaco)")
    p.add_argument("--session", default=None, help="R | Q | S | SQ | FP1-3 (default R)")
    p.add_argument("--start-lap", type=int, default=None, help="start the replay at this lap")
    add_server_args(p)


def add_server_args(p: argparse.ArgumentParser) -> None:
    """Server/pipeline options shared by ``f1live dashboard`` and ``f1live run``."""
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866; 0 = any free port)")
    add_kafka_args(p, default="each page starts an embedded broker")
    p.add_argument("--broker", default=None, help="embedded broker kind: auto | kafka | tansu (default: settings)")
    p.add_argument("--drivers", default=None, help="comma-separated driver codes (default: all)")
    p.add_argument("--heartbeat-timeout", type=float, default=60.0,
                   help="stop a page's pipeline when the page was silent this long (s; default 60)")
    p.add_argument("--cull-idle-timeout", type=int, default=120,
                   help="shut idle kernels (closed pages) down after this many seconds (default 120)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dashboard_args(p)
    p.set_defaults(func=run)
    return p


def kernel_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``F1LIVE_*`` variables the Voila kernels read (``Dashboard.from_env``)."""
    env: dict[str, str] = {}
    pairs = {"F1LIVE_SPEED": args.speed, "F1LIVE_BOOTSTRAP_SERVERS": args.bootstrap_servers,
             "F1LIVE_CLIENT": getattr(args, "client", None),
             "F1LIVE_BROKER": args.broker, "F1LIVE_SOURCE": args.source, "F1LIVE_YEAR": args.year,
             "F1LIVE_EVENT": args.event, "F1LIVE_SESSION": args.session,
             "F1LIVE_DASHBOARD_DRIVERS": args.drivers, "F1LIVE_DASHBOARD_START_LAP": args.start_lap,
             "F1LIVE_DASHBOARD_HEARTBEAT_S": args.heartbeat_timeout}
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
    from f1live.widgets.server import VoilaServer, free_port

    env = kernel_env(args)
    env.update(extra_env or {})
    settings = Settings.from_env({**__import__("os").environ, **env})
    port = args.port or free_port()
    log_path = Path(settings.run_dir) / "dashboard" / "voila.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = VoilaServer(port=port, env=env, cull_idle_timeout=args.cull_idle_timeout, log_path=log_path)
    print(f"starting the dashboard (Voila, log {log_path}) ...", file=sys.stderr)
    server.start()
    print(f"f1live dashboard: {server.url}", flush=True)
    print("each page view runs its own pipeline; press Ctrl-C to stop", file=sys.stderr)
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


def run(args: argparse.Namespace) -> int:
    return serve(args)
