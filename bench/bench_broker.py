"""Benchmark the brokers f1live can run: start time, memory, end-to-end latency vs fetch wait.

For each broker kind (embedded Apache Kafka, Tansu) in a temporary run directory:
start time (launch -> first metadata answer), resident memory of the broker process(es),
then, for several consumer ``fetch_max_wait_ms`` values, the produce -> consume latency of
single messages sent every 20 ms (kafka-python on both sides, one partition).

This is the measurement behind "use a short fetch wait on Tansu" (docs/broker.md): Tansu
answers a fetch only when the wait expires, so latency follows the wait; Kafka answers as
soon as ``fetch_min_bytes`` (1) is there.

    .venv/bin/python bench/bench_broker.py                 # kafka + tansu, waits 500/100/10 ms
    .venv/bin/python bench/bench_broker.py --kinds tansu --messages 100 --json-out out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Targets: the pipeline's end-to-end latency budget with the recommended settings.
TARGET_P50_MS = 20.0


def _rss_mb(pids: list[int]) -> float:
    import psutil

    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def _latency(bootstrap: str, topic: str, wait_ms: int, n: int, interval_s: float) -> list[float]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms, group_id=None,
                             enable_auto_commit=False)  # fmt: skip
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    consumer.position(tp)  # resolve the end offset before producing
    lat: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set() and len(lat) < n:
            for records in consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                lat.extend((now - float(r.value)) * 1000 for r in records)

    t = threading.Thread(target=read, name="bench-consumer")
    t.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    producer.send(topic, b"%f" % time.perf_counter()).get(30)  # warm-up (connection, metadata)
    time.sleep(1.0)
    lat.clear()
    for _ in range(n):
        producer.send(topic, b"%f" % time.perf_counter())
        producer.flush()
        time.sleep(interval_s)
    deadline = time.monotonic() + 10 + wait_ms / 1000 * 5
    while len(lat) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    producer.close()
    consumer.close()
    return lat


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 1)


def run(kinds: list[str], waits: list[int], n: int) -> list[dict]:
    from f1live.broker import start_broker
    from f1live.config import Settings
    from f1live.topics import ensure_topic

    rows = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="f1live-bench-") as tmp:
            settings = Settings.from_env().replace(run_dir=Path(tmp), bootstrap_servers=None)
            with start_broker(settings, kind=kind, fresh=True) as broker:
                topic = "bench-latency"
                ensure_topic(broker.bootstrap_servers, topic, 1)
                rss = _rss_mb(broker.pids)
                for wait in waits:
                    lat = sorted(_latency(broker.bootstrap_servers, topic, wait, n, 0.02))
                    rows.append({
                        "broker": kind, "start_s": round(broker.start_seconds, 2), "broker_rss_mb": round(rss),
                        "fetch_max_wait_ms": wait, "messages": len(lat), "p50_ms": round(statistics.median(lat), 1) if lat else None,
                        "p95_ms": _quantile(lat, 0.95), "max_ms": round(lat[-1], 1) if lat else None,
                    })  # fmt: skip
                    print(f"  {kind} wait {wait} ms: p50 {rows[-1]['p50_ms']} ms", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", default="kafka,tansu")
    ap.add_argument("--waits", default="500,100,10", help="consumer fetch_max_wait_ms values")
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--json-out", type=Path, default=None)
    a = ap.parse_args()
    rows = run(a.kinds.split(","), [int(w) for w in a.waits.split(",")], a.messages)
    cols = ["broker", "start_s", "broker_rss_mb", "fetch_max_wait_ms", "messages", "p50_ms", "p95_ms", "max_ms"]
    print(" | ".join(f"{c:>17}" for c in cols))
    for r in rows:
        print(" | ".join(f"{r[c]!s:>17}" for c in cols))
    result = {"bench": "broker", "target_p50_ms": TARGET_P50_MS, "rows": rows,
              "note": "machine shared with other jobs: timings are noisy"}  # fmt: skip
    print(json.dumps(result))
    if a.json_out:
        a.json_out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
