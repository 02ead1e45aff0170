"""Lap traces from the stream: each driver's car-data samples of each lap, kept to compare
laps by distance (the driver-comparison panel).

A trace holds, per sample, the distance into the lap (the message's ``lap_distance``: speed
integrated since the lap's first sample, see :mod:`f1live.track`), the time since that first
sample, speed, throttle and brake. A lap is **complete** when the driver's messages moved on
to another lap (or to none, after the flag) and the lap was recorded from its first sample
(distance 0) -- a lap joined half-way by a seek is never complete. The next lap's first
sample closes it: the trace gets one last point there (its time, and the distance integrated
up to it), so a trace spans first sample to first sample and its duration is the lap time
to within the sampling (~0.3 s), as is the time delta at the line.

A seek starts a new segment: the laps still open are dropped, completed ones are kept, and a
query returns only laps completed at or before the replay clock (closed by a sample no later
than it), so after a seek backwards no lap from the future shows.

**Bound.** Samples are stored as ``array('f')``/``array('b')`` columns, 17 bytes each, at
most ``max_samples`` in all (default 600,000, about 10 MB; the oldest laps are dropped
first) and ``max_lap_samples`` per lap (4,000: 17 minutes at 3.8 Hz; a longer lap, such as
one under a red flag, stops being recorded and is not complete). The whole 2023 race, 20
drivers, is about 540,000 samples.

>>> tr = LapTraces()
>>> for i in range(4):   # lap 1 from its first sample, then the first sample of lap 2
...     tr.add({"driver": "VER", "lap_number": 1 if i < 3 else 2, "session_time": 100.0 + i,
...             "lap_distance": 50.0 * i if i < 3 else 0.0, "speed": 180.0, "throttle": 99.0, "brake": False})
>>> tr.complete_laps("VER", until=110.0)
[1]
>>> t = tr.trace("VER", 1, until=110.0)
>>> t.distance.tolist(), t.time.tolist(), t.end
([0.0, 50.0, 100.0, 150.0], [0.0, 1.0, 2.0, 3.0], 103.0)
>>> tr.trace("VER", 1, until=102.5) is None     # lap 2's first sample, which completes it, is later
True
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from f1live.timing import to_float


@dataclass(frozen=True)
class LapTrace:
    """One complete lap of one driver as streamed (arrays are copies)."""

    driver: str
    lap: int
    start: float  # session time of the lap's first sample
    end: float  # session time of the next lap's first sample (which completed it)
    distance: np.ndarray  # m into the lap (integrated speed)
    time: np.ndarray  # s since the first sample
    speed: np.ndarray  # km/h
    throttle: np.ndarray  # %
    brake: np.ndarray  # bool


class _Lap:
    __slots__ = (
        "driver",
        "lap",
        "start",
        "end",
        "dist",
        "time",
        "speed",
        "throttle",
        "brake",
        "complete",
        "truncated",
        "alive",
    )

    def __init__(self, driver: str, lap: int, start: float) -> None:
        self.driver, self.lap, self.start, self.end = driver, lap, start, start
        self.dist, self.time, self.speed, self.throttle = array("f"), array("f"), array("f"), array("f")
        self.brake = array("b")
        self.complete = self.truncated = False
        self.alive = True

    def __len__(self) -> int:
        return len(self.time)


class LapTraces:
    """Bounded per-driver, per-lap traces (see the module docstring). Not thread-safe: the
    owner (:class:`f1live.state.LiveState`) calls it under its lock."""

    BYTES_PER_SAMPLE = 17

    def __init__(self, max_samples: int = 600_000, max_lap_samples: int = 4000) -> None:
        self.max_samples = max_samples
        self.max_lap_samples = max_lap_samples
        self.samples = 0
        self._laps: dict[str, dict[int, _Lap]] = {}
        self._open: dict[str, _Lap] = {}
        self._order: deque[_Lap] = deque()

    def add(self, msg: dict[str, Any]) -> None:
        """Record one telemetry message (cheap: the consumer thread calls it per message)."""
        drv = msg.get("driver")
        if drv is None:
            return
        lap = msg.get("lap_number")
        t, d = to_float(msg.get("session_time")), to_float(msg.get("lap_distance"))
        cur = self._open.get(drv)
        if cur is not None and cur.lap != lap:
            del self._open[drv]
            # the driver moved on: the lap is complete if it was recorded from its start
            if not cur.truncated and len(cur) > 1 and cur.dist[0] <= 0.5 and t == t and t > cur.end:
                v0, v1 = cur.speed[-1], to_float(msg.get("speed"))
                step = 0.5 * (v0 + (v1 if v1 == v1 else v0)) / 3.6 * (t - cur.end)  # trapezoid, as lap_distance
                self._append(cur, t, cur.dist[-1] + step, msg)
                cur.complete = True
            cur = None
        if lap is None or t != t or d != d:
            return
        if cur is None:
            cur = self._open[drv] = self._new(drv, int(lap), t)
        if len(cur) >= self.max_lap_samples:
            cur.truncated = True
            return
        self._append(cur, t, d, msg)
        if self.samples > self.max_samples:
            self._evict()

    def _append(self, cur: _Lap, t: float, d: float, msg: dict[str, Any]) -> None:
        cur.end = t
        cur.dist.append(d)
        cur.time.append(t - cur.start)
        cur.speed.append(to_float(msg.get("speed")))
        cur.throttle.append(to_float(msg.get("throttle")))
        cur.brake.append(1 if msg.get("brake") else 0)
        self.samples += 1

    def _new(self, drv: str, lap: int, t: float) -> _Lap:
        laps = self._laps.setdefault(drv, {})
        old = laps.get(lap)
        if old is not None:  # recorded again (a seek back): the new recording replaces it
            self._drop(old)
        new = laps[lap] = _Lap(drv, lap, t)
        self._order.append(new)
        if len(self._order) > 256 and len(self._order) > 2 * sum(map(len, self._laps.values())):
            self._order = deque(v for v in self._order if v.alive)  # forget dropped laps
        return new

    def _drop(self, lap: _Lap) -> None:
        if lap.alive:
            lap.alive = False
            self.samples -= len(lap)
            lap.dist, lap.time, lap.speed, lap.throttle, lap.brake = (array("f"),) * 4 + (array("b"),)
            laps = self._laps.get(lap.driver, {})
            if laps.get(lap.lap) is lap:
                del laps[lap.lap]

    def _evict(self) -> None:
        skipped = 0
        while self.samples > self.max_samples and skipped < len(self._order):
            oldest = self._order.popleft()
            if oldest is self._open.get(oldest.driver):  # never the lap being recorded
                self._order.append(oldest)
                skipped += 1
                continue
            self._drop(oldest)

    def new_segment(self) -> None:
        """The replay jumped: laps still open will never be seen whole; drop them."""
        for lap in self._open.values():
            self._drop(lap)
        self._open.clear()

    def clear(self) -> None:
        self._laps.clear()
        self._open.clear()
        self._order.clear()
        self.samples = 0

    # ------------------------------------------------------------------ queries
    def complete_laps(self, driver: str, until: float | None) -> list[int]:
        """The driver's laps completed at or before ``until`` (``None``: any time), in lap order."""
        laps = self._laps.get(driver, {})
        return sorted(k for k, v in laps.items() if v.complete and (until is None or v.end <= until))

    def trace(self, driver: str, lap: int | None, until: float | None) -> LapTrace | None:
        """A copy of one complete lap (``lap=None``: the latest complete one), or None."""
        done = self.complete_laps(driver, until)
        if not done:
            return None
        k = done[-1] if lap is None else lap
        v = self._laps[driver].get(k)
        if v is None or k not in done:
            return None
        return LapTrace(
            driver,
            k,
            v.start,
            v.end,
            np.array(v.dist, dtype=float),
            np.array(v.time, dtype=float),
            np.array(v.speed, dtype=float),
            np.array(v.throttle, dtype=float),
            np.array(v.brake, dtype=bool),
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the samples (the bound in the module docstring)."""
        return self.samples * self.BYTES_PER_SAMPLE
