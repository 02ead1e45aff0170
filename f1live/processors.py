"""The processor protocol: how analytics plug into :class:`f1live.consumer.RealTimeConsumer`.

A processor sees the *decoded, validated, de-duplicated* messages of one consumer poll as
a list of plain dicts (telemetry fields and envelope fields ``seq``, ``gseq``,
``event_time_ns``, ``produced_at_ns`` as named in :mod:`f1live.schema`, plus the Kafka
``_partition`` and ``_offset``), in partition order (so each driver's messages arrive in
``seq`` order), and returns one result
dict per message, in the same order. The consumer merges the results of every
processor into that message's analysis record, stores it in
:class:`f1live.state.LiveState` and (when asked) publishes it to
``Settings.analysis_topic``. Batching per poll lets a processor amortise per-call
overhead (one ``predict_proba`` on a matrix instead of one per row).

Well-known result keys (all optional): ``anomaly`` (bool), ``anomaly_score`` (float),
``anomaly_reason`` (str), ``anomaly_type`` (str), ``pit_stop_probability``,
``crash_risk``, ``tire_failure`` (floats 0-1). Any other JSON-able key is kept as is.

A processor that raises is logged and counted (``processor_errors``); the consumer
carries on and records ``{"processor_error": name}`` for that batch.

A processor that keeps state per driver can hand it over to another consumer (a
consumer-group rebalance, :mod:`f1live.handover`) by also implementing
:class:`DriverStateful`; :class:`PerDriverState` does it for a class whose state sits in
one ``{driver: state}`` dict.

>>> class Fast:
...     name = "fast"
...     def process_batch(self, msgs):
...         return [{"fast": m["speed"] > 250.0} for m in msgs]
>>> isinstance(Fast(), Processor)
True
>>> run_processors([Fast()], [{"speed": 280.0}, {"speed": 90.0}])
([{'fast': True}, {'fast': False}], 0)
>>> p = FunctionProcessor("kmh_to_ms", lambda m: {"speed_ms": round(m["speed"] / 3.6, 1)})
>>> p.process_batch([{"speed": 36.0}])
[{'speed_ms': 10.0}]
>>> class Counter(PerDriverState):
...     _per_driver_attr = "seen"
...     def __init__(self):
...         self.seen = {}
>>> a, b = Counter(), Counter()
>>> a.seen["VER"] = 3
>>> b.restore_driver("VER", a.driver_state("VER")); a.forget_driver("VER")
>>> a.seen, b.seen, isinstance(b, DriverStateful)
({}, {'VER': 3}, True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class Processor(Protocol):
    """Per-batch message processor.

    Attributes:
        name: short identifier (used in logs, errors and timing breakdowns).
    """

    name: str

    def process_batch(self, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return one result dict per message of ``msgs`` (same length, same order)."""
        ...


@runtime_checkable
class DriverStateful(Protocol):
    """Per-driver state that can move to another consumer: three verbs.

    ``driver_state(driver)`` returns a picklable object (``None``: nothing known about
    the driver); ``restore_driver(driver, state)`` continues from it exactly (the next
    message gives the result it would have given where the state came from);
    ``forget_driver(driver)`` drops it.
    """

    def driver_state(self, driver: str) -> Any: ...

    def restore_driver(self, driver: str, state: Any) -> None: ...

    def forget_driver(self, driver: str) -> None: ...


class PerDriverState:
    """Mixin implementing :class:`DriverStateful` for state kept in one ``{driver: state}``
    dict, the attribute named by :attr:`_per_driver_attr`."""

    _per_driver_attr: str = "_drivers"

    def _per_driver(self) -> dict[str, Any]:
        return getattr(self, self._per_driver_attr)

    def driver_state(self, driver: str) -> Any:
        return self._per_driver().get(driver)

    def restore_driver(self, driver: str, state: Any) -> None:
        if state is None:
            self._per_driver().pop(driver, None)
        else:
            self._per_driver()[driver] = state

    def forget_driver(self, driver: str) -> None:
        self._per_driver().pop(driver, None)


class FunctionProcessor:
    """Wrap a per-message function ``fn(msg) -> dict`` as a :class:`Processor`."""

    def __init__(self, name: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.name = name
        self._fn = fn

    def process_batch(self, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._fn(m) for m in msgs]


def run_processors(processors: Sequence[Processor], msgs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Run every processor over ``msgs``; merged results per message and the error count."""
    merged: list[dict[str, Any]] = [{} for _ in msgs]
    errors = 0
    for proc in processors:
        name = getattr(proc, "name", type(proc).__name__)
        try:
            results = proc.process_batch(msgs)
            if len(results) != len(msgs):
                raise ValueError(
                    f"processor {name!r} returned {len(results)} results for {len(msgs)} messages; "
                    "expected one result dict per message"
                )
        except Exception:
            errors += 1
            log.exception("processor %s failed on a batch of %d messages", name, len(msgs))
            for m in merged:
                m["processor_error"] = name
            continue
        for m, r in zip(merged, results, strict=True):
            if r:
                m.update(r)
    return merged, errors
