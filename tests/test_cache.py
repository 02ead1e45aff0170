"""ReplayCache on the real 2023 Monaco Race: ordering, delays, filters, seek, bad files."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from f1live.cache import ReplayCache
from f1live.schema import TELEMETRY_COLUMNS


@pytest.fixture(scope="module")
def cache(monaco_2023) -> ReplayCache:
    return ReplayCache.from_session(monaco_2023)


def test_columnar_and_complete(cache, monaco_2023):
    assert len(cache) == len(monaco_2023.telemetry)
    assert cache.columns == TELEMETRY_COLUMNS
    assert all(isinstance(a, np.ndarray) for a in cache._data.values())
    assert cache.nbytes() < 100e6  # ~80 bytes per row
    assert cache.drivers == sorted(monaco_2023.meta["drivers"])
    assert cache.meta["source"] == "fastf1-csv"


def test_order_is_session_time_then_driver(cache):
    t = cache.session_time
    assert t.dtype == np.float64 and np.all(np.diff(t) >= 0)
    d = cache.column("driver")
    ties = np.flatnonzero(np.diff(t) == 0)
    assert len(ties) > 100_000  # all 20 cars share live-timing timestamps
    assert np.all(d[ties] < d[ties + 1])


def test_iter_rows_delays_and_values(cache, monaco_2023):
    start = cache.index_of_lap(23)
    rows = []
    for k, item in enumerate(cache.iter_rows(start=start)):
        rows.append(item)
        if k == 9000:  # crosses two internal blocks
            break
    delays = np.array([d for d, _ in rows])
    times = np.array([r["session_time"] for _, r in rows])
    assert delays[0] == 0.0
    np.testing.assert_allclose(delays[1:], np.diff(times))
    assert np.all(delays >= 0)
    # row dicts carry plain Python values equal to the source table
    i = start + 5000
    r = cache.row(i)
    src = monaco_2023.telemetry.iloc[i]
    assert r == rows[5000][1]
    assert r["driver"] == src["driver"] and r["speed"] == float(src["speed"])
    assert pd.Timestamp(r["date"]) == src["date"]
    assert type(r["lap_number"]) is int and type(r["brake"]) is bool and r["z"] is None


def test_iter_tuples_and_batches_match_rows(cache):
    a = [r for _, r in cache.iter_rows(start=100_000, stop=105_000)]
    b = [t for _, t in cache.iter_tuples(start=100_000, stop=105_000)]
    assert [tuple(r.values()) for r in a] == b
    batch = next(cache.iter_batches(batch_rows=1000, start=100_000))
    assert list(batch["speed"]) == [r["speed"] for r in a[:1000]]
    assert batch["delay_s"][0] == 0.0


def test_filter_and_seek(cache, monaco_2023):
    f = cache.filter(drivers=["VER", "ham"], laps=[23, 33])
    assert f.drivers == ["HAM", "VER"] and set(f.laps) == {23, 33}
    tel = monaco_2023.telemetry
    expect = tel["driver"].isin(["VER", "HAM"]) & tel["lap_number"].isin([23, 33]).fillna(False)
    assert len(f) == int(expect.sum())
    w = cache.filter(start=5000.0, end=5010.0)
    assert w.session_time.min() >= 5000.0 and w.session_time.max() <= 5010.0
    assert len(w) == int(tel["session_time"].between(5000.0, 5010.0).sum())
    i = cache.index_of_lap(23)
    lap = cache.column("lap_number")
    assert lap[i] == 23 and not np.any(lap[:i] == 23)
    with pytest.raises(ValueError, match="lap 999 not in the cache"):
        cache.index_of_lap(999)
    with pytest.raises(ValueError, match=r"unknown drivers \['XXX'\]"):
        cache.filter(drivers=["XXX"])


def test_frequency_of_cache(cache):
    f = cache.frequency()
    assert set(f["per_driver"]) == set(cache.drivers)
    assert 3.5 < f["driver_median_hz"] < 4.0  # README: ~3.77 Hz, median spacing 240 ms


def test_out_of_order_is_sorted_with_warning(monaco_2023_slice, caplog):
    shuffled = monaco_2023_slice.telemetry.sample(frac=1.0, random_state=1)
    with caplog.at_level(logging.WARNING, logger="f1live.cache"):
        c = ReplayCache.from_frame(shuffled, origin="shuffled.csv")
    assert "shuffled.csv is not in time order" in caplog.text
    assert len(c) == len(shuffled)  # nothing dropped
    assert np.all(np.diff(c.session_time) >= 0)


def test_round_trip_from_files(tmp_path, monaco_2023_slice):
    from f1live.export import export_session

    res = export_session(monaco_2023_slice, tmp_path, progress=False, timestamp="20260101T000000Z")
    a = ReplayCache.from_path(res.parquet)
    b = ReplayCache.from_path(res.csv)
    c = ReplayCache.from_session(monaco_2023_slice)
    assert len(a) == len(b) == len(c)
    assert [r for _, r in a.iter_rows()] == [r for _, r in c.iter_rows()] == [r for _, r in b.iter_rows()]
    assert a.meta["rows"] == len(c) and a.meta["source"] == "fastf1-csv"
    pd.testing.assert_frame_equal(a.to_frame(), monaco_2023_slice.telemetry)


# ----------------------------------------------------------------------------- bad input
def _write(df: pd.DataFrame, path):
    df.to_csv(path, index=False)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"export file .*nope\.parquet does not exist"):
        ReplayCache.from_path(tmp_path / "nope.parquet")


def test_empty_files(tmp_path, monaco_2023_slice):
    zero = tmp_path / "zero.csv"
    zero.write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.csv is empty \(0 bytes\)"):
        ReplayCache.from_path(zero)
    header = _write(monaco_2023_slice.telemetry.head(0), tmp_path / "header.csv")
    with pytest.raises(ValueError, match=r"header\.csv is empty: header but no telemetry rows"):
        ReplayCache.from_path(header)
    with pytest.raises(ValueError, match="is empty: no telemetry rows"):
        ReplayCache.from_frame(monaco_2023_slice.telemetry.head(0))


def test_missing_columns_named(tmp_path, monaco_2023_slice):
    p = _write(monaco_2023_slice.telemetry.drop(columns=["speed", "rpm"]), tmp_path / "cols.csv")
    with pytest.raises(ValueError, match=r"missing columns \['speed', 'rpm'\] in .*cols\.csv"):
        ReplayCache.from_path(p)
    q = tmp_path / "cols.parquet"
    monaco_2023_slice.telemetry.drop(columns=["driver"]).to_parquet(q)
    with pytest.raises(ValueError, match=r"missing columns \['driver'\] in .*cols\.parquet"):
        ReplayCache.from_path(q)


def test_bad_timestamps(tmp_path, monaco_2023_slice):
    df = monaco_2023_slice.telemetry.copy()
    df["date"] = df["date"].astype(str)
    df.loc[7, "date"] = "yesterday-ish"
    p = _write(df, tmp_path / "dates.csv")
    with pytest.raises(ValueError, match=r"unparseable date timestamps in .*dates\.csv; first at row 7"):
        ReplayCache.from_path(p)
    df = monaco_2023_slice.telemetry.copy()
    df.loc[3, "session_time"] = np.nan
    p = _write(df, tmp_path / "nan.csv")
    with pytest.raises(ValueError, match=r"missing .*session_time timestamps in .*nan\.csv; first at row 3"):
        ReplayCache.from_path(p)
    q = tmp_path / "nan.parquet"
    df.to_parquet(q)
    with pytest.raises(ValueError, match=r"session_time timestamps in .*nan\.parquet; first at row 3"):
        ReplayCache.from_path(q)


def test_unsupported_and_corrupt(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello")
    with pytest.raises(ValueError, match=r"x\.txt has unsupported suffix '.txt'"):
        ReplayCache.from_path(p)
    q = tmp_path / "broken.parquet"
    q.write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"cannot read .*broken\.parquet as parquet"):
        ReplayCache.from_path(q)
    g = tmp_path / "bad.csv.gz"
    g.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with pytest.raises(ValueError, match=r"missing columns \['date', 'session_time'.*bad\.csv\.gz"):
        ReplayCache.from_path(g)
