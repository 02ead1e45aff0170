"""Weak scaling per Kafka client: N=1 and N=2 at the max rate, confluent and kafka-python interleaved.

Answers "did the N=2 efficiency drop with the confluent client?" with the same runs for both
clients, and the CPU accounting that tells starvation from costlier messages:

* ``efficiency``: throughput(2) / (2 x throughput(1)) of the same repeat;
* ``msgs_per_cpu_s``: messages per consumer-thread CPU-second (flat across N: the code does
  not do more per message);
* ``other_threads_cores``: the worker process's CPU outside its consumer thread (librdkafka's
  C threads; kafka-python 3.0's I/O thread, which holds the GIL).

``--fetch-cost`` also drains ``--fetch-messages`` from one partition with bare consumers of
both clients (no analysis) and reports the broker JVM's and the client's CPU per message,
against the analysis's CPU per message.

    .venv/bin/python bench/bench_scaling_clients.py --messages 2000,20000 --repeats 3
    .venv/bin/python bench/bench_scaling_clients.py --repeats 1 --fetch-cost

Prints one line per point and one JSON object. The numbers are only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_common import emit_json  # noqa: E402
from f1live.config import Settings  # noqa: E402


def scaling_points(settings: Settings, data: Any, servers: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from f1live.scaling import ScaleConfig, run_experiment

    out = []
    for rep in range(args.repeats):
        for messages in args.messages:
            for client in args.clients:
                cfg = ScaleConfig(
                    consumers=(1, 2),
                    modes=("process",),
                    rates=("max",),
                    messages_per_stream=messages,
                    drivers_per_stream=20,
                    timeout=300,
                )
                load = os.getloadavg()[0]
                res = run_experiment(
                    settings.replace(client=client),
                    cfg,
                    data=data,
                    bootstrap_servers=servers,
                    broker_kind="kafka",
                    save=False,
                )
                for row in res.table.to_dict("records"):
                    cores = row["cpu_util_pct"] * (row["cpu_count"] or 1) / 100
                    rec = {
                        "repeat": rep,
                        "client": client,
                        "messages": messages,
                        "load_avg_1m": round(load, 2),
                        "consumers": row["consumers"],
                        "throughput_msgs_s": row["throughput_msgs_s"],
                        "efficiency": row["efficiency"],
                        "msgs_per_cpu_s": row["msgs_per_cpu_s"],
                        "cpu_efficiency": row["cpu_efficiency"],
                        "consumer_cpu_pct": row["consumer_cpu_pct"],
                        "other_threads_cores": round(cores - row["consumers"] * row["consumer_cpu_pct"] / 100, 3),
                        "system_cpu_pct": row["system_cpu_pct"],
                        "wall_s": row["wall_s"],
                        "delivery_ok": row["delivery_ok"],
                    }
                    out.append(rec)
                    print(
                        f"[{rep + 1}/{args.repeats}] {client:>12} {messages:>6} N={rec['consumers']}: "
                        f"{rec['throughput_msgs_s']:>9.1f} msg/s eff {rec['efficiency']:.2f} "
                        f"work/CPU-s {rec['msgs_per_cpu_s']:,.0f} consumer on CPU {rec['consumer_cpu_pct']:.0f} % "
                        f"other threads {rec['other_threads_cores']:.3f} cores, machine {rec['system_cpu_pct']:.0f} % "
                        f"busy, load {load:.1f}",
                        flush=True,
                    )
    return out


def fetch_cost(settings: Settings, data: Any, broker: Any, n: int) -> dict[str, Any]:
    """Broker and client CPU per message drained by bare consumers; the analysis's CPU per message."""
    import psutil

    from f1live.analysis import default_processors
    from f1live.cache import ReplayCache
    from f1live.clients import make_consumer
    from f1live.features import table_messages
    from f1live.producer import RealTimeProducer
    from f1live.topics import ensure_topic

    jvm = [psutil.Process(p) for p in broker.pids]

    def broker_cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in jvm)

    def own_cpu() -> float:
        t = os.times()
        return t.user + t.system

    topic = f"fetch-cost-{int(time.time())}"
    ensure_topic(broker.bootstrap_servers, topic, 1)
    s = settings.replace(topic=topic)
    b0 = broker_cpu()
    prod = RealTimeProducer(s, broker.bootstrap_servers, ensure_topic=False, broker_kind="kafka")
    prod.load_cache(ReplayCache.from_frame(data.telemetry, meta=dict(data.meta))).start(max_messages=n, speed=0.0)
    summary = prod.join(600)
    prod.close()
    assert summary is not None
    out: dict[str, Any] = {
        "messages": summary.acked,
        "broker_cpu_us_per_msg_produce": round((broker_cpu() - b0) / summary.acked * 1e6, 2),
    }
    for client in ("confluent", "kafka-python", "confluent", "kafka-python"):
        cons = make_consumer(broker.bootstrap_servers, client=client, kind="kafka", group_id=None)
        cons.assign(topic, [0])
        got, b0, c0, t0 = 0, broker_cpu(), own_cpu(), time.monotonic()
        while got < summary.acked and time.monotonic() - t0 < 300:
            got += len(cons.poll(0.5, 250))
        b1, c1 = broker_cpu(), own_cpu()
        cons.close()
        out.setdefault(client, []).append(
            {
                "broker_cpu_us_per_msg_fetch": round((b1 - b0) / got * 1e6, 2),
                "client_cpu_us_per_msg": round((c1 - c0) / got * 1e6, 2),
            }
        )
    proc = default_processors(s)
    msgs = table_messages(data.telemetry.sort_values("session_time").iloc[:20_000])
    t0 = time.thread_time()
    for i in range(0, len(msgs), 250):
        proc.processors[0].process_batch(msgs[i : i + 250])
    out["analysis_cpu_us_per_msg"] = round((time.thread_time() - t0) / len(msgs) * 1e6, 2)
    out["analysis"] = proc.label
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", default="2000,20000", help="backlogs per stream, comma-separated")
    ap.add_argument("--clients", default="confluent,kafka-python")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fetch-cost", action="store_true", help="also measure broker/client/analysis CPU per message")
    ap.add_argument("--fetch-messages", type=int, default=100_000)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    args.messages = [int(m) for m in args.messages.split(",")]
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    from f1live.broker import start_broker
    from f1live.sources import load_session

    settings = Settings.from_env()
    if settings.source == "auto":
        settings = settings.replace(source="fastf1-csv", offline=True)
    load0 = os.getloadavg()
    data = load_session(settings, progress=False)
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp:
        broker = start_broker(settings.replace(run_dir=Path(tmp)), kind="kafka", fresh=True)
        try:
            points = scaling_points(settings, data, broker.bootstrap_servers, args)
            fetch = fetch_cost(settings, data, broker, args.fetch_messages) if args.fetch_cost else None
        finally:
            broker.stop()
    emit_json(
        {
            "bench": "scaling_clients",
            "load_avg_before": list(load0),
            "load_avg_after": list(os.getloadavg()),
            "points": points,
            "fetch_cost": fetch,
        },
        args.json_out,
    )
    return 0 if all(p["delivery_ok"] for p in points) else 1


if __name__ == "__main__":
    raise SystemExit(main())
