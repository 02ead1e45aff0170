"""Fixtures of the data area, reusable by every area (auto-loaded by ``tests/conftest.py``).

* ``monaco_2023``: the real 2023 Monaco GP Race (all 20 drivers, ~800k rows) loaded once
  per test session through the ``fastf1-csv`` source from the shared data folder.
* ``monaco_2023_slice``: VER, HAM and LEC on laps 22-23 of the 2023 race (a few thousand
  rows), from the full data or the repository's slice (``tests/data``) -- for any test
  that only needs real rows.
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
    return Settings(
        source="fastf1-csv",
        shared_data=shared_data,
        data_dir=session_tmp / "data",
        offline=True,
        fastf1_cache=session_tmp / "no_fastf1_cache",
    )


@pytest.fixture(scope="session")
def monaco_2023(data_settings: Settings) -> SessionData:
    """The real 2023 Monaco GP Race, all drivers (read-only: copy before mutating)."""
    return load_fastf1_csv(data_settings, progress=False)


@pytest.fixture(scope="session")
def slice_settings(test_data: Path, session_tmp: Path) -> Settings:
    """Settings for the 2023 race in the full data or the repository's slice."""
    return Settings(
        source="fastf1-csv",
        shared_data=test_data,
        data_dir=session_tmp / "slice_data",
        offline=True,
        fastf1_cache=session_tmp / "no_fastf1_cache",
    )


@pytest.fixture(scope="session")
def monaco_2023_slice(slice_settings: Settings) -> SessionData:
    """VER, HAM, LEC on laps 22-23 of the real 2023 Monaco Race."""
    race = load_fastf1_csv(slice_settings, progress=False, drivers=list(SLICE_DRIVERS))
    tel = race.telemetry
    keep = tel["driver"].isin(SLICE_DRIVERS) & tel["lap_number"].isin(SLICE_LAPS).fillna(False)
    laps = race.laps
    lkeep = laps["Driver"].isin(SLICE_DRIVERS) & laps["LapNumber"].isin(SLICE_LAPS)
    meta = dict(race.meta, drivers=list(SLICE_DRIVERS), slice_laps=list(SLICE_LAPS))
    return replace(race, telemetry=tel[keep].reset_index(drop=True), laps=laps[lkeep].reset_index(drop=True), meta=meta)


def _car_data_from_csv(csv_dir: Path) -> dict:
    """The dict ``fastf1.api.car_data`` returns, rebuilt from the raw CSV dumps (dtypes as FastF1's)."""
    import re

    import pandas as pd

    data = {}
    for f in sorted(csv_dir.glob("car_data_*driver_*.csv.gz")):
        num = re.search(r"driver_(\d+)", f.name).group(1)
        df = pd.read_csv(f)
        data[num] = pd.DataFrame(
            {
                "Time": pd.to_timedelta(df["Time"]),
                "Date": pd.to_datetime(df["Date"]),
                "RPM": df["RPM"].astype("int64"),
                "Speed": df["Speed"].astype("int64"),
                "nGear": df["nGear"].astype("int64"),
                "Throttle": df["Throttle"].astype("int64"),
                "Brake": df["Brake"].astype(bool),
                "DRS": df["DRS"].astype("int64"),
                "Source": df["Source"].astype(object),
            }
        )
    return data


@pytest.fixture(scope="session")
def fastf1_cache_2023(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FastF1 cache dir in tmp: the shared 2023 Monaco pickles + a ``car_data.ff1pkl``.

    The shared cache has timing but no car data; the car data pickle is written with
    FastF1's own cache writer from the 2023 CSV dumps, so ``session.load()`` finds it.
    The copy matters: FastF1 writes an HTTP cache into its cache directory.
    """
    import shutil

    from fastf1.req import Cache

    dst = tmp_path_factory.mktemp("fastf1_cache")
    shutil.copytree(shared_data / "fastf1_cache", dst, dirs_exist_ok=True)
    for p in dst.rglob("*"):  # the shared data is read-only
        p.chmod(0o755 if p.is_dir() else 0o644)
    race = dst / "2023" / "2023-05-28_Monaco_Grand_Prix" / "2023-05-28_Race"
    Cache._write_cache(
        _car_data_from_csv(shared_data / "fastf1_csv_exports" / "monaco_2023_race"), str(race / "car_data.ff1pkl")
    )
    return dst


@pytest.fixture(scope="session")
def fastf1_session_2023(fastf1_cache_2023: Path, data_settings: Settings):
    """The ``fastf1.core.Session`` loaded offline on that cache by the product's loader."""
    from f1live.sources.fastf1 import load_fastf1_session

    return load_fastf1_session(data_settings.replace(source="fastf1", fastf1_cache=fastf1_cache_2023, offline=True))


@pytest.fixture(scope="session")
def monaco_2023_fastf1(fastf1_session_2023, fastf1_cache_2023: Path, data_settings: Settings) -> SessionData:
    """2023 Monaco Race through the product's FastF1 source (offline, on that cache)."""
    from f1live.sources.fastf1 import session_to_data

    return session_to_data(
        fastf1_session_2023,
        data_settings.replace(source="fastf1", fastf1_cache=fastf1_cache_2023, offline=True),
        progress=False,
    )


@pytest.fixture(scope="session")
def monaco_2023_export(monaco_2023: SessionData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 2023 race exported as Parquet with its side tables (what `make run` serves)."""
    from f1live.export import export_session

    out = tmp_path_factory.mktemp("export_2023")
    return export_session(monaco_2023, out, formats=("parquet",), progress=False).parquet
