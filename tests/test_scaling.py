"""Weak-scaling experiment on the real embedded Apache Kafka with real 2023 Monaco data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from f1live.analysis import default_processors
from f1live.config import Settings
from f1live.scaling import (
    COLUMNS,
    ScaleConfig,
    build_streams,
    delivery_check,
    load_latest_results,
    run_experiment,
    stream_of_key,
)
from f1live.widgets.scaling import scaling_figures


@pytest.fixture(scope="module")
def scaling_export(monaco_2023_slice: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real slice (VER, HAM, LEC, laps 22-23) as an f1live Parquet export."""
    from f1live.export import export_session

    res = export_session(
        monaco_2023_slice, tmp_path_factory.mktemp("scale_export"), formats=("parquet",), progress=False
    )
    return Path(res.parquet)


def _check_exactly_once(df: pd.DataFrame, per_stream: int | None = None) -> None:
    assert df["delivery_ok"].all(), df[["mode", "rate", "consumers", "produced", "consumed", "missing"]]
    assert (df["produced"] == df["consumed"]).all()
    assert (df[["duplicates", "missing", "foreign", "processor_errors"]] == 0).all().all()
    if per_stream is not None:
        assert (df["produced"] == df["consumers"] * per_stream).all()
    assert (df["partitions"] == df["consumers"]).all() and (df["streams"] == df["consumers"]).all()


def test_max_rate_threads_and_processes(kafka_broker: Any, monaco_2023_slice: Any, settings: Settings) -> None:
    cfg = ScaleConfig(
        consumers=(1, 2),
        modes=("thread", "process"),
        rates=("max",),
        messages_per_stream=500,
        drivers_per_stream=3,
        timeout=120,
    )
    lines: list[str] = []
    res = run_experiment(
        settings,
        cfg,
        data=monaco_2023_slice,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        broker_kind=kafka_broker.kind,
        progress=lines.append,
    )
    df = res.table
    assert list(df.columns) == list(COLUMNS)
    assert sorted(zip(df["mode"], df["consumers"], strict=True)) == [
        ("process", 1),
        ("process", 2),
        ("thread", 1),
        ("thread", 2),
    ]
    _check_exactly_once(df, per_stream=500)
    numeric = [
        "throughput_msgs_s",
        "per_consumer_msgs_s",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "cpu_util_pct",
        "wall_s",
    ]
    assert np.isfinite(df[numeric].to_numpy(float)).all() and (df[numeric] > 0).all().all()
    assert (df.loc[df["consumers"] == 1, "efficiency"] == 1.0).all()
    assert df["efficiency"].notna().all() and df["p99_growth_pct"].notna().all()
    assert (df["latency_kind"] == "processing").all() and (df["lag_end"] == 0).all()
    # the backlog was produced before the consumers were released: it waited in Kafka
    assert (df["e2e_p50_ms"] > df["proc_p50_ms"]).all() and (df["lag_max"] >= 0).all()
    assert (df["cpu_count"] >= 1).all() and (df["drivers_per_stream"] == 3).all()
    assert df["analysis"].str.len().gt(0).all() and df["data"].str.contains("Monaco").all()
    # process mode really ran in other processes, one per consumer
    procs = [d for d in res.details if d["mode"] == "process" and d["consumers"] == 2][0]["per_consumer"]
    import os

    assert len({p["pid"] for p in procs}) == 2 and os.getpid() not in {p["pid"] for p in procs}
    assert len(lines) == 4 and all("delivery OK" in line for line in lines)
    # saved as Parquet + JSON; the latest pointer gives the same table back
    assert res.path is not None and (res.path / "scaling_results.parquet").exists()
    doc = json.loads((res.path / "scaling_results.json").read_text())
    assert doc["meta"]["machine"]["cpu_count"] == df["cpu_count"].iloc[0] and len(doc["results"]) == 4
    back = load_latest_results(settings)
    assert back is not None
    pd.testing.assert_frame_equal(back, df)
    figs = scaling_figures(df)
    assert set(figs) == {"latency", "throughput", "efficiency"}
    assert len(figs["latency"].marks) == 4  # p50 + p99 for thread and for process


