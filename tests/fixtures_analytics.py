"""Analytics fixtures: small real training/evaluation sets and one trained model bundle.

Small enough for CI: four drivers per race and only the racing part of each session
(from two minutes before the start to a minute after the last lap). The training races
(2022 Monaco: wet start, red flags, MSC's crash; 2024: red flag on lap 1) differ from the
held-out one (2023), so the models are chosen by leave-one-race-out as in production.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from f1live.config import Settings

TRAIN_DRIVERS = ("VER", "LEC", "MSC", "SAI")  # 2022: pit stops, a crash (MSC), red flag
TRAIN_2024_DRIVERS = ("VER", "HAM", "LEC", "BOT")  # 2024: red-flag pit entries + real stops (HAM, VER, BOT)
EVAL_DRIVERS = ("VER", "HAM", "ALO", "STR")  # 2023: pit stops, a retirement (STR), rain


def race_window(data: Any, before_s: float = 120.0, after_s: float = 60.0) -> Any:
    """The session cut to its racing part (features need only the run-up, labels only laps)."""
    laps = data.laps
    t0 = float(laps["LapStartTime"].min()) - before_s
    t1 = float(laps["Time"].max()) + after_s
    tel = data.telemetry
    keep = (tel["session_time"] >= t0) & (tel["session_time"] <= t1)
    return replace(data, telemetry=tel[keep].reset_index(drop=True))


@pytest.fixture(scope="session")
def analytics_settings(shared_data: Path, session_tmp: Path) -> Settings:
    return Settings(
        source="fastf1-csv",
        shared_data=shared_data,
        offline=True,
        data_dir=session_tmp / "a_data",
        models_dir=session_tmp / "a_models",
        fastf1_cache=session_tmp / "no_fastf1_cache",
    )


@pytest.fixture(scope="session")
def train_2022(analytics_settings: Settings) -> Any:
    from f1live.models import load_sessions

    return race_window(load_sessions(analytics_settings, [2022], drivers=list(TRAIN_DRIVERS))[0])


@pytest.fixture(scope="session")
def train_2024(analytics_settings: Settings) -> Any:
    from f1live.models import load_sessions

    return race_window(load_sessions(analytics_settings, [2024], drivers=list(TRAIN_2024_DRIVERS))[0])


@pytest.fixture(scope="session")
def eval_2023(analytics_settings: Settings) -> Any:
    from f1live.models import load_sessions

    return race_window(load_sessions(analytics_settings, [2023], drivers=list(EVAL_DRIVERS))[0])


@pytest.fixture(scope="session")
def trained(train_2022: Any, train_2024: Any, eval_2023: Any, session_tmp: Path) -> Any:
    """Models trained on 2022 + 2024 (4 drivers each, leave-one-race-out choice), evaluated on
    held-out 2023 (4 drivers), saved."""
    from f1live.models import train_models

    out = session_tmp / "trained_models"
    return train_models(
        [train_2022, train_2024], eval_2023, out_dir=out, stride=8, max_iter=40, n_threads=1, n_boot=200
    )
