"""The results of a weak-scaling experiment: one row per point, the delivery check, storage.

A point's workers report raw measurements (:func:`point_row` turns them into a row of
:data:`COLUMNS`); :func:`finish_table` fills in what needs the whole series (efficiency,
p99 growth, the ideal line). :class:`ScaleResult` saves a table as
``<run_dir>/scaling/<timestamp>/scaling_results.{parquet,json}`` and points
``<run_dir>/scaling/latest.json`` at it; :func:`latest_results` is the one rule that finds
the newest table again, used by ``f1live.scaling.load_latest_results``, the CLI and the
dashboard's scaling panel.

>>> efficiency([1, 2, 4], [1000.0, 1900.0, 2000.0])
[1.0, 0.95, 0.5]
>>> import tempfile
>>> latest_results(tempfile.mkdtemp()) is None
True
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from f1live.config import Settings

log = logging.getLogger(__name__)

#: Result columns in display order (the dashboard panel shows the first eight).
COLUMNS: tuple[str, ...] = (
    "mode",
    "rate",
    "consumers",
    "throughput_msgs_s",
    "efficiency",
    "latency_p50_ms",
    "latency_p99_ms",
    "delivery_ok",
    "latency_kind",
    "latency_p95_ms",
    "p99_growth_pct",
    "per_consumer_msgs_s",
    "per_consumer_min_msgs_s",
    "ideal_msgs_s",
    "partitions",
    "streams",
    "drivers_per_stream",
    "speed",
    "produced",
    "consumed",
    "duplicates",
    "missing",
    "foreign",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_p99_ms",
    "proc_p50_ms",
    "proc_p95_ms",
    "proc_p99_ms",
    "lag_max",
    "lag_mean",
    "lag_end",
    "cpu_util_pct",
    "consumer_cpu_pct",
    "msgs_per_cpu_s",
    "cpu_efficiency",
    "system_cpu_pct",
    "cpu_count",
    "load_avg_1m",
    "wall_s",
    "start_skew_s",
    "offered_msgs_s",
    "producer_lateness_p99_ms",
    "anomalies",
    "processor_errors",
    "analysis",
    "data",
    "broker",
    "topic",
    "run_id",
    "timestamp",
)

#: File name (without suffix) of a saved results table.
RESULTS_STEM = "scaling_results"


def efficiency(consumers: Sequence[int], throughput: Sequence[float]) -> list[float]:
    """``throughput(N) / (N * throughput(1))`` for each point (NaN without an N=1 point)."""
    base = next((t for n, t in zip(consumers, throughput, strict=True) if n == 1), None)
    out = []
    for n, t in zip(consumers, throughput, strict=True):
        if base is None or not base or not math.isfinite(base) or not math.isfinite(t):
            out.append(float("nan"))
        else:
            out.append(round(t / (n * base), 4))
    return out


def _pct(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    p = np.percentile(values, [50, 95, 99])
    return tuple(round(float(x), 3) for x in p)  # type: ignore[return-value]


def delivery_check(produced: Sequence[int], results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Exactly once across consumers: each stream's partition read by one consumer only,
    its offsets ``0..produced-1`` each seen once, nothing from another partition.

    >>> r = [{"partition": 0, "offsets": {0: np.arange(3)}, "duplicates": 0, "dlq": 0},
    ...      {"partition": 1, "offsets": {1: np.array([0, 1, 1])}, "duplicates": 0, "dlq": 0}]
    >>> c = delivery_check([3, 3], r)
    >>> c["ok"], c["duplicates"], c["missing"], c["detail"]
    (False, 1, 1, 'partition 1: 1 duplicate offsets, 1 missing')
    """
    readers: dict[int, list[int]] = {}
    problems: list[str] = []
    dup = missing = foreign = consumed = 0
    for r in results:
        for p, offs in r["offsets"].items():
            readers.setdefault(int(p), []).append(r["partition"])
            consumed += len(offs)
            if int(p) != r["partition"]:
                foreign += len(offs)
                problems.append(f"consumer of partition {r['partition']} read {len(offs)} from partition {p}")
        dup += int(r.get("duplicates", 0))
        if r.get("dlq"):
            problems.append(f"partition {r['partition']}: {r['dlq']} messages to the DLQ")
    for k, n_prod in enumerate(produced):
        offs = np.concatenate([r["offsets"][k] for r in results if k in r["offsets"]] or [np.zeros(0, np.int64)])
        uniq = np.unique(offs)
        d = int(offs.size - uniq.size)
        m = int(n_prod - np.count_nonzero((uniq >= 0) & (uniq < n_prod)))
        extra = int(np.count_nonzero(uniq >= n_prod))
        dup += d
        missing += m
        if len(readers.get(k, [])) > 1:
            problems.append(f"partition {k} read by {len(readers[k])} consumers")
        if d or m or extra:
            parts = [
                f"{d} duplicate offsets" if d else "",
                f"{m} missing" if m else "",
                f"{extra} beyond the produced count" if extra else "",
            ]
            problems.append(f"partition {k}: " + ", ".join(p for p in parts if p))
    ok = not problems and dup == 0 and missing == 0 and foreign == 0
    return {
        "ok": ok,
        "produced": int(sum(produced)),
        "consumed": consumed,
        "duplicates": dup,
        "missing": missing,
        "foreign": foreign,
        "detail": "; ".join(problems) or "exactly once",
    }


