"""RealTimeConsumer on real brokers: DLQ, processors + live state, analysis topic, errors."""

from __future__ import annotations

import base64
import json
import math
import socket
import time
from typing import Any

import pytest
from kafka import KafkaProducer

from f1live.config import Settings
from f1live.consumer import DLQ_REASON_HEADER, RealTimeConsumer, parse_stats_line
from f1live.processors import FunctionProcessor
from f1live.producer import RealTimeProducer
from f1live.state import LiveState
from tests.broker_helpers import read_topic
from tests.fixtures_streaming import CLIENTS

BROKERS = pytest.mark.parametrize("any_broker", ["kafka", "tansu"], indirect=True)


def _read_all(broker: Any, topic: str, expect: int, timeout: float = 20.0) -> list[Any]:
    return read_topic(broker.bootstrap_servers, topic, expect, timeout, fetch_max_wait_ms=10)


@BROKERS
@CLIENTS
def test_malformed_messages_go_to_dlq_and_valid_ones_arrive(
    any_broker: Any, stream_topic: Any, slice_cache: Any
) -> None:
    s = stream_topic(any_broker)
    good = RealTimeProducer(s).load_cache(slice_cache.filter(drivers=["VER"]))
    summary = good.stream_at_frequency(speed="max", max_messages=50)
    good.close()
    valid = json.loads(_read_all(any_broker, s.topic, 1)[0].value)  # a real message to corrupt
    missing = {k: v for k, v in valid.items() if k != "speed"}
    wrong_type = dict(valid, gear="seventh")
    bad = {
        "json": b"{not json",
        "missing-field": json.dumps(missing).encode(),
        "type": json.dumps(wrong_type).encode(),
        "non-finite": json.dumps(dict(valid, rpm=math.nan)).encode(),  # Python writes NaN
        "not-object": b"[1, 2, 3]",
        "encoding": b"\xff\xfe\x00garbage",
        "oversize": json.dumps(dict(valid, team="x" * (s.max_message_bytes + 10))).encode(),
    }
    raw = KafkaProducer(bootstrap_servers=any_broker.bootstrap_servers)
    for reason, value in bad.items():
        raw.send(s.topic, key=reason.encode(), value=value)
    raw.flush()
    raw.close()
    good2 = RealTimeProducer(s).load_cache(slice_cache.filter(drivers=["HAM"]))
    summary2 = good2.stream_at_frequency(speed="max", max_messages=30)
    good2.close()

    cons = RealTimeConsumer(s, keep_messages=True)
    # Until idle, not max_messages=80: the 80th valid message may be read before the last bad one
    # (4 partitions are read in whatever order their fetches come back).
    res = cons.consume_messages(timeout_seconds=30, idle_timeout=3)
    assert res.processed == summary.sent + summary2.sent == 80
    assert res.dlq == len(bad)
    assert res.dlq_reasons == {r: 1 for r in bad}
    assert res.consumed == 80 + len(bad)

    dlq = _read_all(any_broker, s.dlq_topic, len(bad))
    assert len(dlq) == len(bad)
    for rec in dlq:
        body = json.loads(rec.value)
        reason = body["reason"]
        assert dict(rec.headers)[DLQ_REASON_HEADER].decode() == reason
        assert base64.b64decode(body["value_b64"]) == bad[reason]
        assert body["topic"] == s.topic and body["key"] == reason
        assert isinstance(body["partition"], int) and isinstance(body["offset"], int)
        assert body["detail"]


@CLIENTS
def test_processors_state_and_analysis_topic(kafka_broker: Any, stream_topic: Any, slice_cache: Any) -> None:
    s = stream_topic(kafka_broker)
    with RealTimeProducer(s).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max", max_messages=300)

    class Flaky:
        name = "flaky"
        calls = 0

        def process_batch(self, msgs: list[dict]) -> list[dict]:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("boom")
            return [{} for _ in msgs]

    slow = FunctionProcessor(
        "braking",
        lambda m: {
            "anomaly": bool(m["brake"] and m["speed"] > 250),
            "anomaly_reason": "hard braking at speed",
            "anomaly_score": m["speed"] / 300,
            "pit_stop_probability": 0.0,
        },
    )
    state = LiveState(history=50)
    cons = RealTimeConsumer(s, processors=[slow, Flaky()], state=state, publish_analysis=True)
    res = cons.consume_messages(timeout_seconds=30, max_messages=ps.sent, idle_timeout=3)
    assert res.processed == 300 and res.processor_errors == 1
    snap = state.snapshot()
    assert snap["counters"]["processed"] == 300 and snap["counters"]["processor_errors"] == 1
    assert set(snap["latest"]) == set(ps.per_driver)
    assert all(len(h) <= 50 for h in snap["history"].values())
    n_anom = sum(1 for m in cons_msgs(slice_cache, 300) if m["brake"] and m["speed"] > 250)
    assert len(snap["anomalies"]) == min(n_anom, 200)
    assert snap["latency"]["e2e_ms"]["count"] == 300
    assert sum(v["lag"] for v in snap["partitions"].values()) == 0
    published = _read_all(kafka_broker, s.analysis_topic, 300)
    assert len(published) == res.published == 300
    rec = json.loads(published[0].value)
    assert {"driver", "seq", "e2e_ms", "anomaly", "pit_stop_probability"} <= set(rec)


