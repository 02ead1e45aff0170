"""``f1live validate``: run notebooks 01-08 with papermill and print the checklist with measured evidence.

Every notebook is executed in order into ``runs/validate/<timestamp>/`` (or ``--out``),
all against one broker; the run directory keeps the executed notebooks, the evidence
JSON each one recorded, the exports, models and scaling results of the run,
``validation.json`` and ``validation.txt``. The exit status is non-zero when any
checklist line fails. Examples::

    f1live validate --quick                         # CI size: 3 drivers, seconds-long replays
    f1live validate                                 # full size (longer replays, full grid, 1/2/4 consumers)
    f1live validate --quick --json --out runs/v1    # JSON report on stdout
    f1live validate --bootstrap-servers kafka1:9092 # against an external Kafka
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from f1live.commands._data_args import add_kafka_args

NAME = "validate"
HELP = "run notebooks 01-08 (papermill) and the validation checklist with measured numbers"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="CI-sized parameters (a few minutes on 2 cores)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/validate/<timestamp>)")
    add_kafka_args(p, default="an embedded broker for this run")
    p.add_argument("--source", default=None, help="data source (default: settings, auto)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (progress still on stderr)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from f1live.config import Settings
    from f1live.validate import run_validation

    settings = Settings.from_env(source=args.source, client=args.client)
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    report = run_validation(
        settings, quick=args.quick, out=args.out, bootstrap_servers=args.bootstrap_servers, progress=True, say=say
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print()
        print(report.text())
    return 0 if report.ok else 1
