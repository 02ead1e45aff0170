"""Scaling: the latest weak-scaling results (if any) and a button to run a small experiment."""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from f1live.widgets.base import Panel, floats, set_domain
from f1live.widgets.style import esc

log = logging.getLogger(__name__)


def latest_results(run_dir: Path) -> tuple[Path | None, list[dict[str, Any]]]:
    """The newest scaling results table under ``run_dir`` (``**/scaling*.json`` or ``.parquet``).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "scaling_results.json").write_text('[{"consumers": 1, "throughput_msgs_s": 900}]')
    >>> path, rows = latest_results(d)
    >>> path.name, rows[0]["consumers"]
    ('scaling_results.json', 1)
    >>> latest_results(d / "none")
    (None, [])
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return None, []
    files = [p for p in run_dir.glob("**/*scaling*") if p.suffix in (".json", ".parquet") and p.is_file()]
    # newest first; within one run prefer the Parquet table over its JSON twin
    files.sort(key=lambda p: (p.stat().st_mtime // 2, p.suffix == ".parquet"), reverse=True)
    for path in files:
        try:
            if path.suffix == ".parquet":
                import pandas as pd

                return path, pd.read_parquet(path).to_dict("records")
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                data = data.get("results") or data.get("rows") or data.get("table") or []
            if isinstance(data, list) and data and isinstance(data[0], dict):
                return path, data
        except (OSError, ValueError) as exc:
            log.warning("cannot read scaling results %s: %s", path, exc)
    return None, []


def _col(rows: list[dict[str, Any]], *names: str) -> str | None:
    for n in names:
        if rows and n in rows[0]:
            return n
    return None


class ScalingPanel(Panel):
    """Table + chart of throughput and p99 latency against the number of consumers.

    ``runner`` (``f1live.scaling`` when available) is called in a background thread by the
    button; until it exists the button stays disabled with a note.
    """

    title = "Weak scaling"
    help = "Consumers × partitions × streams grown together; ideal weak scaling keeps latency flat."

    def __init__(self, run_dir: Path, runner: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.runner = runner
        self.table = w.HTML()
        self.button = w.Button(description="Run small experiment", icon="", button_style="",
                               disabled=runner is None, layout=w.Layout(width="200px"))
        self.note = w.HTML()
        self.note.add_class("f1-note")
        xs = self.xs = bq.LinearScale(min=0.0, max=4.0)
        ys = self.ys = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Lines(x=[], y=[], scales={"x": xs, "y": ys}, marker="circle", colors=["#2563eb"],
                             labels=["msgs/s"], display_legend=True)
        self.figure = bq.Figure(marks=[self.bars], animation_duration=0,
                                axes=[bq.Axis(scale=xs, label="consumers", num_ticks=4),
                                      bq.Axis(scale=ys, orientation="vertical", label="msgs/s", num_ticks=4)],
                                fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10},
                                layout=w.Layout(height="180px", width="100%"))
        self.button.on_click(self._run)
        self._thread: threading.Thread | None = None
        self._loaded: Path | None = None
        if runner is None:
            self.note.value = ("the weak-scaling module (<code>f1live.scaling</code>) is not installed yet; "
                               "run <code>f1live scale</code> when it is — results under runs/ show here")
        self.widget = self.card(w.HBox([self.button, self.note]), w.HBox([
            w.Box([self.table], layout=w.Layout(flex="1 1 0", min_width="0")),
            w.Box([self.figure], layout=w.Layout(flex="1 1 0", min_width="0"))]))

    def refresh(self) -> None:
        """Reload the newest results table from disk (called at start and after a run)."""
        path, rows = latest_results(self.run_dir)
        if path == self._loaded and path is not None:
            return
        self._loaded = path
        if not rows:
            self.table.value = '<div class="f1-note">no scaling results yet</div>'
            return
        cols = list(rows[0])[:8]
        head = "".join(f"<th>{esc(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{esc(_short(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows[:20])
        self.table.value = (f'<div class="f1-note">{esc(path.name if path else "")}</div>'
                            f'<div class="f1-scroll" style="max-height:170px"><table class="f1-table">'
                            f"<tr>{head}</tr>{body}</table></div>")
        xc = _col(rows, "consumers", "n_consumers", "workers")
        yc = _col(rows, "throughput_msgs_s", "throughput", "msgs_per_s", "rate")
        if xc and yc:
            x, y = floats([r.get(xc) for r in rows]), floats([r.get(yc) for r in rows])
            set_domain(self.xs, x)
            set_domain(self.ys, np.concatenate([y, [0.0]]), floor=0.0)
            with self.bars.hold_sync():
                self.bars.x, self.bars.y = x, y

    def _run(self, _button: Any = None) -> None:
        if self.runner is None or (self._thread and self._thread.is_alive()):
            return
        self.button.disabled = True
        self.note.value = "running a small experiment…"

        def work() -> None:
            try:
                self.runner()  # type: ignore[misc]
                self.note.value = "done"
            except Exception as exc:  # shown to the user, logged with traceback
                log.exception("scaling experiment failed")
                self.note.value = f"failed: {esc(exc)}"
            finally:
                self.button.disabled = False
                self._loaded = None
                self.refresh()

        self._thread = threading.Thread(target=work, name="f1live-scaling-run", daemon=True)
        self._thread.start()

    def update(self, view: Any) -> None:
        """Nothing live: results change only when an experiment finishes."""


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def default_runner(settings: Any) -> Callable[[], Any] | None:
    """``f1live.scaling``'s small experiment, if that module exists (else ``None``)."""
    if importlib.util.find_spec("f1live.scaling") is None:
        return None
    import f1live.scaling as scaling

    fn = getattr(scaling, "run_small", None)
    if not callable(fn):
        return None

    def run() -> Any:
        result = fn(settings)
        save = getattr(result, "save", None)
        return save() if callable(save) else result  # results land under run_dir/scaling/

    return run
