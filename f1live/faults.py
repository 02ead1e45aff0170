"""Fault injection into real telemetry, and the anomaly detector's evaluation on it.

:func:`inject_faults` corrupts a copy of a real telemetry table at known, seeded
places (speed/rpm spikes, a stuck sensor, sample dropouts, position jumps, gear
glitches) and returns the ground truth. :func:`evaluate_detector` replays the
corrupted table through :class:`f1live.features.OnlineFeatures` +
:class:`f1live.anomaly.AnomalyDetector` exactly as the consumer does and reports,
per fault type, recall and detection delay, plus precision/F1 over all flags and
the false-alarm rate on the *clean* table.

Scoring: a fault is detected when any row of its window (the corrupted rows, plus
``tolerance`` following rows, because a spike is also visible when the value comes
back) is flagged. A flag outside every window is a false positive, except on rows
whose raw value is outside its documented range (``gear`` > 8, ``throttle`` > 100:
real sensor glitches in the FastF1 data, flagged on purpose); those are counted
separately as ``real_glitch_flags``.

>>> FAULT_TYPES
('spike', 'stuck_sensor', 'dropout', 'position_jump', 'gear_glitch')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from f1live.anomaly import AnomalyDetector
from f1live.features import OnlineFeatures

logger = logging.getLogger(__name__)

FAULT_TYPES: tuple[str, ...] = ("spike", "stuck_sensor", "dropout", "position_jump", "gear_glitch")

#: Raw nGear glitch values seen in the real data, reused for injected gear glitches.
_GEAR_GLITCHES = (72, 73, 63, 128, 9, 15)


@dataclass(frozen=True)
class FaultSpec:
    """Shape of each injected fault.

    Attributes:
        per_type: faults of each type per driver.
        spike_kmh: range of the speed jump of a speed spike (km/h).
        spike_rpm: range of the rpm jump of an rpm spike.
        stuck_samples: how many samples a stuck sensor repeats its value.
        dropout_samples: consecutive samples removed by a dropout.
        jump_m: range of the displacement of a position jump (m).
        spacing: minimum samples between two faults of one driver.
    """

    per_type: int = 5
    spike_kmh: tuple[float, float] = (100.0, 160.0)
    spike_rpm: tuple[float, float] = (5000.0, 7000.0)
    stuck_samples: int = 12
    dropout_samples: int = 8
    jump_m: tuple[float, float] = (200.0, 400.0)
    spacing: int = 80


def inject_faults(
    telemetry: pd.DataFrame, spec: FaultSpec = FaultSpec(), seed: int = 7,
    drivers: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A corrupted copy of ``telemetry`` and the table of injected faults.

    Faults go on racing laps only (``lap_number`` set, not in the pit lane, car above
    80 km/h so that "stuck" and "jump" are physically meaningful). The fault table has
    ``fault_id``, ``type``, ``driver``, ``channel``, ``start_time``, ``end_time``
    (session seconds of the first/last corrupted sample; for a dropout, the sample
    that arrives after the gap) and ``detail``. Removed (dropout) rows are absent
    from the returned table, whose index is reset.

    >>> df = pd.DataFrame({"driver": ["A"] * 400, "session_time": np.arange(400) * 0.25,
    ...     "speed": 150.0, "rpm": 10000.0, "gear": 5, "throttle": 80.0, "brake": False, "drs": 0,
    ...     "lap_number": 3, "in_pit": False, "x": np.arange(400) * 10.0, "y": 0.0})
    >>> bad, faults = inject_faults(df, FaultSpec(per_type=1, spacing=40), seed=1)
    >>> sorted(faults["type"]) == sorted(FAULT_TYPES), len(bad) == 400 - 8
    (True, True)
    """
    rng = np.random.default_rng(seed)
    df = telemetry.sort_values("session_time", kind="stable").copy()
    want = set(drivers) if drivers is not None else None
    drop: list[Any] = []
    faults: list[dict[str, Any]] = []
    for drv, g in df.groupby("driver", sort=True, observed=True):
        if want is not None and drv not in want:
            continue
        idx = g.index.to_numpy()
        ok = (g["lap_number"].notna() & (g["speed"] >= 80)).to_numpy()
        if "in_pit" in g:
            ok &= ~g["in_pit"].astype(bool).to_numpy()
        has_xy = ("x" in g and "y" in g)
        if has_xy:
            xy_ok = (g["x"].notna() & g["y"].notna()).to_numpy()
        speed = g["speed"].to_numpy(float)
        plan = [t for t in FAULT_TYPES for _ in range(spec.per_type)]
        rng.shuffle(plan)
        taken = np.zeros(len(g), dtype=bool)
        span = max(spec.stuck_samples, spec.dropout_samples) + 4
        for kind in plan:
            cand = np.flatnonzero(ok[: len(g) - span])
            if kind == "stuck_sensor":  # a frozen reading is only detectable while the car moves
                cand = cand[speed[cand] >= 100]
            if kind == "position_jump" and has_xy:
                cand = cand[xy_ok[cand]]
            # keep faults apart so that one fault's window never overlaps another's
            free = [c for c in cand if not taken[max(0, c - spec.spacing): c + spec.spacing].any()]
            if not free:
                logger.warning("no room left for a %s fault on %s", kind, drv)
                continue
            p = int(free[rng.integers(len(free))])
            taken[p: p + span] = True
            row = idx[p]
            t0 = float(df.at[row, "session_time"])
            f: dict[str, Any] = {"type": kind, "driver": drv, "start_time": t0, "end_time": t0}
            if kind == "spike":
                if rng.random() < 0.5:
                    mag = rng.uniform(*spec.spike_kmh)
                    v = float(df.at[row, "speed"])
                    new = v + mag if v < 200 else v - mag
                    df.at[row, "speed"] = new
                    f.update(channel="speed", detail=f"speed {v:g} -> {new:.0f} km/h")
                else:
                    mag = rng.uniform(*spec.spike_rpm)
                    v = float(df.at[row, "rpm"])
                    new = v + mag if v < 9000 else v - mag
                    df.at[row, "rpm"] = new
                    f.update(channel="rpm", detail=f"rpm {v:g} -> {new:.0f}")
            elif kind == "stuck_sensor":
                ch = "rpm" if rng.random() < 0.5 else "speed"
                rows = idx[p: p + spec.stuck_samples]
                df.loc[rows, ch] = df.at[row, ch]
                f.update(channel=ch, end_time=float(df.at[rows[-1], "session_time"]),
                         detail=f"{ch} frozen at {df.at[row, ch]:g} for {spec.stuck_samples} samples")
            elif kind == "dropout":
                rows = idx[p: p + spec.dropout_samples]
                drop.extend(rows.tolist())
                after = idx[p + spec.dropout_samples]
                t_after = float(df.at[after, "session_time"])
                f.update(channel="all", start_time=t_after, end_time=t_after,
                         detail=f"{spec.dropout_samples} samples removed ({t_after - t0:.2f} s gap)")
            elif kind == "position_jump":
                if not has_xy:
                    continue
                d = rng.uniform(*spec.jump_m)
                ang = rng.uniform(0, 2 * np.pi)
                df.at[row, "x"] = np.float32(float(df.at[row, "x"]) + d * np.cos(ang))
                df.at[row, "y"] = np.float32(float(df.at[row, "y"]) + d * np.sin(ang))
                f.update(channel="x/y", detail=f"position displaced by {d:.0f} m")
            elif kind == "gear_glitch":
                v = int(rng.choice(_GEAR_GLITCHES))
                old = df.at[row, "gear"]
                df.at[row, "gear"] = v
                f.update(channel="gear", detail=f"gear {old} -> {v}")
            faults.append(f)
    out = df.drop(index=drop).reset_index(drop=True)
    table = pd.DataFrame(faults, columns=["type", "driver", "channel", "start_time", "end_time", "detail"])
    table.insert(0, "fault_id", range(len(table)))
    return out, table


