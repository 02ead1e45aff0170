"""Produced = consumed: per driver, in order, no gaps, field for field; restarts lose nothing."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from f1live.consumer import RealTimeConsumer
from f1live.delivery import DeliveryTracker, delivery_report
from f1live.producer import RealTimeProducer
from f1live.schema import TELEMETRY_COLUMNS
from f1live.state import LiveState
from tests.fixtures_streaming import CLIENTS

BROKERS = pytest.mark.parametrize("any_broker", ["kafka", "tansu"], indirect=True)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | int):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@BROKERS
@CLIENTS
def test_real_slice_roundtrip_field_for_field(any_broker: Any, stream_topic: Any, slice_cache: Any) -> None:
    s = stream_topic(any_broker)
    with RealTimeProducer(s).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max")
    assert ps.ok and ps.sent == len(slice_cache)
    cons = RealTimeConsumer(s, keep_messages=True)
    cs = cons.consume_messages(timeout_seconds=60, max_messages=ps.sent, idle_timeout=5)
    assert cs.processed == ps.sent and cs.dlq == 0 and cs.duplicates == 0

    report = delivery_report(ps, cons.tracker)
    assert report.ok, report.table()
    assert report.produced == report.consumed == len(slice_cache)

    # Field-for-field equality with the cache rows, found by the producer's gseq (= row index).
    by_gseq = {m["gseq"]: m for m in cons.messages}
    assert sorted(by_gseq) == list(range(len(slice_cache)))
    for i in range(len(slice_cache)):
        row, msg = slice_cache.row(i), by_gseq[i]
        bad = [c for c in TELEMETRY_COLUMNS if not _same(msg.get(c), row[c])]
        assert not bad, (i, {c: (row[c], msg.get(c)) for c in bad})
        assert msg["event_time_ns"] == int(slice_cache.date_ns[i])

    # Within each partition (hence each driver) messages arrive in seq order.
    last: dict[str, int] = {}
    for m in cons.messages:
        assert m["seq"] == last.get(m["driver"], -1) + 1
        last[m["driver"]] = m["seq"]


@CLIENTS
def test_consumer_restart_mid_stream_loses_nothing(kafka_broker: Any, stream_topic: Any, slice_cache: Any) -> None:
    s = stream_topic(kafka_broker)
    tracker = DeliveryTracker()
    prod = RealTimeProducer(s).load_cache(slice_cache)
    prod.start(speed=40.0)  # ~1700 rows over ~4 s of wall time
    first = RealTimeConsumer(s, tracker=tracker).start()
    # Stop it mid-stream, once it has processed something (the first group join on a fresh
    # broker takes ~3 s with librdkafka: it waits for the offsets topic's coordinator).
    deadline = time.monotonic() + 20
    while first.stats()["processed"] < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop()
    r1 = first.join(15)
    assert r1 is not None and 0 < r1.processed < len(slice_cache), r1
    second = RealTimeConsumer(s, tracker=tracker).start()  # same group: resumes at the commit
    ps = None
    while ps is None:
        ps = prod.join(1.0)
    prod.close()
    deadline = time.monotonic() + 30
    while sum(tracker.per_driver(ps.run_id).values()) < ps.sent and time.monotonic() < deadline:
        time.sleep(0.1)
    second.stop()
    r2 = second.join(15)
    assert r2 is not None
    report = delivery_report(ps, tracker)
    assert report.ok, report.table()
    assert r1.processed + r2.processed == ps.sent

    # Replaying the topic from the start (new group, same tracker): everything is a duplicate.
    third = RealTimeConsumer(s.replace(consumer_group=s.consumer_group + "-replay"), tracker=tracker)
    r3 = third.consume_messages(timeout_seconds=30, idle_timeout=3)
    assert r3.processed == 0 and r3.duplicates == ps.sent
    assert delivery_report(ps, tracker).ok


@CLIENTS
def test_duplicate_and_gap_detection_on_real_messages(kafka_broker: Any, stream_topic: Any, slice_cache: Any) -> None:
    s = stream_topic(kafka_broker)
    with RealTimeProducer(s).load_cache(slice_cache.filter(drivers=["LEC"])) as prod:
        ps = prod.stream_at_frequency(speed="max", max_messages=40)
    cons = RealTimeConsumer(s, keep_messages=True)
    cons.consume_messages(timeout_seconds=30, max_messages=40, idle_timeout=3)
    # Re-send two real messages (at-least-once redelivery) and drop one (a gap).
    from kafka import KafkaProducer

    raw = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    msgs = cons.messages
    hdr = [("f1live-run", ps.run_id.encode())]
    for m in (msgs[10], msgs[11]):
        raw.send(
            s.topic,
            key=b"LEC",
            value=json.dumps({k: v for k, v in m.items() if not k.startswith("_")}).encode(),
            headers=hdr,
        )
    later = dict({k: v for k, v in msgs[-1].items() if not k.startswith("_")}, seq=45, gseq=999)
    raw.send(s.topic, key=b"LEC", value=json.dumps(later).encode(), headers=hdr)
    raw.flush()
    raw.close()
    state = LiveState()
    again = RealTimeConsumer(s, tracker=cons.tracker, state=state)
    r = again.consume_messages(timeout_seconds=30, max_messages=1, idle_timeout=3)
    assert r.duplicates == 2 and r.processed == 1
    counters = state.snapshot(history=False)["counters"]
    assert counters["duplicates"] == 2 and counters["gaps"] == 1 and counters["processed"] == 1
    rep = delivery_report({"LEC": 46}, cons.tracker, run_id=ps.run_id)
    assert not rep.ok and rep.per_driver["LEC"]["gaps"] == [(40, 44)]


@pytest.mark.slow
@CLIENTS
def test_three_node_cluster_survives_a_broker_kill(
    settings: Any, slice_cache: Any, tmp_path: Any, kafka_client: str
) -> None:
    from f1live.broker import start_broker
    from f1live.topics import ensure_topic

    cluster = start_broker(
        settings.replace(run_dir=tmp_path / "runs", bootstrap_servers=None), kind="kafka", nodes=3, fresh=True
    )
    try:
        s = settings.replace(
            bootstrap_servers=cluster.bootstrap_servers,
            broker="kafka",
            topic="tel3",
            dlq_topic="tel3.dlq",
            replication=3,
            client=kafka_client,
        )
        ensure_topic(
            cluster.bootstrap_servers, s.topic, 4, 3, configs={"min.insync.replicas": "2"}, client=kafka_client
        )
        ensure_topic(cluster.bootstrap_servers, s.dlq_topic, 1, 3, client=kafka_client)
        tracker = DeliveryTracker()
        cons = RealTimeConsumer(s, tracker=tracker).start()
        prod = RealTimeProducer(s, ensure_topic=False).load_cache(slice_cache).start(speed=30.0)
        time.sleep(1.5)
        cluster.kill_node(cluster.nodes[-1].node_id)  # SIGKILL one broker mid-stream
        ps = None
        while ps is None:
            ps = prod.join(1.0)
        prod.close()
        assert ps.failed == 0 and ps.acked == ps.sent == len(slice_cache), ps.errors
        deadline = time.monotonic() + 60
        while sum(tracker.per_driver(ps.run_id).values()) < ps.acked and time.monotonic() < deadline:
            time.sleep(0.2)
        cons.stop()
        cons.join(20)
        report = delivery_report(ps, tracker)
        assert report.ok, report.table()
    finally:
        cluster.stop()
