"""Where a consumer's analysed messages go besides the live state: a JSON-lines file.

A sink gets each poll batch's analysed messages (:meth:`ResultSink.write`) and is flushed
before the consumer commits their offsets (:meth:`ResultSink.flush`), so what is committed
is on disk: a consumer that dies re-reads (and writes again) only what came after its last
commit. Duplicates are therefore possible around a crash, and carry the same
``(run, driver, seq)``.

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
>>> with JsonLinesSink(path, member="m1").open() as sink:
...     sink.write([({"driver": "VER", "seq": 7, "_run": "r1", "_partition": 2, "_offset": 40,
...                   "session_time": 5000.25}, {"anomaly": False}, 12.5, 3.0)])
>>> json.loads(path.read_text())
{'member': 'm1', 'run': 'r1', 'driver': 'VER', 'seq': 7, 'partition': 2, 'offset': 40, 'session_time': 5000.25, 'e2e_ms': 12.5, 'results': {'anomaly': False}}
>>> [r["seq"] for r in read_jsonl(path)]
[7]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

#: One analysed message as the consumer hands it on: (message, results, e2e ms, processing ms).
AnalysedMessage = tuple[dict[str, Any], dict[str, Any], float, float]


class ResultSink(Protocol):
    """Receives analysed messages; durable after :meth:`flush`."""

    def write(self, records: Sequence[AnalysedMessage]) -> None: ...

    def flush(self) -> None: ...


class JsonLinesSink:
    """One JSON object per analysed message (``member``, ``run``, ``driver``, ``seq``,
    ``partition``, ``offset``, ``session_time``, ``e2e_ms`` and ``results``), appended to ``path``.

    A line cut short by a kill (a partly written buffer) is skipped by :func:`read_jsonl`.
    """

    def __init__(self, path: Path | str, member: str | None = None) -> None:
        self.path = Path(path)
        self.member = member
        self._fh: IO[str] | None = None

    def open(self) -> JsonLinesSink:
        """Open the file for appending (creates its directory)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        return self

    def write(self, records: Sequence[AnalysedMessage]) -> None:
        fh = self._fh
        if fh is None:
            raise RuntimeError(f"{self.path}: open() the sink before writing")
        lines = []
        for msg, res, e2e, _proc in records:
            lines.append(
                json.dumps(
                    {
                        "member": self.member,
                        "run": msg.get("_run"),
                        "driver": msg["driver"],
                        "seq": msg["seq"],
                        "partition": msg.get("_partition"),
                        "offset": msg.get("_offset"),
                        "session_time": msg.get("session_time"),
                        "e2e_ms": round(e2e, 3),
                        "results": res,
                    },
                    separators=(",", ":"),
                    default=str,
                )
            )
        if lines:
            fh.write("\n".join(lines) + "\n")

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()

    def __enter__(self) -> JsonLinesSink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: Path | str) -> Iterator[dict[str, Any]]:
    """The records of a :class:`JsonLinesSink` file (a last line cut short by a kill is skipped)."""
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                yield json.loads(line)
            except ValueError:
                log.info("%s:%d: incomplete line skipped (the writer was killed mid-write)", path, n)
