"""Lap chart: every driver's position at the end of each completed lap, in team colours, the
selected driver highlighted; pit stops marked; SC / VSC / red-flag laps and rain shaded."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.widgets.base import Panel, hold_tail, lap_ticks, padded
from f1live.widgets.view import View

#: Shading of neutralised laps and of rain on the lap axis.
SHADE_COLOURS = {"SC": "#f97316", "VSC": "#fb923c", "RED": "#dc2626", "RAIN": "#3b82f6"}


def bands(spans: list[tuple[float, float, str]], top: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Filled rectangles over the whole height for (x0, x1, kind) spans: x, y, fill colours.

    >>> x, y, c = bands([(3.0, 4.0, "SC")], 20.5)
    >>> x.tolist(), y.tolist(), c
    ([[3.0, 4.0, 4.0, 3.0]], [[0.5, 0.5, 20.5, 20.5]], ['#f97316'])
    """
    x = np.array([[a, b, b, a] for a, b, _ in spans], dtype=float).reshape(-1, 4)
    y = np.array([[0.5, 0.5, top, top]] * len(spans), dtype=float).reshape(-1, 4)
    return x, y, [SHADE_COLOURS[k] for _, _, k in spans]


class LapChartPanel(Panel):
    """Position (1 at the top) against lap for every driver; team-mates share a colour, the
    second one dashed. The selected driver is drawn thick on top. Dots: pit stops (at the
    in-lap). Shaded: laps the leader ran under SC, VSC or red flag, and rain (from the weather
    readings, on the leader's race distance).

    >>> from f1live.race_analysis import LapRecord, PitStop
    >>> def rec(d, k, p): return LapRecord(d, k, 0.0, 1.0, 80.0, p, "HARD", 1, k, False, False, "", False, False)
    >>> race = type("R", (), {"key": 1, "total_laps": 3, "teams": {"VER": "Red Bull Racing", "PER": "Red Bull Racing"},
    ...     "laps": {"VER": [rec("VER", 1, 2), rec("VER", 2, 1)], "PER": [rec("PER", 1, 1), rec("PER", 2, 2)]},
    ...     "pits": {"VER": [], "PER": [PitStop("PER", 2, 10.0, 30.0, False)]}, "order": ["VER", "PER"],
    ...     "flag_laps": [(2, "SC")], "rain_laps": [(1.5, 2.0)]})()
    >>> p = LapChartPanel(); p.update(View(race=race), "PER")
    >>> p.solid.y.tolist(), p.dashed.y.tolist(), p.selected.y.tolist(), p.pits.y.tolist()
    ([1.0, 2.0], [2.0, 1.0], [1.0, 2.0], [2.0])
    >>> p.shade.fill_colors
    ['#f97316', '#3b82f6']
    """

    title = "Lap chart"
    help = (
        "Position at the end of each completed lap (timing), one line per driver in team colours "
        "(the second driver of a team dashed); the selected driver thick. Dots: pit stops. Shaded: "
        "laps the leader ran under safety car, VSC or red flag (orange/red) and rain (blue)."
    )

    def __init__(self) -> None:
        super().__init__()
        self.xs = bq.LinearScale(min=0.0, max=78.0, allow_padding=False)
        self.ys = bq.LinearScale(min=0.5, max=20.5, reverse=True, allow_padding=False)
        sc = {"x": self.xs, "y": self.ys}
        self.shade = bq.Lines(
            x=[],
            y=[],
            scales=sc,
            fill="inside",
            colors=["#ffffff"],
            stroke_width=0,
            fill_colors=["#ffffff"],
            fill_opacities=[0.18],
        )
        self.solid = bq.Lines(x=[], y=[], scales=sc, colors=["#9ca3af"], stroke_width=1.6, opacities=[0.8])
        self.dashed = bq.Lines(
            x=[], y=[], scales=sc, colors=["#9ca3af"], stroke_width=1.6, opacities=[0.8], line_style="dashed"
        )
        self.selected = bq.Lines(x=[], y=[], scales=sc, colors=["#111827"], stroke_width=4)
        self.pits = bq.Scatter(x=[], y=[], scales=sc, default_size=36, colors=["#111827"], stroke="#111827")
        self.names = bq.Label(
            x=[],
            y=[],
            text=[],
            scales=sc,
            colors=["#374151"],
            font_size=10,
            default_size=10,
            x_offset=4,
            y_offset=3,
            apply_clip=False,
        )
        self.xax = ax = bq.Axis(scale=self.xs, label="lap", tick_values=lap_ticks(78), grid_color="#eee")
        ay = bq.Axis(
            scale=self.ys, orientation="vertical", label="position", tick_values=[1, 5, 10, 15, 20], grid_color="#eee"
        )
        self.figure = bq.Figure(
            marks=[self.shade, self.solid, self.dashed, self.selected, self.pits, self.names],
            axes=[ax, ay],
            animation_duration=0,
            fig_margin={"top": 8, "bottom": 36, "left": 44, "right": 36},
            layout=w.Layout(height="400px", width="100%"),
        )
        self.note = w.HTML(
            '<div class="f1-note">shaded: <b style="color:#f97316">SC/VSC</b> · '
            '<b style="color:#dc2626">red flag</b> · <b style="color:#3b82f6">rain</b>'
            " &nbsp;● pit stop</div>"
        )
        self._key: Any = None
        self.widget = self.card(self.note, self.figure)

    def update(self, view: View, selected: str | None = None) -> None:
        race = view.race
        if race is None or (race.key, selected) == self._key:
            return
        self._key = (race.key, selected)
        codes = [d for d in race.order if d in race.laps] + sorted(d for d in race.laps if d not in race.order)
        colours = {c: view.colour(c) for c in codes}
        seen: set[str] = set()
        solid: list[str] = []
        dashed: list[str] = []
        codes = [c for c in codes if any(r.position is not None for r in race.laps[c])]
        for c in sorted(codes):  # the first of a team (alphabetically) solid, its team-mate dashed
            (dashed if colours[c] in seen else solid).append(c)
            seen.add(colours[c])
        n = max((r[-1].lap for r in race.laps.values() if r), default=0)
        total = max(float(race.total_laps or n), 1.0)
        x = np.arange(1, n + 1, dtype=float)

        def rows(group: list[str]) -> np.ndarray:
            out = []
            for c in group:
                pos = np.full(n, np.nan)
                for r in race.laps[c]:
                    if r.position is not None:
                        pos[r.lap - 1] = r.position
                out.append(pos)
            return padded(out, n)

        spans = [(k - 1.0, float(k), label) for k, label in race.flag_laps] + [
            (a, b, "RAIN") for a, b in race.rain_laps
        ]
        top = float(max(len(codes), 1)) + 0.5
        with self.figure.hold_sync():
            self.xs.min, self.xs.max = 0.0, total
            self.xax.tick_values = lap_ticks(total)
            self.ys.min, self.ys.max = 0.5, top
        sx, sy, fills = bands(spans, top)
        with self.shade.hold_sync():
            self.shade.x, self.shade.y = sx, sy
            self.shade.fill_colors = fills or ["#ffffff"]
            self.shade.fill_opacities = [0.18] * max(len(fills), 1)
        for mark, group in ((self.solid, solid), (self.dashed, dashed)):
            with mark.hold_sync():
                lx, ly = hold_tail(np.tile(x, (len(group), 1)), rows(group)) if group and n else ([], [])
                mark.x, mark.y = lx, ly
                mark.colors = [colours[c] for c in group] or ["#9ca3af"]
        with self.selected.hold_sync():
            sel = hold_tail(x, rows([str(selected)])) if selected in codes and n else None
            self.selected.x, self.selected.y = (sel[0][0], sel[1][0]) if sel is not None else ([], [])
            self.selected.colors = [colours.get(selected or "", "#111827")]
        stops = [
            (p.lap, r.position, colours[c])
            for c in codes
            for p in race.pits.get(c, [])
            for r in race.laps[c]
            if r.lap == p.lap and r.position is not None
        ]
        with self.pits.hold_sync():
            self.pits.x = np.array([float(s[0]) for s in stops])
            self.pits.y = np.array([float(s[1]) for s in stops])
            self.pits.colors = [s[2] for s in stops] or ["#111827"]
        # names in a column at the newest lap, in the current order (positions there are unique)
        ends = [(float(n), float(i + 1), c) for i, c in enumerate(codes) if race.laps[c]]
        with self.names.hold_sync():
            self.names.x = np.array([e[0] for e in ends])
            self.names.y = np.array([e[1] for e in ends])
            self.names.text = [e[2] for e in ends]
