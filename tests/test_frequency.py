"""Measured frequency vs an independent computation from the raw FastF1 timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from f1live.frequency import interval_stats, measure_frequency, session_frequency, summary_table


@pytest.mark.parametrize("number,code", [(1, "VER"), (44, "HAM"), (18, "STR")])
def test_per_driver_matches_raw_dates(shared_data, monaco_2023, number, code):
    raw = pd.read_csv(
        shared_data / f"fastf1_csv_exports/monaco_2023_race/car_data_2023_driver_{number}.csv.gz", usecols=["Date"]
    )
    d = pd.to_datetime(raw["Date"]).sort_values()
    gaps = d.diff().dt.total_seconds().dropna().to_numpy()
    mean_raw = (d.iloc[-1] - d.iloc[0]).total_seconds() / (len(d) - 1)
    f = session_frequency(monaco_2023.telemetry)
    ours = f["car"]["per_driver"][code]
    assert ours["samples"] == len(d)
    assert ours["mean_interval_s"] == pytest.approx(mean_raw, abs=1e-6)
    assert ours["median_interval_s"] == pytest.approx(np.median(gaps), abs=1e-3)  # dates rounded to ms
    assert ours["hz"] == pytest.approx(1 / mean_raw, rel=1e-5)
    assert 3.5 < ours["hz"] < 4.0  # README: about 3.77 Hz


def test_overall_and_streams(monaco_2023):
    tel = monaco_2023.telemetry
    f = session_frequency(tel)
    assert f["position"] is None  # no position data in this source
    assert f["merged"]["overall"]["samples"] == len(tel)
    span = tel["session_time"].max() - tel["session_time"].min()
    assert f["merged"]["overall"]["hz"] == pytest.approx((len(tel) - 1) / span)
    every_other = tel.groupby("driver", observed=True).cumcount() % 2 == 0
    pos = tel.loc[every_other, ["driver", "session_time"]]  # a position stream at half the rate
    g = session_frequency(tel, position=pos)
    assert g["position"]["driver_median_hz"] == pytest.approx(f["car"]["driver_median_hz"] / 2, rel=0.02)
    table = summary_table(g)
    assert list(table["stream"]) == ["car", "position", "merged"]
    assert table.loc[0, "median_interval_ms"] == pytest.approx(240, abs=25)


def test_small_series():
    assert interval_stats(np.array([1.0]))["hz"] is None
    f = measure_frequency(np.array([0.0, 1.0, 2.0, 0.5]), np.array(["A", "A", "A", "B"]))
    assert f["per_driver"]["A"]["hz"] == 1.0 and f["per_driver"]["B"]["hz"] is None
