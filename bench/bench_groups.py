"""Consumer-group hand-over: how long until a killed member's partitions are analysed again.

Per repeat: a fresh 4-partition topic; ``--members`` ``f1live consume --group`` processes
(the full analysis: ``default_processors``, so the models when ``models/`` has them); the
real 2023 Monaco race (all drivers, from lights out) replayed at ``--speed`` for
``--duration`` s; at a third of it one member is SIGKILLed. Measured from the survivors'
logs and summaries:

* ``detect_s``: kill -> the partitions' new assignment (the group notices after
  ``session.timeout.ms`` = 6 s, then rebalances);
* ``catch_up_ms``: assignment -> state current (checkpoint read and restored, the silent
  replay from the checkpoint to the committed offset done) and ``replayed`` messages;
* ``duplicates``: messages in two members' outputs (the killed one's last, uncommitted ones).

    .venv/bin/python bench/bench_groups.py                       # embedded Kafka, 3 repeats
    .venv/bin/python bench/bench_groups.py --speed 1 --duration 60 --repeats 2

Prints a table and one JSON line. On a shared 2-core machine the times are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_common import emit_json  # noqa: E402
from f1live.config import Settings  # noqa: E402


def _log_time(line: str) -> float:
    """Epoch seconds of a log line written with the CLI's format (``%(asctime)s``, local time)."""
    stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def one_run(settings: Settings, servers: str, cache: Any, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from f1live.consumer import owned_from_log
    from f1live.producer import RealTimeProducer
    from f1live.sinks import read_jsonl
    from f1live.topics import delete_topic, ensure_topic

    topic, group = f"bgrp-{uuid.uuid4().hex[:8]}", f"bgrp-{uuid.uuid4().hex[:8]}"
    ensure_topic(servers, topic, 4, client=args.client)
    env = dict(os.environ, PYTHONPATH=str(ROOT), F1LIVE_CLIENT=args.client, F1LIVE_RUN_DIR=str(work / "runs"))
    names = [f"m{k}" for k in range(1, args.members + 1)]
    procs = {}
    for name in names:
        cmd = [
            sys.executable,
            "-m",
            "f1live",
            "consume",
            "--group",
            group,
            "--topic",
            topic,
            "--bootstrap-servers",
            servers,
            "--timeout",
            str(args.duration + 120),
            "--idle-timeout",
            "8",
            "--out",
            str(work / f"{name}.jsonl"),
            "--member",
            name,
            "--json",
        ]
        with (work / f"{name}.log").open("wb") as err, (work / f"{name}.json").open("wb") as out:
            procs[name] = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    logs = {n: work / f"{n}.log" for n in names}

    def owned(name: str) -> set[int]:
        return owned_from_log(logs[name].read_text() if logs[name].exists() else "")

    try:
        deadline = time.monotonic() + 90
        while not (all(owned(n) for n in names) and sum(len(owned(n)) for n in names) == 4):
            if time.monotonic() > deadline:
                raise TimeoutError("members did not form a stable group within 90 s")
            time.sleep(0.2)
        prod = RealTimeProducer(settings.replace(topic=topic), servers, ensure_topic=False).load_cache(cache)
        prod.start(duration_seconds=args.duration, speed=args.speed)
        time.sleep(args.duration / 3)
        victim = names[-1]
        killed = owned(victim)
        procs[victim].send_signal(signal.SIGKILL)
        t_kill = time.time()
        summary = prod.join(args.duration + 60)
        prod.close()
        for n in names[:-1]:
            procs[n].wait(args.duration + 120)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        delete_topic(servers, topic, client=args.client)
    takeovers = []
    for n in names[:-1]:
        takeovers += [
            dict(t, member=n)
            for t in json.loads((work / f"{n}.json").read_text())["takeovers"]
            if t["partition"] in killed and t["source"] == "checkpoint"
        ]
    reassigned = [
        _log_time(line)
        for n in names[:-1]
        for line in logs[n].read_text().splitlines()
        if "assigned [" in line and _log_time(line) > t_kill
    ]
    keys: dict[tuple[str, str, int], int] = {}
    for n in names:
        for r in read_jsonl(work / f"{n}.jsonl"):
            k = (r["run"], r["driver"], r["seq"])
            keys[k] = keys.get(k, 0) + 1
    return {
        "speed": args.speed,
        "members": args.members,
        "client": args.client,
        "killed_partitions": sorted(killed),
        "produced": summary.acked if summary else None,
        "processed_unique": len(keys),
        "duplicates": sum(v - 1 for v in keys.values()),
        "detect_s": round(min(reassigned) - t_kill, 3) if reassigned else None,
        "catch_up_ms": [t["catch_up_ms"] for t in takeovers],
        "replayed": [t["replayed"] for t in takeovers],
        "restore_ms": [t["restore_ms"] for t in takeovers],
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=30.0, help="wall seconds of replay per repeat")
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--client", default="confluent")
    ap.add_argument("--bootstrap-servers", default=None)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    from f1live.broker import start_broker
    from f1live.cache import ReplayCache
    from f1live.sources import load_session

    settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers)
    if settings.source == "auto":
        settings = settings.replace(source="fastf1-csv", offline=True)
    load0 = os.getloadavg()
    data = load_session(settings, progress=False)
    cache = ReplayCache.from_frame(data.telemetry, meta=dict(data.meta))
    broker = None
    servers = settings.bootstrap_servers
    with tempfile.TemporaryDirectory(prefix="bench-groups-") as tmp:
        if servers is None:
            broker = start_broker(settings.replace(run_dir=Path(tmp) / "broker"), kind="kafka", fresh=True)
            servers = broker.bootstrap_servers
        runs = []
        try:
            for rep in range(args.repeats):
                work = Path(tmp) / f"rep{rep}"
                work.mkdir()
                r = one_run(settings, servers, cache, args, work)
                runs.append(r)
                print(
                    f"[{rep + 1}/{args.repeats}] killed {r['killed_partitions']}: detect {r['detect_s']} s, "
                    f"catch-up {r['catch_up_ms']} ms (replayed {r['replayed']}, restore {r['restore_ms']} ms), "
                    f"{r['duplicates']} duplicates, {r['processed_unique']}/{r['produced']} messages, "
                    f"load {r['load_avg_1m']}",
                    flush=True,
                )
        finally:
            if broker is not None:
                broker.stop()
    emit_json(
        {
            "bench": "groups",
            "load_avg_before": list(load0),
            "load_avg_after": list(os.getloadavg()),
            "analysis_models_dir": str(settings.models_dir),
            "runs": runs,
        },
        args.json_out,
    )
    return 0 if all(r["processed_unique"] == r["produced"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
