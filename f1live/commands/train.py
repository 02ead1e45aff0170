"""``f1live train``: train pit-stop / crash-risk / tyre models on some races, evaluate on a held-out one, save.

Without options it runs :func:`f1live.models.train_default_models` (the first-run path of
``make run``): train on the 2022 + 2024 Monaco races with leave-one-race-out choice of
estimator and threshold, evaluate on the held-out 2023 race (row metrics and real events,
next to the baselines), save to ``models/``.

Examples::

    f1live train                                   # the defaults above
    f1live train --train-sessions 2024 --eval-session 2023 --drivers VER,HAM,LEC --out runs/models-small --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from f1live.commands._json import to_json

NAME = "train"
HELP = "train pit-stop / crash-risk / tyre models on real races and evaluate them on a held-out race"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--train-sessions",
        default="2022,2024",
        help="comma-separated years of the training races (same event; default 2022,2024)",
    )
    p.add_argument("--eval-session", default="2023", help="year of the held-out race (default 2023; 'none' to skip)")
    p.add_argument("--event", default=None, help="event name (default: settings, Monaco)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: settings models_dir, models/)")
    p.add_argument("--drivers", default=None, help="only these drivers, e.g. VER,HAM (quicker; default all)")
    p.add_argument("--stride", type=int, default=4, help="keep every n-th labelled training row per driver (default 4)")
    p.add_argument(
        "--cv-folds",
        type=int,
        default=2,
        help="time blocks for cross-validation when there is a single training race (default 2; "
        "with two or more races every fold holds one race out)",
    )
    p.add_argument("--max-iter", type=int, default=None, help="cap the boosting iterations of every tree candidate")
    p.add_argument("--threads", type=int, default=None, help="cap training threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)
    return p


def _years(text: str) -> list[int]:
    try:
        return [int(y) for y in text.split(",") if y.strip()]
    except ValueError:
        raise ValueError(f"--train-sessions {text!r}: expected comma-separated years such as 2022,2024") from None


def run(args: argparse.Namespace) -> int:
    from f1live.config import Settings
    from f1live.models import train_default_models

    settings = Settings.from_env()
    if args.event:
        settings = settings.replace(event=args.event)
    out = args.out or settings.models_dir
    drivers = [d.strip().upper() for d in args.drivers.split(",")] if args.drivers else None
    train_years = _years(args.train_sessions)
    eval_year = None if args.eval_session.lower() == "none" else int(args.eval_session)
    if eval_year is not None and eval_year in train_years:
        raise ValueError(f"--eval-session {eval_year} is also a training session; the held-out race must differ")
    report = train_default_models(
        settings,
        out,
        progress=not args.json,
        train_years=train_years,
        eval_year=eval_year,
        drivers=drivers,
        stride=args.stride,
        n_threads=args.threads,
        cv_folds=args.cv_folds,
        max_iter=args.max_iter,
    )
    if args.json:
        print(to_json(report.to_dict(), indent=2))
        return 0
    import pandas as pd

    print(
        f"trained on {', '.join(report.train_sessions)} ({report.cv_scheme}); held out: {report.eval_session}; "
        f"{report.seconds:.0f} s; saved to {out}"
    )
    for name, cv in report.cv.items():
        print(f"{name}: chose {cv['chosen']} (threshold {report.thresholds[name]:.4f})")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
        if report.holdout:
            print(report.table().to_string(index=False))
    for name, text in report.evidence.items():
        print(f"{name}: {text}")
    return 0
