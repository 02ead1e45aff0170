"""Leaderboard: position, driver, lap, tyre + age, pit count, pit-stop probability, flags."""

from __future__ import annotations

import ipywidgets as w

from f1live.widgets.base import Panel
from f1live.widgets.style import COMPOUND_COLOURS, esc, fmt_num, fmt_pct, risk_colour
from f1live.widgets.view import View

#: FastF1 track-status codes -> (label, colour).
TRACK_STATUS = {
    "1": ("GREEN", "#16a34a"), "2": ("YELLOW", "#ca8a04"), "4": ("SC", "#d97706"),
    "5": ("RED", "#dc2626"), "6": ("VSC", "#d97706"), "7": ("VSC END", "#d97706"),
}


def pit_count(entry: dict) -> int | None:
    """Pit stops so far: the live state's count, else the stint number minus one.

    >>> pit_count({"pit_count": 2}), pit_count({"latest": {"stint": 3}}), pit_count({"latest": {}})
    (2, 2, None)
    """
    if entry.get("pit_count") is not None:
        return int(entry["pit_count"])
    stint = (entry.get("latest") or {}).get("stint")
    try:
        return max(int(stint) - 1, 0)
    except (TypeError, ValueError):
        return None


def flag(text: str, colour: str, title: str = "") -> str:
    return f'<span class="f1-flag" style="background:{colour}" title="{esc(title)}">{esc(text)}</span> '


class LeaderboardPanel(Panel):
    """One HTML table (a single trait update per frame), sorted by race position.

    >>> p = LeaderboardPanel()
    >>> p.update(View(drivers={"VER": {"latest": {"position": 1, "lap_number": 5, "compound": "MEDIUM",
    ...     "tyre_life": 5.0, "stint": 1}, "analysis": {"pit_stop_probability": 0.12}}}), selected="VER")
    >>> "VER" in p.table.value and "12.0 %" in p.table.value and 'class="sel"' in p.table.value
    True
    """

    title = "Leaderboard"
    help = ("Position is FastF1's position at the end of the driver's last completed lap; "
            "pit count = stint number − 1; P(pit) is the latest model output.")

    def __init__(self) -> None:
        super().__init__()
        self.table = w.HTML()
        self.table.add_class("f1-leaderboard")
        self.widget = self.card(self.table)

    def update(self, view: View, selected: str | None = None) -> None:
        rows = []
        for code in view.driver_codes:
            r = view.latest(code)
            a = view.analysis(code)
            entry = view.drivers.get(code, {})
            compound = r.get("compound")
            tyre = (f'<span class="f1-tyre" style="border-color:{COMPOUND_COLOURS.get(str(compound), "#999")}"></span>'
                    f'{esc((compound or "—")[:1])} · {fmt_num(r.get("tyre_life"))}')
            p = a.get("pit_stop_probability")
            bar = ""
            if p is not None:
                bar = (f'<span class="f1-bar" style="width:{max(2, int(60 * float(p)))}px;'
                       f'background:{risk_colour(p)}"></span> ')
            flags = ""
            if r.get("in_pit"):
                flags += flag("PIT", "#2563eb", "between pit entry and pit exit")
            if a.get("anomaly"):
                flags += flag("ANOM", "#dc2626", str(a.get("anomaly_reason") or "anomaly"))
            ts = str(r.get("track_status") or "")
            for c in dict.fromkeys(ts):
                if c in TRACK_STATUS and c != "1":
                    label, col = TRACK_STATUS[c]
                    flags += flag(label, col, "track status during this lap")
            sel = ' class="sel"' if code == selected else ""
            rows.append(
                f"<tr{sel}><td>{fmt_num(r.get('position'))}</td>"
                f'<td><span class="f1-swatch" style="background:{view.colour(code)}"></span><b>{esc(code)}</b></td>'
                f"<td>{fmt_num(r.get('lap_number'))}</td><td>{tyre}</td>"
                f"<td>{'—' if pit_count(entry) is None else pit_count(entry)}</td>"
                f"<td>{bar}{fmt_pct(p)}</td><td>{flags}</td></tr>"
            )
        head = ("<tr><th>Pos</th><th>Driver</th><th>Lap</th><th>Tyre · age</th><th>Pits</th>"
                "<th>P(pit)</th><th>Flags</th></tr>")
        body = "".join(rows) or '<tr><td colspan="7" class="f1-note">no cars yet</td></tr>'
        self.table.value = f'<div class="f1-scroll" style="max-height:420px"><table class="f1-table">{head}{body}</table></div>'
