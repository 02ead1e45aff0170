"""``f1live`` subcommands, one module each.

Each module defines ``NAME``, ``HELP`` and ``register(subparsers) -> argparse.ArgumentParser``
whose parser sets ``func(args) -> int``. :mod:`f1live.cli` imports the modules listed in
:data:`COMMANDS` lazily, so a heavy dependency of one command never slows another.
"""

#: Subcommand modules in the order ``f1live --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "run",
    "prepare",
    "info",
    "broker",
    "topic",
    "kafka_tool",
    "produce",
    "consume",
    "train",
    "score",
    "scale",
    "dashboard",
    "validate",
)
