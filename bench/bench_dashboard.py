"""Dashboard benchmark: UI updates applied in a real browser, refresher CPU, latency impact.

Measures, at a replay speed of 20x (default) on the real 2023 Monaco race, one pipeline
in a dashboard kernel, in alternating phases of ``--seconds``: screen updates on
("live"), then frozen with the controls' "UI live" toggle while the stream goes on.
Same process, broker, data and machine load, so the difference is what the dashboard
costs. ``--cycles`` live/frozen pairs; medians are reported.

* **applied UI updates/s in the browser** -- a MutationObserver in headless Chromium
  records every distinct frame number the header shows (each refresh that reached
  the page bumps it); target >= 10/s;
* **CPU** -- the kernel's refresher thread (as the page reports it), the whole kernel
  process, and the browser with all its processes (psutil);
* **end-to-end latency live vs frozen** -- producer-send -> consumer-processed, from
  the consumer's own stats lines in the kernel log (``Settings.stats_log_s``, every
  2 s, written whether or not a UI is attached): median of the p50s of the 2-s
  intervals lying wholly inside a phase; target: p50 within 10 %.

``--tab "Race analysis"`` measures with that tab of the page open (the race-analysis panels
drawn on the slow tier instead of the live ones); the default is the page as it opens.

``--client kernel`` runs the same notebook code in a bare ipykernel whose IOPub
messages a client drains, with no Voila and no browser: what the kernel side alone
(the refresher, serialising and sending comm messages) costs. ``--browser-nice`` and
``--browser-cpus`` run the browser at a lower priority or on fewer CPUs, to see whether
that spares the stream.

Prints a table and one JSON object. Timings on a shared 2-core machine are noisy.

    .venv/bin/python bench/bench_dashboard.py [--cycles 3] [--seconds 20] [--client browser|kernel]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_common import POLICIES, emit_json, lower_priority  # noqa: E402

from f1live.config import Settings  # noqa: E402
from f1live.consumer import parse_stats_line  # noqa: E402
from f1live.serve import NOTEBOOK, VoilaServer  # noqa: E402
from f1live.validate import CHROME_FLAGS, OBSERVER_JS  # noqa: E402  (one frame recorder for bench and validate)


def chrome(width: int = 1400, height: int = 2000, nice: int = 0, cpus: set[int] | None = None, sched: str = "other"):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    o = Options()
    for a in CHROME_FLAGS:
        o.add_argument(a)
    o.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='f1bench-chrome-')}")
    o.add_argument(f"--window-size={width},{height}")
    o.binary_location = "/usr/bin/chromium"

    def confine() -> None:  # the browser and every process it starts inherit these
        lower_priority(nice, sched)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return webdriver.Chrome(service=Service("/usr/bin/chromedriver", popen_kw={"preexec_fn": confine}), options=o)


def metrics(driver) -> dict[str, float]:
    raw = driver.execute_script(
        "const e = document.querySelector('.f1-metrics'); return e ? Object.assign({}, e.dataset) : {};"
    )
    out = {}
    for k, v in (raw or {}).items():
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


STATS_S = 2.0  # the kernel's consumer logs e2e p50/p99 every STATS_S seconds (Settings.stats_log_s)
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) ")  # the kernel log's asctime


def consumer_stats(log_path: Path) -> list[tuple[datetime, float, int, float, float]]:
    """(end time, seconds, messages, p50, p99) of every consumer stats line in a kernel log."""
    out = []
    for line in log_path.read_text().splitlines():
        s, t = parse_stats_line(line), LOG_TIME.match(line)
        if s and t:
            out.append(
                (datetime.strptime(t[1], "%Y-%m-%d %H:%M:%S,%f"), s["seconds"], s["messages"], s["p50_ms"], s["p99_ms"])
            )
    return out


def phase_latency(stats: list, t0: datetime, t1: datetime) -> dict[str, float]:
    """Median p50/p99 of the stats intervals lying wholly inside [t0, t1]."""
    rows = [r for r in stats if r[0] - timedelta(seconds=r[1]) >= t0 and r[0] <= t1]
    return {
        "intervals": len(rows),
        "messages": sum(r[2] for r in rows),
        "e2e_p50_ms": float(np.median([r[3] for r in rows])) if rows else float("nan"),
        "e2e_p99_ms": float(np.median([r[4] for r in rows])) if rows else float("nan"),
        "msgs_per_s": sum(r[2] for r in rows) / sum(r[1] for r in rows) if rows else float("nan"),
    }


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class BrowserClient:
    """The dashboard served by Voila and opened in headless Chromium."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], work: Path) -> None:
        self.srv = VoilaServer(env=env, log_path=work / "voila.log")
        self.srv.start()
        self.d = chrome(
            *map(int, args.window.split("x")),
            nice=args.browser_nice,
            cpus={int(c) for c in args.browser_cpus.split(",") if c} or None,
            sched=args.browser_sched,
        )
        self.d.get(self.srv.url)
        t0 = time.monotonic()
        while metrics(self.d).get("processed", 0) <= 0:
            if time.monotonic() - t0 > 180:
                raise RuntimeError("the dashboard never showed a message")
            time.sleep(0.2)
        if args.tab:
            from selenium.webdriver.common.by import By

            self.d.find_element(
                By.XPATH, f"//li[contains(@class,'lm-TabBar-tab')][.//div[text()='{args.tab}']]"
            ).click()
        self.kernel = psutil.Process(self.srv.kernel_pids()[0])
        browser = psutil.Process(self.d.service.process.pid)
        self.browser = [browser, *browser.children(recursive=True)]

    def live_begin(self) -> None:
        self.d.execute_script(OBSERVER_JS)

    def live_end(self) -> dict[str, float]:
        frames, elapsed_ms = self.d.execute_script(
            "return [window.__f1frames.size, performance.now() - window.__f1start]"
        )
        m = metrics(self.d)
        return {
            "browser_updates_per_s": frames / (elapsed_ms / 1000.0),
            "kernel_refresher_updates_per_s": m.get("uiFps"),
            "refresher_cpu_share": m.get("uiCpu"),
        }

    def set_live(self, live: bool) -> None:
        frame = self.d.execute_script("return document.querySelector('.f1-frame').textContent")
        self.d.execute_script("document.querySelector('.f1-btn-ui').click()")
        if live:
            t0 = time.monotonic()
            while self.d.execute_script("return document.querySelector('.f1-frame').textContent") == frame:
                if time.monotonic() - t0 > 30:
                    raise RuntimeError("no frame after un-freezing the screen")
                time.sleep(0.05)

    def close(self) -> None:
        try:
            self.d.quit()
        finally:
            self.srv.stop()


