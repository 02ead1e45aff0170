"""End-to-end validation: notebooks 01-08 under papermill, then the checklist with measured evidence.

:func:`run_validation` executes the eight notebooks in order into a run directory
(``<Settings.run_dir>/validate/<timestamp>/``), all against one broker, with every
output (exports, models, scaling results) under that directory. Each notebook is
executed with one extra *probe* cell appended (tagged ``f1live-validation``, only in
the executed copy -- the committed notebooks stay untouched) that writes what the
notebook measured to ``evidence/<notebook>.json`` through :func:`record_evidence`.
The validator adds direct checks of its own (messages read back from the topic,
partitions from broker metadata, models verified against their manifest and timed,
the dashboard page watched in headless Chromium) and evaluates the checklist:

==================================  ================================================
line                                passes when (measured)
==================================  ================================================
data exported                       rows > 0; Parquet row count (file metadata) and
                                    CSV line count equal the rows loaded
cache iterates in order             every row of the cache iterated, session time
                                    never decreases, no negative delay
messages arrive in the topic        messages of the producer's run read back from
                                    the topic == sent == acknowledged
topic has the expected partitions   broker metadata: partitions == Settings.partitions
consumer processed all messages     produced == processed per driver (after dedup)
models trained, inference p99       manifest verified; p99 of one-message analytics
                                    (features + anomaly + 3 models) < 10 ms
latency stable with scaling         fixed-rate p99 at N consumers within
                                    ``max(50 %, 25 ms)`` of N=1; exactly-once everywhere
dashboard updates in real time      distinct frames applied in a real browser per s
                                    >= ``min_browser_fps`` (fails if no browser)
==================================  ================================================

>>> c = Check("example", True, "3 rows", {"rows": 3})
>>> c.line()
'PASS  example: 3 rows'
>>> _latency_stable({1: 10.0, 2: 30.0})
(True, 'p99 10.0 -> 30.0 ms (N=1 -> 2), allowed <= 35.0 ms')
>>> _latency_stable({1: 100.0, 4: 200.0})[0]
False
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from f1live.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS: tuple[str, ...] = (
    "01_data_preparation", "02_cache_setup", "03_kafka_producer", "04_kafka_topic_setup",
    "05_kafka_consumer", "06_ml_model_training", "07_weak_scaling_demo", "08_live_dashboard",
)
PROBE_TAG = "f1live-validation"
#: Inference budget per message (seed: p99 < 10 ms).
INFERENCE_P99_MS = 10.0
#: Applied dashboard frames per second measured in the browser (bench/bench_dashboard.py target).
MIN_BROWSER_FPS = 10.0

#: Browser-side recorder: every distinct frame number the header shows (one per applied refresh).
OBSERVER_JS = """
window.__f1frames = new Set(); window.__f1start = performance.now();
const root = document.querySelector('.f1-header-html') || document.body;
new MutationObserver(() => {
  const e = document.querySelector('.f1-frame'); if (e) window.__f1frames.add(e.textContent);
}).observe(root, {childList: true, subtree: true, characterData: true});
"""
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


# --------------------------------------------------------------------------- evidence
def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        try:
            return x.item()
        except (TypeError, ValueError):
            pass
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def record_evidence(path: str | Path, values: Mapping[str, Any]) -> Path:
    """Write what a notebook measured as JSON (the probe cell calls this).

    >>> import tempfile
    >>> p = record_evidence(Path(tempfile.mkdtemp()) / "x.json", {"rows": 3, "t": float("nan")})
    >>> json.loads(p.read_text())
    {'rows': 3, 't': None}
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_jsonable(dict(values)), indent=1))
    return p


