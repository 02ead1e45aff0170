"""Fixtures for the dashboard tests: a headless Chromium and a Voila dashboard server."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from f1live.serve import VoilaServer
from f1live.validate.base import CHROME_FLAGS
from f1live.validate.base import CHROMEDRIVER as _CHROMEDRIVER
from f1live.validate.base import CHROMIUM as _CHROMIUM

CHROMIUM = str(_CHROMIUM)
CHROMEDRIVER = str(_CHROMEDRIVER)
#: A small real-data slice keeps a page view quick: 3 drivers from lap 22, 20x.
SLICE_DRIVERS = ("VER", "HAM", "LEC")


def dashboard_env(shared_data: Path, out: Path, **extra: str) -> dict[str, str]:
    """``F1LIVE_*`` for a Voila kernel: real 2023 Monaco data slice, Tansu, outputs under ``out``."""
    env = {
        "F1LIVE_SHARED_DATA": str(shared_data),
        "F1LIVE_SOURCE": "fastf1-csv",
        "F1LIVE_OFFLINE": "1",
        "F1LIVE_DATA_DIR": str(out / "data"),
        "F1LIVE_MODELS_DIR": str(out / "models"),
        "F1LIVE_RUN_DIR": str(out / "runs"),
        "F1LIVE_BROKER": "tansu",
        "F1LIVE_SPEED": "20",
        "F1LIVE_DASHBOARD_DRIVERS": ",".join(SLICE_DRIVERS),
        "F1LIVE_DASHBOARD_START_LAP": "22",
        "F1LIVE_DASHBOARD_HEARTBEAT_S": "60",
    }
    env.update(extra)
    return env


@pytest.fixture
def chrome() -> Iterator[Callable[..., Any]]:
    """Factory of headless Chromium drivers (fresh profile each); all quit at teardown."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(f"headless browser missing: need {CHROMIUM} and {CHROMEDRIVER} (scripts/bootstrap.sh --test)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []
    profiles: list[str] = []

    def make(width: int = 1400, height: int = 2100) -> Any:
        opts = Options()
        for flag in CHROME_FLAGS:
            opts.add_argument(flag)
        profile = tempfile.mkdtemp(prefix="f1live-chrome-")
        profiles.append(profile)
        opts.add_argument(f"--user-data-dir={profile}")
        opts.add_argument(f"--window-size={width},{height}")
        opts.binary_location = CHROMIUM
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        try:
            d.quit()
        except Exception:
            pass
    for p in profiles:
        shutil.rmtree(p, ignore_errors=True)


@pytest.fixture
def voila_dashboard(test_data: Path, tmp_path: Path) -> Iterator[Callable[..., VoilaServer]]:
    """Factory: start the real ``widgets/dashboard.ipynb`` under Voila on a free port."""
    servers: list[VoilaServer] = []

    def start(cull_idle_timeout: int = 120, cull_interval: int = 30, **env: str) -> VoilaServer:
        srv = VoilaServer(
            env=dashboard_env(test_data, tmp_path, **env),
            log_path=tmp_path / "voila.log",
            cull_idle_timeout=cull_idle_timeout,
            cull_interval=cull_interval,
        )
        servers.append(srv)
        return srv.start()

    yield start
    for s in servers:
        s.stop()


def page_text(driver: Any, css: str) -> str | None:
    """Text of the first element matching ``css`` (read in JS: panels re-render their HTML)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css
    )


def wait_for(fn: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``fn`` until truthy; fail naming ``what`` on timeout."""
    import time

    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


