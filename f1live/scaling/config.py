"""What one weak-scaling experiment runs: modes, rates, consumer counts and their limits.

>>> cfg = ScaleConfig(consumers="4,1,2", modes=("process", "group"))
>>> cfg.consumers, cfg.modes, cfg.rates
((1, 2, 4), ('process', 'group'), ('max',))
>>> ScaleConfig(modes=("gpu",))
Traceback (most recent call last):
...
ValueError: modes ('gpu',): expected one or more of thread, process, group
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

#: How the N consumers run: threads of one process (the GIL shows), worker processes that
#: each own one partition (manual assignment), or worker processes that join one consumer
#: group and get their partitions from Kafka's group coordinator.
MODES: tuple[str, ...] = ("thread", "process", "group")

#: ``max``: drain a produced backlog (throughput); ``fixed``: a paced replay (end-to-end latency).
RATES: tuple[str, ...] = ("max", "fixed")


def parse_consumers(value: str | Iterable[int]) -> tuple[int, ...]:
    """``"1,2,4"`` (or an iterable of ints) -> ``(1, 2, 4)``; each must be >= 1.

    >>> parse_consumers([4, 1, 2, 2])
    (1, 2, 4)
    >>> parse_consumers("1,x")
    Traceback (most recent call last):
    ...
    ValueError: consumers '1,x': expected comma-separated integers like 1,2,4
    """
    items = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    out: set[int] = set()
    for item in items:
        if item == "":
            continue
        try:
            n = int(item)
        except (TypeError, ValueError):
            raise ValueError(f"consumers {value!r}: expected comma-separated integers like 1,2,4") from None
        if n < 1:
            raise ValueError(f"consumers {value!r}: every count must be >= 1, got {n}")
        out.add(n)
    if not out:
        raise ValueError(f"consumers {value!r}: give at least one count, e.g. 1,2,4")
    return tuple(sorted(out))


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
    """One experiment: which points to run and how.

    Attributes:
        consumers: consumer counts ``N`` (each gets ``N`` partitions and ``N`` streams).
        modes: ``thread``, ``process`` and/or ``group`` (see :data:`MODES`).
        rates: ``max`` (drain a backlog: throughput) and/or ``fixed`` (paced replay: latency).
        speed: replay speed factor of the ``fixed`` rate (1 = real time).
        duration: wall seconds each stream is replayed for at the ``fixed`` rate.
        messages_per_stream: backlog per stream (= per consumer) at the ``max`` rate.
        drivers_per_stream: how many real drivers one stream carries (20 = a full grid).
        drivers: explicit driver codes for a stream (overrides ``drivers_per_stream``).
        start_time: session time the replayed window starts at (default: race start).
        timeout: seconds a point may take once consumers are released.
        keep_topics: keep the per-run topics (default: delete them afterwards).
    """

    consumers: tuple[int, ...] = (1, 2, 4)
    modes: tuple[str, ...] = ("process",)
    rates: tuple[str, ...] = ("max",)
    speed: float = 10.0
    duration: float = 20.0
    messages_per_stream: int = 10_000
    drivers_per_stream: int = 20
    drivers: tuple[str, ...] | None = None
    start_time: float | None = None
    timeout: float = 180.0
    keep_topics: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "consumers", parse_consumers(self.consumers))
        for name, allowed in (("modes", MODES), ("rates", RATES)):
            vals = tuple(getattr(self, name))
            bad = [v for v in vals if v not in allowed]
            if bad or not vals:
                raise ValueError(f"{name} {vals!r}: expected one or more of {', '.join(allowed)}")
            object.__setattr__(self, name, vals)
        if "fixed" in self.rates and not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed {self.speed!r}: the fixed rate needs a positive speed factor (e.g. 1 or 10)")
        if self.duration <= 0:
            raise ValueError(f"duration {self.duration!r}: expected > 0 seconds")
        if self.messages_per_stream < 1:
            raise ValueError(f"messages_per_stream {self.messages_per_stream!r}: expected >= 1")
        if self.drivers_per_stream < 1:
            raise ValueError(f"drivers_per_stream {self.drivers_per_stream!r}: expected >= 1")
