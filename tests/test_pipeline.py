"""Pipeline: one object owning broker, topics, producer and consumer threads, live state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from f1live.config import Settings
from f1live.pipeline import Pipeline
from f1live.widgets.view import to_view


def f1_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("f1live-") and t.is_alive()]


def processed(p: Pipeline) -> int:
    return int(p.snapshot(history=False)["counters"]["processed"])


def wait_until(fn, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def unique_topics(settings: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return settings.replace(
        topic=f"pipe-{tag}", dlq_topic=f"pipe-{tag}.dlq", analysis_topic=f"pipe-{tag}.analysis", speed=20.0
    )


def test_pipeline_streams_pauses_seeks_and_stops(settings, kafka_broker, monaco_2023_slice) -> None:
    s = unique_topics(settings)
    before = set(f1_threads())
    with Pipeline(s, bootstrap_servers=kafka_broker.bootstrap_servers, data=monaco_2023_slice) as p:
        assert p.phase == "created" and p.state is None  # nothing happens in __init__
        p.start()
        assert p.running and p.broker is None  # external broker: not owned, not stopped by us
        wait_until(lambda: processed(p) > 50, 30, "messages through Kafka into the live state")
        view = to_view(p.snapshot())
        assert set(view.drivers) <= {"VER", "HAM", "LEC"} and view.drivers
        assert view.meta["simulated"] is False and view.meta["source"] == "fastf1-csv"
        assert view.meta["outline"] and len(view.meta["outline"]["x"]) > 50  # circuit for the track map
        assert view.session_time is not None and view.latency["e2e_ms"]["count"] > 0
        assert view.status["models"] in {"missing", "loaded"}

        p.pause()
        time.sleep(1.5)  # the consumer drains what was in flight
        n1 = processed(p)
        time.sleep(1.0)
        assert processed(p) == n1, "paused pipeline kept consuming"
        p.seek(22)
        p.set_speed(50)
        p.resume()
        wait_until(lambda: processed(p) > n1, 10, "messages after resume")
        laps = {to_view(p.snapshot()).latest(d).get("lap_number") for d in ("VER", "HAM", "LEC")}
        assert laps & {22, 23}
    assert p.phase == "stopped" and not p.running
    p.stop()  # idempotent
    assert set(f1_threads()) <= before, f"threads left: {set(f1_threads()) - before}"
    with pytest.raises(RuntimeError, match="stopped"):
        p.start()


def test_failed_start_cleans_up_and_names_the_problem(settings, kafka_broker, monaco_2023_slice) -> None:
    s = unique_topics(settings)
    p = Pipeline(s, bootstrap_servers=kafka_broker.bootstrap_servers, data=monaco_2023_slice, drivers=["XXX"])
    with pytest.raises(ValueError, match=r"drivers \['XXX'\]"):
        p.start()
    assert p.phase.startswith("error") and not f1_threads()
    p.stop()
    with pytest.raises(RuntimeError, match="not running"):
        p.pause()


def java_children() -> list[psutil.Process]:
    me = psutil.Process()
    return [c for c in me.children(recursive=True) if "java" in c.name()]


@pytest.mark.slow
def test_embedded_kafka_broker_is_owned_and_stopped(settings, monaco_2023_slice) -> None:
    """Default mode: the pipeline starts a real Apache Kafka (java) and stops it."""
    s = unique_topics(settings).replace(broker="kafka")
    p = Pipeline(s, data=monaco_2023_slice)
    others = {j.pid for j in java_children()}  # e.g. the session's shared broker
    try:
        p.start_broker()  # main thread: the broker gets a parent-death signal
        p.start()
        assert p.broker is not None and p.broker_kind == "kafka"
        javas = [j for j in java_children() if j.pid not in others]
        assert javas, "no java broker process under this test"
        wait_until(lambda: processed(p) > 20, 60, "messages through the embedded Kafka")
    finally:
        p.stop()
    psutil.wait_procs(javas, timeout=20)
    assert not [j for j in javas if j.is_running() and j.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_killed_kernel_leaves_no_java(settings, tmp_path: Path) -> None:
    """A kernel that dies hard (kill -9) takes its embedded broker with it."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from f1live.config import Settings
        from f1live.pipeline import Pipeline
        s = Settings(broker="kafka", run_dir=Path({str(tmp_path / "runs")!r}), offline=True)
        p = Pipeline(s)
        print(p.start_broker(), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "F1LIVE_SHARED_DATA": str(settings.shared_data)},
    )
    try:
        line = proc.stdout.readline()
        assert ":" in line, f"broker did not start: {line!r}"
        javas = [c for c in psutil.Process(proc.pid).children(recursive=True) if "java" in c.name()]
        assert javas
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    gone, alive = psutil.wait_procs(javas, timeout=30)
    assert not alive, f"java outlived its killed owner: {[a.pid for a in alive]}"
