"""The quick soak (bench/bench_soak.py --quick) runs end to end: memory sampled, no leaks.

Timing targets are the benchmark's business (bench/run_all.py reports them); this test
checks what does not depend on machine load: the soak runs the full pipeline (analysis +
dashboard refresher) on the real race, samples RSS and latency, and leaves no thread or
process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT


@pytest.mark.timeout(900)
def test_quick_soak_samples_memory_and_leaks_nothing(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    env = {
        **os.environ,
        "F1LIVE_SHARED_DATA": str(shared_data),
        "F1LIVE_SOURCE": "fastf1-csv",
        "F1LIVE_MODELS_DIR": str(tmp_path / "no-models"),
    }
    env.pop("F1LIVE_BOOTSTRAP_SERVERS", None)
    r = subprocess.run(
        [sys.executable, "bench/bench_soak.py", "--quick", "--drivers", "VER,HAM,LEC,ALO", "--json-out", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert out.is_file(), r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert len(res["samples"]) >= 6  # 1.5 min sampled every 10 s
    assert res["processed"] > 1000 and res["dlq"] == 0
    assert all(s["rss_mb"] > 0 and s["broker_rss_mb"] > 0 for s in res["samples"])
    assert any(s["p99_ms"] is not None for s in res["samples"])
    assert any(s["ui_updates_per_s"] > 0 for s in res["samples"]), "the dashboard refresher never rendered"
    assert res["leaked_threads"] == [] and res["leaked_children"] == [], res
    assert res["rss_growth_pct"] < 10.0, [s["rss_mb"] for s in res["samples"]]
    assert "RSS after warm-up" in r.stdout and "p99 first third" in r.stdout
