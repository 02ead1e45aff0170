"""`f1live validate`: notebooks 01-08 in order against one broker, then the checklist (:mod:`f1live.validate.checklist`)."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from f1live.config import Settings
from f1live.validate.base import NOTEBOOKS, StepResult, ValidationPlan, ValidationReport
from f1live.validate.checklist import (
    _check_cache,
    _check_consumer,
    _check_dashboard,
    _check_export,
    _check_models,
    _check_partitions,
    _check_scaling,
    _check_topic_messages,
)
from f1live.validate.execute import (
    _env,
    count_run_messages,
    end_offsets,
    execute_notebook,
    measure_dashboard_in_browser,
    measure_inference,
)

log = logging.getLogger(__name__)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_validation(
    settings: Settings,
    *,
    quick: bool = False,
    out: Path | None = None,
    bootstrap_servers: str | None = None,
    plan: ValidationPlan | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run notebooks 01-08 and the checklist; see the module docstring.

    Args:
        settings: base settings (``source``, ``shared_data``, ``run_dir``, ...). Data,
            models and scaling results of the run go under the run directory.
        quick: CI-sized parameters (:meth:`ValidationPlan.for_mode`).
        out: run directory (default ``<settings.run_dir>/validate/<UTC timestamp>``).
        bootstrap_servers: an external Kafka; default: the recorded or an embedded broker.
        progress: a tqdm bar over the notebooks (stderr).
        say: called with one line per finished step (e.g. ``print``).
    """
    import psutil

    from f1live.clients import find_or_start_broker
    from f1live.topics import describe_topic

    plan = plan or ValidationPlan.for_mode(quick)
    run_dir = Path(out) if out is not None else Path(settings.run_dir) / "validate" / _timestamp()
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir, models_dir = run_dir / "data", run_dir / "models"
    base = settings.replace(
        data_dir=data_dir,
        models_dir=models_dir,
        run_dir=run_dir / "runs",
        bootstrap_servers=bootstrap_servers or settings.bootstrap_servers,
    )
    t_start = time.monotonic()
    load = os.getloadavg()
    servers, kind, broker = find_or_start_broker(base)
    log.info("validation in %s against %s broker at %s", run_dir, kind, servers)
    env = {
        "F1LIVE_SHARED_DATA": str(base.shared_data),
        "F1LIVE_DATA_DIR": str(data_dir),
        "F1LIVE_MODELS_DIR": str(models_dir),
        "F1LIVE_RUN_DIR": str(base.run_dir),
        "F1LIVE_SOURCE": base.source,
        "F1LIVE_OFFLINE": "1" if base.offline else "0",
        "F1LIVE_BOOTSTRAP_SERVERS": servers,
        "F1LIVE_BROKER": "external" if kind == "external" else kind,
        "MPLBACKEND": "Agg",
    }
    group = f"validate-{uuid.uuid4().hex[:8]}"
    steps: dict[str, StepResult] = {}
    extra: dict[str, Any] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(NOTEBOOKS) + 1, desc="validate", unit="step")

    def step(name: str, params: dict[str, Any]) -> StepResult:
        if bar is not None:
            bar.set_postfix_str(name)
        r = execute_notebook(name, run_dir, params, plan.notebook_timeout_s)
        steps[name] = r
        if bar is not None:
            bar.update(1)
        if say is not None:
            say(f"{'ok  ' if r.ok else 'FAIL'} {name} ({r.seconds:.0f} s){'  ' + r.error if r.error else ''}")
        return r

    try:
        with _env(env):
            step(
                "01_data_preparation",
                {
                    "source": base.source,
                    "shared_data": str(base.shared_data),
                    "out_dir": str(data_dir),
                    "formats": plan.formats,
                    "offline": True,
                    "drivers": plan.drivers,
                    "year": base.year,
                    "event": base.event,
                    "session": base.session,
                },
            )
            files = steps["01_data_preparation"].evidence.get("files", {})
            export = files.get("parquet") or files.get("csv") or ""
            step(
                "02_cache_setup",
                {
                    "export_path": export,
                    "out_dir": str(data_dir),
                    "year": base.year,
                    "event": base.event,
                    "session": base.session,
                    "rate_rows": 200_000,
                },
            )
            before = {}
            try:
                before = end_offsets(servers, base.topic)
            except Exception as exc:  # the topic may not exist yet: read from the beginning
                log.debug("end offsets before 03: %s", exc)
            step(
                "03_kafka_producer",
                {
                    "bootstrap_servers": servers,
                    "file": export,
                    "drivers": plan.drivers,
                    "replay_from": "lap 20",
                    "speed": plan.speed,
                    "duration_s": plan.produce_s,
                },
            )
            ev3 = steps["03_kafka_producer"].evidence
            extra["read_back"], extra["read_back_error"] = None, None
            if ev3.get("run_id"):
                try:
                    extra["read_back"] = count_run_messages(servers, ev3["topic"], ev3["run_id"], before)
                except Exception as exc:
                    extra["read_back_error"] = f"{type(exc).__name__}: {exc}"
            step("04_kafka_topic_setup", {"bootstrap_servers": servers, "partitions": base.partitions})
            try:
                extra["topic_info"], extra["topic_error"] = describe_topic(servers, base.topic), None
            except Exception as exc:
                extra["topic_info"], extra["topic_error"] = None, f"{type(exc).__name__}: {exc}"
            step(
                "05_kafka_consumer",
                {
                    "bootstrap_servers": servers,
                    "file": export,
                    "drivers": plan.drivers,
                    "replay_from": "lap 20",
                    "speed": plan.speed,
                    "produce_s": plan.produce_s,
                    "timeout_s": plan.produce_s + 60.0,
                    "group": group,
                },
            )
            step(
                "06_ml_model_training",
                {"out_dir": str(models_dir), "drivers": plan.train_drivers, "source": base.source, **plan.train_params},
            )
            extra["inference"], extra["inference_error"] = None, None
            try:
                extra["inference"] = measure_inference(base, export, n=1000 if plan.quick else 5000)
            except Exception as exc:
                extra["inference_error"] = f"{type(exc).__name__}: {exc}"
            step(
                "07_weak_scaling_demo",
                {
                    "consumers": plan.scaling_consumers,
                    "mode": "process",
                    "rate": plan.scaling_rate,
                    "speed": plan.speed,
                    "duration": plan.scaling_duration,
                    "messages": plan.scaling_messages,
                    "drivers_per_stream": plan.scaling_drivers_per_stream,
                    "source": "file" if export else base.source,
                    "file": export or None,
                    "bootstrap_servers": servers,
                    "run_dir": str(base.run_dir),
                },
            )
            with _env({"F1LIVE_SOURCE_PATH": export} if export else {}):
                step(
                    "08_live_dashboard",
                    {
                        "source": "file" if export else base.source,
                        "drivers": plan.drivers,
                        "speed": 20.0,
                        "replay_from": "lap 20",
                        "broker": "external",
                        "bootstrap_servers": servers,
                        "duration_s": plan.dashboard_s,
                    },
                )
        if bar is not None:
            bar.set_postfix_str("dashboard in browser")
        extra["browser"], extra["browser_error"] = None, None
        try:
            venv = {
                **env,
                "F1LIVE_SPEED": "20",
                "F1LIVE_DASHBOARD_DRIVERS": plan.drivers or "VER,HAM,LEC,ALO,OCO",
                "F1LIVE_DASHBOARD_START_LAP": "20",
                "F1LIVE_DASHBOARD_HEARTBEAT_S": "60",
            }
            if export:
                venv.update({"F1LIVE_SOURCE": "file", "F1LIVE_SOURCE_PATH": export})
            extra["browser"] = measure_dashboard_in_browser(venv, plan.browser_s, run_dir / "voila.log")
        except Exception as exc:
            extra["browser_error"] = f"{type(exc).__name__}: {exc}"
            log.error("browser measurement failed: %s", extra["browser_error"])
        if bar is not None:
            bar.update(1)
            bar.close()
    finally:
        if broker is not None:
            broker.stop()

    checks = [
        _check_export(steps),
        _check_cache(steps),
        _check_topic_messages(steps, extra["read_back"], extra["read_back_error"]),
        _check_partitions(steps, extra.get("topic_info"), base.partitions, base.topic, extra.get("topic_error")),
        _check_consumer(steps),
        _check_models(steps, extra["inference"], extra["inference_error"]),
        _check_scaling(steps),
        _check_dashboard(steps, extra["browser"], extra["browser_error"], plan.min_browser_fps),
    ]
    report = ValidationReport(
        run_dir=run_dir,
        quick=plan.quick,
        bootstrap_servers=servers,
        broker_kind=kind,
        steps=[steps[n] for n in NOTEBOOKS if n in steps],
        checks=checks,
        seconds=time.monotonic() - t_start,
        cpu_count=psutil.cpu_count() or 0,
        load_avg=load,
    )
    (run_dir / "validation.json").write_text(json.dumps(report.to_dict(), indent=1))
    (run_dir / "validation.txt").write_text(report.text() + "\n")
    return report
