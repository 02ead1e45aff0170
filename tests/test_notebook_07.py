"""Papermill runs notebook 07 (weak scaling) with small parameters against the real Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from f1live.config import PROJECT_ROOT, Settings
from f1live.scaling import load_latest_results

papermill = pytest.importorskip("papermill")


def test_weak_scaling_notebook(kafka_broker: Any, monaco_2023_slice: Any, tmp_path: Path) -> None:
    import nbformat

    from f1live.export import export_session

    export = export_session(monaco_2023_slice, tmp_path / "data", formats=("parquet",), progress=False).parquet
    out = tmp_path / "07.ipynb"
    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "07_weak_scaling_demo.ipynb"),
        str(out),
        kernel_name="python3",
        cwd=str(PROJECT_ROOT),
        progress_bar=False,
        parameters={
            "consumers": "1,2",
            "mode": "process",
            "rate": "max",
            "messages": 400,
            "drivers": "VER,HAM",
            "file": str(export),
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "run_dir": str(tmp_path / "runs"),
        },
    )
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "delivery: exactly once in every run" in text and "machine: " in text
    assert "process N=2" in text
    # the chart cell produced a widget (the bqplot figures)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in nb.cells[-2].get("outputs", []))
    df = load_latest_results(Settings(run_dir=tmp_path / "runs"))
    assert df is not None and sorted(df["consumers"]) == [1, 2] and df["delivery_ok"].all()
    assert (df["produced"] == df["consumers"] * 400).all()
