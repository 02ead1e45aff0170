"""Apache Kafka in KRaft mode: the embedded jars, or a ``KAFKA_HOME`` distribution.

Both run the same steps as Kafka's quickstart: write ``server.properties``, format the
log directory once (``kafka.tools.StorageTool format``, what ``bin/kafka-storage.sh``
runs), start ``kafka.Kafka server.properties`` (what ``bin/kafka-server-start.sh`` runs),
then wait until a metadata request succeeds. One node is a combined broker+controller;
``nodes=3`` is three combined nodes forming a three-voter controller quorum.

Layout under the run directory (``<run_dir>/broker/<kind>/``)::

    cluster.json             cluster id, ports, node count (reused on restart)
    node-<id>/server.properties
    node-<id>/data/          the KRaft metadata log and topic partitions
    node-<id>/broker.log     the broker's log4j2 output (and stdout/stderr)

The controller quorum is configured statically (``controller.quorum.voters``) rather
than with ``format --standalone``: then the ports are in the configuration only, not in
the metadata log, so a restart within a run may move to other free ports.

>>> props = server_properties(node_id=1, port=9092, controller_port=9093,
...     voters={1: 9093}, data_dir=Path("d"), partitions=4)
>>> print(props.splitlines()[0])
process.roles=broker,controller
>>> "controller.quorum.voters=1@127.0.0.1:9093" in props
True
>>> len(new_cluster_id())
22
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from f1live.broker.base import Broker, BrokerError, Node, wait_until_ready
from f1live.broker.jars import (
    BROKER_LOG4J,
    TOOLS_LOG4J,
    classpath,
    fetch_kafka_jars,
    find_java,
    java_problem,
)
from f1live.broker.process import ManagedProcess, free_ports, port_free, stop_all
from f1live.config import Settings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: JVM flags for the embedded broker. Kafka's kafka-run-class.sh uses G1 and the full JIT;
#: for a 256-512 MB heap on a shared 2-core machine the serial collector and the C1 JIT
#: start it about 1.5x faster (measured under load: 7.5 s vs 12.0 s, 12.0 s vs 22.1 s)
#: and leave CPU for the pipeline. A KAFKA_HOME distribution keeps its own defaults.
JVM_PERFORMANCE_OPTS = [
    "-server", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
]  # fmt: skip


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 (as ``kafka-storage random-uuid``)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka avoids ids that look like a command-line flag
            return cid


def server_properties(
    *,
    node_id: int,
    port: int,
    controller_port: int,
    voters: dict[int, int],
    data_dir: Path,
    partitions: int = 1,
    min_insync: int = 1,
) -> str:
    """``server.properties`` for one combined broker+controller node on 127.0.0.1."""
    n = len(voters)
    rf = min(3, n)
    lines = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": ",".join(f"{i}@{HOST}:{p}" for i, p in sorted(voters.items())),
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": partitions,
        "default.replication.factor": rf,
        "min.insync.replicas": min_insync,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min(min_insync, rf),
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min(min_insync, rf),
        # Sized for a laptop / 2-core CI machine rather than a data centre:
        "offsets.topic.num.partitions": 8,  # default 50: slow first group join
        "transaction.state.log.num.partitions": 8,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "num.recovery.threads.per.data.dir": 1,
        "group.initial.rebalance.delay.ms": 0,  # default 3 s: a lone consumer waits for nobody
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


@dataclass(frozen=True)
class Launcher:
    """How to run Kafka's main classes: from the embedded jars or a distribution's bin/."""

    kind: str
    java: str | None = None
    libs: Path | None = None
    kafka_home: Path | None = None
    heap_mb: int = 512

    def storage_cmd(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        if self.kafka_home is not None:
            return [str(self.kafka_home / "bin" / "kafka-storage.sh"), *args], self._home_env(256)
        assert self.java and self.libs
        return [
            self.java, "-Xmx256m", f"-Dlog4j2.configurationFile={TOOLS_LOG4J}",
            "-cp", classpath(self.libs), "kafka.tools.StorageTool", *args,
        ], dict(os.environ)  # fmt: skip

    def server_cmd(self, props: Path, log_path: Path) -> tuple[list[str], dict[str, str]]:
        if self.kafka_home is not None:
            env = self._home_env(self.heap_mb)
            # kafka-run-class.sh reads these: logs next to ours, our log4j2 file config.
            env["LOG_DIR"] = str(log_path.parent / "kafka-logs")
            env["KAFKA_LOG4J_OPTS"] = f"-Dlog4j2.configurationFile={BROKER_LOG4J} -Df1live.log.file={log_path}"
            return [str(self.kafka_home / "bin" / "kafka-server-start.sh"), str(props)], env
        assert self.java and self.libs
        return [
            self.java, f"-Xmx{self.heap_mb}m", *JVM_PERFORMANCE_OPTS,
            f"-Dlog4j2.configurationFile={BROKER_LOG4J}", f"-Df1live.log.file={log_path}",
            "-cp", classpath(self.libs), "kafka.Kafka", str(props),
        ], dict(os.environ)  # fmt: skip

    def _home_env(self, heap_mb: int) -> dict[str, str]:
        env = dict(os.environ)
        env["KAFKA_HEAP_OPTS"] = f"-Xmx{heap_mb}m -Xms{heap_mb}m"
        return env


def make_launcher(settings: Settings, kind: str, heap_mb: int) -> Launcher:
    """The launcher for ``kind`` (``kafka`` = embedded jars, ``kafka-home``), checking Java."""
    problem = java_problem()
    if problem:
        raise BrokerError(f"cannot start Apache Kafka: {problem}")
    if kind == "kafka-home":
        home = settings.kafka_home
        if home is None:
            raise BrokerError("--broker kafka-home needs KAFKA_HOME (or F1LIVE_KAFKA_HOME)")
        home = Path(home)
        for script in ("kafka-storage.sh", "kafka-server-start.sh"):
            if not (home / "bin" / script).exists():
                raise BrokerError(f"KAFKA_HOME={home} is not an Apache Kafka distribution: bin/{script} is missing")
        return Launcher(kind=kind, kafka_home=home, heap_mb=heap_mb)
    java, _ = find_java()
    libs = fetch_kafka_jars(settings)
    return Launcher(kind=kind, java=java, libs=libs, heap_mb=heap_mb)


def _format(launcher: Launcher, cluster_id: str, props: Path, log_path: Path) -> None:
    """``kafka-storage format`` for one node (skipped by the caller if already formatted)."""
    cmd, env = launcher.storage_cmd(["format", "-t", cluster_id, "-c", str(props)])
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    with open(log_path, "a") as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise BrokerError(
            f"formatting Kafka storage failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"{(proc.stdout + proc.stderr).strip()[-3000:]}"
        )
    log.debug("formatted %s in %.1f s", props.parent, time.monotonic() - t0)


def _choose_ports(state: dict[str, Any], nodes: int, port: int | None) -> tuple[list[int], list[int]]:
    """Client and controller ports: the configured port, else last run's if free, else new."""
    if port is not None:
        clients = [port + i for i in range(nodes)]
        taken = [p for p in clients if not port_free(p)]
        if taken:
            raise BrokerError(f"port(s) {taken} on {HOST} are in use; choose another --port")
        controllers = free_ports(nodes)
        return clients, controllers
    old_c, old_k = state.get("ports", []), state.get("controller_ports", [])
    if len(old_c) == nodes and len(old_k) == nodes and all(port_free(p) for p in old_c + old_k):
        return list(old_c), list(old_k)
    fresh = free_ports(2 * nodes)
    return fresh[:nodes], fresh[nodes:]


