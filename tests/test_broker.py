"""The broker module against real processes: Apache Kafka (embedded jars), Tansu, external."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import subprocess
import sys
import time

import psutil
import pytest

from f1live.broker import BrokerError, cluster_metadata, resolve_kind, start_broker
from f1live.broker.process import free_ports
from f1live.config import PROJECT_ROOT, Settings
from tests.broker_helpers import cli_env, default_sigint, f1live, procs_with, wait_gone
from tests.fixtures_broker import unique_name


def test_embedded_kafka_answers_metadata(kafka_broker):
    md = cluster_metadata(kafka_broker.bootstrap_servers, timeout=5)
    assert kafka_broker.kind == "kafka"
    assert [(b["host"], b["port"]) for b in md["brokers"]] == [("127.0.0.1", kafka_broker.nodes[0].port)]
    assert md["cluster_id"] == kafka_broker.info["cluster_id"]
    assert kafka_broker.alive() and kafka_broker.start_seconds > 0
    log = kafka_broker.log_path.read_text()
    assert "Kafka Server started" in log and "Kafka version: 4.1.1" in log
    [java] = procs_with(kafka_broker.run_dir)
    cmd = java.cmdline()
    assert "-Xmx512m" in cmd and "kafka.Kafka" in cmd  # heap capped, the real broker class
    listening = {c.laddr for c in java.net_connections(kind="tcp") if c.status == "LISTEN"}
    assert listening and all(a.ip.removeprefix("::ffff:") == "127.0.0.1" for a in listening)  # never 0.0.0.0


def test_start_stop_restart_fresh_and_failed_start(tmp_path):
    from kafka import KafkaConsumer, KafkaProducer

    from f1live.topics import ensure_topic

    settings = Settings(run_dir=tmp_path / "runs")
    topic = unique_name("keep")
    with start_broker(settings, kind="kafka") as broker:
        assert broker.alive()
        ensure_topic(broker.bootstrap_servers, topic, 2)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
        producer.send(topic, key=b"VER", value=b"lap 1").get(timeout=30)
        producer.close()
        pids = broker.pids
    assert not broker.alive()
    broker.stop()  # idempotent
    assert not wait_gone(tmp_path), "a broker process outlived stop()"
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]

    with start_broker(settings, kind="kafka") as again:  # same run dir: data survives
        consumer = KafkaConsumer(topic, bootstrap_servers=again.bootstrap_servers,
                                 auto_offset_reset="earliest", consumer_timeout_ms=15000)  # fmt: skip
        values = [m.value for m in consumer]
        consumer.close()
    assert values == [b"lap 1"]
    assert not wait_gone(tmp_path)

    # --fresh wipes the run's data before starting; this start is also made to fail (1 s is
    # too short for a JVM) to check that a failed start is a clear error leaving no process.
    data = tmp_path / "runs" / "broker" / "kafka" / "node-1" / "data"
    assert list(data.glob(f"{topic}-*"))
    t0 = time.monotonic()
    with pytest.raises(BrokerError, match=r"not ready after 1 s.*broker\.log") as err:
        start_broker(settings, kind="kafka", fresh=True, timeout=1.0)
    assert time.monotonic() - t0 < 60
    assert "\n" in str(err.value)  # the broker's log tail follows
    assert not list(data.glob(f"{topic}-*")), "--fresh kept the old topic's data"
    assert not wait_gone(tmp_path), "a failed start left a java process behind"


def test_port_in_use_is_a_clear_error(kafka_broker, tmp_path):
    busy = kafka_broker.nodes[0].port
    with pytest.raises(BrokerError, match=rf"port\(s\) \[{busy}\].*in use"):
        start_broker(Settings(run_dir=tmp_path), kind="kafka", port=busy)


def test_external_broker_is_checked_not_started(kafka_broker, tmp_path):
    settings = Settings(run_dir=tmp_path, bootstrap_servers=kafka_broker.bootstrap_servers)
    assert resolve_kind(settings) == "external"
    with start_broker(settings) as ext:
        assert ext.kind == "external" and ext.nodes == [] and ext.alive()
    assert kafka_broker.alive()  # stopping an external broker does nothing to it


def test_unreachable_external_is_clear_within_10s(tmp_path):
    [port] = free_ports(1)
    settings = Settings(run_dir=tmp_path, broker="external", bootstrap_servers=f"127.0.0.1:{port}")
    t0 = time.monotonic()
    with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port} did not answer a metadata request"):
        start_broker(settings)
    assert time.monotonic() - t0 < 10


def test_auto_prefers_kafka_home_then_java_then_tansu(tmp_path, monkeypatch, caplog):
    assert resolve_kind(Settings(kafka_home=tmp_path)) == "kafka-home"
    assert resolve_kind(Settings()) == "kafka"  # Java 17+ is installed here
    empty = tmp_path / "nojava"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with caplog.at_level(logging.WARNING, logger="f1live.broker"):
        assert resolve_kind(Settings()) == "tansu"
    assert "no Java found" in caplog.text and "Tansu" in caplog.text
    with pytest.raises(ValueError, match="broker kind 'zookeeper' is not one of"):
        resolve_kind(Settings(), "zookeeper")


def test_tansu_serves_produce_and_fetch(tansu_broker):
    from kafka import KafkaConsumer, KafkaProducer

    from f1live.broker.tansu import TANSU_CONSUMER_CONFIG
    from f1live.topics import ensure_topic

    bs = tansu_broker.bootstrap_servers
    topic = unique_name("speed")
    ensure_topic(bs, topic, 4)
    producer = KafkaProducer(bootstrap_servers=bs)
    for i in range(20):
        producer.send(topic, key=f"D{i % 4}".encode(), value=str(i).encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bs, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, **TANSU_CONSUMER_CONFIG)  # fmt: skip
    got = sorted(int(m.value) for m in consumer)
    consumer.close()
    assert got == list(range(20))
    assert tansu_broker.kind == "tansu"
    [tansu] = [psutil.Process(pid) for pid in tansu_broker.pids]
    listening = {c.laddr for c in tansu.net_connections(kind="tcp") if c.status == "LISTEN"}
    assert listening == {("127.0.0.1", tansu_broker.nodes[0].port)}  # loopback only


def test_cli_detach_status_stop(tmp_path):
    env = cli_env(tmp_path)
    r = f1live("broker", "start", "--broker", "tansu", "--detach", env=env)
    assert r.returncode == 0, r.stderr
    assert "ready at 127.0.0.1:" in r.stdout and "f1live broker stop" in r.stdout
    s = f1live("broker", "status", env=env)
    assert s.returncode == 0 and "running" in s.stdout and "answers metadata: 1 broker" in s.stdout
    again = f1live("broker", "start", "--broker", "tansu", "--detach", env=env)
    assert again.returncode == 1 and "already running" in again.stderr
    t = f1live("topic", "create", env=env)  # finds the broker through the state file
    assert t.returncode == 0, t.stderr
    assert "f1-speed-stream: 4 partitions" in t.stdout and "f1-speed-stream.dlq" in t.stdout
    stop = f1live("broker", "stop", env=env)
    assert stop.returncode == 0 and "stopped tansu broker" in stop.stdout
    assert f1live("broker", "status", env=env).returncode == 1
    assert f1live("broker", "stop", env=env).returncode == 0  # idempotent
    assert not wait_gone(tmp_path / "broker")


def _start_cli(tmp_path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "f1live", "broker", "start", *args], env=cli_env(tmp_path),
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_sigint)  # fmt: skip


def test_ctrl_c_of_the_cli_stops_the_broker(tmp_path):
    proc = _start_cli(tmp_path)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        assert any("Apache Kafka 4.1.1 ready at" in ln for ln in lines), lines
        assert any("kafka.Kafka" in p.cmdline() for p in procs_with(tmp_path))  # its java
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:  # the test failed: no CLI left behind
            proc.kill()
    assert proc.returncode == 130 and "broker stopped" in out
    assert not wait_gone(tmp_path), "Ctrl-C of `f1live broker start` left a process"


def test_ctrl_c_during_start_leaves_no_process(tmp_path):
    proc = _start_cli(tmp_path, "--fresh")
    try:
        deadline = time.monotonic() + 60
        while not any("kafka.Kafka" in " ".join(p.cmdline()) for p in procs_with(tmp_path)):
            assert time.monotonic() < deadline and proc.poll() is None, "java never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # the JVM is starting, not yet answering
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed: no CLI left behind
            proc.kill()
    assert proc.returncode == 130
    assert not wait_gone(tmp_path), "Ctrl-C during start left a java process"


def test_kill_9_of_the_owner_takes_the_broker_down(tmp_path):
    """Even an owner that cannot clean up (SIGKILL) leaves no broker (parent-death signal)."""
    proc = _start_cli(tmp_path, "--broker", "tansu")
    for line in proc.stdout:
        if "press Ctrl-C" in line:
            break
    state = json.loads((tmp_path / "broker" / "state.json").read_text())
    [tansu] = [psutil.Process(pid) for pid in state["pids"]]
    assert "tansu" in tansu.name() and tansu.is_running()
    proc.kill()
    proc.wait(10)
    with contextlib.suppress(psutil.NoSuchProcess):
        tansu.wait(10)
    assert not tansu.is_running(), "the broker outlived its SIGKILLed owner"
