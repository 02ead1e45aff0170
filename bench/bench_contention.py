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
3. ``cpu NxS@K`` -- plus N other *processes*, each busy a share S of one core, at
   niceness K or ``idle`` (Linux ``SCHED_IDLE``, the lowest priority there is; ``--hogs``,
   default ``1x0.7@0,1x0.7@idle,2x0.15@0,2x0.15@idle``): nothing in this process, no
   GIL. The browser's measured share is 0.55-0.8 of a core at 12.5 frames/s, spread
   over several processes and threads.

Phases 1-2 are what the kernel side of the dashboard costs; the ``cpu`` phases are
what a browser sharing the cores costs even with no dashboard code running at all, and
whether running it at the lowest priority (SCHED_IDLE) would spare the stream.

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import emit_json, lower_priority  # noqa: E402

from f1live.config import Settings  # noqa: E402
from f1live.metrics import percentiles  # noqa: E402
from f1live.pipeline import Pipeline  # noqa: E402

IDLE = 20  # "@idle" in --hogs: Linux SCHED_IDLE, below nice 19 (runs only on CPU time nothing else wants)


def _hog(share: float, stop: mp.Event, nice: int = 0) -> None:  # type: ignore[valid-type]
    """Busy ``share`` of every 10 ms (another process: takes CPU, not the GIL of the pipeline)."""
    if nice == IDLE:
        lower_priority(policy="idle")
    else:
        lower_priority(nice)
    while not stop.is_set():
        t = time.perf_counter()
        while time.perf_counter() - t < 0.010 * share:
            pass
        if share < 1.0:
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


def parse_hog(spec: str) -> tuple[int, float, int]:
    """``"2x0.15@19"`` -> (2 processes, 15 % of a core each, nice 19); ``@idle`` -> SCHED_IDLE.

    >>> parse_hog("2x0.15@19"), parse_hog("1x0.7"), parse_hog("1x1@idle") == (1, 1.0, IDLE)
    ((2, 0.15, 19), (1, 0.7, 0), True)
    """
    try:
        body, _, nice = spec.strip().partition("@")
        n, _, share = body.partition("x")
        out = (int(n), float(share), IDLE if nice == "idle" else int(nice or 0))
    except ValueError:
        raise SystemExit(f"--hogs: {spec!r}: expected NxSHARE[@NICE|@idle], e.g. 2x0.15@19") from None
    if out[0] < 1 or not 0 < out[1] <= 1 or not 0 <= out[2] <= IDLE:
        raise SystemExit(f"--hogs: {spec!r}: expected N >= 1, 0 < SHARE <= 1, 0 <= NICE <= 19 or idle")
    return out


def priority(nice: int) -> str:
    return "SCHED_IDLE" if nice == IDLE else f"nice {nice}"


def hog_key(spec: tuple[int, float, int]) -> str:
    return f"cpu {spec[0]}x{spec[1]:g}@{'idle' if spec[2] == IDLE else spec[2]}"


def phase(p: Pipeline, seconds: float) -> dict[str, float]:
    st = p.state
    n0 = st.e2e_ms.count
    time.sleep(seconds)
    n = st.e2e_ms.count - n0
    p = percentiles(st.e2e_ms.since(n0), (50, 99))
    return {"messages": int(n), "e2e_p50_ms": p["p50"], "e2e_p99_ms": p["p99"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument("--drivers", default="VER,HAM,LEC,ALO,OCO")
    ap.add_argument("--gil-ms", type=float, default=8.0)
    ap.add_argument(
        "--hogs",
        default="1x0.7@0,1x0.7@idle,2x0.15@0,2x0.15@idle",
        help="cpu phases: N processes x busy share of a core @ niceness (0-19 or idle), comma-separated",
    )
    ap.add_argument(
        "--switch-interval-ms",
        type=float,
        default=1.0,
        help="GIL switch interval (the dashboard sets 1 ms while it runs)",
    )
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()

    hogs = [parse_hog(h) for h in args.hogs.split(",") if h.strip()]
    work = Path(tempfile.mkdtemp(prefix="f1bench-contention-"))
    settings = Settings.from_env().replace(source="fastf1-csv", offline=True, speed=args.speed, run_dir=work)
    result: dict = {
        "hogs": args.hogs,
        "speed": args.speed,
        "drivers": args.drivers,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "switch_interval_ms": args.switch_interval_ms,
        "phases": {},
    }
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
        for spec in hogs:
            n, share, nice = spec
            stop = ctx.Event()
            procs = [
                ctx.Process(target=_hog, args=(share, stop, nice), name="f1live-bench-hog", daemon=True)
                for _ in range(n)
            ]
            for h in procs:
                h.start()
            try:
                result["phases"][hog_key(spec)] = phase(p, args.seconds)
            finally:
                stop.set()
                for h in procs:
                    h.join(5)
            baselines.append(phase(p, args.seconds))

    result["baselines"] = baselines
    rows = [
        (f"+ GIL held {args.gil_ms:g} ms / 80 ms in-process", "gil"),
        ("+ dashboard refresher (no browser, no comms)", "refresher"),
    ]
    rows += [
        (
            f"+ {n} other process{'es' if n > 1 else ''} busy {share:.0%} of a core each, {priority(nice)}",
            hog_key((n, share, nice)),
        )
        for n, share, nice in hogs
    ]
    print(
        f"\ncontention benchmark: {args.speed:g}x, drivers {args.drivers}, {args.seconds:g} s per phase, "
        f"GIL switch interval {args.switch_interval_ms:g} ms, load avg {result['load_avg_1m']:.1f} "
        f"on {result['cpus']} CPUs (shared machine: noisy)"
    )
    print(
        "baselines (pipeline alone) p50 / p99 ms: "
        + ", ".join(f"{b['e2e_p50_ms']:.1f} / {b['e2e_p99_ms']:.1f}" for b in baselines)
    )
    print(f"{'phase':44} {'msgs':>6} {'p50 ms':>7} {'p99 ms':>7} {'base p50':>9} {'p50 change':>11}")
    for i, (label, key) in enumerate(rows):
        ph = result["phases"][key]
        base = (baselines[i]["e2e_p50_ms"] + baselines[i + 1]["e2e_p50_ms"]) / 2.0
        ph["baseline_p50_ms"] = base
        ph["p50_change_pct"] = 100.0 * (ph["e2e_p50_ms"] - base) / base
        print(
            f"{label:44} {ph['messages']:6d} {ph['e2e_p50_ms']:7.1f} {ph['e2e_p99_ms']:7.1f} {base:9.1f} "
            f"{ph['p50_change_pct']:+10.1f} %"
        )
    emit_json(result, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
