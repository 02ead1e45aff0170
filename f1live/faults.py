"""Graded faults in real telemetry, and the anomaly detector's evaluation on them.

:func:`inject_faults` corrupts a copy of a real telemetry table at known, seeded
places with one of five sensor faults at one of five magnitudes (:data:`GRADES`, from
"barely visible" to "gross"), and returns the ground truth. :func:`evaluate_grades`
replays clean and corrupted tables through :class:`f1live.features.OnlineFeatures` and
three detectors -- River only, rules only, both (the shipped configuration) -- exactly
as the consumer does, and reports per fault type and magnitude how many faults each
found, plus false alarms per driver-hour on the clean table. :func:`line_curve` measures the
trade-off of the River alarm lines (all scaled together) on a race.

Fault types (on the speed or the rpm channel, chosen at random, or all channels for a dropout):

* ``spike``: one sample offset by a fraction of its value;
* ``drift``: an offset ramping up over :attr:`FaultSpec.drift_samples` samples to a
  fraction of the value, then held for :attr:`FaultSpec.hold_samples`;
* ``noise``: Gaussian noise with a standard deviation of a fraction of the value over
  :attr:`FaultSpec.noise_samples` samples;
* ``stuck_sensor``: the channel repeats one reading for a number of samples;
* ``dropout``: a number of consecutive samples is missing.

The magnitudes are set against the natural sample-to-sample variation of the real data
(on the training races, a sample sticks out of its neighbours by up to 10-15 % in the
worst 0.03 % of samples): "barely visible" lies inside that jitter, "medium" beyond all
but a handful of real samples, "gross" is impossible to miss. Precision counts alarms
(flagged messages), recall counts faults. A fault is detected when a message of its
window -- its corrupted samples plus ``tolerance`` following ones, because a spike is
also visible when the value comes back -- is flagged.

>>> FAULT_TYPES
('spike', 'drift', 'stuck_sensor', 'noise', 'dropout')
>>> GRADE_NAMES[2], GRADES["spike"][2], GRADES["dropout"][2]
('medium', 0.2, 5)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from f1live.anomaly import RIVER_RESIDUALS, AnomalyDetector, RiverDetector, RiverLimits, RuleLimits
from f1live.features import OnlineFeatures, table_messages

logger = logging.getLogger(__name__)

FAULT_TYPES: tuple[str, ...] = ("spike", "drift", "stuck_sensor", "noise", "dropout")
GRADE_NAMES: tuple[str, ...] = ("barely visible", "small", "medium", "large", "gross")
#: Magnitude of each fault type per grade: a fraction of the value (spike offset, drift
#: offset reached, noise standard deviation) or a number of samples (stuck, dropout).
GRADES: dict[str, tuple[float, ...]] = {
    "spike": (0.03, 0.08, 0.2, 0.4, 1.0),
    "drift": (0.03, 0.08, 0.2, 0.4, 1.0),
    "noise": (0.01, 0.025, 0.06, 0.15, 0.4),
    "stuck_sensor": (3, 5, 8, 16, 40),
    "dropout": (2, 3, 5, 8, 20),
}
#: The detector configurations compared.
VARIANTS: tuple[str, ...] = ("river", "rules", "both")


@dataclass(frozen=True)
class FaultSpec:
    """Where and how long the faults are.

    Attributes:
        per_type: faults of each type per driver.
        drift_samples: samples over which a drift ramps up to its offset.
        hold_samples: samples the drift offset is held after the ramp.
        noise_samples: samples a noise burst lasts.
        spacing: minimum samples between two faults of one driver.
        min_speed: faults start only where the car moves at least this fast (km/h).
    """

    per_type: int = 3
    drift_samples: int = 40
    hold_samples: int = 20
    noise_samples: int = 40
    spacing: int = 150
    min_speed: float = 50.0


def racing_rows(telemetry: pd.DataFrame) -> pd.DataFrame:
    """The rows on racing laps (from lights out to each car's flag; ``lap_number`` set)."""
    return telemetry[telemetry["lap_number"].notna().to_numpy()]


def inject_faults(
    telemetry: pd.DataFrame,
    fault: str,
    grade: int,
    spec: FaultSpec = FaultSpec(),
    seed: int = 7,
    drivers: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A copy of ``telemetry`` with ``spec.per_type`` faults of one type and grade per driver, and the fault table.

    Faults start on racing laps outside the pit lane where the car moves
    (``spec.min_speed``). The fault table has ``fault_id``, ``type``, ``grade``,
    ``magnitude``, ``driver``, ``channel``, ``start_time``, ``end_time`` (session seconds
    of the first/last corrupted sample; for a dropout, the first sample after the gap)
    and ``detail``. Dropped rows are absent from the returned table (index reset).

    >>> df = pd.DataFrame({"driver": ["A"] * 600, "session_time": np.arange(600) * 0.25,
    ...     "speed": 150.0, "rpm": 10000.0, "gear": 5, "throttle": 80.0, "brake": False, "drs": 0,
    ...     "lap_number": 3, "in_pit": False})
    >>> bad, faults = inject_faults(df, "dropout", 2, FaultSpec(per_type=2), seed=1)
    >>> len(faults), len(bad) == 600 - 2 * GRADES["dropout"][2]
    (2, True)
    """
    if fault not in FAULT_TYPES:
        raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULT_TYPES)}")
    if not 0 <= grade < len(GRADE_NAMES):
        raise ValueError(f"grade {grade} outside 0-{len(GRADE_NAMES) - 1} ({', '.join(GRADE_NAMES)})")
    mag = GRADES[fault][grade]
    rng = np.random.default_rng([seed, FAULT_TYPES.index(fault), grade])
    df = telemetry.sort_values("session_time", kind="stable").copy()
    for c in ("speed", "rpm"):
        df[c] = df[c].astype("float64")
    want = set(drivers) if drivers is not None else None
    span = {
        "spike": 1,
        "drift": spec.drift_samples + spec.hold_samples,
        "noise": spec.noise_samples,
        "stuck_sensor": int(mag),
        "dropout": int(mag),
    }[fault]
    drop: list[Any] = []
    faults: list[dict[str, Any]] = []
    for drv, g in df.groupby("driver", sort=True, observed=True):
        if want is not None and drv not in want:
            continue
        idx = g.index.to_numpy()
        ok = (g["lap_number"].notna() & (g["speed"] >= spec.min_speed)).to_numpy()
        if "in_pit" in g:
            ok &= ~g["in_pit"].astype(bool).to_numpy()
        # the whole fault (and the sample after it) must lie on racing laps outside the pit lane
        racing = g["lap_number"].notna().to_numpy()
        if "in_pit" in g:
            racing &= ~g["in_pit"].astype(bool).to_numpy()
        cs = np.r_[0, np.cumsum(racing)]
        n = len(g)
        inside = np.zeros(n, dtype=bool)
        if n > span + 1:
            inside[: n - span - 1] = (cs[span + 1 : n] - cs[: n - span - 1]) == span + 1
        ok &= inside
        taken = np.zeros(len(g), dtype=bool)
        for _ in range(spec.per_type):
            cand = np.flatnonzero(ok & ~taken)
            if not len(cand):
                logger.warning("no room left for a %s fault on %s", fault, drv)
                break
            p = int(cand[rng.integers(len(cand))])
            taken[max(0, p - spec.spacing) : p + span + spec.spacing] = True
            rows = idx[p : p + span]
            ch = "speed" if rng.random() < 0.5 else "rpm"
            t0 = float(df.at[rows[0], "session_time"])
            t1 = float(df.at[rows[-1], "session_time"])
            v = df.loc[rows, ch].to_numpy(float)
            if fault == "spike":
                sign = 1.0 if rng.random() < 0.5 or v[0] * (1 - mag) < 1 else -1.0
                df.loc[rows, ch] = v * (1 + sign * mag)
                detail = f"{ch} {v[0]:g} -> {v[0] * (1 + sign * mag):.0f} ({sign * mag:+.0%}, one sample)"
            elif fault == "drift":
                sign = 1.0 if rng.random() < 0.5 else -1.0
                ramp = np.r_[np.linspace(0, mag, spec.drift_samples + 1)[1:], np.full(spec.hold_samples, mag)]
                df.loc[rows, ch] = v * (1 + sign * ramp)
                detail = f"{ch} drifts to {sign * mag:+.0%} over {spec.drift_samples} samples, held {spec.hold_samples}"
            elif fault == "noise":
                df.loc[rows, ch] = v * (1 + rng.normal(0.0, mag, size=len(v)))
                detail = f"{ch} + Gaussian noise (sd {mag:.1%}) for {len(v)} samples"
            elif fault == "stuck_sensor":
                df.loc[rows, ch] = v[0]
                detail = f"{ch} frozen at {v[0]:g} for {len(v)} samples"
            else:  # dropout
                ch = "all"
                drop.extend(rows.tolist())
                after = idx[p + span]
                t0 = t1 = float(df.at[after, "session_time"])
                detail = f"{span} samples missing ({t0 - float(df.at[rows[0], 'session_time']):.2f} s gap)"
            faults.append(
                {
                    "type": fault,
                    "grade": GRADE_NAMES[grade],
                    "magnitude": mag,
                    "driver": str(drv),
                    "channel": ch,
                    "start_time": t0,
                    "end_time": t1,
                    "detail": detail,
                }
            )
    out = df.drop(index=drop).reset_index(drop=True)
    table = pd.DataFrame(
        faults, columns=["type", "grade", "magnitude", "driver", "channel", "start_time", "end_time", "detail"]
    )
    table.insert(0, "fault_id", range(len(table)))
    return out, table


def make_detector(
    variant: str,
    limits: RuleLimits | None = None,
    river_limits: RiverLimits | None = None,
) -> AnomalyDetector:
    """The detector of one evaluated configuration: ``river``, ``rules`` or ``both``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return AnomalyDetector(limits, river_limits=river_limits, river=variant != "rules", rules=variant != "river")


def run_detectors(
    telemetry: pd.DataFrame,
    variants: Sequence[str] = VARIANTS,
    *,
    limits: RuleLimits | None = None,
    river_limits: RiverLimits | None = None,
) -> pd.DataFrame:
    """Replay ``telemetry`` (in time order, all drivers) once through the features and every variant.

    Returns, indexed like ``telemetry``, ``<variant>`` (flagged: bool), ``<variant>_type``
    and, for the last variant, ``quality``.
    """
    order = telemetry.sort_values("session_time", kind="stable").index
    msgs = table_messages(telemetry.loc[order], extra=("x", "y"))
    fx = OnlineFeatures()
    dets = [make_detector(v, limits, river_limits) for v in variants]
    flags = np.zeros((len(msgs), len(dets)), dtype=bool)
    kinds = np.empty((len(msgs), len(dets)), dtype=object)
    quality = np.empty(len(msgs), dtype=object)
    for i, m in enumerate(msgs):
        f = fx.update(m)
        for j, d in enumerate(dets):
            r = d.update(m, f)
            flags[i, j] = r["anomaly"]
            kinds[i, j] = r["anomaly_type"]
        quality[i] = r["quality"]
    out = pd.DataFrame(index=order)
    for j, v in enumerate(variants):
        out[v] = flags[:, j]
        out[v + "_type"] = kinds[:, j]
    out["quality"] = quality
    return out.loc[telemetry.index]


#: River limits with every alarm line at 1.0: :attr:`f1live.anomaly.ResidualModel.parts` are then the raw residuals.
_UNIT: dict[str, Any] = dict.fromkeys(RiverLimits.LINES, 1.0)
UNIT_LINES = replace(RiverLimits(), **_UNIT)


def river_residuals(telemetry: pd.DataFrame, river_limits: RiverLimits = UNIT_LINES) -> pd.DataFrame:
    """Every residual of every sample River learns, over its line (raw residuals with :data:`UNIT_LINES`).

    Replays ``telemetry`` in time order through a :class:`f1live.anomaly.RiverDetector`
    with the samples and inputs :class:`f1live.anomaly.AnomalyDetector` gives it (racing
    laps outside the pit lane; a gear outside 0-``gear_max`` is missing). Returns one row
    per such sample, in each driver's learning order: ``row`` (its index label in
    ``telemetry``), ``driver``, ``t``, one column per :data:`f1live.anomaly.RIVER_RESIDUALS`
    key (``kind_channel``), ``high`` (judged against the lines of ``high_gear`` and up)
    and ``alarm`` (the detector raised an alarm on it with these lines).

    >>> df = pd.DataFrame({"driver": "A", "session_time": np.arange(80) * 0.25, "speed": 150.0 + np.arange(80),
    ...     "rpm": 9000.0, "gear": 5, "throttle": 80.0, "brake": False, "lap_number": 3, "in_pit": False})
    >>> r = river_residuals(df.assign(in_pit=np.arange(80) >= 70))
    >>> len(r), list(r.columns[3:6]), bool(r["high"].iloc[-1]), round(float(r["spike_speed"].max()), 6)
    (70, ['spike_speed', 'spike_rpm', 'noise_speed'], True, 0.0)
    """
    tab = telemetry.sort_values("session_time", kind="stable")
    ok = tab["lap_number"].notna().to_numpy()
    if "in_pit" in tab:
        ok &= ~tab["in_pit"].fillna(False).astype(bool).to_numpy()
    tab = tab[ok]
    gear = tab["gear"].to_numpy(float)
    gear = np.where((gear >= 0) & (gear <= RuleLimits().gear_max), gear, np.nan)
    drivers = tab["driver"].astype(str).to_numpy()
    t = tab["session_time"].to_numpy(float)
    speed, rpm = tab["speed"].to_numpy(float), tab["rpm"].to_numpy(float)
    thr, brake = tab["throttle"].to_numpy(float), tab["brake"].fillna(False).astype(float).to_numpy()
    det = RiverDetector(river_limits)
    parts = np.zeros((len(tab), len(RIVER_RESIDUALS)))
    high = np.zeros(len(tab), dtype=bool)
    alarm = np.zeros(len(tab), dtype=bool)
    for i in range(len(tab)):
        x = {"speed": speed[i], "rpm": rpm[i], "gear": gear[i], "throttle": thr[i], "brake": brake[i], "t": t[i]}
        m = det.model(drivers[i])
        m.score_one(x)
        parts[i] = m.parts
        high[i] = m.high_band
        m.learn_one(x)
        alarm[i] = m.alarm is not None
    out = pd.DataFrame(parts, columns=[f"{k}_{c}" for k, c in RIVER_RESIDUALS])
    out.insert(0, "t", t)
    out.insert(0, "driver", drivers)
    out.insert(0, "row", tab.index.to_numpy())
    out["high"] = high
    out["alarm"] = alarm
    order = np.argsort(pd.factorize(drivers, sort=True)[0], kind="stable")
    return out.iloc[order].reset_index(drop=True)


def driver_hours(telemetry: pd.DataFrame, max_gap_s: float = 5.0) -> float:
    """Summed time (h) between consecutive samples of each driver (gaps over ``max_gap_s`` excluded)."""
    total = 0.0
    for _, g in telemetry.groupby("driver", observed=True):
        d = np.diff(np.sort(g["session_time"].to_numpy(float)))
        total += float(d[d <= max_gap_s].sum())
    return total / 3600.0


def alarm_episodes(t: np.ndarray, drivers: np.ndarray, merge_s: float = 2.0) -> int:
    """Number of alarm episodes: a driver's flagged messages at most ``merge_s`` apart count once.

    >>> alarm_episodes(np.array([1.0, 1.25, 9.0, 1.0]), np.array(["A", "A", "A", "B"]))
    3
    """
    n = 0
    for d in np.unique(drivers):
        tt = np.sort(t[drivers == d])
        n += int(len(tt) and 1 + (np.diff(tt) > merge_s).sum())
    return n


def score_faults(
    bad: pd.DataFrame, res: pd.DataFrame, faults: pd.DataFrame, variant: str, tolerance: int = 2
) -> pd.DataFrame:
    """Per fault: ``detected`` and ``delay_s`` (first flag after the fault's start) for one variant."""
    flagged = res[variant].to_numpy(bool)
    t = bad["session_time"].to_numpy(float)
    drv = bad["driver"].astype(str).to_numpy()
    rows = []
    by_driver = {d: np.flatnonzero(drv == d) for d in np.unique(drv)}
    for f in faults.itertuples():
        r = by_driver.get(f.driver, np.empty(0, dtype=int))
        tt = t[r]
        a = np.searchsorted(tt, f.start_time, side="left")
        b = np.searchsorted(tt, f.end_time, side="right") + tolerance
        w = r[a : min(b, len(r))]
        hit = w[flagged[w]]
        rows.append(
            {
                "fault_id": f.fault_id,
                "detected": bool(len(hit)),
                "delay_s": float(t[hit[0]] - f.start_time) if len(hit) else None,
            }
        )
    return pd.DataFrame(rows, columns=["fault_id", "detected", "delay_s"])


def _ci_fraction(hits: np.ndarray, rng: np.random.Generator, n_boot: int = 500) -> list[float] | None:
    if not len(hits):
        return None
    b = hits[rng.integers(0, len(hits), size=(n_boot, len(hits)))].mean(axis=1)
    return [float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))]


