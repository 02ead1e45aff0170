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
