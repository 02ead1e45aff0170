"""Online features: one code path (offline table == online stream), no look-ahead, lap context."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from f1live.features import FEATURE_NAMES, INPUT_FIELDS, OnlineFeatures, build_feature_table
from f1live.schema import decode_message, encode_message


def _wire(df: pd.DataFrame) -> list[dict]:
    """Rows as they arrive at the consumer: JSON-encoded by the schema codec, then decoded."""
    out = []
    for i, row in enumerate(df.to_dict("records")):
        raw = encode_message(row, envelope={"seq": i, "gseq": i, "event_time_ns": 0, "produced_at_ns": 0})
        out.append(decode_message(raw))
    return out


def test_offline_table_equals_online_stream(monaco_2023_slice) -> None:
    tel = monaco_2023_slice.telemetry  # VER, HAM, LEC, laps 22-23, interleaved by time
    offline = build_feature_table(tel)
    fx = OnlineFeatures()
    ordered = tel.sort_values("session_time", kind="stable")
    online = pd.DataFrame([fx.update(m) for m in _wire(ordered)], index=ordered.index, columns=list(FEATURE_NAMES)).loc[
        tel.index
    ]
    assert offline.shape == (len(tel), len(FEATURE_NAMES))
    # bit-for-bit: same code, same inputs after the JSON round trip
    np.testing.assert_array_equal(offline.to_numpy(), online.to_numpy())
    # and the features are not trivially empty
    assert offline["speed_std"].gt(0).mean() > 0.9
    assert offline["last_lap_time"].notna().any()


def test_features_never_look_ahead(monaco_2023_slice) -> None:
    tel = monaco_2023_slice.telemetry
    full = build_feature_table(tel)
    cut = tel["session_time"].quantile(0.5)
    head = tel[tel["session_time"] <= cut]
    part = build_feature_table(head)
    # every feature at time t (the cross-driver ones included) depends only on rows up to t
    np.testing.assert_array_equal(full.loc[head.index].to_numpy(), part.to_numpy())
    # fields the extractor does not read change nothing (only INPUT_FIELDS are inputs)
    poisoned = head.copy()
    for col in ("x", "y", "lap_distance", "lap_fraction", "team", "date"):
        if col in poisoned:
            poisoned[col] = poisoned[col].iloc[::-1].to_numpy()
    np.testing.assert_array_equal(build_feature_table(poisoned).to_numpy(), part.to_numpy())
    assert "pit_in_lap" not in INPUT_FIELDS


def test_gaps_come_from_the_stream_line_crossings(monaco_2023_slice) -> None:
    tel, laps = monaco_2023_slice.telemetry, monaco_2023_slice.laps
    feats = build_feature_table(tel)
    start = laps[laps["LapNumber"] == 23].set_index("Driver")["LapStartTime"].sort_values()
    order = list(start.index)
    for i, drv in enumerate(order):
        rows = (tel["driver"] == drv) & (tel["lap_number"] == 23)
        ahead = feats.loc[rows, "gap_ahead"].iloc[-1]
        if i == 0:
            assert np.isnan(ahead), (drv, ahead)  # first of these three across the line
        else:
            real = start[drv] - start[order[i - 1]]
            # the stream sees a crossing at the first sample of the new lap (~0.25 s spacing)
            assert abs(ahead - real) < 0.6, (drv, ahead, real)
        if i < len(order) - 1:
            behind = feats.loc[rows, "gap_behind"].iloc[-1]
            assert abs(behind - (start[order[i + 1]] - start[drv])) < 0.6, (drv, behind)


def test_other_cars_pit_entries_are_counted_when_they_happen(eval_2023) -> None:
    from f1live.labels import pit_entries

    tel = eval_2023.telemetry
    feats = build_feature_table(tel)
    t = tel["session_time"].to_numpy(float)
    drv = tel["driver"].astype(str).to_numpy()
    entries = pit_entries(eval_2023.laps, eval_2023.track_status)
    entries = entries[entries["driver"].isin(set(drv))]  # the stream has these drivers only
    checked = 0
    for e in entries.itertuples():
        for other in set(drv) - {e.driver}:
            for dt in (5.0, 60.0, 119.0):
                i = np.flatnonzero((drv == other) & (t >= e.pit_in + dt))[:1]
                if not len(i):
                    continue
                now = t[i[0]]
                want = int(
                    (
                        (entries["driver"] != other)
                        & (entries["pit_in"] > now - 120.0)
                        & (entries["pit_in"] <= now - 0.5)
                    ).sum()
                )
                got = feats["others_pitted_120"].iloc[i[0]]
                assert want <= got <= want + 1, (e, other, dt, got, want)  # +1: an entry within 0.5 s
                checked += 1
        before = np.flatnonzero((drv != e.driver) & (t > e.pit_in - 1.0) & (t < e.pit_in - 0.5))
        assert (feats["others_pitted_120"].iloc[before] <= len(entries)).all()
    assert checked >= 30


def test_stint_lengths_and_reset(eval_2023) -> None:
    tel = eval_2023.telemetry.head(20000)
    fx = OnlineFeatures(stint_laps={"MEDIUM": 30.0, "HARD": 40.0, "SOFT": 20.0})
    feats = build_feature_table(tel, extractor=fx)
    comp = tel["compound"].astype(str).to_numpy()
    life = tel["tyre_life"].to_numpy(float)
    med = (comp == "MEDIUM") & np.isfinite(life)
    assert med.any()
    np.testing.assert_allclose(feats.loc[med, "tyre_age_ratio"], life[med] / 30.0)
    assert fx.params()["stint_laps"]["HARD"] == 40.0
    assert fx.race.laps  # crossings recorded
    fx.reset()
    assert not fx.race.laps and fx.drivers == [] and fx.stint_laps["HARD"] == 40.0


def test_lap_time_feature_matches_real_lap_times(monaco_2023_slice) -> None:
    tel, laps = monaco_2023_slice.telemetry, monaco_2023_slice.laps
    feats = build_feature_table(tel)
    for drv in ("VER", "HAM", "LEC"):
        rows = (tel["driver"] == drv) & (tel["lap_number"] == 23)
        measured = feats.loc[rows, "last_lap_time"].dropna().unique()
        assert len(measured) == 1, measured
        real = laps[(laps["Driver"] == drv) & (laps["LapNumber"] == 22)]["LapTime"].iloc[0]
        # the stream sees the lap change at the first sample of the next lap (~0.25 s spacing)
        assert abs(measured[0] - real) < 0.6, (drv, measured[0], real)


def test_rolling_statistics_are_windowed(monaco_2023_slice) -> None:
    tel = monaco_2023_slice.telemetry
    ver = tel[tel["driver"] == "VER"].sort_values("session_time")
    feats = build_feature_table(ver)
    i = 100
    window = ver["speed"].iloc[i - 19 : i + 1].astype(float)
    assert feats["speed_mean"].iloc[i] == pytest.approx(window.mean(), rel=1e-9)
    assert feats["speed_std"].iloc[i] == pytest.approx(window.std(ddof=1), rel=1e-6)
    assert feats["d_speed"].iloc[i] == ver["speed"].iloc[i] - ver["speed"].iloc[i - 1]


def test_missing_columns_named() -> None:
    with pytest.raises(ValueError, match=r"missing columns \['rpm'"):
        build_feature_table(pd.DataFrame({"driver": ["A"], "session_time": [0.0], "speed": [1.0]}))
    with pytest.raises(ValueError, match="driver"):
        OnlineFeatures().update({"speed": 1.0})
