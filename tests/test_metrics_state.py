"""LatencyStats (exact window percentiles, bounded memory) and LiveState under concurrency."""

from __future__ import annotations

import threading

import numpy as np

from f1live.metrics import LatencyStats, SecondSeries
from f1live.state import HISTORY_FIELDS, LiveState


def test_latency_stats_exact_over_window_and_totals_over_all() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(1.0, 0.8, 10_000)
    s = LatencyStats(window=4096)
    s.extend(values)
    window = values[-4096:]
    summ = s.summary(digits=9)
    assert summ["count"] == 10_000 and summ["window"] == 4096
    for q in (50, 95, 99):
        assert abs(summ[f"p{q}"] - np.percentile(window, q)) < 1e-6
    assert abs(summ["mean"] - values.mean()) < 1e-6 and s.max == values.max()
    assert np.array_equal(s.window_values(), window)


def test_second_series_buckets() -> None:
    ser = SecondSeries(seconds=3)
    for sec in range(10):
        for v in range(4):
            ser.add(sec + v / 10, float(v))
    pts = ser.points(now=100.0)
    assert [p[0] for p in pts] == [7, 8, 9] and all(p[1] == 4 for p in pts)


def test_live_state_bounded_and_consistent_under_concurrency() -> None:
    st = LiveState(history=100, anomalies=10, latency_window=512)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(driver: str) -> None:
        for seq in range(3000):
            msg = {
                "driver": driver,
                "seq": seq,
                "session_time": float(seq),
                "speed": 200.0,
                "rpm": 1.0,
                "gear": 5,
                "throttle": 90.0,
                "brake": seq % 50 == 0,
            }
            st.record_batch([(msg, {"anomaly": seq % 50 == 0, "anomaly_reason": "r"}, 1.0, 0.1)])

    def reader() -> None:
        try:
            while not stop.is_set():
                snap = st.snapshot()
                for d, h in snap["history"].items():
                    assert len(h) <= 100 and all(len(t) == len(HISTORY_FIELDS) for t in h)
                    seqs = [t[0] for t in h]
                    assert seqs == sorted(seqs), d  # a copy is never half-updated
                assert len(snap["anomalies"]) <= 10
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(d,)) for d in ("VER", "HAM", "LEC")]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    snap = st.snapshot()
    assert snap["counters"]["processed"] == 9000
    assert snap["latency"]["e2e_ms"]["count"] == 9000 and snap["latency"]["e2e_ms"]["window"] == 512
    assert {d: snap["latest"][d]["row"]["seq"] for d in snap["latest"]} == {"VER": 2999, "HAM": 2999, "LEC": 2999}