def _launch(
    launcher: Launcher,
    base: Path,
    kind: str,
    nodes: int,
    cluster_id: str,
    clients: list[int],
    controllers: list[int],
    *,
    timeout: float,
    detach: bool,
) -> tuple[list[Node], dict[str, Any]]:
    """Write configs, format new nodes, spawn them, wait for metadata; nothing left on failure."""
    voters = {i + 1: controllers[i] for i in range(nodes)}
    node_objs: list[Node] = []
    try:
        for i in range(nodes):
            nid = i + 1
            ndir = base / f"node-{nid}"
            ndir.mkdir(exist_ok=True)
            props = ndir / "server.properties"
            props.write_text(
                server_properties(
                    node_id=nid, port=clients[i], controller_port=controllers[i], voters=voters,
                    data_dir=ndir / "data", partitions=1, min_insync=2 if nodes >= 3 else 1,
                )
            )  # fmt: skip
            log_path = ndir / "broker.log"
            if not (ndir / "data" / "meta.properties").exists():
                _format(launcher, cluster_id, props, log_path)
            node_objs.append(Node(node_id=nid, port=clients[i], process=None, log_path=log_path,
                                  controller_port=controllers[i]))  # fmt: skip
        (base / "cluster.json").write_text(json.dumps({
            "cluster_id": cluster_id, "nodes": nodes, "ports": clients,
            "controller_ports": controllers, "kind": kind,
        }, indent=1))  # fmt: skip
        for n in node_objs:
            assert n.log_path is not None
            cmd, env = launcher.server_cmd(n.log_path.parent / "server.properties", n.log_path)
            n.process = ManagedProcess.spawn(
                f"kafka-node-{n.node_id}", cmd, log_path=n.log_path, env=env, detach=detach
            )
        bootstrap = ",".join(f"{HOST}:{p}" for p in clients)
        md = wait_until_ready(
            bootstrap, node_objs, timeout=timeout, expect_brokers=nodes, what=f"Apache Kafka ({kind})"
        )
    except BaseException:
        # Failed or interrupted start: leave nothing running.
        stop_all([n.process for n in node_objs if n.process is not None], timeout=10)
        raise
    return node_objs, md