def clean_alarms(clean: pd.DataFrame, variants: Sequence[str] = VARIANTS, **kw: Any) -> dict[str, Any]:
    """False alarms of every variant on an untouched table's racing laps (per driver-hour)."""
    race = racing_rows(clean)
    res = run_detectors(race, variants, **kw)
    hours = driver_hours(race)
    t = race["session_time"].to_numpy(float)
    drv = race["driver"].astype(str).to_numpy()
    out: dict[str, Any] = {
        "rows": int(len(race)),
        "driver_hours": hours,
        "quality_notes": {str(k): int(v) for k, v in res["quality"].value_counts().items()},
    }
    for v in variants:
        f = res[v].to_numpy(bool)
        ep = alarm_episodes(t[f], drv[f])
        out[v] = {
            "alarms": int(f.sum()),
            "alarms_per_driver_hour": float(f.sum() / hours) if hours else None,
            "episodes": ep,
            "episodes_per_driver_hour": ep / hours if hours else None,
            "types": {str(k): int(c) for k, c in res.loc[f, v + "_type"].value_counts().items()},
        }
    return out


def evaluate_grades(
    clean: pd.DataFrame,
    *,
    spec: FaultSpec = FaultSpec(),
    seed: int = 7,
    drivers: Iterable[str] | None = None,
    grades: Sequence[int] = tuple(range(len(GRADE_NAMES))),
    faults: Sequence[str] = FAULT_TYPES,
    tolerance: int = 2,
    limits: RuleLimits | None = None,
    river_limits: RiverLimits | None = None,
    clean_drivers: bool = True,
) -> dict[str, Any]:
    """Recall per fault type and grade for River, rules and both; precision; clean false alarms.

    Every (type, grade) is a separate corrupted copy of the racing part of ``clean`` with
    ``spec.per_type`` faults per driver (so faults never overlap). Returns a JSON-able
    dict: ``grades`` (names and magnitudes), ``recall[variant][type][grade]``,
    ``recall_all[variant][grade]`` (with a bootstrap 95 % interval over faults),
    ``river_only[grade]`` (faults River found and the rules missed), ``precision[variant][grade]``
    (flagged messages inside a fault window / all flagged messages), ``delay_s_median``,
    ``clean`` (see :func:`clean_alarms`; skipped with ``clean_drivers=False``) and the settings.
    """
    t0 = time.perf_counter()
    race = racing_rows(clean)
    if drivers is not None:
        race = race[race["driver"].isin(list(drivers))]
    rng = np.random.default_rng(seed)
    kw: dict[str, Any] = {"limits": limits, "river_limits": river_limits}
    recall: dict[str, dict[str, dict[str, float | None]]] = {v: {f: {} for f in faults} for v in VARIANTS}
    hits_by: dict[str, dict[str, list[bool]]] = {v: {GRADE_NAMES[g]: [] for g in grades} for v in VARIANTS}
    prec_num: dict[str, dict[str, int]] = {v: {GRADE_NAMES[g]: 0 for g in grades} for v in VARIANTS}
    prec_den: dict[str, dict[str, int]] = {v: {GRADE_NAMES[g]: 0 for g in grades} for v in VARIANTS}
    delays: dict[str, list[float]] = {GRADE_NAMES[g]: [] for g in grades}
    river_only: dict[str, int] = {GRADE_NAMES[g]: 0 for g in grades}
    n_faults: dict[str, int] = {GRADE_NAMES[g]: 0 for g in grades}
    for fault in faults:
        for g in grades:
            name = GRADE_NAMES[g]
            bad, table = inject_faults(race, fault, g, spec, seed=seed)
            res = run_detectors(bad, VARIANTS, **kw)
            window = np.zeros(len(bad), dtype=bool)
            t = bad["session_time"].to_numpy(float)
            drv = bad["driver"].astype(str).to_numpy()
            for f in table.itertuples():
                r = np.flatnonzero(drv == f.driver)
                a = np.searchsorted(t[r], f.start_time, side="left")
                b = np.searchsorted(t[r], f.end_time, side="right") + tolerance
                window[r[a : min(b, len(r))]] = True
            scored = {v: score_faults(bad, res, table, v, tolerance) for v in VARIANTS}
            for v in VARIANTS:
                det = scored[v]["detected"].to_numpy(bool)
                recall[v][fault][name] = float(det.mean()) if len(det) else None
                hits_by[v][name].extend(det.tolist())
                fl = res[v].to_numpy(bool)
                prec_num[v][name] += int((fl & window).sum())
                prec_den[v][name] += int(fl.sum())
            both = scored["both"]
            delays[name].extend(both.loc[both["detected"], "delay_s"].astype(float).tolist())
            river_only[name] += int((scored["river"]["detected"] & ~scored["rules"]["detected"]).sum())
            n_faults[name] += len(table)
            logger.info(
                "faults %s/%s: %d faults, recall river %.2f rules %.2f both %.2f",
                fault,
                name,
                len(table),
                recall["river"][fault][name] or 0,
                recall["rules"][fault][name] or 0,
                recall["both"][fault][name] or 0,
            )
    recall_all = {
        v: {
            k: {"recall": float(np.mean(h)) if h else None, "ci95": _ci_fraction(np.asarray(h, float), rng)}
            for k, h in hits_by[v].items()
        }
        for v in VARIANTS
    }
    precision = {
        v: {k: (prec_num[v][k] / prec_den[v][k] if prec_den[v][k] else None) for k in prec_num[v]} for v in VARIANTS
    }
    return {
        "grades": {f: dict(zip(GRADE_NAMES, GRADES[f], strict=True)) for f in faults},
        "faults_per_grade": n_faults,
        "recall": recall,
        "recall_all": recall_all,
        "river_only": river_only,
        "precision": precision,
        "delay_s_median": {k: (float(np.median(v)) if v else None) for k, v in delays.items()},
        "clean": (
            clean_alarms(clean if drivers is None else clean[clean["driver"].isin(list(drivers))], **kw)
            if clean_drivers
            else None
        ),
        "spec": asdict(spec),
        "seed": seed,
        "tolerance_samples": tolerance,
        "drivers": sorted(race["driver"].astype(str).unique().tolist()),
        "seconds": time.perf_counter() - t0,
    }


