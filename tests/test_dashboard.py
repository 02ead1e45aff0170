"""The Voila dashboard in a real headless Chromium: renders, streams, obeys controls, cleans up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from tests.fixtures_dashboard import ANALYSIS_PANELS, clock_seconds, page_text, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PANELS = (
    "f1-header",
    "f1-controls",
    "f1-panel-timelinepanel",
    "f1-panel-trackmappanel",
    "f1-panel-telemetrypanel",
    "f1-panel-leaderboardpanel",
    "f1-panel-predictionspanel",
    "f1-panel-alertspanel",
    "f1-panel-healthpanel",
    "f1-panel-scalingpanel",
    "f1-tabs",
)


def msgcount(driver) -> int:
    return int(page_text(driver, ".f1-msgcount") or 0)


def severe_console_entries(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def click(driver, css: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click();", css)


def gone(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_live_page_on_kafka_with_models(
    dashboard_command, chrome, trained, monaco_2023, monaco_2023_export, tmp_path: Path
) -> None:
    """What a user sees with `f1live dashboard` on the real race, Apache Kafka and trained models:
    the field moving from lights out, predictions, gaps after a seek, controls that answer within
    0.5 s (measured in the page, from the click to the replay clock's reaction), the race-analysis
    panels drawn and moving with the replay, a second tab streaming at the same time, the session
    summary at the end of the replay, no horizontal scrolling at 1366x768, no JS error, no request
    leaving the machine."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from tests.fixtures_dashboard import (
        CLOCK_RECORDER,
        analysis_state,
        car_positions,
        clock_changes,
        horizontal_overflow,
        now_ms,
        open_tab,
    )

    srv = dashboard_command(
        "--file", str(monaco_2023_export), "--speed", "1", "--no-train", F1LIVE_MODELS_DIR=str(trained.out_dir)
    )
    browser = chrome(width=1500, height=2000)
    t_open = time.monotonic()
    browser.get(srv.url)

    # all 20 cars move on the track map (from lights out: nothing is parked in the garage)
    def moving() -> int:
        a = car_positions(browser)
        time.sleep(0.5)
        b = car_positions(browser)
        return sum(x != y for x, y in zip(a, b, strict=False)) if len(a) == len(b) == 20 else 0

    wait_for(lambda: moving() == 20, 60, "all 20 cars moving on the track map")
    t_cars = time.monotonic() - t_open
    print(f"20 cars moving {t_cars:.1f} s after the page was opened")
    for cls in PANELS:
        assert browser.execute_script("return document.querySelector('.' + arguments[0]) !== null", cls), cls
    assert "Lap 1/78" in (page_text(browser, ".f1-session-time") or "")

    # predictions of the selected driver, with what the labels mean
    wait_for(lambda: "%" in (page_text(browser, ".f1-predictions-numbers") or ""), 30, "model outputs")
    assert "No trained models" not in (page_text(browser, ".f1-predictions-numbers") or "")

    since = browser.execute_script(CLOCK_RECORDER)
    time.sleep(1.5)
    assert len(clock_changes(browser, since)) >= 3, "the replay clock does not advance at 1x"

    # pause: the clock stops within 0.5 s of the click and stays put
    t_click = browser.execute_script("document.querySelector('.f1-btn-pause').click(); return performance.now();")
    time.sleep(2.5)
    after = clock_changes(browser, t_click)
    pause_s = (after[-1][0] - t_click) / 1000 if after else 0.0
    frozen = page_text(browser, ".f1-session-time")
    time.sleep(1.0)
    assert page_text(browser, ".f1-session-time") == frozen, "the clock moved while paused"
    # resume: it moves again from the same clock
    t_click = browser.execute_script("document.querySelector('.f1-btn-resume').click(); return performance.now();")
    wait_for(lambda: clock_changes(browser, t_click), 10, "the clock to move after resume")
    first = clock_changes(browser, t_click)[0]
    resume_s = (first[0] - t_click) / 1000
    assert abs(first[1] - clock_seconds(frozen)) < 2.0, (frozen, first)
    # speed 1x -> 20x with the keyboard on the speed slider: the clock's steps grow within 0.5 s
    handle = browser.find_element(By.CSS_SELECTOR, ".f1-controls .widget-slider .noUi-handle")
    ActionChains(browser).click(handle).perform()
    for _ in range(4):
        ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    t_key = now_ms(browser)
    wait_for(
        lambda: (
            "20×"
            in (
                browser.execute_script("return document.querySelector('.f1-controls .widget-readout').textContent")
                or ""
            )
        ),
        5,
        "20x selected",
    )
    time.sleep(2.0)
    changes = clock_changes(browser, t_key - 1)
    fast = [t for (t, x), (_, y) in zip(changes[1:], changes, strict=False) if x - y >= 1.0]
    assert fast, f"no clock step of 20x after the speed change: {changes[:8]}"
    speed_s = (fast[0] - t_key) / 1000
    # seek with the timeline: drag its slider to about two thirds of the session
    tl = browser.find_element(By.CSS_SELECTOR, ".f1-timeline-slider .noUi-handle")
    track = browser.find_element(By.CSS_SELECTOR, ".f1-timeline-slider .noUi-base")
    ActionChains(browser).drag_and_drop_by_offset(
        tl, int(track.size["width"] * 0.66) - tl.location["x"] + track.location["x"], 0
    ).perform()
    t_drop = now_ms(browser)
    target = float(
        browser.execute_script(
            "return document.querySelector('.f1-timeline-slider .noUi-handle').getAttribute('aria-valuenow')"
        )
    )
    wait_for(lambda: [c for c in clock_changes(browser, t_drop) if abs(c[1] - target) < 60], 10, "the seek")
    landed = [c for c in clock_changes(browser, t_drop) if abs(c[1] - target) < 60][0]
    seek_s = (landed[0] - t_drop) / 1000
    print(
        f"controls: pause {pause_s:.2f} s, resume {resume_s:.2f} s, speed {speed_s:.2f} s, seek {seek_s:.2f} s "
        f"(to {target:.0f} s); 20 cars moving after {t_cars:.1f} s"
    )
    # after the seek: the leaderboard has gaps and intervals from timing at that clock
    wait_for(lambda: "LEADER" in (page_text(browser, ".f1-leaderboard") or ""), 15, "the leader in the leaderboard")
    board = page_text(browser, ".f1-leaderboard") or ""
    assert board.count("+") >= 10, board[:400]
    assert max(pause_s, resume_s, speed_s, seek_s) <= 0.5, (pause_s, resume_s, speed_s, seek_s)
    assert t_cars <= 10.0, f"20 cars moved only {t_cars:.1f} s after the page opened"

    # the race-analysis tab: every panel draws the race as of the clock, then moves with it (20x)
    open_tab(browser, "Race analysis")
    least = {
        "f1-panel-strategypanel": 40,
        "f1-panel-lapchartpanel": 20,
        "f1-panel-laptimespanel": 2,
        "f1-panel-comparisonpanel": 6,
        "f1-panel-weatherpanel": 3,
    }  # lines: 20 drivers' stints, ...
    wait_for(
        lambda: all(analysis_state(browser)[k][0] >= n for k, n in least.items()),
        40,
        "the race-analysis panels drawn (the comparison needs a lap completed since the seek)",
    )
    first = analysis_state(browser)
    t_first = time.monotonic()
    wait_for(
        lambda: all(analysis_state(browser)[k][1] != first[k][1] for k in ANALYSIS_PANELS),
        40,
        "every race-analysis panel to change as the replay moves",
    )
    print(
        f"race-analysis panels drawn ({ {k[9:]: v[0] for k, v in first.items()} } lines) and all changed "
        f"{time.monotonic() - t_first:.1f} s later"
    )
    strategy = page_text(browser, ".f1-panel-strategypanel") or ""
    assert all(c in strategy for c in ("VER", "ALO", "HAM")), strategy[:300]

    # a second tab streams at the same time, on its own topic of the same broker
    second = chrome(width=1200, height=1000)
    second.get(srv.url)
    wait_for(lambda: msgcount(second) > 50, 60, "messages on the second tab")
    n1, m1 = msgcount(browser), msgcount(second)
    time.sleep(2.0)
    assert msgcount(browser) > n1 and msgcount(second) > m1, "both tabs must keep streaming"
    assert len(srv.java_processes()) == 1, "one broker for the server, none per page"

    # the end of the replay: the summary opens by itself, with the real finishing order
    laps = monaco_2023.laps
    finish = laps[laps["LapNumber"] == laps["LapNumber"].max()].sort_values("Time")["Driver"].tolist()
    best = laps[laps["IsPersonalBest"].astype(bool)].sort_values("LapTime").iloc[0]
    lap_input = browser.find_element(By.CSS_SELECTOR, ".f1-seek-lap input")
    lap_input.clear()
    lap_input.send_keys("78", Keys.TAB)
    time.sleep(0.5)
    click(browser, ".f1-btn-seek")
    wait_for(lambda: "Final" in (page_text(browser, ".f1-summary") or ""), 90, "the final session summary")
    assert "Session summary" in (page_text(browser, ".f1-tabs .lm-TabBar-tab.lm-mod-current") or "")
    summary = page_text(browser, ".f1-summary") or ""
    order = browser.execute_script(
        "return [...document.querySelectorAll('.f1-summary tr td b')].map(e => e.textContent)"
    )
    assert order[:3] == finish[:3] and len(order) == 20, (order, finish)
    assert f"{best['Driver']} 1:{best['LapTime'] - 60:06.3f} (lap {int(best['LapNumber'])})" in summary, summary[:300]
    assert "Models on the held-out race" in summary

    # no horizontal scrolling at 1366x768, on every tab
    browser.set_window_size(1366, 768)
    for title in ("Live", "Race analysis", "Session summary"):
        open_tab(browser, title)
        time.sleep(1.0)
        assert horizontal_overflow(browser) <= 0, f"{title}: the page is wider than 1366 px"

    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    errors = severe_console_entries(browser) + severe_console_entries(second)
    assert not errors, f"JS errors in the console: {errors[:5]}"
    external = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith(location.origin) && !n.startsWith('data:') && !n.startsWith('ws'))"
    )
    assert not external, f"external requests: {external}"