# What each notebook measured, as a Python expression over the notebook's own variables.
PROBES: dict[str, str] = {
    "01_data_preparation": """{
        "rows": len(tel), "drivers": int(tel["driver"].nunique()), "simulated": bool(data.simulated),
        "source": data.meta.get("source"), "files": {k: str(v) for k, v in res.files.items()},
        "file_bytes": {k: Path(v).stat().st_size for k, v in res.files.items()}, "sidecar": str(res.sidecar)}""",
    "02_cache_setup": """(lambda: (lambda st: {
        "rows": len(cache), "export_path": str(export_path), "iterated": st[0], "out_of_order": st[1],
        "negative_delays": st[2], "rows_per_s": st[0] / max(st[3], 1e-9)})(__f1_order(cache)))()""",
    "03_kafka_producer": """{
        "run_id": summary.run_id, "topic": summary.topic, "servers": servers, "sent": summary.sent,
        "acked": summary.acked, "failed": summary.failed, "per_driver": summary.per_driver,
        "rate_error_pct": summary.rate_error_pct, "lateness_ms": summary.lateness_ms, "speed": summary.speed}""",
    "04_kafka_topic_setup": """{"topics": [{"name": i.name, "partitions": i.partitions,
        "replication": i.replication, "leaders": i.leaders} for i in infos]}""",
    "05_kafka_consumer": """{
        "consumed": result.consumed, "processed": result.processed, "dlq": result.dlq,
        "duplicates": result.duplicates, "gaps": result.gaps, "e2e_ms": result.e2e_ms,
        "run_id": produced.run_id if producer is not None else None,
        "produced_acked": produced.acked if producer is not None else None,
        "produced_per_driver": produced.per_driver if producer is not None else None,
        "consumed_per_driver": consumer.tracker.per_driver(produced.run_id) if producer is not None else None,
        "report_ok": report.ok if producer is not None else None}""",
    "06_ml_model_training": """{"models_dir": str(models_dir), "seconds": report.seconds,
        "train_sessions": report.train_sessions, "eval_session": report.eval_session,
        "holdout": {n: {k: report.holdout[n]["model"].get(k) for k in ("f1", "roc_auc", "pr_auc")}
                    for n in report.holdout}}""",
    "07_weak_scaling_demo": """{"path": str(result.path), "rows": result.table.drop(
        columns=[c for c in ("analysis", "data") if c in result.table.columns]).to_dict("records")}""",
    "08_live_dashboard": """{
        "processed": snap["counters"]["processed"], "phase": str(dash.pipeline.phase),
        "drivers": sorted(snap.get("latest", {})), "refresher": dash.refresher.stats()}""",
}

_ORDER_HELPER = '''
def __f1_order(cache):
    import time as _t
    t0 = _t.perf_counter(); n = bad = neg = 0; prev = None
    for d, r in cache.iter_rows():
        st = r["session_time"]
        if prev is not None and st < prev:
            bad += 1
        if d < 0:
            neg += 1
        prev = st; n += 1
    return n, bad, neg, _t.perf_counter() - t0
'''


def probe_cell_source(name: str, evidence_path: Path) -> str:
    """The code appended to notebook ``name`` in the executed copy."""
    expr = PROBES[name]
    helper = _ORDER_HELPER if name == "02_cache_setup" else ""
    return (f"# {PROBE_TAG}: added by `f1live validate` (not part of the committed notebook)\n{helper}"
            f"from f1live.validation import record_evidence\n"
            f"try:\n    __f1_values = {expr}\n"
            f"except Exception as __f1_exc:  # a renamed variable must show up as a failed line, not pass\n"
            f"    __f1_values = {{'probe_error': repr(__f1_exc)}}\n"
            f"record_evidence({str(evidence_path)!r}, __f1_values)\n")


# --------------------------------------------------------------------------- results
@dataclass
class Check:
    """One checklist line: did it pass, the evidence in words, and the measured values."""

    name: str
    ok: bool
    evidence: str
    values: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.evidence}"


