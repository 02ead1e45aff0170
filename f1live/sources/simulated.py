"""A deterministic SIMULATED race: same schema as the real sources, clearly labelled.

Not noise: cars drive the shipped Monaco outline (``mc-1929``) on a speed profile made
from its curvature (cornering limit ``v = sqrt(a_lat / kappa)``, then forward/backward
passes for traction and braking limits), so braking zones sit before the corners;
gear and rpm follow speed through fixed ratios; each car makes a pit stop (pit-lane
speed limit, a stationary stop, a compound change and a new stint); lap times vary
with driver pace, tyre age and seeded noise; positions come from the race times.
Samples share timestamps across cars at ~3.7 Hz, like F1 live timing.

Every row has ``simulated=True`` and ``source='simulated'``; ``meta['simulated']`` is
True and ``meta['label']`` is ``'SIMULATED'``.

>>> from f1live.config import Settings
>>> d = simulate_session(Settings(), n_laps=2, drivers=3)
>>> d.meta["label"], bool(d.telemetry["simulated"].all()), sorted(d.telemetry["driver"].unique())
('SIMULATED', True, ['SIM01', 'SIM02', 'SIM03'])
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from f1live.config import Settings
from f1live.sources import LAP_COLUMNS, SessionData
from f1live.sources.telemetry import build_telemetry
from f1live.track import load_circuit

_log = logging.getLogger(__name__)

SOURCE = "simulated"
CIRCUIT = "mc-1929"
_STEP_M = 5.0
_V_TOP = 290 / 3.6  # m/s
_A_LAT = 26.0  # m/s^2 cornering limit (~2.7 g)
_A_BRAKE = 38.0  # m/s^2 braking (~3.9 g)
_V_PIT = 60 / 3.6  # Monaco pit-lane limit
_PIT_ENTRY_M = 260.0  # distance before the line where the pit lane starts
_PIT_EXIT_M = 320.0  # distance after the line where it ends
_STOP_S = 2.6  # stationary time
_GEAR_TOP_KMH = np.array([0, 85, 120, 150, 180, 210, 240, 270, 330], dtype=float)  # top speed per gear 1..8
_COMPOUNDS = ("SOFT", "MEDIUM", "HARD")


def _speed_profile() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(s, v m/s, throttle %, brake) along one lap of the outline, and the lap length."""
    c = load_circuit(CIRCUIT)
    s, kappa = c.curvature(step_m=_STEP_M, smooth_m=25.0)
    v_corner = np.minimum(_V_TOP, np.sqrt(_A_LAT / np.maximum(kappa, 1e-6)))
    v = v_corner.copy()
    n = len(v)
    for _ in range(2):  # closed loop: two laps of passes converge
        for i in range(1, 2 * n):  # traction-limited acceleration, weaker near top speed
            j, p = i % n, (i - 1) % n
            a = 11.0 * (1 - v[p] / (_V_TOP * 1.05)) + 1.0
            v[j] = min(v[j], np.sqrt(v[p] ** 2 + 2 * a * _STEP_M))
        for i in range(2 * n - 2, -1, -1):  # braking limit
            j, q = i % n, (i + 1) % n
            v[j] = min(v[j], np.sqrt(v[q] ** 2 + 2 * _A_BRAKE * _STEP_M))
    dv = np.roll(v, -1) - v
    brake = dv < -0.05
    throttle = np.where(brake, 0.0, np.where(dv > 0.05, 100.0, np.clip(100 * v / v_corner, 20, 100)))
    return s, v, throttle, brake, c.length


