"""Run every benchmark in bench/ and write one report: Markdown table (+ JSON) with targets.

Each benchmark runs as its own process (as documented in its file) with ``--json-out``
into ``bench/results/<UTC timestamp>/``; its console output goes to ``<name>.log``
there. The headline numbers are then read from those JSON files -- nothing is typed in
by hand -- and written next to their targets to ``report.md`` and ``report.json``;
``--docs`` also copies the Markdown to ``docs/benchmarks.md``.

    .venv/bin/python bench/run_all.py --quick          # ~15-25 min on 2 cores; quick soak (1.5 min)
    .venv/bin/python bench/run_all.py                   # full sizes, 30 min soak (~1 h)
    .venv/bin/python bench/run_all.py --quick --soak-minutes 10 --docs
    .venv/bin/python bench/run_all.py --only cache,inference
    .venv/bin/python bench/run_all.py --out bench/results/<stamp> --report-only --docs --readme

A benchmark that fails is reported as such (its log tail is in the report), the others
still run. The machine's CPU count and load average are recorded: numbers taken while
other jobs run on the same cores are noisy, and the report says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def commands(quick: bool, soak_minutes: float | None, models: Path | None) -> dict[str, list[str]]:
    """Benchmark name -> its arguments (``--json-out`` is added by the runner)."""
    soak = (
        ["--minutes", str(soak_minutes), "--sample-s", "30" if soak_minutes > 5 else "10"]
        if soak_minutes is not None
        else (["--quick"] if quick else ["--minutes", "30"])
    )
    if models is not None and Path(models).resolve().is_relative_to(ROOT):
        models = Path(models).resolve().relative_to(ROOT)  # the benchmarks run in ROOT; no machine paths in reports
    mod = ["--models", str(models)] if models else []
    return {
        "cache": ["--repeats", "2" if quick else "3"],
        # Both clients on one broker, each paced replay followed by the bare client's same pattern
        # (bench_kafka_baseline.run_pattern): the f1live/bare ratios come from one run.
        # --analyse: the 1x replay once more with the consumer's analysis and the models.
        "streaming": [
            "--brokers",
            "kafka",
            "--client",
            "confluent,kafka-python",
            "--analyse",
            *(["--quick"] if quick else []),
            *mod,
        ],
        "broker": ["--kinds", "kafka,tansu", "--messages", "100" if quick else "200"],
        "inference": ["--messages", "5000" if quick else "20000", *mod],
        "scaling": ["--quick", "--repeats", "1"] if quick else [],
        "groups": ["--repeats", "2", "--duration", "20"] if quick else ["--repeats", "3"],
        "dashboard": ["--seconds", "15", "--cycles", "1"] if quick else ["--seconds", "20", "--cycles", "3"],
        "dashboard_kernel": ["--client", "kernel", *(["--seconds", "15", "--cycles", "1"] if quick else [])],
        "contention": ["--seconds", "10" if quick else "20"],
        "soak": [*soak, *(["--models-dir", str(models)] if models else [])],
    }


#: Benchmark names that are another benchmark's file run with other arguments.
VARIANTS = {"dashboard_kernel": "dashboard"}


def script(name: str) -> str:
    """The file a benchmark name runs.

    >>> script("cache"), script("dashboard_kernel")
    ('bench_cache.py', 'bench_dashboard.py')
    """
    return f"bench_{VARIANTS.get(name, name)}.py"


def _get(d: Any, *path: Any) -> Any:
    for p in path:
        if d is None:
            return None
        if isinstance(p, int):
            d = d[p] if isinstance(d, list) and len(d) > p else None
        else:
            d = d.get(p) if isinstance(d, dict) else None
    return d


def _fmt(v: Any, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return f"{v:,.{digits}f}{unit}"
    return str(v)


def headline(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The report rows: metric, measured value, target, met?, source benchmark."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: Any, target: str, ok: bool | None, bench: str, unit: str = "", digits: int = 1) -> None:
        rows.append(
            {
                "metric": metric,
                "value": value,
                "shown": _fmt(value, unit, digits),
                "target": target,
                "met": ok if value is not None else None,
                "bench": bench,
            }
        )

    c = results.get("cache")
    v = _get(c, "iter_rows_per_s")
    tgt = _get(c, "targets", "iter_rows_per_s")
    add(
        "cache replay rows/s (iter_rows)",
        v,
        f">= {tgt:,.0f}" if tgt else "-",
        v is not None and tgt and v >= tgt,
        "cache",
        digits=0,
    )
    rss = _get(c, "rss_after_load_mb")
    tr = _get(c, "targets", "rss_after_load_mb")
    add(
        "cache RSS after loading the race (MB)",
        rss,
        f"< {tr:,.0f}" if tr else "-",
        rss is not None and tr and rss < tr,
        "cache",
        digits=0,
    )

    streams = [r for r in _get(results.get("streaming"), "results") or [] if r.get("broker") == "kafka"]
    # The headline latency rows are the default client's (confluent-kafka; older JSON: the only one).
    s = next((r for r in streams if r.get("client", "confluent") == "confluent"), None)
    err = _get(s, "rate_error_pct_1x")
    add(
        "replay rate error at 1x (%)", err, "within +-0.5 %", err is not None and abs(err) <= 0.5, "streaming", digits=3
    )
    lat = _get(s, "lateness_p99_ms_1x")
    add("schedule lateness p99 at 1x (ms)", lat, "<= 2 ms", lat is not None and lat <= 2.0, "streaming", digits=2)
    for speed in ("1x", "10x"):
        p50, p99 = _get(s, f"e2e_p50_ms_{speed}"), _get(s, f"e2e_p99_ms_{speed}")
        add(
            f"e2e latency p50 at {speed} (ms, Kafka, confluent)",
            p50,
            "<= 2 ms",
            p50 is not None and p50 <= 2.0,
            "streaming",
            digits=2,
        )
        add(
            f"e2e latency p99 at {speed} (ms, Kafka, confluent)",
            p99,
            "<= 10 ms",
            p99 is not None and p99 <= 10.0,
            "streaming",
            digits=2,
        )
    start_p99, start_max = _get(s, "e2e_startup_p99_ms_1x"), _get(s, "e2e_startup_max_ms_1x")
    if start_max is not None:
        add(
            "e2e p99 / max at 1x in a consumer's first 2 s, start-up, left out above (ms, confluent)",
            f"{start_p99:.2f} / {start_max:.2f}",
            "-",
            None,
            "streaming",
        )
    for r in streams:
        client = r.get("client", "kafka-python")
        fa, ba = _get(r, "e2e_p50_ms_1x_analysed"), _get(r, "bare_e2e_p50_ms_1x")
        if fa is not None and ba is not None:
            for q in ("p50", "p99"):
                f, b, ratio = (
                    _get(r, f"e2e_{q}_ms_1x_analysed"),
                    _get(r, f"bare_e2e_{q}_ms_1x"),
                    _get(r, f"e2e_{q}_ratio_1x_analysed"),
                )
                n = len(_get(r, "models_analysed") or [])
                add(
                    f"e2e {q} at 1x with the analysis ({n} models), f1live / bare {client} (ms, same run)",
                    None if f is None or b is None else f"{f:.2f} / {b:.2f} = {ratio:.2f}x",
                    "-",
                    None,
                    "streaming",
                )
        for speed in ("1x", "10x"):
            for q in ("p50", "p99"):
                f, b, ratio = (
                    _get(r, f"e2e_{q}_ms_{speed}"),
                    _get(r, f"bare_e2e_{q}_ms_{speed}"),
                    _get(r, f"e2e_{q}_ratio_{speed}"),
                )
                if b is None:
                    continue
                if speed == "1x" and q == "p50":
                    target, ok = "<= 1.3x bare", ratio is not None and ratio <= 1.3
                elif speed == "1x" and q == "p99" and client == "confluent":
                    target, ok = "f1live <= 10 ms", f is not None and f <= 10.0
                else:
                    target, ok = "-", None
                add(
                    f"e2e {q} at {speed}, f1live / bare {client} (ms, same run)",
                    None if f is None else f"{f:.2f} / {b:.2f} = {ratio:.2f}x",
                    target,
                    ok,
                    "streaming",
                )
        add(
            f"end-to-end msg/s at max speed (no analysis, {client})",
            _get(r, "e2e_max_msg_s"),
            "-",
            None,
            "streaming",
            digits=0,
        )

    inf = results.get("inference")
    full1 = next((r for r in _get(inf, "rows") or [] if r["config"].startswith("full") and r["batch"] == 1), None)
    full500 = next((r for r in _get(inf, "rows") or [] if r["config"].startswith("full") and r["batch"] == 500), None)
    p99 = _get(full1, "per_msg_ms_p99")
    add(
        "inference p99 per message, batch 1 (ms)",
        p99,
        "< 10 ms (seed); <= 1 ms (issue 5)",
        p99 is not None and p99 < 10.0,
        "inference",
        digits=3,
    )
    rate = _get(full500, "msgs_per_s")
    tr = _get(inf, "targets", "msgs_per_s")
    add(
        "max analysed msg/s, one consumer thread (batch 500)",
        rate,
        f">= {tr:,.0f}" if tr else "-",
        rate is not None and tr and rate >= tr,
        "inference",
        digits=0,
    )

    sc = _get(results.get("scaling"), "results") or []

    def point(rate_kind: str, n: int) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in sc
                if r.get("mode") == "process" and r.get("rate") == rate_kind and int(r.get("consumers", 0)) == n
            ),
            None,
        )

    r1, r2 = point("max", 1), point("max", 2)
    t1 = _get(r1, "throughput_msgs_s")
    add(
        "analysed msg/s from Kafka, 1 consumer process (max rate)",
        t1,
        ">= 7,290 (2x 3,645, issue 20)",
        t1 is not None and t1 >= 7290,
        "scaling",
        digits=0,
    )
    eff = _get(r2, "efficiency")
    add(
        "scaling efficiency, process N=2 (max rate)",
        eff,
        ">= 0.85",
        eff is not None and eff >= 0.85,
        "scaling",
        digits=2,
    )
    ce = _get(r2, "cpu_efficiency")
    add("work per consumer CPU-second, process N=2 / N=1 (max rate)", ce, "-", None, "scaling", digits=2)
    g = _get(r2, "p99_growth_pct")
    add("processing p99 growth N=1 -> N=2 at max rate (%)", g, "<= 20 %", g is not None and g <= 20.0, "scaling")
    f2 = point("fixed", 2)
    g = _get(f2, "p99_growth_pct")
    add("e2e p99 growth N=1 -> N=2 at fixed rate (%)", g, "<= 20 %", g is not None and g <= 20.0, "scaling")
    dl = [bool(r.get("delivery_ok")) for r in sc]
    add(
        "exactly-once delivery in every scaling run", all(dl) if dl else None, "yes", all(dl) if dl else None, "scaling"
    )

    gr_runs = _get(results.get("groups"), "runs") or []
    if gr_runs:
        det = [r["detect_s"] for r in gr_runs if r.get("detect_s") is not None]
        cu = [c for r in gr_runs for c in r.get("catch_up_ms") or [] if c is not None]
        add(
            "group member SIGKILLed: kill -> partitions reassigned (s, max over runs)",
            max(det) if det else None,
            "-",
            None,
            "groups",
            digits=1,
        )
        add(
            "group hand-over: reassigned -> state current (ms, max; checkpoint + silent replay)",
            max(cu) if cu else None,
            "-",
            None,
            "groups",
            digits=0,
        )
        every = all(r.get("processed_unique") == r.get("produced") for r in gr_runs)
        add("every message processed across a member kill", every, "yes", every, "groups")

    d = results.get("dashboard")
    ups = _get(d, "with_dashboard", "browser_updates_per_s")
    add("dashboard updates/s applied in the browser", ups, ">= 10", ups is not None and ups >= 10, "dashboard")
    ch = _get(d, "e2e_p50_change_pct")
    add(
        "e2e p50 change with the dashboard attached (%)",
        ch,
        "within +-10 %",
        ch is not None and abs(ch) <= 10,
        "dashboard",
    )
    ch = _get(results.get("dashboard_kernel"), "e2e_p50_change_pct")
    add(
        "e2e p50 change with the kernel side alone (bare kernel, IOPub drained, no page) (%)",
        ch,
        "-",
        None,
        "dashboard_kernel",
    )

    ct = _get(results.get("contention"), "phases") or {}
    keys = [("refresher", "the dashboard refresher in the process (no browser, no comms)")]
    for key in ct:
        if key.startswith("cpu "):  # "cpu NxS@K": N other processes, each busy S of a core, nice K
            n, _, rest = key[4:].partition("x")
            share, _, nice = rest.partition("@")
            prio = "SCHED_IDLE (lowest priority)" if nice == "idle" else f"nice {nice}"
            keys.append((key, f"{n} other process(es) busy {float(share):.0%} of a core each at {prio}"))
    for key, what in keys:
        ch = _get(ct, key, "p50_change_pct")
        add(f"e2e p50 change with {what} (%)", ch, "-", None, "contention")

    so = results.get("soak")
    gr = _get(so, "rss_growth_pct")
    label = f" ({_get(so, 'minutes'):g} min at {_get(so, 'speed'):g}x)" if so else ""
    add(f"soak RSS growth after warm-up{label} (%)", gr, "< 10 %", gr is not None and gr < 10, "soak", digits=2)
    p_first, p_last = _get(so, "p99_first_third_ms"), _get(so, "p99_last_third_ms")
    add(
        "soak e2e p99 first third -> last third (ms)",
        None if p_first is None else f"{p_first:.1f} -> {p_last:.1f}",
        "stable (<= +50 % or +25 ms)",
        _get(so, "targets", "p99_stable"),
        "soak",
    )
    leaks = None if so is None else len(so.get("leaked_threads", [])) + len(so.get("leaked_children", []))
    add(
        "soak leaked threads + processes after stop",
        leaks,
        "0",
        leaks == 0 if leaks is not None else None,
        "soak",
        digits=0,
    )

    b = _get(results.get("broker"), "rows") or (
        results.get("broker") if isinstance(results.get("broker"), list) else []
    )
    kst = next((r.get("start_s") for r in b if r.get("broker") == "kafka"), None)
    add("embedded Kafka start time (s)", kst, "-", None, "broker", digits=1)
    return rows


_MARK = {True: "yes", False: "**no**", None: "-"}
#: README.md's benchmark table sits between these lines (``--readme`` rewrites it).
README_START, README_END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The headline rows as a Markdown table."""
    out = ["| metric | measured | target | met | benchmark |", "|---|---:|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['metric']} | {r['shown']} | {r['target']} | {_MARK[r['met']]} | `bench/{script(r['bench'])}` |"
        )
    return out


