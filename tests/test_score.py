"""``f1live score``: the serving path over an export, offline; tampered models refused before any unpickling."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from f1live.commands.score import COLUMNS, EXIT_MODELS_REFUSED
from f1live.config import PROJECT_ROOT
from f1live.labels import TARGETS


@pytest.fixture(scope="module")
def export_2023(eval_2023: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The held-out race (4 drivers, racing part) as an f1live export with its side tables."""
    from f1live.export import export_session

    res = export_session(eval_2023, tmp_path_factory.mktemp("score_export"), formats=("parquet",), progress=False)
    assert res.parquet is not None
    return res.parquet


def _score(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, F1LIVE_RUN_DIR=str(tmp))
    return subprocess.run(
        [sys.executable, "-m", "f1live", "score", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=PROJECT_ROOT,
    )


def test_score_writes_the_serving_path_predictions(trained: Any, export_2023: Path, tmp_path: Path) -> None:
    from f1live.analysis import AnalyticsProcessor, analyse_table
    from f1live.config import Settings
    from f1live.sources.exports import load_export

    out = tmp_path / "pred.parquet"
    proc = _score(["--file", str(export_2023), "--models", str(trained.out_dir), "--out", str(out), "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pred = pd.read_parquet(out)
    data = load_export(export_2023)
    tel = data.telemetry
    assert list(pred.columns) == list(COLUMNS) and len(pred) == len(tel)
    assert (np.diff(pred["session_time"].to_numpy()) >= 0).all()  # replay order
    # the same numbers as the live processor in replay order (one code path)
    ref = analyse_table(tel, AnalyticsProcessor(Settings(), models_dir=trained.out_dir), batch_size=500)
    ref = ref.assign(driver=tel["driver"].astype(str), session_time=tel["session_time"])
    ref = ref.loc[tel.sort_values("session_time", kind="stable").index].reset_index(drop=True)
    for name in TARGETS:
        np.testing.assert_array_equal(pred[name].to_numpy(float), ref[name].to_numpy(float), err_msg=name)
        assert (pred[name + "_alert"].to_numpy(bool) == (pred[name].to_numpy(float) >= trained.thresholds[name])).all()
    assert (pred["anomaly"].to_numpy(bool) == ref["anomaly"].to_numpy(bool)).all()
    assert (pred["driver"].to_numpy() == ref["driver"].to_numpy()).all()
    summary = json.loads(proc.stdout)
    pit = summary["events"]["pit_stop_probability"]
    assert pit["events"] == trained.events["pit_stop_probability"]["model"]["events"]
    assert pit["threshold"] == pytest.approx(trained.thresholds["pit_stop_probability"])
    assert summary["anomalies"]["racing_driver_hours"] > 4
    assert set(summary["anomalies"]["by_source"]) <= {"river", "rule", "river+rule"}


def test_score_refuses_tampered_models_before_unpickling(
    trained: Any, export_2023: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained.out_dir, models)
    victim = models / "tire_failure_model.pkl"
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0x01
    victim.write_bytes(bytes(data))
    out = tmp_path / "pred.parquet"
    proc = _score(["--file", str(export_2023), "--models", str(models), "--out", str(out)], tmp_path)
    assert proc.returncode == EXIT_MODELS_REFUSED == 2, proc.stderr
    assert "tire_failure_model.pkl" in proc.stderr and "sha256" in proc.stderr
    assert not out.exists()
    # in process: not a single model file is unpickled (the tampered one is the last listed)
    import joblib

    from f1live.commands import score

    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("a model was unpickled"))
    args = argparse.Namespace(file=export_2023, models=models, out=out, batch=500, json=False)
    assert score.run(args) == EXIT_MODELS_REFUSED
