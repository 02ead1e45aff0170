"""Controls: session choice, drivers, start point, replay speed, start/pause/resume/stop, seek to lap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from f1live.config import Settings

#: Replay speed choices (label -> Settings.speed; 0 = as fast as possible).
SPEEDS: dict[str, float] = {
    "1×": 1.0,
    "2×": 2.0,
    "5×": 5.0,
    "10×": 10.0,
    "20×": 20.0,
    "50×": 50.0,
    "100×": 100.0,
    "max": 0.0,
}


def speed_label(speed: float) -> str:
    """The slider label closest to ``speed``.

    >>> speed_label(20), speed_label(0), speed_label(30)
    ('20×', 'max', '20×')
    """
    if speed <= 0:
        return "max"
    return min((k for k in SPEEDS if SPEEDS[k] > 0), key=lambda k: abs(SPEEDS[k] - speed))


def parse_drivers(text: str) -> tuple[str, ...]:
    """``'ver, alo'`` -> ``('VER', 'ALO')``; empty means all drivers.

    >>> parse_drivers(" ver,ALO ,, "), parse_drivers("")
    (('VER', 'ALO'), ())
    """
    return tuple(p.strip().upper() for p in text.split(",") if p.strip())


class ControlsPanel:
    """The control strip; the dashboard connects callbacks with :meth:`on`.

    >>> c = ControlsPanel(Settings(speed=20.0))
    >>> c.speed.value, c.settings_from(Settings()).speed, c.start_from.value
    ('20×', 20.0, 'race')
    >>> c.start_from.value = "lap 30"; c.settings_from(Settings()).replay_from
    'lap 30'
    """

    def __init__(self, settings: Settings, drivers: tuple[str, ...] = (), start: str | None = None) -> None:
        from f1live.cache import START_HELP

        self.year = w.BoundedIntText(
            value=settings.year, min=2018, max=2100, description="Year", layout=w.Layout(width="150px")
        )
        self.event = w.Text(value=settings.event, description="Event", layout=w.Layout(width="200px"))
        self.session = w.Dropdown(
            options=["R", "Q", "S", "SQ", "FP1", "FP2", "FP3"],
            value=settings.session if settings.session in ("R", "Q", "S", "SQ", "FP1", "FP2", "FP3") else "R",
            description="Session",
            layout=w.Layout(width="160px"),
        )
        self.source = w.Dropdown(
            options=["auto", "fastf1", "fastf1-csv", "file", "simulated"],
            value=settings.source,
            description="Source",
            layout=w.Layout(width="200px"),
        )
        self.path = w.Text(
            value=str(settings.source_path or ""),
            placeholder="file or folder (source=file)",
            description="File",
            layout=w.Layout(width="300px"),
        )
        self.drivers = w.Text(
            value=",".join(drivers),
            placeholder="all (or VER,ALO,...)",
            description="Drivers",
            layout=w.Layout(width="260px"),
        )
        self.start_from = w.Combobox(
            value=start or settings.replay_from,
            options=["race", "session", "lap 1", "lap 30"],
            description="From",
            tooltip=START_HELP,
            ensure_option=False,
            layout=w.Layout(width="200px"),
        )
        self.speed = w.SelectionSlider(
            options=list(SPEEDS),
            value=speed_label(settings.speed),
            description="Speed",
            continuous_update=False,
            layout=w.Layout(width="330px"),
        )
        self.start = w.Button(description="▶ Start", button_style="success")
        self.pause = w.Button(description="‖ Pause", button_style="warning")
        self.resume = w.Button(description="▶ Resume", button_style="info")
        self.stop = w.Button(description="■ Stop", button_style="danger")
        self.lap = w.BoundedIntText(value=1, min=1, max=200, description="Lap", layout=w.Layout(width="130px"))
        self.seek = w.Button(description="Seek »", layout=w.Layout(width="90px"))
        self.lap.add_class("f1-seek-lap")
        # Freezes only the page (the stream goes on): lets users read a moment, and lets the
        # benchmark measure the pipeline with and without UI updates in the same kernel.
        self.live_ui = w.ToggleButton(
            value=True, description="UI live", tooltip="pause/resume screen updates only", layout=w.Layout(width="95px")
        )
        self.live_ui.add_class("f1-btn-ui")
        self.message = w.HTML()
        self.message.add_class("f1-note")
        for name in ("start", "pause", "resume", "stop", "seek"):
            b = getattr(self, name)
            b.layout = w.Layout(width="95px")
            b.add_class("f1-btn-" + name)  # stable hooks for tests
        row1 = w.HBox(
            [self.year, self.event, self.session, self.source, self.path, self.drivers, self.start_from],
            layout=w.Layout(flex_flow="row wrap"),
        )
        row2 = w.HBox(
            [
                self.start,
                self.pause,
                self.resume,
                self.stop,
                self.speed,
                self.lap,
                self.seek,
                self.live_ui,
                self.message,
            ],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.widget = w.VBox([row2, row1])
        self.widget.add_class("f1-card")
        self.widget.add_class("f1-controls")

    def on(self, name: str, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` when button ``name`` (start/pause/resume/stop/seek) is clicked."""
        getattr(self, name).on_click(lambda _b: callback())

    def settings_from(self, base: Settings) -> Settings:
        """``base`` with the session/source/start/speed chosen in the controls.

        Raises ``ValueError`` naming the field when the start point does not parse.
        """
        from f1live.cache import parse_start

        path = self.path.value.strip()
        start = str(parse_start(self.start_from.value.strip() or "race"))
        return base.replace(
            year=int(self.year.value),
            event=self.event.value.strip() or base.event,
            session=self.session.value,
            source=self.source.value,
            source_path=Path(path).expanduser() if path else base.source_path,
            speed=SPEEDS[self.speed.value],
            replay_from=start,
        )

    def selected_drivers(self) -> tuple[str, ...]:
        return parse_drivers(self.drivers.value)
