"""The Voila dashboard in a real headless Chromium: renders, streams, obeys controls, cleans up."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from tests.fixtures_dashboard import SLICE_DRIVERS, page_text, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PANELS = ("f1-header", "f1-controls", "f1-panel-trackmappanel", "f1-panel-telemetrypanel",
          "f1-panel-leaderboardpanel", "f1-panel-predictionspanel", "f1-panel-alertspanel",
          "f1-panel-healthpanel", "f1-panel-scalingpanel")


def msgcount(driver) -> int:
    return int(page_text(driver, ".f1-msgcount") or 0)


def severe_console_entries(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def click(driver, css: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click();", css)


def gone(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_dashboard_streams_live_and_obeys_controls(voila_dashboard, chrome, tmp_path: Path) -> None:
    srv = voila_dashboard()
    browser = chrome()
    browser.get(srv.url)
    # the pipeline (session slice, Tansu, consumer, producer) starts inside the page's kernel
    wait_for(lambda: msgcount(browser) > 0, 120, "the first consumed message on the page")

    for cls in PANELS:
        assert browser.execute_script("return document.querySelector('.' + arguments[0]) !== null", cls), \
            f"panel {cls} not rendered"

    # every driver of the slice is on the track map (bqplot scatter labels) and the leaderboard
    def labels() -> set[str]:
        return set(browser.execute_script(
            "return Array.from(document.querySelectorAll('.f1-panel-trackmappanel svg text'))"
            ".map(e => e.textContent.trim())"))
    wait_for(lambda: set(SLICE_DRIVERS) <= labels(), 30, f"all of {SLICE_DRIVERS} on the track map")
    board = page_text(browser, ".f1-leaderboard") or ""
    assert all(d in board for d in SLICE_DRIVERS), board

    # live: the message counter and the replay clock advance between reads >= 1 s apart
    n1, t1 = msgcount(browser), page_text(browser, ".f1-session-time")
    time.sleep(1.5)
    n2, t2 = msgcount(browser), page_text(browser, ".f1-session-time")
    assert n2 > n1, f"message counter did not advance: {n1} -> {n2}"
    assert t2 != t1, f"session time did not advance: {t1} -> {t2}"

    # pause stops the counter (after the consumer drained what was in flight) ...
    click(browser, ".f1-btn-pause")
    time.sleep(2.0)
    p1 = msgcount(browser)
    time.sleep(1.5)
    p2 = msgcount(browser)
    assert p2 == p1, f"counter moved while paused: {p1} -> {p2}"
    assert "paused" in (page_text(browser, ".f1-panel-healthpanel") or "")
    # ... and resume restarts it
    click(browser, ".f1-btn-resume")
    wait_for(lambda: msgcount(browser) > p2, 15, "the counter to advance after resume")

    # the telemetry panel shows numbers of the selected driver
    assert "km/h" in (page_text(browser, ".f1-telemetry-numbers") or "")

    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")

    errors = severe_console_entries(browser)
    assert not errors, f"JS errors in the console: {errors[:5]}"
    # no request left this machine (e.g. a CDN stylesheet): every resource is from the server
    external = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith(location.origin) && !n.startsWith('data:') && !n.startsWith('ws'))")
    assert not external, f"external requests: {external}"

    kernels = srv.kernel_pids()
    assert len(kernels) == 1
    family = srv.descendants()
    assert len(family) >= 2, f"expected a kernel and its broker under Voila, got {family}"
    browser.quit()
    srv.stop()
    time.sleep(0.5)
    assert not gone(family), f"processes left after the server stopped: {gone(family)}"


def test_closed_pages_leave_no_kernel_nor_broker(voila_dashboard, chrome) -> None:
    """Voila 0.5 often fails to shut a closed page's kernel down (voila#1458): the page
    heartbeat stops the pipeline and the server culls the idle kernel."""
    # heartbeat timeout well above the 1 s tick: a loaded machine can delay ticks by seconds
    srv = voila_dashboard(cull_idle_timeout=10, cull_interval=2, F1LIVE_DASHBOARD_HEARTBEAT_S="20")
    browsers = [chrome(width=1000, height=800) for _ in range(2)]
    for b in browsers:
        b.get(srv.url)
    for b in browsers:
        wait_for(lambda b=b: msgcount(b) > 0, 120, "messages on each page")
    assert len(srv.kernel_pids()) == 2, "one kernel per page view"
    family = srv.descendants()
    brokers = [p for p in family if p not in srv.kernel_pids()]
    assert brokers, "each kernel's pipeline runs its own broker process"
    for b in browsers:
        b.quit()  # closing the pages: no shutdown request reaches the kernels
    wait_for(lambda: not gone(brokers), 60, "the pipelines of closed pages to stop their brokers")
    wait_for(lambda: not srv.kernel_pids(), 60, "idle kernels of closed pages to be culled")
    assert srv.running, "the server itself keeps serving"
    assert not gone(family)


def test_run_command_prepares_session_and_serves_dashboard(shared_data: Path, tmp_path: Path) -> None:
    """`f1live run` (the README's `make run`): prepare, serve on 127.0.0.1, print the URL, stop clean."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "F1LIVE_SHARED_DATA": str(shared_data), "F1LIVE_RUN_DIR": str(tmp_path / "runs"),
           "F1LIVE_MODELS_DIR": str(tmp_path / "models")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "f1live", "run", "--source", "fastf1-csv", "--offline", "--out", str(tmp_path / "data"),
         "--port", "0", "--no-browser", "--broker", "tansu", "--drivers", "VER,HAM", "--speed", "20",
         "--from-lap", "22"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    family: list[int] = []
    try:
        line = ""
        deadline = time.monotonic() + 240
        while "f1live dashboard: http" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"f1live run exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, f"no 127.0.0.1 URL printed: {line!r}"
        assert list((tmp_path / "data").rglob("*.parquet")), "the session was not exported"
        with urllib.request.urlopen(url.group(0), timeout=180) as r:  # renders the page: a kernel starts
            page = r.read().decode()
        assert r.status == 200 and "jupyter-config-data" in page
        assert "cdn.jsdelivr.net" not in page  # the offline template is used
        family = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        assert any("ipykernel" in " ".join(psutil.Process(p).cmdline()) for p in family if psutil.pid_exists(p))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("f1live run did not stop on SIGTERM within 90 s")
    time.sleep(0.5)
    assert not gone(family), f"processes left after f1live run stopped: {gone(family)}"


def test_simulated_source_shows_the_banner(voila_dashboard, chrome) -> None:
    """A simulated session is labelled loudly on the page."""
    srv = voila_dashboard(F1LIVE_SOURCE="simulated", F1LIVE_DASHBOARD_DRIVERS="SIM01,SIM02",
                          F1LIVE_DASHBOARD_START_LAP="")
    browser = chrome(width=1200, height=900)
    browser.get(srv.url)
    wait_for(lambda: msgcount(browser) > 0, 180, "the first simulated message")
    shown = browser.execute_script(
        "const e = document.querySelector('.f1-simulated-banner');"
        "return e && getComputedStyle(e).display !== 'none' ? e.textContent : null;")
    assert shown and "SIMULATED" in shown
    assert "SIMULATED" in (page_text(browser, ".f1-header") or "")
    assert not severe_console_entries(browser)