def real_glitch_mask(telemetry: pd.DataFrame) -> np.ndarray:
    """Rows whose raw value is outside its documented range (gear > 8, throttle > 100)."""
    gear = telemetry["gear"].to_numpy(float)
    thr = telemetry["throttle"].to_numpy(float)
    return (gear > 8) | (gear < 0) | (thr > 100) | (thr < 0)


def run_detector(
    telemetry: pd.DataFrame, detector: AnomalyDetector | None = None,
    features: OnlineFeatures | None = None,
) -> pd.DataFrame:
    """Replay ``telemetry`` (chronologically) through features + detector; one result row per input row."""
    from f1live.features import table_messages

    fx = features or OnlineFeatures()
    det = detector or AnomalyDetector()
    order = telemetry.sort_values("session_time", kind="stable").index
    msgs = table_messages(telemetry.loc[order], extra=("x", "y"))
    res = [det.update(m, fx.update(m)) for m in msgs]
    out = pd.DataFrame.from_records(res, index=order,
                                    columns=["anomaly", "anomaly_score", "anomaly_type", "anomaly_reason"])
    return out.loc[telemetry.index]


def evaluate_detector(
    clean: pd.DataFrame,
    spec: FaultSpec = FaultSpec(),
    seed: int = 7,
    make_detector: Callable[[], AnomalyDetector] = AnomalyDetector,
    tolerance: int = 2,
    drivers: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Inject faults into ``clean``, run a fresh detector on both tables, score it.

    Returns a JSON-able dict: ``overall`` (precision, recall, f1, flags, tp_flags,
    fp_flags, real_glitch_flags), ``per_type`` (n, detected, recall, median and max
    detection delay in s and samples, precision by flagged type), ``clean``
    (rows, flags, false_alarm_rate excluding real glitches), and the fault table.
    """
    if drivers is not None:
        clean = clean[clean["driver"].isin(list(drivers))]
    bad, faults = inject_faults(clean, spec, seed=seed)
    res = run_detector(bad, make_detector())
    flagged = res["anomaly"].to_numpy(bool)
    t = bad["session_time"].to_numpy(float)
    drv = bad["driver"].astype(str).to_numpy()
    in_window = np.zeros(len(bad), dtype=bool)
    window_type = np.full(len(bad), "", dtype=object)
    per_fault = []
    for f in faults.itertuples():
        rows = np.flatnonzero(drv == f.driver)
        tt = t[rows]
        a = np.searchsorted(tt, f.start_time, side="left")
        b = np.searchsorted(tt, f.end_time, side="right") + tolerance
        w = rows[a: min(b, len(rows))]
        in_window[w] = True
        window_type[w] = f.type
        hit = w[flagged[w]]
        delay_s = float(t[hit[0]] - f.start_time) if len(hit) else None
        delay_n = int(np.searchsorted(w, hit[0])) if len(hit) else None
        per_fault.append({"fault_id": f.fault_id, "type": f.type, "detected": bool(len(hit)),
                          "delay_s": delay_s, "delay_samples": delay_n,
                          "flag_type": res["anomaly_type"].iloc[hit[0]] if len(hit) else None})
    glitch = real_glitch_mask(bad)
    tp = int((flagged & in_window).sum())
    fp = int((flagged & ~in_window & ~glitch).sum())
    real = int((flagged & ~in_window & glitch).sum())
    pf = pd.DataFrame(per_fault)
    recall = float(pf["detected"].mean()) if len(pf) else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    per_type: dict[str, Any] = {}
    ftypes = res["anomaly_type"].to_numpy(object)
    for kind in FAULT_TYPES:
        sub = pf[pf["type"] == kind] if len(pf) else pf
        det = sub[sub["detected"]] if len(sub) else sub
        per_type[kind] = {
            "n": int(len(sub)),
            "detected": int(len(det)),
            "recall": float(len(det) / len(sub)) if len(sub) else None,
            "delay_s_median": float(det["delay_s"].median()) if len(det) else None,
            "delay_s_max": float(det["delay_s"].max()) if len(det) else None,
            "delay_samples_median": float(det["delay_samples"].median()) if len(det) else None,
        }
    by_flag: dict[str, Any] = {}
    for kind in sorted({k for k in ftypes[flagged] if k}):
        sel = flagged & (ftypes == kind) & ~glitch
        by_flag[kind] = {"flags": int(sel.sum()), "in_fault_window": int((sel & in_window).sum()),
                         "precision": float((sel & in_window).sum() / sel.sum()) if sel.sum() else None}
    # the same detector on the untouched table: how often does it cry wolf?
    res_clean = run_detector(clean, make_detector())
    cf = res_clean["anomaly"].to_numpy(bool)
    cg = real_glitch_mask(clean)
    false_alarms = int((cf & ~cg).sum())
    clean_types = res_clean.loc[cf & ~cg, "anomaly_type"].value_counts().to_dict()
    return {
        "overall": {"precision": precision, "recall": recall, "f1": f1, "faults": int(len(pf)),
                    "flags": int(flagged.sum()), "tp_flags": tp, "fp_flags": fp, "real_glitch_flags": real,
                    "tolerance_samples": tolerance},
        "per_type": per_type,
        "by_flag_type": by_flag,
        "clean": {"rows": int(len(clean)), "flags": int(cf.sum()), "real_glitch_flags": int((cf & cg).sum()),
                  "false_alarms": false_alarms, "false_alarm_rate": false_alarms / max(len(clean), 1),
                  "false_alarm_types": {str(k): int(v) for k, v in clean_types.items()}},
        "faults": pf.to_dict("records"),
        "seed": seed,
    }