@dataclass
class StepResult:
    notebook: str
    ok: bool
    seconds: float
    output: str | None
    error: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationReport:
    run_dir: Path
    quick: bool
    bootstrap_servers: str
    broker_kind: str
    steps: list[StepResult]
    checks: list[Check]
    seconds: float
    cpu_count: int
    load_avg: tuple[float, float, float]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks) and all(s.ok for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        d = _jsonable(asdict(self))
        d["ok"] = self.ok
        return d

    def text(self) -> str:
        lines = [f"f1live validation ({'quick' if self.quick else 'full'}) in {self.run_dir}",
                 f"broker {self.broker_kind} at {self.bootstrap_servers}; {self.cpu_count} CPUs, "
                 f"load average {self.load_avg[0]:.1f} at start; {self.seconds:.0f} s", "",
                 "notebooks:"]
        for s in self.steps:
            extra = f"  ERROR {s.error}" if s.error else ""
            lines.append(f"  {'ok  ' if s.ok else 'FAIL'} {s.notebook:24s} {s.seconds:6.1f} s{extra}")
        lines += ["", "checklist:"] + [f"  {c.line()}" for c in self.checks]
        lines += ["", "RESULT: " + ("PASS" if self.ok else "FAIL")]
        return "\n".join(lines)


@dataclass(frozen=True)
class ValidationPlan:
    """Parameters of one validation run (``quick`` fits in CI: a few minutes on 2 cores)."""

    quick: bool = False
    drivers: str = ""
    speed: float = 10.0
    produce_s: float = 30.0
    scaling_consumers: str = "1,2,4"
    scaling_rate: str = "both"
    scaling_duration: float = 20.0
    scaling_messages: int = 10_000
    scaling_drivers_per_stream: int = 20
    dashboard_s: float = 20.0
    browser_s: float = 20.0
    formats: str = "csv,parquet"
    train_drivers: str = ""
    train_params: dict[str, Any] = field(default_factory=dict)
    min_browser_fps: float = MIN_BROWSER_FPS
    notebook_timeout_s: float = 1800.0

    @classmethod
    def for_mode(cls, quick: bool) -> ValidationPlan:
        if not quick:
            return cls()
        return cls(quick=True, drivers="VER,HAM,LEC", speed=10.0, produce_s=6.0, scaling_consumers="1,2",
                   scaling_rate="fixed", scaling_duration=6.0, scaling_messages=2000,
                   scaling_drivers_per_stream=3, dashboard_s=6.0, browser_s=8.0,
                   train_drivers="VER,HAM,LEC,ALO", notebook_timeout_s=900.0,
                   train_params={"train_years": "2024", "cv_folds": 2, "max_iter": 30, "stride": 16,
                                 "faults_per_type": 2, "fault_drivers": "VER"})


# --------------------------------------------------------------------------- execution
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
        papermill.execute_notebook(nb, str(out), parameters=dict(params), kernel_name="python3",
                                   cwd=str(PROJECT_ROOT), progress_bar=False, execution_timeout=int(timeout_s))
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


def count_run_messages(servers: str, topic: str, run_id: str, start: Mapping[int, int] | None = None,
                       timeout_s: float = 30.0) -> dict[str, int]:
    """Read the topic back (from ``start`` offsets, default the beginning) and count
    the messages whose run header is ``run_id``, per driver key."""
    from kafka import KafkaConsumer, TopicPartition

    from f1live.schema import RUN_HEADER

    c = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, group_id=None,
                      consumer_timeout_ms=2000, fetch_max_wait_ms=50, request_timeout_ms=15000)
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


def measure_inference(settings: Settings, export_path: str | Path, n: int = 2000,
                      drivers: tuple[str, ...] = ("VER", "HAM", "LEC")) -> dict[str, Any]:
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
    return {"messages": len(a), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()), "models": sorted(proc._names)}


def measure_dashboard_in_browser(env: Mapping[str, str], seconds: float, log_path: Path,
                                 start_timeout_s: float = 150.0) -> dict[str, Any]:
    """Serve the dashboard with Voila (127.0.0.1), open it in headless Chromium and count
    the distinct frames the page applied per second (MutationObserver on the header).

    Raises ``RuntimeError`` when no browser is installed or the page never shows data.
    """
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        raise RuntimeError(f"headless browser missing: need {CHROMIUM} and {CHROMEDRIVER} "
                           "(scripts/bootstrap.sh --test installs them)")
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from f1live.widgets.server import VoilaServer

    srv = VoilaServer(env=dict(env), log_path=log_path)
    profile = tempfile.mkdtemp(prefix="f1live-validate-chrome-")
    driver = None
    try:
        srv.start()
        o = Options()
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--user-data-dir={profile}", "--window-size=1400,2000"):
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
            "return [window.__f1frames.size, performance.now() - window.__f1start]")
        metrics = driver.execute_script(js) or {}
        return {"updates_per_s": frames / (elapsed_ms / 1000.0), "frames": frames,
                "window_s": elapsed_ms / 1000.0, "first_data_s": first_data_s,
                "page_processed": metrics.get("processed"), "page_e2e_p99_ms": metrics.get("p99"),
                "url": srv.url}
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # the page may already be gone; the server stop below still runs
                log.debug("chromium quit failed", exc_info=True)
        srv.stop()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- checklist
