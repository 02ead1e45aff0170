"""Weak scaling on the page: the latest results (table + chart), a button for a small
experiment, and the figures of a results table for notebooks (:func:`scaling_view`).

The latest results are what :func:`f1live.scaling.latest_results` finds: the panel, the CLI
and ``f1live.scaling.load_latest_results`` share that one rule.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd

from f1live.background import BackgroundLoop
from f1live.config import Settings
from f1live.scaling import RATES, latest_results, run_small
from f1live.widgets.base import Panel, floats, set_domain
from f1live.widgets.style import esc

log = logging.getLogger(__name__)

_COLORS = {"process": "#2563eb", "thread": "#dc2626", "group": "#059669"}


class ExperimentRun(BackgroundLoop[Any]):
    """Runs one experiment (``runner()``) in the background and calls ``done(error)`` after it."""

    kind = "scaling-run"

    def __init__(self, runner: Callable[[], Any], done: Callable[[BaseException | None], None]) -> None:
        super().__init__()
        self.runner = runner
        self.done = done
        self.status = "idle"

    def _set_status(self, text: str) -> None:
        self.status = text

    def start(self) -> ExperimentRun:
        def work() -> None:
            error: BaseException | None = None
            try:
                self._summary = self.runner()
            except Exception as exc:  # shown to the user by done(), logged with its traceback
                log.exception("scaling experiment failed")
                error = exc
            finally:
                self.done(error)

        self._launch(work)
        return self

    def stop(self) -> None:
        """An experiment runs to its end (its points have their own timeouts)."""


class ScalingPanel(Panel):
    """Table + chart of throughput and p99 latency against the number of consumers.

    ``runner`` is called in the background by the button (the dashboard gives it
    :func:`default_runner` once the page is up; until then the button is disabled).
    """

    title = "Weak scaling"
    help = "Consumers × partitions × streams grown together; ideal weak scaling keeps latency flat."

    def __init__(self, run_dir: Path, runner: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.runner = runner
        self.table = w.HTML()
        self.button = w.Button(
            description="Run small experiment",
            icon="",
            button_style="",
            disabled=runner is None,
            layout=w.Layout(width="200px"),
        )
        self.note = w.HTML()
        self.note.add_class("f1-note")
        xs = self.xs = bq.LinearScale(min=0.0, max=4.0)
        ys = self.ys = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Lines(
            x=[],
            y=[],
            scales={"x": xs, "y": ys},
            marker="circle",
            colors=["#2563eb"],
            labels=["msgs/s"],
            display_legend=True,
        )
        self.figure = bq.Figure(
            marks=[self.bars],
            animation_duration=0,
            axes=[
                bq.Axis(scale=xs, label="consumers", num_ticks=4),
                bq.Axis(scale=ys, orientation="vertical", label="msgs/s", num_ticks=4),
            ],
            fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10},
            layout=w.Layout(height="180px", width="100%"),
        )
        self.button.on_click(self._run)
        self._run_loop: ExperimentRun | None = None
        self._lock = threading.Lock()
        self._loaded: Path | None = None
        self.widget = self.card(
            w.HBox([self.button, self.note]),
            w.HBox(
                [
                    w.Box([self.table], layout=w.Layout(flex="1 1 0", min_width="0")),
                    w.Box([self.figure], layout=w.Layout(flex="1 1 0", min_width="0")),
                ]
            ),
        )

    def refresh(self) -> None:
        """Reload the newest results table from disk (called at start and after a run)."""
        found = latest_results(self.run_dir)
        path = None if found is None else found.path
        if path == self._loaded and path is not None:
            return
        self._loaded = path
        if found is None or found.table.empty:
            self.table.value = '<div class="f1-note">no scaling results yet</div>'
            return
        df = found.table
        cols = list(df.columns)[:8]
        rows = df.head(20).to_dict("records")
        head = "".join(f"<th>{esc(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{esc(_short(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
        self.table.value = (
            f'<div class="f1-note">{esc(found.path.parent.name)}/{esc(found.path.name)}</div>'
            f'<div class="f1-scroll" style="max-height:170px"><table class="f1-table">'
            f"<tr>{head}</tr>{body}</table></div>"
        )
        x, y = floats(df["consumers"].to_numpy()), floats(df["throughput_msgs_s"].to_numpy())
        set_domain(self.xs, x)
        set_domain(self.ys, np.concatenate([y, [0.0]]), floor=0.0)
        with self.bars.hold_sync():
            self.bars.x, self.bars.y = x, y

    def _run(self, _button: Any = None) -> None:
        with self._lock:
            if self.runner is None or (self._run_loop is not None and self._run_loop.running):
                return
            self.button.disabled = True
            self.note.value = "running a small experiment…"
            self._run_loop = ExperimentRun(self.runner, self._finished).start()

    def _finished(self, error: BaseException | None) -> None:
        self.note.value = "done" if error is None else f"failed: {esc(error)}"
        self.button.disabled = False
        self._loaded = None
        self.refresh()

    def update(self, view: Any) -> None:
        """Nothing live: results change only when an experiment finishes."""


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def default_runner(settings: Settings) -> Callable[[], Any]:
    """The panel's button: :func:`f1live.scaling.run_small` (it saves its results under
    ``settings.run_dir``, where :meth:`ScalingPanel.refresh` finds them)."""
    return lambda: run_small(settings)


# --------------------------------------------------------------------------- notebook figures
def scaling_figures(df: pd.DataFrame, rate: str | None = None) -> dict[str, Any]:
    """bqplot figures of a results table: ``latency`` (consumers vs p50/p99, per mode),
    ``throughput`` (consumers vs events/s with the ideal line) and ``efficiency``.

    ``rate`` picks the series (default: ``max`` if present, else ``fixed``). Each mode is a
    colour (process blue, thread red, group green); p99 dashed.
    """
    if rate is None:
        rate = "max" if (df["rate"] == "max").any() else "fixed"
    d = df[df["rate"] == rate].sort_values("consumers")
    xs = bq.LinearScale()
    margin = {"top": 30, "bottom": 45, "left": 65, "right": 15}

    def fig(marks: list[Any], ys: Any, ylabel: str, title: str) -> Any:
        return bq.Figure(
            marks=marks,
            title=title,
            animation_duration=0,
            fig_margin=margin,
            legend_location="top-left",
            layout=w.Layout(height="260px", width="100%"),
            axes=[
                bq.Axis(scale=xs, label="consumers (= partitions = streams)", tick_format="d"),
                bq.Axis(scale=ys, orientation="vertical", label=ylabel),
            ],
        )

    def line(x: np.ndarray, y: Any, ys: Any, color: str, label: str, **style: Any) -> Any:
        return bq.Lines(
            x=x,
            y=np.asarray(y, dtype=float),
            scales={"x": xs, "y": ys},
            colors=[color],
            labels=[label],
            display_legend=True,
            **style,
        )

    kind = d["latency_kind"].iloc[0] if len(d) else "latency"
    ys_lat, ys_thr, ys_eff = bq.LinearScale(min=0.0), bq.LinearScale(min=0.0), bq.LinearScale(min=0.0, max=1.2)
    lat_marks, thr_marks, eff_marks = [], [], []
    for mode, g in d.groupby("mode"):
        c = _COLORS.get(str(mode), "#555")
        x = g["consumers"].astype(float).to_numpy()
        lat_marks += [
            line(x, g["latency_p50_ms"], ys_lat, c, f"{mode} p50", marker="circle"),
            line(x, g["latency_p99_ms"], ys_lat, c, f"{mode} p99", marker="square", line_style="dashed"),
        ]
        thr_marks += [
            line(x, g["throughput_msgs_s"], ys_thr, c, f"{mode} measured", marker="circle"),
            line(x, g["ideal_msgs_s"], ys_thr, c, f"{mode} ideal (N x N=1)", line_style="dotted"),
        ]
        eff_marks.append(line(x, g["efficiency"], ys_eff, c, str(mode), marker="circle"))
    cores = int(d["cpu_count"].iloc[0]) if len(d) else 0
    return {
        "latency": fig(lat_marks, ys_lat, f"{kind} latency (ms)", f"Per-event {kind} latency ({rate} rate)"),
        "throughput": fig(thr_marks, ys_thr, "events / s", f"Throughput ({rate} rate, {cores} cores)"),
        "efficiency": fig(eff_marks, ys_eff, "efficiency", "Efficiency = T(N) / (N x T(1))"),
    }


def scaling_view(df: pd.DataFrame) -> w.VBox:
    """The figures of every rate in the table side by side (a widget to display)."""
    rows = []
    for rate in [r for r in RATES if (df["rate"] == r).any()]:
        f = scaling_figures(df, rate)
        rows.append(w.HBox([f["latency"], f["throughput"], f["efficiency"]]))
    return w.VBox(rows)
