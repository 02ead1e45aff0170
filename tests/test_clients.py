"""The client seam: confluent-kafka and kafka-python put the same bytes on the wire.

On the real Apache Kafka broker: a stream produced with one client is consumed, field for
field and with the delivery report, by the other; both producers give the same values,
keys, headers and key -> partition mapping; both admins see the same topics and committed
offsets. Without a broker: settings translation and the choice of client.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from f1live.clients import CLIENTS, make_admin, make_consumer, make_producer, resolve_client
from f1live.config import Settings
from f1live.consumer import RealTimeConsumer
from f1live.delivery import delivery_report
from f1live.producer import RealTimeProducer
from f1live.schema import RUN_HEADER, TELEMETRY_COLUMNS, encode_body, frame_message
from tests.fixtures_broker import unique_name
from tests.fixtures_streaming import CLIENTS as CLIENTS_PARAM


def _read_raw(servers: str, topic: str, client: str, expect: int, timeout: float = 30.0) -> list[Any]:
    """Every record of ``topic`` from the start, through the seam's consumer (no group)."""
    cons = make_consumer(servers, client=client, kind="kafka", fetch_max_wait_ms=10)
    try:
        cons.assign(topic, range(4))
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            out += cons.poll(0.1, 500)
        return out
    finally:
        cons.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | int):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize(
    ("producer_client", "consumer_client"), [("confluent", "kafka-python"), ("kafka-python", "confluent")]
)
def test_produced_with_one_client_consumed_with_the_other(
    kafka_broker: Any, stream_topic: Any, slice_cache: Any, producer_client: str, consumer_client: str
) -> None:
    s = stream_topic(kafka_broker)
    with RealTimeProducer(s.replace(client=producer_client)).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max", max_messages=600)
    assert ps.ok and ps.client == producer_client
    cons = RealTimeConsumer(s.replace(client=consumer_client), keep_messages=True)
    assert cons.client_name == consumer_client
    cs = cons.consume_messages(timeout_seconds=60, max_messages=ps.sent, idle_timeout=5)
    assert cs.processed == ps.sent == 600 and cs.dlq == 0 and cs.duplicates == 0
    report = delivery_report(ps, cons.tracker)
    assert report.ok, report.table()
    start = prod._pos - ps.sent  # the rows this replay sent: gseq 0 is row `start`
    for m in cons.messages:
        row = slice_cache.row(start + m["gseq"])
        bad = [c for c in TELEMETRY_COLUMNS if not _same(m.get(c), row[c])]
        assert not bad and m["_run"] == ps.run_id, (m["gseq"], bad)


def test_both_producers_write_the_same_records(kafka_broker: Any, slice_cache: Any) -> None:
    servers = kafka_broker.bootstrap_servers
    rows = [slice_cache.row(i) for i in range(0, 400, 2)]
    headers = [(RUN_HEADER, b"run-1"), ("trace", b"\x00\xff")]
    got: dict[str, list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]]] = {}
    for client in CLIENTS:
        topic = unique_name("wire")
        with_admin = make_admin(servers, client=client)
        with_admin.create_topic(topic, 4, 1)
        with_admin.close()
        prod = make_producer(servers, client=client, kind="kafka")
        acked: list[BaseException | None] = []
        for i, row in enumerate(rows):
            prod.send(
                topic,
                frame_message(encode_body(row), i, i, 0, 0, 1_700_000_000_000_000_000 + i),
                row["driver"].encode(),
                headers,
                on_delivery=acked.append,
            )
        prod.flush(30)
        prod.close()
        assert acked == [None] * len(rows)
        for reader in CLIENTS:  # each producer's topic, read back with both consumers
            recs = _read_raw(servers, topic, reader, len(rows))
            key = [(r.partition, r.offset, r.key, r.value, list(r.headers)) for r in recs]
            got.setdefault(client, sorted(key))
            assert sorted(key) == got[client], f"{client} topic read differently by {reader}"
    by_client = {c: [(p, k, v, h) for p, _o, k, v, h in recs] for c, recs in got.items()}
    assert by_client["confluent"] == by_client["kafka-python"]  # values, keys, headers, partitions
    assert len({p for p, *_ in by_client["confluent"]}) > 1  # keys spread over partitions, identically