def _latency_stable(p99_by_n: Mapping[int, float], growth: float = 0.5, floor_ms: float = 25.0) -> tuple[bool, str]:
    """p99 at the largest N within ``max(growth x, floor_ms)`` of p99 at the smallest N.

    The absolute floor keeps millisecond-scale noise on a shared machine from failing a
    run whose latency is flat in practical terms.
    """
    ns = sorted(p99_by_n)
    a, b = p99_by_n[ns[0]], p99_by_n[ns[-1]]
    allowed = a + max(growth * a, floor_ms)
    return b <= allowed, f"p99 {a:.1f} -> {b:.1f} ms (N={ns[0]} -> {ns[-1]}), allowed <= {allowed:.1f} ms"


def _ev(steps: Mapping[str, StepResult], name: str) -> dict[str, Any]:
    s = steps.get(name)
    return s.evidence if s is not None else {}


def _why(steps: Mapping[str, StepResult], name: str) -> str:
    s = steps.get(name)
    if s is None:
        return f"{name} was not run"
    return s.error or f"{name} recorded no evidence"


def _check_export(steps: Mapping[str, StepResult]) -> Check:
    name = "data exported (rows, files)"
    ev = _ev(steps, "01_data_preparation")
    if "rows" not in ev:
        return Check(name, False, _why(steps, "01_data_preparation"))
    import pyarrow.parquet as pq

    rows, counted, problems = int(ev["rows"]), {}, []
    telemetry = {k: f for k, f in ev["files"].items() if k in ("csv", "parquet")}  # not the side tables
    for fmt, f in telemetry.items():
        p = Path(f)
        if not p.is_file():
            problems.append(f"{fmt} file {p} missing")
            continue
        if fmt == "parquet":
            counted[fmt] = pq.read_metadata(p).num_rows
        elif fmt == "csv":
            opener = __import__("gzip").open if p.suffix == ".gz" else open
            with opener(p, "rb") as fh:
                counted[fmt] = sum(1 for _ in fh) - 1  # header
        if fmt in counted and counted[fmt] != rows:
            problems.append(f"{fmt} has {counted[fmt]:,} rows, loaded {rows:,}")
    ok = rows > 0 and bool(counted) and not problems
    files = ", ".join(f"{Path(f).name} ({ev['file_bytes'][k] / 1e6:.1f} MB, {counted.get(k, '?'):,} rows)"
                      for k, f in telemetry.items())
    sim = " SIMULATED" if ev.get("simulated") else ""
    text = f"{rows:,} rows, {ev['drivers']} drivers from {ev['source']}{sim} -> {files}"
    return Check(name, ok, text + ("; " + "; ".join(problems) if problems else ""),
                 {"rows": rows, "file_rows": counted, "files": telemetry})


def _check_cache(steps: Mapping[str, StepResult]) -> Check:
    name = "cache iterates in order"
    ev = _ev(steps, "02_cache_setup")
    if "iterated" not in ev:
        return Check(name, False, _why(steps, "02_cache_setup"))
    ok = ev["iterated"] == ev["rows"] > 0 and ev["out_of_order"] == 0 and ev["negative_delays"] == 0
    return Check(name, ok, f"{ev['iterated']:,}/{ev['rows']:,} rows iterated, {ev['out_of_order']} out of order, "
                           f"{ev['negative_delays']} negative delays, {ev['rows_per_s']:,.0f} rows/s", ev)


def _check_topic_messages(steps: Mapping[str, StepResult], read_back: dict[str, int] | None, err: str | None) -> Check:
    name = "messages arrive in the topic (count)"
    ev = _ev(steps, "03_kafka_producer")
    if "sent" not in ev:
        return Check(name, False, _why(steps, "03_kafka_producer"))
    if read_back is None:
        return Check(name, False, f"reading the topic back failed: {err}")
    n = sum(read_back.values())
    ok = ev["sent"] > 0 and n == ev["sent"] == ev["acked"] and ev["failed"] == 0 and read_back == ev["per_driver"]
    return Check(name, ok, f"{n:,} messages of run {ev['run_id']} read back from {ev['topic']}; producer sent "
                           f"{ev['sent']:,}, acked {ev['acked']:,}, failed {ev['failed']}; rate error "
                           f"{ev['rate_error_pct']:+.2f} % at {ev['speed']:g}x",
                 {"read_back": n, "per_driver": read_back, **{k: ev[k] for k in ("sent", "acked", "failed")}})


