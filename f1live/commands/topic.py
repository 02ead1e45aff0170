"""``f1live topic create|describe|delete|list``: the pipeline's Kafka topics.

The broker is ``--bootstrap-servers``, else ``F1LIVE_BOOTSTRAP_SERVERS``, else the one
started with ``f1live broker start``. Examples::

    f1live topic create                       # f1-speed-stream (4), .dlq, f1-analysis
    f1live topic create f1-speed-stream --partitions 8 --recreate
    f1live topic describe f1-speed-stream
    f1live topic delete my-test-topic
"""

from __future__ import annotations

import argparse
import logging

from f1live.commands._data_args import add_kafka_args, quiet_kafka_logs
from f1live.config import Settings

#: topic commands never start a broker
RUNNING = "the broker `f1live broker start` left running"

NAME = "topic"
HELP = "create (idempotently), describe, list or delete Kafka topics"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    c = sub.add_parser("create", help="create a topic (no NAME: all pipeline topics); same shape -> no-op")
    c.add_argument("name", nargs="?", default=None, help="topic (default: the pipeline's three topics)")
    c.add_argument("--partitions", type=int, default=None, help="partitions (default: settings, 4)")
    c.add_argument("--replication", type=int, default=None, help="replication factor (default: settings, 1)")
    c.add_argument("--recreate", action="store_true", help="delete and recreate if the partitions differ")
    add_kafka_args(c, default=RUNNING)
    c.set_defaults(func=cmd_create)
    d = sub.add_parser("describe", help="partitions, replicas and leaders as the broker reports them")
    d.add_argument("name", nargs="?", default=None, help="topic (default: the telemetry topic)")
    add_kafka_args(d, default=RUNNING)
    d.set_defaults(func=cmd_describe)
    x = sub.add_parser("delete", help="delete a topic (its messages are lost)")
    x.add_argument("name", help="topic to delete")
    add_kafka_args(x, default=RUNNING)
    x.set_defaults(func=cmd_delete)
    ls = sub.add_parser("list", help="list topics")
    add_kafka_args(ls, default=RUNNING)
    ls.set_defaults(func=cmd_list)
    return p


def _bootstrap(args: argparse.Namespace) -> tuple[Settings, str]:
    from f1live.broker.state import running_bootstrap

    quiet_kafka_logs(args, logging.WARNING)
    settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers, client=args.client)
    bootstrap = settings.bootstrap_servers or running_bootstrap(settings)
    if not bootstrap:
        raise ConnectionError(
            "no broker given and none running: pass --bootstrap-servers H:P, set "
            "F1LIVE_BOOTSTRAP_SERVERS, or start one with `f1live broker start --detach`"
        )
    return settings, bootstrap


def cmd_create(args: argparse.Namespace) -> int:
    from f1live.topics import TopicSpec, ensure_topic, pipeline_topic_specs

    settings, bootstrap = _bootstrap(args)
    if args.name:
        specs = [TopicSpec(args.name, args.partitions or settings.partitions, args.replication or settings.replication)]
    else:
        specs = [
            TopicSpec(s.name, args.partitions or s.partitions if s.name != settings.dlq_topic else s.partitions,
                      args.replication or s.replication)
            for s in pipeline_topic_specs(settings)
        ]  # fmt: skip
    for s in specs:
        info = ensure_topic(
            bootstrap, s.name, s.partitions, s.replication, recreate=args.recreate, client=settings.client
        )
        print(f"ok {info.summary()}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from f1live.topics import describe_topic

    settings, bootstrap = _bootstrap(args)
    name = args.name or settings.topic
    info = describe_topic(bootstrap, name, client=settings.client)
    if info is None:
        print(f"topic {name!r} does not exist at {bootstrap}")
        return 1
    print(info.summary())
    for p in sorted(info.leaders):
        print(f"  partition {p}: leader {info.leaders[p]}, isr {info.isr.get(p)}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from f1live.topics import delete_topic

    settings, bootstrap = _bootstrap(args)
    if delete_topic(bootstrap, args.name, client=settings.client):
        print(f"deleted {args.name}")
    else:
        print(f"topic {args.name!r} did not exist")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from f1live.topics import list_topics

    settings, bootstrap = _bootstrap(args)
    for name in list_topics(bootstrap, client=settings.client):
        print(name)
    return 0
