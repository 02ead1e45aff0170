"""What raises end-to-end latency when the dashboard is attached: the GIL, or the CPU the browser takes?

``bench_dashboard.py`` measures the whole effect (Voila kernel + browser on the same
machine). This benchmark takes it apart on one running pipeline (real 2023 Monaco, 20x,
five drivers, embedded Apache Kafka, full analysis), phase after phase, each
``--seconds`` long, e2e latency p50/p99 of the messages consumed in that phase. A
``baseline`` phase (the pipeline alone) runs before the first and after every other
phase, and each phase is compared with the mean of the baselines around it, so a slow
drift of the machine or the replay is not blamed on a phase:

1. ``gil`` -- plus a Python thread in the same process holding the GIL ``--gil-ms`` of
   every 80 ms (the refresher's measured cost is ~8 ms per frame);
2. ``refresher`` -- plus the real dashboard refresher (all panels, no browser attached);
3. ``cpu`` -- plus another *process* busy ``--cpu-share`` of one core (the browser's
   measured share is 0.55-0.8 of a core at 12.5 frames/s), nothing in this process.

Phases 1-2 are what the kernel side of the dashboard costs; phase 3 is what a browser
sharing the cores costs even with no dashboard code running at all.

    .venv/bin/python bench/bench_contention.py [--seconds 20] [--json-out FILE]

Prints a table and one JSON object. Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import emit_json  # noqa: E402

from f1live.config import Settings  # noqa: E402
from f1live.pipeline import Pipeline  # noqa: E402


def _hog(share: float, stop: mp.Event) -> None:  # type: ignore[valid-type]
    """Busy ``share`` of every 10 ms (another process: takes CPU, not the GIL of the pipeline)."""
    while not stop.is_set():
        t = time.perf_counter()
        while time.perf_counter() - t < 0.010 * share:
            pass
        time.sleep(0.010 * (1.0 - share))


class GilBurner:
    """A thread holding the GIL ``busy_ms`` of every ``period_ms`` (pure-Python work)."""

    def __init__(self, busy_ms: float, period_ms: float = 80.0) -> None:
        self.busy_s, self.period_s = busy_ms / 1000.0, period_ms / 1000.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="f1live-bench-gil", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            while time.perf_counter() - t < self.busy_s:
                sum(range(200))
            self._stop.wait(max(0.0, self.period_s - self.busy_s))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@contextmanager
def alongside(start: Callable[[], object], stop: Callable[[], object]) -> Iterator[None]:
    """Run the block with something started, and stopped (joined) whatever happens."""
    start()
    try:
        yield
    finally:
        stop()


def phase(p: Pipeline, seconds: float) -> dict[str, float]:
    st = p.state
    n0 = st.e2e_ms.count
    time.sleep(seconds)
    n = st.e2e_ms.count - n0
    vals = st.e2e_ms.window_values()[-n:] if n else np.array([])
    return {"messages": int(n), "e2e_p50_ms": float(np.percentile(vals, 50)) if n else float("nan"),
            "e2e_p99_ms": float(np.percentile(vals, 99)) if n else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument("--drivers", default="VER,HAM,LEC,ALO,OCO")
    ap.add_argument("--gil-ms", type=float, default=8.0)
    ap.add_argument("--cpu-share", type=float, default=0.7)
    ap.add_argument("--switch-interval-ms", type=float, default=1.0,
                    help="GIL switch interval (the dashboard sets 1 ms while it runs)")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="f1bench-contention-"))
    settings = Settings.from_env().replace(source="fastf1-csv", offline=True, speed=args.speed, run_dir=work)
    result: dict = {"speed": args.speed, "drivers": args.drivers, "seconds": args.seconds, "cpus": os.cpu_count(),
                    "load_avg_1m": os.getloadavg()[0], "switch_interval_ms": args.switch_interval_ms, "phases": {}}
    sys.setswitchinterval(args.switch_interval_ms / 1000.0)
    with Pipeline(settings, drivers=args.drivers.split(","), start_lap=20) as p:
        p.start()
        time.sleep(8.0)  # past the start-up transient
        baselines = [phase(p, args.seconds)]

        burner = GilBurner(args.gil_ms)
        with alongside(burner.start, lambda: (burner.stop(), burner.join(2))):
            result["phases"]["gil"] = phase(p, args.seconds)
        baselines.append(phase(p, args.seconds))

        from f1live.widgets import Dashboard

        dash = Dashboard(settings, pipeline=p, switch_interval_s=args.switch_interval_ms / 1000.0)
        with alongside(dash.refresher.start, lambda: (dash.refresher.stop(), dash.refresher.join(5))):
            result["phases"]["refresher"] = phase(p, args.seconds)
            result["phases"]["refresher"]["refresher_cpu_share"] = dash.refresher.stats()["cpu_share"]
        baselines.append(phase(p, args.seconds))

        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        hog = ctx.Process(target=_hog, args=(args.cpu_share, stop), name="f1live-bench-hog", daemon=True)
        with alongside(hog.start, lambda: (stop.set(), hog.join(5))):
            result["phases"]["cpu"] = phase(p, args.seconds)
        baselines.append(phase(p, args.seconds))

    result["baselines"] = baselines
    rows = [(f"+ GIL held {args.gil_ms:g} ms / 80 ms in-process", "gil"),
            ("+ dashboard refresher (no browser)", "refresher"),
            (f"+ other process busy {args.cpu_share:.0%} of a core", "cpu")]
    print(f"\ncontention benchmark: {args.speed:g}x, drivers {args.drivers}, {args.seconds:g} s per phase, "
          f"GIL switch interval {args.switch_interval_ms:g} ms, load avg {result['load_avg_1m']:.1f} "
          f"on {result['cpus']} CPUs (shared machine: noisy)")
    print("baselines (pipeline alone) p50 / p99 ms: "
          + ", ".join(f"{b['e2e_p50_ms']:.1f} / {b['e2e_p99_ms']:.1f}" for b in baselines))
    print(f"{'phase':44} {'msgs':>6} {'p50 ms':>7} {'p99 ms':>7} {'base p50':>9} {'p50 change':>11}")
    for i, (label, key) in enumerate(rows):
        ph = result["phases"][key]
        base = (baselines[i]["e2e_p50_ms"] + baselines[i + 1]["e2e_p50_ms"]) / 2.0
        ph["baseline_p50_ms"] = base
        ph["p50_change_pct"] = 100.0 * (ph["e2e_p50_ms"] - base) / base
        print(f"{label:44} {ph['messages']:6d} {ph['e2e_p50_ms']:7.1f} {ph['e2e_p99_ms']:7.1f} {base:9.1f} "
              f"{ph['p50_change_pct']:+10.1f} %")
    emit_json(result, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
