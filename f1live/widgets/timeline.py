"""Timeline: the session on one axis -- lap ticks, flag periods, race-control flags, the replay
clock -- and a slider that seeks the replay when dragged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.widgets.base import Panel
from f1live.widgets.style import esc, fmt_clock
from f1live.widgets.view import View

log = logging.getLogger(__name__)

#: Track-status code -> colour of its period on the timeline.
STATUS_COLOURS = {"2": "#eab308", "4": "#f97316", "5": "#dc2626", "6": "#fb923c", "7": "#fdba74"}


def clock_text(view: View) -> str:
    """``Lap 12/78 · 1:16:53.0`` (or the session time alone before lap 1).

    >>> clock_text(View(session_time=4613.0, extra={"lap": 12}, meta={"total_laps": 78}))
    'Lap 12/78 · 1:16:53.0'
    >>> clock_text(View(session_time=60.0))
    '0:01:00.0'
    """
    lap = view.extra.get("lap")
    total = view.meta.get("total_laps")
    clock = fmt_clock(view.session_time)
    if lap:
        return f"Lap {lap}/{total} · {clock}" if total else f"Lap {lap} · {clock}"
    return clock


class TimelinePanel(Panel):
    """Lap ticks, flag periods and race-control flags over session time, a cursor at the
    replay clock and a slider: releasing the slider seeks the replay to that session time.

    The slider is the seek control, not the progress bar (the cursor is): a slider the
    kernel moved with the clock would fight the user's drag, and the value sent on release
    would be the clock's, not the user's.

    >>> p = TimelinePanel()
    >>> meta = {"timeline": {"start": 50.0, "end": 600.0, "race_start": 100.0,
    ...         "laps": [(1, 100.0), (2, 190.0)], "markers": [{"start": 150.0, "end": 170.0,
    ...         "status": "4", "label": "SC"}]}, "total_laps": 2}
    >>> p.update(View(session_time=160.0, meta=meta, extra={"lap": 1}, timing={"lap": 1},
    ...               events=[{"session_time": 150.0, "category": "Flag", "flag": "YELLOW"}]))
    >>> p.cursor.x.tolist(), "Lap 1/2" in p.label.value, p.flags.x.tolist(), p.slider.value
    ([160.0, 160.0], True, [150.0], 100.0)
    >>> np.atleast_2d(p.periods.x).tolist()   # the SC period so far, not to its end at 170 s
    [[150.0, 160.0]]
    >>> p.update(View(session_time=120.0, meta=meta, extra={"lap": 1}))  # after a seek back
    >>> len(p.periods.x)
    0
    >>> seeks = []; p.on_seek(seeks.append)
    >>> p.slider.value = 400.0   # as a user's drag would
    >>> seeks
    [400.0]
    """

    title = "Timeline"
    help = (
        "Session time with a tick at every lap start (the leader's), flag periods (yellow, SC, "
        "VSC, red), race-control flags and a cursor at the replay clock. Drag the slider below it "
        "and release to seek the replay there."
    )

    def __init__(self) -> None:
        super().__init__()
        self.xs = bq.LinearScale(min=0.0, max=1.0)
        ys = bq.LinearScale(min=0.0, max=1.0)
        sc = {"x": self.xs, "y": ys}
        self.periods = bq.Lines(
            x=[[0.0, 0.0]], y=[[0.5, 0.5]], scales=sc, stroke_width=14, colors=["#ffffff"], opacities=[0.0]
        )
        self.ticks = bq.Scatter(
            x=[], y=[], scales=sc, marker="rectangle", default_size=12, colors=["#6b7280"], stroke="#6b7280"
        )
        self.tick_labels = bq.Label(
            x=[], y=[], text=[], scales=sc, colors=["#374151"], font_size=10, align="middle", default_size=10
        )
        self.flags = bq.Scatter(x=[], y=[], scales=sc, marker="triangle-down", default_size=28, colors=["#2563eb"])
        self.cursor = bq.Lines(x=[0.0, 0.0], y=[0.0, 1.0], scales=sc, colors=["#111827"], stroke_width=2)
        self.figure = bq.Figure(
            marks=[self.periods, self.ticks, self.tick_labels, self.flags, self.cursor],
            animation_duration=0,
            fig_margin={"top": 2, "bottom": 2, "left": 12, "right": 12},
            layout=w.Layout(height="62px", width="100%"),
        )
        self.slider = w.FloatSlider(
            value=0.0,
            min=0.0,
            max=1.0,
            step=1.0,
            readout=False,
            continuous_update=False,
            layout=w.Layout(width="100%", margin="0 6px"),
        )
        self.slider.add_class("f1-timeline-slider")
        self.label = w.HTML()
        self.label.add_class("f1-timeline-clock")
        self._callbacks: list[Callable[[float], Any]] = []
        self._syncing = False
        self._key: Any = None
        self._periods: list[tuple[float, float, str]] = []
        self._shown_periods: tuple[tuple[float, float, str], ...] | None = None
        self.slider.observe(self._on_slider, names="value")
        self.widget = self.card(self.label, self.figure, self.slider)

    def on_seek(self, callback: Callable[[float], Any]) -> None:
        """Call ``callback(session_time)`` when the user moves the slider."""
        self._callbacks.append(callback)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        for cb in self._callbacks:
            try:
                cb(float(change["new"]))
            except Exception as exc:  # a seek that fails must not kill the widget
                log.warning("timeline seek failed: %s", exc)

    def _draw_session(self, tl: dict[str, Any]) -> None:
        start, end = float(tl["start"]), float(tl["end"])
        with self.xs.hold_sync():
            self.xs.min, self.xs.max = start, end
        self._periods = [
            (float(m["start"]), float(m["end"]) if m.get("end") is not None else end, STATUS_COLOURS[m["status"]])
            for m in tl.get("markers") or []
            if m.get("status") in STATUS_COLOURS
        ]
        self._shown_periods = None
        laps = [(int(k), float(t)) for k, t in tl.get("laps") or [] if t is not None]
        if laps:
            with self.ticks.hold_sync():
                self.ticks.x = np.array([t for _, t in laps])
                self.ticks.y = np.full(len(laps), 0.25)
            every = 10 if len(laps) > 30 else 5
            shown = [(k, t) for k, t in laps if k == 1 or k % every == 0]
            with self.tick_labels.hold_sync():
                self.tick_labels.x = np.array([t for _, t in shown])
                self.tick_labels.y = np.full(len(shown), 0.02)
                self.tick_labels.text = [f"L{k}" for k, _ in shown]
        self._syncing = True
        try:  # the slider refuses min > max at every step, so move the bound on the side of the move first
            hi = max(end, start + 1.0)
            with self.slider.hold_sync():
                if start > self.slider.max:
                    self.slider.max, self.slider.min = hi, start
                else:
                    self.slider.min, self.slider.max = start, hi
                race = tl.get("race_start")
                self.slider.value = float(race) if race is not None else start
        finally:
            self._syncing = False

    def update(self, view: View) -> None:
        tl = view.meta.get("timeline")
        if not tl:
            self.label.value = f'<span class="f1-note">{esc(clock_text(view))}</span>'
            return
        key = (tl.get("start"), tl.get("end"), len(tl.get("laps") or []))
        if key != self._key:
            self._key = key
            self._draw_session(tl)
        flags = [
            e
            for e in view.events
            if e.get("category") == "Flag"
            and str(e.get("flag") or "").upper() in ("RED", "YELLOW", "DOUBLE YELLOW", "CHEQUERED")
        ]
        if view.timing and len(flags) != len(self.flags.x):  # events come with the full frames
            with self.flags.hold_sync():
                self.flags.x = np.array([float(e["session_time"]) for e in flags])
                self.flags.y = np.full(len(flags), 0.9)
        t = view.session_time
        self.label.value = f'<b class="f1-lapclock">{esc(clock_text(view))}</b>'
        if t is None:
            return
        with self.cursor.hold_sync():
            self.cursor.x = [float(t), float(t)]
        self._draw_periods(float(t))

    def _draw_periods(self, t: float) -> None:
        """Flag periods as far as they have happened at the replay clock (one still running
        ends at the clock; later ones are not shown: the page never tells the future)."""
        shown = tuple((a, min(b, t), c) for a, b, c in self._periods if a <= t)
        key = tuple((a, round(b), c) for a, b, c in shown)
        if key == self._shown_periods:
            return
        self._shown_periods = key
        with self.periods.hold_sync():
            self.periods.x = [[a, b] for a, b, _ in shown]
            self.periods.y = [[0.62, 0.62]] * len(shown)
            self.periods.colors = [c for _, _, c in shown] or ["#000000"]
            self.periods.opacities = [0.9] * len(shown)