def _gear_rpm(speed_kmh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gear = np.searchsorted(_GEAR_TOP_KMH, speed_kmh * 1.03, side="left").clip(1, 8)
    lo, hi = _GEAR_TOP_KMH[gear - 1], _GEAR_TOP_KMH[gear]
    rpm = 8500 + 3700 * (speed_kmh - lo * 0.8) / np.maximum(hi - lo * 0.8, 1)
    stopped = speed_kmh < 1
    gear = np.where(stopped, 0, gear)
    rpm = np.where(stopped, 4000.0, np.clip(rpm, 4000, 12200))
    return gear.astype(np.int16), rpm.astype(np.float32)


def simulate_session(
    settings: Settings, *, n_laps: int = 78, drivers: int = 20, seed: int = 2023, sample_s: float = 0.265
) -> SessionData:
    """A SIMULATED race of ``n_laps`` laps for ``drivers`` cars (deterministic for a seed)."""
    if n_laps < 1 or not 1 <= drivers <= 99:
        raise ValueError(f"n_laps must be >= 1 and drivers in 1..99 (got {n_laps}, {drivers})")
    rng = np.random.default_rng(seed)
    s_grid, v_base, thr_base, brk_base, length = _speed_profile()
    ds = np.diff(np.append(s_grid, length))
    tau = np.concatenate([[0.0], np.cumsum(ds / np.maximum(v_base, 1.0))])  # time at each s (+ end)
    base_lap = float(tau[-1])
    s_knots = np.append(s_grid, length)
    v_knots = np.append(v_base, v_base[0])
    start_t = 60.0  # the session clock starts 60 s before the lights
    codes = [f"SIM{i + 1:02d}" for i in range(drivers)]
    teams = [f"SIM Team {i // 2 + 1}" for i in range(drivers)]
    pace = np.sort(rng.normal(0.0, 0.008, drivers))  # grid order = pace order
    pit_lap = rng.integers(max(1, n_laps // 3), max(2, 2 * n_laps // 3) + 1, drivers)
    first = rng.integers(0, 3, drivers)  # starting compound index

    knots_t, knots_d, knots_v, knots_thr, knots_brk = [], [], [], [], []
    lap_rows = []
    for i in range(drivers):
        t = start_t + 0.25 * i  # grid stagger
        comp, stint, life = _COMPOUNDS[first[i]], 1, 1.0
        # knots (time, race distance, speed, throttle, brake) the samples are interpolated from
        segs = [(np.array([0.0, t]), np.array([0.0, 0.0]), np.zeros(2), np.zeros(2), np.array([True, False]))]
        for lap in range(1, n_laps + 1):
            deg = {"SOFT": 0.0012, "MEDIUM": 0.0007, "HARD": 0.0004}[comp] * life
            factor = 1.0 + pace[i] + deg + rng.normal(0, 0.003) + (0.06 if lap == 1 else 0.0)
            lt = tau * factor
            v = v_knots / factor
            thr, brk = np.append(thr_base, thr_base[0]), np.append(brk_base, brk_base[0])
            if lap == 1:  # standing start: accelerate from 0 over the first 120 m
                v = np.where(s_knots < 120, np.minimum(v, np.sqrt(2 * 12.0 * s_knots)), v)
                lt = np.concatenate([[0.0], np.cumsum(np.diff(s_knots) / np.maximum(0.5 * (v[1:] + v[:-1]), 0.5))])
            pit_in = pit_out = np.nan
            is_in, is_out = lap == pit_lap[i], lap == pit_lap[i] + 1
            if is_out:  # leave the box, pit-lane speed until the exit
                m = s_knots <= _PIT_EXIT_M
                v, thr, brk = np.where(m, _V_PIT, v), np.where(m, 35.0, thr), np.where(m, False, brk)
                v[0] = 0.0
                seg = np.diff(s_knots) / np.maximum(0.5 * (v[1:] + v[:-1]), 1.0)
                lt = np.concatenate([[0.0], np.cumsum(seg)])
                pit_out = t + float(np.interp(_PIT_EXIT_M, s_knots, lt))
            if is_in:  # pit lane from the entry to the box at the line, then a stationary stop
                m = s_knots >= length - _PIT_ENTRY_M
                v, thr, brk = np.where(m, _V_PIT, v), np.where(m, 30.0, thr), np.where(m, False, brk)
                seg = np.diff(s_knots) / np.maximum(0.5 * (v[1:] + v[:-1]), 1.0)
                lt = np.concatenate([[0.0], np.cumsum(seg)])
                pit_in = t + float(np.interp(length - _PIT_ENTRY_M, s_knots, lt))
            d0 = (lap - 1) * length
            segs.append((t + lt[1:], d0 + s_knots[1:], v[1:], thr[1:], brk[1:]))
            lap_time = float(lt[-1])
            if is_in:  # stop in the box (speed 0) before the out-lap starts
                segs.append(
                    (
                        np.array([t + lap_time + 0.01, t + lap_time + _STOP_S]),
                        np.array([d0 + length, d0 + length]),
                        np.zeros(2),
                        np.zeros(2),
                        np.array([True, True]),
                    )
                )
            lap_rows.append(
                {
                    "Driver": codes[i],
                    "DriverNumber": i + 1,
                    "LapNumber": float(lap),
                    "LapTime": lap_time,
                    "LapStartTime": t,
                    "Time": t + lap_time,
                    "PitInTime": pit_in,
                    "PitOutTime": pit_out,
                    "Stint": float(stint),
                    "Compound": comp,
                    "TyreLife": life,
                    "TrackStatus": "1",
                    "Team": teams[i],
                }
            )
            t += lap_time
            life += 1.0
            if is_in:
                t += _STOP_S
                comp = "HARD" if comp != "HARD" else "MEDIUM"
                stint, life = stint + 1, 1.0
        # slow-down lap after the flag, then parked
        segs.append(
            (
                np.array([t + 40.0, t + 60.0]),
                np.array([n_laps * length + 1500.0] * 2),
                np.zeros(2),
                np.zeros(2),
                np.array([False, False]),
            )
        )
        kt, kd, kv, kth, kb = (np.concatenate(part) for part in zip(*segs, strict=True))
        knots_t.append(kt)
        knots_d.append(kd)
        knots_v.append(kv)
        knots_thr.append(kth)
        knots_brk.append(kb)

    laps = pd.DataFrame(lap_rows)
    laps["Position"] = laps.groupby("LapNumber")["Time"].rank(method="first").astype(float)
    for c in LAP_COLUMNS:
        if c not in laps.columns:
            laps[c] = np.nan
    laps = laps[list(LAP_COLUMNS)]
    t_end = max(float(k[-1]) for k in knots_t)
    n_samples = int((t_end - 0) / sample_s) + 1
    grid = np.cumsum(np.r_[1.0, sample_s + rng.normal(0, 0.03, n_samples - 1).clip(-0.1, 0.1)])
    grid = np.round(grid[grid <= t_end], 3)  # ms clock, shared by all cars (as in live timing)
    frames = []
    date0 = pd.Timestamp(f"{int(settings.year)}-05-28T12:00:00", tz="UTC")
    for i in range(drivers):
        kt = knots_t[i]
        speed = np.interp(grid, kt, knots_v[i]) * 3.6
        speed = np.round(np.maximum(speed + rng.normal(0, 0.6, len(grid)) * (speed > 5), 0))
        gear, rpm = _gear_rpm(speed)
        thr = np.interp(grid, kt, knots_thr[i])
        brk = np.interp(grid, kt, knots_brk[i].astype(float)) > 0.5
        frames.append(
            pd.DataFrame(
                {
                    "driver_number": np.full(len(grid), i + 1, dtype=np.int16),
                    "date": date0 + pd.to_timedelta(grid, unit="s"),
                    "session_time": grid,
                    "speed": speed.astype(np.float32),
                    "rpm": np.round(rpm).astype(np.float32),
                    "gear": gear,
                    "throttle": np.round(thr).astype(np.float32),
                    "brake": brk,
                    "drs": np.zeros(len(grid), dtype=np.int16),
                }
            )
        )
    car = pd.concat(frames, ignore_index=True)
    tel = build_telemetry(
        car,
        laps,
        drivers={i + 1: (codes[i], teams[i]) for i in range(drivers)},
        source=SOURCE,
        simulated=True,
        circuit_key=CIRCUIT,
        track_status=pd.DataFrame({"session_time": [0.0], "status": ["1"]}),
    )
    # DRS open on the start/finish straight from lap 3 when at full throttle and fast
    frac = tel["lap_fraction"].to_numpy(dtype=float)
    zone = ((frac > 0.93) | (frac < 0.02)) & (tel["lap_number"].fillna(0).to_numpy() >= 3)
    fast = (tel["throttle"].to_numpy() >= 99) & (tel["speed"].to_numpy() > 200)
    tel["drs"] = np.where(zone & fast, 12, np.where(zone, 8, 0)).astype(np.int16)
    track_status = pd.DataFrame(
        {
            "session_time": [0.0],
            "status": pd.array(["1"], dtype="string"),
            "message": pd.array(["AllClear"], dtype="string"),
        }
    )
    meta = {
        "source": SOURCE,
        "label": "SIMULATED",
        "simulated": True,
        "year": int(settings.year),
        "event": settings.event,
        "session": settings.session,
        "fastf1_version": None,
        "circuit_key": CIRCUIT,
        "drivers": sorted(codes),
        "driver_numbers": {c: i + 1 for i, c in enumerate(codes)},
        "seed": seed,
        "t0_date": date0.isoformat(),
        "total_laps": n_laps,
        "race_start_session_time": start_t,
        "has_position_data": False,
        "position_estimated": True,
        "base_lap_time_s": base_lap,
        "note": "SIMULATED session (not real data): Monaco outline, curvature speed profile, one pit stop per car",
    }
    _log.warning("SIMULATED session generated (%d cars, %d laps, seed %d): not real data", drivers, n_laps, seed)
    return SessionData(telemetry=tel, laps=laps, track_status=track_status, race_control=None, position=None, meta=meta)
