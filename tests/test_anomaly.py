"""Anomaly detection on real telemetry: injected faults found, real glitches flagged, few false alarms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from f1live.anomaly import ANOMALY_TYPES, AnomalyDetector
from f1live.faults import (
    FAULT_TYPES,
    FaultSpec,
    evaluate_detector,
    inject_faults,
    real_glitch_mask,
    run_detector,
)

# Floors below the targets (recall 0.9 / precision 0.8) by one missed fault or a few
# stray flags on this small (4-driver) sample; the measured numbers are printed and
# the full-race evaluation is in docs/analytics.md.
RECALL_FLOOR = 0.85
PRECISION_FLOOR = 0.75
FALSE_ALARM_CEILING = 1e-3  # flags per clean row (excluding raw sensor glitches)


def test_injected_faults_detected_on_held_out_race(eval_2023) -> None:
    res = evaluate_detector(eval_2023.telemetry, FaultSpec(per_type=4), seed=11, drivers=("VER", "HAM", "ALO"))
    print(json.dumps({k: res[k] for k in ("overall", "per_type", "clean")}, indent=1))
    o = res["overall"]
    assert o["faults"] == 4 * len(FAULT_TYPES) * 3  # 4 per type x 5 types x 3 drivers
    assert o["recall"] >= RECALL_FLOOR
    assert o["precision"] >= PRECISION_FLOOR
    for kind, r in res["per_type"].items():
        assert r["n"] == 12, kind
        assert r["recall"] >= 0.75, (kind, r)
        # detection within a few samples: stuck needs `stuck_samples` repeats, the others are immediate
        assert r["delay_samples_median"] <= (6 if kind == "stuck_sensor" else 1), (kind, r)
    assert res["clean"]["false_alarm_rate"] <= FALSE_ALARM_CEILING


def test_real_sensor_glitches_are_flagged_with_reasons(monaco_2023) -> None:
    tel = monaco_2023.telemetry
    # a window of one driver's race with the raw Throttle=104 sentinel and an nGear glitch
    glitch = real_glitch_mask(tel)
    drv = tel.loc[glitch & (tel["gear"] > 8), "driver"].iloc[0]
    part = tel[tel["driver"] == drv]
    res = run_detector(part, AnomalyDetector(river=False))
    g = real_glitch_mask(part)
    assert res.loc[g, "anomaly"].all()
    gear_rows = part["gear"] > 8
    assert (res.loc[gear_rows, "anomaly_type"] == "gear_glitch").all()
    thr_rows = (part["throttle"] > 100) & ~gear_rows
    assert res.loc[thr_rows, "anomaly_reason"].str.contains("throttle=104").all()
    assert set(res["anomaly_type"].dropna()) <= set(ANOMALY_TYPES)
    assert res.loc[res["anomaly"], "anomaly_reason"].str.len().gt(10).all()


def test_every_message_gets_a_score(monaco_2023_slice) -> None:
    res = run_detector(monaco_2023_slice.telemetry, AnomalyDetector(seed=3))
    assert len(res) == len(monaco_2023_slice.telemetry)
    s = res["anomaly_score"].to_numpy(float)
    assert np.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert res["anomaly"].dtype == bool
    # same seed, same data -> same scores (reproducible)
    again = run_detector(monaco_2023_slice.telemetry, AnomalyDetector(seed=3))
    np.testing.assert_array_equal(s, again["anomaly_score"].to_numpy(float))


def test_fault_injection_is_seeded_and_placed_on_racing_laps(eval_2023) -> None:
    a, fa = inject_faults(eval_2023.telemetry, FaultSpec(per_type=2), seed=5)
    b, fb = inject_faults(eval_2023.telemetry, FaultSpec(per_type=2), seed=5)
    assert fa.equals(fb) and a.equals(b)
    assert len(a) == len(eval_2023.telemetry) - (fa["type"] == "dropout").sum() * FaultSpec().dropout_samples
    lap_of = eval_2023.telemetry.set_index(["driver", "session_time"])["lap_number"]
    for f in fa[fa["type"] != "dropout"].itertuples():
        assert pd.notna(lap_of.loc[(f.driver, f.start_time)])
