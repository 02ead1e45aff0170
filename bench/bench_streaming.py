"""Streaming benchmark: throughput, end-to-end latency and pacing on Apache Kafka and Tansu,
per Kafka client library, next to the bare client's latency from the same run.

For each broker kind (a fresh embedded broker each, free ports) and each client
(``--client confluent,kafka-python``, both by default; one broker serves both) on the real
2023 Monaco Race (full field, 20 drivers, from ``../shared/data``):

* ``produce_max``: producer at ``speed=max`` -> msg/s until every message is acked;
* ``consume_max``: a fresh group reads those messages back -> msg/s;
* ``e2e_max``: producer at max while a consumer runs -> msg/s from first send to last processed;
* ``1x`` / ``10x``: replay from lap 30 for ``--duration`` s while a consumer runs ->
  end-to-end latency p50/p95/p99 (processed - ``produced_at_ns``; the first 2 s of traffic
  after the consumer joined, its start-up, reported apart as in the baseline:
  ``bench_kafka_baseline.WARMUP_S``), achieved rate vs data rate, schedule lateness p50/p99;
* ``1x analysed`` (``--analyse``, on in ``run_all.py``): the 1x replay again with the consumer's
  default analysis (features, River + rules, the trained models of ``--models`` when present),
  as the dashboard's consumer runs it; set against the same run's bare client;
* ``bare 1x`` / ``bare 10x`` (on by default; ``--no-baseline`` skips them): the paced replay
  runs in ``--rounds`` rounds, each followed by the bare client library with the same
  settings sending the same pattern (bursts of 20, every 240 ms / 24 ms) for as long on the
  same broker (:func:`bench_kafka_baseline.run_pattern`); each side's latencies are pooled
  over the rounds. f1live's e2e p50/p99 over the bare client's is the ratio in the report:
  one run, interleaved, so a drift in the machine's load hits both sides.

The consumer runs in a child process (as a separate service would), so producer and
consumer do not share a GIL. Prints a table (targets beside the numbers) and one JSON line.

    .venv/bin/python bench/bench_streaming.py            # ~4 min
    .venv/bin/python bench/bench_streaming.py --quick    # ~2 min: 10k messages, 20 s replays
    .venv/bin/python bench/bench_streaming.py --brokers kafka --client confluent --json-out bench/results/streaming.json
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
    "e2e_p50_ratio_1x": "<= 1.3x bare",
    "e2e_p50_ratio_10x": "<= 1.3x bare",
}


# --------------------------------------------------------------------------- consumer child
def consumer_child(a: argparse.Namespace) -> None:
    import logging

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_kafka_baseline

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    from f1live.config import Settings
    from f1live.consumer import RealTimeConsumer

    s = Settings(topic=a.topic, consumer_group=a.group, dlq_topic=a.topic + ".dlq", client=a.client)
    if a.models:
        s = s.replace(models_dir=Path(a.models))
    cons = RealTimeConsumer(s, bootstrap_servers=a.bootstrap, broker_kind=a.kind, analyse=a.analyse)
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
    # The consumer's start-up (the first a.warmup messages) is reported apart, as the bare baseline does.
    from f1live.metrics import percentiles

    every = cons.e2e_ms.window_values()
    vals = every[a.warmup :]
    out["e2e_samples"] = [round(float(x), 4) for x in vals]
    out["startup_samples"] = [round(float(x), 4) for x in every[: a.warmup]]
    if len(vals):
        out["e2e_ms_with_startup"] = out["e2e_ms"]
        out["e2e_ms"] = {**percentiles(vals, (50, 95, 99)), "max": float(vals.max()), "count": int(len(vals))}
    out.update(first_batch_wall=first_wall, last_batch_wall=last_wall)
    if a.analyse:
        meta = [p.metadata() for p in cons.processors or () if hasattr(p, "metadata")]
        out["models"] = sorted(m for md in meta for m in md.get("models", {}))
    print(json.dumps(out, default=str), flush=True)


class ChildConsumer:
    def __init__(
        self,
        bootstrap: str,
        kind: str,
        client: str,
        topic: str,
        *,
        expect: int = 0,
        timeout: float = 120.0,
        idle: float = 4.0,
        warmup: int = 0,
        analyse: bool = False,
        models: str | None = None,
    ) -> None:
        cmd = [sys.executable, __file__, "--consumer-child", "--bootstrap", bootstrap, "--kind", kind, "--client", client,
               "--topic", topic, "--group", f"bench-{uuid.uuid4().hex[:8]}", "--expect", str(expect),
               "--timeout", str(timeout), "--idle", str(idle), "--warmup", str(warmup),
               *(["--analyse"] if analyse else []), *(["--models", models] if models else [])]  # fmt: skip
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


def _producer(bootstrap: str, kind: str, client: str, topic: str) -> Any:
    from f1live.config import Settings
    from f1live.producer import RealTimeProducer

    return RealTimeProducer(
        Settings(topic=topic, client=client),
        bootstrap_servers=bootstrap,
        broker_kind=kind,
        ensure_topic=False,
        producer_overrides=dict(PRODUCER_OVERRIDES),
    )


def run_broker(
    kind: str,
    cache: Any,
    n_max: int,
    duration: float,
    run_dir: Path,
    clients: list[str],
    baseline: bool,
    rounds: int = 2,
    analyse: bool = False,
    models: str | None = None,
) -> list[dict[str, Any]]:
    """Start one broker of ``kind``; run every client's series on it (see the module docstring)."""
    from f1live.broker import start_broker
    from f1live.config import Settings

    settings = Settings.from_env().replace(run_dir=run_dir / kind, bootstrap_servers=None, broker="auto")
    broker = start_broker(settings, kind=kind, fresh=True)
    try:
        return [
            run_client(kind, client, broker, cache, n_max, duration, baseline, rounds, analyse, models)
            for client in clients
        ]
    finally:
        broker.stop()


