"""The ``f1live`` command line (also ``python -m f1live``).

Subcommands live in :mod:`f1live.commands`; see ``f1live --help``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from f1live import __version__
from f1live.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="f1live",
        description="Real-time Formula 1 telemetry: prepare -> Kafka -> analysis -> dashboard.",
        epilog="Run `f1live COMMAND --help` for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"f1live {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"f1live.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, TimeoutError, ConnectionError) as exc:
        # Expected user-facing failures: one clear line, no traceback (use -vv for it).
        logging.getLogger("f1live").debug("error", exc_info=True)
        print(f"f1live {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