def _check_partitions(steps: Mapping[str, StepResult], info: Any, expected: int, topic: str, err: str | None) -> Check:
    name = "topic has the expected partitions"
    if info is None:
        return Check(name, False, f"topic {topic} not described by the broker: {err or _why(steps, '04_kafka_topic_setup')}")
    nb = {t["name"]: t["partitions"] for t in _ev(steps, "04_kafka_topic_setup").get("topics", [])}
    ok = info.partitions == expected and nb.get(topic) == expected and sorted(info.leaders) == list(range(expected))
    return Check(name, ok, f"{topic}: {info.partitions} partitions with leaders {dict(sorted(info.leaders.items()))} "
                           f"(broker metadata; notebook 04 saw {nb.get(topic)}), expected {expected}",
                 {"partitions": info.partitions, "expected": expected, "notebook": nb})


def _check_consumer(steps: Mapping[str, StepResult]) -> Check:
    name = "consumer processed all messages (produced = consumed)"
    ev = _ev(steps, "05_kafka_consumer")
    if "processed" not in ev or ev.get("produced_per_driver") is None:
        return Check(name, False, _why(steps, "05_kafka_consumer"))
    prod, cons = ev["produced_per_driver"], ev["consumed_per_driver"]
    produced, consumed = sum(prod.values()), sum(cons.values())
    ok = bool(ev["report_ok"]) and prod == cons and produced == ev["produced_acked"] > 0 and ev["dlq"] == 0
    return Check(name, ok, f"produced {produced:,} = consumed {consumed:,} after dedup over {len(prod)} drivers "
                           f"(duplicates {ev['duplicates']}, gaps {ev['gaps']}, DLQ {ev['dlq']}); consumer e2e p50 "
                           f"{ev['e2e_ms'].get('p50')} ms, p99 {ev['e2e_ms'].get('p99')} ms (a new group: includes "
                           "notebook 03's backlog)",
                 {"produced": produced, "consumed": consumed, "e2e_ms": ev["e2e_ms"]})


def _check_models(steps: Mapping[str, StepResult], inf: dict[str, Any] | None, err: str | None) -> Check:
    name = f"models trained and inference p99 < {INFERENCE_P99_MS:g} ms"
    if inf is None:
        return Check(name, False, err or _why(steps, "06_ml_model_training"))
    step = steps.get("06_ml_model_training")
    ok = inf["p99_ms"] < INFERENCE_P99_MS and len(inf["models"]) == 3 and step is not None and step.ok
    note = "" if step is not None and step.ok else f" (but notebook 06: {_why(steps, '06_ml_model_training')})"
    return Check(name, ok, f"{', '.join(inf['models'])} verified against manifest.json; per-message analytics "
                           f"p50 {inf['p50_ms']:.2f} ms, p99 {inf['p99_ms']:.2f} ms over {inf['messages']:,} "
                           f"real messages{note}", inf)


def _check_scaling(steps: Mapping[str, StepResult]) -> Check:
    name = "latency stable with scaling"
    rows = _ev(steps, "07_weak_scaling_demo").get("rows")
    if not rows:
        return Check(name, False, _why(steps, "07_weak_scaling_demo"))
    fixed = [r for r in rows if r["rate"] == "fixed" and r.get("latency_p99_ms") is not None]
    if not fixed:
        return Check(name, False, "no fixed-rate scaling point was measured")
    parts, ok = [], all(bool(r["delivery_ok"]) for r in rows)
    for mode in sorted({r["mode"] for r in fixed}):
        p99 = {int(r["consumers"]): float(r["latency_p99_ms"]) for r in fixed if r["mode"] == mode}
        good, text = _latency_stable(p99)
        ok = ok and good and len(p99) >= 2
        vals = ", ".join(f"N={n}: {v:.1f}" for n, v in sorted(p99.items()))
        parts.append(f"{mode}: p99 ms {vals} -- {text}")
    eff = [f"N={int(r['consumers'])}: {r['efficiency']:.2f}" for r in rows
           if r["rate"] == "max" and r.get("efficiency") is not None]
    delivery = "exactly once in every run" if all(r["delivery_ok"] for r in rows) else "DELIVERY FAILED"
    return Check(name, ok, "; ".join(parts) + f"; {delivery}" + (f"; max-rate efficiency {', '.join(eff)}" if eff else ""),
                 {"rows": rows})


