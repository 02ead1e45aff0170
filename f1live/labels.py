"""Training labels from **real events** only (laps and track-status tables).

No label is a threshold on a model input: every label looks *ahead* in time at an
event recorded by F1 timing (a pit-lane entry, a flag, a retirement, lap times of
later laps). Each label is ``1``/``0`` for rows where it is defined and ``NaN`` where
the question does not make sense (before the start, in the pit lane, under a flag
that already happened); rows with ``NaN`` are left out of training and evaluation.

The exact definitions, with their horizons, are in :data:`LABEL_DEFINITIONS`, in
``models/manifest.json`` and in ``docs/analytics.md``.

>>> cfg = LabelConfig()
>>> cfg.pit_horizon_s, cfg.crash_horizon_s, cfg.tyre_horizon_laps
(60.0, 60.0, 3)
>>> sorted(LABEL_DEFINITIONS)
['crash_risk', 'pit_stop_probability', 'tire_failure']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from f1live.schema import MODEL_SCORES

logger = logging.getLogger(__name__)

#: The three targets, in the order models are trained and reported.
TARGETS: tuple[str, ...] = MODEL_SCORES

#: Cars whose last lap ends more than this before the last lap of the race are retirements.
FINISH_WINDOW_S = 150.0

#: FastF1 track-status codes that neutralise or stop the race (yellow, SC, red, VSC deployed/ending).
INCIDENT_CODES: frozenset[str] = frozenset({"2", "4", "5", "6", "7"})


@dataclass(frozen=True)
class LabelConfig:
    """Horizons and thresholds of the label definitions.

    Attributes:
        pit_horizon_s: a row is positive when the driver enters the pit lane within this many seconds.
        crash_horizon_s: ... when a yellow/SC/VSC/red is issued or the driver retires within this many seconds.
        tyre_horizon_laps: ... when one of the current and next ``tyre_horizon_laps - 1`` laps is a degraded lap.
        tyre_loss_s: a clean lap is *degraded* when it is this much slower than the best earlier clean lap of the stint.
    """

    pit_horizon_s: float = 60.0
    crash_horizon_s: float = 60.0
    tyre_horizon_laps: int = 3
    tyre_loss_s: float = 2.0

    def definitions(self) -> dict[str, str]:
        """Human-readable label definitions with this configuration's numbers."""
        return {
            "pit_stop_probability": (
                f"1 if the driver makes a strategic pit stop (enters the pit lane, FastF1 laps "
                f"PitInTime, while no red flag is in force) within the next {self.pit_horizon_s:g} s; "
                "undefined while in the pit lane (entry to the next lap's PitOutTime, or to the end of "
                "the entry lap when there is none), under a red flag and outside racing laps. Pit-lane "
                "entries under a red flag are labelled apart (kind red_flag), never as stops."
            ),
            "crash_risk": (
                f"1 if, within the next {self.crash_horizon_s:g} s, race control issues a yellow, "
                "safety car, virtual safety car or red flag (track_status codes 2/4/5/6/7; race-wide, "
                "the data has no sector of the incident) or this driver retires (the lap after their "
                "last completed lap, for drivers who stop before the chequered flag); defined only for "
                "rows under a green track (status 1) during racing laps. An incident proxy, not a crash "
                "predictor."
            ),
            "tire_failure": (
                f"PROXY (tyre-degradation, not real tyre failures, which are too rare): 1 if one of the "
                f"current and next {self.tyre_horizon_laps - 1} laps of the driver is a clean lap (track "
                f"status green only, not an in/out lap) at least {self.tyre_loss_s:g} s slower than the "
                "best earlier clean lap of the same stint; undefined on laps run under yellow/SC/VSC/red "
                "and on in/out laps."
            ),
        }


#: Definitions with the default horizons (shown in the UI and stored in the manifest).
LABEL_DEFINITIONS: dict[str, str] = LabelConfig().definitions()

_LAP_COLUMNS = (
    "Driver",
    "LapNumber",
    "LapTime",
    "LapStartTime",
    "Time",
    "PitInTime",
    "PitOutTime",
    "Stint",
    "TrackStatus",
)


