"""Sources: raw FastF1 CSV dumps (real data), dispatch, auto order, errors."""

from __future__ import annotations

import gzip
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from f1live.schema import DTYPES, TELEMETRY_COLUMNS
from f1live.sources import SOURCES, SourceUnavailableError, load_session
from f1live.sources.fastf1_csv import load_fastf1_csv, read_laps
from f1live.sources.telemetry import parse_timedelta_seconds


def _lap(tel: pd.DataFrame, drv: str, lap: int) -> pd.DataFrame:
    return tel[(tel["driver"] == drv) & (tel["lap_number"] == lap).fillna(False)]


def test_schema_columns_and_dtypes(monaco_2023):
    tel = monaco_2023.telemetry
    assert tuple(tel.columns) == TELEMETRY_COLUMNS
    for c in TELEMETRY_COLUMNS:
        assert str(tel[c].dtype) == str(pd.Series(dtype=DTYPES[c]).dtype), c
    assert len(tel) == 20 * 39_892  # README: 39,892 rows per driver, nothing dropped
    assert set(tel["driver"].unique()) == set(monaco_2023.meta["drivers"])
    assert len(monaco_2023.meta["drivers"]) == 20
    assert not tel["simulated"].any() and (tel["source"] == "fastf1-csv").all()


def test_alignment_reference_values(monaco_2023):
    """README check values: FastF1's t0 alignment gives these per-lap numbers."""
    assert monaco_2023.meta["t0_date"].startswith("2023-05-28T12:01:00.977")
    ver = _lap(monaco_2023.telemetry, "VER", 23)
    assert (len(ver), ver["speed"].max(), round(float(ver["speed"].mean()), 1), ver["rpm"].max()) == (
        287,
        270,
        154.0,
        11756,
    )
    ham = _lap(monaco_2023.telemetry, "HAM", 33)
    assert (len(ham), ham["speed"].max(), round(float(ham["speed"].mean()), 1), ham["rpm"].max()) == (
        285,
        287,
        156.0,
        11903,
    )


def test_chronological_order(monaco_2023):
    tel = monaco_2023.telemetry
    t = tel["session_time"].to_numpy()
    assert np.all(np.diff(t) >= 0)
    same = np.flatnonzero(np.diff(t) == 0)
    d = tel["driver"].to_numpy()
    assert np.all(d[same] < d[same + 1])  # ties broken by driver code


def test_lap_context_from_laps_table(monaco_2023):
    tel, laps = monaco_2023.telemetry, monaco_2023.laps
    ver23 = laps[(laps["Driver"] == "VER") & (laps["LapNumber"] == 23)].iloc[0]
    rows = _lap(tel, "VER", 23)
    assert (rows["compound"] == ver23["Compound"]).all()
    assert (rows["stint"] == ver23["Stint"]).all()
    assert (rows["tyre_life"] == ver23["TyreLife"]).all()
    assert rows["session_time"].between(ver23["LapStartTime"], ver23["Time"]).all()
    assert (rows["team"] == "Red Bull Racing").all()
    assert (rows["total_laps"] == 78).all()
    # pit flags follow PitInTime / PitOutTime of the laps
    pit_in_laps = laps.dropna(subset=["PitInTime"])
    assert len(pit_in_laps) == 36  # README: 36 laps with a PitInTime in 2023
    one = pit_in_laps.iloc[0]
    r = _lap(tel, one["Driver"], int(one["LapNumber"]))
    assert "pit_in_lap" not in tel.columns  # the end of the running lap is not known during it
    assert r[r["session_time"] >= one["PitInTime"]]["in_pit"].all()
    assert not r[r["session_time"] < one["PitInTime"]]["in_pit"].any()
    assert not _lap(tel, "VER", 23)["in_pit"].any()
    # samples before the start have no lap
    assert tel[tel["session_time"] < monaco_2023.meta["race_start_session_time"]]["lap_number"].isna().all()