@dataclasses.dataclass(frozen=True)
class PointRun:
    """How one point ran, besides what its workers measured (the context of :func:`point_row`)."""

    mode: str
    rate: str
    speed: float
    topic: str
    run_id: str
    broker_kind: str
    data_meta: dict[str, Any]
    drivers_per_stream: int
    t_go: float
    t_end: float
    cpu: tuple[Any, Any]  # psutil.cpu_times() before and after
    self_cpu: float
    load1: float


def point_row(results: list[dict[str, Any]], produced: Sequence[int], run: PointRun) -> dict[str, Any]:
    """One result row (plus ``delivery_detail`` and ``per_consumer``) from the workers' reports."""
    n = len(results)
    mode, rate = run.mode, run.rate
    cores = os.cpu_count() or 1
    firsts = [r["t_first"] for r in results if r["t_first"] is not None]
    lasts = [r["t_last"] for r in results if r["t_last"] is not None]
    total = sum(r["processed"] for r in results)
    span = (max(lasts) - min(firsts)) if firsts and lasts else float("nan")
    per = [
        r["processed"] / (r["t_last"] - r["t_first"])
        if r["t_first"] is not None and r["t_last"] and r["t_last"] > r["t_first"]
        else float("nan")
        for r in results
    ]
    thread_cpu = float(sum(r["thread_cpu_s"] for r in results))
    e2e = np.concatenate([r["e2e_ms"] for r in results])
    proc = np.concatenate([r["proc_ms"] for r in results])
    e50, e95, e99 = _pct(e2e)
    p50, p95, p99 = _pct(proc)
    lat = (p50, p95, p99) if rate == "max" else (e50, e95, e99)
    check = delivery_check(produced, results)
    c0, c1 = run.cpu
    busy = lambda c: c.user + c.nice + c.system + getattr(c, "irq", 0) + getattr(c, "softirq", 0)  # noqa: E731
    total_dt = sum(c1) - sum(c0)
    system_pct = 100.0 * (busy(c1) - busy(c0)) / total_dt if total_dt > 0 else float("nan")
    wall = max(run.t_end - run.t_go, 1e-9)
    # worker processes: their own CPU over their first-to-last-message window;
    # threads: the whole process (consumers + main thread; + producers at the fixed rate)
    if mode == "thread":
        consumer_cpu, window = run.self_cpu, wall
    else:
        consumer_cpu, window = sum(r["proc_cpu_s"] for r in results), span
    meta = run.data_meta
    data = (
        f"{meta.get('year', '')} {meta.get('event', '')} {meta.get('session', '')} ({meta.get('source', '?')})".strip()
    )
    if meta.get("simulated"):
        data = f"SIMULATED {data}"
    return {
        "mode": mode,
        "rate": rate,
        "consumers": n,
        "throughput_msgs_s": round(total / span, 2) if span and span > 0 else float("nan"),
        "efficiency": float("nan"),
        "latency_p50_ms": lat[0],
        "latency_p99_ms": lat[2],
        "delivery_ok": bool(check["ok"]),
        "latency_kind": "processing" if rate == "max" else "e2e",
        "latency_p95_ms": lat[1],
        "p99_growth_pct": float("nan"),
        "per_consumer_msgs_s": round(float(np.nanmean(per)), 2) if per else float("nan"),
        "per_consumer_min_msgs_s": round(float(np.nanmin(per)), 2) if per else float("nan"),
        "ideal_msgs_s": float("nan"),
        "partitions": n,
        "streams": n,
        "drivers_per_stream": run.drivers_per_stream,
        "speed": 0.0 if rate == "max" else float(run.speed),
        "produced": check["produced"],
        "consumed": check["consumed"],
        "duplicates": check["duplicates"],
        "missing": check["missing"],
        "foreign": check["foreign"],
        "e2e_p50_ms": e50,
        "e2e_p95_ms": e95,
        "e2e_p99_ms": e99,
        "proc_p50_ms": p50,
        "proc_p95_ms": p95,
        "proc_p99_ms": p99,
        "lag_max": int(sum(r["lag_max"] for r in results)),
        "lag_mean": round(float(sum(r["lag_mean"] for r in results)), 1),
        "lag_end": int(sum(r["lag_end"] for r in results)),
        "cpu_util_pct": round(100.0 * consumer_cpu / (window * cores), 1) if window and window > 0 else float("nan"),
        "consumer_cpu_pct": round(100.0 * float(np.mean([r["thread_cpu_s"] for r in results])) / span, 1)
        if span and span > 0
        else float("nan"),
        "msgs_per_cpu_s": round(total / thread_cpu, 1) if thread_cpu > 0 else float("nan"),
        "cpu_efficiency": float("nan"),
        "system_cpu_pct": round(system_pct, 1),
        "cpu_count": cores,
        "load_avg_1m": round(run.load1, 2),
        "wall_s": round(span, 3),
        "start_skew_s": round(max(firsts) - min(firsts), 3) if firsts else float("nan"),
        "anomalies": int(sum(r["anomalies"] for r in results)),
        "processor_errors": int(sum(r["processor_errors"] for r in results)),
        "analysis": results[0]["analysis"],
        "data": data,
        "broker": run.broker_kind,
        "topic": run.topic,
        "run_id": run.run_id,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "delivery_detail": check["detail"],
        "per_consumer": [
            {
                "partition": r["partition"],
                "pid": r["pid"],
                "processed": r["processed"],
                "msgs_s": round(x, 2) if math.isfinite(x) else None,
                "thread_cpu_s": round(r["thread_cpu_s"], 3),
                "lag_max": r["lag_max"],
                "join_s": r.get("join_s"),
                "stopped": r["stopped_reason"],
            }
            for r, x in zip(results, per, strict=True)
        ],
    }


