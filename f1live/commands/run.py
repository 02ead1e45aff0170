"""``f1live run``: the main job -- prepare the default session and serve the live dashboard.

Prepares the default session (2023 Monaco Race, ``--source auto``: an existing export
in ``data/``, else FastF1, else the raw FastF1 CSV dumps, else SIMULATED with a warning),
exports it when it was not loaded from an export, trains the three models when
``models/`` has none and the training races are available, then starts the dashboard
(Voila on 127.0.0.1, one broker for the server) replaying that export through Kafka from
the race start, and prints its URL. Ctrl-C stops it all.

``--seconds N`` instead only replays N seconds from the in-memory cache, without Kafka or
UI, and prints the measured frequency (a quick check of the prepared data).

Examples::

    f1live run                                   # prepare, train if needed, then http://127.0.0.1:8866/
    f1live run --speed 20 --from "lap 23" --port 9000 --no-browser
    f1live run --from session                    # the whole session: garage and grid first
    f1live run --bootstrap-servers localhost:9092
    f1live run --source simulated                # SIMULATED data, labelled as such
    f1live run --seconds 10 --from "lap 23" --speed 2    # quick replay check, no Kafka
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from f1live.cache import ReplayCache
import json
import sys
import time

from f1live.commands._data_args import add_from_arg, add_session_args, settings_from_args, speed_arg
from f1live.commands.dashboard import add_server_args

NAME = "run"
HELP = "main job: prepare the default session and serve the live dashboard (prints the URL)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_session_args(p)
    p.add_argument(
        "--speed",
        type=speed_arg,
        default=1.0,
        help="replay speed: 1 = real time (default), 10, 0.5, or 'max' (= 0: as fast as possible)",
    )
    add_from_arg(p)
    p.add_argument("--from-lap", type=int, default=None, help=argparse.SUPPRESS)  # old spelling of --from "lap N"
    g = p.add_argument_group("dashboard")
    add_server_args(g)  # type: ignore[arg-type]
    c = p.add_argument_group("quick check (no Kafka, no UI)")
    c.add_argument(
        "--seconds", type=float, default=None, help="only replay this many wall-clock seconds from the cache"
    )
    c.add_argument("--json", action="store_true", help="with --seconds: print the result as JSON")
    p.set_defaults(func=run)
    return p


def replay(cache: ReplayCache, start: int, seconds: float, speed: float) -> dict[str, Any]:
    """Replay rows from ``start`` paced by their session time for ``seconds`` of wall clock."""
    import numpy as np

    t0_wall = time.perf_counter()
    t_first = None
    times, drivers = [], []
    for _delay, row in cache.iter_rows(start=start):
        if t_first is None:
            t_first = row["session_time"]
        now = time.perf_counter() - t0_wall
        due = (row["session_time"] - t_first) / speed if speed > 0 else now  # 0: as fast as possible
        if due > seconds:
            break
        if due > now:
            time.sleep(due - now)
        times.append(row["session_time"])
        drivers.append(row["driver"])
    wall = time.perf_counter() - t0_wall
    from f1live.frequency import measure_frequency

    f = measure_frequency(np.array(times), np.array(drivers)) if times else None
    return {
        "rows": len(times),
        "wall_s": wall,
        "rows_per_s": len(times) / wall if wall else None,
        "session_time_s": [times[0], times[-1]] if times else None,
        "drivers": len(set(drivers)),
        "hz_per_car": f["driver_median_hz"] if f else None,
    }


def prepare(args: argparse.Namespace, quiet: bool = False) -> tuple[str | Path, dict[str, Any]]:
    """Load (and export if needed) the session; returns (export path, sidecar)."""
    from f1live.export import export_session
    from f1live.sources import load_session

    settings = settings_from_args(args)
    data = load_session(settings, progress=not quiet)
    path = data.meta.get("export_path")
    if path is None:
        res = export_session(data, settings.data_dir, progress=not quiet)
        path, side = res.parquet or res.csv, res.meta
        if path is None:
            raise RuntimeError(f"exporting {settings.year} {settings.event} {settings.session} wrote no file")
    else:
        from f1live.sources.exports import read_sidecar

        side = read_sidecar(path) or {}
    return path, side


def run(args: argparse.Namespace) -> int:
    from f1live.cache import ReplayCache
    from f1live.commands.prepare import print_summary, summarize

    path, side = prepare(args, quiet=args.json)
    cache = ReplayCache.from_path(path)
    if not side.get("frequency"):
        from f1live.frequency import session_frequency

        side = dict(
            side,
            frequency=session_frequency(cache.to_frame()),
            rows=len(cache),
            drivers=cache.drivers,
            laps=max(cache.laps),
        )
    summary = summarize(side, {"export": str(path)}, None)
    start_at = args.replay_from or (f"lap {args.from_lap}" if args.from_lap else None)
    if args.seconds is None:
        del cache
        if not args.json:
            print_summary(summary)
        return _serve(args, path, bool(summary["simulated"]), start_at)
    start = cache.index_of_start(start_at)
    rep = replay(cache, start, args.seconds, args.speed)
    if args.json:
        print(json.dumps({"prepared": summary, "replay": rep}, indent=2))
        return 0
    print_summary(summary)
    label = "SIMULATED " if summary["simulated"] else ""
    print(
        f"replayed {rep['rows']:,} {label}rows from {start_at or 'race'} in {rep['wall_s']:.2f} s wall "
        f"at speed {f'x{args.speed:g}' if args.speed else 'max'}: {rep['rows_per_s']:.1f} rows/s, {rep['drivers']} drivers, "
        f"{_hz(rep['hz_per_car'])} Hz per car (measured)"
    )
    return 0


def _serve(args: argparse.Namespace, path: str | Path, simulated: bool, start_at: str | None) -> int:
    """The dashboard replays the prepared export (each page loads it in its kernel)."""
    from pathlib import Path

    from f1live.commands.dashboard import serve

    ns = argparse.Namespace(
        speed=args.speed,
        source="file",
        file=Path(path),
        year=args.year,
        event=args.event,
        session=args.session,
        replay_from=start_at,
        start_lap=None,
        port=args.port,
        bootstrap_servers=args.bootstrap_servers,
        client=args.client,
        broker=args.broker,
        drivers=args.drivers,
        heartbeat_timeout=args.heartbeat_timeout,
        cull_idle_timeout=args.cull_idle_timeout,
        wait_for_page=args.wait_for_page,
        no_train=args.no_train,
        no_browser=args.no_browser,
    )
    if simulated:
        print("NOTE: the prepared session is SIMULATED data (no real data was available)", file=sys.stderr)
    return serve(ns)


def _hz(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"