def cons_msgs(cache: Any, n: int) -> list[dict]:
    return [cache.row(i) for i in range(n)]


@CLIENTS
def test_consumer_broker_not_running_fails_fast(kafka_client: str) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="no Kafka broker reachable"):
        RealTimeConsumer(Settings(client=kafka_client), bootstrap_servers=addr).consume_messages(timeout_seconds=5)
    assert time.monotonic() - t0 < 8


@BROKERS
@CLIENTS
def test_group_join_is_quick(any_broker: Any, stream_topic: Any) -> None:
    s = stream_topic(any_broker)
    cons2 = RealTimeConsumer(s)
    t0 = time.monotonic()
    cons2.start()
    while cons2.join_s is None and time.monotonic() - t0 < 15:
        time.sleep(0.05)
    cons2.stop()
    cons2.join(10)
    assert cons2.join_s is not None and cons2.join_s < 8, cons2.join_s


def test_stats_log_lines_count_every_message_once(
    kafka_broker: Any, stream_topic: Any, slice_cache: Any, caplog: Any
) -> None:
    """``stats_log_s``: periodic INFO lines with the messages since the last line and their e2e percentiles."""
    import logging

    s = stream_topic(kafka_broker).replace(stats_log_s=0.4)
    caplog.set_level(logging.INFO, logger="f1live.consumer")
    cons = RealTimeConsumer(s)
    cons.start(timeout_seconds=60, idle_timeout=3)
    try:
        with RealTimeProducer(s).load_cache(slice_cache) as prod:
            ps = prod.stream_at_frequency(speed=40.0, max_messages=400)  # ~2.5 s of wall time
        res = None
        while res is None:
            res = cons.join(1.0)
    finally:
        cons.stop()
        cons.join(10)
    assert res.processed == ps.sent == 400
    stats = [parse_stats_line(r.getMessage()) for r in caplog.records if "consumer stats" in r.getMessage()]
    assert len(stats) >= 3 and all(stats), [r.getMessage() for r in caplog.records]
    counts = [m["messages"] for m in stats]
    # every message in exactly one line: the periodic ones plus a last line, at stop, for the rest
    assert all(c > 0 for c in counts) and sum(counts) == res.processed
    assert all(m["seconds"] >= 0.4 for m in stats[:-1]) and all(0 < m["p50_ms"] <= m["p99_ms"] for m in stats)
    tail = sorted(cons.e2e_ms.window_values())  # every processed message's e2e latency
    assert tail[0] <= min(m["p50_ms"] for m in stats) and max(m["p99_ms"] for m in stats) <= tail[-1]


