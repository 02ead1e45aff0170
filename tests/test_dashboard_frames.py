"""Frame tiers: live panels every frame from a light snapshot, summary panels at ui_slow_refresh_ms."""

from __future__ import annotations

import time
from typing import Any

from f1live.config import Settings
from f1live.state import LiveState
from f1live.widgets.dashboard import Dashboard


class StatePipeline:
    """A stand-in for :class:`f1live.pipeline.Pipeline` that serves a real LiveState and logs each request."""

    def __init__(self, state: LiveState) -> None:
        self.state = state
        self.requests: list[dict[str, Any]] = []

    def snapshot(
        self, history: Any = True, latency: bool = True, timing: bool = True, race: bool = False, traces: Any = None
    ) -> dict[str, Any]:
        self.requests.append({"history": history, "latency": latency, "timing": timing, "race": race, "traces": traces})
        snap = self.state.snapshot(history=history, latency=latency, traces=traces)
        snap["status"]["pipeline"] = "running"
        return snap


def record(state: LiveState, t: float) -> None:
    state.record_batch(
        [
            (
                {"driver": d, "seq": int(t), "session_time": t, "speed": 200.0 + i, "x": 1.0, "y": 2.0},
                {"anomaly": d == "HAM", "anomaly_reason": "test", "pit_stop_probability": 0.1},
                5.0,
                0.5,
            )
            for i, d in enumerate(("VER", "HAM", "LEC"))
        ]
    )


def test_live_frames_are_light_and_summary_panels_follow_their_own_period() -> None:
    state = LiveState()
    pipe = StatePipeline(state)
    dash = Dashboard(Settings(ui_slow_refresh_ms=300), pipeline=pipe)
    record(state, 1.0)
    frames = []
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:  # ~12 frames/s for 1 s, as the refresher would
        record(state, 1.0 + len(frames))
        snap = dash._snapshot()
        dash._apply(snap)
        frames.append((snap["frame"], dash.leaderboard.widget, dash.header.frame))
        time.sleep(0.08)
    kinds = [f[0] for f in frames]
    full = kinds.count("full")
    assert kinds[0] == "full", "the first frame must draw every panel"
    assert 2 <= full <= 5 and kinds.count("live") >= 6, kinds  # 1 s at a 300 ms slow period
    assert dash.slow_frames == full and dash.header.frame == len(frames)
    live = [r for r in pipe.requests if r["latency"] is False]
    assert live and all(r["history"] in (["VER"], ["HAM"], ["LEC"]) for r in live), live[:3]
    assert all(r["timing"] is False for r in live)  # the leaderboard's timing only on full frames
    assert all(r["race"] is False and not r["traces"] for r in live)  # the race analysis too
    # a new car: the live panels show it at once, the leaderboard at its next full frame
    state.record_batch(
        [({"driver": "NOR", "seq": 0, "session_time": 99.0, "speed": 250.0, "x": 3.0, "y": 4.0}, {}, 5.0, 0.5)]
    )
    dash._slow_at = time.monotonic()
    dash._apply(dash._snapshot())
    assert "NOR" in dash.trackmap.cars.names and "NOR" not in dash.leaderboard.table.value
    dash._slow_at = float("-inf")
    dash._apply(dash._snapshot())
    assert "NOR" in dash.leaderboard.table.value and "HAM" in dash.alerts.log.value


def test_unfreezing_redraws_the_summary_panels_at_once() -> None:
    state = LiveState()
    record(state, 1.0)
    dash = Dashboard(Settings(ui_slow_refresh_ms=5000), pipeline=StatePipeline(state))
    dash._apply(dash._snapshot())
    assert dash._snapshot()["frame"] == "live"  # within the 5 s slow period
    dash.set_live(False)
    dash._slow_at = time.monotonic()  # as if a summary frame had just been drawn
    dash.refresher.start = lambda: None  # no thread in this test
    dash.set_live(True)
    assert dash._snapshot()["frame"] == "full"


def test_panels_of_hidden_tabs_are_not_drawn(monaco_2023) -> None:
    """The race-analysis panels draw only while their tab is shown (from the race analysis of
    the real 2023 race at the clock); while it is, the Live tab's panels are not drawn."""
    from f1live.race_analysis import RaceAnalysis
    from f1live.timing import SessionTiming

    race = RaceAnalysis(SessionTiming.from_session(monaco_2023))
    clock = float(monaco_2023.laps.query("LapNumber == 40")["Time"].min())

    class RacePipeline(StatePipeline):
        def snapshot(self, *args: Any, **kw: Any) -> dict[str, Any]:
            snap = super().snapshot(*args, **kw)
            if kw.get("race"):
                snap["race"] = race.at(clock)
            return snap

    state = LiveState()
    record(state, 1.0)
    dash = Dashboard(Settings(), pipeline=RacePipeline(state))
    dash._apply(dash._snapshot())
    assert dash.race is None and not dash.tabs.children[1].children  # hidden: not even built
    assert "VER" in dash.leaderboard.table.value
    dash.tabs.selected_index = 1  # as a click on "Race analysis" would
    record(state, 2.0)
    state.record_batch(
        [({"driver": "NOR", "seq": 0, "session_time": 3.0, "speed": 250.0, "x": 3.0, "y": 4.0}, {}, 5.0, 0.5)]
    )
    dash._apply(dash._snapshot())  # opening a tab forces a full frame
    assert dash.tabs.children[1].children == (dash.race.widget,)
    assert len(dash.race.strategy.bars.x) >= 20 and len(dash.race.lapchart.names.text) == 20
    assert "NOR" not in dash.trackmap.cars.names, "the hidden Live tab's track map was drawn"
    dash.tabs.selected_index = 0
    dash._apply(dash._snapshot())
    assert "NOR" in dash.trackmap.cars.names
