"""Execute one notebook under papermill and measure directly: topic read-back, inference, the page in Chromium."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from f1live.config import PROJECT_ROOT, Settings
from f1live.validate.base import (
    CHROME_FLAGS,
    CHROMEDRIVER,
    CHROMIUM,
    NOTEBOOKS_DIR,
    OBSERVER_JS,
    PROBE_TAG,
    StepResult,
)
from f1live.validate.evidence import probe_cell_source

log = logging.getLogger(__name__)


@contextmanager
def _env(values: Mapping[str, str]) -> Iterator[None]:
    """Environment for the notebook kernels (they inherit it when they start)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_notebook(name: str, run_dir: Path, params: Mapping[str, Any], timeout_s: float) -> StepResult:
    """Run ``notebooks/<name>.ipynb`` with papermill into ``run_dir`` plus its probe cell."""
    import nbformat
    import papermill

    src = NOTEBOOKS_DIR / f"{name}.ipynb"
    out = run_dir / f"{name}.ipynb"
    ev_path = run_dir / "evidence" / f"{name}.json"
    t0 = time.monotonic()
    if not src.is_file():
        return StepResult(name, False, 0.0, None, f"notebook {src.relative_to(PROJECT_ROOT)} not found")
    nb = nbformat.read(src, as_version=4)
    cell = nbformat.v4.new_code_cell(probe_cell_source(name, ev_path))
    cell.metadata["tags"] = [PROBE_TAG]
    nb.cells.append(cell)
    error = None
    try:
        papermill.execute_notebook(
            nb,
            str(out),
            parameters=dict(params),
            kernel_name="python3",
            cwd=str(PROJECT_ROOT),
            progress_bar=False,
            execution_timeout=int(timeout_s),
        )
    except Exception as exc:  # papermill re-raises the cell's exception; keep the last lines
        text = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: " + " | ".join(t for t in text[-3:] if t.strip())[:600]
        log.error("notebook %s failed: %s", name, error)
    evidence: dict[str, Any] = {}
    if ev_path.is_file():
        evidence = json.loads(ev_path.read_text())
    if error is None and "probe_error" in evidence:
        error = f"probe: {evidence['probe_error']}"
    return StepResult(name, error is None, time.monotonic() - t0, str(out), error, evidence)


def count_run_messages(
    servers: str, topic: str, run_id: str, start: Mapping[int, int] | None = None, timeout_s: float = 30.0
) -> dict[str, int]:
    """Read the topic back (from ``start`` offsets, default the beginning) and count
    the messages whose run header is ``run_id``, per driver key."""
    from kafka import KafkaConsumer, TopicPartition

    from f1live.schema import RUN_HEADER

    c = KafkaConsumer(
        bootstrap_servers=servers,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=2000,
        fetch_max_wait_ms=50,
        request_timeout_ms=15000,
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        if not parts:
            raise RuntimeError(f"topic {topic!r} not found on {servers}")
        c.assign(parts)
        end = c.end_offsets(parts)
        for tp in parts:
            c.seek(tp, int((start or {}).get(tp.partition, 0)))
        counts: dict[str, int] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(c.position(tp) < end[tp] for tp in parts):
            for recs in c.poll(timeout_ms=500).values():
                for r in recs:
                    if dict(r.headers or []).get(RUN_HEADER, b"").decode() == run_id:
                        k = (r.key or b"").decode()
                        counts[k] = counts.get(k, 0) + 1
        return counts
    finally:
        c.close()


def end_offsets(servers: str, topic: str) -> dict[int, int]:
    """Current end offset of every partition of ``topic`` (empty if it does not exist)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=servers, group_id=None, request_timeout_ms=15000)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        return {tp.partition: int(o) for tp, o in c.end_offsets(parts).items()} if parts else {}
    finally:
        c.close()


def measure_inference(
    settings: Settings, export_path: str | Path, n: int = 2000, drivers: tuple[str, ...] = ("VER", "HAM", "LEC")
) -> dict[str, Any]:
    """Per-message analytics latency with the trained models: ``process_batch([msg])`` timed
    over ``n`` consecutive real messages (features + anomaly detection + three models).

    Loading verifies the models against ``manifest.json`` (sha256, versions, features).
    """
    import numpy as np

    from f1live.analysis import AnalyticsProcessor
    from f1live.cache import ReplayCache

    cache = ReplayCache.from_path(export_path).filter(drivers=list(drivers))
    proc = AnalyticsProcessor(settings)
    proc.start()
    times = []
    for i, (_, row) in enumerate(cache.iter_rows()):
        if i >= n:
            break
        t = time.perf_counter()
        proc.process_batch([row])
        times.append((time.perf_counter() - t) * 1000.0)
    a = np.asarray(times[50:] if len(times) > 100 else times)  # first calls warm caches up
    return {
        "messages": len(a),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "models": sorted(proc._names),
    }


def measure_dashboard_in_browser(
    env: Mapping[str, str], seconds: float, log_path: Path, start_timeout_s: float = 150.0
) -> dict[str, Any]:
    """Serve the dashboard with Voila (127.0.0.1), open it in headless Chromium and count
    the distinct frames the page applied per second (MutationObserver on the header).

    Raises ``RuntimeError`` when no browser is installed or the page never shows data.
    """
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        raise RuntimeError(
            f"headless browser missing: need {CHROMIUM} and {CHROMEDRIVER} (scripts/bootstrap.sh --test installs them)"
        )
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from f1live.serve import VoilaServer

    srv = VoilaServer(env=dict(env), log_path=log_path)
    profile = tempfile.mkdtemp(prefix="f1live-validate-chrome-")
    driver = None
    try:
        srv.start()
        o = Options()
        for a in (*CHROME_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,2000"):
            o.add_argument(a)
        o.binary_location = str(CHROMIUM)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=o)
        driver.get(srv.url)
        t0 = time.monotonic()
        js = "const e = document.querySelector('.f1-metrics'); return e ? Object.assign({}, e.dataset) : {};"
        while float((driver.execute_script(js) or {}).get("processed", 0) or 0) <= 0:
            if time.monotonic() - t0 > start_timeout_s:
                raise RuntimeError(f"the dashboard page showed no processed message within {start_timeout_s:.0f} s")
            time.sleep(0.25)
        first_data_s = time.monotonic() - t0
        driver.execute_script(OBSERVER_JS)
        time.sleep(seconds)
        frames, elapsed_ms = driver.execute_script(
            "return [window.__f1frames.size, performance.now() - window.__f1start]"
        )
        metrics = driver.execute_script(js) or {}
        return {
            "updates_per_s": frames / (elapsed_ms / 1000.0),
            "frames": frames,
            "window_s": elapsed_ms / 1000.0,
            "first_data_s": first_data_s,
            "page_processed": metrics.get("processed"),
            "page_e2e_p99_ms": metrics.get("p99"),
            "url": srv.url,
        }
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # the page may already be gone; the server stop below still runs
                log.debug("chromium quit failed", exc_info=True)
        srv.stop()
        shutil.rmtree(profile, ignore_errors=True)
