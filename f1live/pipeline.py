"""One object that owns the live pipeline: broker, topics, producer, consumer, live state.

The dashboard and notebooks start *this*, never the parts one by one.  Threads: the
producer's replay thread, the consumer's poll thread (with the analytics processors);
the broker is a child process (embedded Apache Kafka / Tansu) unless an external
``bootstrap_servers`` is given.  The UI only ever reads :meth:`Pipeline.snapshot`.

Lifecycle (explicit, idempotent, safe after a failed start)::

    with Pipeline(Settings.from_env(speed=20), drivers=["VER", "HAM"]) as p:
        p.start()          # load session -> broker -> topics -> consumer -> producer
        p.pause(); p.seek(lap=30); p.set_speed(50); p.resume()
        snap = p.snapshot()
    # leaving the block stops threads and the broker

``stop()`` is also registered with ``atexit`` while running, so a kernel that shuts down
(or a Voila page whose kernel is culled) leaves no thread and no ``java`` behind; an
embedded broker started from the main thread additionally dies with the process
(``PR_SET_PDEATHSIG``, see :mod:`f1live.broker.process`).

Nothing happens in ``__init__``:

>>> p = Pipeline(Settings())
>>> p.phase, p.running
('created', False)
>>> p.stop(); p.stop()  # idempotent, also before start
>>> p.phase
'stopped'
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from f1live.config import Settings

if TYPE_CHECKING:  # the parts are imported when the pipeline builds them (a quick import for the UI)
    from collections.abc import Callable

    from f1live.broker.base import Broker
    from f1live.cache import ReplayCache
    from f1live.consumer import RealTimeConsumer
    from f1live.processors import Processor
    from f1live.producer import RealTimeProducer
    from f1live.race_analysis import RaceAnalysis
    from f1live.sources import SessionData
    from f1live.state import LiveState
    from f1live.timing import SessionTiming

log = logging.getLogger(__name__)


def _load_session(settings: Settings, drivers: Sequence[str] | None) -> tuple[SessionData, ReplayCache | None]:
    """(SessionData, ReplayCache or None) for the settings' session.

    An export in Parquet goes straight into the replay cache through Arrow (the quickest
    way to a running page); its side tables are read next to it. The raw dumps read only
    the wanted drivers' car files (20 drivers take ~3 s).
    """
    from pathlib import Path

    path = settings.source_path
    if settings.source == "file" and path is not None and str(path).endswith(".parquet") and Path(path).is_file():
        from f1live.cache import ReplayCache
        from f1live.sources.exports import load_export

        cache = ReplayCache.from_path(path)
        return load_export(path, telemetry=False), cache
    if settings.source == "fastf1-csv" and drivers:
        from f1live.sources.fastf1_csv import load_fastf1_csv

        return load_fastf1_csv(settings, progress=False, drivers=list(drivers)), None
    from f1live.sources import load_session

    return load_session(settings, progress=False), None


class Pipeline:
    """Broker + topics + producer thread + consumer thread (+ analytics) + live state.

    Args:
        settings: everything (session, broker, topic, speed, ...).
        bootstrap_servers: use this external Kafka instead of starting one
            (default ``settings.bootstrap_servers``).
        drivers: replay only these driver codes (default: all).
        data: a ready :class:`f1live.sources.SessionData` (default: ``load_session(settings)``).
        cache: a ready :class:`f1live.cache.ReplayCache` (skips loading telemetry).
        processors: consumer processors (default: :func:`f1live.analysis.default_processors`).
        start: where the replay begins (``race``, ``session``, ``lap N``, ``time H:MM:SS``;
            default ``settings.replay_from``: the race start). ``start_lap=N`` is ``lap N``.
        broker_kind: ``kafka`` | ``tansu`` | ... for an embedded broker (default ``settings.broker``).
        delete_topics: delete the pipeline's topics when it stops (a dashboard page replays
            into a topic of its own on a shared broker).

    Brokers: an explicit ``bootstrap_servers`` (or ``settings.bootstrap_servers``) is used as
    is; else the broker recorded by ``f1live broker start`` / ``f1live dashboard`` when it
    still runs; else the pipeline starts an embedded broker of its own in a private run
    directory (removed at stop), so pipelines in two kernels never share a broker's files.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        bootstrap_servers: str | None = None,
        drivers: Sequence[str] | None = None,
        data: SessionData | None = None,
        cache: ReplayCache | None = None,
        processors: Sequence[Processor] | None = None,
        start_lap: int | None = None,
        start: str | None = None,
        broker_kind: str | None = None,
        delete_topics: bool = False,
    ) -> None:
        self.settings = settings
        self._bootstrap = bootstrap_servers or settings.bootstrap_servers
        self.drivers = [d.upper() for d in drivers] if drivers else None
        self.data = data
        self.cache = cache
        self._processors = list(processors) if processors is not None else None
        self._models_status: str | None = None
        self.start_at = f"lap {int(start_lap)}" if start_lap is not None else (start or settings.replay_from)
        self.delete_topics = delete_topics
        self.timing: SessionTiming | None = None
        self.race: RaceAnalysis | None = None  # the race analysis over the timing tables
        self._broker_ready = False
        self.broker_kind = broker_kind
        self.broker: Broker | None = None
        self.producer: RealTimeProducer | None = None
        self.consumer: RealTimeConsumer | None = None
        self.state: LiveState | None = None
        self.meta: dict[str, Any] = {}
        self.phase = "created"
        self.error: BaseException | None = None
        self._lock = threading.RLock()
        self._prepare_lock = threading.Lock()
        self._stopped = threading.Event()
        self._atexit: Callable[[], None] | None = None
        self.started_at: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def bootstrap_servers(self) -> str | None:
        return self._bootstrap

    @property
    def running(self) -> bool:
        return self.phase in ("running", "paused")

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        log.info("pipeline: %s", phase)
        if self.state is not None:
            self.state.set_status("pipeline", phase)

    # ------------------------------------------------------------------ start
    def start_broker(self) -> str:
        """Find or start the broker (see the class docstring); returns bootstrap servers.

        Call from the main thread when you can: an embedded broker started there dies
        with the process even on ``kill -9`` (parent-death signal).
        """
        with self._lock:
            if self._stopped.is_set():
                raise RuntimeError("pipeline was stopped; create a new Pipeline")
            self._register_atexit()
            if self._broker_ready:
                return str(self._bootstrap)
            from f1live.broker import start_broker
            from f1live.clients import resolve_bootstrap

            self._set_phase("starting broker")
            if not self._bootstrap:
                from f1live.broker.state import live_pids, read_state

                state = read_state(self.settings)
                if state and live_pids(state):
                    self._bootstrap = str(state["bootstrap_servers"])
                    self.broker_kind = str(state.get("kind", "kafka"))
                    log.info("using the running %s broker at %s", self.broker_kind, self._bootstrap)
            if self._bootstrap:
                settings = self.settings.replace(bootstrap_servers=self._bootstrap)
                start_broker(settings, kind="external")  # answers metadata, or raises
                if self.broker_kind in (None, "external", "auto"):
                    self.broker_kind = resolve_bootstrap(settings, self._bootstrap)[1]
            else:
                broker = start_broker(self.settings, kind=self.broker_kind, private=True)
                self.broker = broker
                self._bootstrap = broker.bootstrap_servers
                self.broker_kind = broker.kind
            self._broker_ready = True
            if self.phase == "starting broker":
                self.phase = "broker ready"
            return str(self._bootstrap)

    def prepare(self) -> Pipeline:
        """Load the session (telemetry into the replay cache, timing tables) and the analytics
        (models verified and loaded); no broker, no threads. :meth:`start` calls it when it has
        not run yet."""
        with self._prepare_lock:  # not self._lock: the broker may start meanwhile
            if self.cache is None or not self.meta:
                self._load()
            if self._processors is None:
                from f1live.analysis import default_processors

                chosen = default_processors(self.settings)
                self._processors, self._models_status = chosen.processors, chosen.status
            if self.phase in ("created", "loading session"):
                self.phase = "prepared"
        return self

    def _load(self) -> None:
        from f1live.cache import ReplayCache

        if self.cache is None:
            if self.data is None:
                self._set_phase("loading session")
                self.data, self.cache = _load_session(self.settings, self.drivers)
            if self.cache is None:
                self.cache = ReplayCache.from_session(self.data)
        if self.drivers:
            self.cache = self.cache.filter(drivers=self.drivers)
            if len(self.cache) == 0:
                raise ValueError(
                    f"no telemetry for drivers {self.drivers} in {self.settings.event} "
                    f"{self.settings.year} {self.settings.session}"
                )
        meta = dict(self.cache.meta or {})
        meta.update(meta.pop("meta", None) or {})  # an export's sidecar nests the session meta
        if self.data is not None:
            meta.update(self.data.meta or {})
            if self.data.laps is not None and len(self.data.laps):
                from f1live.race_analysis import RaceAnalysis
                from f1live.timing import SessionTiming

                self.timing = SessionTiming.from_session(self.data, drivers=self.drivers)
                self.race = RaceAnalysis(self.timing)
        info = self.cache.driver_info()
        if self.drivers:
            info = {k: v for k, v in info.items() if k in self.drivers}
        meta["drivers"] = info
        meta["outline"] = self._outline(meta)
        meta.setdefault("simulated", False)
        if self.timing is not None:
            meta["timeline"] = {
                "start": float(self.cache.session_time[0]),
                "end": float(self.cache.session_time[-1]),
                "race_start": self.timing.race_start,
                "laps": self.timing.lap_starts(),
                "markers": self.timing.markers(),
            }
        self.meta = meta

    @staticmethod
    def _outline(meta: dict[str, Any]) -> dict[str, list[float]] | None:
        key = meta.get("circuit_key")
        if not key:
            return None
        try:
            from f1live.track import load_circuit

            c = load_circuit(str(key))
        except (ImportError, FileNotFoundError, KeyError, ValueError) as exc:
            log.warning("no circuit outline for %s: %s", key, exc)
            return None
        meta.setdefault("circuit", c.name)
        return {"x": [float(v) for v in c.x], "y": [float(v) for v in c.y]}

    def start(self) -> Pipeline:
        """Load the session, start broker, topics, consumer and producer (blocking).

        Raises what the failing part raised (after stopping what had started).
        """
        with self._lock:
            if self.running:
                return self
            if self._stopped.is_set():
                raise RuntimeError("pipeline was stopped; create a new Pipeline")
            from f1live.state import LiveState

            self.started_at = time.time()
            self.state = self.state or LiveState()
            try:
                self._register_atexit()
                self.prepare()
                self.state.set_meta(**{k: v for k, v in self.meta.items()})
                self.start_broker()
                self.state.set_status("broker", f"{self.broker_kind} {self._bootstrap}")
                self._set_phase("creating topics")
                self._ensure_topics()
                self._set_phase("starting consumer")
                models = self._models_status or ("custom" if self._processors else "missing")
                self.state.set_status("models", models)
                if models == "missing":
                    from f1live.model_setup import missing_reason

                    self.state.set_meta(models_note=missing_reason(self.settings))
                from f1live.consumer import RealTimeConsumer

                # Start at the log end: a reused or shared broker may hold earlier replays,
                # and this pipeline must show only its own. Partitions are assigned and no
                # group is used: a live view never resumes, so it needs no committed
                # offsets, no rebalance and no group-coordinator round trips.
                self.consumer = RealTimeConsumer(
                    self.settings,
                    bootstrap_servers=self._bootstrap,
                    processors=self._processors,
                    state=self.state,
                    group_id="",
                    commit=False,
                    partitions=list(range(self.settings.partitions)),
                    broker_kind=self.broker_kind,
                    consumer_overrides={"auto_offset_reset": "latest"},
                )
                self.consumer.start()
                self._set_phase("starting producer")
                from f1live.producer import RealTimeProducer

                self.producer = RealTimeProducer(
                    self.settings,
                    bootstrap_servers=self._bootstrap,
                    state=self.state,
                    broker_kind=self.broker_kind,
                    ensure_topic=False,
                )
                self.producer.load_cache(self.cache)
                self.producer.start(speed=self.settings.speed, start=self.start_at)
                self.state.set_status("producer", "running")
                self._set_phase("running")
            except BaseException as exc:
                self.error = exc
                log.error("pipeline start failed: %s", exc)
                self._set_phase(f"error: {exc}")
                self._teardown()
                raise
        return self

    def _ensure_topics(self) -> None:
        """The telemetry topic and its DLQ (a pipeline does not publish analysis records)."""
        from f1live.topics import ensure_topic

        s = self.settings
        if not self._bootstrap:
            raise RuntimeError("no broker: start_broker() first")
        ensure_topic(self._bootstrap, s.topic, s.partitions, s.replication, client=s.client)
        ensure_topic(self._bootstrap, s.dlq_topic, 1, s.replication, client=s.client)

    # ------------------------------------------------------------------ controls
    def _need_producer(self) -> RealTimeProducer:
        if self.producer is None:
            raise RuntimeError(f"pipeline is not running (phase: {self.phase}); call start() first")
        return self.producer

    def pause(self) -> None:
        """Stop replaying (the consumer drains what was already sent)."""
        self._need_producer().pause()
        self._set_phase("paused")

    def resume(self) -> None:
        self._need_producer().resume()
        self._set_phase("running")

    def seek(self, lap: int | None = None, *, session_time: float | None = None, start: str | None = None) -> None:
        """Continue the replay from the start of ``lap``, at ``session_time`` (s) or from a
        start point (``"race"``, ``"lap 30"``, ``"time 1:20:00"``). The page then shows the
        new moment only: the consumer drops the old segment's messages still in flight."""
        self._need_producer().seek(lap=None if lap is None else int(lap), session_time=session_time, start=start)

    def set_speed(self, speed: float | str) -> None:
        """Replay speed factor (1 = real time, 0 or ``'max'`` = as fast as possible)."""
        self._need_producer().set_speed(speed)

    # ------------------------------------------------------------------ read
    def snapshot(
        self,
        history: bool | Collection[str] = True,
        latency: bool = True,
        timing: bool = True,
        race: bool = False,
        traces: Mapping[str, int | None] | None = None,
    ) -> dict[str, Any]:
        """The live state, the timing as of the replay clock, and the pipeline's status.

        ``history`` and ``latency`` as in :meth:`f1live.state.LiveState.snapshot` (a live
        frame of the dashboard asks for the selected driver's history only, no percentiles).
        The replay clock is ``session_time`` (the newest message processed in the current
        replay segment); ``lap`` and ``track_status`` are those at that clock, and with
        ``timing`` the leaderboard (``timing``) and the track-status / race-control events
        issued up to the clock (``events``): nothing later than the clock is in it. With
        ``race`` the race analysis at the clock (``race``, :meth:`f1live.race_analysis.RaceAnalysis.at`);
        ``traces`` as in :meth:`f1live.state.LiveState.snapshot` (lap traces to compare).
        """
        if self.state is None:
            return {"meta": dict(self.meta), "status": {"pipeline": self.phase}, "counters": {}}
        snap = self.state.snapshot(history=history, latency=latency, traces=traces)
        snap["meta"] = {**self.meta, **snap.get("meta", {})}
        now = snap.get("session_time")
        if self.timing is not None and now is not None:
            snap["lap"] = self.timing.race_lap(now)
            snap["track_status"] = self.timing.track_status_at(now)
            if timing:
                snap["timing"] = self.timing.at(now)
                snap["events"] = self.timing.events(now)
            if race and self.race is not None:
                snap["race"] = self.race.at(now)
        status = snap.setdefault("status", {})
        status["pipeline"] = self.phase
        if self.broker is not None:
            ok = self.broker.alive()
            status["broker"] = f"{self.broker_kind} {'running' if ok else 'DEAD'} {self._bootstrap}"
        if self.producer is not None:
            try:
                ps = self.producer.stats()
                status["producer"] = (
                    ("paused" if ps.get("paused") else "running" if ps.get("running") else "finished")
                    + f" · sent {ps.get('sent', 0)} · speed {'max' if not ps.get('speed') else str(ps.get('speed')) + '×'}"
                )
            except Exception as exc:  # status only: never break the UI for it
                status["producer"] = f"error: {exc}"
        return snap

    # ------------------------------------------------------------------ stop
    def stop(self, timeout: float = 20.0) -> None:
        """Stop producer, consumer and (embedded) broker; idempotent and safe before start."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            was = self.phase
            self._set_phase("stopping")
            self._teardown(timeout)
            self._unregister_atexit()
            self.phase = "stopped"
            if self.state is not None:
                self.state.set_status("pipeline", "stopped")
            log.info("pipeline stopped (was %s)", was)

    def _teardown(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        parts: tuple[tuple[str, RealTimeProducer | RealTimeConsumer | None], ...] = (
            ("producer", self.producer),
            ("consumer", self.consumer),
        )
        for name, part in parts:
            if part is None:
                continue
            try:
                part.stop()
                part.join(max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # keep stopping the rest
                log.warning("stopping %s: %s", name, exc)
            try:
                part.close()
            except Exception as exc:
                log.warning("closing %s: %s", name, exc)
            if self.state is not None:
                self.state.set_status(name, "stopped")
        if self.delete_topics and self._bootstrap and self.broker is None and self.phase != "created":
            try:
                from f1live.topics import delete_topic

                for name in (self.settings.topic, self.settings.dlq_topic):
                    delete_topic(
                        self._bootstrap,
                        name,
                        timeout=max(1.0, min(5.0, deadline - time.monotonic())),
                        client=self.settings.client,
                    )
            except Exception as exc:  # the broker may be gone already
                log.info("deleting the pipeline's topics: %s", exc)
        if self.broker is not None:
            try:
                self.broker.stop(timeout=max(1.0, deadline - time.monotonic()))
            except Exception as exc:
                log.warning("stopping broker: %s", exc)
            run_dir = self.broker.run_dir
            if run_dir is not None and self.broker.private:
                import shutil

                shutil.rmtree(run_dir, ignore_errors=True)
            if self.state is not None:
                self.state.set_status("broker", "stopped")
            self.broker = None

    def _register_atexit(self) -> None:
        if self._atexit is None:
            ref = weakref.ref(self)

            def _stop_at_exit() -> None:
                p = ref()
                if p is not None:
                    p.stop(timeout=10.0)

            self._atexit = _stop_at_exit
            atexit.register(_stop_at_exit)

    def _unregister_atexit(self) -> None:
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Pipeline {self.phase} {self.settings.year} {self.settings.event} {self.settings.session} via {self._bootstrap or 'embedded broker'}>"
