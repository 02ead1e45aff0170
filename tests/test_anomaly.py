"""Anomaly detection on real telemetry: River per driver + rules, graded injected faults, quality notes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from f1live.anomaly import ANOMALY_TYPES, QUALITY_NOTES, AnomalyDetector
from f1live.faults import (
    FAULT_TYPES,
    GRADE_NAMES,
    GRADES,
    FaultSpec,
    evaluate_grades,
    inject_faults,
    racing_rows,
    run_detectors,
)

#: The false-alarm budget of issue 17/18 (alarms per driver-hour on a clean real race).
FALSE_ALARMS_PER_DRIVER_HOUR = 5.0

#: Eight drivers of the repository's real slice of the 2023 race (tests/data: lights out + 42 min).
SLICE_FAULT_DRIVERS = ("ALO", "GAS", "HAM", "LEC", "OCO", "RUS", "SAI", "VER")
SLICE_END_S = 6242.9  # the slice's last session time: the same rows with the full data present


@pytest.fixture(scope="module")
def graded(eval_2023) -> dict:
    """Barely visible, medium and gross faults on two held-out drivers (the full grid is in docs)."""
    return evaluate_grades(
        eval_2023.telemetry, spec=FaultSpec(per_type=3), seed=11, drivers=("VER", "HAM"), grades=(0, 2, 4)
    )


@pytest.fixture(scope="module")
def slice_medium(slice_settings) -> dict:
    """Medium faults (2 of each type per driver) in 8 drivers of the real 2023 slice; runs without the full data."""
    from f1live.sources.fastf1_csv import load_fastf1_csv

    tel = load_fastf1_csv(slice_settings, progress=False, drivers=list(SLICE_FAULT_DRIVERS)).telemetry
    tel = tel[tel["session_time"] <= SLICE_END_S].reset_index(drop=True)
    return evaluate_grades(tel, spec=FaultSpec(per_type=2), seed=3, grades=(2,))


def test_medium_faults_in_the_real_slice_river_finds_what_the_rules_miss(slice_medium: dict) -> None:
    ev = slice_medium
    print(json.dumps({k: ev[k] for k in ("recall", "recall_all", "river_only", "clean")}, indent=1, default=str))
    assert ev["faults_per_grade"]["medium"] == 2 * len(SLICE_FAULT_DRIVERS) * len(FAULT_TYPES)
    rec = {v: ev["recall"][v] for v in ("river", "rules", "both")}
    both = ev["recall_all"]["both"]["medium"]["recall"]
    # issue 18's target is recall >= 0.9 at medium; measured 0.96 here (80 faults, 95 % CI 0.93-1.0; the
    # lines were set on the 2022 + 2024 races); the previous detector found 0.64 of the 2023 race's medium faults
    assert both >= 0.85, ev["recall_all"]
    # River finds the glitches the rules' physical limits cannot see ...
    for fault in ("spike", "drift", "noise"):
        assert rec["river"][fault]["medium"] >= rec["rules"][fault]["medium"] + 0.4, fault
    assert ev["river_only"]["medium"] >= 30  # measured 45 of 80
    # ... and the rules own the stream gaps (another car's stream entries this car lacks)
    assert rec["rules"]["dropout"]["medium"] == 1.0
    clean = ev["clean"]
    assert clean["driver_hours"] > 4
    # measured 1.96 per driver-hour (11 alarms in 5.6 driver-hours)
    assert clean["both"]["alarms_per_driver_hour"] <= FALSE_ALARMS_PER_DRIVER_HOUR, clean["both"]


def test_graded_faults_recall_per_magnitude_and_detector(graded: dict) -> None:
    print(json.dumps({k: graded[k] for k in ("recall_all", "river_only", "precision", "clean")}, indent=1, default=str))
    n = graded["faults_per_grade"]
    assert n["medium"] == 3 * 2 * len(FAULT_TYPES)  # 3 per type x 2 drivers x 5 types
    both = {g: graded["recall_all"]["both"][g]["recall"] for g in ("barely visible", "medium", "gross")}
    # recall grows with the magnitude, and a gross fault never goes unnoticed
    assert both["barely visible"] <= both["medium"] <= both["gross"] == 1.0
    for v in ("river", "rules"):
        for g in ("barely visible", "medium", "gross"):
            # the shipped configuration finds at least what each layer finds on its own
            assert graded["recall_all"][v][g]["recall"] <= both[g] + 1e-9
    # River contributes what the rules miss: drift and noise below the rules' physical limits
    assert graded["river_only"]["medium"] > 0
    assert graded["recall"]["river"]["drift"]["medium"] > graded["recall"]["rules"]["drift"]["medium"]
    # the rules own the impossible: gaps in the stream and frozen readings
    assert graded["recall"]["rules"]["dropout"]["gross"] == 1.0
    assert graded["recall"]["rules"]["stuck_sensor"]["gross"] == 1.0
    lo, hi = graded["recall_all"]["both"]["medium"]["ci95"]
    assert lo <= both["medium"] <= hi


def test_clean_race_false_alarms_within_budget(graded: dict) -> None:
    clean = graded["clean"]
    assert clean["driver_hours"] > 3
    for v in ("river", "rules", "both"):
        assert clean[v]["alarms_per_driver_hour"] is not None
    assert clean["both"]["alarms"] <= clean["river"]["alarms"] + clean["rules"]["alarms"]
    assert clean["both"]["alarms_per_driver_hour"] <= FALSE_ALARMS_PER_DRIVER_HOUR, clean["both"]


def test_raw_artefacts_are_quality_notes_not_anomalies(monaco_2023) -> None:
    tel = monaco_2023.telemetry
    gear_bad = (tel["gear"] > 8) | (tel["gear"] < 0)
    drv = tel.loc[gear_bad, "driver"].iloc[0]
    part = tel[tel["driver"] == drv]
    res = run_detectors(part, ("both",))
    racing = part["lap_number"].notna()
    # no lap: garage, grid, formation lap, cool-down -- a note, never an anomaly
    assert (res.loc[~racing, "quality"] == "not_racing").all()
    assert not res.loc[~racing, "both"].any()
    g = gear_bad[part.index] & racing
    assert g.any() and (res.loc[g, "quality"] == "gear_code").all()
    thr = (part["throttle"] == 104) & racing & ~gear_bad[part.index]
    if thr.any():
        assert (res.loc[thr, "quality"] == "throttle_sentinel").all()
    # an artefact alone raises no anomaly: the flagged rows are explained by rules/River
    assert set(res["quality"].dropna()) <= set(QUALITY_NOTES)
    assert set(res["both_type"].dropna()) <= set(ANOMALY_TYPES)


def test_results_carry_source_and_reason(monaco_2023_slice) -> None:
    from f1live.features import OnlineFeatures, table_messages

    tel = monaco_2023_slice.telemetry
    bad, faults = inject_faults(racing_rows(tel), "spike", 4, FaultSpec(per_type=1), seed=2)
    msgs = table_messages(bad.sort_values("session_time", kind="stable"))
    fx, det = OnlineFeatures(), AnomalyDetector()
    out = [det.update(m, fx.update(m)) for m in msgs]
    flagged = [r for r in out if r["anomaly"]]
    assert flagged and len(faults) == 3
    for r in flagged:
        assert r["anomaly_source"] in {"river", "rule", "river+rule"}
        assert r["anomaly_type"] in ANOMALY_TYPES and len(r["anomaly_reason"]) > 10
        assert ("River:" in r["anomaly_reason"]) == ("river" in r["anomaly_source"])
        assert 0.0 <= r["anomaly_score"] <= 1.0
    assert all(r["anomaly_source"] is None for r in out if not r["anomaly"])
    # deterministic: same data, same results
    fx2, det2 = OnlineFeatures(), AnomalyDetector()
    assert [det2.update(m, fx2.update(m)) for m in msgs] == out
    # reset forgets every driver's state
    det.reset()
    assert not det.rules._state and not det.river._models  # type: ignore[union-attr]


def test_fault_injection_is_seeded_and_on_racing_laps(eval_2023) -> None:
    race = racing_rows(eval_2023.telemetry)
    for fault in FAULT_TYPES:
        a, fa = inject_faults(race, fault, 2, FaultSpec(per_type=2), seed=5)
        b, fb = inject_faults(race, fault, 2, FaultSpec(per_type=2), seed=5)
        assert fa.equals(fb) and a.equals(b)
        assert (fa["grade"] == GRADE_NAMES[2]).all() and (fa["magnitude"] == GRADES[fault][2]).all()
        lost = len(race) - len(a)
        assert lost == (len(fa) * GRADES["dropout"][2] if fault == "dropout" else 0)
        lap_of = race.set_index(["driver", "session_time"])["lap_number"]
        for f in fa.itertuples():
            assert pd.notna(lap_of.loc[(f.driver, f.start_time)])
        if fault != "dropout":
            orig = race.sort_values("session_time", kind="stable")
            for ch in set(fa["channel"]):
                changed = ~np.isclose(a[ch].to_numpy(float), orig[ch].to_numpy(float))
                assert changed.any(), (fault, ch)


# --------------------------------------------------------------------------- River and the dropout rule, unit level
def _lap(n: int, t0: float = 0.0, drivers: tuple[str, ...] = ("VER",), dt: float = 0.25) -> list[dict]:
    """A smooth real-looking trace: accelerating in 5th gear (rpm proportional to speed), all cars on one clock."""
    out = []
    for i in range(n):
        for k, d in enumerate(drivers):
            speed = 150.0 + 0.5 * i + 3 * k
            out.append(
                {
                    "driver": d,
                    "session_time": t0 + dt * i,
                    "speed": speed,
                    "rpm": 60.0 * speed,
                    "gear": 5,
                    "throttle": 100.0,
                    "brake": False,
                    "drs": 0,
                    "lap_number": 5,
                }
            )
    return out


def _run(msgs: list[dict], **kw) -> list[dict]:
    from f1live.features import OnlineFeatures

    fx, det = OnlineFeatures(), AnomalyDetector(**kw)
    return [det.update(m, fx.update(m)) for m in msgs]


def test_river_finds_a_one_sample_glitch_on_either_channel_two_samples_late() -> None:
    for ch in ("speed", "rpm"):
        msgs = _lap(120)
        msgs[80] = dict(msgs[80], **{ch: msgs[80][ch] * 0.8})  # -20 % on one sample of one channel
        out = _run(msgs, rules=False)
        flagged = [i for i, r in enumerate(out) if r["anomaly"]]
        assert flagged == [82], (ch, flagged)  # judged when the second sample after it arrives
        r = out[82]
        assert r["anomaly_source"] == "river" and r["anomaly_type"] == "spike"
        assert r["anomaly_reason"].startswith(f"River: {ch} at t=20.00 s sticks out")
    assert not any(r["anomaly"] for r in _run(_lap(120), rules=False))


def test_river_alarm_is_an_episode_not_every_sample() -> None:
    from f1live.anomaly import RiverLimits

    msgs = _lap(400)
    for i in range(150, 400):  # rpm drifts to +25 % over 40 samples and stays there
        msgs[i] = dict(msgs[i], rpm=msgs[i]["rpm"] * (1 + 0.25 * min(1.0, (i - 150) / 40)))
    out = _run(msgs, rules=False)
    flagged = [i for i, r in enumerate(out) if r["anomaly"]]
    assert flagged and all(out[i]["anomaly_type"] == "drift" for i in flagged)
    assert 150 < flagged[0] < 190
    # one alarm when it starts, repeated every `repeat` samples while it lasts -- not 200 alarms
    repeat = RiverLimits().repeat
    assert len(flagged) <= (400 - flagged[0]) // repeat + 1
    assert all(b - a >= repeat for a, b in zip(flagged, flagged[1:], strict=False))


def test_river_stuck_channel_while_the_ratio_moves() -> None:
    msgs = _lap(200)
    for i in range(110, 200):  # out of a corner: +3 km/h per sample in one gear
        speed = msgs[110]["speed"] + 3 * (i - 110)
        msgs[i] = dict(msgs[i], speed=speed, rpm=60.0 * speed)
    for i in range(120, 128):  # speed frozen for 8 samples while the car accelerates (rpm goes on)
        msgs[i] = dict(msgs[i], speed=msgs[119]["speed"])
    out = _run(msgs, rules=False)
    flagged = [i for i, r in enumerate(out) if r["anomaly"]]
    assert flagged and 120 < flagged[0] <= 129
    assert out[flagged[0]]["anomaly_type"] in {"stuck_sensor", "spike"}
    assert any(out[i]["anomaly_type"] == "stuck_sensor" for i in flagged)


def test_offline_episode_replay_matches_the_streaming_alarms(monaco_2023_slice) -> None:
    """The line search's offline replay (per residual, OR over residuals) gives the streaming model's alarms."""
    from f1live.anomaly import RIVER_RESIDUALS, RiverLimits, episode_alarms
    from f1live.faults import river_residuals

    race = racing_rows(monaco_2023_slice.telemetry)
    race = race.groupby("driver", observed=True).head(300)  # a few hundred real samples per driver
    limits = RiverLimits().scaled(0.4)  # low lines: real samples raise a fair number of alarms
    res = river_residuals(race, limits)
    cols = [f"{k}_{c}" for k, c in RIVER_RESIDUALS]
    replay = np.zeros(len(res), dtype=bool)
    for _, idx in res.groupby("driver").indices.items():
        for c in cols:
            replay[idx] |= episode_alarms(res[c].to_numpy()[idx], limits)
    streamed = res["alarm"].to_numpy()
    assert streamed.sum() >= 5, streamed.sum()
    assert (replay == streamed).all(), (np.flatnonzero(replay != streamed), streamed.sum())
    # the spike residuals do not depend on the lines: raw residuals (unit lines) over the banded line
    raw = river_residuals(race)
    assert (raw["row"].to_numpy() == res["row"].to_numpy()).all()
    line = np.where(raw["high"], limits.spike_speed, limits.spike_speed_low)
    assert np.allclose(raw["spike_speed"] / line, res["spike_speed"])


def test_dropout_rule_counts_the_stream_times_other_cars_have() -> None:
    msgs = _lap(200, drivers=("VER", "HAM", "LEC"))
    gap = {(d, t) for d, t in (("HAM", 0.25 * i) for i in range(100, 103))}  # 3 samples (0.75 s) missing
    msgs = [m for m in msgs if (m["driver"], m["session_time"]) not in gap]
    out = _run(msgs, river=False)
    flagged = [(m["driver"], m["session_time"], r) for m, r in zip(msgs, out, strict=True) if r["anomaly"]]
    assert [(d, t) for d, t, _ in flagged] == [("HAM", 25.75)]
    r = flagged[0][2]
    assert r["anomaly_type"] == "dropout" and r["anomaly_source"] == "rule"
    assert "3 samples missing" in r["anomaly_reason"]
    # cars on their own clocks (not one stream entry per time): the rule stays silent
    own = [dict(m, session_time=m["session_time"] + 0.01 * ("VER", "HAM", "LEC").index(m["driver"])) for m in msgs]
    assert not any(r["anomaly"] for r in _run(own, river=False))
