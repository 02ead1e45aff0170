"""Session summary when the replay ends: finishing order, fastest lap, pit stops and anomalies
per driver, and what the models achieved on the held-out race (the analytics evaluation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from f1live.widgets.base import Panel
from f1live.widgets.leaderboard import fmt_laptime
from f1live.widgets.predictions import MODELS
from f1live.widgets.style import esc
from f1live.widgets.view import View


def replay_ended(view: View) -> bool:
    """The replay has ended: the producer sent its last row (or was stopped).

    >>> replay_ended(View(status={"producer": "finished · sent 10 · speed 20.0×"})), replay_ended(View())
    (True, False)
    """
    return str(view.status.get("producer", "")).startswith("finished") or view.status.get("pipeline") == "stopped"


class SummaryPanel(Panel):
    """One HTML block; before the end it says when it will appear. After the chequered flag
    and before the replay's end it is marked provisional (cars still crossing the line).

    >>> from f1live.race_analysis import LapRecord
    >>> best = LapRecord("HAM", 33, 0.0, 1.0, 75.65, 5, "HARD", 2, 2, False, False, "", False, True)
    >>> race = type("R", (), {"key": 1, "chequered": True, "leader_laps": 78, "total_laps": 78, "fastest": best,
    ...                       "pits": {"VER": [object()], "HAM": [object(), object()]}})()
    >>> board = [{"position": 1, "driver": "VER", "team": "Red Bull Racing", "laps": 78, "gap": "LEADER",
    ...           "best_lap_s": 76.6, "stopped": False}, {"position": 2, "driver": "HAM", "team": "Mercedes",
    ...           "laps": 78, "gap": "+27.921", "best_lap_s": 75.65, "stopped": False}]
    >>> p = SummaryPanel(); p.set_evidence({"pit_stop_probability": "announced 4 of 6 stops"})
    >>> p.update(View(race=race, timing={"leaderboard": board}, anomaly_counts={"HAM": 3},
    ...               status={"producer": "finished"}))
    >>> p.final, "Fastest lap" in p.html.value and "1:15.650" in p.html.value, "announced 4 of 6" in p.html.value
    (True, True, True)
    """

    title = "Session summary"
    help = (
        "When the replay ends: the finishing order (timing at the last line crossings), fastest lap, pit "
        "stops and anomalies flagged per driver in this replay, and what each model achieved on the "
        "held-out race in the analytics evaluation (models/manifest.json)."
    )

    def __init__(self) -> None:
        super().__init__()
        self.html = w.HTML('<div class="f1-note">The summary appears when the replay ends.</div>')
        self.html.add_class("f1-summary")
        self.evidence: dict[str, str] = {}
        self.final = False
        self._key: Any = None
        self.widget = self.card(self.html)

    def set_evidence(self, evidence: Mapping[str, str]) -> None:
        """Each model's evidence sentence (:func:`f1live.widgets.predictions.model_evidence`)."""
        self.evidence = dict(evidence)
        self._key = None

    def update(self, view: View) -> None:
        race = view.race
        ended = replay_ended(view)
        if race is None:
            return
        board = view.leaderboard
        key = (race.key, ended, len(board), tuple(sorted(view.anomaly_counts.items())))
        if key == self._key or not board and ended:
            return
        self._key = key
        self.final = ended
        if not ended and not race.chequered:
            self.html.value = (
                f'<div class="f1-note">The summary appears when the replay ends (lap '
                f"{race.leader_laps}/{race.total_laps or '?'} completed by the leader now).</div>"
            )
            return
        if ended:
            state = (
                "Final: the replay has ended."
                if race.chequered
                else f"The replay ended before the leader completed the scheduled distance (lap {race.leader_laps}/"
                f"{race.total_laps or '?'}; a race shortened without a chequered-flag message, or a replay "
                "stopped early): the order at that moment."
            )
        else:
            state = "Chequered flag: provisional until the replay ends (cars still crossing the line)."
        rows = []
        for r in board:
            code = r["driver"]
            gap = "OUT" if r.get("stopped") else (r.get("gap") or "—")
            stops = [p for p in race.pits.get(code, []) if not getattr(p, "under_red", False)]
            rows.append(
                f'<tr><td>{r.get("position") or "—"}</td><td><span class="f1-swatch" '
                f'style="background:{view.colour(code)}"></span><b>{esc(code)}</b></td>'
                f"<td>{esc(r.get('team') or '')}</td><td>{r.get('laps', 0)}</td><td>{esc(gap)}</td>"
                f"<td>{fmt_laptime(r.get('best_lap_s'))}</td><td>{len(stops)}</td>"
                f"<td>{view.anomaly_counts.get(code, 0)}</td></tr>"
            )
        fl = race.fastest
        fastest = f"<b>Fastest lap</b>: {esc(fl.driver)} {fmt_laptime(fl.lap_time)} (lap {fl.lap})" if fl else ""
        models = "".join(f"<li><b>{esc(MODELS.get(k, (k,))[0])}</b>: {esc(v)}</li>" for k, v in self.evidence.items())
        models = (
            f'<div class="f1-evidence"><b>Models on the held-out race</b> (analytics evaluation):'
            f"<ul>{models}</ul></div>"
            if models
            else '<div class="f1-note">No model evaluation on this machine (models/manifest.json).</div>'
        )
        self.html.value = (
            f'<div style="font-weight:700;margin-bottom:4px">{esc(state)}</div><div>{fastest}</div>'
            '<div class="f1-scroll" style="max-height:520px"><table class="f1-table"><tr><th>Pos</th><th>Driver</th>'
            "<th>Team</th><th>Laps</th><th>Gap</th><th>Best lap</th><th>Pit stops</th>"
            '<th title="anomalies flagged in this replay">Anomalies</th></tr>'
            + "".join(rows)
            + "</table></div>"
            + models
        )