def _check(df: pd.DataFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    miss = [c for c in columns if c not in df.columns]
    if miss:
        raise ValueError(
            f"missing columns {miss} in the {what} table; expected FastF1 {what} columns with times as float seconds"
        )


#: ``kind`` of a pit-lane entry: a strategic stop, or a car sent to the pit lane by a red flag.
PIT_KINDS: tuple[str, ...] = ("stop", "red_flag")


def pit_entries(laps: pd.DataFrame, track_status: pd.DataFrame | None = None) -> pd.DataFrame:
    """Real pit-lane entries: ``driver``, ``lap``, ``pit_in`` (s), ``pit_out`` (end of the stay, s), ``kind``.

    The stay ends at the ``PitOutTime`` of the next lap, as in ``f1live.sources.telemetry``;
    when the next lap has none (cars held in the pit lane under a red flag and released
    to the grid, a car retired in the garage, a missing next lap) it ends with the entry
    lap (its ``Time``). ``kind`` is ``red_flag`` for an entry while a red flag is in force
    (``track_status``; cars are ordered into the pit lane, it is not a strategic stop),
    else ``stop``.

    >>> laps = pd.DataFrame({"Driver": ["VER"] * 3, "LapNumber": [1, 2, 3], "Time": [100.0, 190.0, 280.0],
    ...     "PitInTime": [np.nan, 150.0, np.nan], "PitOutTime": [np.nan, np.nan, 175.0]})
    >>> pit_entries(laps).to_dict("records")
    [{'driver': 'VER', 'lap': 2, 'pit_in': 150.0, 'pit_out': 175.0, 'kind': 'stop'}]
    >>> held = pd.DataFrame({"Driver": ["LEC", "LEC"], "LapNumber": [1, 3], "Time": [900.0, 1000.0],
    ...     "PitInTime": [60.0, np.nan], "PitOutTime": [np.nan, np.nan]})
    >>> red = pd.DataFrame({"session_time": [0.0, 50.0], "status": ["1", "5"]})
    >>> pit_entries(held, red).to_dict("records")
    [{'driver': 'LEC', 'lap': 1, 'pit_in': 60.0, 'pit_out': 900.0, 'kind': 'red_flag'}]
    """
    _check(laps, ["Driver", "LapNumber", "PitInTime", "PitOutTime"], "laps")
    cols = ["driver", "lap", "pit_in", "pit_out", "kind"]
    lp = laps.dropna(subset=["LapNumber"])
    nxt = {
        (str(d), float(n)): o
        for d, n, o in zip(lp["Driver"], lp["LapNumber"].astype(float), lp["PitOutTime"].astype(float), strict=True)
    }
    ends = lp["Time"].astype(float) if "Time" in lp.columns else pd.Series(np.nan, index=lp.index)
    rows = []
    for drv, lap, t_in, end in zip(
        lp["Driver"], lp["LapNumber"].astype(float), lp["PitInTime"].astype(float), ends, strict=True
    ):
        if not np.isfinite(t_in):
            continue
        out = nxt.get((str(drv), lap + 1.0), np.nan)
        stay_end = out if np.isfinite(out) and out > t_in else (end if np.isfinite(end) and end > t_in else np.nan)
        rows.append(
            {"driver": str(drv), "lap": int(lap), "pit_in": float(t_in), "pit_out": float(stay_end), "kind": "stop"}
        )
    out_df = pd.DataFrame(rows, columns=cols).sort_values(["pit_in", "driver"], kind="stable").reset_index(drop=True)
    if track_status is not None and len(out_df) and len(track_status):
        red = red_mask(out_df["pit_in"].to_numpy(float), track_status)
        out_df.loc[red, "kind"] = "red_flag"
    return out_df


def strategic_stops(laps: pd.DataFrame, track_status: pd.DataFrame | None = None) -> pd.DataFrame:
    """The pit entries of :func:`pit_entries` that are strategic stops (``kind == "stop"``)."""
    p = pit_entries(laps, track_status)
    return p[p["kind"] == "stop"].reset_index(drop=True)


def incident_starts(track_status: pd.DataFrame) -> np.ndarray:
    """Session times (s) at which a yellow/SC/VSC/red status message is issued.

    >>> ts = pd.DataFrame({"session_time": [0.0, 10.0, 20.0], "status": ["1", "2", "1"]})
    >>> incident_starts(ts).tolist()
    [10.0]
    """
    _check(track_status, ["session_time", "status"], "track_status")
    codes = track_status["status"].astype(str).str.strip()
    hit = codes.map(lambda c: any(ch in INCIDENT_CODES for ch in c))
    return np.sort(track_status.loc[hit, "session_time"].to_numpy(float))


def _status_at(session_time: np.ndarray, track_status: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The last track-status code at or before each time, and where one exists."""
    ts = track_status.sort_values("session_time")
    times = ts["session_time"].to_numpy(float)
    codes = ts["status"].astype(str).str.strip().to_numpy()
    idx = np.searchsorted(times, session_time, side="right") - 1
    ok = idx >= 0
    return codes[idx[ok]], ok


def green_mask(session_time: np.ndarray, track_status: pd.DataFrame) -> np.ndarray:
    """True where the last track-status message at or before each time is ``1`` (green)."""
    codes, ok = _status_at(session_time, track_status)
    out = np.zeros(len(session_time), dtype=bool)
    out[ok] = codes == "1"
    return out


def red_mask(session_time: np.ndarray, track_status: pd.DataFrame) -> np.ndarray:
    """True where the race is red-flagged (last status message contains ``5``)."""
    codes, ok = _status_at(session_time, track_status)
    out = np.zeros(len(session_time), dtype=bool)
    out[ok] = np.array(["5" in c for c in codes], dtype=bool)
    return out


def retirements(laps: pd.DataFrame) -> pd.DataFrame:
    """Drivers who stopped before the chequered flag: ``driver``, ``start`` and ``end`` (s).

    ``start`` is the end of their last completed lap and ``end`` that time plus their
    median lap time: the retirement happened on the unfinished lap in between.
    Classified (also lapped) cars finish within :data:`FINISH_WINDOW_S` of the last car to
    cross the line, so they are not retirements; a retirement on the last two laps is missed.
    """
    _check(laps, ["Driver", "LapNumber", "Time", "LapTime"], "laps")
    done = laps.dropna(subset=["Time"])
    if done.empty:
        return pd.DataFrame(columns=["driver", "start", "end"])
    # Every classified car crosses the line within about a lap of the winner; a car whose
    # last lap ended clearly before the last crossing stopped early (works on a driver subset too).
    finish = float(done["Time"].max()) - FINISH_WINDOW_S
    rows = []
    for drv, g in done.groupby("Driver"):
        last = g["Time"].max()
        if last < finish:
            med = float(np.nanmedian(g["LapTime"].to_numpy(float))) if g["LapTime"].notna().any() else 90.0
            rows.append({"driver": drv, "start": float(last), "end": float(last + med)})
    return pd.DataFrame(rows, columns=["driver", "start", "end"])


def degraded_laps(laps: pd.DataFrame, config: LabelConfig = LabelConfig()) -> pd.DataFrame:
    """Per lap: ``clean`` (green-only, not in/out, timed), ``loss_s`` vs the stint's best earlier clean lap, ``degraded``."""
    _check(laps, list(_LAP_COLUMNS), "laps")
    out = []
    for (_drv, _stint), g in laps.sort_values("LapNumber").groupby(["Driver", "Stint"], sort=False, dropna=False):
        best = np.inf
        for i, row in g.iterrows():
            status = "" if pd.isna(row["TrackStatus"]) else str(row["TrackStatus"]).split(".")[0]
            clean = (
                status != ""
                and set(status) <= {"1"}
                and pd.isna(row["PitInTime"])
                and pd.isna(row["PitOutTime"])
                and pd.notna(row["LapTime"])
            )
            loss = float(row["LapTime"] - best) if clean and np.isfinite(best) else np.nan
            out.append((i, clean, loss, bool(clean and loss >= config.tyre_loss_s)))
            if clean:
                best = min(best, float(row["LapTime"]))
    res = pd.DataFrame(out, columns=["index", "clean", "loss_s", "degraded"]).set_index("index")
    return laps.join(res)[
        ["Driver", "LapNumber", "clean", "loss_s", "degraded", "TrackStatus", "PitInTime", "PitOutTime"]
    ]


def _future_hit(t: np.ndarray, events: np.ndarray, horizon: float) -> np.ndarray:
    """True where an event lies in ``(t, t + horizon]``."""
    if len(events) == 0:
        return np.zeros(len(t), dtype=bool)
    ev = np.sort(events)
    j = np.searchsorted(ev, t, side="right")
    nxt = np.where(j < len(ev), ev[np.minimum(j, len(ev) - 1)], np.inf)
    return nxt <= t + horizon


def make_labels(
    telemetry: pd.DataFrame,
    laps: pd.DataFrame,
    track_status: pd.DataFrame,
    config: LabelConfig = LabelConfig(),
) -> pd.DataFrame:
    """Labels of every telemetry row: one float column per target (1, 0 or NaN = undefined).

    ``telemetry`` needs ``driver``, ``session_time`` and ``lap_number``; ``laps`` the FastF1
    laps columns (times in float seconds) and ``track_status`` ``session_time``/``status``.
    """
    _check(telemetry, ["driver", "session_time", "lap_number"], "telemetry")
    _check(laps, list(_LAP_COLUMNS), "laps")
    t_all = telemetry["session_time"].to_numpy(float)
    racing = telemetry["lap_number"].notna().to_numpy()
    red = red_mask(t_all, track_status)
    green = green_mask(t_all, track_status)
    incidents = incident_starts(track_status)
    pits = pit_entries(laps, track_status)
    rets = retirements(laps)
    deg = degraded_laps(laps, config)

    pit = np.full(len(telemetry), np.nan)
    crash = np.full(len(telemetry), np.nan)
    tyre = np.full(len(telemetry), np.nan)
    drivers = telemetry["driver"].astype(str).to_numpy()
    lapnum = telemetry["lap_number"].astype("float64").to_numpy()
    for drv in pd.unique(drivers):
        sel = np.flatnonzero(drivers == drv)
        t = t_all[sel]
        base = racing[sel] & ~red[sel]
        # pit: enter within horizon; undefined inside the pit lane
        p = pits[pits["driver"] == drv]
        in_lane = np.zeros(len(sel), dtype=bool)
        for a, b in zip(p["pit_in"].to_numpy(float), p["pit_out"].to_numpy(float), strict=True):
            in_lane |= (t >= a) & (t <= (b if np.isfinite(b) else a))
        # only strategic stops are positives; a red-flag entry is not a decision to stop
        lab = _future_hit(t, p.loc[p["kind"] == "stop", "pit_in"].to_numpy(float), config.pit_horizon_s).astype(float)
        lab[~base | in_lane] = np.nan
        pit[sel] = lab
        # crash risk: incident issued or this driver retires within horizon; green rows only
        r = rets[rets["driver"] == drv]
        lab = _future_hit(t, incidents, config.crash_horizon_s)
        for a, b in zip(r["start"].to_numpy(float), r["end"].to_numpy(float), strict=True):
            lab |= (t + config.crash_horizon_s >= a) & (t <= b)
        lab = lab.astype(float)
        lab[~(base & green[sel]) | in_lane] = np.nan
        crash[sel] = lab
        # tyre proxy: a degraded lap among the current and next (horizon-1) laps
        d = deg[deg["Driver"] == drv].set_index("LapNumber")
        ln = lapnum[sel]
        lab = np.full(len(sel), np.nan)
        if not d.empty:
            degraded = set(d.index[d["degraded"].astype(bool)].astype(float))
            status_ok = {
                float(k): (
                    pd.notna(v["TrackStatus"])
                    and set(str(v["TrackStatus"]).split(".")[0]) <= {"1"}
                    and pd.isna(v["PitInTime"])
                    and pd.isna(v["PitOutTime"])
                )
                for k, v in d.iterrows()
            }
            for lapno in np.unique(ln[np.isfinite(ln)]):
                rows = ln == lapno
                if not status_ok.get(float(lapno), False):
                    continue
                hit = any((lapno + k) in degraded for k in range(config.tyre_horizon_laps))
                lab[rows] = float(hit)
        lab[~base | in_lane] = np.nan
        tyre[sel] = lab
    out = pd.DataFrame({"pit_stop_probability": pit, "crash_risk": crash, "tire_failure": tyre}, index=telemetry.index)
    logger.info("labels: %s", {c: (int(out[c].notna().sum()), round(float(out[c].mean()), 4)) for c in out.columns})
    return out
