"""`f1live produce` / `f1live consume` as a user runs them (subprocess, real Kafka, --json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from f1live.config import PROJECT_ROOT


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "f1live", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=PROJECT_ROOT)  # fmt: skip


def test_produce_then_consume_json(
    kafka_broker: Any, stream_topic: Any, monaco_2023_slice: Any, tmp_path: Path
) -> None:
    from f1live.export import export_session

    path = export_session(monaco_2023_slice, tmp_path, formats=("parquet",), progress=False).parquet
    s = stream_topic(kafka_broker)
    bs = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", s.topic]
    p = _cli("produce", "--file", str(path), "--drivers", "VER,HAM", "--speed", "max", "--json", *bs)
    assert p.returncode == 0, p.stderr
    prod = json.loads(p.stdout.strip().splitlines()[-1])
    assert prod["failed"] == 0 and prod["acked"] == prod["sent"] > 0
    assert set(prod["per_driver"]) == {"VER", "HAM"}
    c = _cli("consume", "--group", s.consumer_group, "--timeout", "40", "--idle-timeout", "3", "--json", *bs)
    assert c.returncode == 0, c.stderr
    cons = json.loads(c.stdout.strip().splitlines()[-1])
    assert cons["processed"] == prod["sent"] and cons["dlq"] == 0 and cons["duplicates"] == 0
    assert cons["per_driver"] == prod["per_driver"]
    assert cons["e2e_ms"]["count"] == prod["sent"] and cons["e2e_ms"]["p99"] > 0


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    p = _cli("produce", "--file", str(tmp_path / "missing.parquet"), "--bootstrap-servers", "127.0.0.1:1")
    assert p.returncode == 1 and "missing.parquet: no such file" in p.stderr
    c = _cli("consume", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "2")
    assert c.returncode == 1 and "no Kafka broker reachable at 127.0.0.1:1" in c.stderr
    assert "Traceback" not in c.stderr
