"""Settings for every f1live component: one frozen dataclass, environment overrides.

Objects take a :class:`Settings` in ``__init__`` and never read globals or the
environment themselves; only :meth:`Settings.from_env` does.

>>> s = Settings()
>>> s.topic, s.partitions, s.consumer_group
('f1-speed-stream', 4, 'f1live')
>>> Settings.from_env({"F1LIVE_PARTITIONS": "8", "F1LIVE_TOPIC": "t"}).partitions
8
>>> s.replace(speed=10.0).speed
10.0
>>> Settings.from_env({"F1LIVE_CLIENT": "kafka-python"}).client
'kafka-python'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Repository root when running from a checkout (``f1live/..``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_shared_data() -> Path:
    return PROJECT_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Settings:
    """Configuration shared by data, broker, producer, consumer, analytics and UI.

    Every field can be overridden from the environment as ``F1LIVE_<FIELD>`` (upper
    case), e.g. ``F1LIVE_BOOTSTRAP_SERVERS=broker1:9092``.

    Attributes:
        year, event, session: the FastF1 session (default 2023 Monaco Grand Prix, Race).
        source: ``auto`` | ``fastf1`` | ``file`` | ``fastf1-csv`` | ``simulated``.
        source_path: file or directory for the ``file`` / ``fastf1-csv`` sources.
        fastf1_cache: FastF1 cache directory (``None``: ``<data_dir>/fastf1_cache``).
        offline: never let FastF1 touch the network.
        shared_data: the real-data folder used by tests and benchmarks.
        data_dir: where exports are written (``data/``).
        models_dir: where trained models and their manifest live (``models/``).
        run_dir: root of per-run directories (broker logs, executed notebooks, results).
        broker: ``auto`` | ``kafka`` | ``tansu`` | ``external``.
        bootstrap_servers: external Kafka (``host:port[,host:port]``); ``None`` = embedded.
        client: the Kafka client library: ``confluent`` (confluent-kafka, librdkafka),
            ``kafka-python``, or ``auto`` (default: confluent-kafka when installed, else
            kafka-python); env ``F1LIVE_CLIENT``, CLI ``--client``. Why confluent is the default
            (measured): ``docs/streaming.md``. See :mod:`f1live.clients`.
        kafka_home: an Apache Kafka distribution to run instead of the embedded jars.
        kafka_version: the Apache Kafka version resolved from Maven Central.
        kafka_libs: directory of the resolved Kafka jars (``None``:
            ``~/.cache/f1live/kafka-<version>/libs``), env ``F1LIVE_KAFKA_LIBS``.
        broker_heap_mb: JVM heap cap for the embedded broker.
        topic, partitions, replication: the telemetry topic (seed: ``f1-speed-stream``).
        dlq_topic: dead-letter topic for malformed messages.
        analysis_topic: where per-message analysis results are published.
        consumer_group: consumer group id.
        speed: replay speed factor (1.0 = real time; ``0`` = as fast as possible).
        replay_from: where a replay begins: ``race`` (lights out, or the first timed lap in
            qualifying/practice; default), ``session`` (the first car-data sample: garage and
            grid), ``lap N`` or ``time H:MM:SS`` (session time); see
            :func:`f1live.cache.parse_start`.
        max_message_bytes: messages larger than this are rejected (DLQ).
        ui_refresh_ms: dashboard refresh period of the live panels (header, telemetry trace,
            track map).
        ui_slow_refresh_ms: refresh period of the summary panels (leaderboard, predictions,
            alerts, pipeline health): their numbers change per lap or per second, and each
            chart redrawn costs browser CPU that a 2-core machine shares with the stream.
        stats_log_s: every this many seconds the consumer logs (INFO) one line with the
            messages processed since the last line, their rate and their end-to-end latency
            p50/p99, and a last line at stop for the rest; ``0`` = off. A record of the
            stream's health that does not depend on any UI being attached
            (``bench/bench_dashboard.py`` reads it from the kernel log).
    """

    year: int = 2023
    event: str = "Monaco"
    session: str = "R"
    source: str = "auto"
    source_path: Path | None = None
    fastf1_cache: Path | None = None
    offline: bool = False
    shared_data: Path = field(default_factory=_default_shared_data)
    data_dir: Path = PROJECT_ROOT / "data"
    models_dir: Path = PROJECT_ROOT / "models"
    run_dir: Path = PROJECT_ROOT / "runs"
    broker: str = "auto"
    bootstrap_servers: str | None = None
    client: str = "auto"
    kafka_home: Path | None = None
    kafka_version: str = "4.1.1"
    kafka_libs: Path | None = None
    broker_heap_mb: int = 512
    topic: str = "f1-speed-stream"
    partitions: int = 4
    replication: int = 1
    dlq_topic: str = "f1-speed-stream.dlq"
    analysis_topic: str = "f1-analysis"
    consumer_group: str = "f1live"
    speed: float = 1.0
    replay_from: str = "race"
    max_message_bytes: int = 64 * 1024
    ui_refresh_ms: int = 80
    ui_slow_refresh_ms: int = 500
    stats_log_s: float = 0.0

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (the object itself is frozen)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then ``F1LIVE_*`` variables, then explicit ``overrides``.

        ``KAFKA_HOME`` is honoured as well (the variable Apache Kafka users already set).
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"F1LIVE_{f.name.upper()}")
            if raw is None and f.name == "kafka_home":
                raw = env.get("KAFKA_HOME")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, type_: object, raw: str) -> object:
    t = str(type_)
    try:
        if t.startswith("int"):
            return int(raw)
        if t.startswith("float"):
            return float(raw)
        if t.startswith("bool"):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if "Path" in t:
            return Path(raw).expanduser()
    except ValueError:
        raise ValueError(f"environment variable F1LIVE_{name.upper()}={raw!r} is not a valid {t}") from None
    return raw
