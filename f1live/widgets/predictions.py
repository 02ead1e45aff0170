"""ML predictions of the selected driver: pit-stop probability, crash risk, tyre risk."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.schema import ANALYSIS_FIELDS, MODEL_SCORES
from f1live.widgets.base import Panel, floats, set_domain
from f1live.widgets.style import esc, fmt_pct, risk_colour, tile
from f1live.widgets.view import View

#: Line colour of each model score.
COLOURS: dict[str, str] = {"pit_stop_probability": "#2563eb", "crash_risk": "#dc2626", "tire_failure": "#d97706"}
#: Model name -> (display label, line colour); names and labels from :data:`f1live.schema.ANALYSIS_FIELDS`.
MODELS: dict[str, tuple[str, str]] = {name: (ANALYSIS_FIELDS[name].label, COLOURS[name]) for name in MODEL_SCORES}

NO_MODELS = "no models — run <code>f1live train</code>"


def model_evidence(models_dir: Path) -> dict[str, str]:
    """Each model's evidence sentence from ``models/manifest.json`` (what it achieved on the
    held-out race, next to its baselines); empty without a manifest.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "manifest.json").write_text('{"models": {"crash_risk": {"evidence": "too few events"}}}')
    >>> model_evidence(d)
    {'crash_risk': 'too few events'}
    """
    try:
        manifest = json.loads((Path(models_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, dict):
        return {}
    return {
        str(k): str(v["evidence"])
        for k, v in models.items()
        if k in MODELS and isinstance(v, dict) and v.get("evidence")
    }


def label_definitions(models_dir: Path) -> dict[str, str]:
    """Each model's label definition from ``models/manifest.json`` (empty if absent).

    Accepts ``{"models": {name: {...}}}`` or ``{name: {...}}``; the definition is read from
    ``label_definition`` / ``label`` / ``description``.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "manifest.json").write_text('{"models": {"crash_risk": {"label_definition": "SC within 60 s"}}}')
    >>> label_definitions(d)
    {'crash_risk': 'SC within 60 s'}
    >>> label_definitions(d / "nowhere")
    {}
    """
    path = Path(models_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    models = manifest.get("models", manifest) if isinstance(manifest, dict) else {}
    out: dict[str, str] = {}
    items: Iterable[tuple[Any, Any]]
    if isinstance(models, dict):
        items = models.items()
    elif isinstance(models, list):
        items = ((m.get("name"), m) for m in models if isinstance(m, dict))
    else:
        items = ()
    for name, m in items:
        if name in MODELS and isinstance(m, dict):
            text = m.get("label_definition") or m.get("label") or m.get("description")
            if isinstance(text, dict):
                text = text.get("definition") or json.dumps(text)
            if text:
                out[str(name)] = str(text)
    return out


class PredictionsPanel(Panel):
    """Live numbers (hover for the label definition) and their recent time series.

    >>> p = PredictionsPanel()
    >>> p.update(View(status={"models": "missing"}), selected=None)
    >>> "f1live train" in p.numbers.value
    True
    >>> p.update(View(drivers={"VER": {"analysis": {"crash_risk": 0.7}}},
    ...               history={"VER": {"session_time": [1.0, 2.0], "crash_risk": [0.6, 0.7]}}), selected="VER")
    >>> "70.0 %" in p.numbers.value, p.lines.y.tolist()[1]
    (True, [0.6, 0.7])
    """

    title = "ML predictions"
    help = "Outputs of the scikit-learn models for the selected driver; hover a number for its label definition."

    def __init__(self) -> None:
        super().__init__()
        self.definitions: dict[str, str] = {}
        self.evidence: dict[str, str] = {}
        self.numbers = w.HTML()
        self.numbers.add_class("f1-predictions-numbers")
        self.xs = xs = bq.LinearScale(min=0.0, max=1.0)
        ys = bq.LinearScale(min=0.0, max=1.0)
        self.lines = bq.Lines(
            x=[],
            y=[[], [], []],
            scales={"x": xs, "y": ys},
            colors=[c for _, c in MODELS.values()],
            labels=[n for n, _ in MODELS.values()],
            display_legend=True,
            stroke_width=2,
        )
        ax = bq.Axis(scale=xs, label="session time (s)", num_ticks=5, grid_color="#eee")
        ay = bq.Axis(scale=ys, orientation="vertical", tick_format=".0%", num_ticks=5, grid_color="#eee")
        self.figure = bq.Figure(
            marks=[self.lines],
            axes=[ax, ay],
            animation_duration=0,
            legend_location="top-left",
            legend_style={"stroke-width": 0},
            fig_margin={"top": 10, "bottom": 40, "left": 50, "right": 10},
            layout=w.Layout(height="200px", width="100%"),
        )
        self.help_box = w.HTML()
        self.help_box.add_class("f1-note")
        self.widget = self.card(self.numbers, self.figure, self.help_box)

    def set_definitions(self, definitions: dict[str, str], evidence: dict[str, str] | None = None) -> None:
        """Label definitions (tooltips, and below the chart) and each model's evidence on the
        held-out race (shown under the chart, so a score is never read without it)."""
        self.definitions = dict(definitions)
        self.evidence = dict(evidence or {})
        items = "".join(f"<li><b>{esc(MODELS[k][0])}</b>: {esc(v)}</li>" for k, v in self.definitions.items())
        proof = "".join(f"<li><b>{esc(MODELS[k][0])}</b>: {esc(v)}</li>" for k, v in self.evidence.items())
        self.help_box.value = (
            f'<div class="f1-evidence"><b>How well they do on a race they never saw</b><ul>{proof}</ul></div>'
            if proof
            else ""
        ) + (f"<details><summary>What the labels mean</summary><ul>{items}</ul></details>" if items else "")

    def update(self, view: View, selected: str | None = None) -> None:
        a: dict[str, Any] = view.analysis(selected) if selected else {}
        missing = view.status.get("models") == "missing" and not any(k in a for k in MODELS)
        self.figure.layout.display = "none" if missing else None
        if missing:
            note = view.meta.get("models_note")
            self.numbers.value = (
                f'<div class="f1-note f1-models-missing" style="font-size:14px">'
                f"{esc(note) if note else NO_MODELS}</div>"
            )
        else:
            tiles = []
            for name, (label, _) in MODELS.items():
                p = a.get(name)
                title = self.definitions.get(name, label)
                if name in self.evidence:
                    title += " — held-out race: " + self.evidence[name]
                tiles.append(tile(label, fmt_pct(p), colour=risk_colour(p), title=title))
            who = f"<b>{esc(selected)}</b>" if selected else "no driver selected"
            self.numbers.value = f'<div class="f1-note">{who}</div><div class="f1-tiles">{"".join(tiles)}</div>'
        if missing:  # the chart is hidden: nothing to compute
            return
        t = floats(view.series(selected, "session_time")) if selected else floats([])
        ys = [floats(view.series(selected, name))[-len(t) :] if selected else floats([]) for name in MODELS]
        ys = [y if len(y) == len(t) else floats([None] * len(t)) for y in ys]
        if not any(np.isfinite(y).any() for y in ys):  # an all-NaN path is invalid SVG
            t, ys = floats([]), [floats([]) for _ in ys]
        set_domain(self.xs, t, pad=0)
        with self.lines.hold_sync():
            self.lines.x, self.lines.y = t, ys
