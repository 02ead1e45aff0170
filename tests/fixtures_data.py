"""Fixtures of the data area, reusable by every area (auto-loaded by ``tests/conftest.py``).

* ``monaco_2023``: the real 2023 Monaco GP Race (all 20 drivers, ~800k rows) loaded once
  per test session through the ``fastf1-csv`` source from the shared data folder.
* ``monaco_2023_slice``: VER, HAM and LEC on laps 22-23 of it (a few thousand rows) --
  quick enough for any test that only needs real-shaped rows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from f1live.config import Settings
from f1live.sources import SessionData
from f1live.sources.fastf1_csv import load_fastf1_csv

SLICE_DRIVERS = ("HAM", "LEC", "VER")
SLICE_LAPS = (22, 23)


@pytest.fixture(scope="session")
def data_settings(shared_data: Path, session_tmp: Path) -> Settings:
    """Settings for the real 2023 Monaco Race with outputs under a session tmp dir."""
    return Settings(source="fastf1-csv", shared_data=shared_data, data_dir=session_tmp / "data",
                    offline=True, fastf1_cache=session_tmp / "no_fastf1_cache")


@pytest.fixture(scope="session")
def monaco_2023(data_settings: Settings) -> SessionData:
    """The real 2023 Monaco GP Race, all drivers (read-only: copy before mutating)."""
    return load_fastf1_csv(data_settings, progress=False)


@pytest.fixture(scope="session")
def monaco_2023_slice(monaco_2023: SessionData) -> SessionData:
    """VER, HAM, LEC on laps 22-23 of the real 2023 Monaco Race."""
    tel = monaco_2023.telemetry
    keep = tel["driver"].isin(SLICE_DRIVERS) & tel["lap_number"].isin(SLICE_LAPS).fillna(False)
    laps = monaco_2023.laps
    lkeep = laps["Driver"].isin(SLICE_DRIVERS) & laps["LapNumber"].isin(SLICE_LAPS)
    meta = dict(monaco_2023.meta, drivers=list(SLICE_DRIVERS), slice_laps=list(SLICE_LAPS))
    return replace(monaco_2023, telemetry=tel[keep].reset_index(drop=True),
                   laps=laps[lkeep].reset_index(drop=True), meta=meta)
