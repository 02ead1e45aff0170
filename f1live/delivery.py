"""Delivery accounting: de-duplication by ``(run, driver, seq)`` and the delivery report.

The producer numbers each driver's messages ``seq = 0, 1, 2, ...`` within one run (the
run id travels in the ``f1live-run`` Kafka header). Because each driver is one Kafka
key, its messages stay in order within their partition, so a consumer should see every
driver's ``seq`` rise by exactly one. :class:`DeliveryTracker` records what arrived:

* ``seq <= last`` -> a duplicate (at-least-once redelivery after a restart): dropped;
* ``seq == last + 1`` -> in order, accepted;
* ``seq > last + 1`` -> accepted, and the missing range is recorded as a gap.

:func:`delivery_report` compares the producer's per-driver counts with what the
tracker accepted: produced = consumed per driver, in order, no gaps.

>>> t = DeliveryTracker()
>>> [t.accept("r1", "VER", s) for s in (0, 1, 1, 2, 5)]
[True, True, False, True, True]
>>> t.duplicates, t.gaps["r1", "VER"]
(1, [(3, 4)])
>>> rep = delivery_report({"VER": 6, "HAM": 2}, t, run_id="r1")
>>> rep.ok, rep.per_driver["VER"]["missing"], rep.per_driver["HAM"]["consumed"]
(False, 2, 0)
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any


class DeliveryTracker:
    """Thread-safe per-(run, driver) sequence tracking; share it across consumer restarts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: dict[tuple[str, str], int] = {}
        self.first: dict[tuple[str, str], int] = {}
        self.count: dict[tuple[str, str], int] = {}
        #: after a :meth:`resume` behind what was accepted: the old position (see :meth:`replayed`)
        self.replay_upto: dict[tuple[str, str], int] = {}
        self.gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self.duplicates = 0

    def accept(self, run: str, driver: str, seq: int) -> bool:
        """True if the message is new (process it), False for a duplicate (drop it)."""
        k = (run, driver)
        with self._lock:
            last = self.last.get(k)
            if last is not None and seq <= last:
                self.duplicates += 1
                return False
            if last is None:
                self.first[k] = seq
                if seq > 0:
                    self.gaps.setdefault(k, []).append((0, seq - 1))
            elif seq > last + 1:
                self.gaps.setdefault(k, []).append((last + 1, seq - 1))
            self.last[k] = seq
            self.count[k] = self.count.get(k, 0) + 1
            return True

    def advance(self, run: str, driver: str, seq: int) -> bool:
        """Like :meth:`accept` for a message replayed to rebuild state, which is neither
        counted nor a gap: True if it is past the last seen one (then it becomes the last).

        >>> t = DeliveryTracker()
        >>> t.advance("r1", "VER", 7), t.advance("r1", "VER", 7), t.accept("r1", "VER", 8), t.gaps
        (True, False, True, {})
        """
        k = (run, driver)
        with self._lock:
            last = self.last.get(k)
            if last is not None and seq <= last:
                return False
            self.last[k] = seq
            return True

    def positions(self, drivers: set[str] | frozenset[str]) -> dict[tuple[str, str], int]:
        """The last seq per ``(run, driver)`` of ``drivers`` (to hand them to another consumer)."""
        with self._lock:
            return {k: s for k, s in self.last.items() if k[1] in drivers}

    def resume(self, positions: Mapping[tuple[str, str], int]) -> None:
        """Continue from a checkpoint's :meth:`positions`: the next seq of each is new, no gap.

        Where this tracker had already accepted further (a consumer given back partitions it
        owned, from an older checkpoint), those messages stay accepted: until the old position
        they come again only to rebuild the analysis state (:meth:`replayed`), never counted twice.

        >>> t = DeliveryTracker()
        >>> [t.accept("r1", "VER", s) for s in range(5)] == [True] * 5
        True
        >>> t.resume({("r1", "VER"): 2})
        >>> t.replayed("r1", "VER", 4), t.advance("r1", "VER", 3), t.advance("r1", "VER", 4)
        (True, True, True)
        >>> t.replayed("r1", "VER", 5)
        False
        >>> t.per_driver(), t.accept("r1", "VER", 5), t.gaps
        ({'VER': 5}, True, {})
        """
        with self._lock:
            for k, seq in positions.items():
                prior = self.last.get(k)
                if prior is not None and prior > seq:
                    self.replay_upto[k] = max(prior, self.replay_upto.get(k, prior))
                self.last[k] = seq

    def replayed(self, run: str, driver: str, seq: int) -> bool:
        """True for a message accepted before a :meth:`resume` went back past it (rebuild only)."""
        upto = self.replay_upto.get((run, driver))
        return upto is not None and seq <= upto

    def runs(self) -> list[str]:
        with self._lock:
            return sorted({r for r, _ in self.count})

    def per_driver(self, run_id: str | None = None) -> dict[str, int]:
        """Accepted messages per driver (one run, or summed over all runs)."""
        out: dict[str, int] = {}
        with self._lock:
            for (r, d), c in self.count.items():
                if run_id is None or r == run_id:
                    out[d] = out.get(d, 0) + c
        return out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "duplicates": self.duplicates,
                "gaps": sum(len(v) for v in self.gaps.values()),
                "accepted": sum(self.count.values()),
            }