def _mean(xs: list[float | None], digits: int = 3) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return round(sum(vals) / len(vals), digits) if vals else None


def run_client(
    kind: str,
    client: str,
    broker: Any,
    cache: Any,
    n_max: int,
    duration: float,
    baseline: bool,
    rounds: int = 2,
    analyse: bool = False,
    models: str | None = None,
) -> dict[str, Any]:
    from bench_kafka_baseline import run_pattern, warmup_messages

    bs = broker.bootstrap_servers
    res: dict[str, Any] = {
        "broker": kind,
        "client": client,
        "bootstrap": bs,
        "broker_start_s": round(broker.start_seconds, 2),
    }
    lap30 = cache.index_of_lap(30)
    # -- produce only, then consume only
    topic = _topic(bs)
    prod = _producer(bs, kind, client, topic).load_cache(cache)
    t = time.perf_counter()
    ps = prod.stream_at_frequency(speed="max", max_messages=n_max, start_lap=30)
    dt = time.perf_counter() - t
    prod.close()
    res["produce_max_msg_s"] = round(ps.acked / dt, 1)
    res["produce_max_failed"] = ps.failed
    child = ChildConsumer(bs, kind, client, topic, expect=ps.acked)
    cs = child.result()
    res["consume_max_msg_s"] = cs["rate"]
    res["consume_join_s"] = cs["join_s"]
    res["consume_max_processed"] = cs["processed"]
    # -- end to end at max speed
    topic = _topic(bs)
    child = ChildConsumer(bs, kind, client, topic, expect=n_max)
    prod = _producer(bs, kind, client, topic).load_cache(cache)
    t_wall = time.time()
    ps = prod.stream_at_frequency(speed="max", max_messages=n_max, start_lap=30)
    prod.close()
    cs = child.result()
    if cs["last_batch_wall"] is None:
        print(f"WARNING {kind}/{client}: the e2e consumer processed nothing: {cs}", file=sys.stderr, flush=True)
        res["e2e_max_msg_s"] = None
    else:
        res["e2e_max_msg_s"] = round(cs["processed"] / (cs["last_batch_wall"] - t_wall), 1)
    res["e2e_max_processed"] = cs["processed"]
    # -- paced replays, in rounds: f1live for duration/rounds seconds, then the bare client for as
    # long, repeated; each side's samples are pooled, so a drift in the machine's load hits both.
    from f1live.metrics import percentiles

    runs = [(1.0, False), (10.0, False), *([(1.0, True)] if analyse else [])]
    for speed, analysed in runs:
        tag = f"{speed:g}x" + ("_analysed" if analysed else "")
        with_bare = baseline and not analysed  # the analysed replay is set against the 1x bare rounds
        seg = duration / rounds
        pos = lap30
        f1: list[float] = []
        bare_s: list[float] = []
        f1_start: list[float] = []
        bare_start: list[float] = []
        sums = []
        consumed = 0
        bare_got = bare_sent = 0
        bare_acks = []
        for _ in range(rounds):
            topic = _topic(bs)
            child = ChildConsumer(
                bs, kind, client, topic, warmup=warmup_messages(speed), analyse=analysed, models=models
            )
            prod = _producer(bs, kind, client, topic).load_cache(cache)
            prod._pos = pos
            ps = prod.stream_at_frequency(duration_seconds=seg, speed=speed)
            pos = prod._pos  # the next round continues the race where this one stopped
            prod.close()
            cs = child.result()
            sums.append(ps)
            consumed += cs["processed"]
            f1 += cs["e2e_samples"]
            f1_start += cs["startup_samples"]
            if analysed:
                res["models_analysed"] = cs.get("models")
            if with_bare:  # the bare client, same pattern and broker, right after f1live's round
                bare = run_pattern(bs, kind, client, speed=speed, seconds=seg)
                bare_s += bare["samples"]
                bare_start.append(bare["startup_max_ms"])
                bare_got += bare["received"]
                bare_sent += bare["messages"]
                bare_acks.append(bare["ack_p50_ms"])
        res[f"sent_{tag}"] = sum(p.sent for p in sums)
        res[f"consumed_{tag}"] = consumed
        res[f"achieved_rate_{tag}"] = _mean([p.achieved_rate for p in sums])
        res[f"data_rate_{tag}"] = _mean([p.data_rate for p in sums])
        res[f"rate_error_pct_{tag}"] = _mean([p.rate_error_pct for p in sums], 4)
        res[f"lateness_p50_ms_{tag}"] = _mean([p.lateness_ms["p50"] for p in sums])
        res[f"lateness_p99_ms_{tag}"] = max(p.lateness_ms["p99"] for p in sums)
        res[f"ack_p50_ms_{tag}"] = _mean([p.ack_ms["p50"] for p in sums])
        pf = percentiles(f1, (50, 95, 99))
        for q in ("p50", "p95", "p99"):
            res[f"e2e_{q}_ms_{tag}"] = round(pf[q], 3)
        res[f"e2e_max_ms_{tag}"] = round(max(f1), 3) if f1 else None
        res[f"e2e_startup_p99_ms_{tag}"] = round(percentiles(f1_start, (99,))["p99"], 3) if f1_start else None
        res[f"e2e_startup_max_ms_{tag}"] = round(max(f1_start), 3) if f1_start else None
        res[f"warmup_messages_{tag}"] = warmup_messages(speed)
        res[f"load_avg_1m_{tag}"] = round(os.getloadavg()[0], 2)
        res[f"rounds_{tag}"] = rounds
        if analysed and res.get("bare_e2e_p50_ms_1x"):
            for q in ("p50", "p99"):
                f, b = res[f"e2e_{q}_ms_{tag}"], res[f"bare_e2e_{q}_ms_1x"]
                res[f"e2e_{q}_ratio_{tag}"] = round(f / b, 2) if b and b == b and f == f else None
        if with_bare:
            pb = percentiles(bare_s, (50, 99))
            res[f"bare_e2e_p50_ms_{tag}"] = round(pb["p50"], 3)
            res[f"bare_e2e_p99_ms_{tag}"] = round(pb["p99"], 3)
            res[f"bare_ack_p50_ms_{tag}"] = _mean(bare_acks)
            res[f"bare_received_{tag}"] = f"{bare_got}/{bare_sent}"
            res[f"bare_startup_max_ms_{tag}"] = max((x for x in bare_start if x is not None), default=None)
            for q in ("p50", "p99"):
                f, b = res[f"e2e_{q}_ms_{tag}"], res[f"bare_e2e_{q}_ms_{tag}"]
                res[f"e2e_{q}_ratio_{tag}"] = round(f / b, 2) if b and b == b and f == f else None
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
    ("e2e_startup_p99_ms_1x", "e2e p99 1x, first 2 s of a consumer ms"),
    ("e2e_startup_max_ms_1x", "e2e max 1x, first 2 s of a consumer ms"),
    ("bare_startup_max_ms_1x", "bare client e2e max 1x, first 2 s ms"),
    ("rate_error_pct_10x", "rate error 10x %"),
    ("lateness_p99_ms_10x", "lateness p99 10x ms"),
    ("e2e_p50_ms_10x", "e2e p50 10x ms"),
    ("e2e_p95_ms_10x", "e2e p95 10x ms"),
    ("e2e_p99_ms_10x", "e2e p99 10x ms"),
    ("e2e_p50_ms_1x_analysed", "e2e p50 1x with analysis ms"),
    ("e2e_p99_ms_1x_analysed", "e2e p99 1x with analysis ms"),
    ("e2e_startup_max_ms_1x_analysed", "e2e max 1x with analysis, first 2 s ms"),
    ("bare_e2e_p50_ms_1x", "bare client e2e p50 1x ms"),
    ("bare_e2e_p99_ms_1x", "bare client e2e p99 1x ms"),
    ("e2e_p50_ratio_1x", "f1live/bare e2e p50 1x"),
    ("e2e_p99_ratio_1x", "f1live/bare e2e p99 1x"),
    ("e2e_p50_ratio_1x_analysed", "f1live with analysis/bare e2e p50 1x"),
    ("e2e_p99_ratio_1x_analysed", "f1live with analysis/bare e2e p99 1x"),
    ("bare_e2e_p50_ms_10x", "bare client e2e p50 10x ms"),
    ("bare_e2e_p99_ms_10x", "bare client e2e p99 10x ms"),
    ("e2e_p50_ratio_10x", "f1live/bare e2e p50 10x"),
    ("e2e_p99_ratio_10x", "f1live/bare e2e p99 10x"),
    ("load_avg_1m_1x", "load average after 1x"),
]


