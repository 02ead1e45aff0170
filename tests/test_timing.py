"""Timing as of the replay clock, on the real 2023 Monaco race: no look-ahead.

The expected values are computed here from the laps / track-status / race-control tables
with pandas, independently of :mod:`f1live.timing`.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pandas as pd
import pytest

from f1live.pipeline import Pipeline
from f1live.timing import SessionTiming


def expected_order(laps: pd.DataFrame, t: float) -> pd.DataFrame:
    """Each driver's laps completed by ``t`` and when the last one was completed, in timing order."""
    done = laps.dropna(subset=["Time"])
    done = done[done["Time"] <= t]
    last = done.sort_values("LapNumber").groupby("Driver").tail(1).set_index("Driver")
    out = pd.DataFrame(
        {
            "laps": last["LapNumber"].astype(int),
            "crossing": last["Time"],
            "lap_time": last["LapTime"],
            "position": last["Position"],
        }
    )
    return out.sort_values(["laps", "crossing"], ascending=[False, True])


def order_changes(laps: pd.DataFrame, first: int = 3, last: int = 75) -> list[int]:
    """Laps whose end-of-lap order (FastF1 Position) differs from the previous lap's, top 10."""

    def top(k: int) -> list[str]:
        lap = laps[laps["LapNumber"] == k].dropna(subset=["Position"])
        return lap.sort_values("Position")["Driver"].tolist()[:10]

    return [k for k in range(first, last) if top(k) != top(k - 1)]


def clock_inside(laps: pd.DataFrame, k: int, into: float = 35.0) -> float:
    """``into`` seconds after the leader started lap ``k`` (the first crossing of lap k-1's end)."""
    prev = laps[(laps["LapNumber"] == k - 1)].dropna(subset=["Time"])
    return float(prev["Time"].min()) + into


@pytest.fixture(scope="module")
def timing(monaco_2023) -> SessionTiming:
    return SessionTiming.from_session(monaco_2023)


