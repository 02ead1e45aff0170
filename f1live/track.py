"""Circuit outlines and the estimated car position when a source has no X/Y.

Outlines ship in ``f1live/data/circuits/`` (``bacinger/f1-circuits``, MIT; see
``LICENSE-f1-circuits.md`` there). They are lon/lat centre lines; :func:`load_circuit`
projects them to metres (local equirectangular projection, ample for a few km).

Estimated position: ``lap_distance`` is the speed integrated over time since the lap
started (trapezoid rule), ``lap_fraction`` is that divided by the integrated distance of the
driver's *previous* lap (so speed-sensor scale errors cancel without using the end of the
lap being run: nothing later than the sample is used), or by the outline's length when
there is no comparable previous lap (lap 1, after a pit lap), and ``x``/``y`` are the point
at ``lap_fraction * length`` along the outline.  Rows get ``position_estimated=True``.

>>> c = load_circuit("mc-1929")
>>> round(c.length), c.name
(3324, 'Circuit de Monaco')
>>> x, y = c.point_at(np.array([0.0, 0.5, 1.0]))
>>> bool(abs(x[0] - x[2]) < 1 and abs(y[0] - y[2]) < 1)
True
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd

_log = logging.getLogger(__name__)

_EARTH_RADIUS_M = 6_371_000.0
#: FastF1 event names / locations that differ from the outline's ``Location``.
_ALIASES = {
    "monaco grand prix": "monaco",
    "monte carlo": "monaco",
    "spa": "spa francorchamps",
    "austria": "spielberg",
    "british": "silverstone",
    "italian": "monza",
    "abu dhabi": "yas marina",
    "brazil": "sao paulo",
    "são paulo": "sao paulo",
}


@dataclass(frozen=True)
class Circuit:
    """A closed circuit centre line in metres.

    Attributes:
        key: outline id, e.g. ``mc-1929``.
        name: circuit name.
        x, y: outline points in metres (east, north) around the outline's centre; closed
            (last point equals the first).
        s: cumulative distance along the outline at each point (m), ``s[0] == 0``.
    """

    key: str
    name: str
    x: np.ndarray
    y: np.ndarray
    s: np.ndarray

    @property
    def length(self) -> float:
        """Outline length in metres."""
        return float(self.s[-1])

    def point_at(self, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x, y (m) at ``fraction`` (0-1, wraps) of the lap along the outline."""
        d = (np.asarray(fraction, dtype=float) % 1.0) * self.length
        d = np.where(np.asarray(fraction) == 1.0, self.length, d)
        return np.interp(d, self.s, self.x), np.interp(d, self.s, self.y)

    def resample(self, step_m: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evenly spaced points every ``step_m`` metres: (s, x, y)."""
        s = np.arange(0.0, self.length, step_m)
        return s, np.interp(s, self.s, self.x), np.interp(s, self.s, self.y)

    def curvature(self, step_m: float = 5.0, smooth_m: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
        """Unsigned curvature (1/m) along the lap, smoothed over ``smooth_m``: (s, kappa)."""
        s, x, y = self.resample(step_m)
        heading = np.unwrap(np.arctan2(np.gradient(y), np.gradient(x)))
        k = np.abs(np.gradient(heading, step_m))
        w = max(1, int(smooth_m / step_m))
        kern = np.ones(w) / w
        padded = np.concatenate([k[-w:], k, k[:w]])  # closed loop: wrap the smoothing window
        return s, np.convolve(padded, kern, mode="same")[w:-w]


def _circuits_dir() -> Traversable:  # importlib.resources keeps this working from a wheel
    return resources.files("f1live") / "data" / "circuits"


@lru_cache(maxsize=64)
def load_circuit(key: str) -> Circuit:
    """Load a shipped outline by id (``mc-1929``) and project it to metres."""
    single = _circuits_dir() / f"{key}.geojson"
    if single.is_file():
        feats = json.loads(single.read_text(encoding="utf-8"))["features"]
    else:
        allc = json.loads((_circuits_dir() / "f1-circuits.geojson").read_text(encoding="utf-8"))["features"]
        feats = [f for f in allc if f["properties"].get("id") == key]
        if not feats:
            raise ValueError(f"no circuit outline {key!r}; known: {', '.join(known_circuits())}")
    feat = feats[0]
    lonlat = np.asarray(feat["geometry"]["coordinates"], dtype=float)
    lon0, lat0 = lonlat[:, 0].mean(), lonlat[:, 1].mean()
    x = np.radians(lonlat[:, 0] - lon0) * _EARTH_RADIUS_M * np.cos(np.radians(lat0))
    y = np.radians(lonlat[:, 1] - lat0) * _EARTH_RADIUS_M
    if np.hypot(x[-1] - x[0], y[-1] - y[0]) > 0.5:
        x, y = np.append(x, x[0]), np.append(y, y[0])
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    return Circuit(key=key, name=str(feat["properties"].get("Name", key)), x=x, y=y, s=s)


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    allc = json.loads((_circuits_dir() / "f1-circuits.geojson").read_text(encoding="utf-8"))["features"]
    out = {}
    for f in allc:
        p = f["properties"]
        out[str(p["Location"]).lower()] = p["id"]
        out[str(p["Name"]).lower()] = p["id"]
    return out


def known_circuits() -> list[str]:
    """Ids of the shipped outlines."""
    return sorted(set(_index().values()))


def circuit_key_for_event(event: str) -> str | None:
    """Outline id for a FastF1 event name or location, ``None`` when unknown.

    >>> circuit_key_for_event("Monaco"), circuit_key_for_event("Monaco Grand Prix")
    ('mc-1929', 'mc-1929')
    >>> circuit_key_for_event("Atlantis") is None
    True
    """
    e = event.lower().strip()
    e = _ALIASES.get(e, e)
    idx = _index()
    if e in idx:
        return idx[e]
    e2 = _ALIASES.get(e.replace(" grand prix", ""), e.replace(" grand prix", ""))
    return idx.get(e2)


def integrate_lap_distance(session_time: np.ndarray, speed_kmh: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Distance (m) since the first sample of each group (rows sorted by group, then time).

    >>> integrate_lap_distance(np.array([0.0, 1.0, 2.0, 0.0, 1.0]),
    ...     np.array([36.0, 36.0, 72.0, 0.0, 36.0]), np.array([0, 0, 0, 1, 1]))
    array([ 0., 10., 25.,  0.,  5.])
    """
    v = speed_kmh.astype(float) / 3.6
    inc = np.zeros(len(v))
    if len(v) > 1:
        inc[1:] = 0.5 * (v[1:] + v[:-1]) * np.diff(session_time)
        inc[1:][group[1:] != group[:-1]] = 0.0
    c = np.cumsum(inc)
    starts = np.r_[True, group[1:] != group[:-1]] if len(v) else np.zeros(0, bool)
    base = np.maximum.accumulate(np.where(starts, np.arange(len(v)), 0))
    return c - c[base]


def lap_scale(
    total: np.ndarray, num: np.ndarray, lap: np.ndarray, group: np.ndarray, length: float, tolerance: float = 0.1
) -> np.ndarray:
    """The distance one lap measures, per (driver, lap) group: the integrated distance of the
    same driver's previous lap when that lap is comparable (within ``tolerance`` of the
    outline's ``length``: not a pit or standing-start lap), else ``length``.

    ``total`` is each group's integrated distance; ``num``, ``lap``, ``group`` are per row
    (sorted by driver, lap, time).

    >>> lap_scale(np.array([3300.0, 3350.0, 3360.0]), np.array([1, 1, 1]), np.array([1, 2, 3]),
    ...           np.array([0, 1, 2]), 3324.0).tolist()
    [3324.0, 3300.0, 3350.0]
    """
    k = len(total)
    if not k:
        return np.zeros(0)
    first = np.unique(group, return_index=True)[1]
    g_num, g_lap = num[first], lap[first]
    prev = np.full(k, length, dtype=float)
    same = (g_num[1:] == g_num[:-1]) & (g_lap[1:] == g_lap[:-1] + 1) & (g_lap[1:] >= 0)
    ok = same & (np.abs(total[:-1] - length) <= tolerance * length)
    prev[1:][ok] = total[:-1][ok]
    return prev


def add_estimated_position(df: pd.DataFrame, laps: pd.DataFrame | None, circuit_key: str) -> pd.DataFrame:
    """Add ``lap_distance``, ``lap_fraction`` and estimated ``x``/``y`` to a telemetry frame.

    ``lap_distance``/``lap_fraction`` are always computed from speed; measured x/y
    (a non-null ``x`` column) are kept and only missing ones are estimated. Rows without
    a lap number get no estimate.
    """
    circuit = load_circuit(circuit_key)
    n = len(df)
    num = df["driver_number"].to_numpy(dtype=np.int64)
    t = df["session_time"].to_numpy(dtype=float)
    lapn = pd.array(df["lap_number"], dtype="Int64")
    has_lap = ~pd.isna(lapn)
    lap_i = np.where(has_lap, np.asarray(lapn.fillna(-1), dtype=np.int64), -1)
    order = np.lexsort((t, lap_i, num))
    g_num, g_lap = num[order], lap_i[order]
    group = np.r_[0, np.cumsum((g_num[1:] != g_num[:-1]) | (g_lap[1:] != g_lap[:-1]))] if n else np.zeros(0, int)
    dist = integrate_lap_distance(t[order], df["speed"].to_numpy()[order], group)
    total = np.zeros(group.max() + 1 if n else 0)
    np.maximum.at(total, group, dist)
    frac = np.divide(dist, lap_scale(total, g_num, g_lap, group, circuit.length)[group], out=np.zeros(n))
    frac = np.clip(frac, 0.0, 1.0)
    x, y = circuit.point_at(frac)
    valid = has_lap[order]
    lap_distance = np.full(n, np.nan)
    lap_fraction = np.full(n, np.nan)
    xs = np.full(n, np.nan)
    ys = np.full(n, np.nan)
    lap_distance[order] = np.where(valid, dist, np.nan)
    lap_fraction[order] = np.where(valid, frac, np.nan)
    xs[order] = np.where(valid, x, np.nan)
    ys[order] = np.where(valid, y, np.nan)
    out = df.copy()
    measured = out["x"].notna().to_numpy() if "x" in out.columns else np.zeros(n, bool)
    out["lap_distance"] = lap_distance.astype("float32")
    out["lap_fraction"] = lap_fraction.astype("float32")
    if "x" in out.columns:
        out["x"] = np.where(measured, out["x"].to_numpy(dtype=float), xs).astype("float32")
        out["y"] = np.where(measured, out["y"].to_numpy(dtype=float), ys).astype("float32")
    else:
        out["x"], out["y"] = xs.astype("float32"), ys.astype("float32")
        out["z"] = np.full(n, np.nan, dtype="float32")
    out["position_estimated"] = ~measured & ~np.isnan(xs)
    return out
