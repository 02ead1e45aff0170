"""Pipeline health: throughput, end-to-end latency p50/p99 over time, lag, DLQ, component status."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.widgets.base import Panel, floats, set_domain
from f1live.widgets.style import chip, esc, fmt_num, tile
from f1live.widgets.view import View


def status_level(text: str) -> str:
    """Colour class of a status string.

    >>> status_level("running"), status_level("paused"), status_level("error: x"), status_level("idle")
    ('ok', 'warn', 'bad', 'idle')
    """
    t = text.lower()
    if any(k in t for k in ("error", "fail", "dead", "crash")):
        return "bad"
    if any(k in t for k in ("pause", "start", "wait", "lag", "seek", "drain")):
        return "warn"
    if any(k in t for k in ("run", "ok", "up", "consum", "produc", "ready", "kafka", "tansu")):
        return "ok"
    return "idle"


def total_lag(lag: Any) -> int | None:
    """Sum of the known per-partition lags.

    >>> total_lag({0: 3, 1: None, 2: 4}), total_lag({})
    (7, None)
    """
    if not isinstance(lag, dict):
        return None
    vals = [int(v) for v in lag.values() if isinstance(v, (int, float))]
    return sum(vals) if vals else None


class HealthPanel(Panel):
    """Numbers from the consumer's live state plus the UI refresher's own rate and CPU share.

    >>> p = HealthPanel()
    >>> p.update(View(counters={"consumed": 10, "processed": 10, "dlq": 1, "lag": {0: 2}},
    ...               latency={"e2e_ms": {"p50": 4.0, "p99": 9.5, "rate": 120.0},
    ...                        "t": [1, 2], "p50_ms": [4.0, 4.2], "p99_ms": [9.0, 9.5], "msgs_per_s": [100, 120]},
    ...               status={"broker": "kafka running"}))
    >>> 'data-consumed="10"' in p.numbers.value, p.p99.y.tolist()
    (True, [9.0, 9.5])
    """

    title = "Pipeline health"
    help = (
        "End-to-end latency = consumer finished processing − producer send time (wall clock). "
        "Lag = high watermark − next offset, summed over partitions."
    )

    def __init__(self, window_s: int = 120) -> None:
        super().__init__()
        self.window_s = window_s
        self.ui_stats: dict[str, float] = {}
        self._chart_key: object = None
        self.numbers = w.HTML()
        self.numbers.add_class("f1-health-numbers")
        self.chips = w.HTML()
        xs = self.xs = bq.LinearScale(min=-float(window_s), max=0.0)
        ys = self.ys = bq.LinearScale(min=0.0, max=1.0)
        rs = self.rs = bq.LinearScale(min=0.0, max=1.0)
        self.p50 = bq.Lines(
            x=[],
            y=[],
            scales={"x": xs, "y": ys},
            colors=["#2563eb"],
            labels=["p50 ms"],
            display_legend=True,
            stroke_width=2,
        )
        self.p99 = bq.Lines(
            x=[],
            y=[],
            scales={"x": xs, "y": ys},
            colors=["#dc2626"],
            labels=["p99 ms"],
            display_legend=True,
            stroke_width=2,
        )
        self.rate = bq.Lines(
            x=[],
            y=[],
            scales={"x": xs, "y": rs},
            colors=["#9ca3af"],
            labels=["msgs/s"],
            display_legend=True,
            line_style="dashed",
        )
        axes = [
            bq.Axis(scale=xs, label="seconds ago", num_ticks=5, grid_color="#eee"),
            bq.Axis(scale=ys, orientation="vertical", label="e2e ms", num_ticks=4, grid_color="#eee"),
            bq.Axis(scale=rs, orientation="vertical", side="right", label="msgs/s", num_ticks=4, grid_lines="none"),
        ]
        self.figure = bq.Figure(
            marks=[self.rate, self.p50, self.p99],
            axes=axes,
            animation_duration=0,
            legend_location="top-left",
            legend_style={"stroke-width": 0},
            fig_margin={"top": 10, "bottom": 40, "left": 55, "right": 55},
            layout=w.Layout(height="210px", width="100%"),
        )
        self.widget = self.card(self.chips, self.numbers, self.figure)

    def update(self, view: View) -> None:
        c, lat = view.counters, view.latency
        e2e: dict[str, Any] = dict(lat.get("e2e_ms") or {})
        lag = total_lag(c.get("lag"))
        consumed = c.get("consumed", c.get("processed"))
        tiles = [
            tile("Msgs/s", fmt_num(e2e.get("rate"), 0), title="processed messages per second (recent)"),
            tile("E2E p50", fmt_num(e2e.get("p50"), 1), "ms"),
            tile("E2E p99", fmt_num(e2e.get("p99"), 1), "ms"),
            tile("Lag", fmt_num(lag), "msgs", colour="#d97706" if (lag or 0) > 1000 else None),
            tile("DLQ", fmt_num(c.get("dlq", 0)), colour="#dc2626" if c.get("dlq") else None),
            f'<span data-consumed="{int(consumed or 0)}" style="display:contents">'
            + tile("Consumed", f'<span class="f1-consumed">{int(consumed or 0)}</span>')
            + "</span>",
            tile(
                "UI frames/s",
                fmt_num(self.ui_stats.get("applied_per_s"), 1),
                title="dashboard refreshes applied per second (kernel side)",
            ),
            tile(
                "UI CPU",
                fmt_num(100 * self.ui_stats.get("cpu_share", float("nan")), 1),
                "%",
                title="CPU time of the refresher thread / wall time",
            ),
        ]
        # machine-readable copy of the shown numbers (benchmarks and tests read these)
        data = (
            f'<span class="f1-metrics" style="display:none" data-p50="{e2e.get("p50", "")}" '
            f'data-p99="{e2e.get("p99", "")}" data-rate="{e2e.get("rate", "")}" '
            f'data-ui-fps="{self.ui_stats.get("applied_per_s", "")}" '
            f'data-ui-cpu="{self.ui_stats.get("cpu_share", "")}" data-processed="{int(c.get("processed", 0) or 0)}"></span>'
        )
        self.numbers.value = f'{data}<div class="f1-tiles">{"".join(tiles)}</div>'
        comps = []
        for name in ("broker", "producer", "consumer", "models"):
            if name in view.status:
                text = view.status[name]
                comps.append(f'<span title="{esc(text)}">{chip(f"{name}: {text[:40]}", status_level(text))}</span>')
        self.chips.value = "".join(comps)
        t = floats(lat.get("t") or [])
        key = (len(t), float(t[-1]) if len(t) else None)
        if key == self._chart_key:  # the series has one point per second: redraw only then
            return
        self._chart_key = key
        if len(t):
            keep = t >= t.max() - self.window_s
            x = t[keep] - t.max()
            p50 = floats(lat.get("p50_ms") or [])[-len(t) :][keep]
            p99 = floats(lat.get("p99_ms") or [])[-len(t) :][keep]
            n = floats(lat.get("msgs_per_s") or [])[-len(t) :][keep]
        else:
            x = p50 = p99 = n = np.array([])
        set_domain(self.xs, np.array([-float(self.window_s), 0.0]), pad=0)
        set_domain(self.ys, np.concatenate([p50, p99, [0.0]]), pad=0.05, floor=0.0)
        set_domain(self.rs, np.concatenate([n, [0.0]]), pad=0.05, floor=0.0)
        with self.p50.hold_sync():
            self.p50.x, self.p50.y = x, p50
        with self.p99.hold_sync():
            self.p99.x, self.p99.y = x, p99
        with self.rate.hold_sync():
            self.rate.x, self.rate.y = x, n
