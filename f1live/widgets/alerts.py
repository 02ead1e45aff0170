"""Anomaly alerts and history log, with race-control / track-status events on the same timeline."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from f1live.widgets.base import Panel
from f1live.widgets.style import esc, fmt_clock, fmt_num
from f1live.widgets.view import View

ALL = "(all)"


def timeline(view: View) -> list[dict[str, Any]]:
    """Anomalies and session events merged, newest first.

    >>> v = View(anomalies=[{"session_time": 5.0, "driver": "VER", "type": "speed", "reason": "drop"}],
    ...          events=[{"session_time": 7.0, "category": "Flag", "message": "YELLOW"}])
    >>> [e["kind"] for e in timeline(v)]
    ['event', 'anomaly']
    """
    items = [dict(a, kind="anomaly") for a in view.anomalies]
    items += [
        dict(e, kind="event", driver=e.get("driver") or "", type=e.get("category") or "event") for e in view.events
    ]

    def key(e: dict[str, Any]) -> float:
        t = e.get("session_time")
        return float(t) if isinstance(t, (int, float)) else float("-inf")

    return sorted(items, key=key, reverse=True)


class AlertsPanel(Panel):
    """Scrollable log, filterable by driver and type; newest first.

    >>> p = AlertsPanel()
    >>> p.update(View(anomalies=[{"session_time": 5.0, "driver": "VER", "type": "speed", "reason": "drop",
    ...                           "score": 0.93}]))
    >>> "drop" in p.log.value, list(p.driver.options)
    (True, ['(all)', 'VER'])
    >>> p.driver.value = "ALO"  # not an option: ignored by the widget
    Traceback (most recent call last):
    ...
    traitlets.traitlets.TraitError: Invalid selection: value not found
    """

    title = "Anomalies & race control"
    help = (
        "Messages the anomaly detectors flagged (which detector: River's online model or a physical "
        "rule; its reason and score) and the session's track-status / race-control events issued up "
        "to the replay clock, on one session-time axis. Known raw-data artefacts (e.g. throttle 104, "
        "gear codes above 8, cars not on a racing lap) are data-quality notes, counted per driver below, "
        "not anomalies."
    )

    def __init__(self, max_rows: int = 300) -> None:
        super().__init__()
        self.max_rows = max_rows
        self.driver = w.Dropdown(options=[ALL], value=ALL, description="Driver", layout=w.Layout(width="170px"))
        self.kind = w.Dropdown(options=[ALL], value=ALL, description="Type", layout=w.Layout(width="210px"))
        self.summary = w.HTML()
        self.summary.add_class("f1-note")
        self.log = w.HTML()
        self.log.add_class("f1-alerts-log")
        self.notes = w.HTML()
        self.notes.add_class("f1-quality-notes")
        self._key: object = None
        self._notes_key: object = None
        self.widget = self.card(w.HBox([self.driver, self.kind, self.summary]), self.log, self.notes)

    @staticmethod
    def _options(current: tuple[str, ...], values: set[str]) -> list[str] | None:
        new = [ALL, *sorted(v for v in values if v)]
        return None if list(current) == new else new

    def _update_notes(self, view: View) -> None:
        notes = sorted(view.quality, key=lambda q: (-int(q.get("count") or 0), str(q.get("driver"))))
        key = tuple((q.get("driver"), q.get("type"), q.get("count")) for q in notes)
        if key == self._notes_key:
            return
        self._notes_key = key
        if not notes:
            self.notes.value = ""
            return
        total = sum(int(q.get("count") or 0) for q in notes)
        rows = "".join(
            f"<tr><td><b>{esc(q.get('driver') or '')}</b></td><td>{esc(q.get('type') or '')}</td>"
            f"<td>{int(q.get('count') or 0):,}</td><td>{fmt_clock(q.get('first_session_time'))}</td>"
            f'<td style="white-space:normal">{esc(q.get("reason") or "")}</td></tr>'
            for q in notes[:60]
        )
        self.notes.value = (
            f"<details><summary>Data-quality notes: {total:,} samples in {len(notes)} (driver, kind) groups "
            "— raw-data artefacts, not anomalies</summary>"
            '<div class="f1-scroll" style="max-height:180px"><table class="f1-table"><tr><th>Driver</th><th>Kind</th>'
            f"<th>Samples</th><th>First at</th><th>What</th></tr>{rows}</table></div></details>"
        )

    def update(self, view: View) -> None:
        self._update_notes(view)
        last = view.anomalies[-1] if view.anomalies else None
        key = (
            len(view.anomalies),
            None if last is None else (last.get("session_time"), last.get("driver")),
            len(view.events),
            self.driver.value,
            self.kind.value,
        )
        if key == self._key:  # nothing new: skip re-rendering the log
            return
        self._key = key
        items = timeline(view)
        opts = self._options(self.driver.options, {str(e.get("driver") or "") for e in items})
        if opts is not None:
            self.driver.options = opts
        opts = self._options(self.kind.options, {str(e.get("type") or "") for e in items})
        if opts is not None:
            self.kind.options = opts
        sel = [
            e
            for e in items
            if (self.driver.value in (ALL, None) or e.get("driver") == self.driver.value)
            and (self.kind.value in (ALL, None) or e.get("type") == self.kind.value)
        ]
        n_anom = sum(1 for e in items if e["kind"] == "anomaly")
        river = sum(1 for e in items if e["kind"] == "anomaly" and "river" in str(e.get("detector") or ""))
        self.summary.value = (
            f"{n_anom} anomalies ({river} by River) · {len(items) - n_anom} events · "
            f"showing {min(len(sel), self.max_rows)}"
        )
        rows = []
        for e in sel[: self.max_rows]:
            if e["kind"] == "anomaly":
                det = str(e.get("detector") or "")
                label = {"river": "RIVER", "rule": "RULE", "river+rule": "RIVER+RULE"}.get(det, "ANOM")
                badge = (
                    f'<span class="f1-flag" style="background:#dc2626" title="flagged by {esc(det or "the detector")}">'
                    f"{label}</span>"
                )
                text = esc(e.get("reason") or "")
                score = fmt_num(e.get("score"), 2)
            else:
                colour = {"Flag": "#ca8a04", "SafetyCar": "#d97706", "TrackStatus": "#2563eb"}.get(
                    str(e.get("category")), "#4b5563"
                )
                badge = f'<span class="f1-flag" style="background:{colour}">{esc(e.get("category") or "EVENT")}</span>'
                text = esc(e.get("message") or "")
                score = ""
            lap = e.get("lap_number")
            rows.append(
                f"<tr><td>{fmt_clock(e.get('session_time'))}</td><td>{badge}</td>"
                f"<td><b>{esc(e.get('driver') or '')}</b></td><td>{esc(e.get('type') or '')}</td>"
                f"<td>{'' if lap is None else 'L' + fmt_num(lap)}</td><td>{score}</td>"
                f'<td style="white-space:normal">{text}</td></tr>'
            )
        head = (
            "<tr><th>Session time</th><th></th><th>Driver</th><th>Type</th><th>Lap</th>"
            "<th>Score</th><th>Reason / message</th></tr>"
        )
        body = "".join(rows) or '<tr><td colspan="7" class="f1-note">nothing yet</td></tr>'
        self.log.value = f'<div class="f1-scroll"><table class="f1-table">{head}{body}</table></div>'
