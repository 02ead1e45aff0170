"""Online anomaly detection: physical rule checks + a River detector per driver.

Every message gets ``anomaly`` (bool), ``anomaly_score`` (0-1), ``anomaly_type`` and a
human-readable ``anomaly_reason``. Two layers:

* **Rules** (:class:`RuleLimits`): values out of physical range (speed, rpm, throttle --
  the raw data's ``Throttle=104`` sentinel is flagged -- and gear, incl. the raw
  ``nGear`` 72/128 glitches), implausible jumps between consecutive samples (speed
  or rpm faster than a car can change them), a stuck sensor (rpm/speed frozen while
  the car is clearly moving), sample dropouts (a gap of several sample intervals) and
  position jumps (the car moves further than its speed allows).
* **River** (:class:`RiverDetector`): ``preprocessing.MinMaxScaler | anomaly.HalfSpaceTrees``
  per driver, thresholded with ``anomaly.QuantileFilter``. It catches odd *combinations*
  the rules do not encode; its flag is optional (``use_river_flag``) because on clean
  real data it mostly flags rare-but-real driving (see docs/analytics.md for the measured
  effect on precision).

Rules were calibrated on the 2022 and 2024 Monaco races and are evaluated on 2023
with injected faults (:mod:`f1live.faults`).

>>> from f1live.features import OnlineFeatures
>>> fx, det = OnlineFeatures(), AnomalyDetector(seed=1)
>>> m = {"driver": "VER", "session_time": 1.0, "speed": 200.0, "rpm": 11000.0, "gear": 6,
...      "throttle": 100.0, "brake": False, "drs": 0}
>>> det.update(m, fx.update(m))["anomaly"]
False
>>> m2 = dict(m, session_time=1.25, gear=128)
>>> r = det.update(m2, fx.update(m2))
>>> r["anomaly"], r["anomaly_type"], r["anomaly_reason"]
(True, 'gear_glitch', 'gear=128 outside 0-8 (raw nGear glitch)')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from river import anomaly, preprocessing, stats

logger = logging.getLogger(__name__)

#: Anomaly types in decreasing priority (the first rule that fires names the message).
ANOMALY_TYPES: tuple[str, ...] = (
    "gear_glitch", "out_of_range", "dropout", "spike", "position_jump", "stuck_sensor", "statistical",
)

#: Inputs of the River detector (already-computed features; no extra state needed).
RIVER_FEATURES: tuple[str, ...] = ("speed", "rpm", "throttle", "gear", "d_speed", "d_rpm", "speed_std", "rpm_std")


@dataclass(frozen=True)
class RuleLimits:
    """Physical limits of the rule checks (units as in :mod:`f1live.schema`).

    The rate limits sit just above what the training races (2022 + 2024 Monaco) show
    between two consecutive real samples.
    """

    speed_max: float = 380.0
    rpm_max: float = 15_500.0
    gear_max: int = 8
    throttle_max: float = 100.0
    accel_max: float = 65.0          # |d speed / dt| in m/s^2 (~6.6 g)
    rpm_step_max: float = 4_500.0    # |d rpm| between two samples
    dropout_factor: float = 5.0      # gap > factor x typical interval ...
    dropout_min_s: float = 1.4       # ... and > this many seconds
    stuck_samples: int = 6           # identical value this many samples in a row
    stuck_min_speed: float = 90.0    # ... speed frozen above this (pit-lane limiters hold 60-80 km/h)
    stuck_rpm_min_speed: float = 50.0  # ... rpm frozen while the car moves at least this fast
    stuck_rpm_spread: float = 0.06   # speed frozen while rpm spans this fraction of its mean ...
    stuck_throttle_spread: float = 50.0  # ... or the throttle moves this many % points, or the gear changes
    position_slack_m: float = 60.0   # distance moved may exceed speed x dt by this much
    position_factor: float = 2.0     # ... and by this factor


class _RuleState:
    __slots__ = ("prev_xy", "dt_mean", "rpm_run", "speed_run", "run_rpm", "run_thr", "run_gear", "prev_rpm",
                 "prev_speed")

    def __init__(self) -> None:
        self.prev_xy: tuple[float, float, float] | None = None  # t, x, y
        self.dt_mean = stats.EWMean(fading_factor=0.02)
        self.rpm_run = 0
        self.speed_run = 0
        self.run_rpm = [math.inf, -math.inf]  # min, max of rpm while speed is frozen
        self.run_thr = [math.inf, -math.inf]
        self.run_gear: set[float] = set()
        self.prev_rpm = math.nan
        self.prev_speed = math.nan


class RuleChecker:
    """Physical rule checks with a little per-driver state (previous position, runs)."""

    def __init__(self, limits: RuleLimits | None = None) -> None:
        self.limits = limits or RuleLimits()
        self._state: dict[str, _RuleState] = {}

    def check(self, msg: Mapping[str, Any], feats: Mapping[str, float]) -> list[tuple[str, str]]:
        """(type, reason) of every rule the message breaks, highest priority first; updates state."""
        lim = self.limits
        drv = msg.get("driver")
        st = self._state.get(drv)  # type: ignore[arg-type]
        if st is None:
            st = self._state[drv] = _RuleState()  # type: ignore[index]
        hits: list[tuple[str, str]] = []
        speed, rpm, gear, thr = feats["speed"], feats["rpm"], feats["gear"], feats["throttle"]
        dt = feats["dt"]
        if not 0 <= gear <= lim.gear_max:
            hits.append(("gear_glitch", f"gear={gear:g} outside 0-{lim.gear_max} (raw nGear glitch)"))
        if not 0 <= speed <= lim.speed_max:
            hits.append(("out_of_range", f"speed={speed:g} km/h outside 0-{lim.speed_max:g}"))
        if not 0 <= rpm <= lim.rpm_max:
            hits.append(("out_of_range", f"rpm={rpm:g} outside 0-{lim.rpm_max:g}"))
        if not 0 <= thr <= lim.throttle_max:
            hits.append(("out_of_range", f"throttle={thr:g} % outside 0-{lim.throttle_max:g} (raw sentinel)"))
        typical = st.dt_mean.get()
        if dt > 0 and typical > 0 and dt > max(lim.dropout_factor * typical, lim.dropout_min_s):
            hits.append(("dropout", f"no sample for {dt:.2f} s ({dt / typical:.0f}x the usual {typical:.2f} s)"))
        elif dt > 0:
            st.dt_mean.update(dt)
        if dt > 0 and dt <= lim.dropout_min_s:
            acc = feats["accel"]
            if abs(acc) > lim.accel_max:
                hits.append(("spike", f"speed changed {feats['d_speed']:+.0f} km/h in {dt:.2f} s "
                                      f"({abs(acc):.0f} m/s^2 > {lim.accel_max:g})"))
            if abs(feats["d_rpm"]) > lim.rpm_step_max:
                hits.append(("spike", f"rpm changed {feats['d_rpm']:+.0f} in one sample (> {lim.rpm_step_max:g})"))
        # position jump: distance between consecutive (x, y) vs what the speed allows
        x, y, t = msg.get("x"), msg.get("y"), msg.get("session_time")
        if x is not None and y is not None and x == x and y == y and t is not None:
            prev = st.prev_xy
            if prev is not None and 0 < t - prev[0] <= lim.dropout_min_s:
                moved = math.hypot(x - prev[1], y - prev[2])
                allowed = lim.position_factor * max(speed, 0.0) / 3.6 * (t - prev[0]) + lim.position_slack_m
                if moved > allowed:
                    hits.append(("position_jump", f"car moved {moved:.0f} m in {t - prev[0]:.2f} s "
                                                  f"at {speed:.0f} km/h (> {allowed:.0f} m possible)"))
            st.prev_xy = (t, x, y)
        # stuck sensor: an identical value, sample after sample, while the car clearly moves
        moving = speed >= lim.stuck_min_speed
        st.rpm_run = st.rpm_run + 1 if (rpm == st.prev_rpm and speed >= lim.stuck_rpm_min_speed) else 0
        if speed == st.prev_speed and moving:
            st.speed_run += 1
        else:
            st.speed_run = 0
            st.run_rpm[:] = (math.inf, -math.inf)
            st.run_thr[:] = (math.inf, -math.inf)
            st.run_gear.clear()
        # in a fixed gear speed is proportional to rpm: a frozen speed with a moving rpm,
        # throttle or gear cannot be real (a pit limiter holds rpm within ~3 %)
        st.run_rpm[0], st.run_rpm[1] = min(st.run_rpm[0], rpm), max(st.run_rpm[1], rpm)
        st.run_thr[0], st.run_thr[1] = min(st.run_thr[0], thr), max(st.run_thr[1], thr)
        st.run_gear.add(gear)
        st.prev_rpm, st.prev_speed = rpm, speed
        if st.rpm_run + 1 >= lim.stuck_samples:
            hits.append(("stuck_sensor", f"rpm frozen at {rpm:g} for {st.rpm_run + 1} samples at {speed:.0f} km/h"))
        if st.speed_run + 1 >= lim.stuck_samples:
            lo, hi = st.run_rpm
            spread = (hi - lo) / max((hi + lo) / 2, 1.0)
            thr_moved = st.run_thr[1] - st.run_thr[0]
            if spread > lim.stuck_rpm_spread or thr_moved >= lim.stuck_throttle_spread or len(st.run_gear) > 1:
                hits.append(("stuck_sensor", f"speed frozen at {speed:g} km/h for {st.speed_run + 1} samples while "
                                             f"rpm spans {spread:.0%}, throttle {thr_moved:.0f} % and "
                                             f"{len(st.run_gear)} gear(s)"))
        return hits


class RiverDetector:
    """Per-driver ``MinMaxScaler | HalfSpaceTrees`` wrapped in a ``QuantileFilter``.

    Args:
        q: quantile of the running score distribution above which a sample is flagged.
        n_trees, height, window_size: HalfSpaceTrees parameters (cost is linear in
            ``n_trees`` and exponential in ``height``: kept small for < 100 us/msg).
        seed: random seed (every driver's trees use the same seed: reproducible).
    """

    def __init__(self, q: float = 0.999, n_trees: int = 5, height: int = 5, window_size: int = 250,
                 seed: int = 42) -> None:
        if not 0.5 <= q < 1:
            raise ValueError(f"q={q} must be a quantile in [0.5, 1)")
        self.q, self.n_trees, self.height, self.window_size, self.seed = q, n_trees, height, window_size, seed
        self._models: dict[str, Any] = {}

    def _model(self, driver: str) -> tuple[Any, Any, Any]:
        m = self._models.get(driver)
        if m is None:
            hst = anomaly.HalfSpaceTrees(n_trees=self.n_trees, height=self.height,
                                         window_size=self.window_size, seed=self.seed)
            m = self._models[driver] = (preprocessing.MinMaxScaler(), hst, anomaly.QuantileFilter(hst, q=self.q))
        return m

    def update(self, driver: str, x: dict[str, float]) -> tuple[float, bool]:
        """Score ``x`` then learn it; returns (score 0-1, flagged).

        Same semantics as ``(MinMaxScaler() | QuantileFilter(HalfSpaceTrees(...), q)).learn_one``
        after ``score_one`` (scaler learns first, flagged samples do not train the trees),
        but the trees score each sample once instead of three times (~3x faster).
        """
        scaler, hst, filt = self._model(driver)
        scaler.learn_one(x)
        xs = scaler.transform_one(x)
        score = hst.score_one(xs)
        flagged = bool(filt.classify(score))
        if not flagged:
            hst.learn_one(xs)
        filt.quantile.update(score)
        return float(score), flagged


class AnomalyDetector:
    """Rules + River detector; :meth:`update` scores one message (and learns it).

    Args:
        limits: rule limits.
        use_river_flag: also flag samples the River detector ranks above its quantile.
        q, seed: River detector quantile and seed.
    """

    def __init__(self, limits: RuleLimits | None = None, *, use_river_flag: bool = False, q: float = 0.999,
                 seed: int = 42, river: bool = True, n_trees: int = 5, height: int = 5) -> None:
        self.rules = RuleChecker(limits)
        self.river = RiverDetector(q=q, seed=seed, n_trees=n_trees, height=height) if river else None
        self.use_river_flag = use_river_flag

    def update(self, msg: Mapping[str, Any], feats: Mapping[str, float]) -> dict[str, Any]:
        """Result dict for one message: ``anomaly``, ``anomaly_score``, ``anomaly_type``, ``anomaly_reason``."""
        hits = self.rules.check(msg, feats)
        score, river_flag = 0.0, False
        if self.river is not None:
            x = {k: (feats[k] if feats[k] == feats[k] else 0.0) for k in RIVER_FEATURES}
            score, river_flag = self.river.update(str(msg.get("driver")), x)
        if hits:
            kinds = sorted({h[0] for h in hits}, key=ANOMALY_TYPES.index)
            return {"anomaly": True, "anomaly_score": 1.0, "anomaly_type": kinds[0],
                    "anomaly_reason": "; ".join(h[1] for h in hits)}
        if river_flag and self.use_river_flag:
            return {"anomaly": True, "anomaly_score": score, "anomaly_type": "statistical",
                    "anomaly_reason": f"unusual combination for this driver (HalfSpaceTrees score {score:.2f} "
                                      f"above its running {self.river.q:g} quantile)"}
        return {"anomaly": False, "anomaly_score": score, "anomaly_type": None, "anomaly_reason": None}