def test_a_request_that_never_displays_the_page_starts_nothing(dashboard_command) -> None:
    """A plain GET (health check, curl, link preview) renders the notebook in a kernel, but
    nothing streams: no page topic, no broker of its own, and the kernel gives up."""
    import urllib.request

    from f1live.topics import list_topics

    srv = dashboard_command(
        "--source", "fastf1-csv", "--drivers", "VER,HAM", "--wait-for-page", "4", "--no-train", "--speed", "20"
    )
    with urllib.request.urlopen(srv.url, timeout=180) as r:
        assert r.status == 200 and "jupyter-config-data" in r.read().decode()

    def gave_up() -> bool:
        return any("no page displayed" in p.read_text() for p in srv.kernel_logs())

    wait_for(gave_up, 60, "the kernel to give up waiting for its page")
    log = "".join(p.read_text() for p in srv.kernel_logs())
    assert "starting the pipeline" not in log and "creating topics" not in log
    java = srv.java_processes()
    assert len(java) == 1, f"the server's broker only, got {java}"
    state = json.loads((srv.run_dir / "broker" / "state.json").read_text())  # the server's broker, recorded
    assert [t for t in list_topics(state["bootstrap_servers"]) if ".page-" in t] == []


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

    env = {
        **os.environ,
        "F1LIVE_SHARED_DATA": str(shared_data),
        "F1LIVE_RUN_DIR": str(tmp_path / "runs"),
        "F1LIVE_MODELS_DIR": str(tmp_path / "models"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "f1live",
            "run",
            "--source",
            "fastf1-csv",
            "--offline",
            "--out",
            str(tmp_path / "data"),
            "--port",
            "0",
            "--no-browser",
            "--broker",
            "tansu",
            "--drivers",
            "VER,HAM",
            "--speed",
            "20",
            "--from",
            "lap 22",
            "--no-train",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
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
    srv = voila_dashboard(
        F1LIVE_SOURCE="simulated", F1LIVE_DASHBOARD_DRIVERS="SIM01,SIM02", F1LIVE_DASHBOARD_START_LAP=""
    )
    browser = chrome(width=1200, height=900)
    browser.get(srv.url)
    wait_for(lambda: msgcount(browser) > 0, 180, "the first simulated message")
    shown = browser.execute_script(
        "const e = document.querySelector('.f1-simulated-banner');"
        "return e && getComputedStyle(e).display !== 'none' ? e.textContent : null;"
    )
    assert shown and "SIMULATED" in shown
    assert "SIMULATED" in (page_text(browser, ".f1-header") or "")
    assert not severe_console_entries(browser)
