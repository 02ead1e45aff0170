"""The state file of a broker started by ``f1live broker start``: find, check and stop it.

``f1live broker start`` (foreground or ``--detach``) writes
``<run_dir>/broker/state.json`` with the kind, bootstrap address, process ids and log;
``f1live broker status|stop``, ``f1live topic`` and ``f1live kafka-tool`` read it, so a
user never has to copy a port number around.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from f1live.broker.base import Broker
from f1live.broker.process import pid_alive
from f1live.config import Settings

log = logging.getLogger(__name__)


def state_path(settings: Settings) -> Path:
    return Path(settings.run_dir) / "broker" / "state.json"


def write_state(settings: Settings, broker: Broker, *, detached: bool) -> Path:
    """Record a started broker (atomically) and return the state file's path."""
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "kind": broker.kind,
        "bootstrap_servers": broker.bootstrap_servers,
        "pids": broker.pids,
        "nodes": len(broker.nodes),
        "log_path": str(broker.log_path) if broker.log_path else None,
        "run_dir": str(broker.run_dir) if broker.run_dir else None,
        "start_seconds": round(broker.start_seconds, 3),
        "started_at": time.time(),
        "detached": detached,
        "owner_pid": os.getpid(),
        "info": broker.info,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
    return path


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The recorded broker, or ``None`` if there is no (readable) state file."""
    path = state_path(settings)
    try:
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def clear_state(settings: Settings) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(settings).unlink()


def _ours(pid: int, state: dict[str, Any]) -> bool:
    """True if ``pid`` still is the broker we started (guards against pid reuse)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True  # no /proc: trust the pid
    marker = state.get("run_dir") or ""
    return (not marker) or marker in cmdline or "tansu" in cmdline


def live_pids(state: dict[str, Any]) -> list[int]:
    return [p for p in state.get("pids", []) if _ours(p, state)]


def running_bootstrap(settings: Settings) -> str | None:
    """Bootstrap address of the broker recorded under ``settings.run_dir`` if it still runs."""
    state = read_state(settings)
    if state and live_pids(state):
        return str(state["bootstrap_servers"])
    return None


def stop_recorded(settings: Settings, timeout: float = 20.0) -> list[int]:
    """Stop the recorded broker's process groups (SIGTERM, then SIGKILL); return the pids stopped."""
    state = read_state(settings)
    if not state:
        return []
    pids = live_pids(state)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)  # each broker leads its own process group
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            log.warning("broker pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    clear_state(settings)
    return pids
