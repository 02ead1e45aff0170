"""Baseline: what bare kafka-python achieves here, with no f1live code in the path.

It sends the 1x traffic pattern (bursts of 20 messages of ``--size`` bytes every 240 ms)
with a plain ``KafkaProducer`` (f1live's client settings) to a fresh embedded broker.
A plain ``KafkaConsumer`` in a thread of the same process reads it back. The script
prints ack p50/p99 and end-to-end p50/p99, so the f1live numbers of
``bench_streaming.py`` can be compared with the floor the client library and the
machine set.

    .venv/bin/python bench/bench_kafka_baseline.py --brokers kafka,tansu
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(kind: str, bursts: int, size: int, run_dir: Path) -> dict:
    from kafka import KafkaConsumer, KafkaProducer

    from f1live.broker import start_broker
    from f1live.clients import consumer_config, producer_config
    from f1live.config import Settings
    from f1live.topics import ensure_topic

    broker = start_broker(Settings.from_env().replace(run_dir=run_dir / kind, bootstrap_servers=None), kind=kind, fresh=True)
    bs = broker.bootstrap_servers
    try:
        ensure_topic(bs, "baseline", 4)
        cons = KafkaConsumer("baseline", bootstrap_servers=bs, group_id=None,
                             **consumer_config(kind, auto_offset_reset="latest"))  # fmt: skip
        while not cons.assignment():
            cons.poll(100)
        cons.poll(200)
        prod = KafkaProducer(bootstrap_servers=bs, **producer_config(kind))
        prod.partitions_for("baseline")
        acks: list[float] = []
        e2e: list[float] = []
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set():
                for recs in cons.poll(100).values():
                    now = time.time_ns()
                    e2e.extend((now - int(r.value[:19])) / 1e6 for r in recs)

        th = threading.Thread(target=consume)
        th.start()
        pad = b" " * max(size - 19, 0)
        for _ in range(bursts):
            t_burst = time.perf_counter()
            for k in range(20):
                t0 = time.perf_counter()
                prod.send("baseline", key=b"D%02d" % k, value=str(time.time_ns()).encode() + pad).add_callback(
                    lambda _md, t0=t0: acks.append((time.perf_counter() - t0) * 1e3))
            time.sleep(max(0.0, 0.24 - (time.perf_counter() - t_burst)))
        prod.flush()
        time.sleep(1.0)
        stop.set()
        th.join()
        prod.close()
        cons.close()
    finally:
        broker.stop()

    def p(xs: list[float], q: float) -> float:
        return round(float(np.percentile(xs, q)), 3) if xs else float("nan")

    return {"broker": kind, "messages": bursts * 20, "received": len(e2e), "size": size,
            "ack_p50_ms": p(acks, 50), "ack_p99_ms": p(acks, 99),
            "e2e_p50_ms": p(e2e, 50), "e2e_p99_ms": p(e2e, 99), "load_avg_1m": round(os.getloadavg()[0], 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="kafka,tansu")
    ap.add_argument("--bursts", type=int, default=60, help="bursts of 20 messages, 240 ms apart")
    ap.add_argument("--size", type=int, default=700, help="message bytes (an f1live message is ~700)")
    a = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    out = []
    with tempfile.TemporaryDirectory(prefix="f1live-baseline-") as tmp:
        for kind in a.brokers.split(","):
            r = run(kind.strip(), a.bursts, a.size, Path(tmp))
            out.append(r)
            print(f"{r['broker']:<7} ack p50 {r['ack_p50_ms']:8.3f} p99 {r['ack_p99_ms']:8.3f} ms | "
                  f"e2e p50 {r['e2e_p50_ms']:8.3f} p99 {r['e2e_p99_ms']:8.3f} ms | "
                  f"{r['received']}/{r['messages']} received, load {r['load_avg_1m']}")  # fmt: skip
    print(json.dumps({"bench": "kafka_baseline", "results": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
