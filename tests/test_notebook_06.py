"""Papermill executes notebook 06 (leave-one-race-out on 2022 + 2024, held-out 2023 with events and
baselines, save, graded fault evaluation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT
from f1live.labels import TARGETS
from f1live.models import load_models

papermill = pytest.importorskip("papermill")


def test_notebook_06_trains_evaluates_and_saves(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat

    monkeypatch.setenv("F1LIVE_SHARED_DATA", str(shared_data))
    out = tmp_path / "models"
    executed = tmp_path / "06.ipynb"
    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "06_ml_model_training.ipynb"),
        str(executed),
        parameters={
            "train_years": "2022,2024",
            "eval_year": 2023,
            "drivers": "VER,LEC,HAM,SAI",
            "out_dir": str(out),
            "stride": 8,
            "max_iter": 40,
            "threads": 1,
            "fault_drivers": "VER",
            "faults_per_type": 2,
            "fault_grades": "2",
        },
        kernel_name="python3",
        cwd=str(PROJECT_ROOT / "notebooks"),
        progress_bar=False,
    )
    nb = nbformat.read(executed, as_version=4)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "trained on ['2022 Monaco R', '2024 Monaco R'], held out 2023 Monaco R, leave-one-race-out" in text
    assert "real data" in text and "SIMULATED" not in text
    assert "pit_stop_probability: 2023 Monaco R: announced" in text  # the evidence sentence
    assert "recall per magnitude" in text and "false-alarm rate" in text and "alarms per driver-hour" in text
    images = sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 3  # event curve + pit probability over time + confusion matrices
    bundle = load_models(out)  # saved files verify against their manifest
    assert set(bundle.models) == set(TARGETS)
    man = json.loads((out / "manifest.json").read_text())
    assert man["eval_session"] == "2023 Monaco R" and man["cv_scheme"] == "leave-one-race-out"
    assert all(man["models"][n]["evidence"] for n in TARGETS)
