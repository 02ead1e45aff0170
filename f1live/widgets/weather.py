"""Weather strip: air and track temperature, wind and rain from the session's weather readings
up to the replay clock, against minutes from lights out."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.schema import WEATHER_COLUMNS
from f1live.widgets.base import Panel, set_domain
from f1live.widgets.lapchart import bands
from f1live.widgets.style import fmt_num, tile
from f1live.widgets.view import View

AIR, TRACK, WIND = "#2563eb", "#ea580c", "#6b7280"


def compass(degrees: Any) -> str:
    """``225`` -> ``'SW'`` (wind direction, the one it blows from).

    >>> compass(0), compass(225), compass(None)
    ('N', 'SW', '—')
    """
    try:
        d = float(degrees)
    except (TypeError, ValueError):
        return "—"
    if d != d:
        return "—"
    return ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[int((d % 360) / 45 + 0.5) % 8]


class WeatherPanel(Panel):
    """The latest reading as tiles, and the readings so far as lines: air and track
    temperature (°C, left axis), wind speed (m/s, right axis, dashed); rain shaded.

    >>> wx = {"session_time": np.array([3600.0, 3660.0, 3720.0]), "air_temp": np.array([25.0, 25.1, 24.0]),
    ...       "track_temp": np.array([48.0, 47.0, 40.0]), "humidity": np.array([40.0, 41.0, 60.0]),
    ...       "rainfall": np.array([False, True, True]), "wind_speed": np.array([1.0, 2.0, 3.0]),
    ...       "wind_direction": np.array([180.0, 190.0, 225.0])}
    >>> race = type("R", (), {"key": 1, "weather": wx, "rain": [(3660.0, 3720.0)], "race_start": 3720.0})()
    >>> p = WeatherPanel(); p.update(View(race=race))
    >>> p.air.x.tolist(), p.rain.x.tolist(), "RAIN" in p.tiles.value, "SW" in p.tiles.value
    ([-2.0, -1.0, 0.0], [-1.0, 0.0, 0.0, -1.0], True, True)
    """

    title = "Weather"
    help = (
        "The session's weather station (about one reading a minute) up to the replay clock: air and "
        "track temperature, wind speed, rain periods shaded (also on the lap chart)."
    )

    def __init__(self) -> None:
        super().__init__()
        self.xs = bq.LinearScale(min=-60.0, max=0.0, allow_padding=False)
        self.yt = bq.LinearScale(min=15.0, max=50.0, allow_padding=False)
        self.yw = bq.LinearScale(min=0.0, max=5.0, allow_padding=False)
        self.rain = bq.Lines(
            x=[],
            y=[],
            scales={"x": self.xs, "y": bq.LinearScale(min=0.5, max=1.5)},
            fill="inside",
            colors=["#ffffff"],
            stroke_width=0,
            fill_colors=["#3b82f6"],
            fill_opacities=[0.18],
        )
        self.air = bq.Lines(x=[], y=[], scales={"x": self.xs, "y": self.yt}, colors=[AIR], stroke_width=2)
        self.track = bq.Lines(x=[], y=[], scales={"x": self.xs, "y": self.yt}, colors=[TRACK], stroke_width=2)
        self.wind = bq.Lines(
            x=[], y=[], scales={"x": self.xs, "y": self.yw}, colors=[WIND], stroke_width=1.5, line_style="dashed"
        )
        axes = [
            bq.Axis(scale=self.xs, label="minutes from lights out", num_ticks=8, grid_color="#eee"),
            bq.Axis(scale=self.yt, orientation="vertical", label="°C", num_ticks=4, grid_color="#eee"),
            bq.Axis(scale=self.yw, orientation="vertical", side="right", label="wind m/s", num_ticks=3),
        ]
        self.figure = bq.Figure(
            marks=[self.rain, self.air, self.track, self.wind],
            axes=axes,
            animation_duration=0,
            fig_margin={"top": 8, "bottom": 36, "left": 50, "right": 50},
            layout=w.Layout(height="190px", width="100%"),
        )
        self.tiles = w.HTML()
        self.tiles.add_class("f1-weather-tiles")
        self.legend = w.HTML(
            f'<div class="f1-note"><b style="color:{AIR}">—</b> air · <b style="color:{TRACK}">—'
            f'</b> track · <b style="color:{WIND}">- -</b> wind · <b style="color:#3b82f6">▮</b> rain'
            "</div>"
        )
        self._key: Any = None
        self.widget = self.card(self.tiles, self.legend, self.figure)

    def update(self, view: View) -> None:
        race = view.race
        if race is None or race.key == self._key:
            return
        self._key = race.key
        wx = race.weather
        t0 = race.race_start if race.race_start is not None else 0.0
        x = (wx["session_time"] - t0) / 60.0
        if len(x):
            i = -1
            unit = {k: v[1] for k, v in WEATHER_COLUMNS.items()}
            self.tiles.value = (
                '<div class="f1-tiles">'
                + "".join(
                    [
                        tile("Air", fmt_num(wx["air_temp"][i], 1), unit["air_temp"]),
                        tile("Track", fmt_num(wx["track_temp"][i], 1), unit["track_temp"]),
                        tile("Humidity", fmt_num(wx["humidity"][i]), unit["humidity"]),
                        tile(
                            "Wind",
                            f"{fmt_num(wx['wind_speed'][i], 1)} {compass(wx['wind_direction'][i])}",
                            unit["wind_speed"],
                        ),
                        tile(
                            "Rain",
                            "RAIN" if wx["rainfall"][i] else "dry",
                            colour="#2563eb" if wx["rainfall"][i] else None,
                        ),
                    ]
                )
                + "</div>"
            )
        else:
            self.tiles.value = '<div class="f1-note">no weather reading yet</div>'
        with self.figure.hold_sync():
            set_domain(self.xs, np.r_[x, 0.0] if len(x) else x, default=(-60.0, 0.0), pad=0.0)
            set_domain(self.yt, np.r_[wx["air_temp"], wx["track_temp"]], default=(15.0, 50.0))
            set_domain(self.yw, np.r_[wx["wind_speed"], 0.0], default=(0.0, 5.0), floor=0.0)
        spans = [((a - t0) / 60.0, (b - t0) / 60.0, "RAIN") for a, b in race.rain]
        sx, sy, _ = bands(spans, 1.5)
        with self.rain.hold_sync():
            self.rain.x, self.rain.y = sx, sy
            self.rain.fill_opacities = [0.18] * max(len(spans), 1)
            self.rain.fill_colors = ["#3b82f6"] * max(len(spans), 1)
        for mark, col in ((self.air, "air_temp"), (self.track, "track_temp"), (self.wind, "wind_speed")):
            with mark.hold_sync():
                mark.x, mark.y = x, wx[col]
