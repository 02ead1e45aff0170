"""Dashboard benchmark: UI updates applied in a real browser, refresher CPU, latency impact.

Measures, at a replay speed of 20x (default) on the real 2023 Monaco race:

* **applied UI updates/s in the browser** -- a MutationObserver in headless Chromium
  records every distinct frame number the header shows (each refresh that reached
  the page bumps it) over ``--seconds``; target >= 10/s;
* **refresher CPU share** -- CPU time of the kernel's refresher thread / wall time (as
  the page reports it), and the whole kernel process's CPU (psutil);
* **end-to-end latency with and without the dashboard** -- the same pipeline (same
  broker, drivers, speed) twice *at the same time* on their own topics: in a plain Python
  process with no UI, and inside the Voila kernel with a browser attached (running them
  together exposes both to the same machine load); p50/p99 of producer-send ->
  consumer-processed over the state's latency window; target: p50 within 10 %.

Prints a table and one JSON object. Timings on a shared 2-core machine are noisy.

    .venv/bin/python bench/bench_dashboard.py --seconds 15 --drivers VER,HAM,LEC,ALO,OCO
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from f1live.config import Settings  # noqa: E402
from f1live.widgets.server import VoilaServer  # noqa: E402

OBSERVER_JS = """
window.__f1frames = new Set(); window.__f1start = performance.now();
const root = document.querySelector('.f1-header-html') || document.body;
new MutationObserver(() => {
  const e = document.querySelector('.f1-frame'); if (e) window.__f1frames.add(e.textContent);
}).observe(root, {childList: true, subtree: true, characterData: true});
"""

HEADLESS_RUN = """
import json, sys, time
from f1live.config import Settings
from f1live.pipeline import Pipeline
s = Settings.from_env()
p = Pipeline(s, bootstrap_servers=sys.argv[1], drivers=sys.argv[2].split(","), start_lap=int(sys.argv[3]))
p.start()
while p.snapshot(history=False)["counters"]["processed"] == 0:
    time.sleep(0.1)
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "read":
        break
    snap = p.snapshot(history=False)
    print(json.dumps({"e2e": snap["latency"]["e2e_ms"], "processed": snap["counters"]["processed"]}), flush=True)
p.stop()
"""


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
        # Both pipelines run at the same time (same broker, same drivers and speed, own
        # topics), so the shared machine's load hits both alike: one in a plain process
        # with no UI, one in the Voila kernel with a browser attached.
        headless_env = {**os.environ, **env, "F1LIVE_TOPIC": "bench-headless", "F1LIVE_DLQ_TOPIC": "bench-headless.dlq",
                        "F1LIVE_ANALYSIS_TOPIC": "bench-headless.analysis"}
        headless = subprocess.Popen([sys.executable, "-c", HEADLESS_RUN, servers, args.drivers, str(args.start_lap)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=headless_env)
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
            if headless.stdout.readline().strip() != "ready":
                raise RuntimeError("the headless pipeline did not start")
            time.sleep(5.0)  # both past their start-up transients
            kernel = psutil.Process(srv.kernel_pids()[0])
            d.execute_script(OBSERVER_JS)
            cpu0, w0 = kernel.cpu_times(), time.monotonic()
            time.sleep(args.seconds)
            frames, elapsed_ms = d.execute_script("return [window.__f1frames.size, performance.now() - window.__f1start]")
            cpu1, w1 = kernel.cpu_times(), time.monotonic()
            m = metrics(d)
            headless.stdin.write("read\n")
            headless.stdin.flush()
            h = json.loads(headless.stdout.readline())
            result["without_dashboard"] = {"e2e_p50_ms": h["e2e"]["p50"], "e2e_p99_ms": h["e2e"]["p99"],
                                           "msgs_per_s": h["e2e"]["rate"], "processed": h["processed"]}
            result["with_dashboard"] = {
                "browser_updates_per_s": frames / (elapsed_ms / 1000.0),
                "kernel_refresher_updates_per_s": m.get("uiFps"),
                "refresher_cpu_share": m.get("uiCpu"),
                "kernel_cpu_share": ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (w1 - w0),
                "e2e_p50_ms": m.get("p50"), "e2e_p99_ms": m.get("p99"), "msgs_per_s": m.get("rate"),
                "processed": m.get("processed"),
            }
        finally:
            d.quit()
            srv.stop()
            if headless.poll() is None:
                headless.stdin.write("stop\n")
                headless.stdin.flush()
                try:
                    headless.wait(60)
                except subprocess.TimeoutExpired:
                    headless.kill()
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
    ]
    print(f"\ndashboard benchmark: {args.speed:g}x, drivers {args.drivers}, {args.seconds:g} s, broker {broker.kind}, "
          f"load avg {result['load_avg_1m']:.1f} on {result['cpus']} CPUs (shared machine: noisy)")
    print(f"{'metric':34} {'value':>18}  target")
    for name, value, target in rows:
        print(f"{name:34} {value:>18}  {target}")
    print(json.dumps(result, default=float))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
