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
* **River** (:class:`RiverDetector`, one :class:`ResidualModel` per driver,
  ``score_one``/``learn_one``): residuals of the speed and rpm channels against their
  neighbours and against each other, each over its alarm line (1.0 = the line). A
  sample is judged when the second sample after it arrives (a one-sample look-ahead on
  each side):

  - *spike*: how far log speed (log rpm) sticks out of the least-squares parabola
    through the two samples on each side, when it is a peak or a dip; for rpm also how
    far the speed/rpm ratio jumps from both neighbours' ratios (a gear change moves the
    ratio for good, a glitch for one sample). Lines per gear band (below 4th gear
    braking, downshifts and wheelspin make both channels jumpier);
  - *noise*: the median of the absolute residual over a window (River
    ``stats.RollingQuantile``; for rpm only with the gear unchanged), or for rpm a burst
    of peaks past half the spike line;
  - *drift*: the median over steady-gear samples of the speed/rpm ratio against the
    ratio learnt for the gear (River ``stats.EWMean`` per gear, not updated while it
    drifts): a drifting sensor breaks the gearbox's fixed ratio;
  - *stuck*: a channel that keeps one value for five samples while the speed/rpm ratio
    moves away from where it was and from the gear's ratio.

  An alarm is an *episode*: raised when a residual crosses its line, again only every
  ``repeat`` samples while it stays up. The lines (:class:`RiverLimits`) were set on the
  training races (2022 + 2024 Monaco: false alarms on the clean races, recall on faults
  injected into them); the held-out 2023 race measures them (``docs/analytics.md``).
* **Rules** (:class:`RuleChecker`): physically impossible values and changes -- speed,
  rpm or throttle out of range, a speed change faster than a car can brake or
  accelerate, an rpm jump, speed and rpm that no gear ratio joins, a sample dropout
  (a gap, or sample times of the stream that the other cars have and this car lacks:
  live timing sends every car in each entry), a frozen reading while the car moves, a
  position jump -- labelled as rules.

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

import bisect
import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NamedTuple

