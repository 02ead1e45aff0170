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

import tempfile
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


# --- A directory laid out like the Apache Kafka distribution (bin/, config/, libs/) --------
# bin/ holds thin wrappers that run the same main classes the distribution's scripts run
# (kafka-run-class.sh -> java -cp libs/* CLASS); libs/ links the Maven jars f1live resolves.
# Generated here, never committed: the real distribution's scripts are not copied.

_RUN_CLASS = """#!/usr/bin/env bash
base_dir=$(cd "$(dirname "$0")/.." && pwd)
[ -z "${KAFKA_HEAP_OPTS:-}" ] && KAFKA_HEAP_OPTS="-Xmx256M"
[ -z "${KAFKA_LOG4J_OPTS:-}" ] && KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.xml"
LOG_DIR=${LOG_DIR:-$base_dir/logs}
exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" $KAFKA_HEAP_OPTS ${KAFKA_JVM_PERFORMANCE_OPTS:-} $KAFKA_LOG4J_OPTS \\
  -Dkafka.logs.dir="$LOG_DIR" -cp "$base_dir/libs/*" "$@"
"""
_SERVER_START = """#!/usr/bin/env bash
base_dir=$(cd "$(dirname "$0")/.." && pwd)
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:-"-Xmx1G -Xms1G"}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:-"-Dlog4j2.configurationFile=$base_dir/config/log4j2.xml"}
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
"""
_FAKE_TOOLS = {
    "kafka-storage": "kafka.tools.StorageTool",
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
}
# The distribution's own default (its log.dirs points into the system temp dir); the
# scripts must not use it: start_kafka.sh writes its own properties under runs/.
_SERVER_PROPERTIES = f"""process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
log.dirs={Path(tempfile.gettempdir()) / "kraft-combined-logs"}
"""
_FILE_LOG4J = """<Configuration status="WARN"><Appenders>
<File name="f" fileName="${sys:kafka.logs.dir}/server.log"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File>
</Appenders><Loggers><Root level="INFO"><AppenderRef ref="f"/></Root></Loggers></Configuration>
"""


def make_fake_kafka_home(root: Path, libs: Path) -> Path:
    """Create ``root`` as a Kafka-distribution-shaped directory over the jars in ``libs``."""
    import shutil

    from f1live.broker.jars import TOOLS_LOG4J

    (root / "bin").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "libs").mkdir()
    for jar in libs.glob("*.jar"):
        (root / "libs" / jar.name).symlink_to(jar)
    (root / "config" / "server.properties").write_text(_SERVER_PROPERTIES)
    (root / "config" / "log4j2.xml").write_text(_FILE_LOG4J)
    shutil.copy(TOOLS_LOG4J, root / "config" / "tools-log4j2.xml")
    scripts = {"kafka-run-class.sh": _RUN_CLASS, "kafka-server-start.sh": _SERVER_START}
    for name, cls in _FAKE_TOOLS.items():
        scripts[f"{name}.sh"] = f'#!/usr/bin/env bash\nexec "$(dirname "$0")/kafka-run-class.sh" {cls} "$@"\n'
    for name, text in scripts.items():
        (root / "bin" / name).write_text(text)
        (root / "bin" / name).chmod(0o755)
    return root


@pytest.fixture(scope="session")
def fake_kafka_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``KAFKA_HOME`` laid out like the distribution (bin/, config/, libs/), from the Maven jars."""
    from f1live.broker.jars import fetch_kafka_jars

    libs = fetch_kafka_jars(Settings.from_env())
    return make_fake_kafka_home(tmp_path_factory.mktemp("kafka_home") / "kafka_2.13-4.1.1", libs)