def _check_dashboard(steps: Mapping[str, StepResult], browser: dict[str, Any] | None, err: str | None,
                     min_fps: float) -> Check:
    name = "dashboard updates in real time (browser-measured)"
    ev = _ev(steps, "08_live_dashboard")
    nb = (f"notebook 08 processed {ev['processed']:,} messages, kernel refresher "
          f"{(ev['refresher'].get('applied_per_s') or 0):.1f} updates/s" if "processed" in ev
          else f"notebook 08: {_why(steps, '08_live_dashboard')}")
    if browser is None:
        return Check(name, False, f"browser measurement could not run: {err}; {nb}")
    ok = browser["updates_per_s"] >= min_fps and "processed" in ev and ev["processed"] > 0
    return Check(name, ok, f"{browser['updates_per_s']:.1f} frames/s applied in headless Chromium over "
                           f"{browser['window_s']:.1f} s (target >= {min_fps:g}), first data after "
                           f"{browser['first_data_s']:.1f} s; {nb}", {"browser": browser, "notebook": ev})


# --------------------------------------------------------------------------- run
def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_validation(
    settings: Settings,
    *,
    quick: bool = False,
    out: Path | None = None,
    bootstrap_servers: str | None = None,
    plan: ValidationPlan | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run notebooks 01-08 and the checklist; see the module docstring.

    Args:
        settings: base settings (``source``, ``shared_data``, ``run_dir``, ...). Data,
            models and scaling results of the run go under the run directory.
        quick: CI-sized parameters (:meth:`ValidationPlan.for_mode`).
        out: run directory (default ``<settings.run_dir>/validate/<UTC timestamp>``).
        bootstrap_servers: an external Kafka; default: the recorded or an embedded broker.
        progress: a tqdm bar over the notebooks (stderr).
        say: called with one line per finished step (e.g. ``print``).
    """
    import psutil

    from f1live.clients import find_or_start_broker
    from f1live.topics import describe_topic

    plan = plan or ValidationPlan.for_mode(quick)
    run_dir = Path(out) if out is not None else Path(settings.run_dir) / "validate" / _timestamp()
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir, models_dir = run_dir / "data", run_dir / "models"
    base = settings.replace(data_dir=data_dir, models_dir=models_dir, run_dir=run_dir / "runs",
                            bootstrap_servers=bootstrap_servers or settings.bootstrap_servers)
    t_start = time.monotonic()
    load = os.getloadavg()
    servers, kind, broker = find_or_start_broker(base)
    log.info("validation in %s against %s broker at %s", run_dir, kind, servers)
    env = {"F1LIVE_SHARED_DATA": str(base.shared_data), "F1LIVE_DATA_DIR": str(data_dir),
           "F1LIVE_MODELS_DIR": str(models_dir), "F1LIVE_RUN_DIR": str(base.run_dir),
           "F1LIVE_SOURCE": base.source, "F1LIVE_OFFLINE": "1" if base.offline else "0",
           "F1LIVE_BOOTSTRAP_SERVERS": servers, "F1LIVE_BROKER": "external" if kind == "external" else kind,
           "MPLBACKEND": "Agg"}
    group = f"validate-{uuid.uuid4().hex[:8]}"
    steps: dict[str, StepResult] = {}
    extra: dict[str, Any] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(NOTEBOOKS) + 1, desc="validate", unit="step")

    def step(name: str, params: dict[str, Any]) -> StepResult:
        if bar is not None:
            bar.set_postfix_str(name)
        r = execute_notebook(name, run_dir, params, plan.notebook_timeout_s)
        steps[name] = r
        if bar is not None:
            bar.update(1)
        if say is not None:
            say(f"{'ok  ' if r.ok else 'FAIL'} {name} ({r.seconds:.0f} s){'  ' + r.error if r.error else ''}")
        return r

    try:
        with _env(env):
            step("01_data_preparation", {"source": base.source, "shared_data": str(base.shared_data),
                                         "out_dir": str(data_dir), "formats": plan.formats, "offline": True,
                                         "drivers": plan.drivers,
                                         "year": base.year, "event": base.event, "session": base.session})
            files = steps["01_data_preparation"].evidence.get("files", {})
            export = files.get("parquet") or files.get("csv") or ""
            step("02_cache_setup", {"export_path": export, "out_dir": str(data_dir), "year": base.year,
                                    "event": base.event, "session": base.session, "rate_rows": 200_000})
            before = {}
            try:
                before = end_offsets(servers, base.topic)
            except Exception as exc:  # the topic may not exist yet: read from the beginning
                log.debug("end offsets before 03: %s", exc)
            step("03_kafka_producer", {"bootstrap_servers": servers, "file": export, "drivers": plan.drivers,
                                       "replay_from": "lap 20", "speed": plan.speed, "duration_s": plan.produce_s})
            ev3 = steps["03_kafka_producer"].evidence
            extra["read_back"], extra["read_back_error"] = None, None
            if ev3.get("run_id"):
                try:
                    extra["read_back"] = count_run_messages(servers, ev3["topic"], ev3["run_id"], before)
                except Exception as exc:
                    extra["read_back_error"] = f"{type(exc).__name__}: {exc}"
            step("04_kafka_topic_setup", {"bootstrap_servers": servers, "partitions": base.partitions})
            try:
                extra["topic_info"], extra["topic_error"] = describe_topic(servers, base.topic), None
            except Exception as exc:
                extra["topic_info"], extra["topic_error"] = None, f"{type(exc).__name__}: {exc}"
            step("05_kafka_consumer", {"bootstrap_servers": servers, "file": export, "drivers": plan.drivers,
                                       "replay_from": "lap 20", "speed": plan.speed, "produce_s": plan.produce_s,
                                       "timeout_s": plan.produce_s + 60.0, "group": group})
            step("06_ml_model_training", {"out_dir": str(models_dir), "drivers": plan.train_drivers,
                                          "source": base.source, **plan.train_params})
            extra["inference"], extra["inference_error"] = None, None
            try:
                extra["inference"] = measure_inference(base, export, n=1000 if plan.quick else 5000)
            except Exception as exc:
                extra["inference_error"] = f"{type(exc).__name__}: {exc}"
            step("07_weak_scaling_demo", {"consumers": plan.scaling_consumers, "mode": "process",
                                          "rate": plan.scaling_rate, "speed": plan.speed,
                                          "duration": plan.scaling_duration, "messages": plan.scaling_messages,
                                          "drivers_per_stream": plan.scaling_drivers_per_stream,
                                          "source": "file" if export else base.source, "file": export or None,
                                          "bootstrap_servers": servers, "run_dir": str(base.run_dir)})
            with _env({"F1LIVE_SOURCE_PATH": export} if export else {}):
                step("08_live_dashboard", {"source": "file" if export else base.source, "drivers": plan.drivers,
                                           "speed": 20.0, "replay_from": "lap 20", "broker": "external",
                                           "bootstrap_servers": servers, "duration_s": plan.dashboard_s})
        if bar is not None:
            bar.set_postfix_str("dashboard in browser")
        extra["browser"], extra["browser_error"] = None, None
        try:
            venv = {**env, "F1LIVE_SPEED": "20", "F1LIVE_DASHBOARD_DRIVERS": plan.drivers or "VER,HAM,LEC,ALO,OCO",
                    "F1LIVE_DASHBOARD_START_LAP": "20", "F1LIVE_DASHBOARD_HEARTBEAT_S": "60"}
            if export:
                venv.update({"F1LIVE_SOURCE": "file", "F1LIVE_SOURCE_PATH": export})
            extra["browser"] = measure_dashboard_in_browser(venv, plan.browser_s, run_dir / "voila.log")
        except Exception as exc:
            extra["browser_error"] = f"{type(exc).__name__}: {exc}"
            log.error("browser measurement failed: %s", extra["browser_error"])
        if bar is not None:
            bar.update(1)
            bar.close()
    finally:
        if broker is not None:
            broker.stop()

    checks = [
        _check_export(steps),
        _check_cache(steps),
        _check_topic_messages(steps, extra["read_back"], extra["read_back_error"]),
        _check_partitions(steps, extra.get("topic_info"), base.partitions, base.topic, extra.get("topic_error")),
        _check_consumer(steps),
        _check_models(steps, extra["inference"], extra["inference_error"]),
        _check_scaling(steps),
        _check_dashboard(steps, extra["browser"], extra["browser_error"], plan.min_browser_fps),
    ]
    report = ValidationReport(run_dir=run_dir, quick=plan.quick, bootstrap_servers=servers, broker_kind=kind,
                              steps=[steps[n] for n in NOTEBOOKS if n in steps], checks=checks,
                              seconds=time.monotonic() - t_start, cpu_count=psutil.cpu_count() or 0,
                              load_avg=load)
    (run_dir / "validation.json").write_text(json.dumps(report.to_dict(), indent=1))
    (run_dir / "validation.txt").write_text(report.text() + "\n")
    return report
