"""Streaming benchmark: throughput, end-to-end latency and pacing on Apache Kafka and Tansu.

For each broker kind (a fresh embedded broker each, free ports) on the real 2023 Monaco
Race (full field, 20 drivers, from ``../shared/data``):

* ``produce_max``: producer at ``speed=max`` -> msg/s until every message is acked;
* ``consume_max``: a fresh group reads those messages back -> msg/s;
* ``e2e_max``: producer at max while a consumer runs -> msg/s from first send to last processed;
* ``1x`` / ``10x``: replay from lap 30 for ``--duration`` s while a consumer runs ->
  end-to-end latency p50/p95/p99 (processed - ``produced_at_ns``), achieved rate vs data
  rate, schedule lateness p50/p99.

The consumer runs in a child process (as a separate service would), so producer and
consumer do not share a GIL. Prints a table (targets beside the numbers) and one JSON line.

    .venv/bin/python bench/bench_streaming.py            # ~4 min
    .venv/bin/python bench/bench_streaming.py --quick    # ~1.5 min: 10k messages, 10 s replays
    .venv/bin/python bench/bench_streaming.py --brokers kafka --json-out bench/results/streaming.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = {
    "rate_error_pct_1x": "within +-0.5 %",
    "lateness_p99_ms_1x": "<= 2 ms",
    "e2e_p50_ms_1x": "<= 2 ms (Kafka)",
    "e2e_p99_ms_1x": "<= 10 ms (Kafka)",
}


# --------------------------------------------------------------------------- consumer child
def consumer_child(a: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    from f1live.config import Settings
    from f1live.consumer import RealTimeConsumer

    s = Settings(topic=a.topic, consumer_group=a.group, dlq_topic=a.topic + ".dlq")
    cons = RealTimeConsumer(s, bootstrap_servers=a.bootstrap, broker_kind=a.kind)
    cons.start(a.timeout, max_messages=a.expect or None, idle_timeout=a.idle)
    t0 = time.monotonic()
    while cons.join_s is None and time.monotonic() - t0 < 30 and cons.running:
        time.sleep(0.02)
    print("READY", flush=True)
    res = None
    while res is None:
        res = cons.join(1.0)
    last_wall = None
    if cons._last_batch_t is not None:
        last_wall = time.time() - (time.monotonic() - cons._last_batch_t)
    first_wall = None
    if cons._first_batch_t is not None:
        first_wall = time.time() - (time.monotonic() - cons._first_batch_t)
    out = res.to_dict()
    out.pop("per_driver", None)
    out.update(first_batch_wall=first_wall, last_batch_wall=last_wall)
    print(json.dumps(out, default=str), flush=True)


class ChildConsumer:
    def __init__(self, bootstrap: str, kind: str, topic: str, *, expect: int = 0, timeout: float = 120.0,
                 idle: float = 4.0) -> None:
        cmd = [sys.executable, __file__, "--consumer-child", "--bootstrap", bootstrap, "--kind", kind,
               "--topic", topic, "--group", f"bench-{uuid.uuid4().hex[:8]}", "--expect", str(expect),
               "--timeout", str(timeout), "--idle", str(idle)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "READY" not in line:
            self.proc.kill()
            raise RuntimeError(f"consumer child did not start: {line!r}")

    def result(self, timeout: float = 180.0) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------- runs
def _topic(bootstrap: str, partitions: int = 4) -> str:
    from f1live.topics import ensure_topic

    name = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, name, partitions)
    ensure_topic(bootstrap, name + ".dlq", 1)
    return name


#: KafkaProducer overrides under test (``--linger-ms``); empty = f1live's defaults.
PRODUCER_OVERRIDES: dict[str, Any] = {}


def _producer(bootstrap: str, kind: str, topic: str) -> Any:
    from f1live.config import Settings
    from f1live.producer import RealTimeProducer

    return RealTimeProducer(Settings(topic=topic), bootstrap_servers=bootstrap, broker_kind=kind,
                            ensure_topic=False, producer_overrides=dict(PRODUCER_OVERRIDES))


def run_broker(kind: str, cache: Any, n_max: int, duration: float, run_dir: Path) -> dict[str, Any]:
    from f1live.broker import start_broker
    from f1live.config import Settings

    settings = Settings.from_env().replace(run_dir=run_dir / kind, bootstrap_servers=None, broker="auto")
    broker = start_broker(settings, kind=kind, fresh=True)
    bs = broker.bootstrap_servers
    res: dict[str, Any] = {"broker": kind, "bootstrap": bs, "broker_start_s": round(broker.start_seconds, 2)}
    try:
        lap30 = cache.index_of_lap(30)
        # -- produce only, then consume only
        topic = _topic(bs)
        prod = _producer(bs, kind, topic).load_cache(cache)
        t = time.perf_counter()
        ps = prod.stream_at_frequency(speed="max", max_messages=n_max, start_lap=30)
        dt = time.perf_counter() - t
        prod.close()
        res["produce_max_msg_s"] = round(ps.acked / dt, 1)
        res["produce_max_failed"] = ps.failed
        child = ChildConsumer(bs, kind, topic, expect=ps.acked)
        cs = child.result()
        res["consume_max_msg_s"] = cs["rate"]
        res["consume_join_s"] = cs["join_s"]
        res["consume_max_processed"] = cs["processed"]
        # -- end to end at max speed
        topic = _topic(bs)
        child = ChildConsumer(bs, kind, topic, expect=n_max)
        prod = _producer(bs, kind, topic).load_cache(cache)
        t_wall = time.time()
        ps = prod.stream_at_frequency(speed="max", max_messages=n_max, start_lap=30)
        prod.close()
        cs = child.result()
        res["e2e_max_msg_s"] = round(cs["processed"] / (cs["last_batch_wall"] - t_wall), 1)
        res["e2e_max_processed"] = cs["processed"]
        # -- paced replays
        for speed in (1.0, 10.0):
            tag = f"{speed:g}x"
            topic = _topic(bs)
            child = ChildConsumer(bs, kind, topic)
            prod = _producer(bs, kind, topic).load_cache(cache)
            prod._pos = lap30
            ps = prod.stream_at_frequency(duration_seconds=duration, speed=speed)
            prod.close()
            cs = child.result()
            res[f"sent_{tag}"] = ps.sent
            res[f"consumed_{tag}"] = cs["processed"]
            res[f"achieved_rate_{tag}"] = ps.achieved_rate
            res[f"data_rate_{tag}"] = ps.data_rate
            res[f"rate_error_pct_{tag}"] = ps.rate_error_pct
            res[f"lateness_p50_ms_{tag}"] = ps.lateness_ms["p50"]
            res[f"lateness_p99_ms_{tag}"] = ps.lateness_ms["p99"]
            res[f"ack_p50_ms_{tag}"] = ps.ack_ms["p50"]
            for q in ("p50", "p95", "p99", "max"):
                res[f"e2e_{q}_ms_{tag}"] = cs["e2e_ms"][q]
            res[f"processing_p50_ms_{tag}"] = cs["processing_ms"]["p50"]
    finally:
        broker.stop()
    return res


ROWS = [
    ("produce_max_msg_s", "produce-only msg/s (max)"),
    ("consume_max_msg_s", "consume-only msg/s"),
    ("e2e_max_msg_s", "end-to-end msg/s (max)"),
    ("consume_join_s", "group join s"),
    ("data_rate_1x", "data rate 1x msg/s"),
    ("achieved_rate_1x", "achieved rate 1x msg/s"),
    ("rate_error_pct_1x", "rate error 1x %"),
    ("lateness_p50_ms_1x", "lateness p50 1x ms"),
    ("lateness_p99_ms_1x", "lateness p99 1x ms"),
    ("ack_p50_ms_1x", "produce ack p50 1x ms"),
    ("e2e_p50_ms_1x", "e2e p50 1x ms"),
    ("e2e_p95_ms_1x", "e2e p95 1x ms"),
    ("e2e_p99_ms_1x", "e2e p99 1x ms"),
    ("e2e_max_ms_1x", "e2e max 1x ms"),
    ("rate_error_pct_10x", "rate error 10x %"),
    ("lateness_p99_ms_10x", "lateness p99 10x ms"),
    ("e2e_p50_ms_10x", "e2e p50 10x ms"),
    ("e2e_p95_ms_10x", "e2e p95 10x ms"),
    ("e2e_p99_ms_10x", "e2e p99 10x ms"),
]


def table(results: list[dict[str, Any]]) -> str:
    kinds = [r["broker"] for r in results]
    head = f"{'metric':<26}{'target':<18}" + "".join(f"{k:>14}" for k in kinds)
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        vals = []
        for r in results:
            v = r.get(key)
            vals.append(f"{v:>14.3f}" if isinstance(v, float) else f"{v!s:>14}")
        lines.append(f"{label:<26}{TARGETS.get(key, ''):<18}" + "".join(vals))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="kafka,tansu", help="comma-separated: kafka, tansu")
    ap.add_argument("--quick", action="store_true", help="10k messages and 10 s replays")
    ap.add_argument("--messages", type=int, default=None, help="messages for the max-speed runs (default 50k)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per paced replay (default 30)")
    ap.add_argument("--linger-ms", type=int, default=None, help="override the producer's linger_ms")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--consumer-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--group", help=argparse.SUPPRESS)
    ap.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    ap.add_argument("--idle", type=float, default=4.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.consumer_child:
        consumer_child(a)
        return 0
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if a.linger_ms is not None:
        PRODUCER_OVERRIDES["linger_ms"] = a.linger_ms
    n_max = a.messages or (10_000 if a.quick else 50_000)
    duration = a.duration or (10.0 if a.quick else 30.0)
    from f1live.cache import ReplayCache
    from f1live.config import Settings
    from f1live.sources.fastf1_csv import load_fastf1_csv

    t = time.perf_counter()
    data = load_fastf1_csv(Settings(source="fastf1-csv", offline=True), progress=False)
    cache = ReplayCache.from_session(data)
    if not a.json:
        print(f"loaded {cache} in {time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} cores (numbers are noisy on a busy machine)", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="f1live-bench-") as tmp:
        for kind in [k.strip() for k in a.brokers.split(",") if k.strip()]:
            r = run_broker(kind, cache, n_max, duration, Path(tmp))
            r["load_avg_1m"] = round(os.getloadavg()[0], 2)
            results.append(r)
            if not a.json:
                print(f"{kind}: done", flush=True)
    out = {"bench": "streaming", "producer_overrides": PRODUCER_OVERRIDES, "messages_max": n_max, "replay_s": duration, "drivers": len(cache.drivers),
           "cores": os.cpu_count(), "results": results}
    if not a.json:
        print(table(results))
    line = json.dumps(out)
    print(line)
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