def table(results: list[dict[str, Any]]) -> str:
    kinds = [f"{r['broker']}/{r.get('client', '')}" for r in results]
    w = max(len(label) for _, label in ROWS) + 2
    head = f"{'metric':<{w}}{'target':<16}" + "".join(f"{k:>22}" for k in kinds)
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        vals = []
        for r in results:
            v = r.get(key)
            vals.append(f"{v:>22.3f}" if isinstance(v, float) else f"{v!s:>22}")
        lines.append(f"{label:<{w}}{TARGETS.get(key, ''):<16}" + "".join(vals))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="kafka,tansu", help="comma-separated: kafka, tansu")
    ap.add_argument("--quick", action="store_true", help="10k messages and 20 s replays")
    ap.add_argument("--messages", type=int, default=None, help="messages for the max-speed runs (default 50k)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per paced replay (default 30)")
    ap.add_argument(
        "--client",
        default="confluent,kafka-python",
        help="Kafka client(s), comma-separated: confluent, kafka-python (default: both)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="paced replays in this many alternating f1live / bare rounds (default 3, --quick 2)",
    )
    ap.add_argument(
        "--no-baseline", action="store_true", help="skip the bare client's patterns after the paced replays (no ratios)"
    )
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
    ap.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--analyse",
        action="store_true",
        help="also replay 1x with the consumer's default analysis (features, River + rules, models of --models)",
    )
    ap.add_argument("--models", default=None, help="trained models for --analyse (default: the settings' models/)")
    a = ap.parse_args(argv)
    if a.consumer_child:
        consumer_child(a)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_kafka_baseline
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if a.linger_ms is not None:
        PRODUCER_OVERRIDES["linger_ms"] = a.linger_ms
    n_max = a.messages or (10_000 if a.quick else 50_000)
    duration = a.duration or (20.0 if a.quick else 30.0)
    from f1live.cache import ReplayCache
    from f1live.config import Settings
    from f1live.sources.fastf1_csv import load_fastf1_csv

    t = time.perf_counter()
    data = load_fastf1_csv(Settings(source="fastf1-csv", offline=True), progress=False)
    cache = ReplayCache.from_session(data)
    if not a.json:
        print(
            f"loaded {cache} in {time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} cores (numbers are noisy on a busy machine)",
            flush=True,
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="f1live-bench-") as tmp:
        clients = [c.strip() for c in a.client.split(",") if c.strip()]
        for kind in [k.strip() for k in a.brokers.split(",") if k.strip()]:
            for r in run_broker(
                kind,
                cache,
                n_max,
                duration,
                Path(tmp),
                clients,
                not a.no_baseline,
                a.rounds or (2 if a.quick else 3),
                a.analyse,
                a.models,
            ):
                r["load_avg_1m"] = round(os.getloadavg()[0], 2)
                results.append(r)
                if not a.json:
                    print(f"{kind}/{r['client']}: done (load average {r['load_avg_1m']})", flush=True)
    out = {
        "bench": "streaming",
        "producer_overrides": PRODUCER_OVERRIDES,
        "messages_max": n_max,
        "replay_s": duration,
        "drivers": len(cache.drivers),
        "cores": os.cpu_count(),
        "results": results,
    }
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
