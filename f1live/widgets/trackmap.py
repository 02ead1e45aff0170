"""Track map: every car on the circuit outline (X/Y in metres), in team colours."""

from __future__ import annotations

import math
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.widgets.base import Panel, floats
from f1live.widgets.view import View


class TrackMapPanel(Panel):
    """All cars at their latest X/Y; the selected driver is ringed in red.

    The outline comes from the session metadata (``meta['outline']``, from
    :mod:`f1live.track`) and, until then, from the positions seen so far.  When the rows
    say ``position_estimated`` (no measured position data), a note says so.

    >>> p = TrackMapPanel()
    >>> p.update(View(drivers={"VER": {"latest": {"x": 1.0, "y": 2.0}},
    ...                        "ALO": {"latest": {"x": 3.0, "y": 4.0, "position_estimated": True}}}),
    ...          selected="ALO")
    >>> sorted(p.cars.names.tolist()), p.cars.names[p.cars.selected].tolist(), "estimated" in p.note.value
    (['ALO', 'VER'], ['ALO'], True)
    """

    title = "Track map"
    help = "Latest X/Y of every car (metres). Selected driver ringed."

    def __init__(self) -> None:
        super().__init__()
        self.xs, self.ys = bq.LinearScale(min=-1.0, max=1.0), bq.LinearScale(min=-1.0, max=1.0)
        sc = {"x": self.xs, "y": self.ys}
        self.outline = bq.Lines(x=[], y=[], scales=sc, colors=["#9ca3af"], stroke_width=7, opacity=[0.5])
        self.cars = bq.Scatter(
            x=[],
            y=[],
            scales=sc,
            names=[],
            display_names=True,
            default_size=110,
            stroke="#111827",
            stroke_width=1.0,
            colors=["#888888"],
            labels=["cars"],
            selected_style={"stroke": "#e10600", "stroke-width": 5},
        )
        # The selected car is styled by index (sent only when the selection or the car
        # order changes), not drawn by a second mark moved on every frame.
        self._selected_key: object = None
        self.figure = bq.Figure(
            marks=[self.outline, self.cars],
            animation_duration=0,
            fig_margin={"top": 8, "bottom": 8, "left": 8, "right": 8},
            min_aspect_ratio=1.0,
            max_aspect_ratio=1.0,
            layout=w.Layout(height="360px", width="100%"),
        )
        self.note = w.HTML()
        self.note.add_class("f1-note")
        self._outline_key: Any = None
        self._seen: list[tuple[float, float]] = []
        self._names_key: object = None
        self.widget = self.card(self.figure, self.note)

    def _set_extent(self, x: np.ndarray, y: np.ndarray) -> None:
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            return
        x0, x1, y0, y1 = x[ok].min(), x[ok].max(), y[ok].min(), y[ok].max()
        half = max(x1 - x0, y1 - y0, 1.0) / 2 * 1.08
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        with self.xs.hold_sync():
            self.xs.min, self.xs.max = float(cx - half), float(cx + half)
        with self.ys.hold_sync():
            self.ys.min, self.ys.max = float(cy - half), float(cy + half)

    def _update_outline(self, view: View, x: np.ndarray, y: np.ndarray) -> None:
        outline = view.meta.get("outline") or {}
        ox, oy = floats(outline.get("x") or []), floats(outline.get("y") or [])
        if len(ox) and len(ox) == len(oy):
            key = (len(ox), float(np.nansum(ox)))
            if key != self._outline_key:
                self._outline_key = key
                with self.outline.hold_sync():
                    self.outline.x, self.outline.y = ox, oy
                self._set_extent(ox, oy)
            return
        # No outline known: show the cloud of positions seen so far as the track.
        for a, b in zip(x, y, strict=True):
            if math.isfinite(a) and math.isfinite(b):
                self._seen.append((float(a), float(b)))
        if len(self._seen) > 4000:
            self._seen = self._seen[-4000:]
        if self._seen:
            arr = np.asarray(self._seen)
            self._set_extent(arr[:, 0], arr[:, 1])

    def update(self, view: View, selected: str | None = None) -> None:
        codes = [c for c in view.driver_codes if view.latest(c).get("x") is not None]
        rows = [view.latest(c) for c in codes]
        x = floats([r.get("x") for r in rows])
        y = floats([r.get("y") for r in rows])
        self._update_outline(view, x, y)
        colours = [view.colour(c) for c in codes] or ["#888888"]
        with self.cars.hold_sync():
            self.cars.x, self.cars.y = x, y
            if (codes, colours) != self._names_key:  # names/colours change rarely: send only then
                self._names_key = (codes, colours)
                self.cars.names = codes
                self.cars.colors = colours
            if (codes, selected) != self._selected_key:
                self._selected_key = (codes, selected)
                self.cars.selected = [codes.index(selected)] if selected in codes else None
        estimated = any(bool(r.get("position_estimated")) for r in rows)
        circuit = view.meta.get("circuit") or view.meta.get("event") or ""
        text = f"{len(codes)} cars"
        if circuit:
            text = f"{circuit} · {text}"
        if estimated:
            text += (
                " · <b>positions estimated</b> from lap distance on the circuit outline"
                " (the session has no measured X/Y)"
            )
        self.note.value = text
