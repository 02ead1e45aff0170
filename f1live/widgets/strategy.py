"""Tyre strategy: one row per driver, each stint a bar in its compound's colour over the laps
completed so far, pit stops marked with their pit-lane time."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.widgets.base import Panel, lap_ticks
from f1live.widgets.style import COMPOUND_COLOURS, esc
from f1live.widgets.view import View

#: Row height in pixels (the figure grows with the number of drivers).
ROW_PX = 19


def compound_legend() -> str:
    """The compounds' colours as an HTML legend line."""
    dots = "".join(
        f'<span class="f1-tyre" style="border-color:{c}"></span>{esc(k.title())} &nbsp;'
        for k, c in COMPOUND_COLOURS.items()
    )
    return f'<div class="f1-note">{dots} &nbsp;◆ pit stop (pit-lane time, s)</div>'


class StrategyPanel(Panel):
    """Stints as horizontal bars over laps (lap ``k`` spans ``k-1 .. k``), rows in race order,
    the current stint growing as laps complete; a diamond at the end of each in-lap with the
    pit-lane time (entry to exit) where the laps table has both times.

    >>> from f1live.race_analysis import PitStop, Stint
    >>> p = StrategyPanel()
    >>> race = type("R", (), {"key": 1, "total_laps": 78, "order": ["VER", "ALO"],
    ...     "stints": {"VER": [Stint("VER", 1, "MEDIUM", 1, 30, 1)],
    ...                "ALO": [Stint("ALO", 1, "HARD", 1, 20, 1), Stint("ALO", 2, "MEDIUM", 21, 29, 1)]},
    ...     "pits": {"VER": [], "ALO": [PitStop("ALO", 20, 100.0, 124.5, False)]}})()
    >>> p.update(View(race=race))
    >>> p.bars.x.tolist(), p.bars.colors[1:], p.pit_text.text.tolist()
    ([[0.1, 29.9], [0.1, 19.9], [20.1, 28.9]], ['#F0F0EC', '#FFD12E'], ['24.5'])
    >>> p.names.text.tolist(), p.names.y.tolist()
    (['VER', 'ALO'], [0.0, 1.0])
    """

    title = "Tyre strategy"
    help = (
        "One row per driver (race order at the replay clock): each stint a bar in its compound's colour "
        "over the laps completed so far. A diamond marks a pit stop at the end of the in-lap, with the "
        "pit-lane time from pit entry to pit exit where timing has both."
    )

    def __init__(self) -> None:
        super().__init__()
        self.xs = bq.LinearScale(min=0.0, max=78.0, allow_padding=False)
        self.ys = bq.LinearScale(min=-0.6, max=19.6, reverse=True, allow_padding=False)
        sc = {"x": self.xs, "y": self.ys}
        self.edges = bq.Lines(x=[], y=[], scales=sc, colors=["#4b5563"], stroke_width=ROW_PX - 5)
        self.bars = bq.Lines(x=[], y=[], scales=sc, colors=["#9ca3af"], stroke_width=ROW_PX - 7)
        self.pits = bq.Scatter(
            x=[], y=[], scales=sc, marker="diamond", default_size=40, colors=["#111827"], stroke="#ffffff"
        )
        self.pit_text = bq.Label(
            x=[],
            y=[],
            text=[],
            scales=sc,
            colors=["#111827"],
            font_size=10,
            default_size=10,
            font_weight="bolder",
            x_offset=6,
            y_offset=4,
        )
        # driver codes as a label mark left of lap 0 (an axis' tick_labels set after its view was
        # created are not always applied by bqplot 0.13; a mark's data always is)
        self.names = bq.Label(
            x=[],
            y=[],
            text=[],
            scales=sc,
            colors=["#374151"],
            font_size=11,
            default_size=11,
            align="end",
            x_offset=-6,
            y_offset=0,
            apply_clip=False,
        )
        self.xax = bq.Axis(scale=self.xs, label="lap", tick_values=lap_ticks(78), grid_color="#eee")
        self.figure = bq.Figure(
            marks=[self.edges, self.bars, self.pits, self.pit_text, self.names],
            axes=[self.xax],
            animation_duration=0,
            fig_margin={"top": 6, "bottom": 36, "left": 44, "right": 10},
            layout=w.Layout(height=f"{20 * ROW_PX + 42}px", width="100%"),
        )
        self.note = w.HTML(compound_legend())
        self._key: Any = None
        self.widget = self.card(self.note, self.figure)

    def update(self, view: View) -> None:
        race = view.race
        if race is None or race.key == self._key:
            return
        self._key = race.key
        rows = [d for d in race.order if d in race.stints] + sorted(d for d in race.stints if d not in race.order)
        xs, ys, colours = [], [], []
        for i, code in enumerate(rows):
            for s in race.stints[code]:
                xs.append([s.first_lap - 1 + 0.1, s.last_lap - 0.1])
                ys.append([i, i])
                colours.append(COMPOUND_COLOURS.get(str(s.compound), "#9ca3af"))
        stops = [(rows.index(p.driver), p) for code in rows for p in race.pits.get(code, [])]
        total = float(race.total_laps or max((x[1] for x in xs), default=1.0) + 1)
        with self.figure.hold_sync():
            self.xs.min, self.xs.max = 0.0, total
            self.xax.tick_values = lap_ticks(total)
            self.ys.min, self.ys.max = -0.6, max(len(rows), 1) - 0.4
            self.figure.layout.height = f"{max(len(rows), 3) * ROW_PX + 42}px"
        with self.names.hold_sync():
            self.names.x, self.names.y = np.zeros(len(rows)), np.arange(len(rows), dtype=float)
            self.names.text = rows
        with self.edges.hold_sync(), self.bars.hold_sync():
            self.edges.x, self.edges.y = np.array(xs).reshape(-1, 2), np.array(ys, dtype=float).reshape(-1, 2)
            self.bars.x, self.bars.y = self.edges.x, self.edges.y
            self.bars.colors = colours or ["#9ca3af"]
        with self.pits.hold_sync(), self.pit_text.hold_sync():
            self.pits.x = np.array([float(p.lap) for _, p in stops])
            self.pits.y = np.array([float(i) for i, _ in stops])
            timed = [(i, p) for i, p in stops if p.pit_lane_s is not None]
            self.pit_text.x = np.array([float(p.lap) for _, p in timed])
            self.pit_text.y = np.array([float(i) for i, _ in timed])
            self.pit_text.text = [f"{p.pit_lane_s:.1f}" for _, p in timed]
