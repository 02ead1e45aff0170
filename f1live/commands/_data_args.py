"""Options shared by the data subcommands (``prepare``, ``run``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from f1live.config import Settings
from f1live.sources import SOURCES


def add_session_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("session")
    g.add_argument("--year", type=int, help="season (default 2023, env F1LIVE_YEAR)")
    g.add_argument("--event", help="event name or location (default Monaco)")
    g.add_argument("--session", help="session code: R, Q, S, FP1.. (default R)")
    g.add_argument("--source", choices=SOURCES,
                   help="where the data comes from (default auto: export in --out, FastF1 cache, "
                        "FastF1 network, raw FastF1 CSV dumps, else SIMULATED with a warning)")
    g.add_argument("--path", type=Path, help="export file (--source file) or raw dump folder (--source fastf1-csv)")
    g.add_argument("--cache", type=Path, help="FastF1 cache directory (env F1LIVE_FASTF1_CACHE; must exist)")
    g.add_argument("--offline", action="store_true", default=None, help="never let FastF1 touch the network")
    g.add_argument("--out", type=Path, help="export directory (default data/, env F1LIVE_DATA_DIR)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(year=args.year, event=args.event, session=args.session, source=args.source,
                             source_path=args.path, fastf1_cache=args.cache, offline=args.offline,
                             data_dir=args.out)
