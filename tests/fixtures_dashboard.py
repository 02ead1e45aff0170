"""Fixtures for the dashboard tests: a headless Chromium and a Voila dashboard server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from f1live.widgets.server import VoilaServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: A small real-data slice keeps a page view quick: 3 drivers from lap 22, 20x.
SLICE_DRIVERS = ("VER", "HAM", "LEC")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync")


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
        srv = VoilaServer(env=dashboard_env(test_data, tmp_path, **env), log_path=tmp_path / "voila.log",
                          cull_idle_timeout=cull_idle_timeout, cull_interval=cull_interval)
        servers.append(srv)
        return srv.start()

    yield start
    for s in servers:
        s.stop()


def page_text(driver: Any, css: str) -> str | None:
    """Text of the first element matching ``css`` (read in JS: panels re-render their HTML)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


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