def test_position_and_track_status_are_as_known_at_the_sample(monaco_2023):
    """No look-ahead: a sample carries the position of the driver's last *completed* lap and
    the track status issued before it, never what the running lap ends with."""
    tel, laps, ts = monaco_2023.telemetry, monaco_2023.laps, monaco_2023.track_status
    # HAM pitted on lap 32 (in the pit lane at its end: P8 after being P5 at the end of lap 30)
    ham = laps[laps["Driver"] == "HAM"].set_index("LapNumber")
    assert (ham.loc[30, "Position"], ham.loc[31, "Position"]) == (5, 8)
    rows = _lap(tel, "HAM", 31)
    assert (rows["position"] == 5).all()  # the end-of-lap-31 position is not known during lap 31
    after = tel[
        (tel["driver"] == "HAM")
        & tel["session_time"].between(ham.loc[31, "Time"], ham.loc[32, "Time"], inclusive="left")
    ]
    assert (after["position"] == 8).all()
    # before the first line crossing nobody has a position
    assert tel[tel["lap_number"] == 1]["position"].isna().all()
    # track status: the yellow issued at 1:16:53 (4613.044 s) is on samples from then on only,
    # not on the whole lap it happened in
    yellow = ts[ts["session_time"].between(4613, 4614)].iloc[0]
    assert yellow["status"] == "2"
    lap_of = tel[
        (tel["driver"] == "VER") & tel["session_time"].between(yellow["session_time"] - 20, yellow["session_time"] + 20)
    ]
    before = lap_of[lap_of["session_time"] < yellow["session_time"]]
    during = lap_of[lap_of["session_time"].between(yellow["session_time"], yellow["session_time"] + 20)]
    assert (before["track_status"] == "1").all() and (during["track_status"] == "2").all()
    # weather: the last reading at or before each sample
    wx = monaco_2023.weather
    i = int(np.searchsorted(wx["session_time"], 8000.0, side="right")) - 1
    row = tel[(tel["driver"] == "VER") & (tel["session_time"] >= 8000.0)].iloc[0]
    if row["session_time"] < wx["session_time"].iloc[i + 1]:
        assert row["track_temp"] == pytest.approx(wx["track_temp"].iloc[i], abs=1e-4)
        assert bool(row["rainfall"]) == bool(wx["rainfall"].iloc[i])


def test_side_tables_race_control_and_weather(monaco_2023):
    """The dumps have weather; race control comes from the FastF1 cache of the same race."""
    rc, wx = monaco_2023.race_control, monaco_2023.weather
    assert len(rc) == 242 and len(wx) == 176  # README: race-control msgs 242; weather 176 rows
    assert rc["session_time"].is_monotonic_increasing and wx["session_time"].is_monotonic_increasing
    # the first message (12:05:10 UTC) on the session clock (t0 = 12:01:00.977)
    assert rc["session_time"].iloc[0] == pytest.approx(249.023, abs=1e-3)
    assert wx["rainfall"].any() and not wx["rainfall"].iloc[0]


def test_estimated_position_on_outline(monaco_2023):
    rows = _lap(monaco_2023.telemetry, "VER", 23)
    assert rows["position_estimated"].all() and rows["z"].isna().all()
    frac = rows["lap_fraction"].to_numpy()
    assert frac[0] == 0 and 0.97 <= frac[-1] <= 1.0 and np.all(np.diff(frac) >= 0)
    # integrated distance of a flying lap is close to the 3.337 km track
    assert 3000 < rows["lap_distance"].max() < 3600
    # the fraction is scaled by the previous lap's distance, never by the end of this lap
    prev = _lap(monaco_2023.telemetry, "VER", 22)["lap_distance"].max()
    np.testing.assert_allclose(frac, np.minimum(rows["lap_distance"].to_numpy() / prev, 1.0), rtol=1e-5)


def test_2024_lap1_retirements_are_kept(shared_data, data_settings):
    s = data_settings.replace(year=2024)
    d = load_fastf1_csv(s, progress=False, drivers=["PER", "VER"])
    per = d.telemetry[d.telemetry["driver"] == "PER"]
    assert len(per) == 45_354  # README: 45,354 rows per driver, kept although no laps
    # red flag on lap 1: VER enters the pit lane (PitInTime, no PitOutTime on lap 2) and is
    # released to the grid at the restart; his real stop is lap 52 -> 53
    ver = d.telemetry[d.telemetry["driver"] == "VER"]
    laps = d.laps[d.laps["Driver"] == "VER"].set_index("LapNumber")
    red = ver["session_time"].between(laps.loc[1, "PitInTime"], laps.loc[1, "Time"], inclusive="left")
    assert ver[red]["in_pit"].all() and red.sum() > 8000
    stop = ver["session_time"].between(laps.loc[52, "PitInTime"], laps.loc[53, "PitOutTime"], inclusive="left")
    assert ver[stop]["in_pit"].all() and 50 < stop.sum() < 150
    assert ver["in_pit"].sum() == red.sum() + stop.sum()
    # t0 is taken over all 20 drivers' files, as FastF1 does, even when loading two
    assert d.meta["t0_date"].startswith("2024-05-26T12:0")


