"""``f1live kafka-tool NAME [ARGS...]``: Apache Kafka's own tools from the embedded jars.

``--bootstrap-server`` defaults to the broker started with ``f1live broker start``
(or ``F1LIVE_BOOTSTRAP_SERVERS``). Examples::

    f1live kafka-tool kafka-topics --describe --topic f1-speed-stream
    f1live kafka-tool kafka-console-consumer --topic f1-speed-stream --from-beginning --max-messages 5
    f1live kafka-tool kafka-consumer-groups --describe --group f1live
"""

from __future__ import annotations

import argparse
import os
import sys

from f1live.config import Settings

NAME = "kafka-tool"
HELP = "run an Apache Kafka tool (kafka-topics, kafka-console-consumer, ...) from the embedded jars"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    from f1live.broker.tools import KAFKA_TOOLS

    p = subparsers.add_parser(NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="tools: " + ", ".join(sorted(KAFKA_TOOLS)))  # fmt: skip
    p.add_argument("tool", metavar="NAME", help="tool name as in Kafka's bin/ (with or without .sh)")
    p.add_argument("tool_args", nargs=argparse.REMAINDER, help="arguments passed to the tool")
    p.set_defaults(func=cmd_tool)
    return p


def tool_argv(settings: Settings, name: str, tool_args: list[str]) -> list[str]:
    """The full java command, with ``--bootstrap-server`` filled in when omitted and known."""
    from f1live.broker.state import running_bootstrap
    from f1live.broker.tools import BOOTSTRAP_TOOLS, tool_command

    args = list(tool_args)
    key = name.removesuffix(".sh")
    given = any(a.startswith("--bootstrap-server") for a in args)
    if key in BOOTSTRAP_TOOLS and not given and not ({"-h", "--help", "--version"} & set(args)):
        bootstrap = settings.bootstrap_servers or running_bootstrap(settings)
        if bootstrap:
            args = ["--bootstrap-server", bootstrap, *args]
    return tool_command(settings, name, args)


def cmd_tool(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    argv = tool_argv(settings, args.tool, args.tool_args)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C and exit codes go straight to/from the tool, no orphan.
    os.execv(argv[0], argv)
    return 0  # not reached
