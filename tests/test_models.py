"""Models chosen by leave-one-race-out on two real races and evaluated on a third (rows and real
events, next to baselines); manifest-verified loading; consumer inference."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from f1live.labels import TARGETS
from f1live.models import (
    MANIFEST,
    PIT_FALSE_ALERTS_PER_HOUR,
    ModelIntegrityError,
    ModelsMissingError,
    load_models,
    model_filename,
    sha256_file,
)
from tests.fixtures_analytics import EVAL_DRIVERS


def test_leave_one_race_out_choice_and_held_out_evaluation(trained: Any) -> None:
    rep = trained
    assert rep.train_sessions == ["2022 Monaco R", "2024 Monaco R"] and rep.eval_session == "2023 Monaco R"
    assert rep.cv_scheme == "leave-one-race-out"
    out = Path(rep.out_dir)
    man = json.loads((out / MANIFEST).read_text())
    for name in TARGETS:
        assert (out / model_filename(name)).is_file()
        cv = rep.cv[name]
        # one fold per training race: no fold is scored by a model that saw its race
        assert cv["folds"] == rep.train_sessions
        # the shipped candidate is the best out-of-fold one (pit: most stops announced within the
        # false-alert budget, the others: PR-AUC), never chosen on the held-out race
        scored = {c: r for c, r in cv["candidates"].items() if "oof" in r}
        assert scored and cv["chosen"] in scored
        if name == "pit_stop_probability":

            def key(r: dict) -> tuple:
                fa = r["events"]["false_alerts_per_driver_hour"]
                ok = fa is not None and fa <= PIT_FALSE_ALERTS_PER_HOUR
                return (r["events"]["announced"] if ok else -0.5, r["oof"]["pr_auc"])
        else:

            def key(r: dict) -> tuple:
                return (r["oof"]["pr_auc"], 0.0)

        assert key(scored[cv["chosen"]]) == max(key(r) for r in scored.values())
        assert 0 < rep.thresholds[name] <= 1
        h = rep.holdout[name]
        for est in ("model", "majority"):
            m = h[est]
            assert {"accuracy", "f1", "roc_auc", "pr_auc", "brier", "confusion_matrix", "base_rate"} <= set(m)
            assert np.asarray(m["confusion_matrix"]).sum() == m["n"] > 1000
        assert h["majority"]["f1"] == 0.0
        e = man["models"][name]
        assert e["sha256"] == sha256_file(out / e["file"])
        assert e["candidate"] == cv["chosen"] and e["features"] and set(e["features"]) <= set(man["features"])
        assert e["evidence"] == rep.evidence[name] and len(e["evidence"]) > 40
    assert man["training_sessions"] == ["2022 Monaco R", "2024 Monaco R"] and man["eval_session"] == "2023 Monaco R"
    assert man["cv_scheme"] == "leave-one-race-out" and man["models"]["tire_failure"]["proxy"] is True
    assert set(man["feature_params"]["stint_laps"]) >= {"HARD", "MEDIUM"}
    assert man["versions"]["scikit-learn"] and man["versions"]["river"]
    print(rep.table().to_string())


def test_event_level_pit_evaluation_with_baselines(trained: Any, eval_2023: Any) -> None:
    from f1live.labels import strategic_stops

    ev = trained.events["pit_stop_probability"]
    stops = strategic_stops(eval_2023.laps, eval_2023.track_status)
    stops = stops[stops["driver"].isin(list(EVAL_DRIVERS))]
    for key in ("model", "baseline_tyre_age", "baseline_trigger"):
        m = ev[key]
        assert m["events"] == len(stops) >= 5  # every strategic stop of these drivers has rows before it
        assert 0 <= m["announced"] <= m["events"]
        lo, hi = m["announced_fraction_ci"]
        assert lo <= m["announced_fraction"] <= hi
        assert m["driver_hours"] > 4 and m["false_alerts_per_driver_hour"] >= 0
        assert all(0 <= x <= m["rules"]["window_s"] for x in m["lead_s"])
    curve = pd.DataFrame(ev["curves"]["model"])
    # a lower threshold never announces fewer stops (its alert rows are a superset); the false
    # alerts are not strictly monotone (lower thresholds can merge two episodes into one)
    c = curve.sort_values("threshold")
    assert (np.diff(c["announced"].to_numpy()) <= 0).all()
    assert c["false_alerts_per_driver_hour"].iloc[0] >= c["false_alerts_per_driver_hour"].iloc[-1]
    # the evidence sentence states the measured numbers and whether the target is met
    text = trained.evidence["pit_stop_probability"]
    m = ev["model"]
    met = m["announced_fraction"] >= 0.5 and m["false_alerts_per_driver_hour"] <= PIT_FALSE_ALERTS_PER_HOUR
    assert f"announced {m['announced']} of {m['events']}" in text
    assert ("target (half of the stops at <= 2/h) met" in text) == met
    print(
        json.dumps(
            {
                k: {x: ev[k][x] for x in ("announced", "events", "false_alerts_per_driver_hour", "lead_s_median")}
                for k in ("model", "baseline_tyre_age", "baseline_trigger")
            },
            indent=1,
        )
    )


def test_pit_probability_rises_before_real_pit_entries(trained: Any, eval_2023: Any) -> None:
    """The held-out score in the last minute before a real strategic stop is above the same
    driver's score 200-400 s earlier (median over stops)."""
    from f1live.labels import strategic_stops

    pred = trained.predictions
    stops = strategic_stops(eval_2023.laps, eval_2023.track_status)
    stops = stops[stops["driver"].isin(pred["driver"].unique())]
    near, far = [], []
    for p in stops.itertuples():
        d = pred[pred["driver"] == p.driver]
        near.append(d[(d.session_time > p.pit_in - 60) & (d.session_time < p.pit_in)]["pit_stop_probability"].mean())
        far.append(
            d[(d.session_time > p.pit_in - 400) & (d.session_time < p.pit_in - 200)]["pit_stop_probability"].mean()
        )
    near_a, far_a = np.array(near), np.array(far)
    ok = np.isfinite(near_a) & np.isfinite(far_a)
    assert ok.sum() >= 6
    print(
        f"median pit score: {np.median(far_a[ok]):.4f} at 200-400 s before, {np.median(near_a[ok]):.4f} in the last 60 s"
    )
    assert np.median(near_a[ok]) > np.median(far_a[ok])


