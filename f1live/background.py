"""The one background-thread lifecycle shared by :class:`~f1live.producer.RealTimeProducer`
and :class:`~f1live.consumer.RealTimeConsumer`.

A client starts its loop with :meth:`BackgroundLoop._launch`; ``stop()`` (the client's own:
it knows what to wake) asks it to finish; :meth:`BackgroundLoop.join` waits and returns the
loop's summary, or raises what killed the thread; :meth:`BackgroundLoop.close` stops,
joins and releases the client's resources (``_close_clients``), and is what leaving a
``with`` block does. An exception in the loop never vanishes: it is logged, shown in the
client's status, kept in ``error`` and raised again by ``join``.

>>> import threading
>>> class Ticker(BackgroundLoop[int]):
...     kind = "ticker"
...     def __init__(self):
...         super().__init__()
...         self._stop = threading.Event()
...     def _set_status(self, text):
...         self.status = text
...     def start(self, fail=False):
...         def work():
...             if fail:
...                 raise ValueError("boom")
...             self._stop.wait(5)
...             self._summary = 42
...         self._launch(work)
...         return self
...     def stop(self):
...         self._stop.set()
>>> t = Ticker().start()
>>> t.running, t.join(0.01)
(True, None)
>>> t.stop(); t.join(5), t.running
(42, False)
>>> with Ticker() as t2:
...     _ = t2.start()
>>> t2.running, t2.summary
(False, 42)
>>> Ticker().start(fail=True).join(5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
RuntimeError: ticker failed: boom
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar

S = TypeVar("S")


class BackgroundLoop(Generic[S]):
    """Mixin: one daemon thread named ``f1live-<kind>`` running a client's loop.

    Subclasses set :attr:`kind`, implement ``stop()`` and ``_set_status(text)``, store the
    loop's result in ``self._summary``, release their clients in ``_close_clients()`` and
    call ``super().__init__()``.
    """

    kind: str = "worker"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._summary: S | None = None
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        """The background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def summary(self) -> S | None:
        """The last loop's result (None while running or before the first run)."""
        return self._summary

    def _set_status(self, text: str) -> None:  # pragma: no cover - subclasses show it
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - subclasses know what to wake
        """Ask the loop to finish (idempotent; safe before start)."""
        raise NotImplementedError

    def _close_clients(self) -> None:
        """Release what the client holds (Kafka clients); nothing by default."""

    def close(self) -> None:
        """Stop, join (up to 30 s) and release the clients (idempotent)."""
        self.stop()
        self._join_thread(30)
        self._close_clients()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _launch(self, work: Callable[[], Any]) -> None:
        """Run ``work()`` in the background thread, capturing any exception."""
        if self.running:
            raise RuntimeError(f"{self.kind} already running; stop() it first")
        self._summary = None
        self.error = None
        log = logging.getLogger(type(self).__module__)

        def target() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced through .error and join()
                self.error = exc
                log.exception("%s thread failed", self.kind)
                self._set_status(f"error: {exc}")

        self._thread = threading.Thread(target=target, name=f"f1live-{self.kind}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> S | None:
        """Wait for the background loop; its summary, or ``None`` if still running.

        Raises:
            RuntimeError: the loop died of an exception (chained).
        """
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return None
        if self.error is not None:
            raise RuntimeError(f"{self.kind} failed: {self.error}") from self.error
        return self._summary

    def _join_thread(self, timeout: float = 30.0) -> None:
        """Wait for the thread unless called from it (for ``close()``)."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
