"""What benchmarks share: one JSON line on stdout (and a file when asked), and how a process lowers its priority."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def emit_json(result: dict[str, Any], json_out: Path | None) -> None:
    """Print ``result`` as one JSON line (numpy floats as floats); also write it indented to ``json_out``."""
    print(json.dumps(result, default=float))
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1, default=float))


#: Linux scheduling policies a benchmark may run a process under (``idle``: only on CPU
#: time nothing else wants, below nice 19).
POLICIES = {"other": os.SCHED_OTHER, "batch": os.SCHED_BATCH, "idle": os.SCHED_IDLE}


def lower_priority(nice: int = 0, policy: str = "other") -> None:
    """Lower the calling process's CPU priority: ``nice`` steps, then ``policy`` (see :data:`POLICIES`)."""
    if nice:
        os.nice(nice)
    if policy != "other":
        os.sched_setscheduler(0, POLICIES[policy], os.sched_param(0))
