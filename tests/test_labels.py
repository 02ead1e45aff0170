"""Labels come from real events: pit entries, flags, retirements, lap times of later laps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from f1live.labels import (
    LABEL_DEFINITIONS,
    LabelConfig,
    degraded_laps,
    incident_starts,
    make_labels,
    pit_entries,
    retirements,
)


def test_pit_labels_precede_real_pit_entries(monaco_2023) -> None:
    tel, laps = monaco_2023.telemetry, monaco_2023.laps
    cfg = LabelConfig()
    y = make_labels(tel, laps, monaco_2023.track_status, cfg)["pit_stop_probability"]
    pits = pit_entries(laps)
    assert len(pits) == 36  # 2023 Monaco: 36 laps with a PitInTime (shared/data/README.md)
    t = tel["session_time"].to_numpy()
    drv = tel["driver"].astype(str).to_numpy()
    checked = 0
    for p in pits.itertuples():
        mine = drv == p.driver
        before = mine & (t > p.pit_in - cfg.pit_horizon_s + 1) & (t < p.pit_in - 0.5)
        inside = mine & (t >= p.pit_in) & (t <= (p.pit_out if np.isfinite(p.pit_out) else p.pit_in + 20))
        labelled = y[before].dropna()
        if len(labelled):
            assert (labelled == 1).all(), p
            checked += 1
        assert y[inside].isna().all(), "rows in the pit lane must be undefined"
    assert checked >= 30
    # far from any pit entry: negative
    far = np.ones(len(tel), dtype=bool)
    for p in pits.itertuples():
        far &= ~((drv == p.driver) & (t > p.pit_in - 3 * cfg.pit_horizon_s) & (t < p.pit_in + 300))
    assert (y[far].dropna() == 0).all()
    assert 0.005 < y.mean() < 0.05


def test_crash_labels_from_flags_and_retirements(shared_data, analytics_settings) -> None:
    from f1live.models import load_sessions

    d = load_sessions(analytics_settings, [2022], drivers=["MSC", "VER"])[0]
    rets = retirements(d.laps)
    assert {"MSC", "MAG", "ALB"} <= set(rets["driver"])  # MSC crashed (red flag), MAG/ALB retired
    assert "VER" not in set(rets["driver"])
    y = make_labels(d.telemetry, d.laps, d.track_status)["crash_risk"]
    t = d.telemetry["session_time"].to_numpy()
    drv = d.telemetry["driver"].astype(str).to_numpy()
    msc = rets.set_index("driver").loc["MSC"]
    before_crash = (drv == "MSC") & (t > msc.start - 30) & (t < msc.start)
    assert (y[before_crash].dropna() == 1).all() and y[before_crash].notna().any()
    starts = incident_starts(d.track_status)
    race = d.telemetry["lap_number"].notna().to_numpy()
    for s in starts:
        w = race & (t > s - 50) & (t < s - 1)
        assert (y[w].dropna() == 1).all()
    # defined only on green running
    status = d.telemetry["track_status"].astype(str).to_numpy()
    assert y.notna().any() and 0.02 < y.mean() < 0.4
    assert not y[(status == "5")].notna().any()


def test_tyre_proxy_uses_later_clean_laps_only(monaco_2023) -> None:
    cfg = LabelConfig()
    deg = degraded_laps(monaco_2023.laps, cfg)
    assert (deg.loc[deg["degraded"], "loss_s"] >= cfg.tyre_loss_s).all()
    assert not deg.loc[~deg["clean"], "degraded"].any()
    tel = monaco_2023.telemetry
    y = make_labels(tel, monaco_2023.laps, monaco_2023.track_status, cfg)["tire_failure"]
    # laps run under yellow/SC/VSC (lap track status other than "1") are undefined
    sc_lap = tel["track_status"].astype(str).str.contains("[24567]").to_numpy() & tel["lap_number"].notna().to_numpy()
    assert y[sc_lap].isna().all()
    # a positive row has a degraded lap among this and the next two laps of the driver
    bad = {(r.Driver, r.LapNumber) for r in deg[deg["degraded"]].itertuples()}
    pos = tel[y == 1][["driver", "lap_number"]].drop_duplicates()
    for r in pos.itertuples():
        assert any((r.driver, float(r.lap_number + k)) in bad for k in range(cfg.tyre_horizon_laps))
    assert "PROXY" in LABEL_DEFINITIONS["tire_failure"]


def test_labels_validate_inputs(monaco_2023_slice) -> None:
    import pytest

    with pytest.raises(ValueError, match="missing columns.*laps"):
        make_labels(monaco_2023_slice.telemetry, pd.DataFrame({"Driver": ["VER"]}), monaco_2023_slice.track_status)


def test_2024_red_flag_entries_are_not_stops_and_keep_the_race(shared_data, analytics_settings) -> None:
    """2024 Monaco: red flag on lap 1, cars held in the pit lane without a PitOutTime on lap 2."""
    from f1live.models import load_sessions

    keep_race = ["LEC", "NOR", "PIA", "RUS", "SAI"]
    d = load_sessions(analytics_settings, [2024], drivers=[*keep_race, "HAM", "VER"])[0]
    entries = pit_entries(d.laps, d.track_status)
    assert len(pit_entries(d.laps)) == d.laps["PitInTime"].notna().sum()
    red = entries[entries["kind"] == "red_flag"]
    assert set(keep_race) | {"HAM", "VER"} <= set(red["driver"])
    assert (red["lap"] == 1).all() and np.isfinite(red["pit_out"]).all()
    # a held car's stay ends with its entry lap, never at a later stop's exit
    lap1_end = d.laps[d.laps["LapNumber"] == 1].set_index("Driver")["Time"]
    for r in red.itertuples():
        assert r.pit_out <= lap1_end[r.driver] + 60, r
    stops = entries[(entries["kind"] == "stop") & entries["driver"].isin(["HAM", "VER"])]
    assert set(stops["driver"]) == {"HAM", "VER"} and stops["lap"].between(51, 52).all()

    y = make_labels(d.telemetry, d.laps, d.track_status)["pit_stop_probability"]
    tel = d.telemetry
    drv = tel["driver"].astype(str).to_numpy()
    t = tel["session_time"].to_numpy()
    lapn = tel["lap_number"].astype("float64").to_numpy()
    last_lap = d.laps.groupby("Driver")["LapNumber"].max()
    for code in keep_race:
        mine = drv == code
        labelled = mine & y.notna().to_numpy()
        # the race after the restart is labelled up to the last lap, all negatives (no strategic stop)
        assert np.nanmax(lapn[labelled]) == last_lap[code], code
        stay_end = red.set_index("driver").loc[code, "pit_out"]
        after = mine & ~np.isnan(lapn) & (t > stay_end)
        assert labelled[after].mean() > 0.95, code
        assert (y[labelled] == 0).all(), code
    for s in stops.itertuples():
        before = (drv == s.driver) & (t > s.pit_in - 55) & (t < s.pit_in - 1)
        assert before.any() and (y[before] == 1).all(), s
    # no positive before a red-flag entry
    for r in red.itertuples():
        before = (drv == r.driver) & (t > r.pit_in - 60) & (t < r.pit_in)
        assert not (y[before] == 1).any(), r
