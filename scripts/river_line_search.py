"""Reproduce the choice of the River alarm lines (``RiverLimits``) on the training races.

The lines are chosen on the TRAINING races only (2022 + 2024 Monaco, racing laps, every
driver); the held-out 2023 race is never read here. Objective: the best mean recall on
medium (grade 2) faults of River and rules together, over fault types, seeds 7 and 8
(``FaultSpec()``: 3 faults of each type per driver), with at most ``--budget`` false
alarms per driver-hour of River and rules together (flagged messages) on the clean races.

Stages:

1. (expensive, cached in ``--out``) per race and per table -- the clean racing rows and
   one corrupted copy per fault type and seed -- the raw River residuals: every sample
   replayed through :class:`f1live.anomaly.RiverDetector` with every line at 1.0
   (:func:`f1live.faults.river_residuals`), and the rules' flags
   (:func:`f1live.faults.run_detectors`, rules only) and the faults they find.
2. (fast surrogate) an alarm array per table, residual and candidate line from the raw
   residuals (:func:`f1live.anomaly.episode_alarms`: the episode rule of
   ``ResidualModel.learn_one``); a combination of lines alarms where any of its
   residuals does. Coordinate ascent over :data:`GRID` (one line group at a time, the
   best feasible candidate, until nothing changes) from two starts: the middle of the
   old search and the shipped lines; the better result is chosen. (On 2026-12-02 the
   shipped lines were a fixed point and the better result; from the middle the ascent
   stopped at a local optimum with less recall. The start at the shipped lines checks
   that no single group's change within the budget improves them; it does not find
   them from scratch.)
3. (exact) the real detector with the chosen lines and with the shipped ``RiverLimits()``:
   :func:`f1live.faults.evaluate_grades` (medium, both seeds) and
   :func:`f1live.faults.clean_alarms` on each training race; also each start's result
   when it differs (cached per set of lines in ``--out``).

Where the surrogate is approximate (stage 3 measures what ships):

* the rpm *noise burst* (``noise_burst`` rpm peaks past ``noise_burst_fraction`` of the
  spike line) depends on the spike lines; with unit lines it never fires, so the
  surrogate's rpm noise is the window median only;
* ``_learn_ratio`` stops learning a gear's ratio while the drift median is past half the
  drift line; at unit lines it keeps learning through a drift, so the surrogate's drift
  and stuck residuals (the stuck residual also uses the learnt ratio) are somewhat
  lower under a drift fault than the detector's at its real lines;
* the recall over fault types here is the mean of per-type recalls; stage 3 also gives
  the pooled recall of :func:`f1live.faults.evaluate_grades` (about equal: the same
  number of faults of each type).

Usage::

    python scripts/river_line_search.py                # ~30 min: stage 1 ~8, 2 ~1, 3 ~10 per set of lines
    python scripts/river_line_search.py --quick        # 3 drivers per race: a smoke run
    python scripts/river_line_search.py --json > lines.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from f1live.anomaly import RIVER_RESIDUALS, RiverLimits, episode_alarms
from f1live.faults import (
    FAULT_TYPES,
    GRADE_NAMES,
    FaultSpec,
    clean_alarms,
    driver_hours,
    evaluate_grades,
    inject_faults,
    racing_rows,
    river_residuals,
    run_detectors,
    score_faults,
)

TRAIN_YEARS = (2022, 2024)
SEEDS = (7, 8)
GRADE = 2  # medium
QUICK_DRIVERS = 3
CACHE_VERSION = 1

#: A line: one value, or (from ``high_gear`` up, below it) for the banded spike lines.
Line = float | tuple[float, float]

#: The candidates of each line group (the old search's grid); a group is a RiverLimits field.
GRID: dict[str, list[Line]] = {
    "spike_speed": [(h, lo) for h in (0.10, 0.11, 0.12, 0.13, 0.14) for lo in (0.14, 0.15, 0.16, 0.17, 0.18, 0.2)],
    "spike_rpm": [(h, lo) for h in (0.10, 0.11, 0.12, 0.13, 0.14, 0.16) for lo in (0.15, 0.16, 0.17, 0.18, 0.2, 9.0)],
    "noise_speed": [0.04, 0.045, 0.05, 0.055, 0.06],
    "noise_rpm": [0.04, 0.045, 0.05, 0.055, 0.06, 0.07, 9.0],
    "drift": [0.07, 0.08, 0.09, 0.1, 0.12, 0.14],
    "stuck": [0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 9.0],
}
#: The banded groups' field below ``high_gear``.
LOW_FIELD = {"spike_speed": "spike_speed_low", "spike_rpm": "spike_rpm_low"}
#: The middle of the old search's grid (its first start).
MID_START: dict[str, Line] = {
    "spike_speed": (0.12, 0.16),
    "spike_rpm": (0.12, 0.17),
    "noise_speed": 0.05,
    "noise_rpm": 0.05,
    "drift": 0.1,
    "stuck": 0.1,
}
#: Residual columns of :func:`f1live.faults.river_residuals` per line group.
COLUMNS: dict[str, list[str]] = {g: [f"{k}_{c}" for (k, c), f in RIVER_RESIDUALS.items() if f == g] for g in GRID}


def shipped_lines(limits: RiverLimits) -> dict[str, Line]:
    """The line groups of ``limits``."""
    return {
        g: (getattr(limits, g), getattr(limits, LOW_FIELD[g])) if g in LOW_FIELD else getattr(limits, g) for g in GRID
    }


def to_limits(lines: dict[str, Line], base: RiverLimits) -> RiverLimits:
    """``base`` with the lines of every group."""
    kw: dict[str, float] = {}
    for g, line in lines.items():
        if isinstance(line, tuple):
            kw[g], kw[LOW_FIELD[g]] = line
        else:
            kw[g] = line
    return replace(base, **kw)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- stage 1


@dataclass
class Table:
    """One replayed table: raw residuals, and for a corrupted table its faults' windows and the rules' finds."""

    res: pd.DataFrame  # river_residuals with unit lines (one driver after another)
    n_rows: int  # rows of the replayed table (racing rows)
    rule_rows: np.ndarray  # positions of the rows the rules flag (clean tables)
    windows: list[np.ndarray]  # per fault: positions in `res` of its window (corrupted tables)
    rules_found: np.ndarray  # per fault: found by the rules


def load_races(quick: bool) -> dict[int, pd.DataFrame]:
    """The training races' racing rows through the library (``--quick``: the first drivers only)."""
    from f1live.config import Settings
    from f1live.models import load_sessions

    settings = Settings.from_env()
    settings = settings.replace(source=settings.source if settings.source != "auto" else "fastf1-csv", offline=True)
    races = {}
    for year in TRAIN_YEARS:
        race = racing_rows(load_sessions(settings, [year])[0].telemetry)
        if quick:
            keep = sorted(race["driver"].astype(str).unique())[:QUICK_DRIVERS]
            race = race[race["driver"].astype(str).isin(keep)]
        races[year] = race.reset_index(drop=True)
    return races