def readme_block(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """README's table: which run, its load, then the rows (what ``--readme`` writes between the markers)."""
    load = (meta["load_avg_start"][0], meta["load_avg_end"][0])
    when = datetime.strptime(meta["started"], "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"From one `bench/run_all.py{' --quick' if meta['quick'] else ''}` run ({when}; "
        + ("the quick sizes; soak: " if meta["quick"] else "soak: ")
        + meta["soak"]
        + f") on this project's {meta['cpu_count']}-CPU machine, load average {load[0]:.1f} at the start and "
        f"{load[1]:.1f} at the end (each benchmark's start load, details and raw JSON: "
        "[docs/benchmarks.md](docs/benchmarks.md)). Missed targets are shown as missed. Written by "
        "`bench/run_all.py --readme`."
    )
    return "\n".join([README_START, head, "", *table_lines(rows), README_END])


def write_readme(path: Path, block: str) -> None:
    """Replace the text between :data:`README_START` and :data:`README_END` in ``path``."""
    text = path.read_text()
    a, b = text.find(README_START), text.find(README_END)
    if a < 0 or b < a:
        raise SystemExit(f"{path}: no {README_START} ... {README_END} lines to replace")
    path.write_text(text[:a] + block + text[b + len(README_END) :])


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {meta['started']} by `bench/run_all.py{' --quick' if meta['quick'] else ''}` "
        f"on a machine with **{meta['cpu_count']} CPUs** ({meta['platform']}), load average "
        f"{meta['load_avg_start'][0]:.1f} at the start and {meta['load_avg_end'][0]:.1f} at the end of this "
        "invocation (each benchmark's own start load is listed below)"
        + (
            " -- other jobs shared these cores, so timings are noisy (worse than on a quiet machine)."
            if meta["load_avg_start"][0] > 0.5 * meta["cpu_count"]
            else "."
        ),
        "Soak: " + (meta["soak"]) + ".",
        "",
        *table_lines(rows),
    ]
    lines += ["", "Benchmarks run (seconds, exit status):", ""]
    for name, st in meta["runs"].items():
        load = f", load average {st['load_avg_1m_start']:.1f} at its start" if "load_avg_1m_start" in st else ""
        lines.append(
            f"- `{script(name)} {' '.join(st['args'])}`: {st['seconds']:.0f} s{load}, exit {st['returncode']}"
            + (f" -- FAILED: `{st['error']}`" if st.get("error") else "")
        )
    lines += [
        "",
        "Reproduce: `make bench` (or `.venv/bin/python bench/run_all.py [--quick] [--docs]`); every "
        "benchmark also runs alone and prints its own table and JSON (see the docstring at the top of each "
        "`bench/bench_*.py`). Raw JSON and logs: `bench/results/<timestamp>/`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes everywhere and the quick soak")
    ap.add_argument("--soak-minutes", type=float, default=None, help="soak length (default: 30, --quick: 1.5)")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated subset: cache,streaming,broker,inference,scaling,"
        "dashboard,dashboard_kernel,contention,soak",
    )
    ap.add_argument("--models", type=Path, default=None, help="trained models for inference/soak (default: models/)")
    ap.add_argument("--out", type=Path, default=None, help="results dir (default bench/results/<timestamp>)")
    ap.add_argument("--docs", action="store_true", help="also write docs/benchmarks.md")
    ap.add_argument("--readme", action="store_true", help="also rewrite README.md's benchmark table")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="with --out: run nothing, rebuild the report (and --docs/--readme) from the JSON already there",
    )
    ap.add_argument("--timeout", type=float, default=5400.0, help="seconds one benchmark may take")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --out and --only: keep the other benchmarks' JSON already in --out in the report",
    )
    args = ap.parse_args(argv)
    if args.report_only:
        if args.out is None or not (args.out / "report.json").is_file():
            ap.error("--report-only needs --out with a finished run (report.json)")
        meta = json.loads((args.out / "report.json").read_text())["meta"]
        results = {
            n: json.loads((args.out / f"{n}.json").read_text())
            for n in meta["runs"]
            if (args.out / f"{n}.json").is_file()
        }
        return _report(args, args.out, results, meta)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or BENCH / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    models = args.models
    if models is None and (ROOT / "models" / "manifest.json").is_file():
        models = ROOT / "models"
    plan = commands(args.quick, args.soak_minutes, models)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if only - set(plan):
        ap.error(f"--only: unknown {sorted(only - set(plan))}; expected {', '.join(plan)}")
    load0 = os.getloadavg()
    results: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    if args.reuse and (out / "report.json").is_file():
        runs.update(json.loads((out / "report.json").read_text())["meta"].get("runs", {}))
    for name, bargs in plan.items():
        if only and name not in only:
            if args.reuse and (out / f"{name}.json").is_file():
                results[name] = json.loads((out / f"{name}.json").read_text())
            continue
        js = out / f"{name}.json"
        cmd = [sys.executable, str(BENCH / script(name)), *bargs, "--json-out", str(js)]
        print(f"[run_all] {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.monotonic()
        load_b = os.getloadavg()[0]
        with open(out / f"{name}.log", "w") as log:
            try:
                rc = subprocess.run(
                    cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout
                ).returncode
            except subprocess.TimeoutExpired:
                rc = -1
        st: dict[str, Any] = {
            "args": bargs,
            "seconds": time.monotonic() - t0,
            "returncode": rc,
            "load_avg_1m_start": load_b,
            "started": datetime.now(UTC).strftime("%H:%M"),
        }
        if js.is_file():
            try:
                results[name] = json.loads(js.read_text())
            except json.JSONDecodeError as exc:
                st["error"] = f"bad JSON: {exc}"
        else:
            tail = (out / f"{name}.log").read_text().strip().splitlines()[-1:] or ["(no output)"]
            st["error"] = f"no JSON written; last log line: {tail[0][:200]}"
        runs[name] = st
        print(f"[run_all] {name}: exit {rc} in {st['seconds']:.0f} s", flush=True)
    so = results.get("soak") or {}
    meta = {
        "started": stamp,
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_start": list(load0),
        "load_avg_end": list(os.getloadavg()),
        "runs": runs,
        "soak": (
            f"{so.get('minutes')} min at {so.get('speed')}x"
            + (" (the quick soak, not the 30-minute one)" if (so.get("minutes") or 0) < 30 else "")
        )
        if so
        else "not run",
    }
    return _report(args, out, results, meta)


def _report(args: argparse.Namespace, out: Path, results: dict[str, Any], meta: dict[str, Any]) -> int:
    rows = headline(results)
    md = markdown(rows, meta)
    (out / "report.md").write_text(md)
    (out / "report.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=float))
    if args.docs:
        shutil.copy(out / "report.md", ROOT / "docs" / "benchmarks.md")
    if args.readme:
        write_readme(ROOT / "README.md", readme_block(rows, meta))
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
