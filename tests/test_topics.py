"""Topic creation against the real broker: idempotent, validated, clear errors."""

from __future__ import annotations

import time

import pytest

from f1live.broker.process import free_ports
from f1live.config import Settings
from f1live.topics import (
    TopicError,
    delete_topic,
    describe_topic,
    ensure_pipeline_topics,
    ensure_topic,
    list_topics,
)
from tests.fixtures_broker import unique_name


def test_ensure_topic_is_idempotent_and_read_back(kafka_broker):
    bs = kafka_broker.bootstrap_servers
    name = unique_name("speed")
    assert describe_topic(bs, name) is None
    info = ensure_topic(bs, name, 4)
    assert (info.partitions, info.replication) == (4, 1)
    assert set(info.leaders) == {0, 1, 2, 3} and all(b >= 0 for b in info.leaders.values())
    again = ensure_topic(bs, name, 4)  # same shape -> accepted as is
    assert again.partitions == 4
    assert name in list_topics(bs)


def test_different_partitions_is_an_error_unless_recreate(kafka_broker):
    bs = kafka_broker.bootstrap_servers
    name = unique_name("speed")
    ensure_topic(bs, name, 2)
    with pytest.raises(TopicError, match=r"exists with 2 partitions, not 4.*--recreate"):
        ensure_topic(bs, name, 4)
    assert describe_topic(bs, name).partitions == 2  # untouched by the refused call
    info = ensure_topic(bs, name, 4, recreate=True)
    assert info.partitions == 4
    assert describe_topic(bs, name).partitions == 4


def test_delete_topic(kafka_broker):
    bs = kafka_broker.bootstrap_servers
    name = unique_name("gone")
    ensure_topic(bs, name, 1)
    assert delete_topic(bs, name) is True
    assert describe_topic(bs, name) is None
    assert delete_topic(bs, name) is False


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_topic_configs_are_applied(kafka_broker, client):
    from f1live.topics import admin_client

    bs = kafka_broker.bootstrap_servers
    name = unique_name("cfg")
    ensure_topic(bs, name, 1, configs={"retention.ms": "3600000"}, client=client)
    with admin_client(bs, client=client) as admin:
        assert admin.topic_configs(name)["retention.ms"] == "3600000"


def test_pipeline_topics(kafka_broker, tmp_path):
    sfx = unique_name("p")
    s = Settings(run_dir=tmp_path, topic=f"f1-speed-stream-{sfx}", dlq_topic=f"f1-speed-stream-{sfx}.dlq",
                 analysis_topic=f"f1-analysis-{sfx}")  # fmt: skip
    infos = ensure_pipeline_topics(s, kafka_broker.bootstrap_servers)
    assert [(i.name, i.partitions) for i in infos] == [(s.topic, 4), (s.dlq_topic, 1), (s.analysis_topic, 4)]
    assert len(ensure_pipeline_topics(s, kafka_broker.bootstrap_servers)) == 3


def test_bad_arguments_are_clear_errors(kafka_broker):
    with pytest.raises(ValueError, match="partitions must be >= 1"):
        ensure_topic(kafka_broker.bootstrap_servers, unique_name(), 0)
    with pytest.raises(TopicError, match="replication"):
        ensure_topic(kafka_broker.bootstrap_servers, unique_name(), 1, replication=3)


def test_unreachable_broker_fails_clearly_within_10s():
    [port] = free_ports(1)  # nothing listens here
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"127\.0\.0\.1:{port}.*f1live broker start"):
        ensure_topic(f"127.0.0.1:{port}", "f1-speed-stream", 4)
    assert time.monotonic() - t0 < 10


def test_tansu_serves_the_same_topic(tansu_broker):
    bs = tansu_broker.bootstrap_servers
    name = unique_name("speed")
    info = ensure_topic(bs, name, 4)
    assert info.partitions == 4
    assert ensure_topic(bs, name, 4).partitions == 4
    with pytest.raises(TopicError, match="exists with 4 partitions"):
        ensure_topic(bs, name, 2)