@dataclasses.dataclass
class DeliveryReport:
    """Produced vs consumed per driver for one producer run."""

    run_id: str | None
    ok: bool
    produced: int
    consumed: int
    duplicates: int
    per_driver: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def table(self) -> str:
        """A plain-text table, one line per driver."""
        lines = [f"{'driver':<7}{'produced':>9}{'consumed':>9}{'missing':>8}{'gaps':>6}  status"]
        for d, r in sorted(self.per_driver.items()):
            lines.append(
                f"{d:<7}{r['produced']:>9}{r['consumed']:>9}{r['missing']:>8}{len(r['gaps']):>6}  "
                f"{'ok' if r['ok'] else 'MISMATCH'}"
            )
        lines.append(
            f"total: produced {self.produced}, consumed {self.consumed}, duplicates dropped "
            f"{self.duplicates} -> {'OK' if self.ok else 'NOT OK'}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def delivery_report(
    produced: Mapping[str, int] | Any, tracker: DeliveryTracker, run_id: str | None = None
) -> DeliveryReport:
    """Compare ``produced`` (driver -> messages, or a ProducerSummary) with ``tracker``.

    A driver is ok when the consumed count equals the produced count, the first seq is
    0, the last is ``produced - 1`` and no gap was seen (so everything arrived in order).
    """
    if hasattr(produced, "per_driver") and hasattr(produced, "run_id"):
        run_id = run_id or produced.run_id
        produced = produced.per_driver
    per: dict[str, dict[str, Any]] = {}
    drivers = set(produced) | {d for (r, d) in tracker.count if run_id is None or r == run_id}
    for d in drivers:
        keys = [k for k in tracker.count if k[1] == d and (run_id is None or k[0] == run_id)]
        consumed = sum(tracker.count[k] for k in keys)
        gaps = [g for k in keys for g in tracker.gaps.get(k, [])]
        last = max((tracker.last[k] for k in keys), default=None)
        p = int(produced.get(d, 0))
        ok = consumed == p and not gaps and (p == 0 or last == p - 1)
        per[d] = {
            "produced": p,
            "consumed": consumed,
            "missing": max(p - consumed, 0),
            "last_seq": last,
            "gaps": gaps,
            "ok": ok,
        }
    return DeliveryReport(
        run_id=run_id,
        ok=all(r["ok"] for r in per.values()) and bool(per),
        produced=sum(int(v) for v in produced.values()),
        consumed=sum(r["consumed"] for r in per.values()),
        duplicates=tracker.duplicates,
        per_driver=per,
    )