def test_crash_and_tyre_evaluated_against_chance_and_persistence(trained: Any) -> None:
    crash = trained.events["crash_risk"]
    c = crash["model"]
    assert c["events"] == c["flags"] + c["retirements"] >= 5
    assert 0 <= c["chance_fraction"] <= 1
    assert c["distinguishable_from_chance"] == (c["announced_fraction_ci"][0] > c["chance_fraction"])
    assert set(crash["events_per_race"]) == {"2022 Monaco R", "2024 Monaco R", "2023 Monaco R"}
    assert ("too few events to tell it from chance" in trained.evidence["crash_risk"]) != c[
        "distinguishable_from_chance"
    ]
    tyre = trained.events["tire_failure"]
    beats = tyre["model"]["pr_auc"] > tyre["persistence"]["pr_auc"]
    assert ("does NOT beat persistence" in trained.evidence["tire_failure"]) == (not beats)


@pytest.fixture
def model_copy(trained: Any, tmp_path: Path) -> Path:
    d = tmp_path / "models"
    shutil.copytree(trained.out_dir, d)
    return d


def test_loading_verifies_before_unpickling(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = load_models(model_copy)
    assert set(bundle.models) == set(TARGETS)
    X = np.zeros((3, len(bundle.features)))
    full = bundle.predict_proba(X)
    assert set(full) == set(TARGETS) and all(p.shape == (3,) for p in full.values())
    some = bundle.predict_proba(X, ["crash_risk"])
    assert list(some) == ["crash_risk"] and np.array_equal(some["crash_risk"], full["crash_risk"])
    assert bundle.predict_proba(X, []) == {}

    # the last model in the manifest is tampered: no file at all may be unpickled
    target = model_copy / model_filename(TARGETS[-1])
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    import joblib

    def no_unpickle(*a: Any, **k: Any) -> Any:
        raise AssertionError("joblib.load called before every file was verified")

    monkeypatch.setattr(joblib, "load", no_unpickle)
    with pytest.raises(ModelIntegrityError, match=rf"{TARGETS[-1]}_model\.pkl: sha256 .* does not match"):
        load_models(model_copy)


def test_version_and_feature_mismatch_named(model_copy: Path) -> None:
    man = json.loads((model_copy / MANIFEST).read_text())
    man["versions"]["scikit-learn"] = "0.0.1"
    (model_copy / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(ModelIntegrityError, match=r"scikit-learn 0\.0\.1.*nothing was unpickled"):
        load_models(model_copy)
    man["versions"]["scikit-learn"] = load_models.__globals__["sklearn"].__version__
    full = list(man["features"])
    man["features"] = full[:-1]
    (model_copy / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(ModelIntegrityError, match=f"feature list differs.*{full[-1]}"):
        load_models(model_copy)
    man["features"] = full
    man["models"]["crash_risk"]["features"] = ["speed", "warp_factor"]
    (model_copy / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(ModelIntegrityError, match=r"crash_risk_model\.pkl: features \['warp_factor'\]"):
        load_models(model_copy)


def test_missing_models_tell_user_to_train(tmp_path: Path) -> None:
    from f1live.analysis import AnalyticsProcessor
    from f1live.config import Settings

    with pytest.raises(ModelsMissingError, match="run `f1live train`"):
        AnalyticsProcessor(Settings(models_dir=tmp_path / "none")).process_batch([{"driver": "VER"}])


def test_processor_on_real_slice(trained: Any, monaco_2023_slice: Any) -> None:
    from f1live.analysis import AnalyticsProcessor, analyse_table, summarise
    from f1live.config import Settings
    from f1live.processors import Processor

    proc = AnalyticsProcessor(Settings(), models_dir=trained.out_dir)
    assert isinstance(proc, Processor)
    tel = monaco_2023_slice.telemetry
    res = analyse_table(tel, proc, batch_size=250)
    for name in TARGETS:
        v = res[name].to_numpy(float)
        assert np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()
        assert res[name + "_alert"].dtype == bool
    assert {
        "anomaly",
        "anomaly_score",
        "anomaly_type",
        "anomaly_reason",
        "anomaly_source",
        "quality",
        "quality_reason",
    } <= set(res.columns)
    flagged = res["anomaly"].astype(bool)
    assert res.loc[flagged, "anomaly_source"].isin(["river", "rule", "river+rule"]).all()
    assert res.loc[~flagged, "anomaly_source"].isna().all()
    summary = summarise(res.assign(driver=tel["driver"].astype(str)))
    assert list(summary.index) == ["HAM", "LEC", "VER"]
    meta = proc.metadata()
    assert "PROXY" in meta["models"]["tire_failure"]["label_definition"]
    assert meta["training_sessions"] == ["2022 Monaco R", "2024 Monaco R"]
    assert all(meta["models"][n]["evidence"] for n in TARGETS)
    # the serving features use the stint lengths the models were trained with
    assert proc.features.stint_laps == trained.feature_params["stint_laps"]
    # a seek: reset forgets per-driver and race state, keeps the models
    proc.reset()
    assert proc.features.drivers == [] and not proc.features.race.laps and proc._bundle is not None


def test_consumer_with_analytics_through_real_broker(
    trained: Any, kafka_broker: Any, stream_topic: Any, slice_cache: Any
) -> None:
    from f1live.analysis import AnalyticsProcessor
    from f1live.consumer import RealTimeConsumer
    from f1live.producer import RealTimeProducer
    from f1live.state import LiveState
    from tests.test_consumer import _read_all

    s = stream_topic(kafka_broker)
    with RealTimeProducer(s).load_cache(slice_cache) as prod:
        ps = prod.stream_at_frequency(speed="max", max_messages=600)
    proc = AnalyticsProcessor(s, models_dir=trained.out_dir)
    state = LiveState(history=50)
    cons = RealTimeConsumer(s, processors=[proc], state=state, publish_analysis=True)
    t0 = time.monotonic()
    res = cons.consume_messages(timeout_seconds=60, max_messages=ps.sent, idle_timeout=5)
    assert res.processed == ps.sent == 600 and res.processor_errors == 0, res
    published = _read_all(kafka_broker, s.analysis_topic, 600)
    assert len(published) == 600
    recs = [json.loads(p.value) for p in published]
    for r in recs:
        assert {"driver", "anomaly", "anomaly_score", *TARGETS} <= set(r)
        assert all(0.0 <= r[n] <= 1.0 for n in TARGETS)
    assert {r["driver"] for r in recs} == {"HAM", "LEC", "VER"}
    snap = state.snapshot()
    assert snap["counters"]["processed"] == 600
    print(f"consumer with analytics: 600 messages in {time.monotonic() - t0:.1f} s")


def test_cli_train_json(analytics_settings: Any, tmp_path: Path) -> None:
    out = tmp_path / "cli_models"
    env = dict(
        os.environ,
        F1LIVE_SOURCE="fastf1-csv",
        F1LIVE_SHARED_DATA=str(analytics_settings.shared_data),
        F1LIVE_OFFLINE="1",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "f1live",
            "train",
            "--train-sessions",
            "2024",
            "--eval-session",
            "2023",
            "--drivers",
            "VER,HAM",
            "--cv-folds",
            "2",
            "--max-iter",
            "20",
            "--stride",
            "8",
            "--threads",
            "1",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rep = json.loads(proc.stdout)
    assert rep["train_sessions"] == ["2024 Monaco R"] and rep["eval_session"] == "2023 Monaco R"
    assert rep["cv_scheme"] == "time blocks of one race"
    assert set(rep["holdout"]) == set(TARGETS)
    assert (out / MANIFEST).is_file()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "f1live",
            "train",
            "--train-sessions",
            "2023",
            "--eval-session",
            "2023",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert bad.returncode == 1 and "held-out race must differ" in bad.stderr