def test_fixed_rate_end_to_end_latency(kafka_broker: Any, monaco_2023_slice: Any, settings: Settings) -> None:
    cfg = ScaleConfig(
        consumers=(1, 2),
        modes=("thread",),
        rates=("fixed",),
        speed=20.0,
        duration=3.0,
        drivers_per_stream=3,
        timeout=60,
    )
    res = run_experiment(
        settings,
        cfg,
        data=monaco_2023_slice,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        broker_kind=kafka_broker.kind,
        save=False,
    )
    df = res.table
    _check_exactly_once(df)
    # 3 s at 20x of 3 drivers at ~3.7 Hz: ~660 messages per stream, paced, not a backlog
    assert (df["produced"] / df["consumers"]).between(300, 1200).all()
    assert (df["latency_kind"] == "e2e").all() and (df["speed"] == 20.0).all()
    assert (df["latency_p50_ms"] == df["e2e_p50_ms"]).all()
    assert (df["e2e_p50_ms"] > 0).all() and (df["e2e_p99_ms"] < 5000).all()
    assert (df["offered_msgs_s"] > 0).all() and df["producer_lateness_p99_ms"].notna().all()
    assert res.path is None


def test_group_mode_members_share_the_partitions(kafka_broker: Any, monaco_2023_slice: Any, settings: Settings) -> None:
    """``group`` mode: worker processes in one consumer group; Kafka gives each one partition
    (the point waits for a stable group before producing), every message exactly once."""
    cfg = ScaleConfig(
        consumers=(1, 2), modes=("group",), rates=("max",), messages_per_stream=400, drivers_per_stream=3, timeout=120
    )
    res = run_experiment(
        settings,
        cfg,
        data=monaco_2023_slice,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        broker_kind=kafka_broker.kind,
        save=False,
    )
    df = res.table
    assert list(df["mode"]) == ["group", "group"]
    _check_exactly_once(df, per_stream=400)
    (two,) = [d["per_consumer"] for d in res.details if d["consumers"] == 2]
    assert sorted(c["partition"] for c in two) == [0, 1] and all(c["join_s"] is not None for c in two)
    assert df["efficiency"].notna().all() and (df["throughput_msgs_s"] > 0).all()


def test_analysis_is_real(monaco_2023_slice: Any, settings: Settings) -> None:
    chosen = default_processors(settings)
    procs, label = chosen.processors, chosen.label
    assert procs and label
    caches = build_streams(monaco_2023_slice.telemetry, 2, ["VER", "HAM"], rows=200)
    assert [len(c) for c in caches] == [200, 200]
    assert caches[0].drivers == ["HAM-s0", "VER-s0"] and caches[1].drivers == ["HAM-s1", "VER-s1"]
    assert stream_of_key(caches[1].row(0)["driver"]) == 1
    msgs = [dict(caches[0].row(i), seq=i) for i in range(200)]
    out: list[dict[str, Any]] = []
    for p in procs:
        out = p.process_batch(msgs)
    assert len(out) == 200 and all("anomaly" in r and "anomaly_score" in r for r in out)


def test_delivery_check_catches_double_reads_and_gaps() -> None:
    ok = [{"partition": k, "offsets": {k: np.arange(5)}, "duplicates": 0, "dlq": 0} for k in range(2)]
    assert delivery_check([5, 5], ok)["ok"]
    twice = ok + [{"partition": 1, "offsets": {0: np.arange(5)}, "duplicates": 0, "dlq": 0}]
    c = delivery_check([5, 5], twice)
    assert not c["ok"] and c["foreign"] == 5 and "read by 2 consumers" in c["detail"]
    gap = [ok[0], {"partition": 1, "offsets": {1: np.array([0, 1, 3, 4])}, "duplicates": 0, "dlq": 0}]
    c = delivery_check([5, 5], gap)
    assert not c["ok"] and c["missing"] == 1 and c["consumed"] == 9


def test_config_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="consumers"):
        ScaleConfig(consumers=(0, 1))
    with pytest.raises(ValueError, match="modes"):
        ScaleConfig(modes=("gpu",))
    with pytest.raises(ValueError, match="speed"):
        ScaleConfig(rates=("fixed",), speed=0.0)


def test_cli_scale_json(
    kafka_broker: Any,
    scaling_export: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from f1live.cli import main

    monkeypatch.setenv("F1LIVE_RUN_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("F1LIVE_SOURCE_PATH", str(scaling_export))
    out = tmp_path / "out"
    rc = main(
        [
            "scale",
            "--consumers",
            "1",
            "--mode",
            "thread",
            "--messages",
            "300",
            "--drivers",
            "VER,HAM",
            "--source",
            "file",
            "--bootstrap-servers",
            kafka_broker.bootstrap_servers,
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["results"]
    assert row["consumers"] == 1 and row["produced"] == row["consumed"] == 300 and row["delivery_ok"]
    assert row["drivers_per_stream"] == 2 and math.isfinite(row["throughput_msgs_s"])
    assert (out / "scaling_results.parquet").exists()
    assert load_latest_results(Settings(run_dir=tmp_path / "runs")) is not None
