"""Three-node KRaft cluster: replication 3, min ISR 2, acks=all; one broker killed mid-stream.

Nothing acknowledged may be lost, producing and consuming must carry on, with each Kafka
client library f1live has (through ``f1live.clients``, interleaved in one cluster). Slow
(three JVMs), still part of the suite.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from f1live.broker import cluster_metadata, start_broker
from f1live.clients import CLIENTS, make_consumer, make_producer
from f1live.config import Settings
from f1live.topics import describe_topic, ensure_topic
from tests.broker_helpers import procs_with, wait_gone

pytestmark = pytest.mark.slow

TOTAL = 3000
KILL_AFTER = 1000


def test_three_node_cluster_survives_a_killed_broker(tmp_path):
    settings = Settings(run_dir=tmp_path / "runs")
    with start_broker(settings, kind="kafka", nodes=3, fresh=True) as cluster:
        print(f"3-node cluster ready in {cluster.start_seconds:.1f} s at {cluster.bootstrap_servers}")
        bs = cluster.bootstrap_servers
        assert len(cluster_metadata(bs)["brokers"]) == 3
        javas = [p for p in procs_with(cluster.run_dir) if "kafka.Kafka" in p.cmdline()]
        assert len(javas) == 3 and all("-Xmx384m" in p.cmdline() for p in javas)
        rss = sum(p.memory_info().rss for p in javas) / 2**20
        print(f"3 brokers: {rss:.0f} MB resident in total (heap cap 384 MB each)")

        # Both client libraries through f1live's seam (f1live.clients), each with its own
        # topic, producer (f1live's settings: acks=all, idempotent) and reader, interleaved.
        names = list(CLIENTS)
        topics = {c: f"f1-speed-stream-{c}" for c in names}
        for topic in topics.values():
            info = ensure_topic(bs, topic, 4, replication=3)
            assert info.replication == 3 and all(len(isr) == 3 for isr in info.isr.values())

        received: dict[str, list[int]] = {c: [] for c in names}
        done = threading.Event()

        def consume(client: str) -> None:
            consumer = make_consumer(bs, client=client, kind="kafka", group_id=None)
            consumer.assign(topics[client], range(4))  # no group: from the earliest offsets
            while not done.is_set():
                received[client].extend(int(r.value) for r in consumer.poll(0.2, 500))
            consumer.close()

        readers = [threading.Thread(target=consume, args=(c,), name=f"cluster-test-{c}") for c in names]
        for r in readers:
            r.start()
        producers = {c: make_producer(bs, client=c, kind="kafka", linger_ms=5) for c in names}
        acked: dict[str, set[int]] = {c: set() for c in names}
        failed: list[BaseException] = []
        lock = threading.Lock()

        def on_delivery(client: str, seq: int):
            def cb(err: BaseException | None) -> None:
                with lock:
                    if err is None:
                        acked[client].add(seq)
                    else:
                        failed.append(err)

            return cb

        victim = None
        for seq in range(TOTAL):
            for c, prod in producers.items():
                prod.send(topics[c], str(seq).encode(), f"driver-{seq % 20}".encode(), on_delivery=on_delivery(c, seq))
            if seq == KILL_AFTER:
                for prod in producers.values():
                    prod.flush(60)
                victim = describe_topic(bs, topics[names[0]]).leaders[0]  # a partition leader: worst case
                cluster.kill_node(victim, signal.SIGKILL)
                print(f"killed broker {victim} after {[len(v) for v in acked.values()]} acknowledged messages")
            time.sleep(0.001)
        for prod in producers.values():
            prod.flush(120)
            prod.close()

        assert victim is not None and not [n for n in cluster.nodes if n.node_id == victim][0].alive()
        assert not failed, f"sends failed after the kill: {failed[:3]}"
        for c in names:
            assert len(acked[c]) == TOTAL, c  # acks=all with min ISR 2 still succeeds on 2 brokers
            assert {s for s in acked[c] if s > KILL_AFTER}, f"{c}: nothing was acknowledged after the kill"

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(acked[c] <= set(received[c]) for c in names):
            time.sleep(0.2)
        done.set()
        for r in readers:
            r.join(30)
        for c in names:
            lost = acked[c] - set(received[c])
            assert not lost, f"{c}: {len(lost)} acknowledged messages lost, e.g. {sorted(lost)[:5]}"
        topic = topics[names[0]]
        after = describe_topic(bs, topic)
        assert all(leader != victim and leader >= 0 for leader in after.leaders.values())
        assert all(victim not in isr and len(isr) == 2 for isr in after.isr.values())
    assert not wait_gone(tmp_path), "cluster processes left after stop"
