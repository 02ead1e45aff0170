"""Three-node KRaft cluster: replication 3, min ISR 2, acks=all; one broker killed mid-stream.

Nothing acknowledged may be lost, producing and consuming must carry on. Slow (three JVMs),
still part of the suite.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from f1live.broker import cluster_metadata, start_broker
from f1live.config import Settings
from f1live.topics import describe_topic, ensure_topic
from tests.broker_helpers import procs_with, wait_gone

pytestmark = pytest.mark.slow

TOTAL = 3000
KILL_AFTER = 1000


def test_three_node_cluster_survives_a_killed_broker(tmp_path):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    settings = Settings(run_dir=tmp_path / "runs")
    with start_broker(settings, kind="kafka", nodes=3, fresh=True) as cluster:
        print(f"3-node cluster ready in {cluster.start_seconds:.1f} s at {cluster.bootstrap_servers}")
        bs = cluster.bootstrap_servers
        assert len(cluster_metadata(bs)["brokers"]) == 3
        javas = [p for p in procs_with(cluster.run_dir) if "kafka.Kafka" in p.cmdline()]
        assert len(javas) == 3 and all("-Xmx384m" in p.cmdline() for p in javas)
        rss = sum(p.memory_info().rss for p in javas) / 2**20
        print(f"3 brokers: {rss:.0f} MB resident in total (heap cap 384 MB each)")

        topic = "f1-speed-stream"
        info = ensure_topic(bs, topic, 4, replication=3)
        assert info.replication == 3 and all(len(isr) == 3 for isr in info.isr.values())

        received: list[int] = []
        done = threading.Event()

        def consume() -> None:
            consumer = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=None)
            parts = [TopicPartition(topic, p) for p in range(4)]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            while not done.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    received.extend(int(r.value) for r in records)
            consumer.close()

        reader = threading.Thread(target=consume, name="cluster-test-consumer")
        reader.start()
        producer = KafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=5)
        acked: set[int] = set()
        failed: list[BaseException] = []
        lock = threading.Lock()

        def on_ok(seq: int):
            def cb(_md) -> None:
                with lock:
                    acked.add(seq)

            return cb

        victim = None
        for seq in range(TOTAL):
            fut = producer.send(topic, key=f"driver-{seq % 20}".encode(), value=str(seq).encode())
            fut.add_callback(on_ok(seq))
            fut.add_errback(failed.append)
            if seq == KILL_AFTER:
                producer.flush(60)
                victim = describe_topic(bs, topic).leaders[0]  # the leader of partition 0: worst case
                cluster.kill_node(victim, signal.SIGKILL)
                print(f"killed broker {victim} after {len(acked)} acknowledged messages")
            time.sleep(0.001)
        producer.flush(120)
        producer.close()

        assert victim is not None and not [n for n in cluster.nodes if n.node_id == victim][0].alive()
        assert not failed, f"sends failed after the kill: {failed[:3]}"
        assert len(acked) == TOTAL  # acks=all with min ISR 2 still succeeds on 2 brokers
        assert {s for s in acked if s > KILL_AFTER}, "nothing was acknowledged after the kill"

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not acked <= set(received):
            time.sleep(0.2)
        done.set()
        reader.join(30)
        lost = acked - set(received)
        assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {sorted(lost)[:5]}"
        after = describe_topic(bs, topic)
        assert all(leader != victim and leader >= 0 for leader in after.leaders.values())
        assert all(victim not in isr and len(isr) == 2 for isr in after.isr.values())
    assert not wait_gone(tmp_path), "cluster processes left after stop"