def finish_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Result rows -> the results DataFrame (efficiency, p99 growth, ideal throughput filled in).

    ``cpu_efficiency`` is the work done per consumer CPU-second at N against N=1: 1.0 when a
    message costs the consumers the same CPU however many run. ``efficiency`` below it means
    the consumers got less CPU at N (other processes, the broker, too few cores); ``cpu_efficiency``
    below 1 means each message cost more (contention inside the machine or the code).
    """
    df = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in rows], columns=list(COLUMNS))
    if df.empty:
        return df
    for (_mode, _rate), g in df.groupby(["mode", "rate"], sort=False):
        g = g.sort_values("consumers")
        df.loc[g.index, "efficiency"] = efficiency(g["consumers"].tolist(), g["throughput_msgs_s"].tolist())
        base_work = g.loc[g["consumers"] == 1, "msgs_per_cpu_s"]
        if len(base_work) and base_work.iloc[0] and math.isfinite(base_work.iloc[0]):
            df.loc[g.index, "cpu_efficiency"] = (g["msgs_per_cpu_s"] / base_work.iloc[0]).round(4)
        base = g[g["consumers"] == 1]
        if len(base):
            b = base.iloc[0]
            df.loc[g.index, "ideal_msgs_s"] = (g["consumers"] * b["throughput_msgs_s"]).round(2)
            if b["latency_p99_ms"] and math.isfinite(b["latency_p99_ms"]):
                df.loc[g.index, "p99_growth_pct"] = ((g["latency_p99_ms"] / b["latency_p99_ms"] - 1) * 100).round(1)
    return df.sort_values(["rate", "mode", "consumers"], kind="stable").reset_index(drop=True)


@dataclasses.dataclass
class ScaleResult:
    """Results of one experiment: the table, per-run details and where they were saved."""

    table: pd.DataFrame
    details: list[dict[str, Any]]
    meta: dict[str, Any]
    settings: Settings
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "results": _records(self.table), "details": self.details}

    def save(self, out: Path | str | None = None) -> Path:
        """Write ``scaling_results.parquet`` + ``.json`` into ``out`` (default
        ``Settings.run_dir/scaling/<timestamp>/``) and point ``latest.json`` at it."""
        base = _scaling_dir(self.settings.run_dir)
        stamp = datetime.fromisoformat(self.meta["started"]).strftime("%Y%m%dT%H%M%SZ")
        out = Path(out) if out is not None else base / stamp
        out.mkdir(parents=True, exist_ok=True)
        self.table.to_parquet(out / f"{RESULTS_STEM}.parquet", index=False)
        (out / f"{RESULTS_STEM}.json").write_text(json.dumps(self.to_dict(), indent=1, default=_json_default))
        base.mkdir(parents=True, exist_ok=True)
        pointer = {
            "dir": str(out.resolve()),
            "results": f"{RESULTS_STEM}.parquet",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        tmp = base / "latest.json.tmp"
        tmp.write_text(json.dumps(pointer))
        tmp.replace(base / "latest.json")
        self.path = out
        log.info("scaling results saved to %s", out)
        return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _scaling_dir(run_dir: Path | str) -> Path:
    return Path(run_dir) / "scaling"


@dataclasses.dataclass(frozen=True)
class LatestResults:
    """The newest saved results table and the file it came from."""

    path: Path
    table: pd.DataFrame


def latest_results_path(run_dir: Path | str) -> Path | None:
    """The newest saved results under ``run_dir``: the ``scaling/latest.json`` pointer,
    else the newest ``scaling/*/scaling_results.parquet``."""
    base = _scaling_dir(run_dir)
    pointer = base / "latest.json"
    if pointer.exists():
        try:
            p = json.loads(pointer.read_text())
            path = Path(p["dir"]) / p.get("results", f"{RESULTS_STEM}.parquet")
            if path.exists():
                return path
        except (OSError, ValueError, KeyError) as exc:
            log.warning("unreadable %s (%s); looking for the newest results instead", pointer, exc)
    found = sorted(base.glob(f"*/{RESULTS_STEM}.parquet"), key=lambda q: q.stat().st_mtime) if base.exists() else []
    return found[-1] if found else None


def latest_results(run_dir: Path | str) -> LatestResults | None:
    """The newest saved results table under ``run_dir`` (what the scaling panel shows), or None."""
    path = latest_results_path(run_dir)
    if path is None:
        return None
    return LatestResults(path, pd.read_parquet(path))