@pytest.mark.parametrize("client", CLIENTS)
def test_admin_topics_and_committed_offsets(
    kafka_broker: Any, stream_topic: Any, slice_cache: Any, client: str
) -> None:
    from f1live.topics import delete_topic, describe_topic, ensure_topic, list_topics

    servers = kafka_broker.bootstrap_servers
    name = unique_name("adm")
    info = ensure_topic(servers, name, 3, client=client)
    assert (info.partitions, info.replication) == (3, 1) and all(b >= 0 for b in info.leaders.values())
    assert ensure_topic(servers, name, 3, client=client).partitions == 3  # idempotent
    assert name in list_topics(servers, client=client)
    assert describe_topic(servers, name, client="confluent" if client == "kafka-python" else "kafka-python") == info
    assert delete_topic(servers, name, client=client) and describe_topic(servers, name, client=client) is None
    assert not delete_topic(servers, name, client=client)

    s = stream_topic(kafka_broker).replace(client=client)
    with RealTimeProducer(s).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max", max_messages=120)
    RealTimeConsumer(s).consume_messages(timeout_seconds=30, max_messages=ps.sent, idle_timeout=3)
    for reader in CLIENTS:
        admin = make_admin(servers, client=reader)
        try:
            offsets = admin.committed(s.consumer_group)
        finally:
            admin.close()
        assert sum(o for (t, _p), o in offsets.items() if t == s.topic) == ps.sent, (reader, offsets)


def test_client_choice_and_settings_names() -> None:
    assert Settings().client == "auto" and resolve_client("auto") == "confluent"  # installed: the default
    assert Settings.from_env({"F1LIVE_CLIENT": "kafka-python"}).client == "kafka-python"
    assert RealTimeConsumer(Settings(client="kafka-python")).client_name == "kafka-python"
    assert RealTimeProducer(Settings(client="confluent-kafka")).client_name == "confluent"
    with pytest.raises(ValueError, match="unknown Kafka client 'rdkafka'"):
        resolve_client("rdkafka")
    # A setting one library does not have is an error that names it, not a silent no-op.
    with pytest.raises(ValueError, match="'partitioner'"):
        make_producer("127.0.0.1:1", client="confluent", partitioner=object())
    with pytest.raises(ValueError, match="librdkafka setting names"):
        make_consumer("127.0.0.1:1", client="kafka-python", **{"fetch.wait.max.ms": 10})


def test_cli_client_option(kafka_broker: Any, tmp_path: Any) -> None:
    from tests.broker_helpers import cli_env, f1live

    name = unique_name("cli")
    env = cli_env(tmp_path)
    for client in CLIENTS:
        r = f1live(
            "topic",
            "create",
            name,
            "--partitions",
            "2",
            "--client",
            client,
            "--bootstrap-servers",
            kafka_broker.bootstrap_servers,
            env=env,
        )
        assert r.returncode == 0 and "2 partitions" in r.stdout, r.stderr
    r = f1live("topic", "list", "--client", "nope", "--bootstrap-servers", kafka_broker.bootstrap_servers, env=env)
    assert r.returncode != 0 and "invalid choice: 'nope'" in r.stderr


@CLIENTS_PARAM
def test_manual_assignment_resumes_at_the_groups_commit(
    kafka_broker: Any, stream_topic: Any, slice_cache: Any, kafka_client: str
) -> None:
    """``partitions=[...]`` with a group: start at its committed offsets (a fresh group: the beginning)."""
    s = stream_topic(kafka_broker)
    with RealTimeProducer(s).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max", max_messages=900)
    first = RealTimeConsumer(s, partitions=[0, 1, 2, 3]).consume_messages(
        timeout_seconds=30, max_messages=100, idle_timeout=3
    )
    assert 100 <= first.processed < ps.sent
    rest = RealTimeConsumer(s, partitions=[0, 1, 2, 3]).consume_messages(timeout_seconds=30, idle_timeout=3)
    assert first.processed + rest.processed == ps.sent and rest.duplicates == 0