@CLIENTS
def test_offsets_are_committed_after_each_burst_not_inside_it(kafka_broker: Any, stream_topic: Any) -> None:
    """Bursts of 20 messages every 240 ms (the 1x pattern): the processed offsets are committed
    in the quiet gap after a burst, while the consumer runs, and not between the fetches of one
    burst (a commit there delays the fetch of the burst's rest: ``COMMIT_IDLE_S``)."""
    from f1live.clients import make_admin, make_producer
    from f1live.schema import encode_message

    s = stream_topic(kafka_broker)
    cons = RealTimeConsumer(s, analyse=False)
    at_commit: list[int] = []
    commit = cons._commit_pending

    def counted(consumer: Any) -> None:
        at_commit.append(cons.processed)
        commit(consumer)

    cons._commit_pending = counted  # type: ignore[method-assign]
    cons.start(timeout_seconds=90)
    t0 = time.monotonic()
    while cons.join_s is None and time.monotonic() - t0 < 20:
        time.sleep(0.05)
    prod = make_producer(kafka_broker.bootstrap_servers, client=s.client)
    bursts, size = 8, 20
    try:
        for b in range(bursts):
            burst = []  # encoded first, then sent back to back, as the replay sends a burst
            for k in range(size):
                row = {"date": "2023-05-28T13:00:00+00:00", "session_time": b * 0.24, "driver": f"D{k:02d}",
                       "driver_number": k + 1, "speed": 200.0 + k, "rpm": 11000.0, "gear": 7, "throttle": 99.0,
                       "brake": False, "drs": 0, "source": "file", "simulated": False}  # fmt: skip
                env = {"seq": b, "gseq": b * size + k, "event_time_ns": 0, "produced_at_ns": time.time_ns()}
                burst.append((encode_message(row, envelope=env), f"D{k:02d}".encode()))
            for value, key in burst:
                prod.send(s.topic, value, key)
            time.sleep(0.24)
        prod.flush(10)
        deadline = time.monotonic() + 30
        while cons.processed < bursts * size and time.monotonic() < deadline:
            time.sleep(0.05)
        admin = make_admin(kafka_broker.bootstrap_servers, client=s.client)
        try:
            deadline = time.monotonic() + 10
            committed = 0
            while committed < bursts * size and time.monotonic() < deadline:
                committed = sum(max(o, 0) for o in admin.committed(s.consumer_group).values())
                time.sleep(0.1)
        finally:
            admin.close()
        assert cons.running  # committed by the running consumer, not by its stop
    finally:
        prod.close()
        cons.stop()
        cons.join(10)
    assert cons.processed == bursts * size
    assert committed == bursts * size, (committed, at_commit)
    assert len(at_commit) >= bursts // 2, at_commit  # one per quiet gap, give or take a late fetch
    inside = [n for n in at_commit if n % size]
    assert len(inside) <= 1, at_commit  # committing whenever a poll came back empty: several per burst


@CLIENTS
def test_analysis_results_do_not_depend_on_the_batch_size(
    trained: Any, kafka_broker: Any, stream_topic: Any, slice_cache: Any
) -> None:
    """``max_batch`` (how many polled records the processors get at once) changes no result.

    Features, anomaly flags, scores and reasons are equal; model scores are equal to the last
    few bits: a logistic model's dot product is summed by BLAS in an order that depends on the
    number of rows (trees are exact; the held-out models of ``f1live train`` are trees).
    """
    import numpy as np

    from f1live.analysis import AnalyticsProcessor
    from f1live.labels import TARGETS

    s = stream_topic(kafka_broker, partitions=1)  # one partition: every consumer sees one order
    with RealTimeProducer(s).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max")

    class Recording:
        name = "recording"

        def __init__(self) -> None:
            self.inner = AnalyticsProcessor(s, models_dir=trained.out_dir)
            self.results: dict[tuple[str, int], dict] = {}
            self.sizes: set[int] = set()

        def process_batch(self, msgs: list[dict]) -> list[dict]:
            out = self.inner.process_batch(msgs)
            self.sizes.add(len(msgs))
            self.results.update({(m["driver"], m["seq"]): r for m, r in zip(msgs, out, strict=True)})
            return out

    runs = {}
    for max_batch in (7, 250, 500):
        rec = Recording()
        cons = RealTimeConsumer(
            s.replace(consumer_group=s.consumer_group + f"-{max_batch}"), processors=[rec], max_batch=max_batch
        )
        res = cons.consume_messages(timeout_seconds=60, max_messages=ps.sent, idle_timeout=5)
        assert res.processed == ps.sent and res.processor_errors == 0
        assert max(rec.sizes) <= max_batch
        runs[max_batch] = rec.results
    base = runs[7]
    assert set(TARGETS) <= set(base[("VER", 0)])
    assert max(len({r[n] for r in base.values()}) for n in TARGETS) > 50  # scores that vary per message
    for size in (250, 500):
        assert runs[size].keys() == base.keys()
        for k, r in base.items():
            other = runs[size][k]
            assert {f: v for f, v in r.items() if f not in TARGETS} == {
                f: v for f, v in other.items() if f not in TARGETS
            }, (size, k)
            np.testing.assert_allclose([r[n] for n in TARGETS], [other[n] for n in TARGETS], rtol=1e-13, atol=0)