def start_kafka(
    settings: Settings,
    *,
    kind: str = "kafka",
    nodes: int = 1,
    fresh: bool = False,
    port: int | None = None,
    timeout: float = 90.0,
    detach: bool = False,
    private: bool = False,
) -> Broker:
    """Start Apache Kafka (``kind`` ``kafka`` or ``kafka-home``) with ``nodes`` KRaft nodes.

    ``private``: in ``<run_dir>/broker/<kind>-<pid>`` (see :func:`f1live.broker.start_broker`).
    """
    if nodes < 1:
        raise ValueError(f"nodes must be >= 1, got {nodes}")
    heap = settings.broker_heap_mb if nodes == 1 else max(256, min(settings.broker_heap_mb, 384))
    launcher = make_launcher(settings, kind, heap)
    base = Path(settings.run_dir) / "broker" / (f"{kind}-{os.getpid()}" if private else kind)
    if fresh and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    state_path = base / "cluster.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state and state.get("nodes") != nodes:
        raise BrokerError(f"{base} holds a {state.get('nodes')}-node cluster, not {nodes}; use --fresh to wipe it")
    cluster_id = state.get("cluster_id") or new_cluster_id()
    t0 = time.monotonic()
    # Free ports are found by binding and releasing them, so another process on this machine
    # may take one before the JVM binds it: then retry once on new ports (unless configured).
    for attempt in (1, 2):
        clients, controllers = _choose_ports(state if attempt == 1 else {}, nodes, port)
        try:
            node_objs, md = _launch(launcher, base, kind, nodes, cluster_id, clients, controllers,
                                    timeout=timeout, detach=detach)  # fmt: skip
            break
        except BrokerError as exc:
            if attempt == 2 or port is not None or "Address already in use" not in str(exc):
                raise
            log.warning("a port was taken while Kafka started; retrying on other free ports")
    bootstrap = ",".join(f"{HOST}:{p}" for p in clients)
    seconds = time.monotonic() - t0
    broker = Broker(
        kind=kind, bootstrap_servers=bootstrap, nodes=node_objs, log_path=node_objs[0].log_path,
        start_seconds=seconds, run_dir=base, private=private,
        info={"cluster_id": md.get("cluster_id", cluster_id), "heap_mb": heap,
              "version": settings.kafka_version if kind == "kafka" else "KAFKA_HOME",
              "kafka_home": str(launcher.kafka_home) if launcher.kafka_home else None},
    )  # fmt: skip
    log.info("Apache Kafka (%s, %d node(s)) ready at %s in %.1f s", kind, nodes, bootstrap, seconds)
    return broker
