"""Leaderboard: timing as of the replay clock -- position, gap, interval, lap times, tyre, pits."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from f1live.timing import TRACK_STATUS
from f1live.widgets.base import Panel
from f1live.widgets.style import COMPOUND_COLOURS, esc, fmt_num, fmt_pct, risk_colour
from f1live.widgets.view import View

#: Track-status code -> chip colour.
STATUS_COLOURS = {"1": "#16a34a", "2": "#ca8a04", "4": "#d97706", "5": "#dc2626", "6": "#d97706", "7": "#d97706"}


def fmt_laptime(seconds: float | None) -> str:
    """``75.65`` -> ``'1:15.650'``; ``None`` -> ``'—'``.

    >>> fmt_laptime(75.65), fmt_laptime(59.1234), fmt_laptime(None)
    ('1:15.650', '59.123', '—')
    """
    if seconds is None or seconds != seconds:
        return "—"
    m, s = divmod(float(seconds), 60.0)
    return f"{int(m)}:{s:06.3f}" if m else f"{s:.3f}"


def flag(text: str, colour: str, title: str = "") -> str:
    return f'<span class="f1-flag" style="background:{colour}" title="{esc(title)}">{esc(text)}</span> '


def status_chip(code: str | None) -> str:
    """The track status in force as a coloured chip (empty when unknown).

    >>> "SC" in status_chip("4"), status_chip(None)
    (True, '')
    """
    if code is None:
        return ""
    short, long = TRACK_STATUS.get(code, (code, f"status {code}"))
    return flag(short, STATUS_COLOURS.get(code, "#4b5563"), long)


def _tyre(compound: Any, age: Any) -> str:
    colour = COMPOUND_COLOURS.get(str(compound), "#999")
    return f'<span class="f1-tyre" style="border-color:{colour}"></span>{esc((compound or "—")[:1])} · {fmt_num(age)}'


class LeaderboardPanel(Panel):
    """One HTML table (a single trait update per frame) in timing order at the replay clock.

    >>> p = LeaderboardPanel()
    >>> lb = [{"position": 1, "driver": "VER", "lap": 24, "gap": "LEADER", "interval": "", "last_lap_s": 77.1,
    ...        "best_lap_s": 76.604, "compound": "MEDIUM", "tyre_age": 24, "pits": 0, "in_pit": False,
    ...        "stopped": False},
    ...       {"position": 2, "driver": "ALO", "lap": 24, "gap": "+5.210", "interval": "+5.210",
    ...        "last_lap_s": 77.5, "best_lap_s": 76.9, "compound": "HARD", "tyre_age": 24, "pits": 0,
    ...        "in_pit": True, "stopped": False}]
    >>> p.update(View(timing={"leaderboard": lb, "track_status": "4"},
    ...               drivers={"VER": {"analysis": {"pit_stop_probability": 0.12}}}), selected="VER")
    >>> v = p.table.value
    >>> "+5.210" in v and "1:16.604" in v and "12.0 %" in v and ">PIT<" in v and 'class="sel"' in v
    True
    >>> "SC" in p.status.value
    True
    """

    title = "Leaderboard"
    help = (
        "Timing as of the replay clock: the order at the timing line (laps completed, then when), "
        "updated at each line crossing, never the end of a lap still running. Gap to the leader and "
        "interval to the car ahead are line-crossing differences after the same number of laps; "
        "tyre and age are those of the lap being run; pits are pit-lane entries so far (not under a red "
        "flag). P(pit) is the latest model output."
    )

    def __init__(self) -> None:
        super().__init__()
        self.status = w.HTML()
        self.status.add_class("f1-track-status")
        self.table = w.HTML()
        self.table.add_class("f1-leaderboard")
        self._key: Any = None
        self.widget = self.card(self.status, self.table)

    def update(self, view: View, selected: str | None = None) -> None:
        lb = view.leaderboard
        rows = []
        if lb:
            for r in lb:
                code = r["driver"]
                a = view.analysis(code)
                p = a.get("pit_stop_probability")
                flags = ""
                if r.get("in_pit"):
                    flags += flag("PIT", "#2563eb", "in the pit lane")
                if r.get("stopped"):
                    flags += flag("OUT", "#4b5563", "no line crossing for a long time: stopped or retired")
                if a.get("anomaly"):
                    flags += flag("ANOM", "#dc2626", str(a.get("anomaly_reason") or "anomaly"))
                rows.append(
                    self._row(
                        view,
                        code,
                        selected,
                        fmt_num(r.get("position")),
                        fmt_num(r.get("lap")),
                        esc(r.get("gap") or "—"),
                        esc(r.get("interval") or ""),
                        fmt_laptime(r.get("last_lap_s")),
                        fmt_laptime(r.get("best_lap_s")),
                        _tyre(r.get("compound"), r.get("tyre_age")),
                        str(r.get("pits", 0)),
                        p,
                        flags,
                    )
                )
        else:  # no timing tables (e.g. an old export): what the messages carry
            for code in view.driver_codes:
                m, a = view.latest(code), view.analysis(code)
                rows.append(
                    self._row(
                        view,
                        code,
                        selected,
                        fmt_num(m.get("position")),
                        fmt_num(m.get("lap_number")),
                        "—",
                        "",
                        "—",
                        "—",
                        _tyre(m.get("compound"), m.get("tyre_life")),
                        "—",
                        a.get("pit_stop_probability"),
                        "",
                    )
                )
        head = (
            "<tr><th>Pos</th><th>Driver</th><th>Lap</th><th>Gap</th><th>Int</th><th>Last</th><th>Best</th>"
            "<th>Tyre · age</th><th>Pits</th><th>P(pit)</th><th>Flags</th></tr>"
        )
        body = "".join(rows) or '<tr><td colspan="11" class="f1-note">no cars yet</td></tr>'
        html = f'<div class="f1-scroll" style="max-height:440px"><table class="f1-table">{head}{body}</table></div>'
        if html != self.table.value:  # one string per frame, sent only when it changed
            self.table.value = html
        chip = status_chip(view.track_status)
        note = (
            ""
            if lb
            else (
                '<span class="f1-note">no timing tables in this source: positions are those the messages carry</span>'
            )
        )
        text = f'<span class="f1-note">Track</span> {chip}{note}' if chip else note
        if text != self.status.value:
            self.status.value = text

    @staticmethod
    def _row(
        view: View,
        code: str,
        selected: str | None,
        pos: str,
        lap: str,
        gap: str,
        interval: str,
        last: str,
        best: str,
        tyre: str,
        pits: str,
        p: Any,
        flags: str,
    ) -> str:
        bar = ""
        if p is not None:
            bar = (
                f'<span class="f1-bar" style="width:{max(2, int(40 * float(p)))}px;'
                f'background:{risk_colour(p)}"></span> '
            )
        sel = ' class="sel"' if code == selected else ""
        return (
            f"<tr{sel}><td>{pos}</td>"
            f'<td><span class="f1-swatch" style="background:{view.colour(code)}"></span><b>{esc(code)}</b></td>'
            f"<td>{lap}</td><td>{gap}</td><td>{interval}</td><td>{last}</td><td>{best}</td><td>{tyre}</td>"
            f"<td>{pits}</td><td>{bar}{fmt_pct(p)}</td><td>{flags}</td></tr>"
        )
