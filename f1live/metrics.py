"""Latency and throughput statistics with bounded memory.

:class:`LatencyStats` keeps exact running totals (count, mean, max, rate) over every
sample ever added, and the most recent ``window`` samples in a fixed-size numpy ring;
percentiles (p50/p95/p99) are *exact over that window* (the last 65 536 samples by
default, i.e. about 13 minutes of the full field at 1x), not estimated.
:class:`SecondSeries` turns a stream of samples into one point per wall-clock second
(count, p50, p99) for plots. Both are thread-safe.

>>> s = LatencyStats(window=4)
>>> for v in [1.0, 2.0, 3.0, 4.0, 100.0]:
...     s.add(v)
>>> s.count, s.max, s.percentile(50)
(5, 100.0, 3.5)
>>> round(s.mean, 1)
22.0
>>> percentiles([1.0, 2.0, 3.0, 4.0], (50, 99))
{'p50': 2.5, 'p99': 3.97}
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """Exact percentiles (linear interpolation) of ``values``; NaN when empty."""
    arr = np.fromiter(values, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q:g}": float("nan") for q in qs}
    res = np.percentile(arr, list(qs))
    return {f"p{q:g}": round(float(v), 6) for q, v in zip(qs, res, strict=True)}


class LatencyStats:
    """Running stats of a stream of samples (e.g. latencies in ms).

    Args:
        window: how many of the most recent samples percentiles are computed over.
        clock: monotonic time source used for the rate (seconds).

    ``rate`` is samples per second between the first and the last :meth:`add`.
    """

    def __init__(self, window: int = 65536, clock: Any = time.monotonic) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._buf = np.zeros(window, dtype=np.float64)
        self._n = 0
        self._sum = 0.0
        self._max = float("-inf")
        self._min = float("inf")
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._buf[self._n % self._buf.size] = value
            self._counted(1, value, value, value)

    def _counted(self, n: int, total: float, hi: float, lo: float) -> None:
        """Account for ``n`` samples just written to the window (caller holds the lock)."""
        self._n += n
        self._sum += total
        if hi > self._max:
            self._max = hi
        if lo < self._min:
            self._min = lo
        now = self._clock()
        if self._first_t is None:
            self._first_t = now
        self._last_t = now

    def extend(self, values: Iterable[float]) -> None:
        """Add several samples under one lock (one clock reading: they arrived together).

        >>> s = LatencyStats(window=4); s.extend([3.0, 1.0, 2.0]); s.extend([5.0, 4.0])
        >>> s.count, s.max, s.min, s.window_values().tolist()
        (5, 5.0, 1.0, [1.0, 2.0, 5.0, 4.0])
        """
        vals = [float(v) for v in values]
        if not vals:
            return
        with self._lock:
            buf, size = self._buf, self._buf.size
            i = self._n % size
            if i + len(vals) <= size:
                buf[i : i + len(vals)] = vals
            else:
                for k, v in enumerate(vals):
                    buf[(i + k) % size] = v
            self._counted(len(vals), sum(vals), max(vals), min(vals))

    @property
    def count(self) -> int:
        return self._n

    @property
    def mean(self) -> float:
        return self._sum / self._n if self._n else float("nan")

    @property
    def max(self) -> float:
        return self._max if self._n else float("nan")

    @property
    def min(self) -> float:
        return self._min if self._n else float("nan")

    @property
    def rate(self) -> float:
        """Samples per second between the first and last sample (NaN with < 2)."""
        with self._lock:
            if self._n < 2 or self._first_t is None or self._last_t is None:
                return float("nan")
            span = self._last_t - self._first_t
            return (self._n - 1) / span if span > 0 else float("nan")

    def _ordered(self) -> np.ndarray:
        """A copy of the window, oldest first (caller holds the lock)."""
        size = self._buf.size
        if self._n <= size:
            return self._buf[: self._n].copy()
        i = self._n % size
        return np.concatenate([self._buf[i:], self._buf[:i]])

    def window_values(self) -> np.ndarray:
        """A copy of the samples percentiles are computed over (oldest first)."""
        with self._lock:
            return self._ordered()

    def since(self, count: int) -> np.ndarray:
        """The samples added after the first ``count`` (those still in the window), oldest first.

        >>> st = LatencyStats(window=4)
        >>> st.extend([1.0, 2.0, 3.0]); n0 = st.count; st.extend([4.0, 5.0])
        >>> st.since(n0).tolist(), st.since(st.count).tolist(), st.since(0).tolist()
        ([4.0, 5.0], [], [2.0, 3.0, 4.0, 5.0])
        """
        with self._lock:
            n = self._n - count
            return self._ordered()[-n:] if n > 0 else np.empty(0)

    def percentile(self, q: float) -> float:
        vals = self.window_values()
        return float(np.percentile(vals, q)) if vals.size else float("nan")

    def summary(self, digits: int = 3) -> dict[str, float | int]:
        """count, rate, mean, p50, p95, p99, max (and min) as plain numbers."""
        vals = self.window_values()
        p = percentiles(vals, (50, 95, 99))

        def r(x: float) -> float:
            return round(float(x), digits) if np.isfinite(x) else float("nan")

        return {
            "count": self._n,
            "rate": r(self.rate),
            "mean": r(self.mean),
            "min": r(self.min),
            "p50": r(p["p50"]),
            "p95": r(p["p95"]),
            "p99": r(p["p99"]),
            "max": r(self.max),
            "window": int(vals.size),
        }


class SecondSeries:
    """One point per wall-clock second: (second, count, p50, p99) of the samples in it.

    Keeps the last ``seconds`` points (a deque). ``add`` takes the sample's time in
    seconds (e.g. ``time.time()``); the current second is finalised when a sample of a
    later second arrives or :meth:`points` is called.

    >>> ser = SecondSeries(seconds=10)
    >>> for t, v in [(100.1, 1.0), (100.5, 3.0), (101.2, 2.0)]:
    ...     ser.add(t, v)
    >>> ser.points(now=102.0)
    [(100, 2, 2.0, 2.98), (101, 1, 2.0, 2.0)]
    """

    def __init__(self, seconds: int = 300) -> None:
        self._points: deque[tuple[int, int, float, float]] = deque(maxlen=seconds)
        self._cur_sec: int | None = None
        self._cur: list[float] = []
        self._lock = threading.Lock()

    def _flush(self) -> None:
        if self._cur_sec is not None and self._cur:
            p = percentiles(self._cur, (50, 99))
            self._points.append((self._cur_sec, len(self._cur), p["p50"], p["p99"]))
        self._cur = []

    def add(self, t: float, value: float) -> None:
        sec = int(t)
        with self._lock:
            if sec != self._cur_sec:
                self._flush()
                self._cur_sec = sec
            self._cur.append(value)

    def points(self, now: float | None = None) -> list[tuple[int, int, float, float]]:
        """Finalised points; the current second is included once ``now`` has passed it."""
        now = time.time() if now is None else now
        with self._lock:
            if self._cur_sec is not None and int(now) > self._cur_sec:
                self._flush()
                self._cur_sec = None
            return list(self._points)
