"""``f1live run``: the main job (interim, until the dashboard lands).

Prepares the default session (2023 Monaco Race, ``--source auto``: an existing export
in ``data/``, else FastF1, else the raw FastF1 CSV dumps, else SIMULATED with a warning),
exports it when it was not loaded from an export, loads the export into the replay
cache and replays a few seconds at real pace from the start of a lap, printing the
measured frequency of the data and of the replay.  No Kafka here.

Examples::

    f1live run                       # 5 s of replay from lap 1
    f1live run --seconds 10 --from-lap 23 --speed 2
    f1live run --source simulated    # SIMULATED data
"""

from __future__ import annotations

import argparse
import json
import time

from f1live.commands._data_args import add_session_args, settings_from_args

NAME = "run"
HELP = "main job: prepare the default session and replay a few seconds from the cache (no Kafka)"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_session_args(p)
    p.add_argument("--seconds", type=float, default=5.0, help="wall-clock seconds to replay (default 5)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1 = real time)")
    p.add_argument("--from-lap", type=int, default=1, help="start the replay at this lap (default 1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)
    return p


def replay(cache, start: int, seconds: float, speed: float) -> dict:
    """Replay rows from ``start`` paced by their session time for ``seconds`` of wall clock."""
    import numpy as np

    t0_wall = time.perf_counter()
    t_first = None
    times, drivers = [], []
    for _delay, row in cache.iter_rows(start=start):
        if t_first is None:
            t_first = row["session_time"]
        due = (row["session_time"] - t_first) / speed
        now = time.perf_counter() - t0_wall
        if due > seconds:
            break
        if due > now:
            time.sleep(due - now)
        times.append(row["session_time"])
        drivers.append(row["driver"])
    wall = time.perf_counter() - t0_wall
    from f1live.frequency import measure_frequency

    f = measure_frequency(np.array(times), np.array(drivers)) if times else None
    return {"rows": len(times), "wall_s": wall, "rows_per_s": len(times) / wall if wall else None,
            "session_time_s": [times[0], times[-1]] if times else None,
            "drivers": len(set(drivers)), "hz_per_car": f["driver_median_hz"] if f else None}


def run(args: argparse.Namespace) -> int:
    from f1live.cache import ReplayCache
    from f1live.commands.prepare import print_summary, summarize
    from f1live.export import export_session
    from f1live.sources import load_session

    settings = settings_from_args(args)
    data = load_session(settings, progress=not args.json)
    path = data.meta.get("export_path")
    if path is None:
        res = export_session(data, settings.data_dir, progress=not args.json)
        path, side = res.parquet or res.csv, res.meta
    else:
        from f1live.sources.exports import read_sidecar

        side = read_sidecar(path) or {}
    del data
    cache = ReplayCache.from_path(path)
    start = cache.index_of_lap(args.from_lap)
    if not side.get("frequency"):
        from f1live.frequency import session_frequency

        side = dict(side, frequency=session_frequency(cache.to_frame()), rows=len(cache),
                    drivers=cache.drivers, laps=max(cache.laps))
    summary = summarize(side, {"export": str(path)}, None)
    rep = replay(cache, start, args.seconds, args.speed)
    if args.json:
        print(json.dumps({"prepared": summary, "replay": rep}, indent=2))
        return 0
    print_summary(summary)
    label = "SIMULATED " if summary["simulated"] else ""
    print(f"replayed {rep['rows']:,} {label}rows from lap {args.from_lap} in {rep['wall_s']:.2f} s wall "
          f"at speed x{args.speed:g}: {rep['rows_per_s']:.1f} rows/s, {rep['drivers']} drivers, "
          f"{_hz(rep['hz_per_car'])} Hz per car (measured)")
    return 0


def _hz(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"
