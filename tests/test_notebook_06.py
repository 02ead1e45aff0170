"""Papermill executes notebook 06 (train on 2022, evaluate on held-out 2023, save, fault evaluation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT
from f1live.labels import TARGETS
from f1live.models import load_models

papermill = pytest.importorskip("papermill")


def test_notebook_06_trains_evaluates_and_saves(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    monkeypatch.setenv("F1LIVE_SHARED_DATA", str(shared_data))
    out = tmp_path / "models"
    executed = tmp_path / "06.ipynb"
    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "06_ml_model_training.ipynb"), str(executed),
        parameters={"train_years": "2022", "eval_year": 2023, "drivers": "VER,LEC,HAM,SAI", "out_dir": str(out),
                    "stride": 8, "cv_folds": 2, "max_iter": 40, "threads": 1, "fault_drivers": "VER", "faults_per_type": 2},
        kernel_name="python3", cwd=str(PROJECT_ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(executed, as_version=4)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "trained on ['2022 Monaco R'], held out 2023 Monaco R" in text
    assert "real data" in text and "SIMULATED" not in text
    assert "overall: precision" in text and "false-alarm rate" in text
    images = sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 2  # confusion matrices + pit probability over time
    bundle = load_models(out)  # saved files verify against their manifest
    assert set(bundle.models) == set(TARGETS)
    man = json.loads((out / "manifest.json").read_text())
    assert man["eval_session"] == "2023 Monaco R"
