"""The UI refresher: one thread applying the latest snapshot to every panel at a fixed rate."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Refresher:
    """Calls ``apply(snapshot)`` every ``period_ms`` with the *latest* ``snapshot_fn()``.

    Frames, never data, are dropped when behind: the state keeps every message, and a
    late tick simply renders the newest state (the missed ticks are counted in
    ``dropped``).  A frame is skipped when ``changed(snapshot)`` says nothing moved,
    except once per ``idle_refresh_s`` so clocks and health stats stay current.

    ``stats()`` reports what the refresher itself costs, measured: applied frames per
    second and the CPU time of this thread divided by wall time (both over the last
    ``window_s`` seconds).

    >>> frames = []
    >>> r = Refresher(lambda: {"n": len(frames)}, frames.append, period_ms=10)
    >>> r.start(); time.sleep(0.3); r.stop(); r.join(2)
    >>> len(frames) > 5, r.is_alive(), r.stats()["applied"] == len(frames)
    (True, False, True)
    """

    def __init__(
        self,
        snapshot_fn: Callable[[], Any],
        apply: Callable[[Any], None],
        period_ms: int = 80,
        changed: Callable[[Any], bool] | None = None,
        idle_refresh_s: float = 1.0,
        window_s: float = 5.0,
        name: str = "f1live-ui-refresher",
    ) -> None:
        if not 10 <= period_ms <= 5000:
            raise ValueError(f"period_ms={period_ms}: expected 10-5000 ms (Settings.ui_refresh_ms)")
        self.period_s = period_ms / 1000.0
        self._snapshot_fn = snapshot_fn
        self._apply = apply
        self._changed = changed
        self.idle_refresh_s = idle_refresh_s
        self.window_s = window_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name
        self._lock = threading.Lock()
        self.applied = 0
        self.skipped = 0
        self.dropped = 0
        self.errors = 0
        # (monotonic time, thread cpu time, applied count) samples for windowed rates
        self._samples: deque[tuple[float, float, int]] = deque(maxlen=1024)
        self._cpu = 0.0
        self.on_tick: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the thread (no-op when already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (idempotent; does not wait — see :meth:`join`)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ loop
    def _run(self) -> None:
        next_t = time.monotonic()
        last_applied = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_t:
                if self._stop.wait(next_t - now):
                    break
            try:
                for hook in list(self.on_tick):
                    hook()
                snap = self._snapshot_fn()
                now = time.monotonic()
                if self._changed is None or self._changed(snap) or now - last_applied >= self.idle_refresh_s:
                    self._apply(snap)
                    last_applied = now
                    self.applied += 1
                else:
                    self.skipped += 1
            except Exception:
                self.errors += 1
                log.exception("dashboard refresh failed")
                if self.errors > 50:
                    log.error("too many refresh errors; refresher stops")
                    break
            end = time.monotonic()
            self._cpu = time.thread_time()
            with self._lock:
                self._samples.append((end, self._cpu, self.applied))
            next_t += self.period_s
            if end > next_t:  # behind: skip the missed frames, render the newest state next
                missed = int((end - next_t) / self.period_s) + 1
                self.dropped += missed
                next_t += missed * self.period_s

    def stats(self) -> dict[str, float]:
        """applied_per_s and cpu_share over the last ``window_s``, plus totals."""
        with self._lock:
            samples = list(self._samples)
        out: dict[str, float] = {
            "applied": self.applied,
            "skipped": self.skipped,
            "dropped": self.dropped,
            "errors": self.errors,
            "applied_per_s": float("nan"),
            "cpu_share": float("nan"),
        }
        if len(samples) >= 2:
            t1, c1, a1 = samples[-1]
            old = [s for s in samples if s[0] >= t1 - self.window_s]
            t0, c0, a0 = old[0] if len(old) >= 2 else samples[0]
            if t1 > t0:
                out["applied_per_s"] = (a1 - a0) / (t1 - t0)
                out["cpu_share"] = (c1 - c0) / (t1 - t0)
        return out
