"""Papermill runs notebooks 01 (data preparation) and 02 (replay cache) on the real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT

papermill = pytest.importorskip("papermill")


def _run(name: str, out: Path, **params: object) -> str:
    import nbformat

    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / name),
        str(out),
        parameters=params,
        kernel_name="python3",
        cwd=str(PROJECT_ROOT),
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    texts = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            texts.append(o.get("text", ""))
            texts.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_notebooks_01_then_02(shared_data, tmp_path):
    out = tmp_path / "data"
    text = _run(
        "01_data_preparation.ipynb",
        tmp_path / "01.ipynb",
        source="fastf1-csv",
        shared_data=str(shared_data),
        out_dir=str(out),
        formats="parquet",
        year=2023,
        drivers="VER,HAM,LEC",
    )
    assert "source=fastf1-csv rows 119,676 drivers 3" in text  # 3 x 39,892 samples
    assert "SIMULATED" not in text
    assert "VER fastest lap 23: 287 samples, max 270 km/h" in text  # README reference lap
    parquet = [p for p in out.glob("2023_Monaco_R_*.parquet") if p.name.count(".") == 1]  # not side tables
    assert len(parquet) == 1 and parquet[0].with_suffix(".json").exists()
    assert parquet[0].with_name(parquet[0].stem + ".laps.parquet").exists()

    text = _run(
        "02_cache_setup.ipynb", tmp_path / "02.ipynb", out_dir=str(out), driver="HAM", from_lap=33, rate_rows=50_000
    )
    assert "119676 rows, 3 drivers" in text
    assert "per car: 3.77 Hz" in text
    assert "HAM lap 33: 285 rows" in text  # README reference lap
    assert "rows/s measured over 50,000 rows" in text


def test_notebooks_are_committed_clean():
    import nbformat

    for name in ("01_data_preparation.ipynb", "02_cache_setup.ipynb"):
        nb = nbformat.read(PROJECT_ROOT / "notebooks" / name, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