def windows_of(bad: pd.DataFrame, faults: pd.DataFrame, res: pd.DataFrame, tolerance: int = 2) -> list[np.ndarray]:
    """Per fault, the positions in ``res`` of its window (as :func:`f1live.faults.score_faults` draws it)."""
    t = bad["session_time"].to_numpy(float)
    drv = bad["driver"].astype(str).to_numpy()
    pos = np.full(len(bad), -1)
    pos[bad.index.get_indexer(res["row"].to_numpy())] = np.arange(len(res))
    by_driver = {d: np.flatnonzero(drv == d) for d in np.unique(drv)}
    out = []
    for f in faults.itertuples():
        r = by_driver.get(f.driver, np.empty(0, dtype=int))
        a = np.searchsorted(t[r], f.start_time, side="left")
        b = np.searchsorted(t[r], f.end_time, side="right") + tolerance
        w = pos[r[a : min(b, len(r))]]
        out.append(w[w >= 0])
    return out


def stage1(races: dict[int, pd.DataFrame], out: Path) -> dict[tuple[int, str, int], Table]:
    """Raw residuals and rule finds of every table, cached as one pickle per table under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    keys = [(y, "clean", 0) for y in races] + [(y, f, s) for y in races for f in FAULT_TYPES for s in SEEDS]
    tables = {}
    for key in tqdm(keys, desc="stage 1: replay tables", file=sys.stderr):
        y, fault, seed = key
        path = out / f"stage1_{y}_{fault}_{seed}.pkl"
        if path.exists():
            with path.open("rb") as fh:
                cached = pickle.load(fh)
            if cached.get("version") == CACHE_VERSION:
                tables[key] = cached["table"]
                continue
        race = races[y]
        if fault == "clean":
            res = river_residuals(race)
            rules = run_detectors(race, ("rules",))
            tab = Table(res, len(race), np.flatnonzero(rules["rules"].to_numpy(bool)), [], np.zeros(0, dtype=bool))
        else:
            bad, faults = inject_faults(race, fault, GRADE, FaultSpec(), seed=seed)
            res = river_residuals(bad)
            rules = run_detectors(bad, ("rules",))
            found = score_faults(bad, rules, faults, "rules")["detected"].to_numpy(bool)
            tab = Table(res, len(bad), np.zeros(0, dtype=int), windows_of(bad, faults, res), found)
        with path.open("wb") as fh:
            pickle.dump({"version": CACHE_VERSION, "table": tab}, fh)
        tables[key] = tab
    return tables


# ---------------------------------------------------------------- stage 2


def group_alarms(res: pd.DataFrame, group: str, line: Line, limits: RiverLimits) -> np.ndarray:
    """Positions in ``res`` where a residual of ``group`` raises an alarm at ``line``."""
    if isinstance(line, tuple):
        div = np.where(res["high"].to_numpy(bool), line[0], line[1])
    else:
        div = np.full(len(res), line)
    hit = np.zeros(len(res), dtype=bool)
    for idx in res.groupby("driver", sort=False).indices.values():
        for c in COLUMNS[group]:
            hit[idx] |= episode_alarms(res[c].to_numpy()[idx] / div[idx], limits)
    return np.flatnonzero(hit)


@dataclass
class Surrogate:
    """Per candidate line: alarmed clean rows (per race) and faults found (per fault type), for fast scoring."""

    hours: float
    clean_rules: dict[int, np.ndarray]  # race -> positions of rows the rules flag
    clean_n: dict[int, int]
    clean: dict[tuple[str, Line], dict[int, np.ndarray]]  # (group, line) -> race -> alarmed row positions
    found: dict[tuple[str, Line], dict[str, np.ndarray]]  # (group, line) -> fault type -> found (all races, seeds)
    rules_found: dict[str, np.ndarray]

    def score(self, lines: dict[str, Line]) -> dict[str, Any]:
        """Recall (mean over fault types) and false alarms per driver-hour of a combination of lines."""
        river_fa = union_fa = 0
        for y, rules in self.clean_rules.items():
            flag = np.zeros(self.clean_n[y], dtype=bool)
            for g, line in lines.items():
                flag[self.clean[(g, line)][y]] = True
            river_fa += int(flag.sum())
            flag[rules] = True
            union_fa += int(flag.sum())
        by_type: dict[str, dict[str, float]] = {}
        for fault, rules_found in self.rules_found.items():
            river = np.zeros(len(rules_found), dtype=bool)
            for g, line in lines.items():
                river |= self.found[(g, line)][fault]
            by_type[fault] = {
                "river": float(river.mean()),
                "rules": float(rules_found.mean()),
                "both": float((river | rules_found).mean()),
            }
        rules_fa = sum(len(r) for r in self.clean_rules.values())
        return {
            "recall": {v: float(np.mean([r[v] for r in by_type.values()])) for v in ("river", "rules", "both")},
            "recall_by_type": by_type,
            "false_alarms": {"river": river_fa, "rules": rules_fa, "both": union_fa},
            "per_driver_hour": {
                "river": river_fa / self.hours,
                "rules": rules_fa / self.hours,
                "both": union_fa / self.hours,
            },
        }


def build_surrogate(tables: dict[tuple[int, str, int], Table], hours: float, limits: RiverLimits) -> Surrogate:
    clean_keys = [k for k in tables if k[1] == "clean"]
    sur = Surrogate(
        hours=hours,
        clean_rules={k[0]: tables[k].rule_rows for k in clean_keys},
        clean_n={k[0]: tables[k].n_rows for k in clean_keys},
        clean={},
        found={},
        rules_found={
            f: np.concatenate([t.rules_found for k, t in tables.items() if k[1] == f]).astype(bool) for f in FAULT_TYPES
        },
    )
    cands = [(g, line) for g, grid in GRID.items() for line in grid]
    for g, line in tqdm(cands, desc="stage 2: alarms per candidate line", file=sys.stderr):
        clean: dict[int, np.ndarray] = {}
        found: dict[str, list[np.ndarray]] = {f: [] for f in FAULT_TYPES}
        for (y, fault, _), tab in tables.items():
            hit = group_alarms(tab.res, g, line, limits)
            if fault == "clean":
                clean[y] = tab.res["row"].to_numpy()[hit]  # race rows are positional (index reset)
            else:
                flag = np.zeros(len(tab.res), dtype=bool)
                flag[hit] = True
                found[fault].append(np.array([flag[w].any() for w in tab.windows], dtype=bool))
        sur.clean[(g, line)] = clean
        sur.found[(g, line)] = {f: np.concatenate(v) for f, v in found.items()}
    return sur


def _key(line: Line) -> tuple[float, ...]:
    return line if isinstance(line, tuple) else (line,)


def optimise(
    sur: Surrogate, start: dict[str, Line], budget: float, max_passes: int = 10
) -> tuple[dict[str, Line], int]:
    """Coordinate ascent: per group the candidate within the budget with the best recall (4 decimals), then the
    fewest false alarms, then the larger line; until a pass changes nothing. Returns the lines and the passes."""
    lines = dict(start)
    for n in range(1, max_passes + 1):
        changed = False
        for g, grid in GRID.items():
            best: tuple[bool, float, int, tuple[float, ...]] | None = None
            pick: Line = lines[g]
            for line in grid:
                s = sur.score(dict(lines, **{g: line}))
                ok = s["per_driver_hour"]["both"] <= budget
                # over the budget (an infeasible start): the fewest false alarms first
                key = (ok, round(s["recall"]["both"], 4) if ok else 0.0, -s["false_alarms"]["both"], _key(line))
                if best is None or key > best:
                    best, pick = key, line
            if pick != lines[g]:
                lines[g], changed = pick, True
        if not changed:
            return lines, n
    return lines, max_passes


# ---------------------------------------------------------------- stage 3


def exact(races: dict[int, pd.DataFrame], limits: RiverLimits) -> dict[str, Any]:
    """The real detector with ``limits`` on the training races: medium recall (both seeds) and clean false alarms."""
    name = GRADE_NAMES[GRADE]
    hits = {v: 0.0 for v in ("river", "rules", "both")}
    by_type = {v: {f: 0.0 for f in FAULT_TYPES} for v in hits}
    n_faults = 0
    alarms = {v: 0 for v in hits}
    hours = 0.0
    runs = [(y, s) for y in races for s in SEEDS]
    for y, seed in tqdm(runs, desc="stage 3: evaluate_grades", file=sys.stderr, leave=False):
        ev = evaluate_grades(
            races[y], spec=FaultSpec(), seed=seed, grades=(GRADE,), river_limits=limits, clean_drivers=False
        )
        n = ev["faults_per_grade"][name]
        n_faults += n
        for v in hits:
            hits[v] += ev["recall_all"][v][name]["recall"] * n
            for f in FAULT_TYPES:
                by_type[v][f] += ev["recall"][v][f][name] * n  # the same number of faults of each type per run
    for y in tqdm(list(races), desc="stage 3: clean_alarms", file=sys.stderr, leave=False):
        ca = clean_alarms(races[y], river_limits=limits)
        hours += ca["driver_hours"]
        for v in alarms:
            alarms[v] += ca[v]["alarms"]
    type_recall = {v: {f: x / n_faults for f, x in by_type[v].items()} for v, _ in by_type.items()}
    return {
        "recall_pooled": {v: x / n_faults for v, x in hits.items()},
        "recall": {v: float(np.mean(list(r.values()))) for v, r in type_recall.items()},
        "recall_by_type": type_recall,
        "faults": n_faults,
        "false_alarms": alarms,
        "per_driver_hour": {v: a / hours for v, a in alarms.items()},
        "driver_hours": hours,
    }


# ---------------------------------------------------------------- main


def fmt_lines(lines: dict[str, Line]) -> str:
    return "  ".join(f"{g} {'/'.join(f'{x:g}' for x in _key(v))}" for g, v in lines.items())


def fmt_score(s: dict[str, Any]) -> str:
    r, fa = s["recall"], s["per_driver_hour"]
    return (
        f"recall both {r['both']:.3f} River {r['river']:.3f} rules {r['rules']:.3f}; "
        f"false alarms/driver-hour both {fa['both']:.2f} River {fa['river']:.2f} rules {fa['rules']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/river_line_search"), help="cache and result directory")
    ap.add_argument("--budget", type=float, default=3.5, help="false alarms (River and rules) per driver-hour")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_DRIVERS} drivers per race (a smoke run)")
    ap.add_argument("--no-exact", action="store_true", help="skip stage 3")
    ap.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    args = ap.parse_args(argv)
    out = args.out / ("quick" if args.quick else "full")
    base = RiverLimits()
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    races = load_races(args.quick)
    hours = sum(driver_hours(r) for r in races.values())
    seconds["load"] = time.perf_counter() - t0
    log(f"training races {list(races)}: {sum(map(len, races.values()))} racing rows, {hours:.1f} driver-hours")

    t0 = time.perf_counter()
    tables = stage1(races, out)
    seconds["stage1"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sur = build_surrogate(tables, hours, base)
    shipped = shipped_lines(base)
    starts = {"grid middle": MID_START, "shipped": shipped}
    runs = {}
    for name, start in starts.items():
        lines, passes = optimise(sur, start, args.budget)
        runs[name] = {"start": start, "lines": lines, "passes": passes, "surrogate": sur.score(lines)}
        log(f"start {name}: {passes} passes -> {fmt_lines(lines)}\n  {fmt_score(runs[name]['surrogate'])}")
    best_name = max(
        runs, key=lambda k: (runs[k]["surrogate"]["recall"]["both"], -runs[k]["surrogate"]["false_alarms"]["both"])
    )
    chosen: dict[str, Line] = runs[best_name]["lines"]
    seconds["stage2"] = time.perf_counter() - t0

    # every distinct result (each start's and the shipped lines) is measured exactly
    sets: dict[str, dict[str, Line]] = {"chosen": chosen, "shipped": shipped}
    for name, run in runs.items():
        if run["lines"] not in sets.values():
            sets[f"from {name}"] = run["lines"]
    result: dict[str, Any] = {
        "training_races": list(races),
        "quick": args.quick,
        "budget_per_driver_hour": args.budget,
        "grade": GRADE_NAMES[GRADE],
        "seeds": list(SEEDS),
        "fault_spec": asdict(FaultSpec()),
        "driver_hours": hours,
        "episode_rule": {"rearm": base.rearm, "quiet": base.quiet, "repeat": base.repeat},
        "starts": runs,
        "chosen_from": best_name,
        "reproduces_shipped": chosen == shipped,
        "sets": sets,
        "lines": {k: asdict(to_limits(v, base)) for k, v in sets.items()},
        "surrogate": {k: sur.score(v) for k, v in sets.items()},
    }
    if not args.no_exact:
        t0 = time.perf_counter()
        result["exact"] = {}
        for k, v in sets.items():
            path = out / f"stage3_{hashlib.sha1(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16]}.json"
            if path.exists():
                done = json.loads(path.read_text())
            else:
                log(f"stage 3: {k} ({fmt_lines(v)})")
                done = exact(races, to_limits(v, base))
                path.write_text(json.dumps({"lines": v, **done}))
            result["exact"][k] = {key: x for key, x in done.items() if key != "lines"}
        seconds["stage3"] = time.perf_counter() - t0
    result["seconds"] = seconds

    for k, v in sets.items():
        log(f"{k}: {fmt_lines(v)}\n  surrogate: {fmt_score(result['surrogate'][k])}")
        if "exact" in result:
            log(f"  exact:     {fmt_score(result['exact'][k])}")
    log(f"reproduces the shipped lines: {result['reproduces_shipped']}; seconds {json.dumps(seconds)}")
    text = json.dumps(result, indent=1, default=str)
    (out / "result.json").write_text(text)
    if args.json:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
