"""The one broker interface: :class:`Broker`, errors, and the metadata readiness probe.

Every kind (embedded Apache Kafka, a ``KAFKA_HOME`` distribution, Tansu, an external
cluster) is a :class:`Broker`: a bootstrap address, the processes it owns (none for an
external cluster), a log file, the measured start time, and an idempotent :meth:`stop`.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from f1live.broker.process import ManagedProcess, log_tail, stop_all

log = logging.getLogger(__name__)

KINDS = ("kafka", "kafka-home", "tansu", "external")


class BrokerError(RuntimeError):
    """A broker could not be started or reached; the message says why (and shows its log)."""


@dataclass
class Node:
    """One broker process of a (possibly one-node) cluster."""

    node_id: int
    port: int
    process: ManagedProcess | None
    log_path: Path | None = None
    controller_port: int | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


@dataclass
class Broker:
    """A running Kafka-protocol broker (or cluster) and how to reach it.

    Attributes:
        kind: ``kafka`` (embedded Apache Kafka jars), ``kafka-home`` (a distribution),
            ``tansu`` or ``external``.
        bootstrap_servers: ``host:port[,host:port]`` for clients.
        nodes: the broker processes this object owns (empty for ``external``).
        log_path: the (first) broker's log file.
        start_seconds: measured wall time from launch to the first successful metadata
            request (0 for ``external``: nothing was started).
        run_dir: where its configuration, data and logs live.
        private: ``run_dir`` belongs to this broker alone (a pipeline's own broker), so its
            owner may remove it after :meth:`stop`.
        info: extra facts (cluster id, version, heap) for ``status`` output.
    """

    kind: str
    bootstrap_servers: str
    nodes: list[Node] = field(default_factory=list)
    log_path: Path | None = None
    start_seconds: float = 0.0
    run_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    private: bool = False
    _stopped: bool = False

    def alive(self) -> bool:
        """True while every owned process runs (external: while metadata answers)."""
        if self.kind == "external":
            try:
                cluster_metadata(self.bootstrap_servers, timeout=5)
            except BrokerError:
                return False
            return True
        return bool(self.nodes) and all(n.alive() for n in self.nodes) and not self._stopped

    @property
    def pids(self) -> list[int]:
        return [n.process.pid for n in self.nodes if n.process is not None]

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every owned process (SIGTERM, then SIGKILL after ``timeout``). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        procs = [n.process for n in self.nodes if n.process is not None]
        if procs:
            t0 = time.monotonic()
            stop_all(procs, timeout=timeout)
            log.info("%s broker stopped in %.1f s", self.kind, time.monotonic() - t0)

    def kill_node(self, node_id: int, sig: int = 9) -> None:
        """Kill one broker of a cluster (failure tests); ``sig`` 9 = SIGKILL, 15 = SIGTERM."""
        for n in self.nodes:
            if n.node_id == node_id and n.process is not None:
                n.process.signal_group(sig)
                n.process.popen.wait(30)
                return
        raise ValueError(f"no node {node_id}; nodes are {[n.node_id for n in self.nodes]}")

    def __enter__(self) -> Broker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else ("alive" if self.kind == "external" or self.alive() else "dead")
        return f"Broker(kind={self.kind!r}, bootstrap_servers={self.bootstrap_servers!r}, nodes={len(self.nodes)}, {state})"


def _encode_str(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return buf


def _metadata_once(host: str, port: int, timeout: float) -> dict[str, Any]:
    """A Kafka ``Metadata`` v4 request (no topics) over a plain socket.

    Deliberately not kafka-python: a readiness probe retried every 200 ms must be quiet
    (kafka-python logs every refused connection at ERROR) and cheap. v4 is served by
    Kafka 1.0 through 4.x and by Tansu; the response lists only unfenced brokers.
    """
    body = struct.pack(">i", 0) + b"\x00"  # topics: empty array (none); allow_auto_topic_creation
    header = struct.pack(">hhi", 3, 4, 1) + _encode_str("f1live-probe")  # api_key=Metadata, v4, corr=1
    msg = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        r = _Reader(_recv_exact(sock, size))
    r.take(">i")  # correlation id
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        bhost = r.string()
        bport = r.take(">i")
        rack = r.string()
        brokers.append({"broker_id": node_id, "host": bhost, "port": bport, "rack": rack})
    cluster_id = r.string()
    controller_id = r.take(">i")
    return {"cluster_id": cluster_id, "controller_id": controller_id, "brokers": brokers}


def cluster_metadata(bootstrap_servers: str, timeout: float = 10.0) -> dict[str, Any]:
    """One metadata round trip: ``{'cluster_id', 'controller_id', 'brokers': [...]}``.

    Tries each ``host:port`` of ``bootstrap_servers`` until one answers; retries refused
    connections until ``timeout`` seconds have passed.

    Raises:
        BrokerError: nothing answered within ``timeout`` seconds (or the address is malformed).
    """
    addrs: list[tuple[str, int]] = []
    for part in bootstrap_servers.split(","):
        host, _, port_text = part.strip().rpartition(":")
        if not host or not port_text.isdigit():
            raise BrokerError(f"bootstrap server {part.strip()!r} is not host:port (in {bootstrap_servers!r})")
        addrs.append((host, int(port_text)))
    t0 = time.monotonic()
    deadline = t0 + timeout
    last: Exception | None = None
    while True:
        for host, port in addrs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                return _metadata_once(host, port, min(remaining, 5.0))
            except (OSError, struct.error, ConnectionError, UnicodeDecodeError) as exc:
                last = exc
        if time.monotonic() >= deadline:
            raise BrokerError(
                f"Kafka at {bootstrap_servers} did not answer a metadata request within "
                f"{time.monotonic() - t0:.1f} s (last error: {type(last).__name__}: {last})"
            )
        time.sleep(0.2)


def wait_until_ready(
    bootstrap_servers: str,
    nodes: list[Node],
    *,
    timeout: float,
    expect_brokers: int = 1,
    what: str = "broker",
) -> dict[str, Any]:
    """Poll metadata until ``expect_brokers`` unfenced brokers answer, or fail clearly.

    Fails early (with the log tail) when an owned process exits during the wait.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        for n in nodes:
            if n.process is not None and not n.alive():
                raise BrokerError(
                    f"{what} node {n.node_id} exited with code {n.process.returncode} while starting; "
                    f"log {n.log_path}:\n{log_tail(n.log_path)}"
                )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logp = nodes[0].log_path if nodes else None
            raise BrokerError(
                f"{what} at {bootstrap_servers} not ready after {timeout:.0f} s ({last}); log {logp}:\n{log_tail(logp)}"
            )
        try:
            md = cluster_metadata(bootstrap_servers, timeout=min(2.0, max(0.3, remaining)))
            brokers = md.get("brokers", [])
            if len(brokers) >= expect_brokers:
                return md
            last = f"{len(brokers)} of {expect_brokers} brokers registered"
        except BrokerError as exc:
            last = str(exc)
        time.sleep(0.2)
