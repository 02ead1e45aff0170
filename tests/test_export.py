"""Export: names, sidecar, exact Parquet round trip, CSV round trip via coerce_frame."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from f1live.export import export_session, sha256_file, verify_export
from f1live.schema import SCHEMA_VERSION
from f1live.sources.exports import find_export, load_export, read_export


@pytest.fixture(scope="module")
def exported(monaco_2023, tmp_path_factory):
    """The full race as Parquet (CSV of 800k rows is ~135 MB: that round trip uses 4 drivers)."""
    out = tmp_path_factory.mktemp("export")
    return export_session(monaco_2023, out, progress=False, formats=("parquet",))


@pytest.fixture(scope="module")
def four_drivers(monaco_2023):
    from dataclasses import replace

    tel = monaco_2023.telemetry
    keep = tel["driver"].isin(["VER", "HAM", "ALO", "STR"])
    return replace(monaco_2023, telemetry=tel[keep].reset_index(drop=True))


def test_names_and_sidecar(exported, monaco_2023):
    stem = exported.sidecar.stem
    assert re.fullmatch(r"2023_Monaco_R_\d{8}T\d{6}Z", stem)
    assert exported.parquet.name == stem + ".parquet"
    side = json.loads(exported.sidecar.read_text())
    assert side["schema_version"] == SCHEMA_VERSION
    assert side["source"] == "fastf1-csv" and side["simulated"] is False
    assert side["fastf1_version"] == monaco_2023.meta["fastf1_version"]
    assert side["rows"] == len(monaco_2023.telemetry) and len(side["drivers"]) == 20
    assert side["laps"] == 78
    for fmt in ("parquet",):
        f = exported.files[fmt]
        assert side["files"][fmt]["sha256"] == sha256_file(f)
        assert side["files"][fmt]["bytes"] == f.stat().st_size
    car = side["frequency"]["car"]
    assert 3.5 < car["driver_median_hz"] < 4.0 and side["frequency"]["position"] is None
    verify_export(exported.parquet)


def test_parquet_round_trip_exact(exported, monaco_2023):
    back = pd.read_parquet(exported.parquet)
    pd.testing.assert_frame_equal(back, monaco_2023.telemetry)  # values and dtypes, no coercion


def test_csv_round_trip_equal_values(four_drivers, tmp_path):
    res = export_session(four_drivers, tmp_path, progress=False)
    assert res.csv.name == res.sidecar.stem + ".csv"
    side = json.loads(res.sidecar.read_text())
    tables = ("laps", "track_status", "race_control", "weather")
    assert set(side["files"]) == {"csv", "parquet"} | {f"{t}.{fmt}" for t in tables for fmt in ("csv", "parquet")}
    assert side["files"]["csv"]["sha256"] == sha256_file(res.csv)
    assert set(side["tables"]) == set(tables)
    back = read_export(res.csv)
    pd.testing.assert_frame_equal(back, four_drivers.telemetry)
    pd.testing.assert_frame_equal(pd.read_parquet(res.parquet), four_drivers.telemetry)


def test_file_source_and_find(exported, monaco_2023):
    assert find_export(exported.sidecar.parent, 2023, "Monaco", "R") == exported.parquet
    data = load_export(exported.parquet)
    assert data.meta["source"] == "fastf1-csv" and not data.simulated
    assert len(data.track_status) == len(monaco_2023.track_status)
    laps = data.laps
    ver23 = laps[(laps["Driver"] == "VER") & (laps["LapNumber"] == 23)].iloc[0]
    real = monaco_2023.laps
    real23 = real[(real["Driver"] == "VER") & (real["LapNumber"] == 23)].iloc[0]
    assert ver23["Compound"] == real23["Compound"] and ver23["Stint"] == real23["Stint"]
    # the laps table travels with the export: FastF1's own times, not reconstructed ones
    assert ver23["LapTime"] == real23["LapTime"] and ver23["Time"] == real23["Time"]
    pd.testing.assert_frame_equal(data.race_control, monaco_2023.race_control)
    pd.testing.assert_frame_equal(data.weather, monaco_2023.weather)
    pd.testing.assert_frame_equal(data.track_status, monaco_2023.track_status)
    # only exports of this schema version are picked up by `auto`
    old = exported.sidecar.with_name("2023_Monaco_R_20990101T000000Z.json")
    side = json.loads(exported.sidecar.read_text())
    old.write_text(json.dumps(dict(side, schema_version=SCHEMA_VERSION - 1)))
    old.with_suffix(".parquet").write_bytes(exported.parquet.read_bytes())
    try:
        assert find_export(exported.sidecar.parent, 2023, "Monaco", "R") == exported.parquet
    finally:
        old.unlink()
        old.with_suffix(".parquet").unlink()


def test_tampered_file_detected(tmp_path, monaco_2023_slice):
    res = export_session(monaco_2023_slice, tmp_path, progress=False, formats=("csv",))
    with open(res.csv, "a") as fh:
        fh.write("\n")
    with pytest.raises(ValueError, match=r"\.csv sha256 .* differs from the sidecar"):
        verify_export(res.csv)
    with pytest.raises(ValueError, match=r"unknown export formats \['xls'\]"):
        export_session(monaco_2023_slice, tmp_path, formats=("xls",))