def test_parse_timedelta_matches_pandas(shared_data):
    raw = pd.read_csv(
        shared_data / "fastf1_csv_exports/monaco_2023_race/car_data_2023_driver_44.csv.gz", usecols=["Time"]
    )["Time"]
    ours = parse_timedelta_seconds(raw)
    ref = pd.to_timedelta(raw).dt.total_seconds().to_numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_laps_table(monaco_2023):
    laps = monaco_2023.laps
    for c in (
        "Driver",
        "DriverNumber",
        "LapNumber",
        "LapTime",
        "LapStartTime",
        "Time",
        "PitInTime",
        "PitOutTime",
        "Stint",
        "Compound",
        "TyreLife",
        "TrackStatus",
        "Position",
        "Team",
    ):
        assert c in laps.columns
    assert laps["LapTime"].dtype == "float64"
    ham33 = laps[(laps["Driver"] == "HAM") & (laps["LapNumber"] == 33)]["LapTime"].iloc[0]
    assert ham33 == pytest.approx(75.650)
    assert len(monaco_2023.track_status) > 0


def test_dispatch(data_settings):
    assert set(SOURCES) == {"auto", "fastf1", "file", "fastf1-csv", "simulated"}
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        load_session(data_settings.replace(source="nope"))
    with pytest.raises(ValueError, match="needs a path"):
        load_session(data_settings.replace(source="file"))


def test_missing_dump_is_a_clear_error(tmp_path, data_settings):
    with pytest.raises(SourceUnavailableError, match="no FastF1 CSV dump"):
        load_session(data_settings.replace(source="fastf1-csv", year=1999))
    with pytest.raises(SourceUnavailableError, match="no car_data"):
        load_fastf1_csv(data_settings, path=tmp_path)


def test_bad_car_file_names_the_file(tmp_path, shared_data):
    src = shared_data / "fastf1_csv_exports/monaco_2023_race"
    for f in ("monaco_laps_2023.csv", "driver_info_2023.csv"):
        shutil.copy(src / f, tmp_path / f)
    with gzip.open(tmp_path / "car_data_2023_driver_1.csv.gz", "wt") as fh:
        fh.write("Time,Date,RPM\n0 days 00:00:01.000000,2023-05-28 12:00:00,1\n")
    from f1live.config import Settings

    with pytest.raises(ValueError, match=r"missing columns \['Speed'.*car_data_2023_driver_1"):
        load_fastf1_csv(Settings(), path=tmp_path, progress=False)


def test_read_laps_requires_columns(tmp_path):
    p = tmp_path / "laps.csv"
    p.write_text("Driver,LapNumber\nVER,1\n")
    with pytest.raises(ValueError, match=r"missing columns \['DriverNumber', 'LapStartTime', 'Time'\]"):
        read_laps(p)


# ----------------------------------------------------------------------------- FastF1 API (real, offline)
def test_fastf1_source_loads_real_cache_offline(monaco_2023_fastf1, monaco_2023):
    a, b = monaco_2023_fastf1.telemetry, monaco_2023.telemetry
    assert monaco_2023_fastf1.meta["source"] == "fastf1" and (a["source"] == "fastf1").all()
    assert monaco_2023_fastf1.meta["t0_date"] == monaco_2023.meta["t0_date"]
    assert tuple(a.columns) == TELEMETRY_COLUMNS and len(a) == len(b)
    # the car channels and clock are identical to the raw-CSV path
    for c in ("date", "session_time", "driver", "driver_number", "speed", "rpm", "gear", "throttle", "brake", "drs"):
        pd.testing.assert_series_equal(a[c], b[c], check_names=True)
    # lap context comes from FastF1's own laps (1515 in the cache vs 1512 in the CSV dump):
    # nearly every sample gets the same lap
    same = (a["lap_number"] == b["lap_number"]).fillna(a["lap_number"].isna() & b["lap_number"].isna())
    assert same.mean() > 0.995
    ver = _lap(a, "VER", 23)
    assert (len(ver), ver["speed"].max(), round(float(ver["speed"].mean()), 1), ver["rpm"].max()) == (
        287,
        270,
        154.0,
        11756,
    )
    assert len(monaco_2023_fastf1.laps) == 1515  # README: FastF1 cache laps shape (1515, 31)
    assert len(monaco_2023_fastf1.race_control) == 242
    assert monaco_2023_fastf1.position is None and a["position_estimated"].any()


