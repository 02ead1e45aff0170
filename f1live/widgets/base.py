"""What every panel is: widgets built once, then ``update(view)`` on each frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np

from f1live.widgets.style import title_html
from f1live.widgets.view import View


class Panel:
    """Base class: ``widget`` is the panel's root; ``update`` must be cheap and idempotent."""

    title: str = ""
    help: str = ""

    def __init__(self) -> None:
        self.widget: w.Widget = w.VBox()

    def update(self, view: View) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def card(self, *children: w.Widget, width: str = "auto", flex: str = "1 1 0") -> w.VBox:
        """Wrap ``children`` in a titled card (CSS class ``f1-card``)."""
        head = w.HTML(title_html(self.title, self.help))
        box = w.VBox([head, *children], layout=w.Layout(width=width, flex=flex, min_width="0", overflow="hidden"))
        box.add_class("f1-card")
        box.add_class("f1-panel-" + type(self).__name__.lower())
        return box


def floats(values: Sequence[Any]) -> np.ndarray:
    """A float array with ``None``/non-numbers as NaN (bqplot skips NaNs).

    >>> floats([1, None, "x", 2.5]).tolist()[::3]
    [1.0, 2.5]
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        out = values.astype(float)
        out[~np.isfinite(out)] = np.nan
        return out
    try:  # fast path: numbers and None (numpy turns None into NaN)
        out = np.asarray(values, dtype=float)
        out[~np.isfinite(out)] = np.nan
        return out
    except (TypeError, ValueError):
        pass
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        try:
            f = float(v)
            out[i] = f if math.isfinite(f) else np.nan
        except (TypeError, ValueError):
            out[i] = np.nan
    return out


def set_domain(
    scale: object,
    values: np.ndarray,
    default: tuple[float, float] = (0.0, 1.0),
    pad: float = 0.05,
    floor: float | None = None,
) -> None:
    """Give a bqplot scale an explicit, non-degenerate domain from ``values``.

    bqplot derives a domain from the data otherwise, and an empty or constant series
    makes it ``undefined`` (console errors such as ``translate(590,undefined)``).

    >>> import bqplot as bq
    >>> sc = bq.LinearScale()
    >>> set_domain(sc, np.array([np.nan])); (sc.min, sc.max)
    (0.0, 1.0)
    >>> set_domain(sc, np.array([5.0, 5.0]), pad=0); (sc.min, sc.max)
    (4.5, 5.5)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        if hi - lo < 1e-9:
            lo, hi = lo - max(abs(lo) * 0.1, 0.5), hi + max(abs(hi) * 0.1, 0.5)
        span = hi - lo
        lo, hi = lo - pad * span, hi + pad * span
    else:
        lo, hi = default
    if floor is not None:
        lo = max(lo, floor)
    with scale.hold_sync():  # type: ignore[attr-defined]
        scale.min, scale.max = lo, hi  # type: ignore[attr-defined]


def padded(rows: Sequence[Any], width: int | None = None) -> np.ndarray:
    """Rows of different lengths as one 2-D float array, padded with NaN (a gap in bqplot),
    so a multi-line mark gets a rectangular array.

    >>> padded([[1, 2, 3], [4]]).tolist()[1][:1], padded([[1, 2, 3], [4]]).shape
    ([4.0], (2, 3))
    >>> padded([]).shape
    (0, 0)
    """
    n = max((len(r) for r in rows), default=0) if width is None else width
    out = np.full((len(rows), n), np.nan)
    for i, r in enumerate(rows):
        v = floats(list(r))[:n]
        out[i, : len(v)] = v
    return out


def hold_tail(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of a multi-line mark ends on its last finite point, repeated over the padding:
    bqplot places a line's label at its last point, and a NaN there is an invalid SVG
    transform (``translate(x,undefined)``, an error in the console). Gaps inside stay.

    >>> x, y = hold_tail(np.array([[1.0, 2.0, 3.0]]), np.array([[5.0, np.nan, np.nan]]))
    >>> x.tolist(), y.tolist()
    ([[1.0, 1.0, 1.0]], [[5.0, 5.0, 5.0]])
    """
    x, y = np.array(x, dtype=float, ndmin=2), np.array(y, dtype=float, ndmin=2)
    for i in range(len(y)):
        ok = np.flatnonzero(np.isfinite(y[i]) & np.isfinite(x[i]))
        if len(ok):
            x[i, ok[-1] + 1 :], y[i, ok[-1] + 1 :] = x[i, ok[-1]], y[i, ok[-1]]
    return x, y


#: Colours for a second or third driver whose team colour an earlier one already uses.
SLOT_COLOURS = ("#111827", "#9333ea", "#0891b2")


def distinct_colours(colours: Sequence[str]) -> list[str]:
    """Team colours, except that a repeated one (team-mates) takes a slot colour instead.

    >>> distinct_colours(["#3671C6", "#3671C6", "#F91536"])
    ['#3671C6', '#9333ea', '#F91536']
    """
    out: list[str] = []
    for i, c in enumerate(colours):
        out.append(c if c not in out else next(s for s in SLOT_COLOURS[i % 3 :] + SLOT_COLOURS if s not in out))
    return out


def lap_ticks(total: float) -> list[int]:
    """Tick values of a lap axis: lap 1, then every 10 laps (every 5 up to 30 laps).

    >>> lap_ticks(78)[:3], lap_ticks(78)[-1], lap_ticks(12)
    ([1, 10, 20], 70, [1, 5, 10])
    """
    step = 10 if total > 30 else 5
    return [1, *range(step, int(total) + 1, step)]
