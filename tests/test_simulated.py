"""The SIMULATED session: deterministic, same schema as the real source, looks like racing."""

from __future__ import annotations

import pandas as pd
import pytest

from f1live.sources.simulated import simulate_session


@pytest.fixture(scope="module")
def sim(data_settings):
    return simulate_session(data_settings, n_laps=6, drivers=6)


def test_schema_equal_to_real_source(sim, monaco_2023_slice):
    real = monaco_2023_slice.telemetry
    assert list(sim.telemetry.columns) == list(real.columns)
    assert sim.telemetry.dtypes.to_dict() == real.dtypes.to_dict()
    assert list(sim.laps.columns) == list(monaco_2023_slice.laps.columns)
    assert list(sim.track_status.columns) == list(monaco_2023_slice.track_status.columns)


def test_labelled_simulated_everywhere(sim, data_settings):
    assert sim.simulated and sim.meta["label"] == "SIMULATED" and sim.meta["source"] == "simulated"
    assert sim.telemetry["simulated"].all() and (sim.telemetry["source"] == "simulated").all()
    # load_session(source="simulated") and the auto fallback call simulate_session with the
    # defaults (a full 78-lap race); tests/test_sources.py covers that path
    assert sim.meta["note"].startswith("SIMULATED")


def test_deterministic(sim, data_settings):
    again = simulate_session(data_settings, n_laps=6, drivers=6)
    pd.testing.assert_frame_equal(sim.telemetry, again.telemetry)
    other = simulate_session(data_settings, n_laps=6, drivers=6, seed=7)
    assert not other.telemetry["speed"].equals(sim.telemetry["speed"])


def test_looks_like_racing(sim):
    tel = sim.telemetry
    racing = tel[tel["lap_number"].notna() & ~tel["in_pit"]]
    assert 230 < racing["speed"].max() < 300 and racing[racing["speed"] > 5]["speed"].min() < 90
    # braking happens where speed drops, at most ~a fifth of the lap
    assert 0.05 < racing["brake"].mean() < 0.35
    # gear rises with speed, rpm within a real engine's range
    by_gear = racing[racing["gear"] > 0].groupby("gear")["speed"].median()
    assert by_gear.is_monotonic_increasing and len(by_gear) >= 6
    assert racing["rpm"].between(4000, 12500).all()
    # one pit stop per car: compound changes, stint 2, stationary in the box
    laps = sim.laps
    assert laps["PitInTime"].notna().sum() == 6 and laps["PitOutTime"].notna().sum() == 6
    for drv, g in laps.groupby("Driver"):
        assert g["Stint"].max() == 2 and g["Compound"].nunique() == 2
        assert (tel[(tel["driver"] == drv) & tel["in_pit"]]["speed"] < 70).all()
    # positions are a permutation on every lap; x/y lie on the closed outline
    assert all(sorted(g.tolist()) == list(range(1, 7)) for _, g in laps.groupby("LapNumber")["Position"])
    xy = tel[["x", "y"]].dropna()
    assert xy["x"].abs().max() < 600 and tel["position_estimated"].any()


def test_frequency_like_live_timing(sim):
    from f1live.frequency import session_frequency

    f = session_frequency(sim.telemetry)
    assert 3.5 < f["car"]["driver_median_hz"] < 4.0
