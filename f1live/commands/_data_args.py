"""Options shared by several subcommands: the session (``prepare``, ``run``), Kafka, speed."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from f1live.config import Settings
from f1live.sources import SOURCES

#: What the Kafka subcommands use when no cluster is given (``find_or_start_broker``).
FOUND_OR_EMBEDDED = "the broker `f1live broker start` left running, else an embedded one for this command"


#: ``--client`` choices (``auto``: confluent-kafka when installed, else kafka-python).
CLIENT_CHOICES = ("auto", "confluent", "kafka-python")


def add_kafka_args(p: argparse.ArgumentParser, *, topic: bool = False, default: str = FOUND_OR_EMBEDDED) -> None:
    """``--bootstrap-servers``, ``--client`` (and ``--topic``), one wording for every subcommand."""
    p.add_argument(
        "--bootstrap-servers",
        default=None,
        metavar="HOST:PORT[,...]",
        help=f"an external Kafka cluster (env F1LIVE_BOOTSTRAP_SERVERS; default: {default})",
    )
    p.add_argument(
        "--client",
        default=None,
        choices=CLIENT_CHOICES,
        help="Kafka client library (env F1LIVE_CLIENT; default auto: confluent-kafka when "
        "installed, else kafka-python)",
    )
    if topic:
        p.add_argument("--topic", default=None, help="telemetry topic (env F1LIVE_TOPIC; default f1-speed-stream)")


def speed_arg(text: str) -> float:
    """argparse ``type`` for ``--speed``: a factor (``1``, ``10``, ``0.5``, ``20x``) or ``max`` (= 0.0).

    >>> speed_arg("20x"), speed_arg("max")
    (20.0, 0.0)
    """
    from f1live.producer import parse_speed  # only when --speed is given: keeps `f1live info` quick

    try:
        return parse_speed(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_from_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--from``: where the replay begins (validated here, so a typo fails before anything starts)."""
    from f1live.cache import START_HELP, parse_start

    def start_arg(text: str) -> str:
        try:
            return str(parse_start(text))
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p.add_argument(
        "--from",
        dest="replay_from",
        type=start_arg,
        default=None,
        metavar="WHERE",
        help=f"where the replay begins: {START_HELP} (env F1LIVE_REPLAY_FROM)",
    )


def add_session_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("session")
    g.add_argument("--year", type=int, help="season (default 2023, env F1LIVE_YEAR)")
    g.add_argument("--event", help="event name or location (default Monaco)")
    g.add_argument("--session", help="session code: R, Q, S, FP1.. (default R)")
    g.add_argument(
        "--source",
        choices=SOURCES,
        help="where the data comes from (default auto: export in --out, FastF1 cache, "
        "FastF1 network, raw FastF1 CSV dumps, else SIMULATED with a warning)",
    )
    g.add_argument("--path", type=Path, help="export file (--source file) or raw dump folder (--source fastf1-csv)")
    g.add_argument("--cache", type=Path, help="FastF1 cache directory (env F1LIVE_FASTF1_CACHE; must exist)")
    g.add_argument("--offline", action="store_true", default=None, help="never let FastF1 touch the network")
    g.add_argument("--out", type=Path, help="export directory (default data/, env F1LIVE_DATA_DIR)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        year=args.year,
        event=args.event,
        session=args.session,
        source=args.source,
        source_path=args.path,
        fastf1_cache=args.cache,
        offline=args.offline,
        data_dir=args.out,
    )


def quiet_kafka_logs(args: argparse.Namespace, level: int = logging.CRITICAL) -> None:
    """kafka-python logs every connection and reconnect attempt; f1live reports failures
    itself, so its logger is held at ``level`` unless ``-vv`` asks for everything."""
    if getattr(args, "verbose", 0) < 2:
        logging.getLogger("kafka").setLevel(level)