class KernelClient:
    """The served notebook's code in a bare ipykernel; a thread drains its IOPub messages."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], work: Path) -> None:
        import json
        import threading

        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env={**os.environ, **env, "F1LIVE_DASHBOARD_HEARTBEAT_S": "0"}, cwd=str(ROOT))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.iopub = 0
        self._stop = threading.Event()
        self._drain = threading.Thread(target=self._drain_iopub, name="bench-iopub", daemon=True)
        self._drain.start()
        nb = json.loads(NOTEBOOK.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                self.execute("".join(cell["source"]))
        if args.kernel_setup:
            self.execute(args.kernel_setup)
        self.kernel = psutil.Process(self.km.provisioner.process.pid)
        self.browser: list[psutil.Process] = []
        t0 = time.monotonic()
        while not self.execute(
            "assert dash.pipeline is not None and dash.pipeline.state.e2e_ms.count > 0", check=False
        ):
            if time.monotonic() - t0 > 180:
                raise RuntimeError("the dashboard kernel never processed a message")
            time.sleep(0.5)

    def _drain_iopub(self) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self.kc.get_iopub_msg(timeout=0.2)
                self.iopub += 1
            except queue.Empty:
                pass

    def execute(self, code: str, check: bool = True) -> bool:
        msg_id = self.kc.execute(code)
        while True:
            reply = self.kc.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                ok = reply["content"]["status"] == "ok"
                if check and not ok:
                    raise RuntimeError(f"kernel: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
                return ok

    def live_begin(self) -> None:
        self._t0, self._n0 = time.monotonic(), self.iopub

    def live_end(self) -> dict[str, float]:
        return {"iopub_msgs_per_s": (self.iopub - self._n0) / (time.monotonic() - self._t0)}

    def set_live(self, live: bool) -> None:
        self.execute(f"dash.set_live({live})")

    def close(self) -> None:
        try:
            self.execute("dash.stop()", check=False)
        finally:
            self._stop.set()
            self._drain.join(2)
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each live and each frozen phase (s)")
    ap.add_argument("--cycles", type=int, default=3, help="live/frozen phase pairs (medians are reported)")
    ap.add_argument(
        "--client",
        choices=("browser", "kernel"),
        default="browser",
        help="browser: Voila + headless Chromium; kernel: a bare kernel, IOPub drained, no page",
    )
    ap.add_argument(
        "--kernel-setup",
        default="",
        help="--client kernel: Python run in the kernel after the notebook "
        "(experiments, e.g. 'import sys; sys.setswitchinterval(0.005)')",
    )
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument("--drivers", default="VER,HAM,LEC,ALO,OCO")
    ap.add_argument("--start-lap", type=int, default=20)
    ap.add_argument("--broker", default="kafka", help="kafka (embedded Apache Kafka) | tansu")
    ap.add_argument("--window", default="1400x2000", help="browser viewport WxH")
    ap.add_argument("--tab", default="", help="open this tab of the page before measuring (e.g. 'Race analysis')")
    ap.add_argument("--browser-nice", type=int, default=0, help="run the browser at this niceness")
    ap.add_argument("--browser-cpus", default="", help="confine the browser to these CPUs (e.g. 1)")
    ap.add_argument(
        "--browser-sched",
        choices=sorted(POLICIES),
        default="other",
        help="the browser's Linux scheduling policy (idle: runs only on CPU time nothing else wants)",
    )
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()

    from f1live.broker import start_broker

    work = Path(tempfile.mkdtemp(prefix="f1bench-dash-"))
    settings = Settings.from_env().replace(run_dir=work / "runs", source="fastf1-csv", offline=True)
    broker = start_broker(settings, kind=args.broker)
    env = {
        "F1LIVE_SOURCE": "fastf1-csv",
        "F1LIVE_OFFLINE": "1",
        "F1LIVE_RUN_DIR": str(work / "runs"),
        "F1LIVE_SPEED": str(args.speed),
        "F1LIVE_SHARED_DATA": str(settings.shared_data),
        "F1LIVE_STATS_LOG_S": str(STATS_S),
        "F1LIVE_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "F1LIVE_DASHBOARD_DRIVERS": args.drivers,
        "F1LIVE_DASHBOARD_START_LAP": str(args.start_lap),
    }
    result: dict = {
        "client": args.client,
        "speed": args.speed,
        "drivers": args.drivers,
        "seconds": args.seconds,
        "cycles": args.cycles,
        "broker": broker.kind,
        "refresh_ms": settings.ui_refresh_ms,
        "browser_nice": args.browser_nice,
        "browser_cpus": args.browser_cpus,
        "browser_sched": args.browser_sched,
        "window": args.window,
        "tab": args.tab or "Live",
        "cpus": psutil.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
    }
    live: list[dict] = []
    frozen: list[dict] = []
    try:
        client = (BrowserClient if args.client == "browser" else KernelClient)(args, env, work)
        try:
            time.sleep(5.0)  # past the start-up transient

            def measure() -> dict[str, Any]:
                k0, b0, w0, t0 = (
                    cpu_seconds([client.kernel]),
                    cpu_seconds(client.browser),
                    time.monotonic(),
                    datetime.now(),
                )
                time.sleep(args.seconds)
                k1, b1, w1, t1 = (
                    cpu_seconds([client.kernel]),
                    cpu_seconds(client.browser),
                    time.monotonic(),
                    datetime.now(),
                )
                return {
                    "kernel_cpu_share": (k1 - k0) / (w1 - w0),
                    "browser_cpu_share": (b1 - b0) / (w1 - w0),
                    "seconds": w1 - w0,
                    "t0": t0,
                    "t1": t1,
                }

            for _ in range(args.cycles):
                client.live_begin()
                ph = measure()
                live.append({**ph, **client.live_end()})
                client.set_live(False)
                frozen.append(measure())
                client.set_live(True)
                time.sleep(1.0)  # the first frames after unfreezing catch up: not part of either phase
        finally:
            client.close()
    finally:
        broker.stop()

    stats = consumer_stats(next((work / "runs" / "dashboard").glob("kernel-*.log")))
    for ph in live + frozen:
        ph.update(phase_latency(stats, ph.pop("t0"), ph.pop("t1")))
    if not all(ph["intervals"] for ph in live + frozen):
        raise RuntimeError("a phase has no consumer stats line in the kernel log: is the stream running?")
    for i, (lv, fr) in enumerate(zip(live, frozen, strict=True)):
        print(
            f"cycle {i + 1}: e2e p50 live {lv['e2e_p50_ms']:.1f} ms, frozen {fr['e2e_p50_ms']:.1f} ms; "
            f"kernel CPU {100 * lv['kernel_cpu_share']:.0f} / {100 * fr['kernel_cpu_share']:.0f} %; "
            f"browser CPU {100 * lv['browser_cpu_share']:.0f} / {100 * fr['browser_cpu_share']:.0f} %"
        )

    def median(rows: list[dict], key: str) -> float | None:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        return float(np.median(vals)) if vals else None

    result["phases"] = {"live": live, "frozen": frozen}
    w = result["with_dashboard"] = {k: median(live, k) for k in live[0]}
    wo = result["without_dashboard"] = {k: median(frozen, k) for k in frozen[0]}
    result["e2e_p50_change_pct"] = 100.0 * (w["e2e_p50_ms"] - wo["e2e_p50_ms"]) / wo["e2e_p50_ms"]
    result["e2e_p99_change_pct"] = 100.0 * (w["e2e_p99_ms"] - wo["e2e_p99_ms"]) / wo["e2e_p99_ms"]
    ups = w.get("browser_updates_per_s")
    result["targets"] = {
        "browser_updates_per_s>=10": None if ups is None else ups >= 10,
        "e2e_p50_within_10pct": abs(result["e2e_p50_change_pct"]) <= 10,
    }

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f} %"

    rows = [
        ("e2e p50 frozen / live (ms)", f"{wo['e2e_p50_ms']:.1f} / {w['e2e_p50_ms']:.1f}", "within 10 %"),
        ("e2e p50 change", f"{result['e2e_p50_change_pct']:+.1f} %", "|x| <= 10 %"),
        ("e2e p99 frozen / live (ms)", f"{wo['e2e_p99_ms']:.1f} / {w['e2e_p99_ms']:.1f}", ""),
        ("msgs/s frozen / live", f"{wo['msgs_per_s']:.0f} / {w['msgs_per_s']:.0f}", ""),
        ("kernel CPU frozen / live", f"{pct(wo['kernel_cpu_share'])} / {pct(w['kernel_cpu_share'])}", ""),
    ]
    if args.client == "browser":
        rows[:0] = [
            ("applied UI updates/s (browser)", f"{ups:.1f}", ">= 10"),
            (
                "refresher updates/s (kernel)",
                f"{w['kernel_refresher_updates_per_s']:.1f}",
                f"<= {1000 / settings.ui_refresh_ms:.1f}",
            ),
            ("refresher thread CPU", pct(w["refresher_cpu_share"]), ""),
        ]
        rows.append(
            ("browser CPU frozen / live", f"{pct(wo['browser_cpu_share'])} / {pct(w['browser_cpu_share'])}", "")
        )
    else:
        rows.append(("IOPub messages/s drained (live)", f"{w['iopub_msgs_per_s']:.0f}", ""))
    print(
        f"\ndashboard benchmark ({args.client}): {args.speed:g}x, drivers {args.drivers}, {args.cycles} x "
        f"({args.seconds:g} s live + {args.seconds:g} s frozen), medians of {STATS_S:g}-s intervals, broker "
        f"{broker.kind}"
        + (
            f", viewport {args.window}, browser nice {args.browser_nice}"
            f"{', CPUs ' + args.browser_cpus if args.browser_cpus else ''}"
            f"{', policy ' + args.browser_sched if args.browser_sched != 'other' else ''}"
            f", tab {args.tab or 'Live'}"
            if args.client == "browser"
            else ""
        )
        + f", load avg {result['load_avg_1m']:.1f} on {result['cpus']} CPUs (shared machine: noisy)"
    )
    print(f"{'metric':34} {'value':>20}  target")
    for name, value, target in rows:
        print(f"{name:34} {value:>20}  {target}")
    emit_json(result, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
