"""``f1live info FILE``: what an f1live export holds -- rows, drivers, laps, measured Hz.

Examples::

    f1live info data/2023_Monaco_R_20260101T000000Z.parquet
    f1live info data/2023_Monaco_R_20260101T000000Z.csv --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

NAME = "info"
HELP = "summarise an export file (rows, drivers, laps, measured frequency)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("file", type=Path, help="an f1live export (.parquet, .csv, .csv.gz)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
    return p


def info(path: Path) -> dict[str, Any]:
    """Summary of an export, measured from the file itself (the sidecar adds the position stream)."""
    from f1live.cache import ReplayCache
    from f1live.commands.prepare import summarize
    from f1live.frequency import session_frequency

    cache = ReplayCache.from_path(path)
    tel = cache.to_frame()
    side = dict(cache.meta)
    side.update(
        {
            "rows": len(cache),
            "drivers": cache.drivers,
            "laps": max(cache.laps) if cache.laps else 0,
            "source": side.get("source") or str(tel["source"].iloc[0]),
            "simulated": bool(tel["simulated"].any()) or bool(side.get("simulated")),
        }
    )
    freq = session_frequency(tel)
    if side.get("frequency", {}).get("position"):
        freq["position"] = side["frequency"]["position"]
    side["frequency"] = freq
    out = summarize(side, {"file": str(path)}, None)
    out["session_time_s"] = [float(cache.session_time[0]), float(cache.session_time[-1])]
    return out


def run(args: argparse.Namespace) -> int:
    from f1live.commands.prepare import print_summary

    s = info(args.file)
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print_summary(s)
        print(f"  session time {s['session_time_s'][0]:.3f} .. {s['session_time_s'][1]:.3f} s")
    return 0
