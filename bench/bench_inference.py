"""Benchmark: analytics cost per message (features + River anomaly + three models).

Replays real 2023 Monaco messages (race part, all drivers interleaved as on the topic)
through :class:`f1live.analysis.AnalyticsProcessor` and measures

* per-message time with one ``process_batch`` call per message (batch size 1), p50/p99;
* per-message time when the consumer hands over one poll at a time (batch sizes 50/500):
  amortised cost per message, and the wall time of a whole batch (what the first message
  of a poll waits);
* the analysed msg/s of one consumer thread (batch 500);
* the breakdown: features only, features + anomaly rules, + River, + models.

Targets (issue 5): p99 <= 1 ms per message, >= 5,000 analysed msg/s per consumer
(seed: 3.45 ms average, requirement < 10 ms).

    .venv/bin/python bench/bench_inference.py [--messages 20000] [--models models/] [--json-out FILE]

If ``--models`` has no trained models, small models are trained on 4 drivers of 2022
(said in the output) so the benchmark still measures real sklearn inference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from f1live.analysis import AnalyticsProcessor  # noqa: E402
from f1live.config import Settings  # noqa: E402
from f1live.features import table_messages  # noqa: E402
from f1live.models import ModelsMissingError, load_models, load_sessions, train_models  # noqa: E402

TARGET_P99_MS = 1.0
TARGET_RATE = 5000.0


def _pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a), q)) if a else float("nan")


def real_messages(settings: Settings, n: int) -> list[dict[str, Any]]:
    data = load_sessions(settings, [2023])[0]
    tel = data.telemetry
    start = float(data.laps["LapStartTime"].min())
    tel = tel[tel["session_time"] >= start - 60].sort_values("session_time", kind="stable").head(n)
    return table_messages(tel, extra=("x", "y", "seq"))


def ensure_models(settings: Settings, models_dir: Path | None) -> tuple[Path, str]:
    d = Path(models_dir or settings.models_dir)
    try:
        load_models(d)
        return d, f"trained models from {d}"
    except ModelsMissingError:
        tmp = Path(tempfile.mkdtemp(prefix="f1live-bench-models-"))
        train = load_sessions(settings, [2022], drivers=["VER", "LEC", "MSC", "SAI"])
        train_models(train, None, out_dir=tmp, stride=8, cv_folds=2, max_iter=150)
        return tmp, f"no models in {d}: trained small bench models (2022, 4 drivers, 150 trees) in {tmp}"


def per_message(proc: AnalyticsProcessor, msgs: list[dict[str, Any]], warm: int = 200) -> list[float]:
    for m in msgs[:warm]:
        proc.process_batch([m])
    out = []
    pc = time.perf_counter_ns
    for m in msgs[warm:]:
        t0 = pc()
        proc.process_batch([m])
        out.append((pc() - t0) / 1e6)
    return out


def batched(proc: AnalyticsProcessor, msgs: list[dict[str, Any]], size: int) -> dict[str, float]:
    proc.process_batch(msgs[:size])  # warm
    per, walls = [], []
    pc = time.perf_counter_ns
    t_all = pc()
    n = 0
    for i in range(size, len(msgs), size):
        b = msgs[i : i + size]
        t0 = pc()
        proc.process_batch(b)
        dt = (pc() - t0) / 1e6
        walls.append(dt)
        per.extend([dt / len(b)] * len(b))
        n += len(b)
    elapsed = (pc() - t_all) / 1e9
    return {
        "batch": size,
        "messages": n,
        "per_msg_ms_p50": _pct(per, 50),
        "per_msg_ms_p99": _pct(per, 99),
        "per_msg_ms_mean": float(np.mean(per)),
        "batch_wall_ms_p50": _pct(walls, 50),
        "batch_wall_ms_p99": _pct(walls, 99),
        "msgs_per_s": n / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    settings = Settings.from_env(source=os.environ.get("F1LIVE_SOURCE", "fastf1-csv"), offline=True)
    models_dir, models_note = ensure_models(settings, args.models)
    msgs = real_messages(settings, args.messages)
    n_single = min(len(msgs), 6000)

    rows: list[dict[str, Any]] = []

    def mk(**kw: Any) -> AnalyticsProcessor:
        p = AnalyticsProcessor(settings, models_dir=models_dir, **kw)
        p.start()
        return p

    configs = [
        ("features only", dict(models=False, anomaly=False)),
        ("features + rules", dict(models=False, river=False)),
        ("features + rules + River", dict(models=False)),
        ("full: + 3 models", dict()),
    ]
    for label, kw in configs:
        lat = per_message(mk(**kw), msgs[:n_single])
        rows.append(
            {
                "config": label,
                "batch": 1,
                "per_msg_ms_p50": _pct(lat, 50),
                "per_msg_ms_p99": _pct(lat, 99),
                "per_msg_ms_mean": float(np.mean(lat)),
                "msgs_per_s": 1000.0 / float(np.mean(lat)),
            }
        )
    for size in (50, 500):
        r = batched(mk(), msgs, size)
        rows.append({"config": "full: + 3 models", **r})
    r = batched(mk(models=False), msgs, 500)
    rows.append({"config": "features + rules + River", **r})

    best = min((r for r in rows if r["config"].startswith("full")), key=lambda r: r["per_msg_ms_p99"])
    result = {
        "benchmark": "inference",
        "messages": len(msgs),
        "models": models_note,
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_1m": os.getloadavg()[0]},
        "targets": {"p99_ms": TARGET_P99_MS, "msgs_per_s": TARGET_RATE},
        "rows": rows,
        "best": {
            "config": best["config"],
            "batch": best["batch"],
            "per_msg_ms_p99": best["per_msg_ms_p99"],
            "msgs_per_s": best["msgs_per_s"],
            "meets_p99": best["per_msg_ms_p99"] <= TARGET_P99_MS,
            "meets_rate": best["msgs_per_s"] >= TARGET_RATE,
        },
    }
    print(f"analytics inference on {len(msgs)} real messages (2023 Monaco); {models_note}")
    print(f"host: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} (numbers are noisy when busy)")
    hdr = f"{'config':28s} {'batch':>5s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s} {'batch p99 ms':>12s} {'msg/s':>9s}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['config']:28s} {r['batch']:5d} {r['per_msg_ms_p50']:8.3f} {r['per_msg_ms_p99']:8.3f} "
            f"{r['per_msg_ms_mean']:8.3f} {r.get('batch_wall_ms_p99', float('nan')):12.1f} {r['msgs_per_s']:9.0f}"
        )
    print(
        f"best full config: batch {best['batch']}: p99 {best['per_msg_ms_p99']:.3f} ms/msg (target <= {TARGET_P99_MS}), "
        f"{best['msgs_per_s']:.0f} msg/s (target >= {TARGET_RATE:.0f})"
    )
    print(json.dumps(result, indent=1))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
