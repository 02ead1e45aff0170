"""Dashboard benchmark: UI updates applied in a real browser, refresher CPU, latency impact.

Measures, at a replay speed of 20x (default) on the real 2023 Monaco race:

* **applied UI updates/s in the browser** -- a MutationObserver in headless Chromium
  records every distinct frame number the header shows (each refresh that reached
  the page bumps it) over ``--seconds``; target >= 10/s;
* **refresher CPU share** -- CPU time of the kernel's refresher thread / wall time (as
  the page reports it), and the whole kernel process's CPU (psutil);
* **end-to-end latency with and without the dashboard** -- one pipeline in the Voila
  kernel, measured with screen updates on and then frozen (the controls' "UI live"
  toggle; the stream goes on): same process, broker, data and machine load, so the
  difference is what the dashboard costs. p50/p99 of producer-send -> consumer-processed
  over the state's latency window (8192 messages; the frozen phase lasts long enough to
  fill it); target: p50 within 10 %.

Prints a table and one JSON object. Timings on a shared 2-core machine are noisy.

    .venv/bin/python bench/bench_dashboard.py --seconds 15 --drivers VER,HAM,LEC,ALO,OCO
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_common import emit_json  # noqa: E402

from f1live.config import Settings  # noqa: E402
from f1live.validation import OBSERVER_JS  # noqa: E402  (one frame recorder for bench and validate)
from f1live.widgets.server import VoilaServer  # noqa: E402


def chrome(width: int = 1400, height: int = 2000):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    o = Options()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        o.add_argument(a)
    o.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='f1bench-chrome-')}")
    o.add_argument(f"--window-size={width},{height}")
    o.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def metrics(driver) -> dict[str, float]:
    raw = driver.execute_script(
        "const e = document.querySelector('.f1-metrics'); return e ? Object.assign({}, e.dataset) : {};")
    out = {}
    for k, v in (raw or {}).items():
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="measurement window (s)")
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument("--drivers", default="VER,HAM,LEC,ALO,OCO")
    ap.add_argument("--start-lap", type=int, default=20)
    ap.add_argument("--broker", default="kafka", help="kafka (embedded Apache Kafka) | tansu")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()

    from f1live.broker import start_broker

    work = Path(tempfile.mkdtemp(prefix="f1bench-dash-"))
    settings = Settings.from_env().replace(run_dir=work / "runs", source="fastf1-csv", offline=True)
    env = {"F1LIVE_SOURCE": "fastf1-csv", "F1LIVE_OFFLINE": "1", "F1LIVE_RUN_DIR": str(work / "runs"),
           "F1LIVE_SPEED": str(args.speed), "F1LIVE_SHARED_DATA": str(settings.shared_data)}
    broker = start_broker(settings, kind=args.broker)
    servers = broker.bootstrap_servers
    result: dict = {"speed": args.speed, "drivers": args.drivers, "seconds": args.seconds, "broker": broker.kind,
                    "refresh_ms": settings.ui_refresh_ms, "cpus": psutil.cpu_count(),
                    "load_avg_1m": os.getloadavg()[0]}
    try:
        # One pipeline in the Voila kernel with a browser attached, measured twice in a
        # row: screen updates on, then frozen with the "UI live" toggle (the stream goes
        # on). Same process, broker, data and load: the difference is the dashboard.
        srv = VoilaServer(env={**env, "F1LIVE_BOOTSTRAP_SERVERS": servers, "F1LIVE_DASHBOARD_DRIVERS": args.drivers,
                               "F1LIVE_DASHBOARD_START_LAP": str(args.start_lap)},
                          log_path=work / "voila.log")
        srv.start()
        d = chrome()
        try:
            d.get(srv.url)
            t0 = time.monotonic()
            while metrics(d).get("processed", 0) <= 0:
                if time.monotonic() - t0 > 180:
                    raise RuntimeError("the dashboard never showed a message")
                time.sleep(0.2)
            time.sleep(5.0)  # past the start-up transient
            kernel = psutil.Process(srv.kernel_pids()[0])

            def kernel_cpu() -> float:
                t = kernel.cpu_times()
                return t.user + t.system

            # phase 1: dashboard live
            d.execute_script(OBSERVER_JS)
            c0, w0 = kernel_cpu(), time.monotonic()
            time.sleep(args.seconds)
            frames, elapsed_ms = d.execute_script("return [window.__f1frames.size, performance.now() - window.__f1start]")
            c1, w1 = kernel_cpu(), time.monotonic()
            m = metrics(d)
            rate = max(m.get("rate") or 1.0, 1.0)
            result["with_dashboard"] = {
                "browser_updates_per_s": frames / (elapsed_ms / 1000.0),
                "kernel_refresher_updates_per_s": m.get("uiFps"),
                "refresher_cpu_share": m.get("uiCpu"),
                "kernel_cpu_share": (c1 - c0) / (w1 - w0),
                "e2e_p50_ms": m.get("p50"), "e2e_p99_ms": m.get("p99"), "msgs_per_s": m.get("rate"),
            }
            # phase 2: screen frozen long enough for the latency window (8192 msgs) to hold
            # only messages of this phase
            d.execute_script("document.querySelector('.f1-btn-ui').click()")
            frozen_s = max(args.seconds, 8192 / rate + 3.0)
            c0, w0 = kernel_cpu(), time.monotonic()
            time.sleep(frozen_s)
            c1, w1 = kernel_cpu(), time.monotonic()
            frame = d.execute_script("return document.querySelector('.f1-frame').textContent")
            d.execute_script("document.querySelector('.f1-btn-ui').click()")
            t0 = time.monotonic()
            while d.execute_script("return document.querySelector('.f1-frame').textContent") == frame:
                if time.monotonic() - t0 > 30:
                    raise RuntimeError("no frame after un-freezing the screen")
                time.sleep(0.05)
            m = metrics(d)
            result["without_dashboard"] = {"e2e_p50_ms": m.get("p50"), "e2e_p99_ms": m.get("p99"),
                                           "msgs_per_s": m.get("rate"), "kernel_cpu_share": (c1 - c0) / (w1 - w0),
                                           "seconds": frozen_s}
        finally:
            d.quit()
            srv.stop()
    finally:
        broker.stop()

    w, wo = result["with_dashboard"], result["without_dashboard"]
    result["e2e_p50_change_pct"] = 100.0 * (w["e2e_p50_ms"] - wo["e2e_p50_ms"]) / wo["e2e_p50_ms"]
    result["e2e_p99_change_pct"] = 100.0 * (w["e2e_p99_ms"] - wo["e2e_p99_ms"]) / wo["e2e_p99_ms"]
    result["targets"] = {"browser_updates_per_s>=10": w["browser_updates_per_s"] >= 10,
                         "e2e_p50_within_10pct": abs(result["e2e_p50_change_pct"]) <= 10}
    rows = [
        ("applied UI updates/s (browser)", f"{w['browser_updates_per_s']:.1f}", ">= 10"),
        ("refresher updates/s (kernel)", f"{w['kernel_refresher_updates_per_s']:.1f}", f"<= {1000 / settings.ui_refresh_ms:.1f}"),
        ("refresher CPU share", f"{100 * w['refresher_cpu_share']:.1f} %", ""),
        ("kernel process CPU share", f"{100 * w['kernel_cpu_share']:.1f} %", ""),
        ("e2e p50 without / with UI (ms)", f"{wo['e2e_p50_ms']:.1f} / {w['e2e_p50_ms']:.1f}", "within 10 %"),
        ("e2e p99 without / with UI (ms)", f"{wo['e2e_p99_ms']:.1f} / {w['e2e_p99_ms']:.1f}", ""),
        ("e2e p50 change", f"{result['e2e_p50_change_pct']:+.1f} %", "|x| <= 10 %"),
        ("msgs/s without / with UI", f"{wo['msgs_per_s']:.0f} / {w['msgs_per_s']:.0f}", ""),
        ("kernel CPU without / with UI", f"{100 * wo['kernel_cpu_share']:.0f} / {100 * w['kernel_cpu_share']:.0f} %", ""),
    ]
    print(f"\ndashboard benchmark: {args.speed:g}x, drivers {args.drivers}, {args.seconds:g} s, broker {broker.kind}, "
          f"load avg {result['load_avg_1m']:.1f} on {result['cpus']} CPUs (shared machine: noisy)")
    print(f"{'metric':34} {'value':>18}  target")
    for name, value, target in rows:
        print(f"{name:34} {value:>18}  {target}")
    emit_json(result, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
