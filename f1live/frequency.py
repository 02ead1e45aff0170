"""Sampling frequency measured from timestamps (never assumed).

For each stream -- ``car`` (car-data samples), ``position`` (position samples, when the
source has them) and ``merged`` (the telemetry rows as they are replayed) -- we report,
per driver and over all drivers:

* ``mean_interval_s`` = duration / (samples - 1), ``hz`` = 1 / mean_interval_s
* ``median_interval_s`` and ``median_hz`` = 1 / median_interval_s (robust to gaps)

Over all drivers (``overall``) the intervals are those of the merged, time-ordered
stream, so ``hz`` is rows per second across the field (~20x a single car) and the median
interval can be 0 when all cars share timestamps (they do in F1 live timing).

>>> import numpy as np
>>> s = interval_stats(np.array([0.0, 0.25, 0.5, 1.0]))
>>> s["samples"], s["mean_interval_s"], s["median_interval_s"], round(s["hz"], 3)
(4, 0.3333333333333333, 0.25, 3.0)
>>> f = measure_frequency(np.array([0.0, 0.0, 0.5, 0.5, 1.0, 1.0]), np.array(list("ABABAB")))
>>> f["per_driver"]["A"]["hz"], f["overall"]["hz"], f["driver_median_hz"]
(2.0, 5.0, 2.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def interval_stats(t: np.ndarray) -> dict[str, Any]:
    """Interval statistics of one timestamp series (seconds; sorted here)."""
    t = np.sort(np.asarray(t, dtype=np.float64))
    t = t[~np.isnan(t)]
    n = int(len(t))
    if n < 2:
        return {
            "samples": n,
            "duration_s": 0.0,
            "mean_interval_s": None,
            "median_interval_s": None,
            "hz": None,
            "median_hz": None,
        }
    d = np.diff(t)
    duration = float(t[-1] - t[0])
    mean = duration / (n - 1)
    med = float(np.median(d))
    return {
        "samples": n,
        "duration_s": duration,
        "mean_interval_s": mean,
        "median_interval_s": med,
        "hz": 1.0 / mean if mean > 0 else None,
        "median_hz": 1.0 / med if med > 0 else None,
    }


def measure_frequency(session_time: np.ndarray, driver: np.ndarray) -> dict[str, Any]:
    """Per-driver and overall interval statistics of one stream.

    Returns ``{"per_driver": {code: stats}, "overall": stats, "driver_median_hz": float}``.
    """
    t = np.asarray(session_time, dtype=np.float64)
    drv = np.asarray(driver)
    inv, uniq = pd.factorize(drv, sort=True)  # hash-based: much faster than np.unique on strings
    codes = np.asarray(uniq, dtype=object)
    order = np.lexsort((t, inv))
    bounds = np.searchsorted(inv[order], np.arange(len(codes) + 1))
    per = {str(c): interval_stats(t[order][bounds[i] : bounds[i + 1]]) for i, c in enumerate(codes)}
    hz = [s["hz"] for s in per.values() if s["hz"]]
    return {
        "per_driver": per,
        "overall": interval_stats(t),
        "driver_median_hz": float(np.median(hz)) if hz else None,
    }


def session_frequency(
    telemetry: pd.DataFrame, position: pd.DataFrame | None = None, car: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Frequency of the car, position and merged streams of a session.

    Args:
        telemetry: the telemetry table (rows = the merged stream as replayed).
        position: raw position samples (``driver``, ``session_time``) or ``None``.
        car: raw car samples when they differ from the telemetry rows; by default the
            telemetry rows *are* the car samples (position is joined onto them).
    """
    car_df = telemetry if car is None else car
    out: dict[str, Any] = {
        "car": measure_frequency(car_df["session_time"].to_numpy(), car_df["driver"].to_numpy()),
        "position": None,
        "merged": measure_frequency(telemetry["session_time"].to_numpy(), telemetry["driver"].to_numpy()),
    }
    if position is not None and len(position):
        out["position"] = measure_frequency(position["session_time"].to_numpy(), position["driver"].to_numpy())
    return out


def summary_table(freq: dict[str, Any]) -> pd.DataFrame:
    """One row per stream: drivers, samples, mean/median interval (ms), per-car Hz, total rows/s."""
    rows = []
    for stream in ("car", "position", "merged"):
        f = freq.get(stream)
        if not f:
            continue
        per = f["per_driver"].values()
        mi = [s["mean_interval_s"] for s in per if s["mean_interval_s"]]
        md = [s["median_interval_s"] for s in per if s["median_interval_s"]]
        rows.append(
            {
                "stream": stream,
                "drivers": len(f["per_driver"]),
                "samples": f["overall"]["samples"],
                "mean_interval_ms": 1000 * float(np.median(mi)) if mi else None,
                "median_interval_ms": 1000 * float(np.median(md)) if md else None,
                "hz_per_car": f["driver_median_hz"],
                "rows_per_s": f["overall"]["hz"],
            }
        )
    return pd.DataFrame(rows)
