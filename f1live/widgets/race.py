"""The race-analysis tab: driver pickers, then tyre strategy, lap chart, lap times, driver
comparison and weather, all drawn from the race analysis at the replay clock
(:mod:`f1live.race_analysis`) and the stream's lap traces (:mod:`f1live.laptraces`).

The panels are on the slow refresher tier (the dashboard's full frames, every
``Settings.ui_slow_refresh_ms``) and draw only while their tab is shown and only when their
data changed (a line crossing, a pit event, a weather reading, a new lap trace), so the live
tier's frames are not made heavier by them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from f1live.widgets.comparison import ComparisonPanel
from f1live.widgets.lapchart import LapChartPanel
from f1live.widgets.laptimes import LapTimesPanel
from f1live.widgets.strategy import StrategyPanel
from f1live.widgets.view import View
from f1live.widgets.weather import WeatherPanel

NONE = "—"


def default_rival(order: list[str], selected: str | None) -> str | None:
    """The car ahead of ``selected`` in the race order (the one behind for the leader).

    >>> default_rival(["VER", "ALO", "OCO"], "ALO"), default_rival(["VER", "ALO"], "VER"), default_rival([], "VER")
    ('VER', 'ALO', None)
    """
    if selected not in order or len(order) < 2:
        return None
    i = order.index(selected)
    return order[i - 1] if i > 0 else order[1]


class RaceTab:
    """Pickers (driver, up to two compared drivers) and the five race-analysis panels.

    >>> t = RaceTab()
    >>> [type(p).__name__ for p in t.panels]
    ['StrategyPanel', 'LapChartPanel', 'LapTimesPanel', 'ComparisonPanel', 'WeatherPanel']
    >>> t.update(View(meta={"drivers": {"VER": {}, "ALO": {}}}, timing={"leaderboard": [
    ...     {"driver": "VER"}, {"driver": "ALO"}]}), "ALO")
    >>> t.drivers(), t.request()
    (['ALO', 'VER'], {'ALO': None, 'VER': None})
    """

    def __init__(self, on_select: Callable[[str], Any] | None = None) -> None:
        self.on_select = on_select
        self.visible = False
        self.driver = w.Dropdown(options=[], description="Driver", layout=w.Layout(width="170px"))
        self.compare = [
            w.Dropdown(options=[NONE], value=NONE, description=label, layout=w.Layout(width="150px"))
            for label in ("vs", "and")
        ]
        for i, d in enumerate([self.driver, *self.compare]):
            d.add_class(f"f1-race-pick-{i}")
            d.style.description_width = "50px" if i == 0 else "30px"
        self._defaulted = False
        self._syncing = False
        self.driver.observe(self._on_driver, names="value")
        self.strategy = StrategyPanel()
        self.lapchart = LapChartPanel()
        self.laptimes = LapTimesPanel()
        self.comparison = ComparisonPanel()
        self.weather = WeatherPanel()
        self.panels = [self.strategy, self.lapchart, self.laptimes, self.comparison, self.weather]
        row = {"flex_flow": "row wrap", "align_items": "stretch", "width": "100%"}
        for p in self.panels[:4]:  # two to a row, wrapping to one on narrow pages
            p.widget.layout.flex = "1 1 480px"
        self.weather.widget.layout.flex = "0 0 auto"  # a column child: its flex basis would be a height
        pickers = w.HBox(
            [
                self.driver,
                *self.compare,
                w.HTML(
                    '<span class="f1-note">&nbsp; lap times and comparison: the driver and up to two others · '
                    "everything as of the replay clock</span>"
                ),
            ],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.widget = w.VBox(
            [
                pickers,
                w.HBox([self.strategy.widget, self.lapchart.widget], layout=w.Layout(**row)),
                w.HBox([self.laptimes.widget, self.comparison.widget], layout=w.Layout(**row)),
                self.weather.widget,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("f1-race-tab")

    def _on_driver(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"] and self.on_select is not None:
            self.on_select(change["new"])

    def drivers(self) -> list[str]:
        """The selected driver and the compared ones (no repeats)."""
        out: list[str] = []
        for v in (self.driver.value, *(d.value for d in self.compare)):
            if v and v != NONE and v not in out:
                out.append(v)
        return out

    def request(self) -> dict[str, int | None]:
        """The lap traces the next full snapshot should carry for the comparison."""
        return self.comparison.request(self.drivers())

    def _sync(self, view: View, selected: str | None) -> None:
        codes = view.driver_codes
        self._syncing = True
        try:
            if sorted(codes) != sorted(self.driver.options):
                self.driver.options = codes
                for d in self.compare:
                    keep = d.value
                    d.options = [NONE, *codes]
                    d.value = keep if keep in codes else NONE
            if selected in codes and self.driver.value != selected:
                self.driver.value = selected
        finally:
            self._syncing = False
        if not self._defaulted and self.driver.value:
            order = [r["driver"] for r in view.leaderboard] or codes
            rival = default_rival([c for c in order if c in codes], self.driver.value)
            if rival is not None:
                self.compare[0].value = rival
                self._defaulted = True

    def update(self, view: View, selected: str | None) -> None:
        """Sync the pickers; redraw the panels whose data changed (call on full frames)."""
        self._sync(view, selected)
        drivers = self.drivers()
        self.strategy.update(view)
        self.lapchart.update(view, self.driver.value)
        self.laptimes.update(view, drivers)
        self.comparison.update(view, drivers)
        self.weather.update(view)