def test_leaderboard_is_the_timing_order_at_the_clock_never_the_running_laps_end(monaco_2023, timing) -> None:
    laps = monaco_2023.laps
    changes = order_changes(laps)
    assert len(changes) >= 8, changes  # the real race has plenty
    differs = 0
    for k in changes[:: max(1, len(changes) // 8)]:
        t = clock_inside(laps, k)
        exp = expected_order(laps, t)
        lb = timing.leaderboard(t)
        assert [r["driver"] for r in lb] == exp.index.tolist(), f"order at {t:.1f} s (lap {k})"
        for r in lb:
            e = exp.loc[r["driver"]]
            assert r["laps"] == e["laps"] and r["position"] == exp.index.get_loc(r["driver"]) + 1
            assert r["last_lap_s"] == pytest.approx(e["lap_time"]) if e["lap_time"] == e["lap_time"] else True
        # the order at the end of the lap being run is a different one: showing it would be look-ahead
        end = laps[laps["LapNumber"] == k].dropna(subset=["Position"]).sort_values("Position")["Driver"].tolist()
        lead_lap = [r["driver"] for r in lb if r["laps"] == lb[0]["laps"]]
        if [d for d in end if d in lead_lap] != lead_lap:
            differs += 1
    assert differs >= 4, "the clocks chosen must be ones where the end-of-lap order is not yet true"


def test_positions_match_fastf1_at_the_last_completed_lap(monaco_2023, timing) -> None:
    """Where every car on the lead lap has crossed the line of the same lap, the order is
    FastF1's ``Position`` of that lap (its position at the last completed lap)."""
    laps = monaco_2023.laps
    checked = 0
    for k in range(5, 70, 5):
        lap = laps[laps["LapNumber"] == k].dropna(subset=["Time", "Position"])
        nxt = laps[laps["LapNumber"] == k + 1].dropna(subset=["Time"])
        t = float(lap["Time"].max()) + 0.001  # every car has completed lap k ...
        if t >= float(nxt["Time"].min()):  # ... and nobody lap k+1
            continue
        lb = {r["driver"]: r for r in timing.leaderboard(t)}
        for drv, pos in zip(lap["Driver"], lap["Position"], strict=True):
            assert lb[drv]["position"] == int(pos) and lb[drv]["laps"] == k
            checked += 1
    assert checked >= 40


def test_gaps_are_line_crossing_differences(monaco_2023, timing) -> None:
    laps = monaco_2023.laps
    t = clock_inside(laps, 30)
    lb = timing.leaderboard(t)
    by_lap = laps.set_index(["Driver", "LapNumber"])["Time"]
    leader = lb[0]["driver"]
    for ahead, r in zip(lb, lb[1:], strict=False):
        if r["laps_down"] or r["stopped"]:
            continue
        k = r["laps"]
        assert r["gap_s"] == pytest.approx(by_lap[(r["driver"], k)] - by_lap[(leader, k)], abs=1e-6)
        assert r["interval_s"] == pytest.approx(by_lap[(r["driver"], k)] - by_lap[(ahead["driver"], k)], abs=1e-3)
    assert lb[0]["gap"] == "LEADER" and any(r["gap"].startswith("+") for r in lb[1:])


def test_events_and_track_status_are_as_issued(monaco_2023, timing) -> None:
    ts, rc = monaco_2023.track_status, monaco_2023.race_control
    for t in (3800.0, 4613.5, 4700.0, 8100.0):
        ev = timing.events(t, limit=None)
        assert ev and max(e["session_time"] for e in ev) <= t
        n_expected = int((ts["session_time"] <= t).sum() + (rc["session_time"] <= t).sum())
        assert len(ev) == n_expected
        last = ts[ts["session_time"] <= t].iloc[-1]["status"]
        assert timing.track_status_at(t) == last
    # the yellow of 1:16:53 is not in force a second before it was issued
    assert timing.track_status_at(4612.0) == "1" and timing.track_status_at(4613.1) == "2"


def test_pit_counts_and_tyres_so_far(monaco_2023, timing) -> None:
    laps = monaco_2023.laps
    ham = laps[laps["Driver"] == "HAM"].set_index("LapNumber")
    pit_in = float(ham.loc[31, "PitInTime"])
    before = {r["driver"]: r for r in timing.leaderboard(pit_in - 1.0)}["HAM"]
    after = {r["driver"]: r for r in timing.leaderboard(pit_in + 1.0)}["HAM"]
    assert (before["pits"], before["in_pit"]) == (0, False)
    assert (after["pits"], after["in_pit"]) == (1, True)
    assert before["compound"] == ham.loc[31, "Compound"]
    out_lap = {r["driver"]: r for r in timing.leaderboard(float(ham.loc[32, "LapStartTime"]) + 30)}["HAM"]
    assert out_lap["compound"] == ham.loc[32, "Compound"] and out_lap["tyre_age"] == int(ham.loc[32, "TyreLife"])


@pytest.mark.slow
def test_replay_to_clocks_shows_only_what_was_published(monaco_2023, settings, kafka_broker) -> None:
    """End to end: the real race replayed through Kafka, seeking to clocks inside laps where
    the order changed; what the pipeline shows at its own replay clock is the timing order at
    that clock and no event from after it."""
    laps, ts = monaco_2023.laps, monaco_2023.track_status
    tag = uuid.uuid4().hex[:8]
    s = settings.replace(topic=f"timing-{tag}", dlq_topic=f"timing-{tag}.dlq", speed=1.0)
    clocks = [clock_inside(laps, k) for k in order_changes(laps)[1::4][:4]]
    with Pipeline(s, bootstrap_servers=kafka_broker.bootstrap_servers, data=monaco_2023, start="lap 3") as p:
        p.start()
        for t in clocks:
            p.seek(session_time=t)
            end = time.monotonic() + 30
            while time.monotonic() < end:
                snap = p.snapshot(history=False, latency=False)
                if snap.get("session_time") is not None and t <= snap["session_time"] < t + 30:
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"the replay clock never reached {t:.1f} s after the seek")
            p.pause()
            time.sleep(0.5)  # what was in flight is consumed
            snap = p.snapshot(history=False, latency=False, race=True, traces={"VER": None, "HAM": None})
            clock = snap["session_time"]
            # the race analysis and the lap traces the analysis tab reads: nothing later either
            race = snap["race"]
            assert race.session_time == clock
            assert max(r.end for rows in race.laps.values() for r in rows) <= clock
            assert sum(map(len, race.laps.values())) == int((laps["Time"] <= clock).sum())
            assert all(x.entry is None or x.entry <= clock for v in race.pits.values() for x in v)
            assert race.weather["session_time"].max() <= clock
            assert all(tr is None or tr.end <= clock for tr in snap["traces"].values())
            exp = expected_order(laps, clock)
            assert [r["driver"] for r in snap["timing"]["leaderboard"]] == exp.index.tolist()
            assert max(e["session_time"] for e in snap["events"]) <= clock
            assert snap["track_status"] == ts[ts["session_time"] <= clock].iloc[-1]["status"]
            rows = [d["row"] for d in snap["latest"].values()]
            assert rows and max(r["session_time"] for r in rows) == clock
            assert all(a["session_time"] <= clock for a in snap["anomalies"])
            # the messages carry the position as of their own time, not the running lap's end
            for r in rows:
                e = exp.loc[r["driver"]] if r["driver"] in exp.index else None
                if e is not None and r["position"] is not None and r["session_time"] >= e["crossing"]:
                    assert r["position"] == int(e["position"])
            p.resume()
    assert np.isfinite(clocks).all()
