"""Live telemetry of one driver: numbers plus a rolling speed trace with anomaly markers."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.schema import FIELDS
from f1live.widgets.base import Panel, floats
from f1live.widgets.style import COMPOUND_COLOURS, esc, fmt_num, tile
from f1live.widgets.view import View


def drs_label(code: object) -> str:
    """Human meaning of FastF1's raw DRS code (see ``schema.FIELDS['drs']``).

    >>> drs_label(12), drs_label(8), drs_label(0), drs_label(None)
    ('OPEN', 'ELIGIBLE', 'OFF', '—')
    """
    try:
        c = int(code)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "—"
    if c in (10, 12, 14):
        return "OPEN"
    if c == 8:
        return "ELIGIBLE"
    return "OFF"


class TelemetryPanel(Panel):
    """Speed, gear, rpm, throttle/brake, DRS, lap, compound, tyre life of the selected driver.

    The speed trace shows the last ``window_s`` seconds of session time, as seconds
    before the driver's newest sample (0 = now), so its axis stays put while the trace
    scrolls: a moving axis would be redrawn by the browser on every frame. Red dots mark
    messages the anomaly detector flagged.

    >>> p = TelemetryPanel(window_s=30)
    >>> p.update(View(drivers={"VER": {"latest": {"speed": 250.0, "gear": 7, "session_time": 10.0}}},
    ...               history={"VER": {"session_time": [9.0, 10.0], "speed": [240.0, 250.0],
    ...                                "anomaly": [False, True]}}))
    >>> p.selected, p.trace.x.tolist(), p.trace.y.tolist(), p.marks.x.tolist()
    ('VER', [-1.0, 0.0], [240.0, 250.0], [0.0])
    >>> (p.xs.min, p.xs.max)
    (-30.0, 0.0)
    """

    title = "Live telemetry"
    help = "Latest car-data sample of the selected driver, as consumed from Kafka."

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self.driver = w.Dropdown(options=[], description="Driver", layout=w.Layout(width="180px"))
        self.numbers = w.HTML()
        self.numbers.add_class("f1-telemetry-numbers")
        self.xs = xs = bq.LinearScale(min=-float(window_s), max=0.0)  # fixed: see the class docstring
        ys = bq.LinearScale(min=0, max=340)
        self.trace = bq.Lines(x=[], y=[], scales={"x": xs, "y": ys}, colors=["#111827"], stroke_width=2)
        self.marks = bq.Scatter(
            x=[], y=[], scales={"x": xs, "y": ys}, colors=["#dc2626"], default_size=48, marker="circle", stroke="white"
        )
        ax = bq.Axis(scale=xs, label="seconds before the newest sample", num_ticks=5, grid_color="#eee")
        ay = bq.Axis(scale=ys, orientation="vertical", label="km/h", num_ticks=5, grid_color="#eee")
        self.figure = bq.Figure(
            marks=[self.trace, self.marks],
            axes=[ax, ay],
            animation_duration=0,
            fig_margin={"top": 10, "bottom": 40, "left": 50, "right": 10},
            layout=w.Layout(height="210px", width="100%"),
        )
        self.widget = self.card(self.driver, self.numbers, self.figure)

    @property
    def selected(self) -> str | None:
        return self.driver.value

    def _sync_options(self, view: View) -> None:
        codes = view.driver_codes
        if sorted(codes) != sorted(self.driver.options):
            current = self.driver.value
            self.driver.options = codes
            if current in codes:
                self.driver.value = current
        if self.driver.value is None and codes:
            self.driver.value = codes[0]

    def update(self, view: View) -> None:
        self._sync_options(view)
        code = self.driver.value
        if code is None:
            self.numbers.value = '<div class="f1-note">waiting for the first message…</div>'
            return
        row = view.latest(code)
        compound = row.get("compound")
        tyre = (
            f'<span class="f1-tyre" style="border-color:{COMPOUND_COLOURS.get(str(compound), "#999")}"></span>'
            f"{esc(compound or '—')}"
        )
        brake = row.get("brake")
        tiles = [
            tile("Speed", fmt_num(row.get("speed")), FIELDS["speed"].unit, title=FIELDS["speed"].description),
            tile("Gear", fmt_num(row.get("gear")), title=FIELDS["gear"].description),
            tile("RPM", fmt_num(row.get("rpm")), title=FIELDS["rpm"].description),
            tile("Throttle", fmt_num(row.get("throttle")), "%", title=FIELDS["throttle"].description),
            tile(
                "Brake",
                "ON" if brake else ("off" if brake is not None else "—"),
                colour="#dc2626" if brake else None,
                title=FIELDS["brake"].description,
            ),
            tile(
                "DRS",
                drs_label(row.get("drs")),
                colour="#16a34a" if drs_label(row.get("drs")) == "OPEN" else None,
                title=FIELDS["drs"].description,
            ),
            tile("Lap", fmt_num(row.get("lap_number")), title=FIELDS["lap_number"].description),
            tile("Tyre", tyre, title=FIELDS["compound"].description),
            tile("Tyre life", fmt_num(row.get("tyre_life")), "laps", title=FIELDS["tyre_life"].description),
        ]
        colour = view.colour(code)
        self.numbers.value = (
            f'<div style="border-left:6px solid {colour};padding-left:8px">'
            f'<div class="f1-tiles">{"".join(tiles)}</div></div>'
        )
        t = floats(view.series(code, "session_time"))
        v = floats(view.series(code, "speed"))
        n = min(len(t), len(v))
        t, v = t[-n:], v[-n:]
        if n:
            keep = t >= (np.nanmax(t) - self.window_s)
            t, v = t[keep], v[keep]
        raw_flags = view.series(code, "anomaly")[-n:] if n else []
        flags = np.array([bool(f) for f in raw_flags], dtype=bool)
        if len(flags) == n and n:
            flags = flags[keep]
        else:
            flags = np.zeros(len(t), dtype=bool)
        if len(t) and np.isfinite(t).any():
            t = t - float(np.nanmax(t))
        with self.trace.hold_sync():
            self.trace.x, self.trace.y = t, v
            self.trace.colors = [colour]
        with self.marks.hold_sync():
            self.marks.x, self.marks.y = t[flags], v[flags]
