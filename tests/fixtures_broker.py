"""Broker fixtures: one real Apache Kafka per test session, one Tansu, unique topics.

Other areas use them like::

    def test_roundtrip(kafka_broker, kafka_topic):
        topic = kafka_topic(partitions=4)          # a fresh, uniquely named topic
        producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)

``kafka_broker`` is a :class:`f1live.broker.Broker` (``.bootstrap_servers``, ``.kind``,
``.start_seconds``); it is started once per session (its start time is printed) and
stopped at the end, leaving no process behind. Each test must use its own topic (or
consumer group): the broker is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from f1live.broker import Broker, BrokerError, start_broker
from f1live.config import Settings


def _say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


def _broker_settings(root: Path) -> Settings:
    # Environment first (F1LIVE_KAFKA_LIBS, JAVA...), but every run file under the test tmp dir.
    return Settings.from_env().replace(run_dir=root / "runs", bootstrap_servers=None, broker="auto")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A real Apache Kafka 4.x broker (embedded jars, KRaft, 127.0.0.1, free port) for the session."""
    settings = _broker_settings(tmp_path_factory.mktemp("kafka"))
    try:
        broker = start_broker(settings, kind="kafka", fresh=True)
    except BrokerError as exc:
        pytest.fail(f"could not start the embedded Apache Kafka broker: {exc}")
    _say(request.config, f"\n[f1live] Apache Kafka {settings.kafka_version} started at "
         f"{broker.bootstrap_servers} in {broker.start_seconds:.1f} s (log {broker.log_path})")  # fmt: skip
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def tansu_broker(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A memory-only Tansu broker for the session (use ``fetch_max_wait_ms`` ~10 ms with it)."""
    settings = _broker_settings(tmp_path_factory.mktemp("tansu"))
    try:
        broker = start_broker(settings, kind="tansu")
    except BrokerError as exc:
        pytest.fail(f"could not start Tansu: {exc}")
    _say(request.config, f"\n[f1live] Tansu started at {broker.bootstrap_servers} in {broker.start_seconds:.2f} s")
    try:
        yield broker
    finally:
        broker.stop()


def unique_name(prefix: str = "t") -> str:
    """A topic / group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kafka_topic(kafka_broker: Broker) -> Callable[..., str]:
    """Factory: ``kafka_topic(partitions=4, prefix='t') -> name`` creates a fresh topic on ``kafka_broker``."""

    def make(partitions: int = 4, prefix: str = "t", replication: int = 1) -> str:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        name = unique_name(prefix)
        admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
        try:
            admin.create_topics([NewTopic(name, partitions, replication)])
        finally:
            admin.close()
        return name

    return make
