"""Lap times by lap for the selected driver and up to two compared drivers: personal bests,
in/out laps, laps under yellow / SC / VSC / red flag and deleted laps marked, none hidden."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.race_analysis import LapRecord, personal_best
from f1live.widgets.base import Panel, distinct_colours, lap_ticks, set_domain
from f1live.widgets.leaderboard import fmt_laptime
from f1live.widgets.style import esc
from f1live.widgets.view import View

#: Laps slower than this multiple of the drivers' median lap are drawn at the top edge with
#: their time written next to them (a pit lap or a red-flag lap would squash the others).
CLIP = 1.3
LINE_STYLES = ("solid", "dashed", "dotted")


def lap_points(rows: list[LapRecord], top: float) -> dict[str, np.ndarray]:
    """x/y of a driver's laps and of each kind of marked lap; times above ``top`` are put at
    ``top`` (``off`` lists them).

    >>> r = [LapRecord("VER", k, 0.0, 1.0, t, 1, "HARD", 1, k, k == 3, False, s, False, pb)
    ...      for k, t, s, pb in [(1, 84.0, "", False), (2, 78.0, "", True), (3, 99.0, "YELLOW", False)]]
    >>> p = lap_points(r, 90.0)
    >>> p["y"].tolist(), p["pb_x"].tolist(), p["pit_x"].tolist(), p["flag_x"].tolist(), p["off_x"].tolist()
    ([84.0, 78.0, 90.0], [2.0], [3.0], [3.0], [3.0])
    """
    timed = [r for r in rows if r.lap_time is not None]
    x = np.array([float(r.lap) for r in timed])
    y = np.array([min(float(r.lap_time), top) for r in timed])  # type: ignore[arg-type]

    def pick(cond: Any) -> tuple[np.ndarray, np.ndarray]:
        idx = [i for i, r in enumerate(timed) if cond(r)]
        return x[idx], y[idx]

    out = {"x": x, "y": y}
    for name, cond in (
        ("pb", lambda r: r.personal_best),
        ("pit", lambda r: r.in_lap or r.out_lap),
        ("flag", lambda r: bool(r.status)),
        ("deleted", lambda r: r.deleted),
        ("off", lambda r: r.lap_time > top),
    ):
        out[name + "_x"], out[name + "_y"] = pick(cond)
    out["off_text"] = np.array([fmt_laptime(r.lap_time) for r in timed if r.lap_time > top])  # type: ignore[operator]
    return out


class LapTimesPanel(Panel):
    """Lap time against lap, one line per driver (solid, dashed, dotted). Markers: green
    diamond personal best (when set), grey square in/out lap, amber triangle a lap under
    yellow / SC / VSC / red flag, red cross a deleted lap. Laps slower than 1.3 x the median
    are drawn at the top edge with their time.

    >>> from f1live.race_analysis import LapRecord
    >>> rows = [LapRecord("VER", k, 0.0, 1.0, t, 1, "HARD", 1, k, False, False, "", False, k == 2)
    ...         for k, t in [(1, 84.0), (2, 78.0), (3, 79.0)]]
    >>> race = type("R", (), {"key": 1, "total_laps": 78, "laps": {"VER": rows}})()
    >>> p = LapTimesPanel(); p.update(View(race=race), ["VER"])
    >>> p.lines[0].y.tolist(), p.pb.x.tolist(), "1:18.000" in p.note.value
    ([84.0, 78.0, 79.0], [2.0], True)
    """

    title = "Lap times"
    help = (
        "Lap time of every completed lap for the selected driver and up to two compared drivers. "
        "Green diamond: personal best when it was set (F1 timing's rule: not lap 1, in/out laps or "
        "deleted laps). Grey square: in- or out-lap. Amber triangle: a lap run under yellow, SC, VSC "
        "or red flag. Red cross: deleted. Laps slower than 1.3 x the median sit at the top edge with "
        "their time."
    )

    def __init__(self) -> None:
        super().__init__()
        self.xs = bq.LinearScale(min=0.0, max=78.0, allow_padding=False)
        self.ys = bq.LinearScale(min=70.0, max=100.0, allow_padding=False)
        sc = {"x": self.xs, "y": self.ys}
        self.lines = [
            bq.Lines(x=[], y=[], scales=sc, colors=["#111827"], stroke_width=2, line_style=s) for s in LINE_STYLES
        ]
        self.pit = bq.Scatter(x=[], y=[], scales=sc, marker="square", default_size=30, colors=["#6b7280"])
        self.flag = bq.Scatter(x=[], y=[], scales=sc, marker="triangle-up", default_size=34, colors=["#d97706"])
        self.deleted = bq.Scatter(x=[], y=[], scales=sc, marker="cross", default_size=34, colors=["#dc2626"])
        self.pb = bq.Scatter(
            x=[], y=[], scales=sc, marker="diamond", default_size=48, colors=["#16a34a"], stroke="#ffffff"
        )
        self.off = bq.Label(
            x=[],
            y=[],
            text=[],
            scales=sc,
            colors=["#6b7280"],
            font_size=9,
            default_size=9,
            x_offset=-4,
            y_offset=12,
            align="end",
            rotate_angle=0,
        )
        self.xax = ax = bq.Axis(scale=self.xs, label="lap", tick_values=lap_ticks(78), grid_color="#eee")
        ay = bq.Axis(scale=self.ys, orientation="vertical", label="s", num_ticks=5, grid_color="#eee")
        self.figure = bq.Figure(
            marks=[*self.lines, self.pit, self.flag, self.deleted, self.pb, self.off],
            axes=[ax, ay],
            animation_duration=0,
            fig_margin={"top": 8, "bottom": 36, "left": 50, "right": 12},
            layout=w.Layout(height="260px", width="100%"),
        )
        self.note = w.HTML()
        self._key: Any = None
        self.widget = self.card(self.note, self.figure)

    def update(self, view: View, drivers: Sequence[str] = ()) -> None:
        race = view.race
        if race is None or (race.key, tuple(drivers)) == self._key:
            return
        self._key = (race.key, tuple(drivers))
        drivers = [d for d in drivers if d in race.laps][:3]
        colours = distinct_colours([view.colour(d) for d in drivers])
        times = np.array([r.lap_time for d in drivers for r in race.laps[d] if r.lap_time is not None], dtype=float)
        top = float(np.median(times) * CLIP) if len(times) else 100.0
        points = [lap_points(race.laps[d], top) for d in drivers]
        with self.figure.hold_sync():
            total = float(race.total_laps or max((r[-1].lap for r in race.laps.values() if r), default=1))
            self.xs.min, self.xs.max = 0.0, total
            self.xax.tick_values = lap_ticks(total)
            shown = np.r_[times[times <= top], top] if (times > top).any() else times  # the edge only if used
            set_domain(self.ys, shown, default=(70.0, 100.0))
        for i, line in enumerate(self.lines):
            with line.hold_sync():
                p = points[i] if i < len(points) else None
                line.x, line.y = (p["x"], p["y"]) if p is not None else ([], [])
                line.colors = [colours[i] if i < len(colours) else "#111827"]
        for name, mark in (("pb", self.pb), ("pit", self.pit), ("flag", self.flag), ("deleted", self.deleted)):
            with mark.hold_sync():
                mark.x = np.concatenate([p[name + "_x"] for p in points]) if points else []
                mark.y = np.concatenate([p[name + "_y"] for p in points]) if points else []
        with self.off.hold_sync():
            self.off.x = np.concatenate([p["off_x"] for p in points]) if points else []
            self.off.y = np.concatenate([p["off_y"] for p in points]) if points else []
            self.off.text = np.concatenate([p["off_text"] for p in points]).tolist() if points else []
        parts = []
        for d, c, style in zip(drivers, colours, LINE_STYLES, strict=False):
            best = personal_best(race.laps[d])
            last = race.laps[d][-1] if race.laps[d] else None
            parts.append(
                f'<span style="color:{c};font-weight:700">{esc(d)}</span> <span class="f1-note">'
                f"({style})</span> best {fmt_laptime(best.lap_time) if best else '—'}"
                f"{f' (lap {best.lap})' if best else ''}, last {fmt_laptime(last.lap_time) if last else '—'}"
            )
        legend = (
            '<span class="f1-note"> &nbsp;<b style="color:#16a34a">◆</b> personal best · '
            '<b style="color:#6b7280">■</b> in/out lap · <b style="color:#d97706">▲</b> yellow/SC/VSC/red · '
            '<b style="color:#dc2626">✕</b> deleted</span>'
        )
        self.note.value = f'<div style="font-size:12px">{" &nbsp;·&nbsp; ".join(parts) or "no laps yet"}</div>{legend}'
