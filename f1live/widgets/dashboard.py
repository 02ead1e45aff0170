"""The live dashboard: every panel, the controls, the refresher and the pipeline they drive.

In a notebook / Voila page::

    from f1live.config import Settings
    from f1live.widgets import Dashboard
    dash = Dashboard(Settings.from_env(), drivers=["VER", "HAM"])
    dash.show()     # build-once widgets
    dash.start()    # broker (this thread) -> session, topics, consumer, producer (background)

Served by ``f1live dashboard`` (``Dashboard.from_env``), a page's pipeline starts only when
the page is really displayed: the session loads at once, but broker, consumer and producer
start at the page's first heartbeat (a hidden ``Play`` widget ticking in the browser). A
request that never displays the page (a health check, ``curl``, a link preview) gets
nothing started, and the armed dashboard gives up after ``wait_for_page_s``. Each page
replays into a topic of its own on the server's broker, so several pages stream at once.

Lifetime: ``stop()`` stops the refresher and the pipeline (threads + broker); it runs
at interpreter exit too.  A Voila page that is closed never tells its kernel, so when the
heartbeat has been silent for ``heartbeat_timeout_s`` after having been seen, the dashboard
stops itself and the idle kernel is then culled by the server (see ``f1live dashboard``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from f1live.config import Settings
from f1live.widgets.alerts import AlertsPanel
from f1live.widgets.controls import SPEEDS, ControlsPanel
from f1live.widgets.header import HeaderPanel
from f1live.widgets.health import HealthPanel
from f1live.widgets.leaderboard import LeaderboardPanel
from f1live.widgets.predictions import PredictionsPanel, label_definitions, model_evidence
from f1live.widgets.race import RaceTab
from f1live.widgets.refresher import Refresher
from f1live.widgets.scaling import ScalingPanel, default_runner
from f1live.widgets.style import CSS, esc, fmt_clock
from f1live.widgets.summary import SummaryPanel, replay_ended
from f1live.widgets.telemetry import TelemetryPanel
from f1live.widgets.timeline import TimelinePanel
from f1live.widgets.trackmap import TrackMapPanel
from f1live.widgets.view import View, to_view

log = logging.getLogger(__name__)


class Dashboard:
    """All panels + controls + :class:`Refresher`, driving one :class:`f1live.pipeline.Pipeline`.

    Args:
        settings: session, broker, speed, ``ui_refresh_ms``, ``run_dir``, ``models_dir``.
        drivers: replay only these drivers (default all).
        bootstrap_servers: an external Kafka (default: the running recorded broker, else an
            embedded one of the pipeline's own).
        start_lap: begin at this lap (``start="lap N"``).
        start: where the replay begins (``race``, ``session``, ``lap N``, ``time H:MM:SS``;
            default ``settings.replay_from``).
        pipeline: a ready (not started) pipeline to drive instead of building one.
        heartbeat_timeout_s: stop when a page that was seen goes silent this long
            (``None``: never; Voila pages use 60 s by default, see ``f1live dashboard``).
        wait_for_page_s: start the pipeline only at the page's first heartbeat, and give up
            (release everything) when none comes within this many seconds; ``None`` starts
            at :meth:`start` (notebooks, papermill).
        page_topic: replay into a topic of this page's own (``<topic>.page-<id>``, deleted
            when the page stops) so pages sharing a broker do not see each other's data.
        window_s: seconds of speed trace shown.
        switch_interval_s: GIL switch interval while running (``sys.setswitchinterval``;
            ``None`` leaves the process default): short, so the consumer thread is not
            held up by a frame being built. Restored by :meth:`stop`.

    Building it creates widgets only (no I/O, no threads):

    >>> d = Dashboard(Settings())
    >>> len(d.panels), d.running, d.tabs.titles
    (9, False, ('Live', 'Race analysis', 'Session summary'))
    >>> d.tabs.selected_index = 1   # the race-analysis panels are built when their tab is first opened
    >>> len(d.panels), d.race.visible
    (14, True)
    >>> d.stop()  # idempotent, safe before start
    """

    def __init__(
        self,
        settings: Settings,
        *,
        drivers: Sequence[str] = (),
        bootstrap_servers: str | None = None,
        start_lap: int | None = None,
        start: str | None = None,
        pipeline: Any = None,
        heartbeat_timeout_s: float | None = None,
        wait_for_page_s: float | None = None,
        page_topic: bool = False,
        window_s: float = 60.0,
        switch_interval_s: float | None = 0.001,
    ) -> None:
        if page_topic:
            page = uuid.uuid4().hex[:8]
            settings = settings.replace(
                topic=f"{settings.topic}.page-{page}", dlq_topic=f"{settings.topic}.page-{page}.dlq"
            )
        self.settings = settings
        self.page_topic = page_topic
        self.drivers = tuple(d.upper() for d in drivers)
        self.bootstrap_servers = bootstrap_servers
        self.start_at = f"lap {int(start_lap)}" if start_lap is not None else (start or settings.replay_from)
        self.pipeline = pipeline
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.wait_for_page_s = wait_for_page_s
        self._armed_at: float | None = None  # waiting for the page since (monotonic s)
        self._preparer: threading.Thread | None = None
        self.switch_interval_s = switch_interval_s
        self._saved_switch: float | None = None
        self._last_heartbeat: float | None = None
        self._heartbeats = 0
        self._lock = threading.RLock()
        self._starter: threading.Thread | None = None
        self._stopped = False
        self.header = HeaderPanel()
        self.controls = ControlsPanel(settings, self.drivers, start=self.start_at)
        self.timeline = TimelinePanel()
        self.telemetry = TelemetryPanel(window_s=window_s)
        self.trackmap = TrackMapPanel()
        self.leaderboard = LeaderboardPanel()
        self.predictions = PredictionsPanel()
        self.alerts = AlertsPanel()
        self.health = HealthPanel()
        self.scaling = ScalingPanel(settings.run_dir, runner=None)
        self.race: RaceTab | None = None  # built when its tab is first opened (see _on_tab)
        self.summary = SummaryPanel()
        self._summary_shown = False
        self._live_panels = [
            self.header,
            self.timeline,
            self.telemetry,
            self.trackmap,
            self.leaderboard,
            self.predictions,
            self.alerts,
            self.health,
        ]
        # Browser-side heartbeat: the Play widget's timer runs in the page and sends value
        # changes back; a closed page stops it.  Hidden: it is machinery, not UI.
        # It ticks every 250 ms until the first tick arrives (the page-gated start waits for it),
        # then every second.
        self.heartbeat = w.Play(
            value=0, min=0, max=10**9, step=1, interval=250, repeat=True, layout=w.Layout(display="none")
        )
        self.heartbeat.observe(self._on_heartbeat, names="value")
        self.refresher = Refresher(self._snapshot, self._apply, period_ms=settings.ui_refresh_ms, changed=self._changed)
        self.refresher.on_tick.append(self._watch_heartbeat)
        self._last_key: Any = None
        self._kick_at = 0.0
        self._slow_at = float("-inf")  # last update of the summary panels (monotonic s)
        self.slow_frames = 0
        self.panel_errors = 0
        self._wire_controls()
        row = {"flex_flow": "row wrap", "align_items": "stretch", "width": "100%"}
        for panel, flex in (
            (self.trackmap, "1 1 380px"),
            (self.telemetry, "2 1 520px"),
            (self.leaderboard, "3 1 640px"),
            (self.predictions, "1 1 360px"),
            (self.alerts, "1 1 420px"),
            (self.health, "1 1 420px"),
        ):
            panel.widget.layout.flex = flex
        self.scaling.widget.layout.flex = "0 0 auto"
        self.timeline.widget.layout.flex = "0 0 auto"
        live = w.VBox(
            [
                w.HBox([self.trackmap.widget, self.telemetry.widget], layout=w.Layout(**row)),
                w.HBox([self.leaderboard.widget, self.predictions.widget], layout=w.Layout(**row)),
                w.HBox([self.alerts.widget, self.health.widget], layout=w.Layout(**row)),
                self.scaling.widget,
            ],
            layout=w.Layout(width="100%"),
        )
        # The race-analysis panels sit in tabs: the page fits 1366 px without horizontal
        # scrolling, and hidden panels cost the browser nothing (they draw only when shown).
        # A tab's panels are built and put in it when it is first opened: a bqplot figure
        # rendered in a hidden tab has no size (negative SVG widths, errors in the console),
        # and a page that never opens the tab loads no widget models for it.
        self.tabs = w.Tab(
            children=[live, w.VBox(), w.VBox()],
            titles=("Live", "Race analysis", "Session summary"),
            layout=w.Layout(width="100%"),
        )
        self.tabs.add_class("f1-tabs")
        self.tabs.observe(self._on_tab, names="selected_index")
        self.widget = w.VBox(
            [
                w.HTML(CSS),
                self.header.widget,
                self.controls.widget,
                self.timeline.widget,
                self.tabs,
                self.heartbeat,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("f1-root")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Dashboard:
        """A dashboard configured from ``F1LIVE_*`` variables (what ``f1live dashboard`` sets).

        Besides :class:`Settings` fields (``F1LIVE_REPLAY_FROM`` for the start):
        ``F1LIVE_DASHBOARD_DRIVERS`` (``VER,HAM``), ``F1LIVE_DASHBOARD_START_LAP``,
        ``F1LIVE_DASHBOARD_HEARTBEAT_S`` (0 = never), ``F1LIVE_DASHBOARD_WAIT_FOR_PAGE_S``
        (0 = start at once), ``F1LIVE_DASHBOARD_PAGE_TOPIC`` (1 = a topic per page).

        >>> d = Dashboard.from_env({"F1LIVE_SPEED": "20", "F1LIVE_DASHBOARD_DRIVERS": "ver,ham",
        ...                         "F1LIVE_DASHBOARD_HEARTBEAT_S": "0", "F1LIVE_REPLAY_FROM": "lap 30",
        ...                         "F1LIVE_DASHBOARD_WAIT_FOR_PAGE_S": "20", "F1LIVE_DASHBOARD_PAGE_TOPIC": "1"})
        >>> d.settings.speed, d.drivers, d.heartbeat_timeout_s, d.start_at, d.wait_for_page_s
        (20.0, ('VER', 'HAM'), None, 'lap 30', 20.0)
        >>> d.settings.topic.startswith("f1-speed-stream.page-")
        True
        """
        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        drivers = tuple(d.strip().upper() for d in env.get("F1LIVE_DASHBOARD_DRIVERS", "").split(",") if d.strip())
        lap = env.get("F1LIVE_DASHBOARD_START_LAP", "")
        hb = float(env.get("F1LIVE_DASHBOARD_HEARTBEAT_S", "60") or 0)
        wait = float(env.get("F1LIVE_DASHBOARD_WAIT_FOR_PAGE_S", "0") or 0)
        kw: dict[str, Any] = {
            "drivers": drivers,
            "start_lap": int(lap) if lap else None,
            "heartbeat_timeout_s": hb if hb > 0 else None,
            "wait_for_page_s": wait if wait > 0 else None,
            "page_topic": env.get("F1LIVE_DASHBOARD_PAGE_TOPIC", "") in ("1", "true", "yes"),
            "bootstrap_servers": settings.bootstrap_servers,
        }
        kw.update(overrides)
        return cls(settings, **kw)

    def log_to_file(self, level: int = logging.INFO) -> Path:
        """Send library and Kafka-client logs to ``run_dir/dashboard/kernel-<pid>.log``.

        In a Voila page, log lines on stderr would otherwise be printed into the page.
        """
        path = Path(self.settings.run_dir) / "dashboard" / f"kernel-{os.getpid()}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"))
        root = logging.getLogger()
        for h in list(root.handlers):
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                root.removeHandler(h)
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        logging.getLogger("f1live").setLevel(level)
        return path

    # ------------------------------------------------------------------ display / lifecycle
    def show(self) -> Dashboard:
        """Display the dashboard in the current notebook / Voila page."""
        from IPython.display import display

        display(self.widget)
        return self

    @property
    def running(self) -> bool:
        return self.pipeline is not None and getattr(self.pipeline, "running", False)

    def _new_pipeline(self, settings: Settings) -> Any:
        from f1live.pipeline import Pipeline

        return Pipeline(
            settings,
            bootstrap_servers=self.bootstrap_servers,
            drivers=self.drivers or None,
            start=self.start_at,
            delete_topics=self.page_topic,
        )

    def start(self, background: bool = True) -> Dashboard:
        """Arm the dashboard: the refresher and the session's loading start now; the pipeline
        (broker, topics, consumer, producer) starts now, or -- with ``wait_for_page_s`` -- at
        the page's first heartbeat.

        The embedded broker, when the pipeline needs one of its own, is started in the
        calling thread (the kernel's main thread also handles the heartbeat), so it dies with
        the process even if that is killed; loading the session and starting the clients run
        in a background thread when ``background`` (the page stays responsive).
        """
        with self._lock:
            self._stopped = False
            if self.pipeline is None or getattr(self.pipeline, "phase", "") == "stopped":
                self.pipeline = self._new_pipeline(self.settings)
            defs = label_definitions(self.settings.models_dir)
            if not defs:  # no trained models: the definitions the models would be trained on
                from f1live.labels import LABEL_DEFINITIONS

                defs = dict(LABEL_DEFINITIONS)
            self.predictions.set_definitions(defs, model_evidence(self.settings.models_dir))
            self.summary.set_evidence(model_evidence(self.settings.models_dir))
            self.scaling.runner = default_runner(self.settings)
            self.scaling.button.disabled = self.scaling.runner is None
            if self.scaling.runner is not None:
                self.scaling.note.value = ""
            self.scaling.refresh()
            if self.switch_interval_s and self._saved_switch is None:
                # A frame is ~10 ms of Python; with the default 5 ms GIL switch interval a
                # consumer waiting on the GIL could stall that long per wake-up.
                self._saved_switch = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved_switch, self.switch_interval_s))
            pipeline = self.pipeline
            self._background = background
            self._preparer = threading.Thread(
                target=self._prepare, args=(pipeline,), name="f1live-session-load", daemon=True
            )
            self._preparer.start()
            self.refresher.start()
            if self.wait_for_page_s is None:
                self._launch()
            else:
                self._armed_at = time.monotonic()
                self._message("loading the session…")
        return self

    def _prepare(self, pipeline: Any) -> None:
        try:
            pipeline.prepare()
        except Exception:  # reported by pipeline.start(), which raises it again
            log.exception("loading the session failed")

    def _launch(self) -> None:
        """Start the pipeline (broker in this thread, the rest in the background)."""
        with self._lock:
            if self._stopped or self._starter is not None and self._starter.is_alive():
                return
            self._armed_at = None
            pipeline = self.pipeline
            self._message("starting…")
            try:
                pipeline.start_broker()
            except Exception as exc:
                log.exception("no broker")
                self._message(f"<b style='color:#dc2626'>start failed: {esc(exc)}</b>")
                return

            def run() -> None:
                try:
                    if self._preparer is not None:
                        self._preparer.join()
                    pipeline.start()
                    self._message("running")
                except Exception as exc:
                    log.exception("pipeline failed to start")
                    self._message(f"<b style='color:#dc2626'>start failed: {esc(exc)}</b>")

            if getattr(self, "_background", True):
                self._starter = threading.Thread(target=run, name="f1live-pipeline-start", daemon=True)
                self._starter.start()
            else:
                run()

    def wait_started(self, timeout: float = 120.0) -> bool:
        """Block until the background start finished; True if the pipeline is running."""
        if self._starter is not None:
            self._starter.join(timeout)
        return self.running

    def run_for(self, seconds: float) -> dict[str, Any]:
        """Let the dashboard run ``seconds`` (notebooks/papermill); returns the last snapshot."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.1)
        return self._snapshot()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the refresher and the pipeline (threads and broker). Idempotent."""
        with self._lock:
            self._stopped = True
            self.refresher.stop()
            if self.pipeline is not None:
                self.pipeline.stop(timeout=timeout)
            self.refresher.join(5)
            self._armed_at = None
            if self._starter is not None:
                self._starter.join(timeout)
            if self._saved_switch is not None:
                sys.setswitchinterval(self._saved_switch)
                self._saved_switch = None
            try:  # one last frame (all panels) so the page shows "stopped"
                self._slow_at = float("-inf")
                self._apply(self._snapshot())
            except Exception:  # the page may be gone already
                log.debug("final refresh failed", exc_info=True)

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ controls
    def _message(self, html: str) -> None:
        self.controls.message.value = html

    def _guard(self, fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # a control must never kill the kernel's handler
                log.warning("control failed: %s", exc)
                self._message(f"<b style='color:#dc2626'>{esc(exc)}</b>")

        return run

    def _wire_controls(self) -> None:
        c = self.controls

        def pause() -> None:
            self._need().pause()
            self._message("paused")

        def resume() -> None:
            self._need().resume()
            self._message("running")

        def seek_lap() -> None:
            self._need().seek(int(c.lap.value))
            self._message(f"seeking to lap {int(c.lap.value)}")

        def seek_time(t: float) -> None:
            self._need().seek(session_time=t)
            self._message(f"seeking to {fmt_clock(t)}")

        c.on("start", self._guard(self._on_start))
        c.on("pause", self._guard(pause))
        c.on("resume", self._guard(resume))
        c.on("stop", self._guard(self._on_stop))
        c.on("seek", self._guard(seek_lap))
        self.timeline.on_seek(lambda t: self._guard(lambda: seek_time(t))())
        c.live_ui.observe(lambda ch: self._guard(lambda: self.set_live(bool(ch["new"])))(), names="value")
        c.speed.observe(
            lambda ch: self._guard(lambda: self._need().set_speed(SPEEDS[ch["new"]]))() if self.running else None,
            names="value",
        )

    def set_live(self, live: bool) -> None:
        """Freeze (``False``) or resume the screen updates; the pipeline keeps streaming."""
        if live and not self._stopped:
            self._slow_at = float("-inf")  # the summary panels catch up on the first frame
            self.refresher.start()
            self._message("running" if self.running else "")
        elif not live:
            self.refresher.stop()
            self.refresher.join(2)
            self._message("screen frozen (the stream goes on)")

    @property
    def panels(self) -> list[Any]:
        """Every panel built so far (the race-analysis ones once their tab was opened)."""
        return [*self._live_panels, *(self.race.panels if self.race is not None else []), self.summary]

    def _on_tab(self, change: dict[str, Any]) -> None:
        holder = self.tabs.children[change["new"]]
        if change["new"] == 1 and self.race is None:
            self.race = RaceTab(on_select=self._select_driver)
        content = {1: self.race.widget if self.race is not None else None, 2: self.summary.widget}.get(change["new"])
        if content is not None and not holder.children:
            holder.children = [content]
        if self.race is not None:
            self.race.visible = change["new"] == 1
        self._slow_at = float("-inf")  # draw the tab now, not at the next full frame

    def _select_driver(self, code: str) -> None:
        """A driver picked in the race-analysis tab is the selected driver everywhere."""
        if code in self.telemetry.driver.options:
            self.telemetry.driver.value = code

    def _need(self) -> Any:
        if not self.running:
            raise RuntimeError("the pipeline is not running — press Start")
        return self.pipeline

    def _on_start(self) -> None:
        if self.running:
            self._message("already running")
            return
        if self._starter is not None and self._starter.is_alive():
            self._message("still starting…")
            return
        if self.pipeline is not None:
            self.pipeline.stop()
        self.settings = self.controls.settings_from(self.settings)
        self.drivers = self.controls.selected_drivers()
        self.start_at = self.settings.replay_from
        self.pipeline = None
        self.start()

    def _on_stop(self) -> None:
        if self.pipeline is not None:
            self._message("stopping…")
            self.pipeline.stop()
        self._message("stopped (press Start to replay again)")

    # ------------------------------------------------------------------ heartbeat
    def _on_heartbeat(self, _change: Any) -> None:
        self._last_heartbeat = time.monotonic()
        self._heartbeats += 1
        if self._heartbeats == 1:
            self.heartbeat.interval = 1000
        if self._armed_at is not None and not self._stopped:
            log.info(
                "the page is displayed (first heartbeat after %.1f s): starting the pipeline",
                time.monotonic() - self._armed_at,
            )
            self._launch()

    def _watch_heartbeat(self) -> None:
        now = time.monotonic()
        if (
            self._armed_at is not None
            and self.wait_for_page_s is not None
            and now - self._armed_at > self.wait_for_page_s
        ):
            log.warning(
                "no page displayed within %.0f s of the request (a health check or a preview?): "
                "releasing the session, nothing was started",
                self.wait_for_page_s,
            )
            self._armed_at = None
            threading.Thread(target=self.stop, name="f1live-dashboard-stop", daemon=True).start()
            self.refresher.stop()
            return
        if self._last_heartbeat is None:
            # The Play timer starts only on a playing False->True change seen by a live
            # view, so (re)kick it until the page answers.
            if now - self._kick_at > 0.5:
                self._kick_at = now
                self.heartbeat.playing = False
                self.heartbeat.playing = True
            return
        if self.heartbeat_timeout_s is not None and now - self._last_heartbeat > self.heartbeat_timeout_s:
            log.warning("no heartbeat from the page for %.0f s: stopping the dashboard", now - self._last_heartbeat)
            threading.Thread(target=self.stop, name="f1live-dashboard-stop", daemon=True).start()
            self.refresher.stop()

    # ------------------------------------------------------------------ refresh
    def _snapshot(self) -> dict[str, Any]:
        """A full snapshot when the summary panels are due, else a light one (live panels only)."""
        p = self.pipeline
        if p is None:
            return {"status": {"pipeline": "not started"}}
        if time.monotonic() - self._slow_at >= self.settings.ui_slow_refresh_ms / 1000.0:
            race = self.race if self.race is not None and self.race.visible else None
            snap = p.snapshot(race=True, traces=race.request() if race is not None else None)
            snap["frame"] = "full"
        else:
            selected = self.telemetry.selected if self.tabs.selected_index == 0 else None  # its trace is hidden
            snap = p.snapshot(history=[selected] if selected else False, latency=False, timing=False)
            snap["frame"] = "live"
        return snap

    def _changed(self, snap: dict[str, Any]) -> bool:
        key = (snap.get("updated_at"), (snap.get("status") or {}).get("pipeline"))
        if key != self._last_key:
            self._last_key = key
            return True
        return False

    def _apply(self, snap: dict[str, Any]) -> None:
        view: View = to_view(snap)
        self.health.ui_stats = self.refresher.stats()
        selected = self.telemetry.selected
        # Live panels every frame; summary panels (per-lap / per-second numbers, and most
        # of the browser's redraw work) every ui_slow_refresh_ms, and on the first frame
        # after a start or an unfreeze: _snapshot decided which, and took a full snapshot
        # (all histories, latency percentiles) only for those frames.
        slow = snap.get("frame", "full") == "full"
        # Panels of a hidden tab are not drawn (the header, timeline and health always are:
        # the clock, the seek bar, the page's own metrics); opening a tab forces a full frame.
        live_tab = self.tabs.selected_index == 0
        steps = [lambda: self.header.update(view), lambda: self.timeline.update(view)]
        if live_tab:
            steps += [lambda: self.telemetry.update(view), lambda: self.trackmap.update(view, selected)]
        if slow:
            self._slow_at = time.monotonic()
            self.slow_frames += 1
            if live_tab:
                steps += [
                    lambda: self.leaderboard.update(view, selected),
                    lambda: self.predictions.update(view, selected),
                    lambda: self.alerts.update(view),
                ]
            steps += [lambda: self.health.update(view), lambda: self._update_summary(view)]
            race = self.race if self.race is not None and self.race.visible else None
            if race is not None:
                steps.append(lambda: race.update(view, selected))
        for step in steps:
            try:
                step()
            except Exception:  # one panel's failure must not freeze the others
                self.panel_errors += 1
                if self.panel_errors <= 5:
                    log.exception("a dashboard panel failed to update")
            time.sleep(0)  # hand the GIL to the consumer between panels: the stream has priority
        if view.meta.get("total_laps") and self.controls.lap.max != int(view.meta["total_laps"]):
            self.controls.lap.max = int(view.meta["total_laps"])

    def _update_summary(self, view: View) -> None:
        """The summary draws when its tab is shown or the replay has ended; at the end it is
        shown once by itself (the tab is selected), as a replay tool shows its results."""
        ended = replay_ended(view) and view.race is not None
        if not ended:
            self._summary_shown = False  # a new replay (a seek back, a new start) may end again
            if self.tabs.selected_index != 2:
                return
        self.summary.update(view)
        if ended and self.summary.final and not self._summary_shown:
            self._summary_shown = True
            self.tabs.selected_index = 2
