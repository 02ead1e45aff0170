"""Baseline: what the bare client library achieves here, with no f1live code in the path.

It sends the replay's traffic pattern (bursts of 20 messages of ``--size`` bytes, one burst
every 240 ms at 1x, every 24 ms at 10x) with the bare client (``--client confluent``:
``confluent_kafka.Producer``; ``--client kafka-python``: ``KafkaProducer``), configured
with f1live's settings (:func:`f1live.clients.producer_config`, translated for librdkafka)
to a fresh embedded broker. The bare consumer of the same library reads it back in a child
process (as ``bench_streaming.py``'s consumer runs), one ``poll`` at a time, and measures
end-to-end latency (received - the send time written into the value; the first
:data:`WARMUP_S` seconds of traffic, the consumer's start-up, are reported apart:
:func:`warmup_messages`). It prints ack p50/p99, end-to-end p50/p99 per pattern and the
start-up's p99/max, so the f1live numbers can be set against the
floor that the client library and the machine set. ``bench_streaming.py --baseline`` runs
:func:`run_pattern` on its own broker between its f1live replays: the ratio in its report
comes from one run.

    .venv/bin/python bench/bench_kafka_baseline.py --client confluent --brokers kafka
    .venv/bin/python bench/bench_kafka_baseline.py --client kafka-python --speeds 1,10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Messages per burst (a full field of cars shares each car-data timestamp).
BURST = 20
#: Seconds between bursts at 1x (the car-data rate, ~4 Hz).
PERIOD_S = 0.24
#: Seconds of traffic after a consumer starts that are reported apart from the stream's
#: latency, here and in ``bench_streaming.py``: the start-up. A fresh topic's first fetches
#: are slow on both sides (librdkafka's and kafka-python's fetch sessions, the broker's first
#: reads of the new partitions). Measured (confluent, 1x, 30 s rounds, quiet machine): the
#: first 2-4 bursts after the consumer joined took 9-66 ms per message for f1live and 9-14 ms
#: for the bare client, every later burst 2-6 ms; two bursts (the earlier rule) left up to
#: 70 slow messages in the percentiles, 5 % of a 10 s round at 1x: the "p99" was start-up.
WARMUP_S = 2.0


def warmup_messages(speed: float) -> int:
    """Messages in the first :data:`WARMUP_S` seconds of the pattern at ``speed`` (whole bursts).

    >>> warmup_messages(1.0), warmup_messages(10.0)
    (180, 1680)
    """
    return BURST * math.ceil(WARMUP_S * speed / PERIOD_S)


def _pcts(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"p50": float("nan"), "p99": float("nan")}
    p = np.percentile(xs, [50, 99])
    return {"p50": round(float(p[0]), 3), "p99": round(float(p[1]), 3)}


# --------------------------------------------------------------------------- bare consumer (child)
def consumer_child(
    bootstrap: str, client: str, kind: str, topic: str, expect: int, timeout: float, warmup: int
) -> None:
    """Read ``expect`` records of ``topic`` with the bare client; print READY, then a JSON line.

    The first ``warmup`` records (the start-up) are reported apart (``startup``).
    """
    from f1live.clients import consumer_config

    cfg = consumer_config(kind)
    e2e: list[float] = []
    if client == "confluent":
        from confluent_kafka import Consumer, TopicPartition

        from f1live.clients.confluent import CONSUMER_NAMES, librdkafka_config

        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"baseline-{uuid.uuid4().hex[:8]}",
                "socket.nagle.disable": True,
                **librdkafka_config(cfg, CONSUMER_NAMES),
            }
        )
        c.assign([TopicPartition(topic, p, -2) for p in range(4)])  # -2: from the beginning
        c.poll(0.2)
        print("READY", flush=True)
        deadline = time.monotonic() + timeout
        while len(e2e) < expect and time.monotonic() < deadline:
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                e2e.append((time.time_ns() - int(m.value()[:19])) / 1e6)
        c.close()
    else:
        from kafka import KafkaConsumer, TopicPartition

        cfg.pop("bootstrap_timeout_ms", None)
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **cfg)
        c.assign([TopicPartition(topic, p) for p in range(4)])
        c.poll(200)
        print("READY", flush=True)
        deadline = time.monotonic() + timeout
        while len(e2e) < expect and time.monotonic() < deadline:
            for recs in c.poll(100).values():
                now = time.time_ns()
                e2e.extend((now - int(r.value[:19])) / 1e6 for r in recs)
        c.close()
    worst = int(np.argmax(e2e)) if e2e else None
    print(
        json.dumps(
            {
                "received": len(e2e),
                "e2e": _pcts(e2e[warmup:]),
                "e2e_all": _pcts(e2e),
                "startup": {**_pcts(e2e[:warmup]), "max": round(max(e2e[:warmup]), 3) if e2e[:warmup] else None},
                "worst_index": worst,
                "worst_ms": None if worst is None else round(e2e[worst], 3),
                "samples": [round(x, 4) for x in e2e[warmup:]],
            }
        ),
        flush=True,
    )


# --------------------------------------------------------------------------- bare producer
class _BareProducer:
    """The bare library's producer with f1live's settings; ``send`` records ack latency."""

    def __init__(self, bootstrap: str, client: str, kind: str) -> None:
        from f1live.clients import producer_config

        cfg = producer_config(kind)
        self.client = client
        self.acks: list[float] = []
        self._stop = threading.Event()
        if client == "confluent":
            from confluent_kafka import Producer

            from f1live.clients.confluent import PRODUCER_NAMES, librdkafka_config

            self._p = Producer(
                {
                    "bootstrap.servers": bootstrap,
                    "socket.nagle.disable": True,
                    "partitioner": "murmur2_random",
                    **librdkafka_config(cfg, PRODUCER_NAMES),
                }
            )
            self._p.list_topics(timeout=10)
            self._poller = threading.Thread(target=self._serve, name="baseline-delivery")
            self._poller.start()
        else:
            from kafka import KafkaProducer

            self._p = KafkaProducer(bootstrap_servers=bootstrap, **cfg)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._p.poll(0.05)

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        t0 = time.perf_counter()
        if self.client == "confluent":
            self._p.produce(
                topic, value, key, on_delivery=lambda _e, _m, t0=t0: self.acks.append((time.perf_counter() - t0) * 1e3)
            )
        else:
            self._p.send(topic, key=key, value=value).add_callback(
                lambda _md, t0=t0: self.acks.append((time.perf_counter() - t0) * 1e3)
            )

    def close(self) -> None:
        self._p.flush(30)
        if self.client == "confluent":
            self._stop.set()
            self._poller.join(10)
        self._p.close()


def run_pattern(
    bootstrap: str, kind: str, client: str, *, speed: float = 1.0, seconds: float = 10.0, size: int = 700
) -> dict[str, Any]:
    """Bursts of 20 every ``0.24 / speed`` s for ``seconds`` on a fresh topic; bare client both ends."""
    from f1live.topics import ensure_topic

    topic = f"baseline-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 4)
    bursts = max(int(seconds * speed / PERIOD_S), 1)
    expect = bursts * BURST
    warmup = min(warmup_messages(speed), expect // 2)
    child = subprocess.Popen([sys.executable, __file__, "--consumer-child", "--bootstrap", bootstrap,
                              "--client", client, "--kind", kind, "--topic", topic, "--expect", str(expect),
                              "--timeout", str(seconds + 60), "--warmup", str(warmup)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    if "READY" not in child.stdout.readline():
        child.kill()
        raise RuntimeError("baseline consumer child did not start")
    prod = _BareProducer(bootstrap, client, kind)
    pad = b" " * max(size - 19, 0)
    period = PERIOD_S / speed
    t_start = time.perf_counter()
    for b in range(bursts):
        due = t_start + b * period  # absolute schedule, as the f1live producer paces
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for k in range(BURST):
            prod.send(topic, b"D%02d" % k, str(time.time_ns()).encode() + pad)
    prod.close()
    out, _ = child.communicate(timeout=seconds + 120)
    res = json.loads(out.strip().splitlines()[-1])
    ack = _pcts(prod.acks)
    if os.environ.get("F1LIVE_BENCH_DEBUG"):
        print("worst e2e", res.get("worst_ms"), "ms at message", res.get("worst_index"), file=sys.stderr)
    return {
        "client": client,
        "broker": kind,
        "speed": speed,
        "messages": expect,
        "received": res["received"],
        "samples": res["samples"],
        "size": size,
        "ack_p50_ms": ack["p50"],
        "ack_p99_ms": ack["p99"],
        "e2e_p50_ms": res["e2e"]["p50"],
        "e2e_p99_ms": res["e2e"]["p99"],
        "e2e_p99_ms_with_startup": res["e2e_all"]["p99"],
        "warmup_messages": warmup,
        "startup_p99_ms": res["startup"]["p99"],
        "startup_max_ms": res["startup"]["max"],
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def run(kind: str, client: str, speeds: list[float], seconds: float, size: int, run_dir: Path) -> list[dict]:
    from f1live.broker import start_broker
    from f1live.config import Settings

    broker = start_broker(
        Settings.from_env().replace(run_dir=run_dir / kind, bootstrap_servers=None), kind=kind, fresh=True
    )
    try:
        # Warm-up, not reported: a fresh broker loads its coordinators (producer ids, groups) on
        # first use; bench_streaming.py's patterns run on a broker that has served for minutes.
        run_pattern(broker.bootstrap_servers, kind, client, speed=10.0, seconds=1.0, size=size)
        return [
            run_pattern(broker.bootstrap_servers, kind, client, speed=s, seconds=seconds, size=size) for s in speeds
        ]
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="kafka")
    ap.add_argument("--client", default="confluent", help="confluent | kafka-python (comma-separated: both)")
    ap.add_argument("--speeds", default="1,10", help="traffic patterns: 1 = 20 msgs / 240 ms, 10 = / 24 ms")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds of traffic per pattern")
    ap.add_argument("--size", type=int, default=700, help="message bytes (an f1live message is ~700)")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--consumer-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="kafka", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if a.consumer_child:
        consumer_child(a.bootstrap, a.client, a.kind, a.topic, a.expect, a.timeout, a.warmup)
        return 0
    out = []
    speeds = [float(s) for s in a.speeds.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="f1live-baseline-") as tmp:
        for kind in [k.strip() for k in a.brokers.split(",") if k.strip()]:
            for client in [c.strip() for c in a.client.split(",") if c.strip()]:
                for r in run(kind, client, speeds, a.seconds, a.size, Path(tmp)):
                    r.pop("samples")
                    out.append(r)
                    print(
                        f"{r['client']:<13}{r['broker']:<7}{r['speed']:>4g}x  ack p50 {r['ack_p50_ms']:8.3f} "
                        f"p99 {r['ack_p99_ms']:8.3f} ms | e2e p50 {r['e2e_p50_ms']:8.3f} p99 {r['e2e_p99_ms']:8.3f} ms"
                        f" | start-up ({WARMUP_S:g} s) p99 {r['startup_p99_ms']:8.3f} max {r['startup_max_ms']:8.3f} ms"
                        f" | {r['received']}/{r['messages']} received, load {r['load_avg_1m']}",
                        flush=True,
                    )
    line = json.dumps({"bench": "kafka_baseline", "results": out})
    print(line)
    if a.json_out:
        a.json_out.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
