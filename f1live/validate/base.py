"""The validation's constants, plan and report: notebooks, targets, checklist lines."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from f1live.config import PROJECT_ROOT

log = logging.getLogger(__name__)


NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS: tuple[str, ...] = (
    "01_data_preparation",
    "02_cache_setup",
    "03_kafka_producer",
    "04_kafka_topic_setup",
    "05_kafka_consumer",
    "06_ml_model_training",
    "07_weak_scaling_demo",
    "08_live_dashboard",
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
#: Debian's chromium, headless, as a user's browser with nothing of its own running in the
#: background (the validation, the dashboard benchmark, the screenshots and the tests).
CHROME_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


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
        lines = [
            f"f1live validation ({'quick' if self.quick else 'full'}) in {self.run_dir}",
            f"broker {self.broker_kind} at {self.bootstrap_servers}; {self.cpu_count} CPUs, "
            f"load average {self.load_avg[0]:.1f} at start; {self.seconds:.0f} s",
            "",
            "notebooks:",
        ]
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
        return cls(
            quick=True,
            drivers="VER,HAM,LEC",
            speed=10.0,
            produce_s=6.0,
            scaling_consumers="1,2",
            scaling_rate="fixed",
            scaling_duration=6.0,
            scaling_messages=2000,
            scaling_drivers_per_stream=3,
            dashboard_s=6.0,
            browser_s=8.0,
            train_drivers="VER,HAM,LEC,ALO",
            notebook_timeout_s=900.0,
            train_params={
                "train_years": "2024",
                "cv_folds": 2,
                "max_iter": 30,
                "stride": 16,
                "faults_per_type": 2,
                "fault_drivers": "VER",
            },
        )
