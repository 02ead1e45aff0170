"""The ``--json`` output of the commands: one JSON document on stdout."""

from __future__ import annotations

import json
from typing import Any


def _default(o: object) -> object:
    import numpy as np  # only when there is something to convert: keeps the CLI's start quick

    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def to_json(obj: Any, indent: int | None = None) -> str:
    """``obj`` as JSON: numpy scalars as numbers, anything else JSON lacks as its ``str``.

    >>> import numpy as np
    >>> to_json({"n": np.int64(3), "p": ("a", 1), "path": __import__("pathlib").Path("x")})
    '{"n": 3, "p": ["a", 1], "path": "x"}'
    """
    return json.dumps(obj, indent=indent, default=_default)