def test_fastf1_position_data_is_merged_when_present(fastf1_session_2023, data_settings):
    """No real position data exists here, so FastF1's ``pos_data`` gets a synthetic stream
    with a known shape (X = 10 x session time in 1/10 m, half the car rate, offset clock)
    for two real drivers; the loader must interpolate it onto the car samples."""
    from f1live.frequency import session_frequency
    from f1live.sources.fastf1 import session_to_data

    sess = fastf1_session_2023
    saved = (sess._car_data, sess._pos_data)
    try:
        sess._car_data = {k: saved[0][k] for k in ("1", "44")}
        pos = {}
        for k, cd in sess._car_data.items():
            st = cd["SessionTime"].iloc[::2] + pd.Timedelta(milliseconds=110)
            secs = st.dt.total_seconds().to_numpy()
            pos[k] = pd.DataFrame(
                {"SessionTime": st.to_numpy(), "X": 10 * secs, "Y": -20 * secs, "Z": np.full(len(st), 70.0)}
            )
        sess._pos_data = pos
        d = session_to_data(sess, data_settings, progress=False)
    finally:
        sess._car_data, sess._pos_data = saved
    tel = d.telemetry
    inner = tel[tel["session_time"].between(100, 10_000)]
    np.testing.assert_allclose(inner["x"], inner["session_time"], rtol=1e-6)
    np.testing.assert_allclose(inner["y"], -2 * inner["session_time"], rtol=1e-6)
    assert (inner["z"] == 7.0).all() and not tel["position_estimated"].any()
    assert d.meta["has_position_data"] and set(d.position["driver"]) == {"VER", "HAM"}
    assert tel["lap_fraction"].notna().any()  # lap distance still integrated from speed
    f = session_frequency(tel, d.position)
    assert f["position"]["driver_median_hz"] == pytest.approx(f["car"]["driver_median_hz"] / 2, rel=0.01)


def test_fastf1_offline_without_car_data_lists_choices(shared_data, data_settings, tmp_path):
    shutil.copytree(shared_data / "fastf1_cache", tmp_path / "c")
    for p in (tmp_path / "c").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    s = data_settings.replace(source="fastf1", fastf1_cache=tmp_path / "c", offline=True)
    with pytest.raises(SourceUnavailableError) as e:
        load_session(s)
    msg = str(e.value)
    assert "no car telemetry" in msg
    for choice in ("--cache DIR", "--source file --path FILE", "--source simulated"):
        assert choice in msg


def test_fastf1_missing_cache_dir(data_settings, tmp_path):
    s = data_settings.replace(source="fastf1", fastf1_cache=tmp_path / "absent", offline=True)
    with pytest.raises(SourceUnavailableError, match="absent does not exist"):
        load_session(s)


# ----------------------------------------------------------------------------- auto order
def test_auto_prefers_existing_export(data_settings, monaco_2023_slice, tmp_path):
    from f1live.export import export_session

    export_session(monaco_2023_slice, tmp_path, formats=("parquet",), progress=False)
    d = load_session(data_settings.replace(source="auto", data_dir=tmp_path))
    assert d.meta["export_path"].endswith(".parquet") and len(d.telemetry) == len(monaco_2023_slice.telemetry)


def test_auto_falls_back_to_csv_dump_then_simulated(data_settings, shared_data, tmp_path, caplog):
    # a shared-data folder with a 2-driver 2024 dump (symlinks to the real files: quick)
    src = shared_data / "fastf1_csv_exports" / "monaco_2024_race"
    dump = tmp_path / "shared" / "fastf1_csv_exports" / "monaco_2024_race"
    dump.mkdir(parents=True)
    for name in (
        "car_data_2024_driver_1.csv.gz",
        "car_data_2024_driver_11.csv.gz",
        "monaco_laps_2024.csv",
        "driver_info_2024.csv",
        "track_status_2024.csv",
    ):
        (dump / name).symlink_to(src / name)
    s = data_settings.replace(
        source="auto", data_dir=tmp_path, fastf1_cache=tmp_path / "nocache", shared_data=tmp_path / "shared"
    )
    with caplog.at_level(logging.WARNING):
        d = load_session(s.replace(year=2024), progress=False)
    assert d.meta["source"] == "fastf1-csv" and d.meta["year"] == 2024 and d.meta["drivers"] == ["PER", "VER"]
    assert "raw FastF1 CSV dump" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        sim = load_session(s.replace(shared_data=tmp_path / "nothing"), progress=False)
    assert sim.simulated and sim.telemetry["simulated"].all()
    assert "NO REAL DATA" in caplog.text and "SIMULATED" in caplog.text