# ----------------------------------------------------------------------------- the real command
class DashboardCommand:
    """``f1live dashboard`` as a user starts it, in a subprocess (its own broker, Voila)."""

    def __init__(self, proc: Any, url: str, env: dict[str, str], run_dir: Path) -> None:
        self.proc, self.url, self.env, self.run_dir = proc, url, env, run_dir

    def kernel_logs(self) -> list[Path]:
        return sorted((self.run_dir / "dashboard").glob("kernel-*.log"))

    def descendants(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def java_processes(self) -> list[int]:
        import psutil

        out = []
        for pid in self.descendants():
            try:
                if "java" in psutil.Process(pid).name():
                    out.append(pid)
            except psutil.Error:
                continue
        return out


@pytest.fixture
def dashboard_command(tmp_path: Path, test_data: Path) -> Iterator[Callable[..., DashboardCommand]]:
    """Factory: start ``f1live dashboard ARGS`` (real data, outputs under tmp), wait for its URL;
    stopped (SIGTERM, as a service manager would) at teardown, leaving no process behind."""
    import os
    import re
    import signal
    import subprocess
    import sys

    started: list[DashboardCommand] = []

    def start(*args: str, **env: str) -> DashboardCommand:
        run_dir = tmp_path / f"runs{len(started)}"
        full_env = {
            **os.environ,
            "F1LIVE_SHARED_DATA": str(test_data),
            "F1LIVE_RUN_DIR": str(run_dir),
            "F1LIVE_DATA_DIR": str(tmp_path / "data"),
            "F1LIVE_MODELS_DIR": str(tmp_path / "models"),
            "F1LIVE_OFFLINE": "1",
            "F1LIVE_FASTF1_CACHE": str(tmp_path / "no_cache"),
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "f1live", "dashboard", "--port", "0", "--no-browser", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        out: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"f1live dashboard exited {proc.returncode}: {''.join(out)[-3000:]}")
            out.append(line)
            m = re.search(r"f1live dashboard: (http://127\.0\.0\.1:\d+/)", line)
            if m:
                cmd = DashboardCommand(proc, m.group(1), full_env, run_dir)
                started.append(cmd)
                return cmd
        proc.kill()
        pytest.fail(f"no URL from f1live dashboard within 240 s: {''.join(out)[-3000:]}")

    yield start
    import psutil

    for cmd in started:
        family = cmd.descendants()
        cmd.proc.send_signal(signal.SIGTERM)
        try:
            cmd.proc.wait(90)
        except subprocess.TimeoutExpired:
            cmd.proc.kill()
            pytest.fail("f1live dashboard did not stop on SIGTERM within 90 s")
        _, alive = psutil.wait_procs([psutil.Process(p) for p in family if psutil.pid_exists(p)], timeout=10)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], (
            f"processes left after f1live dashboard stopped: {alive}"
        )


#: Browser-side recorder of the replay clock: every change of the header's clock text with its
#: performance.now() time, so control latencies are measured in the page, not by polling.
CLOCK_RECORDER = """
window.__clock = [];
const read = () => { const e = document.querySelector('.f1-session-time'); return e ? e.textContent : null; };
let last = read();
new MutationObserver(() => {
  const t = read();
  if (t !== last) { last = t; window.__clock.push([performance.now(), t]); }
}).observe(document.querySelector('.f1-header-html') || document.body, {subtree: true, childList: true, characterData: true});
return performance.now();
"""


def clock_seconds(text: str | None) -> float | None:
    """``'Lap 12/78 · 1:16:53.0'`` -> 4613.0."""
    if not text:
        return None
    clock = text.split("·")[-1].strip()
    try:
        h, m, s = clock.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None


def clock_changes(driver: Any, since: float) -> list[tuple[float, float]]:
    """(page ms, session seconds) of the clock changes recorded after ``since`` (page ms)."""
    rows = driver.execute_script("return window.__clock.filter(r => r[0] > arguments[0]);", since)
    return [(float(t), clock_seconds(x)) for t, x in rows if clock_seconds(x) is not None]


def now_ms(driver: Any) -> float:
    return float(driver.execute_script("return performance.now();"))


def car_positions(driver: Any) -> list[str]:
    """The track map's car marks (bqplot scatter groups) as their SVG transforms."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.f1-panel-trackmappanel g.object_grp')]"
        ".map(e => e.getAttribute('transform'));"
    )


def open_tab(driver: Any, title: str) -> None:
    """Click one of the dashboard's tabs by its title (Lumino tab bars answer real pointer
    events, not a scripted ``click()``)."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//li[contains(@class,'lm-TabBar-tab')][.//div[text()='{title}']]").click()


#: The race-analysis panels (CSS class of each card).
ANALYSIS_PANELS = (
    "f1-panel-strategypanel",
    "f1-panel-lapchartpanel",
    "f1-panel-laptimespanel",
    "f1-panel-comparisonpanel",
    "f1-panel-weatherpanel",
)


def analysis_state(driver: Any) -> dict[str, tuple[int, str]]:
    """Per race-analysis panel: how many drawn lines (SVG paths with data) and a signature of
    everything it draws (paths, labels, texts), to tell that it changed."""
    return {
        k: (int(n), str(sig))
        for k, (n, sig) in driver.execute_script(
            """
        const out = {};
        for (const cls of arguments[0]) {
          const root = document.querySelector('.' + cls);
          if (!root) { out[cls] = [0, '']; continue; }
          const d = [...root.querySelectorAll('path.line, path.dot, .object_grp')]
            .map(e => (e.getAttribute('d') || '') + (e.getAttribute('transform') || ''));
          const drawn = [...root.querySelectorAll('path.line')].filter(e => (e.getAttribute('d') || '').length > 20);
          out[cls] = [drawn.length, d.join('|') + root.textContent];
        }
        return out;""",
            list(ANALYSIS_PANELS),
        ).items()
    }


def horizontal_overflow(driver: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(
        driver.execute_script(
            "const r = document.querySelector('.f1-root').getBoundingClientRect();"
            "return Math.max(document.documentElement.scrollWidth, Math.ceil(r.right)) - window.innerWidth;"
        )
    )
