"""Event-level evaluation of alerting scores: were real events announced, and at what cost?

Row metrics (ROC-AUC, PR-AUC) say how a score ranks samples; a race engineer asks
whether an alert came *before the event* and how often it cried wolf. This module
answers that for any per-message score (a model, a baseline) against a table of real
events of the same session.

Definitions (the same for the models and the baselines; ``docs/analytics.md`` repeats them):

* **evaluable time**: the rows passed in (racing laps, no red flag, not in the pit lane:
  the rows where the label is defined). A driver's evaluable time is the sum of the gaps
  between consecutive evaluable rows (gaps over :attr:`AlertRules.max_gap_s` do not count).
* **alert**: a row with ``score >= threshold``.
* **alert episode**: a driver's alert rows merged while consecutive ones are at most
  :attr:`AlertRules.merge_s` apart (a flicker below the threshold does not start a new one).
* **notification**: what a dashboard would announce: one at the start of each episode and
  one more for every further :attr:`AlertRules.window_s` the episode lasts (a standing
  alert is re-announced; otherwise an always-on score would count as one alert).
* an **event is announced** when the driver has an alert row within ``window_s`` before it;
  the **lead time** is the time from the first such row to the event.
* a **false alert** is a notification with no event of that driver in the following ``window_s``.
* **false alerts per driver-hour** = false alerts / evaluable driver-hours.

Confidence intervals are percentile bootstraps: over events for the announced fraction
(and the lead time), over drivers for the false-alert rate (a driver's hour is the unit
that repeats).

>>> rows = pd.DataFrame({"driver": ["A"] * 6, "session_time": [0.0, 30.0, 60.0, 90.0, 200.0, 230.0],
...                      "score": [0.1, 0.9, 0.9, 0.1, 0.8, 0.1]})
>>> events = pd.DataFrame({"driver": ["A"], "time": [100.0]})
>>> r = event_metrics(rows, events, threshold=0.5, rules=AlertRules(window_s=120.0, merge_s=40.0))
>>> r["events"], r["announced"], r["lead_s_median"], r["notifications"], r["false_alerts"]
(1, 1, 70.0, 2, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertRules:
    """How scores become alerts, and what counts as announcing an event.

    Attributes:
        window_s: an alert within this many seconds before an event announces it; also the
            re-announcement period of a standing alert.
        merge_s: alert rows at most this far apart belong to one episode.
        max_gap_s: gaps between evaluable rows longer than this are not evaluable time.
    """

    window_s: float = 120.0
    merge_s: float = 10.0
    max_gap_s: float = 5.0


def _ci(values: np.ndarray, stat: Any, n_boot: int, rng: np.random.Generator) -> tuple[float | None, float | None]:
    """95 % percentile bootstrap interval of ``stat`` over resampled ``values`` (rows)."""
    if len(values) == 0:
        return None, None
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    boots = np.array([stat(values[i]) for i in idx], dtype=float)
    boots = boots[np.isfinite(boots)]
    if not len(boots):
        return None, None
    return float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def driver_alerts(t: np.ndarray, on: np.ndarray, rules: AlertRules) -> tuple[np.ndarray, float]:
    """Notification times of one driver (``t`` sorted, ``on`` = score >= threshold) and its evaluable seconds.

    >>> t = np.array([0.0, 1.0, 2.0, 3.0, 300.0]); on = np.array([1, 1, 0, 1, 1], bool)
    >>> driver_alerts(t, on, AlertRules(window_s=120.0, merge_s=10.0))
    (array([  0., 300.]), 3.0)
    """
    gaps = np.diff(t)
    hours = float(gaps[gaps <= rules.max_gap_s].sum())
    ta = t[on]
    if not len(ta):
        return np.empty(0), hours
    starts = np.flatnonzero(np.r_[True, np.diff(ta) > rules.merge_s])
    ends = np.r_[starts[1:] - 1, len(ta) - 1]
    notes: list[float] = []
    for a, b in zip(ta[starts], ta[ends], strict=True):
        notes.extend(np.arange(a, b + 1e-9, rules.window_s).tolist())
    return np.asarray(notes, dtype=float), hours


def event_metrics(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    threshold: float,
    *,
    rules: AlertRules = AlertRules(),
    n_boot: int = 0,
    seed: int = 0,
    score: str = "score",
    _sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Announced events, lead times and false alerts per driver-hour of one score at one threshold.

    Args:
        rows: evaluable rows: ``driver``, ``session_time`` and the ``score`` column.
        events: ``driver`` and ``time`` of the real events (e.g. strategic pit entries).
        threshold: alert when ``score >= threshold``.
        n_boot: bootstrap resamples for the 95 % intervals (0: none).
    """
    rng = np.random.default_rng(seed)
    drivers, times, scores = _sorted if _sorted is not None else _sort_rows(rows, score)
    on_all = scores >= threshold
    ev = events[events["driver"].astype(str).isin(set(drivers))]
    ev_by: dict[str, np.ndarray] = {d: np.sort(g["time"].to_numpy(float)) for d, g in ev.groupby("driver")}
    leads: list[float] = []
    hit: list[bool] = []
    per_driver: dict[str, dict[str, float]] = {}
    bounds = np.flatnonzero(np.r_[True, drivers[1:] != drivers[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        d = str(drivers[a])
        t, on = times[a:b], on_all[a:b]
        notes, secs = driver_alerts(t, on, rules)
        evt = ev_by.get(d, np.empty(0))
        for e in evt:
            w = (t >= e - rules.window_s) & (t < e)
            if not w.any():
                continue  # no evaluable row before this event (e.g. right after the start)
            fired = t[w & on]
            hit.append(bool(len(fired)))
            if len(fired):
                leads.append(float(e - fired[0]))
        if len(evt):
            j = np.searchsorted(evt, notes, side="right")
            nxt = np.where(j < len(evt), evt[np.minimum(j, len(evt) - 1)], np.inf)
            false = int((nxt > notes + rules.window_s).sum())
        else:
            false = len(notes)
        per_driver[d] = {"hours": secs / 3600.0, "notifications": float(len(notes)), "false_alerts": float(false)}
    hours = sum(v["hours"] for v in per_driver.values())
    false_total = sum(v["false_alerts"] for v in per_driver.values())
    n_events = len(hit)
    announced = int(sum(hit))
    out: dict[str, Any] = {
        "threshold": float(threshold),
        "events": n_events,
        "announced": announced,
        "announced_fraction": announced / n_events if n_events else None,
        "lead_s_median": float(np.median(leads)) if leads else None,
        "lead_s": sorted(round(x, 1) for x in leads),
        "announced_30s_ahead": int(sum(1 for x in leads if x >= 30.0)),
        "notifications": int(sum(v["notifications"] for v in per_driver.values())),
        "false_alerts": int(false_total),
        "driver_hours": hours,
        "false_alerts_per_driver_hour": false_total / hours if hours > 0 else None,
        "rules": asdict(rules),
    }
    if n_boot:
        h = np.asarray(hit, dtype=float)
        out["announced_fraction_ci"] = _ci(h, np.mean, n_boot, rng)
        out["lead_s_median_ci"] = _ci(np.asarray(leads, float), np.median, n_boot, rng)
        pd_arr = np.array([[v["false_alerts"], v["hours"]] for v in per_driver.values()], dtype=float)
        out["false_alerts_per_driver_hour_ci"] = _ci(
            pd_arr, lambda x: x[:, 0].sum() / x[:, 1].sum() if x[:, 1].sum() > 0 else np.nan, n_boot, rng
        )
    return out


def _sort_rows(rows: pd.DataFrame, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    drivers = rows["driver"].astype(str).to_numpy()
    times = rows["session_time"].to_numpy(float)
    scores = rows[score].to_numpy(float)
    order = np.lexsort((times, drivers))
    return drivers[order], times[order], scores[order]


def alert_curve(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    thresholds: Sequence[float] | None = None,
    *,
    rules: AlertRules = AlertRules(),
    score: str = "score",
) -> pd.DataFrame:
    """Announced fraction vs false alerts per driver-hour over a range of thresholds.

    The default thresholds are quantiles of the score (so every score gets a full curve).
    """
    pre = _sort_rows(rows, score)
    s = pre[2]
    grid: Sequence[float]
    if thresholds is None:
        qs = np.r_[np.linspace(0.5, 0.98, 13), np.linspace(0.985, 0.9999, 22)]
        grid = list(np.unique(np.quantile(s[np.isfinite(s)], qs))) if np.isfinite(s).any() else [0.5]
    else:
        grid = thresholds
    out = []
    for thr in grid:
        m = event_metrics(rows, events, float(thr), rules=rules, score=score, _sorted=pre)
        out.append(
            {
                k: m[k]
                for k in (
                    "threshold",
                    "events",
                    "announced",
                    "announced_fraction",
                    "false_alerts_per_driver_hour",
                    "lead_s_median",
                )
            }
        )
    return pd.DataFrame(out)


def choose_alert_threshold(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    *,
    max_false_per_hour: float = 2.0,
    rules: AlertRules = AlertRules(),
    score: str = "score",
) -> tuple[float, pd.DataFrame]:
    """The threshold announcing the most events at no more than ``max_false_per_hour`` (ties: higher threshold).

    Used on *training* predictions (out-of-fold) only. When no threshold meets the
    false-alert budget, the one with the fewest false alerts is returned.
    """
    curve = alert_curve(rows, events, rules=rules, score=score)
    ok = curve[curve["false_alerts_per_driver_hour"].fillna(np.inf) <= max_false_per_hour]
    if len(ok):
        best = ok.sort_values(["announced", "threshold"], ascending=[False, False]).iloc[0]
    else:
        best = curve.sort_values(["false_alerts_per_driver_hour", "threshold"], ascending=[True, False]).iloc[0]
    return float(best["threshold"]), curve


def pooled_event_metrics(
    parts: Sequence[tuple[pd.DataFrame, pd.DataFrame]],
    threshold: float,
    *,
    rules: AlertRules = AlertRules(),
    score: str = "score",
) -> dict[str, Any]:
    """:func:`event_metrics` summed over several sessions (drivers of different races are different units)."""
    counts: dict[str, float] = {"events": 0, "announced": 0, "false_alerts": 0, "driver_hours": 0.0}
    for rows, events in parts:
        m = event_metrics(rows, events, threshold, rules=rules, score=score)
        for k in counts:
            counts[k] += m[k]
    tot: dict[str, float | None] = dict(counts)
    tot["announced_fraction"] = counts["announced"] / counts["events"] if counts["events"] else None
    tot["false_alerts_per_driver_hour"] = (
        counts["false_alerts"] / counts["driver_hours"] if counts["driver_hours"] else None
    )
    return tot


# --------------------------------------------------------------------------- baselines
class TyreAgeHazard:
    """Baseline a strategist would use: P(pit stop on this lap | compound, tyre age) from training races.

    ``fit`` counts, per compound and tyre-age bin of ``bin_laps`` laps, the stint-laps
    driven and the strategic stops made (red-flag entries are not stops); the score of
    a row is that hazard (with one pseudo-stop per ``prior_laps`` laps of prior, so a
    rarely seen bin is not 0 or 1). Rows give ``compound_code`` and ``tyre_life`` (the
    :mod:`f1live.features` columns).

    >>> laps = pd.DataFrame({"Driver": ["A"] * 4, "LapNumber": [1, 2, 3, 4], "Time": [90.0, 180.0, 270.0, 360.0],
    ...     "PitInTime": [np.nan, np.nan, 250.0, np.nan], "PitOutTime": [np.nan] * 4,
    ...     "Compound": ["SOFT"] * 3 + ["HARD"], "TyreLife": [1.0, 2.0, 3.0, 1.0]})
    >>> h = TyreAgeHazard(bin_laps=5).fit([laps])
    >>> rows = pd.DataFrame({"compound_code": [0.0, 2.0], "tyre_life": [3.0, 1.0]})
    >>> [round(float(v), 3) for v in h.score(rows)]  # (stops + prior) / (stint-laps + prior laps)
    [0.261, 0.238]
    """

    def __init__(self, bin_laps: int = 5, prior_laps: float = 20.0) -> None:
        self.bin_laps = bin_laps
        self.prior_laps = prior_laps

    def fit(
        self, laps_tables: Sequence[pd.DataFrame], track_status: Sequence[pd.DataFrame | None] | None = None
    ) -> TyreAgeHazard:
        from f1live.features import COMPOUND_CODES
        from f1live.labels import pit_entries

        driven: dict[tuple[int, int], float] = {}
        stops: dict[tuple[int, int], float] = {}
        total_laps = total_stops = 0.0
        for k, laps in enumerate(laps_tables):
            ts = track_status[k] if track_status is not None and k < len(track_status) else None
            st = pit_entries(laps, ts)
            stop_laps = {
                (d, int(n)) for d, n, kind in zip(st["driver"], st["lap"], st["kind"], strict=True) if kind == "stop"
            }
            for d, n, comp, life in zip(
                laps["Driver"], laps["LapNumber"], laps["Compound"], laps["TyreLife"], strict=True
            ):
                if not isinstance(comp, str) or comp not in COMPOUND_CODES or not np.isfinite(life):
                    continue
                key = (COMPOUND_CODES[comp], int(life) // self.bin_laps)
                driven[key] = driven.get(key, 0.0) + 1.0
                total_laps += 1.0
                if (str(d), int(n)) in stop_laps:
                    stops[key] = stops.get(key, 0.0) + 1.0
                    total_stops += 1.0
        base = total_stops / total_laps if total_laps else 0.0
        self.base_rate_ = base
        self.hazard_ = {
            k: (stops.get(k, 0.0) + base * self.prior_laps) / (n + self.prior_laps) for k, n in driven.items()
        }
        return self

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        comp = rows["compound_code"].to_numpy(float)
        life = rows["tyre_life"].to_numpy(float)
        out = np.full(len(rows), self.base_rate_)
        ok = np.isfinite(comp) & np.isfinite(life)
        for i in np.flatnonzero(ok):
            out[i] = self.hazard_.get((int(comp[i]), int(life[i]) // self.bin_laps), self.base_rate_)
        return out


def trigger_score(rows: pd.DataFrame, within_s: float = 120.0) -> np.ndarray:
    """Baseline "pit when the track status turns SC/VSC or rain starts": 1 for ``within_s`` after either.

    Reads the :mod:`f1live.features` columns ``status_sc``, ``status_vsc``, ``status_age``,
    ``rainfall`` and ``rain_age`` (all known at the message's time).

    >>> rows = pd.DataFrame({"status_sc": [1.0, 1.0, 0.0], "status_vsc": [0.0] * 3, "status_age": [30.0, 200.0, 5.0],
    ...                      "rainfall": [0.0, 0.0, 1.0], "rain_age": [np.nan, np.nan, 60.0]})
    >>> trigger_score(rows).tolist()
    [1.0, 0.0, 1.0]
    """
    neutral = ((rows["status_sc"].to_numpy(float) == 1) | (rows["status_vsc"].to_numpy(float) == 1)) & (
        rows["status_age"].to_numpy(float) <= within_s
    )
    rain = (rows["rainfall"].to_numpy(float) == 1) & (rows["rain_age"].to_numpy(float) <= within_s)
    return (neutral | rain).astype(float)


# --------------------------------------------------------------------------- crash / incident events
def incident_events(track_status: pd.DataFrame, laps: pd.DataFrame, merge_s: float = 60.0) -> pd.DataFrame:
    """Independent incident events of a race: ``kind`` (flag / retirement), ``driver`` (None for flags), ``time``.

    Flag events are the track-status messages that raise a yellow, SC, VSC or red flag,
    merged when they follow each other within ``merge_s`` (one incident, several
    messages); a retirement is the end of the driver's last completed lap
    (:func:`f1live.labels.retirements`).
    """
    from f1live.labels import incident_starts, retirements

    starts = incident_starts(track_status)
    flags: list[float] = []
    for t in starts:
        if not flags or t - flags[-1] > merge_s:
            flags.append(float(t))
    rows = [{"kind": "flag", "driver": None, "time": t} for t in flags]
    rows += [{"kind": "retirement", "driver": r.driver, "time": float(r.start)} for r in retirements(laps).itertuples()]
    return (
        pd.DataFrame(rows, columns=["kind", "driver", "time"]).sort_values("time", kind="stable").reset_index(drop=True)
    )


def incident_hits(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    threshold: float,
    *,
    horizon_s: float = 60.0,
    n_boot: int = 1000,
    seed: int = 0,
    score: str = "score",
) -> dict[str, Any]:
    """Which incident events an alerting score announced, next to what chance would give.

    A flag event is announced when any driver's score is at or above ``threshold`` in the
    ``horizon_s`` before it; a retirement when that driver's is. Chance: the share of the
    race's evaluable time in which a randomly placed event would have counted as announced
    by the same alerts (the time covered by the ``horizon_s`` after any alert).
    """
    t = rows["session_time"].to_numpy(float)
    drv = rows["driver"].astype(str).to_numpy()
    on = rows[score].to_numpy(float) >= threshold
    t_on = np.sort(t[on])
    span = float(t.max() - t.min()) if len(t) else 0.0

    def covered(times: np.ndarray) -> float:
        if not len(times) or span <= 0:
            return 0.0
        ends = times + horizon_s
        total, cur_s, cur_e = 0.0, times[0], ends[0]
        for a, b in zip(times[1:], ends[1:], strict=True):
            if a > cur_e:
                total += cur_e - cur_s
                cur_s, cur_e = a, b
            else:
                cur_e = max(cur_e, b)
        return min((total + cur_e - cur_s) / span, 1.0)

    hits, chance, kinds = [], [], []
    for e in events.itertuples():
        if e.kind == "flag":
            sel = on & (t >= e.time - horizon_s) & (t < e.time)
            hits.append(bool(sel.any()))
            chance.append(covered(t_on))
        else:
            mine = drv == e.driver
            sel = on & mine & (t >= e.time - horizon_s) & (t < e.time + horizon_s)
            hits.append(bool(sel.any()))
            chance.append(covered(np.sort(t[on & mine])))
        kinds.append(e.kind)
    h = np.asarray(hits, dtype=float)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        "threshold": float(threshold),
        "events": int(len(h)),
        "flags": int(sum(k == "flag" for k in kinds)),
        "retirements": int(sum(k == "retirement" for k in kinds)),
        "announced": int(h.sum()),
        "announced_fraction": float(h.mean()) if len(h) else None,
        "announced_fraction_ci": _ci(h, np.mean, n_boot, rng) if len(h) else (None, None),
        "chance_fraction": float(np.mean(chance)) if chance else None,
    }
    lo = out["announced_fraction_ci"][0]
    out["distinguishable_from_chance"] = bool(
        lo is not None and out["chance_fraction"] is not None and lo > out["chance_fraction"]
    )
    return out


# --------------------------------------------------------------------------- tyre proxy vs persistence
def persistence_metrics(y: np.ndarray, last_lap_vs_stint_best: np.ndarray, loss_s: float) -> dict[str, Any]:
    """The persistence baseline of the tyre proxy: "degraded if the previous lap was".

    Its score is the previous lap's ``last_lap_vs_stint_best`` (NaN -> 0); its alert the
    same label rule applied to that lap (``>= loss_s``).
    """
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    y = np.asarray(y).astype(int)
    s = np.nan_to_num(np.asarray(last_lap_vs_stint_best, dtype=float), nan=0.0)
    pred = (s >= loss_s).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "pr_auc": float(average_precision_score(y, s)) if both else None,
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float((pred & y).sum() / max(pred.sum(), 1)),
        "recall": float((pred & y).sum() / max(y.sum(), 1)),
        "base_rate": float(y.mean()) if len(y) else None,
    }
