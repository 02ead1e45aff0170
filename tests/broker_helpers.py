"""Helpers for the broker tests: find processes by their run directory, run the CLI, read a topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from f1live.config import PROJECT_ROOT


def procs_with(marker: str | Path) -> list[psutil.Process]:
    """Live processes whose command line mentions ``marker`` (e.g. a test's run dir)."""
    marker = str(marker)
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if marker in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_gone(marker: str | Path, timeout: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = procs_with(marker)
        if not left:
            return []
        time.sleep(0.2)
    return procs_with(marker)


def cli_env(run_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("F1LIVE_") and k != "KAFKA_HOME"}
    if os.environ.get("F1LIVE_KAFKA_LIBS"):
        env["F1LIVE_KAFKA_LIBS"] = os.environ["F1LIVE_KAFKA_LIBS"]
    env["F1LIVE_RUN_DIR"] = str(run_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def f1live(*args: str, env: dict[str, str], timeout: float = 120, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "f1live", *args], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout, **kw)  # fmt: skip


def read_topic(servers: str, topic: str, expect: int, timeout: float = 30.0, fetch_max_wait_ms: int = 50) -> list:
    """Every record of ``topic`` from the beginning (no group), until ``expect`` arrived or ``timeout``."""
    from kafka import KafkaConsumer

    c = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        consumer_timeout_ms=500,
    )
    out: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for recs in c.poll(200).values():
                out.extend(recs)
    finally:
        c.close()
    return out


def default_sigint() -> None:
    """``preexec_fn`` for a child the test will Ctrl-C: SIGINT back to its default.

    A shell starts background jobs with SIGINT ignored, and a child inherits that
    (``nohup make test &`` would run these tests so): Python then installs no
    KeyboardInterrupt handler and bash cannot trap the signal. A terminal's Ctrl-C is what
    the tests model, so the child gets the default disposition a terminal gives.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
