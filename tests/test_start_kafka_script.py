"""scripts/start_kafka.sh with and without KAFKA_HOME; the Kafka tools list and read the topic."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from f1live.broker import cluster_metadata, start_broker
from f1live.broker.process import free_ports
from f1live.config import PROJECT_ROOT, Settings
from f1live.topics import describe_topic, ensure_topic
from tests.broker_helpers import cli_env, default_sigint, procs_with, wait_gone
from tests.fixtures_broker import unique_name

SCRIPTS = PROJECT_ROOT / "scripts"


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i, v in enumerate(values):
        producer.send(topic, key=f"driver-{i % 2}".encode(), value=v)
    producer.flush(30)
    producer.close()


def _script(name: str, *args: str, env: dict[str, str], timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPTS / name), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _wait_ready(proc: subprocess.Popen, bootstrap: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"start_kafka.sh exited early:\n{proc.stdout.read() if proc.stdout else ''}"
        try:
            cluster_metadata(bootstrap, timeout=1)
            return
        except Exception:
            assert time.monotonic() < deadline, "broker never answered"
            time.sleep(0.3)


def _stop(proc: subprocess.Popen, marker: Path) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:  # did not stop on Ctrl-C: fail, but leave no script behind
            proc.kill()
    assert not wait_gone(marker), f"processes left after stopping start_kafka.sh: {procs_with(marker)}"
    return out


def test_start_kafka_sh_without_kafka_home_runs_embedded_kafka(tmp_path):
    [port] = free_ports(1)
    env = cli_env(tmp_path, KAFKA_PORT=str(port))
    proc = subprocess.Popen([str(SCRIPTS / "start_kafka.sh"), "--fresh"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)  # fmt: skip
    try:
        for line in proc.stdout:
            if "press Ctrl-C" in line:
                break
        bootstrap = f"127.0.0.1:{port}"
        assert cluster_metadata(bootstrap, timeout=5)["brokers"][0]["port"] == port
        topic = unique_name("f1-speed-stream")
        ensure_topic(bootstrap, topic, 4)
        _produce(bootstrap, topic, [b'{"speed": 287.0}', b'{"speed": 291.5}'])
        # The tools find the broker through the state file: no --bootstrap-server needed.
        d = _script("kafka-topics.sh", "--describe", "--topic", topic, env=env)
        assert d.returncode == 0, d.stderr
        assert f"Topic: {topic}" in d.stdout and "PartitionCount: 4" in d.stdout
        lst = _script("kafka-topics.sh", "--list", env=env)
        assert topic in lst.stdout.split()
        c = _script("kafka-console-consumer.sh", "--topic", topic, "--from-beginning", "--max-messages", "2",
                    "--timeout-ms", "90000", env=env)  # fmt: skip
        assert c.returncode == 0, c.stderr
        assert sorted(c.stdout.splitlines()) == ['{"speed": 287.0}', '{"speed": 291.5}']
    finally:
        out = _stop(proc, tmp_path)
    assert "broker stopped" in out


def test_start_kafka_sh_with_kafka_home(tmp_path, fake_kafka_home):
    port, cport = free_ports(2)
    env = cli_env(tmp_path, KAFKA_HOME=str(fake_kafka_home), KAFKA_PORT=str(port), KAFKA_CONTROLLER_PORT=str(cport))
    bootstrap = f"localhost:{port}"
    topic = unique_name("f1-speed-stream")
    proc = subprocess.Popen([str(SCRIPTS / "start_kafka.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)  # fmt: skip
    try:
        _wait_ready(proc, bootstrap)
        [java] = [p for p in procs_with(fake_kafka_home) if "kafka.Kafka" in p.cmdline()]
        assert java.pid == proc.pid  # the script exec'd the distribution's kafka-server-start.sh
        assert "-Xmx512m" in java.cmdline()
        ensure_topic(bootstrap, topic, 4)
        _produce(bootstrap, topic, [b"a", b"b", b"c"])
        d = _script("kafka-topics.sh", "--describe", "--topic", topic, env=env)
        assert d.returncode == 0, d.stderr
        assert "PartitionCount: 4" in d.stdout
        c = _script("kafka-console-consumer.sh", "--topic", topic, "--from-beginning", "--max-messages", "3",
                    "--timeout-ms", "90000", env=env)  # fmt: skip
        assert sorted(c.stdout.split()) == ["a", "b", "c"], c.stderr
    finally:
        out = _stop(proc, fake_kafka_home)
    assert "formatting" in out
    run_dir = tmp_path / "kafka-home"
    assert (run_dir / "data" / "meta.properties").exists() and (run_dir / "logs" / "server.log").exists()

    # Second start: storage already formatted -> reused, the topic is still there.
    proc = subprocess.Popen([str(SCRIPTS / "start_kafka.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)  # fmt: skip
    try:
        _wait_ready(proc, bootstrap)
        info = describe_topic(bootstrap, topic)
        assert info is not None and info.partitions == 4
    finally:
        out = _stop(proc, fake_kafka_home)
    assert "formatting" not in out


def test_start_kafka_sh_rejects_a_non_distribution(tmp_path):
    env = cli_env(tmp_path, KAFKA_HOME=str(tmp_path))
    r = _script("start_kafka.sh", env=env, timeout=30)
    assert r.returncode == 1 and "not an Apache Kafka distribution (no bin/kafka-storage.sh)" in r.stderr


def test_broker_kind_kafka_home_from_python(tmp_path, fake_kafka_home):
    settings = Settings(run_dir=tmp_path, kafka_home=fake_kafka_home)
    with start_broker(settings) as broker:  # auto -> KAFKA_HOME
        assert broker.kind == "kafka-home"
        [java] = procs_with(broker.run_dir)
        assert str(fake_kafka_home / "libs") in " ".join(java.cmdline())
        assert ensure_topic(broker.bootstrap_servers, "f1-speed-stream", 4).partitions == 4
        assert "Kafka Server started" in broker.log_path.read_text()
    assert not wait_gone(tmp_path)
