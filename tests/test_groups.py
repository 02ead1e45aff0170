"""Consumer-group scale-out on the real Apache Kafka: rebalances, hand-over of the analysis
state, duplicates around a kill (f1live.consumer group mode, f1live.handover).

The analysis compared is what ``default_processors`` runs without trained models in the
test settings: per-driver features, rule and River anomaly detection. Warm-up window of
the comparison: none - the state is handed over exactly (checkpoint + silent replay), so
every message's results after a rebalance equal a single consumer's, from the first one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from f1live.cache import ReplayCache
from f1live.config import PROJECT_ROOT, Settings
from f1live.consumer import RealTimeConsumer, owned_from_log
from f1live.delivery import DeliveryTracker, delivery_report
from f1live.producer import RealTimeProducer
from f1live.sinks import JsonLinesSink, read_jsonl
from f1live.sources.fastf1_csv import load_fastf1_csv
from f1live.topics import ensure_topic
from tests.fixtures_broker import unique_name
from tests.fixtures_streaming import CLIENTS

Key = tuple[str, str, int]


@pytest.fixture(scope="module")
def grid_cache(slice_settings: Settings) -> ReplayCache:
    """All 20 drivers of the real 2023 race (the repository's slice), so 4 partitions all get drivers."""
    race = load_fastf1_csv(slice_settings, progress=False)
    return ReplayCache.from_frame(race.telemetry, meta=dict(race.meta))


def _topic(settings: Settings, broker: Any, client: str) -> Settings:
    name = unique_name("grp")
    s = settings.replace(
        bootstrap_servers=broker.bootstrap_servers,
        broker=broker.kind,
        topic=name,
        dlq_topic=f"{name}.dlq",
        client=client,
        consumer_group=unique_name("g"),
    )
    ensure_topic(broker.bootstrap_servers, name, 4, client=client)
    return s


def _outputs(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    return {p.stem: list(read_jsonl(p)) if p.exists() else [] for p in paths}


def _key(r: dict[str, Any]) -> Key:
    return (r["run"], r["driver"], r["seq"])


def _results(rows: list[dict[str, Any]]) -> dict[Key, str]:
    return {_key(r): json.dumps(r["results"], sort_keys=True) for r in rows}


def _single_consumer(settings: Settings, out: Path) -> dict[Key, str]:
    """The reference: one consumer (a group of its own) reads every partition of the topic."""
    with JsonLinesSink(out, member="single") as sink:
        cons = RealTimeConsumer(settings, group_id=unique_name("single"), sink=sink)
        summary = cons.consume_messages(timeout_seconds=90, idle_timeout=4)
    assert summary.processor_errors == 0 and summary.dlq == 0
    return _results(list(read_jsonl(out)))


def _wait(what: str, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def _owned(log: Path) -> set[int]:
    return owned_from_log(log.read_text() if log.exists() else "")


def _stable(logs: list[Path], partitions: int = 4) -> bool:
    sets = [_owned(p) for p in logs]
    return all(sets) and sum(len(s) for s in sets) == partitions and set().union(*sets) == set(range(partitions))


def test_three_member_processes_one_killed_one_added(
    kafka_broker: Any, grid_cache: ReplayCache, settings: Settings, tmp_path: Path
) -> None:
    """Three ``f1live consume --group`` processes on the 4-partition topic; one SIGKILLed
    mid-stream, one added later: every message processed, duplicates only from the killed
    member's last uncommitted messages (dropped by seq), results equal a single consumer's."""
    s = _topic(settings, kafka_broker, "confluent")
    env = dict(
        os.environ,
        PYTHONPATH=str(PROJECT_ROOT),
        F1LIVE_MODELS_DIR=str(s.models_dir),
        F1LIVE_RUN_DIR=str(s.run_dir),
        F1LIVE_CLIENT="confluent",
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def member(name: str) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "f1live",
            "consume",
            "--group",
            s.consumer_group,
            "--topic",
            s.topic,
            "--bootstrap-servers",
            kafka_broker.bootstrap_servers,
            "--timeout",
            "150",
            "--idle-timeout",
            "8",
            "--out",
            str(tmp_path / f"{name}.jsonl"),
            "--member",
            name,
            "--json",
        ]
        with (tmp_path / f"{name}.log").open("wb") as err, (tmp_path / f"{name}.json").open("wb") as out:
            procs[name] = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=tmp_path)
        return procs[name]

    logs = [tmp_path / f"m{k}.log" for k in (1, 2, 3)]
    prod = RealTimeProducer(
        s, kafka_broker.bootstrap_servers, ensure_topic=False, broker_kind=kafka_broker.kind
    ).load_cache(grid_cache)
    try:
        for k in (1, 2, 3):
            member(f"m{k}")
        _wait("three members in a stable group", lambda: _stable(logs), 60)
        prod.start(duration_seconds=24, speed=10.0)
        _wait(
            "m2 to have processed messages",
            lambda: (tmp_path / "m2.jsonl").exists() and (tmp_path / "m2.jsonl").stat().st_size > 50_000,
            30,
        )
        killed_owned = _owned(tmp_path / "m2.log")
        procs["m2"].send_signal(signal.SIGKILL)
        t_kill = time.time_ns()
        time.sleep(8)  # the group notices after session.timeout.ms (6 s) and rebalances
        member("m4")
        summary = prod.join(60)
        assert summary is not None and summary.ok, summary
        for name in ("m1", "m3", "m4"):
            assert procs[name].wait(90) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
    finally:
        prod.close()
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    outs = _outputs([tmp_path / f"m{k}.jsonl" for k in (1, 2, 3, 4)])
    assert all(outs[m] for m in ("m1", "m2", "m3", "m4")), {m: len(v) for m, v in outs.items()}

    # every message processed: the union over the members, de-duplicated by (run, driver, seq)
    tracker = DeliveryTracker()
    rows = sorted((r for rs in outs.values() for r in rs), key=lambda r: (r["driver"], r["seq"]))
    for r in rows:
        tracker.accept(r["run"], r["driver"], r["seq"])
    report = delivery_report(summary, tracker)
    assert report.ok, report.table()

    # duplicates: only the killed member's last messages of each driver (after its last commit)
    copies: dict[Key, list[dict[str, Any]]] = {}
    for r in rows:
        copies.setdefault(_key(r), []).append(r)
    dups = {k: v for k, v in copies.items() if len(v) > 1}
    assert tracker.duplicates == sum(len(v) - 1 for v in dups.values())
    m2_last: dict[str, int] = {}
    for r in outs["m2"]:
        m2_last[r["driver"]] = max(m2_last.get(r["driver"], -1), r["seq"])
    for (_run, driver, seq), versions in dups.items():
        assert len(versions) == 2 and "m2" in {v["member"] for v in versions}, versions
        assert versions[0]["partition"] in killed_owned
        assert all(
            _key(r) in copies and len(copies[_key(r)]) == 2
            for r in outs["m2"]
            if r["driver"] == driver and seq <= r["seq"] <= m2_last[driver]
        )
        assert versions[0]["results"] == versions[1]["results"]  # the same state gave the same results

    # the killed member's partitions were taken over from its checkpoints; catch-up measured
    takeovers = [t for m in ("m1", "m3", "m4") for t in json.loads((tmp_path / f"{m}.json").read_text())["takeovers"]]
    moved = [t for t in takeovers if t["partition"] in killed_owned and t["source"] == "checkpoint"]
    assert moved and all(t["catch_up_ms"] is not None for t in moved), takeovers
    print(
        f"\n[groups] killed m2 (owned {sorted(killed_owned)}) at {t_kill}; {len(dups)} duplicates dropped; "
        f"take-overs: "
        + "; ".join(
            f"p{t['partition']} {t['source']} replayed {t['replayed']} in {t['catch_up_ms']} ms"
            for t in takeovers
            if t["source"] != "kept"
        )
    )

    # each driver's results after the rebalances equal a single consumer's (no warm-up window)
    single = _single_consumer(s, tmp_path / "single.jsonl")
    union = {k: json.dumps(v[0]["results"], sort_keys=True) for k, v in copies.items()}
    assert union.keys() == single.keys()
    differ = [k for k in single if union[k] != single[k]]
    assert not differ, f"{len(differ)} of {len(single)} results differ, first {differ[:3]}"


@CLIENTS
def test_state_moves_with_the_partitions(
    kafka_broker: Any, grid_cache: ReplayCache, settings: Settings, kafka_client: str, tmp_path: Path
) -> None:
    """In-process, per client: a second member joins mid-stream (partitions move with a
    checkpoint, no replay), then the first leaves (they move back); results equal a single
    consumer's for every message, and the hand-overs are recorded with their catch-up times."""
    s = _topic(settings, kafka_broker, kafka_client)
    prod = RealTimeProducer(
        s, kafka_broker.bootstrap_servers, ensure_topic=False, broker_kind=kafka_broker.kind
    ).load_cache(grid_cache)
    sinks = [JsonLinesSink(tmp_path / f"c{k}.jsonl", member=f"c{k}").open() for k in (1, 2)]
    a, b = (RealTimeConsumer(s, sink=sk) for sk in sinks)
    try:
        a.start(timeout_seconds=90)
        prod.start(duration_seconds=12, speed=10.0)
        _wait("the first member to process", lambda: a.processed >= 500, 30)
        b.start(timeout_seconds=90)
        _wait("the second member to process", lambda: b.processed >= 500, 30)
        a.stop()
        sa = a.join(30)
        summary = prod.join(60)
        assert summary is not None and summary.ok
        _wait("every message processed", lambda: a.processed + b.processed >= summary.acked, 40)
        b.stop()
        sb = b.join(30)
    finally:
        prod.close()
        for c in (a, b):
            c.close()
        for sk in sinks:
            sk.close()
    assert sa is not None and sb is not None
    takeovers = sa.takeovers + sb.takeovers
    assert any(t["source"] == "checkpoint" for t in sb.takeovers), takeovers
    rows = [r for k in (1, 2) for r in read_jsonl(tmp_path / f"c{k}.jsonl")]
    tracker = DeliveryTracker()
    for r in sorted(rows, key=lambda r: (r["driver"], r["seq"])):
        tracker.accept(r["run"], r["driver"], r["seq"])
    assert delivery_report(summary, tracker).ok
    single = _single_consumer(s, tmp_path / "single.jsonl")
    got = _results(rows)
    assert got == single


class _MemoryStore:
    """A :class:`f1live.handover.CheckpointStore` stand-in: the newest checkpoint per partition, encoded."""

    def __init__(self) -> None:
        self.saved: dict[int, bytes] = {}

    def save(self, cp: Any) -> None:
        self.saved[cp.partition] = cp.encode()

    def flush(self, timeout: float = 10.0) -> None:
        pass

    def load(self, partition: int) -> Any:
        from f1live.handover import Checkpoint

        data = self.saved.get(partition)
        return None if data is None else Checkpoint.decode(data)

    def close(self) -> None:
        pass


def test_checkpoint_restore_and_replay_give_the_same_results(grid_cache: ReplayCache, settings: Settings) -> None:
    """Offline: a member checkpoints at offset 300, dies at 450; the next one restores the
    checkpoint, replays 300..449 silently and then gives the dead member's results, exactly."""
    from f1live.analysis import default_processors
    from f1live.features import table_messages
    from f1live.handover import PartitionStates

    df = grid_cache.to_frame()
    msgs = table_messages(df[df["driver"].isin(["VER", "HAM"])].sort_values("session_time").iloc[:900])
    for i, m in enumerate(msgs):
        m.update(seq=i, _partition=0, _offset=i, _run="r1")
    reference = default_processors(settings).processors[0].process_batch([dict(m) for m in msgs])

    store = _MemoryStore()
    dead_procs = default_processors(settings).processors
    dead = PartitionStates(store, dead_procs, DeliveryTracker())  # type: ignore[arg-type]
    for m in msgs[:300]:
        dead.seen(0, m["driver"])
        dead.tracker.accept("r1", m["driver"], m["seq"])
    dead_procs[0].process_batch([dict(m) for m in msgs[:300]])
    assert dead.save({0: 300}) == 1 and dead.save({0: 300}) == 0  # unchanged: not written again
    dead_procs[0].process_batch([dict(m) for m in msgs[300:450]])  # then killed: committed offset 450

    new_procs = default_processors(settings).processors
    new = PartitionStates(store, new_procs, DeliveryTracker())  # type: ignore[arg-type]
    assert new.assigned({0: 450}) == {0: 300}
    assert new.replaying(0, 449) and not new.replaying(0, 450)
    assert all(new.tracker.advance("r1", m["driver"], m["seq"]) for m in msgs[300:450])
    new_procs[0].process_batch([dict(m) for m in msgs[300:450]])
    new.progress({0: 450}, {0: 150})
    assert not new.replay_to and new.takeovers[-1].replayed == 150 and new.takeovers[-1].catch_up_ms is not None
    after = new_procs[0].process_batch([dict(m) for m in msgs[450:]])
    assert after == reference[450:]
    # a partition that comes straight back keeps its state; one that went elsewhere is dropped
    new.revoked({0: 900})
    assert new.assigned({0: 900}) == {} and new.takeovers[-1].source == "kept"
    new.revoked({0: 900})
    assert new.assigned({}) == {} and not new.drivers and new_procs[0].driver_state("VER") is None