import numpy as np
from river import stats
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
    dropout_samples: int = 2  # or this many of the stream's sample times missing (other cars have them) ...
    dropout_shared: int = 20  # ... once this many samples in a row showed that the cars share sample times
    stamps_kept: int = 64  # sample times remembered for that (~16 s)
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

    Set on the training races (2022 + 2024 Monaco, racing laps, every driver): the
    combination with the best recall on medium faults injected into them at about 3.5
    alarms per driver-hour (River and rules) on the clean races; never on the held-out
    2023 race (``scripts/river_line_search.py`` reproduces the choice). :meth:`scaled` moves all lines together (the trade-off curve in
    ``docs/analytics.md``).

    Attributes:
        spike_speed: how far a peak/dip of log speed sticks out of the parabola through its
            two neighbours on each side, in gear ``high_gear`` or higher.
        spike_rpm: the same for log rpm, and at least as far from the speed/rpm ratio of both
            neighbours (a gear change moves the ratio for good, a glitch for one sample).
        spike_speed_low, spike_rpm_low: the same below ``high_gear``: braking into slow
            corners, downshifts and wheelspin make both channels jumpier there.
        noise_speed, noise_rpm: median over ``noise_window`` (``noise_window_rpm``) samples of
            the absolute speed (rpm) residual; rpm only with the gear unchanged.
        noise_burst, noise_burst_window, noise_burst_fraction: rpm noise also when this many
            rpm peaks within this many samples pass this fraction of their spike line.
        drift: median over ``drift_window`` steady-gear samples of log(rpm/speed) minus the
            value learnt for the gear (River ``stats.EWMean`` per gear).
        stuck: how far log(rpm/speed) moved since a channel took the value it has kept for
            ``stuck_samples`` samples (and how far it is from the gear's learnt value).
        min_speed: a sample is scored only when its four neighbours are at least this fast
            (km/h; standing starts, pit limiter and clutch slip are not).
        max_dt: ... and at most this far apart (s).
        drift_min_gear, drift_min_speed: the ratio is learnt and scored in this gear or
            higher, at this speed or faster, with the gear unchanged over three samples.
        level_fading: fading factor of the per-gear ratio mean (~1/samples remembered).
        warmup: samples of a gear before its ratio is scored.
        rearm: an alarm ends when its residual falls below this fraction of the line ...
        quiet: ... and no new alarm of the same kind is raised for this many samples;
        repeat: an alarm that lasts is raised again every this many samples.
    """

    spike_speed: float = 0.13
    spike_rpm: float = 0.13
    spike_speed_low: float = 0.16
    spike_rpm_low: float = 0.17
    high_gear: int = 4
    noise_speed: float = 0.06
    noise_rpm: float = 0.05
    drift: float = 0.14
    stuck: float = 0.06
    stuck_samples: int = 5
    min_speed: float = 40.0
    max_dt: float = 0.6
    noise_window: int = 20
    noise_window_rpm: int = 30
    noise_burst: int = 4
    noise_burst_window: int = 20
    noise_burst_fraction: float = 0.5
    drift_window: int = 15
    drift_min_gear: int = 1
    drift_min_speed: float = 50.0
    level_fading: float = 0.005
    warmup: int = 20
    rearm: float = 0.8
    quiet: int = 8
    repeat: int = 40

    #: the fields that are alarm lines (log units), scaled together by :meth:`scaled`
    LINES: ClassVar[tuple[str, ...]] = (
        "spike_speed",
        "spike_rpm",
        "spike_speed_low",
        "spike_rpm_low",
        "noise_speed",
        "noise_rpm",
        "drift",
        "stuck",
    )

    def scaled(self, factor: float) -> RiverLimits:
        """These limits with every alarm line multiplied by ``factor`` (for a recall/false-alarm curve).

        >>> RiverLimits().scaled(2.0).drift == 2 * RiverLimits().drift
        True
        """
        return replace(self, **{f: getattr(self, f) * factor for f in self.LINES})


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
        "last_t",
        "shared_run",
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
        self.last_t: float | None = None
        self.shared_run = 0  # samples in a row with none of the stream's sample times missing


class RuleChecker(PerDriverState):
    """Physical rule checks with a little per-driver state (previous position, runs).

    The sample times of the stream (every car's, for the dropout rule) are shared, not per
    driver: a consumer that takes a driver over learns them again from its own stream.
    """

    _per_driver_attr = "_state"

    def __init__(self, limits: RuleLimits | None = None) -> None:
        self.limits = limits or RuleLimits()
        self._state: dict[str, _RuleState] = {}
        self._stamps: list[float] = []  # recent sample times of any car, sorted

    def reset(self) -> None:
        """Forget every driver's state."""
        self._state.clear()
        self._stamps.clear()

    def _driver(self, msg: Mapping[str, Any]) -> _RuleState:
        drv = str(msg.get("driver"))
        st = self._state.get(drv)
        if st is None:
            st = self._state[drv] = _RuleState()
        return st

    def observe(self, msg: Mapping[str, Any]) -> None:
        """Note the time of a message that is not checked (not on a racing lap), for the dropout rule."""
        self._missed(self._driver(msg), msg.get("session_time"))

    def _missed(self, st: _RuleState, t: Any) -> int:
        """Sample times other cars had since this car's previous sample (live timing sends every car at once)."""
        if t is None or t != t:
            return 0
        stamps, prev = self._stamps, st.last_t
        missed = 0
        if prev is not None and t > prev:
            missed = bisect.bisect_left(stamps, t) - bisect.bisect_right(stamps, prev)
        st.last_t = t
        i = bisect.bisect_left(stamps, t)
        if i == len(stamps) or stamps[i] != t:
            stamps.insert(i, t)
            if len(stamps) > 2 * self.limits.stamps_kept:
                del stamps[: len(stamps) - self.limits.stamps_kept]
        return missed

    def check(self, msg: Mapping[str, Any], feats: Mapping[str, float]) -> list[tuple[str, str]]:
        """(type, reason) of every rule the message breaks, highest priority first; updates state.

        The raw throttle sentinel and gear codes are data-quality notes
        (:meth:`AnomalyDetector.update`), not rule hits.
        """
        lim = self.limits
        st = self._driver(msg)
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
        missed = self._missed(st, msg.get("session_time"))
        if dt > 0 and typical > 0 and dt > max(lim.dropout_factor * typical, lim.dropout_min_s):
            hits.append(("dropout", f"no sample for {dt:.2f} s ({dt / typical:.0f}x the usual {typical:.2f} s)"))
        else:
            if dt > 0:
                st.dt_mean.update(dt)
            # a car missing from entries of the stream the other cars are in (only where the cars share times)
            if missed >= lim.dropout_samples and st.shared_run >= lim.dropout_shared:
                hits.append(
                    (
                        "dropout",
                        f"{missed} samples missing before this one ({dt:.2f} s gap; the other cars' stream has them)",
                    )
                )
        st.shared_run = st.shared_run + 1 if missed == 0 else 0
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


def _parabola4(a: float, b: float, c: float, d: float) -> tuple[float, float, float, float] | None:
    """Weights ``w`` such that ``sum(w[i] * y[i])`` is the least-squares parabola through four samples at
    times ``a, b, c, d`` (relative to the sample judged), evaluated at 0; None if no parabola fits.

    >>> w = _parabola4(-2.0, -1.0, 1.0, 2.0)
    >>> round(sum(wi * t * t for wi, t in zip(w, (-2.0, -1.0, 1.0, 2.0))), 9), round(sum(w), 9)
    (0.0, 1.0)
    >>> [round(x, 3) for x in _parabola4(-0.5, -0.25, 0.25, 0.5)]
    [-0.167, 0.667, 0.667, -0.167]
    """
    a2, b2, c2_, d2 = a * a, b * b, c * c, d * d
    s1 = a + b + c + d
    s2 = a2 + b2 + c2_ + d2
    s3 = a2 * a + b2 * b + c2_ * c + d2 * d
    s4 = a2 * a2 + b2 * b2 + c2_ * c2_ + d2 * d2
    k0, k1, k2 = s2 * s4 - s3 * s3, s2 * s3 - s1 * s4, s1 * s3 - s2 * s2
    det = 4 * k0 + s1 * k1 + s2 * k2
    if abs(det) < 1e-12:
        return None
    return (
        (k0 + k1 * a + k2 * a2) / det,
        (k0 + k1 * b + k2 * b2) / det,
        (k0 + k1 * c + k2 * c2_) / det,
        (k0 + k1 * d + k2 * d2) / det,
    )


def _bump(p: Sequence[float], q: Sequence[float], r: Sequence[float], j: int) -> float:
    """How far ``q[j]`` lies off the line from ``p[j]`` to ``r[j]`` (in time, index 0).

    >>> _bump((0.0, 1.0), (1.0, 3.0), (2.0, 1.0), 1), _bump((0.0, 1.0), (1.0, 2.0), (4.0, 5.0), 1)
    (2.0, 0.0)
    """
    return abs(q[j] - p[j] - (r[j] - p[j]) * (q[0] - p[0]) / (r[0] - p[0]))


#: The River residuals: (kind, channel) -> the RiverLimits field holding its alarm line.
RIVER_RESIDUALS: dict[tuple[str, str], str] = {
    ("spike", "speed"): "spike_speed",
    ("spike", "rpm"): "spike_rpm",
    ("noise", "speed"): "noise_speed",
    ("noise", "rpm"): "noise_rpm",
    ("drift", "speed/rpm"): "drift",
    ("stuck_sensor", "speed"): "stuck",
    ("stuck_sensor", "rpm"): "stuck",
}


_RESIDUAL_KEYS = tuple(RIVER_RESIDUALS)


class RiverAlarm(NamedTuple):
    """One River alarm: which residual, how far past its line, and a sentence for the anomaly log."""

    kind: str
    channel: str
    score: float
    text: str


class ResidualModel(RiverAnomalyDetector):
    """One driver's River residual detector: speed and rpm against their neighbours and each other.

    ``x`` is a dict with ``speed`` (km/h), ``rpm``, ``gear``, ``t`` (s) and, optionally,
    ``throttle`` and ``brake``. A sample is judged when the second sample after it has
    arrived (the consumer flags two messages late; a fault counts as found within two
    samples after it): its log speed and log rpm are compared with the least-squares
    parabola through the two samples on each side (*spike*, and the window median of the
    absolute residual: *noise*), its speed/rpm ratio with its neighbours' (a gear change
    moves the ratio for good, a glitch for one sample) and with the ratio learnt for the
    gear (River ``stats.EWMean``, not updated while it drifts; the window median:
    *drift*). The windows are River ``stats.RollingQuantile``. :meth:`score_one` returns
    the largest residual over its line (1.0 = the line, :attr:`last` says which);
    :meth:`learn_one` moves the windows and sets :attr:`alarm` when an alarm *episode*
    starts: a residual crossing its line after it was below ``rearm`` of it and ``quiet``
    samples after the last alarm of its kind, again every ``repeat`` samples it stays up.

    >>> m = ResidualModel()
    >>> xs = [{"speed": 150.0 + i, "rpm": 9000.0 + 60 * i, "gear": 4, "t": 0.25 * i} for i in range(60)]
    >>> for x in xs:
    ...     _ = m.score_one(x); m.learn_one(x)
    >>> m.alarm is None, m.score_one({"speed": 210.0, "rpm": 12600.0, "gear": 4, "t": 15.0}) < 1.0
    (True, True)
    >>> for x in ({"speed": 252.0, "rpm": 12600.0, "gear": 4, "t": 15.0},   # speed glitch: +20 %
    ...           {"speed": 211.0, "rpm": 12660.0, "gear": 4, "t": 15.25},
    ...           {"speed": 212.0, "rpm": 12720.0, "gear": 4, "t": 15.5}):
    ...     _ = m.score_one(x); m.learn_one(x)
    >>> m.alarm.kind, m.alarm.channel, m.alarm.score > 1.0
    ('spike', 'speed', True)
    """

    def __init__(self, limits: RiverLimits | None = None) -> None:
        self.limits = lim = limits or RiverLimits()
        self._buf: deque[tuple[float, float, float, float, float]] = deque(
            maxlen=4
        )  # t, log speed, log rpm, gear, speed
        self._noise = (
            stats.RollingQuantile(q=0.5, window_size=lim.noise_window),
            stats.RollingQuantile(q=0.5, window_size=lim.noise_window_rpm),
        )
        self._drift = stats.RollingQuantile(q=0.5, window_size=lim.drift_window)
        self._counts = [0, 0, 0]  # samples in the noise (speed, rpm) and drift windows
        # speed, rpm: the value, how many samples it has been kept, log(rpm/speed) when it was taken
        self._runs: list[list[float]] = [[math.nan, 0, 0.0], [math.nan, 0, 0.0]]
        self._levels: dict[int, Any] = {}  # gear -> River stats.Mean, then stats.EWMean
        self._level_n: dict[int, int] = {}
        self._lines = tuple(getattr(lim, f) for f in RIVER_RESIDUALS.values())
        self._lines_low = (lim.spike_speed_low, lim.spike_rpm_low, *self._lines[2:])
        self._used = self._lines
        self._windowed = [0.0, 0.0, 0.0]  # noise speed, noise rpm, drift: raw window values
        self._burst: deque[bool] = deque(maxlen=lim.noise_burst_window - 1)  # rpm peaks past a fraction of their line
        self._burst_n = 0
        # alarm episodes per residual: armed (fell below `rearm` since its last alarm), sample of its last alarm
        self._armed = [True] * len(RIVER_RESIDUALS)
        self._all_armed = True
        self._fired_at = [-(1 << 30)] * len(RIVER_RESIDUALS)
        self._n = 0
        self._cache: tuple[Any, ...] | None = None
        #: the residuals of the last scored sample over their lines (keys of RIVER_RESIDUALS, in order)
        self.parts: tuple[float, ...] = (0.0,) * len(RIVER_RESIDUALS)
        self.last: tuple[str, float, str] = ("", 0.0, "")  # (kind, score, channel) of the largest residual
        self.alarm: RiverAlarm | None = None

    @property
    def high_band(self) -> bool:
        """Whether the last scored sample was judged against the lines of ``high_gear`` and up (else the ``_low`` ones)."""
        return self._used is self._lines

    def _centre(self, new: tuple[float, float, float, float, float]) -> tuple[float, ...] | None:
        """Residuals of the sample two before ``new`` (t, log speed, log rpm, gear, speed): (t, e speed,
        e rpm, spike speed, spike rpm, log ratio, steady gear, speed, gear)."""
        buf = self._buf
        if len(buf) < 4:
            return None
        lim = self.limits
        w0, a, c, b = buf
        w4 = new
        tc, md = c[0], lim.max_dt
        if not (
            0.0 < a[0] - w0[0] <= md and 0.0 < tc - a[0] <= md and 0.0 < b[0] - tc <= md and 0.0 < w4[0] - b[0] <= md
        ):
            return None
        if min(w0[4], a[4], b[4], w4[4]) < lim.min_speed:
            return None
        wt = _parabola4(w0[0] - tc, a[0] - tc, b[0] - tc, w4[0] - tc)
        if wt is None:
            return None
        k0, k1, k3, k4 = wt
        e_s = c[1] - (k0 * w0[1] + k1 * a[1] + k3 * b[1] + k4 * w4[1])
        e_r = c[2] - (k0 * w0[2] + k1 * a[2] + k3 * b[2] + k4 * w4[2])
        # a peak or dip that sticks out more than either neighbour does from its own neighbours
        # (a glitch also pulls the parabola of the samples next to it: they are not to blame)
        spike_s = spike_r = 0.0
        if (c[1] > a[1] and c[1] > b[1]) or (c[1] < a[1] and c[1] < b[1]):
            if abs(e_s) >= max(_bump(w0, a, c, 1), _bump(c, b, w4, 1)):
                spike_s = abs(e_s)
        ratio = c[2] - c[1]
        if (c[2] > a[2] and c[2] > b[2]) or (c[2] < a[2] and c[2] < b[2]):
            if abs(e_r) >= max(_bump(w0, a, c, 2), _bump(c, b, w4, 2)):
                spike_r = min(abs(e_r), abs(ratio - (a[2] - a[1])), abs(ratio - (b[2] - b[1])))
        gear = c[3] if a[3] == c[3] == b[3] else math.nan
        return (tc, e_s, e_r, spike_s, spike_r, ratio, gear, c[4], c[3])

    def score_one(self, x: Mapping[str, float]) -> float:  # type: ignore[override]
        speed, rpm, gear = x["speed"], x["rpm"], x["gear"]
        new = (x.get("t", math.nan), math.log(max(speed, 1.0)), math.log(max(rpm, 1.0)), gear, speed)
        c = self._centre(new)
        lim = self.limits
        lines = self._lines if c is not None and c[8] >= lim.high_gear else self._lines_low
        self._used = lines
        ws, wr, wd = self._windowed
        stuck_s, stuck_r = self._stuck(x, new)
        spike_r = c[4] / lines[1] if c is not None else 0.0
        noise_r = wr / lines[3]
        burst = (self._burst_n + (spike_r >= lim.noise_burst_fraction)) / lim.noise_burst
        parts = (
            c[3] / lines[0] if c is not None else 0.0,
            spike_r,
            ws / lines[2],
            burst if burst > noise_r else noise_r,
            abs(wd) / lines[4],
            stuck_s / lines[5],
            stuck_r / lines[6],
        )
        self._cache = (x, new, c, parts)
        self.parts = parts
        i, best = 0, parts[0]
        for j in range(1, len(parts)):
            if parts[j] > best:
                i, best = j, parts[j]
        kind, channel = _RESIDUAL_KEYS[i]
        self.last = (kind, best, channel)
        return best

    def _stuck(self, x: Mapping[str, float], new: tuple[float, float, float, float, float]) -> tuple[float, float]:
        """How far the speed/rpm ratio moved since speed (rpm) took the value it has kept for ``stuck_samples``.

        Also how far it is from the ratio learnt for the gear (when learnt): a speed that
        stands still at an apex while the driver changes gear keeps the ratio of a gear.
        """
        lim = self.limits
        speed = new[4]
        if not speed >= lim.min_speed:
            return 0.0, 0.0
        need = lim.stuck_samples - 1
        (vs, ns, start_s), (vr, nr, start_r) = self._runs
        hold_s = speed == vs and ns >= need
        hold_r = x["rpm"] == vr and nr >= need
        if not (hold_s or hold_r):
            return 0.0, 0.0
        ratio, gear = new[2] - new[1], new[3]
        off = math.inf
        if gear == gear:
            level = self._levels.get(int(gear))
            if level is not None and self._level_n.get(int(gear), 0) >= lim.warmup:
                off = abs(ratio - level.get())
        return (min(abs(ratio - start_s), off) if hold_s else 0.0, min(abs(ratio - start_r), off) if hold_r else 0.0)

    def learn_one(self, x: Mapping[str, float]) -> None:  # type: ignore[override]
        lim = self.limits
        cache = self._cache
        if cache is None or cache[0] is not x:
            self.score_one(x)
            cache = self._cache
        assert cache is not None
        _, new, c, parts = cache
        self._cache = None
        self._n += 1
        # alarm episodes: one alarm when a residual crosses its line, again every `repeat` samples it stays up
        fired = -1
        rearm = lim.rearm
        if max(parts) < rearm:
            if not self._all_armed:
                self._armed = [True] * len(parts)
                self._all_armed = True
        else:
            self._all_armed = False
            for i, v in enumerate(parts):
                if v >= 1.0:
                    since = self._n - self._fired_at[i]
                    if (self._armed[i] and since > lim.quiet) or since >= lim.repeat:
                        self._armed[i], self._fired_at[i] = False, self._n
                        if fired < 0 or v > parts[fired]:
                            fired = i
                elif v < rearm:
                    self._armed[i] = True
        self.alarm = self._alarm(fired, parts[fired], c) if fired >= 0 else None
        burst = self._burst
        if len(burst) == burst.maxlen and burst[0]:
            self._burst_n -= 1
        peak = parts[1] >= lim.noise_burst_fraction
        burst.append(peak)
        self._burst_n += peak
        if c is not None:
            q = self._noise[0]
            q.update(abs(c[1]))
            self._counts[0] += 1
            self._windowed[0] = (q.get() or 0.0) if self._counts[0] >= lim.noise_window else 0.0
            g = c[6]
            if g == g:  # rpm jumps at a gear change: its jitter counts with the gear unchanged
                q = self._noise[1]
                q.update(abs(c[2]))
                self._counts[1] += 1
                self._windowed[1] = (q.get() or 0.0) if self._counts[1] >= lim.noise_window_rpm else 0.0
                if 1 <= g <= 8 and c[7] >= lim.drift_min_speed:
                    self._learn_ratio(int(g), c[5])
        buf = self._buf
        t = new[0]
        if buf and not t - buf[-1][0] <= 3 * lim.max_dt:
            buf.clear()
        buf.append(new)
        ratio = new[2] - new[1]
        for run, v in zip(self._runs, (x["speed"], x["rpm"]), strict=True):
            if v == run[0]:
                run[1] += 1
            else:
                run[0], run[1], run[2] = v, 1, ratio

    def _learn_ratio(self, g: int, ratio: float) -> None:
        lim = self.limits
        level = self._levels.get(g)
        n = self._level_n.get(g, 0)
        if level is not None and n >= lim.warmup and g >= lim.drift_min_gear:
            self._drift.update(ratio - level.get())
            self._counts[2] += 1
            self._windowed[2] = (self._drift.get() or 0.0) if self._counts[2] >= lim.drift_window else 0.0
        if abs(self._windowed[2]) >= 0.5 * lim.drift:
            return  # a drift must not be learnt away
        self._level_n[g] = n = n + 1
        if level is None:
            level = self._levels[g] = stats.Mean()
        elif n == int(1.0 / lim.level_fading):
            # a plain average of the first samples, then a slow exponential fade
            ew = stats.EWMean(fading_factor=lim.level_fading)
            ew.update(level.get())
            level = self._levels[g] = ew
        level.update(ratio)

    def _alarm(self, i: int, score: float, c: tuple[float, ...] | None) -> RiverAlarm:
        kind, channel = _RESIDUAL_KEYS[i]
        raw = score * self._used[i]
        if kind == "spike" and c is not None:
            text = f"{channel} at t={c[0]:.2f} s sticks out of its neighbours by {math.expm1(raw):.0%}" + (
                " and of their speed/rpm ratio" if channel == "rpm" else ""
            )
        elif kind == "noise" and channel == "rpm" and score > self._windowed[1] / self._used[i]:
            text = (
                f"rpm has {self._burst_n + 1} peaks past {self.limits.noise_burst_fraction:.0%} of its spike "
                f"line within {self.limits.noise_burst_window} samples"
            )
        elif kind == "noise":
            n = self.limits.noise_window if channel == "speed" else self.limits.noise_window_rpm
            text = f"{channel} jitters by {math.expm1(raw):.1%} (median over {n} samples)"
        elif kind == "stuck_sensor":
            run = self._runs[0 if channel == "speed" else 1]
            text = (
                f"{channel} has kept the value {run[0]:g} for {int(run[1]) + 1} samples while the speed/rpm "
                f"ratio moved {math.expm1(raw):.0%}"
            )
        else:
            text = (
                f"speed/rpm ratio is {math.expm1(abs(self._windowed[2])):.0%} off the value learnt for "
                f"each gear (median over {self.limits.drift_window} steady-gear samples)"
            )
        return RiverAlarm(kind, channel, score, f"River: {text} ({score:.1f}x its alarm line)")


def episode_alarms(parts: np.ndarray, limits: RiverLimits | None = None) -> np.ndarray:
    """Where one residual raises an alarm, replayed offline as :meth:`ResidualModel.learn_one` does it.

    ``parts`` holds one residual over its line (:attr:`ResidualModel.parts`, one column)
    on one driver's consecutive learnt samples. A sample alarms when the residual
    reaches its line and either it fell below ``limits.rearm`` of the line since its
    last alarm and more than ``limits.quiet`` samples passed, or ``limits.repeat``
    samples passed. Residuals are independent here: the streaming model raises one
    alarm per sample (the largest residual that fires) but whether a sample alarms is
    the OR of its residuals. A NaN residual neither alarms nor rearms. The loop runs
    over the samples at or past the line only.

    >>> v = np.array([1.2, 0.9, 1.1, 0.5, 1.3] + [0.0] * 4 + [1.0] + [1.5] * 45)
    >>> np.flatnonzero(episode_alarms(v)).tolist()  # 2: not rearmed; 4: within `quiet`; 49: `repeat` up
    [0, 9, 49]
    """
    lim = limits or RiverLimits()
    v = np.asarray(parts, dtype=float)
    out = np.zeros(len(v), dtype=bool)
    below = np.cumsum(v < lim.rearm)  # below[i]: samples under the rearm fraction up to i
    fired = -1
    for i in np.flatnonzero(v >= 1.0).tolist():
        if fired < 0 or ((below[i] > below[fired] and i - fired > lim.quiet) or i - fired >= lim.repeat):
            out[i] = True
            fired = i
    return out


class RiverDetector(PerDriverState):
    """One :class:`ResidualModel` per driver.

    Args:
        limits: the residuals' alarm lines.
    """

    _per_driver_attr = "_models"

    def __init__(self, limits: RiverLimits | None = None) -> None:
        self.limits = limits or RiverLimits()
        self._models: dict[str, ResidualModel] = {}

    def reset(self) -> None:
        """Forget every driver's model."""
        self._models.clear()

    def model(self, driver: str) -> ResidualModel:
        """The driver's model (made on first use)."""
        m = self._models.get(driver)
        if m is None:
            m = self._models[driver] = ResidualModel(self.limits)
        return m

    def update(self, driver: str, x: Mapping[str, float]) -> tuple[float, RiverAlarm | None]:
        """Score ``x`` then learn it: (largest residual over its line, the alarm raised on this sample or None)."""
        model = self.model(driver)
        score = model.score_one(x)
        model.learn_one(x)
        return score, model.alarm


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
            self.rules.observe(msg)
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
        score, alarm = 0.0, None
        if self.river is not None and not msg.get("in_pit"):
            x = {
                "speed": feats["speed"],
                "rpm": feats["rpm"],
                "gear": gear if gear_ok else math.nan,
                "throttle": thr,
                "brake": feats["brake"],
                "t": _float(msg.get("session_time")),
            }
            score, alarm = self.river.update(str(msg.get("driver")), x)
        out: dict[str, Any] = {
            "anomaly": False,
            "anomaly_score": _unit(score),
            "anomaly_type": None,
            "anomaly_reason": None,
            "anomaly_source": None,
            "quality": quality,
            "quality_reason": QUALITY_NOTES[quality] if quality else None,
        }
        if not hits and alarm is None:
            return out
        reasons = [h[1] for h in hits]
        kinds = [h[0] for h in hits]
        if alarm is not None:
            reasons.append(alarm.text)
            kinds.append(alarm.kind)
            score = max(score, alarm.score)
        kinds = sorted(set(kinds), key=ANOMALY_TYPES.index)
        source = "river+rule" if (hits and alarm) else ("rule" if hits else "river")
        out.update(
            anomaly=True,
            anomaly_score=1.0 if hits else _unit(score),
            anomaly_type=kinds[0],
            anomaly_reason="; ".join(reasons),
            anomaly_source=source,
        )
        return out
