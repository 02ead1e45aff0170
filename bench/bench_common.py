"""What every benchmark's ending shares: one JSON line on stdout, and the same JSON in a file when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit_json(result: dict[str, Any], json_out: Path | None) -> None:
    """Print ``result`` as one JSON line (numpy floats as floats); also write it indented to ``json_out``."""
    print(json.dumps(result, default=float))
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1, default=float))
