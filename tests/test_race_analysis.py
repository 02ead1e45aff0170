"""Race analysis at the replay clock on the real 2023 Monaco race: stints, positions, lap times,
personal bests, pit stops, weather, lap traces -- and nothing from after the clock.

The expected values are computed here from the laps / weather tables with pandas,
independently of :mod:`f1live.race_analysis`; personal bests are also checked against
FastF1's own ``IsPersonalBest`` column.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from f1live.laptraces import LapTraces
from f1live.race_analysis import RaceAnalysis, lap_records, time_delta
from f1live.timing import SessionTiming


def leader_lap_start(laps: pd.DataFrame, k: int) -> float:
    """When the leader started lap ``k`` (the first crossing of the end of lap k-1)."""
    return float(laps[laps["LapNumber"] == k - 1]["Time"].min())


#: Mid-race clocks: 35 s into lap 40 (dry, after the first stops), 35 s into lap 56 (rain, a
#: burst of stops for intermediates) -- computed from the table in the fixture below.
CLOCK_LAPS = (40, 56)


@pytest.fixture(scope="module")
def race(monaco_2023) -> RaceAnalysis:
    return RaceAnalysis(SessionTiming.from_session(monaco_2023))


@pytest.fixture(scope="module", params=CLOCK_LAPS, ids=lambda k: f"lap{k}")
def clock(request, monaco_2023) -> float:
    return leader_lap_start(monaco_2023.laps, request.param) + 35.0


def done(laps: pd.DataFrame, t: float) -> pd.DataFrame:
    """The laps completed by ``t``, by driver and lap."""
    return laps[laps["Time"] <= t].sort_values(["Driver", "LapNumber"])


def test_stints_and_compounds_per_driver(monaco_2023, race, clock) -> None:
    exp_laps = done(monaco_2023.laps, clock)
    got = race.at(clock).stints
    assert set(got) == set(monaco_2023.laps["Driver"])
    changed = 0
    for drv, g in exp_laps.groupby("Driver"):
        # a stint: consecutive laps with the same Stint number and compound
        key = g["Stint"].astype(str) + "/" + g["Compound"].astype(str)
        run = (key != key.shift()).cumsum()
        exp = [
            (int(s["Stint"].iloc[0]), s["Compound"].iloc[0], int(s["LapNumber"].min()), int(s["LapNumber"].max()))
            for _, s in g.groupby(run)
        ]
        assert [(s.number, s.compound, s.first_lap, s.last_lap) for s in got[drv]] == exp, drv
        changed += len(exp) > 1
    assert changed >= 5, "the chosen clocks must come after several stops"


def test_positions_and_lap_times_per_lap(monaco_2023, race, clock) -> None:
    exp_laps = done(monaco_2023.laps, clock)
    now = race.at(clock)
    for drv, g in exp_laps.groupby("Driver"):
        rows = now.laps[drv]
        assert [r.lap for r in rows] == g["LapNumber"].astype(int).tolist()
        assert [r.position for r in rows] == g["Position"].astype(int).tolist()
        assert [r.lap_time for r in rows] == pytest.approx(g["LapTime"].tolist())
    # the order is the one of the last completed laps: laps completed, then when
    last = exp_laps.groupby("Driver").tail(1).sort_values(["LapNumber", "Time"], ascending=[False, True])
    assert now.order == last["Driver"].tolist()


def test_personal_bests_follow_f1_timing(monaco_2023, race, clock) -> None:
    """Running best, not counting lap 1, in/out laps and deleted laps: computed here, and FastF1's
    IsPersonalBest column (a second, independent source) agrees."""
    exp_laps = done(monaco_2023.laps, clock)
    now = race.at(clock)
    marked = 0
    for drv, g in exp_laps.groupby("Driver"):
        counts = (g["LapNumber"] > 1) & g["PitInTime"].isna() & g["PitOutTime"].isna() & ~g["Deleted"]
        best = math.inf
        exp = []
        for lt, ok in zip(g["LapTime"], counts, strict=True):
            pb = bool(ok and lt < best)
            best = lt if pb else best
            exp.append(pb)
        got = [r.personal_best for r in now.laps[drv]]
        assert got == exp, drv
        assert got == g["IsPersonalBest"].astype(bool).tolist(), drv
        marked += sum(got)
    assert marked > 40
    fastest = exp_laps[exp_laps["IsPersonalBest"]].sort_values("LapTime").iloc[0]
    assert (now.fastest.driver, now.fastest.lap) == (fastest["Driver"], int(fastest["LapNumber"]))


def test_pit_stops_and_pit_lane_times(monaco_2023, race, clock) -> None:
    laps = monaco_2023.laps
    now = race.at(clock)
    entries = laps[laps["PitInTime"] <= clock]
    for drv, g in laps.groupby("Driver"):
        got = [p for p in now.pits[drv] if p.entry is not None]
        exp = entries[entries["Driver"] == drv].sort_values("LapNumber")
        assert [p.lap for p in got] == exp["LapNumber"].astype(int).tolist(), drv
        for p, (_, e) in zip(got, exp.iterrows(), strict=True):
            out = g[(g["LapNumber"] == e["LapNumber"] + 1) & (g["PitOutTime"] <= clock)]["PitOutTime"]
            if len(out):
                assert p.pit_lane_s == pytest.approx(float(out.iloc[0]) - float(e["PitInTime"]))
            else:
                assert p.exit is None  # still in the pit lane at the clock
        assert all(p.exit is None or p.exit <= clock for p in now.pits[drv])
    assert sum(len(v) for v in now.pits.values()) >= len(entries)


def test_nothing_after_the_clock(monaco_2023, race, clock) -> None:
    now = race.at(clock)
    assert max(r.end for rows in now.laps.values() for r in rows) <= clock
    assert all(s.last_lap <= max(r.lap for r in now.laps[d]) for d, ss in now.stints.items() for s in ss)
    assert now.weather["session_time"].max() <= clock
    assert len(now.weather["session_time"]) == int((monaco_2023.weather["session_time"] <= clock).sum())
    assert all(b <= clock for _, b in now.rain)
    later = race.at(clock + 600.0)
    assert sum(map(len, later.laps.values())) > sum(map(len, now.laps.values()))
    # the cut of the whole session's records equals records built at the clock
    assert now.laps == lap_records(race.timing, clock)


def test_rain_periods_from_the_weather_readings(monaco_2023, race) -> None:
    wx = monaco_2023.weather.sort_values("session_time")
    first_rain = float(wx[wx["rainfall"].astype(bool)]["session_time"].min())
    assert race.at(first_rain - 1.0).rain == []
    t = first_rain + 300.0
    ((start, end),) = race.at(t).rain
    assert (start, end) == (first_rain, t)
    lap = race.at(t).rain_laps[0]
    # on the lap chart, rain begins in the lap the leader was running when it began
    lead = monaco_2023.laps.groupby("LapNumber")["Time"].min()
    k = int((lead < first_rain).sum()) + 1  # the leader's lap at first_rain
    assert k - 1 <= lap[0] < k
    assert not race.at(leader_lap_start(monaco_2023.laps, 40)).flag_laps  # 2023: yellows only, no SC


def test_lap_traces_from_the_stream_compare_laps_by_distance(monaco_2023) -> None:
    """The real car data of two drivers streamed through LapTraces up to a clock: complete laps
    only, none ending after the clock, each as long as the laps table says, and the time delta
    at the line equal to the difference of the lap times."""
    laps = monaco_2023.laps.set_index(["Driver", "LapNumber"])
    tel = monaco_2023.telemetry
    clock = leader_lap_start(monaco_2023.laps, 30) + 35.0
    rows = tel[
        tel["driver"].isin(["VER", "ALO"])
        & (tel["session_time"] <= clock)
        & (tel["session_time"] >= leader_lap_start(monaco_2023.laps, 25) - 30.0)
    ]
    traces = LapTraces()
    for r in rows.sort_values("session_time").to_dict("records"):
        traces.add({k: None if v is pd.NA else v for k, v in r.items()})  # as decoded from JSON
    for drv in ("VER", "ALO"):
        got = traces.complete_laps(drv, clock)
        exp = [k for k in range(25, 31) if laps.loc[(drv, k), "Time"] <= clock]
        assert got == exp[1:] or got == exp, (drv, got, exp)  # the first may have begun before the slice
        for k in got:
            t = traces.trace(drv, k, clock)
            assert t.end <= clock
            assert t.time[-1] == pytest.approx(laps.loc[(drv, k), "LapTime"], abs=0.4)  # samples at ~3.7 Hz
            assert 3100 < t.distance[-1] < 3500  # Monaco: 3,337 m
    k = traces.complete_laps("VER", clock)[-1]
    v, a = traces.trace("VER", k, clock), traces.trace("ALO", k, clock)
    _, delta = time_delta(v.distance, v.time, a.distance, a.time)
    exp = laps.loc[("ALO", k), "LapTime"] - laps.loc[("VER", k), "LapTime"]
    assert delta[-1] == pytest.approx(exp, abs=0.4)
    assert np.all(np.isfinite(delta))
    # a seek: the laps being recorded are dropped, completed ones stay (and only up to the clock)
    traces.new_segment()
    assert traces.complete_laps("VER", clock) == traces.complete_laps("VER", None)
    for c in np.arange(leader_lap_start(monaco_2023.laps, 26), clock, 7.0):  # clocks of a seek back
        known = traces.complete_laps("VER", c)
        timed = [x for x in traces.complete_laps("VER", None) if laps.loc[("VER", x), "Time"] <= c]
        # never a lap timing had not completed; every lap completed a sample (< 1 s) before
        assert set(known) <= set(timed)
        assert set(timed) - set(known) <= {x for x in timed if laps.loc[("VER", x), "Time"] > c - 1.0}
    assert traces.nbytes < 2_000_000
