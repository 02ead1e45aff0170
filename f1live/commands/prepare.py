"""``f1live prepare``: load a session, measure its frequency, export CSV + Parquet + JSON sidecar.

Examples::

    f1live prepare                                        # 2023 Monaco Race, --source auto, into data/
    f1live prepare --source fastf1 --cache ~/fastf1-cache --offline
    f1live prepare --source fastf1-csv --path ../shared/data/fastf1_csv_exports/monaco_2024_race --year 2024
    f1live prepare --source file --path data/2023_Monaco_R_20260101T000000Z.parquet --formats parquet
    f1live prepare --source simulated --json              # SIMULATED data, labelled as such
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from f1live.commands._data_args import add_session_args, settings_from_args

NAME = "prepare"
HELP = "load a session (FastF1 / export / raw dumps / simulated) and export CSV+Parquet with measured frequency"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_session_args(p)
    p.add_argument("--formats", default="csv,parquet", help="comma-separated: csv,parquet (default both)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (no progress bars)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from f1live.export import export_session
    from f1live.sources import load_session

    settings = settings_from_args(args)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    data = load_session(settings, progress=not args.json)
    res = export_session(data, settings.data_dir, formats=formats, progress=not args.json)
    summary = summarize(res.meta, {k: str(v) for k, v in res.files.items()}, str(res.sidecar))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0


def summarize(side: dict[str, Any], files: dict[str, str], sidecar: str | None) -> dict[str, Any]:
    """The printed summary (also ``--json``) from an export sidecar."""
    from f1live.frequency import summary_table

    table = summary_table(side["frequency"]) if side.get("frequency") else None
    return {
        "label": "SIMULATED" if side.get("simulated") else "real",
        "source": side.get("source"),
        "simulated": bool(side.get("simulated")),
        "year": side.get("year"),
        "event": side.get("event"),
        "session": side.get("session"),
        "rows": side.get("rows"),
        "drivers": side.get("drivers"),
        "laps": side.get("laps"),
        "fastf1_version": side.get("fastf1_version"),
        "frequency": table.to_dict(orient="records") if table is not None else None,
        "files": files,
        "sidecar": sidecar,
    }


def print_summary(s: dict[str, Any]) -> None:
    if s["simulated"]:
        print("*** SIMULATED DATA -- not a real session ***")
    print(
        f"{s['year']} {s['event']} {s['session']}  source={s['source']}  rows={s['rows']:,}  "
        f"drivers={len(s['drivers'] or [])}  laps={s['laps']}"
    )
    if s["frequency"]:
        print("measured frequency (from timestamps):")
        print(f"  {'stream':<9}{'drivers':>8}{'samples':>11}{'mean ms':>9}{'median ms':>10}{'Hz/car':>8}{'rows/s':>9}")
        for r in s["frequency"]:
            print(
                f"  {r['stream']:<9}{r['drivers']:>8}{r['samples']:>11,}{_f(r['mean_interval_ms'], 9, 1)}"
                f"{_f(r['median_interval_ms'], 10, 1)}{_f(r['hz_per_car'], 8, 2)}{_f(r['rows_per_s'], 9, 1)}"
            )
    files = s.get("files") or {}
    for fmt, path in files.items():
        if "." not in fmt:  # the telemetry; side tables are listed by name below
            print(f"  {fmt:<8} {path}")
    tables = sorted({k.split(".")[0] for k in files if "." in k})
    if tables:
        print(f"  tables   {', '.join(tables)} (next to it, <stem>.<table>.<format>)")
    if s.get("sidecar"):
        print(f"  sidecar  {s['sidecar']}")


def _f(v: float | None, width: int, prec: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width},.{prec}f}"
