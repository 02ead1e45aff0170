"""The validation checklist: each line's pass rule, from the notebooks' evidence and direct measurements.

:func:`f1live.validate.run.run_validation` executes the eight notebooks in order into a run directory
(``<Settings.run_dir>/validate/<timestamp>/``), all against one broker, with every
output (exports, models, scaling results) under that directory. Each notebook is
executed with one extra *probe* cell appended (tagged ``f1live-validation``, only in
the executed copy -- the committed notebooks stay untouched) that writes what the
notebook measured to ``evidence/<notebook>.json`` through :func:`record_evidence`.
The validator adds direct checks of its own (messages read back from the topic,
partitions from broker metadata, models verified against their manifest and timed,
the dashboard page watched in headless Chromium) and evaluates the checklist:

==================================  ================================================
line                                passes when (measured)
==================================  ================================================
data exported                       rows > 0; Parquet row count (file metadata) and
                                    CSV line count equal the rows loaded
cache iterates in order             every row of the cache iterated, session time
                                    never decreases, no negative delay
messages arrive in the topic        messages of the producer's run read back from
                                    the topic == sent == acknowledged
topic has the expected partitions   broker metadata: partitions == Settings.partitions
consumer processed all messages     produced == processed per driver (after dedup)
models trained, inference p99       manifest verified; p99 of one-message analytics
                                    (features + anomaly + 3 models) < 10 ms
latency stable with scaling         fixed-rate p99 at N consumers within
                                    ``max(50 %, 25 ms)`` of N=1; exactly-once everywhere
dashboard updates in real time      distinct frames applied in a real browser per s
                                    >= ``min_browser_fps`` (fails if no browser)
==================================  ================================================

>>> from f1live.validate.base import Check
>>> c = Check("example", True, "3 rows", {"rows": 3})
>>> c.line()
'PASS  example: 3 rows'
>>> _latency_stable({1: 10.0, 2: 30.0})
(True, 'p99 10.0 -> 30.0 ms (N=1 -> 2), allowed <= 35.0 ms')
>>> _latency_stable({1: 100.0, 4: 200.0})[0]
False
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from f1live.validate.base import INFERENCE_P99_MS, Check, StepResult

log = logging.getLogger(__name__)


def _latency_stable(p99_by_n: Mapping[int, float], growth: float = 0.5, floor_ms: float = 25.0) -> tuple[bool, str]:
    """p99 at the largest N within ``max(growth x, floor_ms)`` of p99 at the smallest N.

    The absolute floor keeps millisecond-scale noise on a shared machine from failing a
    run whose latency is flat in practical terms.
    """
    ns = sorted(p99_by_n)
    a, b = p99_by_n[ns[0]], p99_by_n[ns[-1]]
    allowed = a + max(growth * a, floor_ms)
    return b <= allowed, f"p99 {a:.1f} -> {b:.1f} ms (N={ns[0]} -> {ns[-1]}), allowed <= {allowed:.1f} ms"


def _ev(steps: Mapping[str, StepResult], name: str) -> dict[str, Any]:
    s = steps.get(name)
    return s.evidence if s is not None else {}


def _why(steps: Mapping[str, StepResult], name: str) -> str:
    s = steps.get(name)
    if s is None:
        return f"{name} was not run"
    return s.error or f"{name} recorded no evidence"


def _check_export(steps: Mapping[str, StepResult]) -> Check:
    name = "data exported (rows, files)"
    ev = _ev(steps, "01_data_preparation")
    if "rows" not in ev:
        return Check(name, False, _why(steps, "01_data_preparation"))
    import pyarrow.parquet as pq

    rows, counted, problems = int(ev["rows"]), {}, []
    telemetry = {k: f for k, f in ev["files"].items() if k in ("csv", "parquet")}  # not the side tables
    for fmt, f in telemetry.items():
        p = Path(f)
        if not p.is_file():
            problems.append(f"{fmt} file {p} missing")
            continue
        if fmt == "parquet":
            counted[fmt] = pq.read_metadata(p).num_rows
        elif fmt == "csv":
            opener = __import__("gzip").open if p.suffix == ".gz" else open
            with opener(p, "rb") as fh:
                counted[fmt] = sum(1 for _ in fh) - 1  # header
        if fmt in counted and counted[fmt] != rows:
            problems.append(f"{fmt} has {counted[fmt]:,} rows, loaded {rows:,}")
    ok = rows > 0 and bool(counted) and not problems
    files = ", ".join(
        f"{Path(f).name} ({ev['file_bytes'][k] / 1e6:.1f} MB, {counted.get(k, '?'):,} rows)"
        for k, f in telemetry.items()
    )
    sim = " SIMULATED" if ev.get("simulated") else ""
    text = f"{rows:,} rows, {ev['drivers']} drivers from {ev['source']}{sim} -> {files}"
    return Check(
        name,
        ok,
        text + ("; " + "; ".join(problems) if problems else ""),
        {"rows": rows, "file_rows": counted, "files": telemetry},
    )


def _check_cache(steps: Mapping[str, StepResult]) -> Check:
    name = "cache iterates in order"
    ev = _ev(steps, "02_cache_setup")
    if "iterated" not in ev:
        return Check(name, False, _why(steps, "02_cache_setup"))
    ok = ev["iterated"] == ev["rows"] > 0 and ev["out_of_order"] == 0 and ev["negative_delays"] == 0
    return Check(
        name,
        ok,
        f"{ev['iterated']:,}/{ev['rows']:,} rows iterated, {ev['out_of_order']} out of order, "
        f"{ev['negative_delays']} negative delays, {ev['rows_per_s']:,.0f} rows/s",
        ev,
    )


def _check_topic_messages(steps: Mapping[str, StepResult], read_back: dict[str, int] | None, err: str | None) -> Check:
    name = "messages arrive in the topic (count)"
    ev = _ev(steps, "03_kafka_producer")
    if "sent" not in ev:
        return Check(name, False, _why(steps, "03_kafka_producer"))
    if read_back is None:
        return Check(name, False, f"reading the topic back failed: {err}")
    n = sum(read_back.values())
    ok = ev["sent"] > 0 and n == ev["sent"] == ev["acked"] and ev["failed"] == 0 and read_back == ev["per_driver"]
    return Check(
        name,
        ok,
        f"{n:,} messages of run {ev['run_id']} read back from {ev['topic']}; producer sent "
        f"{ev['sent']:,}, acked {ev['acked']:,}, failed {ev['failed']}; rate error "
        f"{ev['rate_error_pct']:+.2f} % at {ev['speed']:g}x",
        {"read_back": n, "per_driver": read_back, **{k: ev[k] for k in ("sent", "acked", "failed")}},
    )


def _check_partitions(steps: Mapping[str, StepResult], info: Any, expected: int, topic: str, err: str | None) -> Check:
    name = "topic has the expected partitions"
    if info is None:
        return Check(
            name, False, f"topic {topic} not described by the broker: {err or _why(steps, '04_kafka_topic_setup')}"
        )
    nb = {t["name"]: t["partitions"] for t in _ev(steps, "04_kafka_topic_setup").get("topics", [])}
    ok = info.partitions == expected and nb.get(topic) == expected and sorted(info.leaders) == list(range(expected))
    return Check(
        name,
        ok,
        f"{topic}: {info.partitions} partitions with leaders {dict(sorted(info.leaders.items()))} "
        f"(broker metadata; notebook 04 saw {nb.get(topic)}), expected {expected}",
        {"partitions": info.partitions, "expected": expected, "notebook": nb},
    )


def _check_consumer(steps: Mapping[str, StepResult]) -> Check:
    name = "consumer processed all messages (produced = consumed)"
    ev = _ev(steps, "05_kafka_consumer")
    if "processed" not in ev or ev.get("produced_per_driver") is None:
        return Check(name, False, _why(steps, "05_kafka_consumer"))
    prod, cons = ev["produced_per_driver"], ev["consumed_per_driver"]
    produced, consumed = sum(prod.values()), sum(cons.values())
    ok = bool(ev["report_ok"]) and prod == cons and produced == ev["produced_acked"] > 0 and ev["dlq"] == 0
    return Check(
        name,
        ok,
        f"produced {produced:,} = consumed {consumed:,} after dedup over {len(prod)} drivers "
        f"(duplicates {ev['duplicates']}, gaps {ev['gaps']}, DLQ {ev['dlq']}); consumer e2e p50 "
        f"{ev['e2e_ms'].get('p50')} ms, p99 {ev['e2e_ms'].get('p99')} ms (a new group: includes "
        "notebook 03's backlog)",
        {"produced": produced, "consumed": consumed, "e2e_ms": ev["e2e_ms"]},
    )


def _check_models(steps: Mapping[str, StepResult], inf: dict[str, Any] | None, err: str | None) -> Check:
    name = f"models trained and inference p99 < {INFERENCE_P99_MS:g} ms"
    if inf is None:
        return Check(name, False, err or _why(steps, "06_ml_model_training"))
    step = steps.get("06_ml_model_training")
    ok = inf["p99_ms"] < INFERENCE_P99_MS and len(inf["models"]) == 3 and step is not None and step.ok
    note = "" if step is not None and step.ok else f" (but notebook 06: {_why(steps, '06_ml_model_training')})"
    return Check(
        name,
        ok,
        f"{', '.join(inf['models'])} verified against manifest.json; per-message analytics "
        f"p50 {inf['p50_ms']:.2f} ms, p99 {inf['p99_ms']:.2f} ms over {inf['messages']:,} "
        f"real messages{note}",
        inf,
    )


def _check_scaling(steps: Mapping[str, StepResult]) -> Check:
    name = "latency stable with scaling"
    rows = _ev(steps, "07_weak_scaling_demo").get("rows")
    if not rows:
        return Check(name, False, _why(steps, "07_weak_scaling_demo"))
    fixed = [r for r in rows if r["rate"] == "fixed" and r.get("latency_p99_ms") is not None]
    if not fixed:
        return Check(name, False, "no fixed-rate scaling point was measured")
    parts, ok = [], all(bool(r["delivery_ok"]) for r in rows)
    for mode in sorted({r["mode"] for r in fixed}):
        p99 = {int(r["consumers"]): float(r["latency_p99_ms"]) for r in fixed if r["mode"] == mode}
        good, text = _latency_stable(p99)
        ok = ok and good and len(p99) >= 2
        vals = ", ".join(f"N={n}: {v:.1f}" for n, v in sorted(p99.items()))
        parts.append(f"{mode}: p99 ms {vals} -- {text}")
    eff = [
        f"N={int(r['consumers'])}: {r['efficiency']:.2f}"
        for r in rows
        if r["rate"] == "max" and r.get("efficiency") is not None
    ]
    delivery = "exactly once in every run" if all(r["delivery_ok"] for r in rows) else "DELIVERY FAILED"
    return Check(
        name,
        ok,
        "; ".join(parts) + f"; {delivery}" + (f"; max-rate efficiency {', '.join(eff)}" if eff else ""),
        {"rows": rows},
    )


def _check_dashboard(
    steps: Mapping[str, StepResult], browser: dict[str, Any] | None, err: str | None, min_fps: float
) -> Check:
    name = "dashboard updates in real time (browser-measured)"
    ev = _ev(steps, "08_live_dashboard")
    nb = (
        f"notebook 08 processed {ev['processed']:,} messages, kernel refresher "
        f"{(ev['refresher'].get('applied_per_s') or 0):.1f} updates/s"
        if "processed" in ev
        else f"notebook 08: {_why(steps, '08_live_dashboard')}"
    )
    if browser is None:
        return Check(name, False, f"browser measurement could not run: {err}; {nb}")
    ok = browser["updates_per_s"] >= min_fps and "processed" in ev and ev["processed"] > 0
    return Check(
        name,
        ok,
        f"{browser['updates_per_s']:.1f} frames/s applied in headless Chromium over "
        f"{browser['window_s']:.1f} s (target >= {min_fps:g}), first data after "
        f"{browser['first_data_s']:.1f} s; {nb}",
        {"browser": browser, "notebook": ev},
    )
