"""Header: title, session, replay clock, message counter, status — and the SIMULATED banner."""

from __future__ import annotations

import ipywidgets as w

from f1live.widgets.base import Panel
from f1live.widgets.leaderboard import status_chip
from f1live.widgets.style import esc
from f1live.widgets.timeline import clock_text
from f1live.widgets.view import View


class HeaderPanel(Panel):
    """The top bar; the banner is shown (loudly) whenever the source is simulated.

    >>> h = HeaderPanel()
    >>> h.update(View(meta={"simulated": True, "event": "Monaco"}, session_time=61.0,
    ...               counters={"processed": 12}))
    >>> h.banner.layout.display, "0:01:01.0" in h.bar.value, 'f1-msgcount">12<' in h.bar.value
    (None, True, True)
    >>> h.update(View(session_time=4613.0, meta={"total_laps": 78}, extra={"lap": 12, "track_status": "2"}))
    >>> "Lap 12/78 · 1:16:53.0" in h.bar.value, "YELLOW" in h.bar.value
    (True, True)
    >>> h.update(View(meta={"simulated": False}))
    >>> h.banner.layout.display
    'none'
    """

    def __init__(self) -> None:
        super().__init__()
        self.bar = w.HTML()
        self.bar.add_class("f1-header-html")
        self.banner = w.HTML(
            '<div class="f1-simulated">⚠ SIMULATED DATA — NOT A REAL SESSION ⚠</div>', layout=w.Layout(display="none")
        )
        self.banner.add_class("f1-simulated-banner")
        self.frame = 0
        self.widget = w.VBox([self.bar, self.banner])

    def update(self, view: View) -> None:
        self.frame += 1
        m = view.meta
        title = " ".join(str(m[k]) for k in ("year", "event") if m.get(k))
        session = m.get("session_name") or m.get("session") or ""
        source = m.get("source") or ""
        c = view.counters
        n = int(c.get("processed", c.get("consumed", 0)) or 0)
        sim = view.simulated
        self.bar.value = (
            '<div class="f1-header">'
            '<span class="f1-brand">F1<b>LIVE</b></span>'
            f'<span class="f1-meta">{esc(title)} {esc(session)}'
            f"{' · source: ' + esc(source) if source else ''}{' · SIMULATED' if sim else ''}</span>"
            f'<span class="f1-clock" title="replay clock: the leader\'s lap and the session time of the newest '
            f'message of this replay segment">'
            f'<span class="f1-session-time">{esc(clock_text(view))}</span></span>'
            f"{status_chip(view.track_status)}"
            f'<span class="f1-meta">msgs <span class="f1-msgcount">{n}</span>'
            f' · frame <span class="f1-frame">{self.frame}</span></span></div>'
        )
        self.banner.layout.display = None if sim else "none"
