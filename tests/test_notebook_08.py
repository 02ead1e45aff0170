"""Notebook 08 runs headless under papermill: dashboard built, pipeline started and stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_notebook_08_runs_headless(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import papermill as pm

    for k, v in {"F1LIVE_SHARED_DATA": str(shared_data), "F1LIVE_OFFLINE": "1",
                 "F1LIVE_RUN_DIR": str(tmp_path / "runs"), "F1LIVE_DATA_DIR": str(tmp_path / "data"),
                 "F1LIVE_MODELS_DIR": str(tmp_path / "models")}.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "08_live_dashboard.ipynb"
    pm.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "08_live_dashboard.ipynb"), str(out),
        parameters={"source": "fastf1-csv", "drivers": "VER,HAM", "speed": 20.0, "start_lap": 22,
                    "broker": "tansu", "duration_s": 6.0},
        kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
    )
    nb = json.loads(out.read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "pipeline: stopped" in text
    assert "drivers in state: ['HAM', 'VER']" in text
    processed = int(text.split("messages processed:")[1].split()[0])
    assert processed > 100, text
    widgets = [o for c in nb["cells"] for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the dashboard widget was not displayed"