def line_curve(
    clean: pd.DataFrame,
    factors: Sequence[float] = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5),
    *,
    grade: int = 2,
    spec: FaultSpec = FaultSpec(),
    seed: int = 7,
    drivers: Iterable[str] | None = None,
    limits: RuleLimits | None = None,
    river_limits: RiverLimits | None = None,
) -> list[dict[str, Any]]:
    """The trade-off of the River alarm lines: every line scaled by each factor (:meth:`RiverLimits.scaled`).

    Per factor: recall at ``grade`` of River and of both (faults injected into
    ``drivers``), and alarms / episodes per driver-hour of both on the whole clean
    ``clean`` (every driver, racing laps).
    """
    rl = river_limits or RiverLimits()
    out = []
    for k in factors:
        scaled = rl.scaled(k)
        ev = evaluate_grades(
            clean,
            spec=spec,
            seed=seed,
            drivers=drivers,
            grades=(grade,),
            limits=limits,
            river_limits=scaled,
            clean_drivers=False,
        )
        fa = clean_alarms(clean, ("river", "both"), limits=limits, river_limits=scaled)
        name = GRADE_NAMES[grade]
        out.append(
            {
                "factor": k,
                "recall_both": ev["recall_all"]["both"][name]["recall"],
                "recall_river": ev["recall_all"]["river"][name]["recall"],
                "recall_by_type": {f: ev["recall"]["both"][f][name] for f in FAULT_TYPES},
                "alarms_per_driver_hour": fa["both"]["alarms_per_driver_hour"],
                "river_alarms_per_driver_hour": fa["river"]["alarms_per_driver_hour"],
                "episodes_per_driver_hour": fa["both"]["episodes_per_driver_hour"],
            }
        )
        logger.info(
            "lines x%.2f: recall %.3f at %.2f alarms per driver-hour",
            k,
            out[-1]["recall_both"],
            out[-1]["alarms_per_driver_hour"],
        )
    return out
