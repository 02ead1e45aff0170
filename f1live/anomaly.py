"""Online anomaly detection: a River detector per driver, physical rules, and data-quality notes.

Every message gets ``anomaly`` (bool), ``anomaly_score`` (0-1), ``anomaly_type``,
``anomaly_reason``, ``anomaly_source`` (``"river"``, ``"rule"``, ``"river+rule"``; None
without an anomaly) and ``quality`` / ``quality_reason`` (a data-quality note or None).
Three layers, in this order:

* **Data-quality notes** (:data:`QUALITY_NOTES`), never anomalies: known artefacts of the
  raw F1 feed -- the ``Throttle=104`` sentinel, out-of-range ``nGear`` codes (9-128), and
  samples that are not on a racing lap (garage, grid, formation lap, cool-down: no
  ``lap_number``). A note is counted per driver by the live state and shown once; a
  sample that is not on a racing lap is not checked further.
* **River** (:class:`RiverDetector`, one per driver, ``learn_one``/``score_one``): three
  residuals of the speed and rpm channels against what the recent samples predict,
  each normalised by its limit so that 1.0 is the alarm line (River ``ThresholdFilter``):

  - *spike*: how far the previous sample sticks out of the line between its neighbours
    when it is a peak or a dip (log units): a real car's speed and rpm rise and fall
    smoothly between 0.25 s samples;
  - *noise*: the mean over the last 12 samples of the smaller step into and out of each
    peak or dip (a median-of-three residual; 0 on every rise or fall);
  - *drift*: the speed/rpm ratio against the ratio learnt for the gear (River
    ``stats.EWMean`` per gear, not updated while an alarm stands), as the median over
    the last 9 steady-gear samples: a drifting or stuck sensor breaks the gearbox's
    fixed ratio.

  Limits (:class:`RiverLimits`) were set on the clean training races (2022 + 2024
  Monaco) for a false-alarm rate of a few per driver-hour; the held-out 2023 race
  measures it (``docs/analytics.md``).
* **Rules** (:class:`RuleChecker`): physically impossible values and changes -- speed,
  rpm or throttle out of range, a speed change faster than a car can brake or
  accelerate, an rpm jump, speed and rpm that no gear ratio joins, a sample dropout
  (gap), a frozen reading while the car moves, a position jump -- labelled as rules.

>>> from f1live.features import OnlineFeatures
>>> fx, det = OnlineFeatures(), AnomalyDetector()
>>> m = {"driver": "VER", "session_time": 1.0, "speed": 200.0, "rpm": 11000.0, "gear": 6,
...      "throttle": 100.0, "brake": False, "drs": 0, "lap_number": 5}
>>> det.update(m, fx.update(m))["anomaly"]
False
>>> r = det.update(dict(m, session_time=1.25, throttle=104.0), fx.update(dict(m, session_time=1.25, throttle=104.0)))
>>> r["anomaly"], r["quality"], r["quality_reason"]
(False, 'throttle_sentinel', 'throttle=104 % is the raw feed sentinel (no reading)')
>>> m3 = dict(m, session_time=1.5, speed=420.0)
>>> r = det.update(m3, fx.update(m3))
>>> r["anomaly"], r["anomaly_source"], r["anomaly_type"]
(True, 'rule', 'out_of_range')
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from river import anomaly, stats
from river.base import AnomalyDetector as RiverAnomalyDetector

from f1live.processors import PerDriverState

logger = logging.getLogger(__name__)

#: Anomaly types in decreasing priority (the first that fires names the message).
ANOMALY_TYPES: tuple[str, ...] = (
    "out_of_range",
    "dropout",
    "spike",
    "speed_rpm_mismatch",
    "position_jump",
    "stuck_sensor",
    "drift",
    "noise",
)

#: Data-quality note codes (known artefacts of the raw feed; never anomalies).
QUALITY_NOTES: dict[str, str] = {
    "not_racing": "not on a racing lap (garage, grid, formation lap or cool-down): not checked",
    "throttle_sentinel": "throttle=104 % is the raw feed sentinel (no reading)",
    "gear_code": "gear code outside 0-8 in the raw feed (nGear glitch)",
}

#: Value of the raw throttle sentinel.
THROTTLE_SENTINEL = 104.0


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
    accel_max: float = 65.0  # |d speed / dt| in m/s^2 (~6.6 g)
    rpm_step_max: float = 4_500.0  # |d rpm| between two samples
    dropout_factor: float = 5.0  # gap > factor x typical interval ...
    dropout_min_s: float = 1.4  # ... and > this many seconds (real data: max gap 1.28 s)
    stuck_samples: int = 6  # identical value this many samples in a row
    stuck_repeat: int = 20  # ... one alarm then, and again every this many samples it lasts
    stuck_min_speed: float = 90.0  # ... speed frozen above this (pit-lane limiters hold 60-80 km/h)
    stuck_rpm_min_speed: float = 50.0  # ... rpm frozen while the car moves at least this fast
    stuck_rpm_spread: float = 0.06  # speed frozen while rpm spans this fraction of its mean ...
    stuck_throttle_spread: float = 50.0  # ... or the throttle moves this many % points, or the gear changes
    position_slack_m: float = 60.0  # distance moved may exceed speed x dt by this much
    position_factor: float = 2.0  # ... and by this factor
    # engine and wheels disagree beyond any gearbox: never seen on the training races' racing laps
    slow_max_speed: float = 30.0  # speed below this ...
    slow_min_rpm: float = 8_000.0  # ... at this rpm or more in gear 2-8
    fast_min_speed: float = 80.0  # speed at or above this ...
    fast_max_rpm: float = 4_000.0  # ... with the engine below this rpm


@dataclass(frozen=True)
class RiverLimits:
    """Alarm lines of the River residuals (log units: 0.1 is about 10 %) and their context.

    Set on the clean training races (2022 + 2024 Monaco, racing laps, every driver):
    ``scripts/analytics_report.py`` prints the residual quantiles they come from.

    Attributes:
        spike: how far a peak/dip of speed or rpm sticks out of the line between its neighbours.
        noise: mean over ``noise_window`` samples of the median-of-three residual of speed or rpm.
        ratio: median over ``ratio_window`` steady-gear samples of log(rpm/speed) minus
            the gear's learnt value.
        min_speed: below this speed (km/h) River neither scores nor learns (standing
            starts, pit limiter, clutch slip).
        spike_rpm_any_gear: also score rpm peaks across a gear change (off: the last sample
            before an upshift is a real rpm peak).
        ratio_min_gear, ratio_min_throttle: the ratio is learnt and scored only in this gear
            or higher, at this throttle (%) or more, off the brake: there it is tight (wheel
            slip and the gear channel's lag spread it elsewhere).
        ratio_fading: fading factor of the per-gear ratio mean (~1/samples remembered).
        warmup: samples of a gear before its ratio is scored.
    """

    spike: float = 0.18
    noise: float = 0.035
    ratio: float = 0.08
    min_speed: float = 80.0
    spike_rpm_any_gear: bool = False
    ratio_min_gear: int = 4
    ratio_min_throttle: float = 90.0
    noise_window: int = 12
    ratio_window: int = 9
    ratio_fading: float = 0.005
    warmup: int = 40


class _RuleState:
    __slots__ = (
        "prev_xy",
        "dt_mean",
        "rpm_run",
        "speed_run",
        "run_rpm",
        "run_thr",
        "run_gear",
        "prev_rpm",
        "prev_speed",
        "speed_flagged",
    )

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
        self.speed_flagged = 0  # samples of the current frozen-speed run already recognised


class RuleChecker(PerDriverState):
    """Physical rule checks with a little per-driver state (previous position, runs)."""

    _per_driver_attr = "_state"

    def __init__(self, limits: RuleLimits | None = None) -> None:
        self.limits = limits or RuleLimits()
        self._state: dict[str, _RuleState] = {}

    def reset(self) -> None:
        """Forget every driver's state."""
        self._state.clear()

    def check(self, msg: Mapping[str, Any], feats: Mapping[str, float]) -> list[tuple[str, str]]:
        """(type, reason) of every rule the message breaks, highest priority first; updates state.

        The raw throttle sentinel and gear codes are data-quality notes
        (:meth:`AnomalyDetector.update`), not rule hits.
        """
        lim = self.limits
        drv = msg.get("driver")
        st = self._state.get(drv)  # type: ignore[arg-type]
        if st is None:
            st = self._state[drv] = _RuleState()  # type: ignore[index]
        hits: list[tuple[str, str]] = []
        speed, rpm, gear, thr = feats["speed"], feats["rpm"], feats["gear"], feats["throttle"]
        dt = feats["dt"]
        if not 0 <= speed <= lim.speed_max:
            hits.append(("out_of_range", f"speed={speed:g} km/h outside 0-{lim.speed_max:g}"))
        if not 0 <= rpm <= lim.rpm_max:
            hits.append(("out_of_range", f"rpm={rpm:g} outside 0-{lim.rpm_max:g}"))
        if thr != THROTTLE_SENTINEL and not 0 <= thr <= lim.throttle_max:
            hits.append(("out_of_range", f"throttle={thr:g} % outside 0-{lim.throttle_max:g}"))
        if speed < lim.slow_max_speed and rpm >= lim.slow_min_rpm and 2 <= gear <= lim.gear_max:
            hits.append(
                (
                    "speed_rpm_mismatch",
                    f"speed {speed:.0f} km/h at {rpm:.0f} rpm in gear {gear:g} (no gearbox allows it)",
                )
            )
        elif speed >= lim.fast_min_speed and 0 <= rpm < lim.fast_max_rpm:
            hits.append(("speed_rpm_mismatch", f"speed {speed:.0f} km/h with the engine at {rpm:.0f} rpm"))
        typical = st.dt_mean.get()
        if dt > 0 and typical > 0 and dt > max(lim.dropout_factor * typical, lim.dropout_min_s):
            hits.append(("dropout", f"no sample for {dt:.2f} s ({dt / typical:.0f}x the usual {typical:.2f} s)"))
        elif dt > 0:
            st.dt_mean.update(dt)
        if dt > 0 and dt <= lim.dropout_min_s:
            acc = feats["accel"]
            if abs(acc) > lim.accel_max:
                hits.append(
                    (
                        "spike",
                        f"speed changed {feats['d_speed']:+.0f} km/h in {dt:.2f} s "
                        f"({abs(acc):.0f} m/s^2 > {lim.accel_max:g})",
                    )
                )
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
                    hits.append(
                        (
                            "position_jump",
                            f"car moved {moved:.0f} m in {t - prev[0]:.2f} s "
                            f"at {speed:.0f} km/h (> {allowed:.0f} m possible)",
                        )
                    )
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
            st.speed_flagged = 0
        # in a fixed gear speed is proportional to rpm: a frozen speed with a moving rpm,
        # throttle or gear cannot be real (a pit limiter holds rpm within ~3 %)
        st.run_rpm[0], st.run_rpm[1] = min(st.run_rpm[0], rpm), max(st.run_rpm[1], rpm)
        st.run_thr[0], st.run_thr[1] = min(st.run_thr[0], thr), max(st.run_thr[1], thr)
        st.run_gear.add(gear)
        st.prev_rpm, st.prev_speed = rpm, speed
        # one alarm when a frozen run is recognised, repeated every `stuck_repeat` samples it lasts
        n = st.rpm_run + 1 - lim.stuck_samples
        if n >= 0 and n % lim.stuck_repeat == 0:
            hits.append(("stuck_sensor", f"rpm frozen at {rpm:g} for {st.rpm_run + 1} samples at {speed:.0f} km/h"))
        if st.speed_run + 1 >= lim.stuck_samples:
            lo, hi = st.run_rpm
            spread = (hi - lo) / max((hi + lo) / 2, 1.0)
            thr_moved = st.run_thr[1] - st.run_thr[0]
            if spread > lim.stuck_rpm_spread or thr_moved >= lim.stuck_throttle_spread or len(st.run_gear) > 1:
                if st.speed_flagged % lim.stuck_repeat == 0:
                    hits.append(
                        (
                            "stuck_sensor",
                            f"speed frozen at {speed:g} km/h for {st.speed_run + 1} samples "
                            f"while rpm spans {spread:.0%}, throttle {thr_moved:.0f} % and "
                            f"{len(st.run_gear)} gear(s)",
                        )
                    )
                st.speed_flagged += 1
        return hits


def _med3(a: float, b: float, c: float) -> float:
    """Median of three numbers.

    >>> _med3(3.0, 1.0, 2.0)
    2.0
    """
    if a > b:
        a, b = b, a
    return b if b <= c else (c if a <= c else a)


def _bump(a: float, b: float, c: float, w: float = 0.5) -> float:
    """How far ``b`` sticks out of the line from ``a`` to ``c`` (``w``: b's position, 0-1), if it is a peak or a dip.

    A value between its neighbours is part of a rise or a fall, whatever the slope: 0.

    >>> _bump(1.0, 3.0, 1.0), _bump(1.0, 2.0, 3.0), _bump(1.0, 0.0, 3.0)
    (2.0, 0.0, 2.0)
    """
    if (b > a and b > c) or (b < a and b < c):
        return abs(b - (a + (c - a) * w))
    return 0.0


class ResidualModel(RiverAnomalyDetector):
    """One driver's River residual detector (speed and rpm against what recent samples predict).

    ``x`` is a dict with ``speed`` (km/h), ``rpm``, ``gear``, ``throttle`` (%), ``brake`` (0/1)
    and, optionally, ``t`` (s: the line between two neighbours is then drawn in time, not in samples). :meth:`score_one` returns
    the largest residual divided by its limit (1.0 = the alarm line) and keeps which
    residual it was in :attr:`last`; :meth:`learn_one` moves the windows and, unless the
    sample is alarming, the gear's learnt speed/rpm ratio (River ``stats.EWMean``).
    Samples below ``limits.min_speed`` restart the windows (neither scored nor learnt).

    >>> m = ResidualModel()
    >>> xs = [{"speed": 150.0 + i, "rpm": 9000.0 + 60 * i, "gear": 4} for i in range(60)]
    >>> for x in xs:
    ...     _ = m.score_one(x); m.learn_one(x)
    >>> m.score_one({"speed": 210.0, "rpm": 12600.0, "gear": 4}) < 1.0
    True
    >>> spike = {"speed": 290.0, "rpm": 12660.0, "gear": 4}
    >>> _ = m.score_one(spike); m.learn_one(spike)
    >>> after = {"speed": 211.0, "rpm": 12720.0, "gear": 4}
    >>> m.score_one(after) > 1.0, m.last[0], m.last[2]
    (True, 'spike', 'speed')
    """

    def __init__(self, limits: RiverLimits | None = None) -> None:
        self.limits = limits or RiverLimits()
        self._ls: deque[float] = deque(maxlen=2)  # log speed of the last two samples
        self._lr: deque[float] = deque(maxlen=2)  # log rpm of the last two samples
        self._gears: deque[float] = deque(maxlen=2)
        self._ts: deque[float] = deque(maxlen=2)
        self._noise: deque[float] = deque(maxlen=self.limits.noise_window - 1)
        self._ratio: deque[float] = deque(maxlen=self.limits.ratio_window - 1)
        self._gear_ratio: dict[int, Any] = {}  # River stats.Mean, then stats.EWMean
        self._gear_n: dict[int, int] = {}
        self.last: tuple[str, float, str] = ("", 0.0, "")  # (kind, score, channel or gear)
        self._cache: tuple[Any, ...] | None = None

    def _parts(self, x: Mapping[str, float]) -> tuple[float, float, bool, float, str, float]:
        """(spike residual, ratio residual, steady gear, log ratio, spike channel, noise residual) of ``x``."""
        ls, lr = math.log(max(x["speed"], 1.0)), math.log(max(x["rpm"], 1.0))
        gear = x["gear"]
        gs = self._gears
        steady = len(gs) == 2 and gs[0] == gs[1] == gear
        spike, channel, jitter = 0.0, "", 0.0
        if len(self._ls) == 2:
            t = x.get("t", math.nan)
            ts = self._ts
            w = (ts[1] - ts[0]) / (t - ts[0]) if len(ts) == 2 and t - ts[0] > 0 else 0.5
            rs = _bump(self._ls[0], self._ls[1], ls, w)
            rr = _bump(self._lr[0], self._lr[1], lr, w) if self.limits.spike_rpm_any_gear or steady else 0.0
            spike, channel = (rs, "speed") if rs >= rr else (rr, "rpm")
            # jitter: the smaller step into and out of a peak/dip (0 on a rise or fall)
            js = abs(self._ls[1] - _med3(self._ls[0], self._ls[1], ls))
            jr = abs(self._lr[1] - _med3(self._lr[0], self._lr[1], lr)) if steady else 0.0
            jitter = max(js, jr)
        ratio = 0.0
        g = int(gear) if gear == gear else -1
        # the ratio is tight only with the clutch closed and no wheel slip: full throttle in a high gear
        steady = (
            steady
            and g >= self.limits.ratio_min_gear
            and x.get("throttle", 0.0) >= self.limits.ratio_min_throttle
            and not x.get("brake", 0.0)
        )
        mean = self._gear_ratio.get(g)
        if steady and mean is not None and self._gear_n.get(g, 0) >= self.limits.warmup:
            ratio = abs(lr - ls - mean.get())
        return spike, ratio, steady, lr - ls, channel, jitter

    def score_one(self, x: Mapping[str, float]) -> float:  # type: ignore[override]
        lim = self.limits
        if not x["speed"] >= lim.min_speed:
            self.last = ("", 0.0, "")
            self._cache = None
            return 0.0
        spike, ratio, steady, log_ratio, channel, jitter = parts = self._parts(x)
        self._cache = (x, parts)
        noise = (sum(self._noise) + jitter) / lim.noise_window if len(self._noise) == self._noise.maxlen else 0.0
        med = 0.0
        if ratio > 0 and len(self._ratio) == self._ratio.maxlen:
            vals = sorted([*self._ratio, ratio])
            med = vals[len(vals) // 2]
        best = ("spike", spike / lim.spike, channel)
        if noise / lim.noise > best[1]:
            best = ("noise", noise / lim.noise, "speed/rpm")
        if med / lim.ratio > best[1]:
            best = ("drift", med / lim.ratio, f"gear {int(x['gear'])}")
        self.last = best
        return best[1]

    def learn_one(self, x: Mapping[str, float]) -> None:  # type: ignore[override]
        lim = self.limits
        if not x["speed"] >= lim.min_speed:
            self._ls.clear()
            self._lr.clear()
            self._gears.clear()
            self._ts.clear()
            return
        cache = self._cache
        spike, ratio, steady, log_ratio, _, jitter = cache[1] if cache is not None and cache[0] is x else self._parts(x)
        self._cache = None
        if len(self._ls) == 2:
            self._noise.append(jitter)
        if ratio > 0:
            self._ratio.append(ratio)
        gear = x["gear"]
        g = int(gear) if gear == gear else -1
        if steady and g <= 8 and self.last[1] < 1.0:
            n = self._gear_n[g] = self._gear_n.get(g, 0) + 1
            mean = self._gear_ratio.get(g)
            if mean is None:
                mean = self._gear_ratio[g] = stats.Mean()
            elif n == int(1.0 / lim.ratio_fading):
                # a plain average of the first samples, then a slow exponential fade (River EWMean
                # starts at its first value): a drift must not be learnt away
                ew = stats.EWMean(fading_factor=lim.ratio_fading)
                ew.update(mean.get())
                mean = self._gear_ratio[g] = ew
            mean.update(log_ratio)
        self._ts.append(x.get("t", math.nan))
        self._ls.append(math.log(max(x["speed"], 1.0)))
        self._lr.append(math.log(max(x["rpm"], 1.0)))
        self._gears.append(gear)


class RiverDetector(PerDriverState):
    """One :class:`ResidualModel` per driver behind a River ``ThresholdFilter`` (alarm at 1.0).

    Args:
        limits: the residuals' alarm lines.
    """

    _per_driver_attr = "_models"

    def __init__(self, limits: RiverLimits | None = None) -> None:
        self.limits = limits or RiverLimits()
        self._models: dict[str, anomaly.ThresholdFilter] = {}

    def reset(self) -> None:
        """Forget every driver's model."""
        self._models.clear()

    def update(self, driver: str, x: Mapping[str, float]) -> tuple[float, bool, tuple[str, float, str]]:
        """Score ``x`` then learn it: (score in units of the alarm line, flagged, (kind, score, channel))."""
        f = self._models.get(driver)
        if f is None:
            f = self._models[driver] = anomaly.ThresholdFilter(ResidualModel(self.limits), threshold=1.0)
        model = f.anomaly_detector
        assert isinstance(model, ResidualModel)
        score = model.score_one(x)
        flagged = score >= f.threshold
        model.learn_one(x)
        return score, flagged, model.last


def _float(v: Any) -> float:
    """A float, NaN when missing.

    >>> _float(None), _float(2)
    (nan, 2.0)
    """
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _unit(score: float) -> float:
    """A non-negative score in units of the alarm line mapped to 0-1 (the line is 0.5).

    >>> _unit(0.0), _unit(1.0), round(_unit(3.0), 2)
    (0.0, 0.5, 0.75)
    """
    return score / (1.0 + score) if score > 0 else 0.0


_DRIFT_TEXT = {
    "spike": "sticks out of its neighbours by {r:.0%}",
    "noise": "jitters by {r:.1%} on average",
    "drift": "speed/rpm ratio is {r:.0%} off the learnt value for",
}


class AnomalyDetector:
    """Data-quality notes, River per driver and rules; :meth:`update` scores one message (and learns it).

    Args:
        limits: rule limits.
        river_limits: the River residuals' alarm lines.
        river: run the River detector (``False``: rules and notes only).
        rules: run the rule checks (``False``: River and notes only; for evaluation).
    """

    def __init__(
        self,
        limits: RuleLimits | None = None,
        *,
        river_limits: RiverLimits | None = None,
        river: bool = True,
        rules: bool = True,
    ) -> None:
        self.rules = RuleChecker(limits)
        self.river = RiverDetector(river_limits) if river else None
        self.use_rules = rules

    def reset(self) -> None:
        """Forget every driver's state (rules and River)."""
        self.rules.reset()
        if self.river is not None:
            self.river.reset()

    def driver_state(self, driver: str) -> tuple[Any, Any]:
        """One driver's rule and River state (:class:`f1live.processors.DriverStateful`)."""
        return self.rules.driver_state(driver), None if self.river is None else self.river.driver_state(driver)

    def restore_driver(self, driver: str, state: tuple[Any, Any]) -> None:
        self.rules.restore_driver(driver, state[0])
        if self.river is not None:
            self.river.restore_driver(driver, state[1])

    def forget_driver(self, driver: str) -> None:
        self.rules.forget_driver(driver)
        if self.river is not None:
            self.river.forget_driver(driver)

    def update(self, msg: Mapping[str, Any], feats: Mapping[str, float]) -> dict[str, Any]:
        """Result dict for one message (see the module docstring for the keys)."""
        quality: str | None = None
        if msg.get("lap_number") is None:
            return {
                "anomaly": False,
                "anomaly_score": 0.0,
                "anomaly_type": None,
                "anomaly_reason": None,
                "anomaly_source": None,
                "quality": "not_racing",
                "quality_reason": QUALITY_NOTES["not_racing"],
            }
        gear, thr = feats["gear"], feats["throttle"]
        gear_ok = 0 <= gear <= self.rules.limits.gear_max
        if not gear_ok:
            quality = "gear_code"
        elif thr == THROTTLE_SENTINEL:
            quality = "throttle_sentinel"
        hits = self.rules.check(msg, feats) if self.use_rules else []
        score, river_flag, detail = 0.0, False, ("", 0.0, "")
        if self.river is not None and not msg.get("in_pit"):
            x = {
                "speed": feats["speed"],
                "rpm": feats["rpm"],
                "gear": gear if gear_ok else math.nan,
                "throttle": thr,
                "brake": feats["brake"],
                "t": _float(msg.get("session_time")),
            }
            score, river_flag, detail = self.river.update(str(msg.get("driver")), x)
        out: dict[str, Any] = {
            "anomaly": False,
            "anomaly_score": _unit(score),
            "anomaly_type": None,
            "anomaly_reason": None,
            "anomaly_source": None,
            "quality": quality,
            "quality_reason": QUALITY_NOTES[quality] if quality else None,
        }
        if not hits and not river_flag:
            return out
        reasons = [h[1] for h in hits]
        kinds = [h[0] for h in hits]
        if river_flag and self.river is not None:
            kind, s, ch = detail
            text = _DRIFT_TEXT[kind].format(
                r=s
                * {
                    "spike": self.river.limits.spike,
                    "noise": self.river.limits.noise,
                    "drift": self.river.limits.ratio,
                }[kind]
            )
            what = f"{ch}" if kind != "drift" else ch
            reasons.append(
                f"River: {what} {text} ({s:.1f}x its alarm line)"
                if kind != "drift"
                else f"River: {text} {what} ({s:.1f}x its alarm line)"
            )
            kinds.append(kind)
        kinds = sorted(set(kinds), key=ANOMALY_TYPES.index)
        source = "river+rule" if (hits and river_flag) else ("rule" if hits else "river")
        out.update(
            anomaly=True,
            anomaly_score=1.0 if hits else _unit(score),
            anomaly_type=kinds[0],
            anomaly_reason="; ".join(reasons),
            anomaly_source=source,
        )
        return out
