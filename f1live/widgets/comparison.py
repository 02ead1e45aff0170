"""Driver comparison: speed, throttle and brake against distance into the lap for two or three
drivers on a chosen completed lap (default: each one's latest), and the time delta along it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.race_analysis import time_delta
from f1live.widgets.base import Panel, distinct_colours, hold_tail, padded
from f1live.widgets.leaderboard import fmt_laptime
from f1live.widgets.style import esc
from f1live.widgets.view import View

LATEST = "latest"
DISTANCE_NOTE = (
    "Distance into the lap = speed integrated over time from the lap's first car-data sample "
    "(the data has no car positions); the delta is the difference of the times at equal "
    "distance (positive: behind the first driver)."
)


def lap_options(trace_laps: dict[str, list[int]], drivers: Sequence[str]) -> list[tuple[str, Any]]:
    """The lap choices: each driver's latest, then the laps all of them completed (newest first).

    >>> lap_options({"VER": [30, 31, 32], "ALO": [30, 31]}, ["VER", "ALO"])
    [("each driver's latest", 'latest'), ('lap 31', 31), ('lap 30', 30)]
    """
    sets = [set(trace_laps.get(d) or []) for d in drivers]
    common = sorted(set.intersection(*sets), reverse=True) if sets else []
    return [("each driver's latest", LATEST)] + [(f"lap {k}", k) for k in common]


def _brake_rows(traces: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """x/y of the braking samples, one row below the throttle axis per driver."""
    xs = [t.distance[t.brake] for t in traces]
    ys = [np.full(int(t.brake.sum()), -15.0 - 12.0 * i) for i, t in enumerate(traces)]
    return (np.concatenate(xs), np.concatenate(ys)) if xs else (np.zeros(0), np.zeros(0))


class ComparisonPanel(Panel):
    """Two or three drivers on one lap each (the chosen one, or each one's latest complete lap)
    from the stream's lap traces: speed, throttle (brake as bars under it) and the time delta
    to the first driver, all against distance into the lap.

    >>> from f1live.laptraces import LapTrace
    >>> def tr(d, k, v): return LapTrace(d, k, 0.0, 2.0, np.array([0.0, 100.0, 200.0]),
    ...     np.array([0.0, 100 / v, 200 / v]), np.full(3, v * 3.6), np.full(3, 100.0), np.array([False, True, False]))
    >>> p = ComparisonPanel()
    >>> p.update(View(traces={"VER": tr("VER", 30, 50.0), "ALO": tr("ALO", 30, 40.0)},
    ...               trace_laps={"VER": [30], "ALO": [30]}), ["VER", "ALO"])
    >>> p.speed.y.shape, p.delta.y[-1][[0, 10, 20]].round(2).tolist()   # every 10 m
    ((2, 3), [0.0, 0.5, 1.0])
    >>> p.lap.options[1]
    ('lap 30', 30)
    """

    title = "Driver comparison"
    help = (
        "Speed, throttle and brake against distance into the lap for the selected and compared drivers, "
        "each on the chosen completed lap (default: each one's latest), as streamed; the time delta "
        "along the lap to the first driver. " + DISTANCE_NOTE
    )

    def __init__(self) -> None:
        super().__init__()
        self.xs = bq.LinearScale(min=0.0, max=3400.0, allow_padding=False)
        ys = bq.LinearScale(min=0.0, max=340.0, allow_padding=False)
        yt = bq.LinearScale(min=-45.0, max=105.0, allow_padding=False)
        self.yd = bq.LinearScale(min=-1.0, max=1.0, allow_padding=False)
        self.speed = bq.Lines(x=[], y=[], scales={"x": self.xs, "y": ys}, colors=["#111827"], stroke_width=1.5)
        self.throttle = bq.Lines(x=[], y=[], scales={"x": self.xs, "y": yt}, colors=["#111827"], stroke_width=1.2)
        self.brake = bq.Scatter(
            x=[], y=[], scales={"x": self.xs, "y": yt}, marker="rectangle", default_size=14, colors=["#111827"]
        )
        self.delta = bq.Lines(x=[], y=[], scales={"x": self.xs, "y": self.yd}, colors=["#111827"], stroke_width=1.8)
        self.zero = bq.Lines(
            x=[0.0, 1e5], y=[0.0, 0.0], scales={"x": self.xs, "y": self.yd}, colors=["#9ca3af"], stroke_width=1
        )
        margin = {"top": 6, "bottom": 6, "left": 50, "right": 12}

        def fig(marks: list[Any], axes: list[Any], height: int, bottom: int = 6) -> bq.Figure:
            return bq.Figure(
                marks=marks,
                axes=axes,
                animation_duration=0,
                fig_margin={**margin, "bottom": bottom},
                layout=w.Layout(height=f"{height}px", width="100%"),
            )

        self.figures = [
            fig(
                [self.speed],
                [
                    bq.Axis(scale=self.xs, tick_values=list(range(0, 8000, 500)), tick_format="d", grid_color="#eee"),
                    bq.Axis(
                        scale=ys,
                        orientation="vertical",
                        label="km/h",
                        tick_values=[0, 100, 200, 300],
                        grid_color="#eee",
                    ),
                ],
                170,
                22,
            ),
            fig(
                [self.throttle, self.brake],
                [bq.Axis(scale=yt, orientation="vertical", label="thr %", tick_values=[0, 50, 100], grid_color="#eee")],
                84,
            ),
            fig(
                [self.zero, self.delta],
                [
                    bq.Axis(
                        scale=self.xs,
                        label="distance into the lap (m)",
                        tick_values=list(range(0, 8000, 500)),
                        tick_format="d",
                        grid_color="#eee",
                    ),
                    bq.Axis(scale=self.yd, orientation="vertical", label="Δ s", num_ticks=4, grid_color="#eee"),
                ],
                120,
                36,
            ),
        ]
        self.lap = w.Dropdown(
            options=lap_options({}, []), value=LATEST, description="Lap", layout=w.Layout(width="230px")
        )
        self.lap.add_class("f1-compare-lap")
        self.note = w.HTML()
        self.hint = w.HTML(f'<div class="f1-note">{esc(DISTANCE_NOTE)}</div>')
        self._key: Any = None
        self.widget = self.card(w.HBox([self.lap]), self.note, *self.figures, self.hint)

    def request(self, drivers: Sequence[str]) -> dict[str, int | None]:
        """The lap traces the next snapshot should carry (``LiveState.snapshot(traces=...)``)."""
        lap = self.lap.value
        return {d: None if lap == LATEST else int(lap) for d in drivers[:3]}

    def update(self, view: View, drivers: Sequence[str] = ()) -> None:
        drivers = drivers[:3]
        options = lap_options(view.trace_laps, drivers)
        if options != list(self.lap.options):
            current = self.lap.value
            self.lap.options = options
            self.lap.value = current if current in [v for _, v in options] else LATEST
        traces = [view.traces.get(d) for d in drivers]
        shown = [t for t in traces if t is not None]
        key = (tuple(drivers), tuple((t.driver, t.lap, t.end) for t in shown))
        if key == self._key:
            return
        self._key = key
        colours = distinct_colours([view.colour(t.driver) for t in shown])
        missing = [d for d, t in zip(drivers, traces, strict=True) if t is None]
        parts = [
            f'<b style="color:{c}">{esc(t.driver)}</b> lap {t.lap} ({fmt_laptime(float(t.time[-1]))} '
            f"from first to last sample)"
            for t, c in zip(shown, colours, strict=True)
        ]
        if missing:
            parts.append(
                f'<span class="f1-note">no complete lap streamed yet for {esc(", ".join(missing))}'
                f"{' on this lap' if self.lap.value != LATEST else ''}</span>"
            )
        self.note.value = f'<div style="font-size:12px">{" · ".join(parts)}</div>'
        end = max((float(t.distance[-1]) for t in shown), default=3400.0)
        deltas = [time_delta(shown[0].distance, shown[0].time, t.distance, t.time) for t in shown] if shown else []
        dy = np.concatenate([d for _, d in deltas]) if deltas else np.zeros(0)
        lim = max(float(np.nanmax(np.abs(dy))) if len(dy) else 0.0, 0.2) * 1.1
        with self.xs.hold_sync(), self.yd.hold_sync():
            self.xs.min, self.xs.max = 0.0, end
            self.yd.min, self.yd.max = -lim, lim
        for mark, field in ((self.speed, "speed"), (self.throttle, "throttle")):
            with mark.hold_sync():
                mark.x, mark.y = (
                    hold_tail(padded([t.distance for t in shown]), padded([getattr(t, field) for t in shown]))
                    if shown
                    else ([], [])
                )
                mark.colors = colours or ["#111827"]
        bx, by = _brake_rows(shown)
        with self.brake.hold_sync():
            self.brake.x, self.brake.y = bx, by
            self.brake.colors = [c for t, c in zip(shown, colours, strict=True) for _ in range(int(t.brake.sum()))] or [
                "#111827"
            ]
        with self.delta.hold_sync():
            self.delta.x, self.delta.y = (
                hold_tail(padded([g for g, _ in deltas]), padded([d for _, d in deltas])) if deltas else ([], [])
            )
            self.delta.colors = colours or ["#111827"]
