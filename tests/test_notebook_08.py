"""Notebook 08 runs headless under papermill: dashboard built, pipeline started and stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_notebook_08_runs_headless(test_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import papermill as pm

    for k, v in {
        "F1LIVE_SHARED_DATA": str(test_data),
        "F1LIVE_OFFLINE": "1",
        "F1LIVE_RUN_DIR": str(tmp_path / "runs"),
        "F1LIVE_DATA_DIR": str(tmp_path / "data"),
        "F1LIVE_MODELS_DIR": str(tmp_path / "models"),
    }.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "08_live_dashboard.ipynb"
    pm.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "08_live_dashboard.ipynb"),
        str(out),
        parameters={
            "source": "fastf1-csv",
            "drivers": "VER,HAM",
            "speed": 20.0,
            "replay_from": "lap 22",
            "broker": "tansu",
            "duration_s": 6.0,
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "pipeline: stopped" in text
    assert "drivers in state: ['HAM', 'VER']" in text
    processed = int(text.split("messages processed:")[1].split()[0])
    assert processed > 100, text
    widgets = [
        o
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the dashboard widget was not displayed"


@pytest.mark.browser
def test_notebook_08_in_jupyterlab_shows_the_voila_panels(test_data: Path, tmp_path: Path, chrome) -> None:
    """The notebook as a user runs it: JupyterLab (part of the install), open 08, run all cells;
    the dashboard streams and has the panels of the Voila page."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from f1live.serve import free_port
    from tests.fixtures_dashboard import analysis_state, open_tab, page_text, wait_for
    from tests.test_dashboard import PANELS, msgcount, severe_console_entries

    port = free_port()
    env = {
        **os.environ,
        "F1LIVE_SHARED_DATA": str(test_data),
        "F1LIVE_OFFLINE": "1",
        "F1LIVE_FASTF1_CACHE": str(tmp_path / "no_cache"),
        "F1LIVE_RUN_DIR": str(tmp_path / "runs"),
        "F1LIVE_DATA_DIR": str(tmp_path / "data"),
        "F1LIVE_MODELS_DIR": str(tmp_path / "models"),
        "F1LIVE_SOURCE": "fastf1-csv",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab_settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab_workspaces"),
    }
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--notebook-dir={PROJECT_ROOT / 'notebooks'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        import urllib.request

        url = f"http://127.0.0.1:{port}/lab/tree/08_live_dashboard.ipynb"

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(up, 60, "JupyterLab to answer")
        b = chrome(width=1500, height=1800)
        b.get(url)
        wait_for(
            lambda: b.execute_script(
                "const e = document.querySelector('.jp-Notebook-ExecutionIndicator');"
                "return e && e.getAttribute('data-status') === 'idle';"
            ),
            90,
            "the notebook's kernel",
        )
        cell = b.find_element(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
        ActionChains(b).click(cell).send_keys(Keys.ESCAPE).perform()

        def active() -> int:
            return int(
                b.execute_script(
                    "return Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'))"
                    ".findIndex(c => c.classList.contains('jp-mod-active'));"
                )
            )

        # run the cells one after the other with Shift+Enter, as a user would: the next key once
        # the notebook has moved to the next cell (on a busy machine a key sent earlier lands on a
        # cell that is not active yet, and the parameters cell was skipped)
        wait_for(lambda: active() == 0, 30, "the first cell selected")
        n_cells = len(json.loads((PROJECT_ROOT / "notebooks" / "08_live_dashboard.ipynb").read_text())["cells"])
        for i in range(n_cells):
            ActionChains(b).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
            wait_for(lambda i=i: active() == i + 1, 30, f"the notebook to move past cell {i}")
        try:
            wait_for(lambda: msgcount(b) > 100, 120, "messages on the dashboard inside JupyterLab")
        except BaseException:
            b.save_screenshot(str(tmp_path / "jupyterlab.png"))
            raise
        for cls in PANELS:
            assert b.execute_script("return document.querySelector('.' + arguments[0]) !== null", cls), cls
        # the race-analysis tab works inside JupyterLab too (the same dashboard builder)
        open_tab(b, "Race analysis")
        wait_for(
            lambda: all(n >= 2 for n, _ in analysis_state(b).values()),
            60,
            "the race-analysis panels drawn in JupyterLab",
        )
        open_tab(b, "Live")
        n = msgcount(b)
        time.sleep(1.5)
        assert msgcount(b) > n, "the dashboard in JupyterLab stopped streaming"
        assert "Lap" in (page_text(b, ".f1-session-time") or "")
        errors = [
            e
            for e in severe_console_entries(b)
            if "f1live" in e.get("message", "") or "widget" in e.get("message", "").lower()
        ]
        assert not errors, errors[:5]
    finally:
        family = [lab.pid] + [c.pid for c in psutil.Process(lab.pid).children(recursive=True)]
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs([psutil.Process(p) for p in family if psutil.pid_exists(p)], timeout=30)
        for p in alive:  # the kernel's pipeline stops at exit; anything else is a leak
            p.kill()
        assert not alive, f"left running after JupyterLab stopped: {alive}"
