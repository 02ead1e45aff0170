"""Apache Kafka's command-line tools, run from the same jars as the embedded broker.

``kafka-topics --describe``, ``kafka-console-consumer --from-beginning`` & co. are the
main classes that the distribution's ``bin/*.sh`` scripts run through
``kafka-run-class.sh``; here they run with ``java -cp <libs>/* <class>``.

>>> tool_class("kafka-topics")
'org.apache.kafka.tools.TopicCommand'
>>> tool_class("kafka-topics.sh")
'org.apache.kafka.tools.TopicCommand'
"""

from __future__ import annotations

from pathlib import Path

from f1live.broker.jars import TOOLS_LOG4J, classpath, fetch_kafka_jars, find_java, java_problem
from f1live.config import Settings

#: Tool name (as in the distribution's bin/) -> main class (Apache Kafka 4.1).
KAFKA_TOOLS: dict[str, str] = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-cluster": "org.apache.kafka.tools.ClusterTool",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-dump-log": "kafka.tools.DumpLogSegments",
    "kafka-storage": "kafka.tools.StorageTool",
}

#: Tools that take ``--bootstrap-server`` (filled in from the running broker if omitted).
BOOTSTRAP_TOOLS = frozenset(KAFKA_TOOLS) - {"kafka-storage", "kafka-dump-log"}


def tool_class(name: str) -> str:
    """The main class of a Kafka tool (``kafka-topics`` or ``kafka-topics.sh``)."""
    key = name.removesuffix(".sh")
    if key not in KAFKA_TOOLS:
        raise ValueError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(KAFKA_TOOLS))}")
    return KAFKA_TOOLS[key]


def tool_command(settings: Settings, name: str, args: list[str], *, libs: Path | None = None) -> list[str]:
    """The ``java`` command line that runs Kafka tool ``name`` with ``args``."""
    main = tool_class(name)
    problem = java_problem()
    if problem:
        raise RuntimeError(f"cannot run {name}: {problem}")
    java, _ = find_java()
    assert java is not None
    libs = libs or fetch_kafka_jars(settings)
    # -Xmx256m as kafka-run-class.sh gives tools; serial GC + C1 JIT: a tool runs for seconds.
    return [
        java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        f"-Dlog4j2.configurationFile={TOOLS_LOG4J}", "-cp", classpath(libs), main, *args,
    ]  # fmt: skip
