"""Circuit outlines and estimated positions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from f1live.track import circuit_key_for_event, integrate_lap_distance, known_circuits, load_circuit


def test_shipped_outline_equals_shared_and_has_licence(shared_data):
    import f1live

    pkg = Path(f1live.__file__).parent / "data" / "circuits"
    assert (pkg / "LICENSE-f1-circuits.md").read_text().startswith("Copyright (c) 2019")
    assert json.loads((pkg / "mc-1929.geojson").read_text()) == json.loads(
        (shared_data / "circuits" / "mc-1929.geojson").read_text()
    )
    assert len(known_circuits()) == 40


def test_projection_length_matches_published_length():
    c = load_circuit("mc-1929")
    assert c.length == pytest.approx(3337, rel=0.01)  # the outline's `length` property
    assert c.x[0] == c.x[-1] and c.y[0] == c.y[-1]
    spa = load_circuit("be-1925")
    assert spa.length == pytest.approx(7004, rel=0.02)
    with pytest.raises(ValueError, match="no circuit outline 'xx-0000'"):
        load_circuit("xx-0000")


def test_curvature_peaks_at_hairpin():
    c = load_circuit("mc-1929")
    s, k = c.curvature()
    assert k.max() > 1 / 40  # the Grand Hotel hairpin has a radius of ~10-15 m
    assert np.median(k) < 1 / 100


def test_event_names():
    assert circuit_key_for_event("Monaco") == "mc-1929"
    assert circuit_key_for_event("Italian Grand Prix") == "it-1922"
    assert circuit_key_for_event("nowhere") is None


def test_integrated_distance_of_real_lap(monaco_2023):
    tel = monaco_2023.telemetry
    lap = tel[(tel["driver"] == "HAM") & (tel["lap_number"] == 33)]
    d = integrate_lap_distance(lap["session_time"].to_numpy(), lap["speed"].to_numpy(), np.zeros(len(lap), dtype=int))
    assert d[-1] == pytest.approx(3337, rel=0.05)  # speed x time over the fastest lap ~ track length
    np.testing.assert_allclose(lap["lap_distance"].to_numpy(), d, rtol=1e-5, atol=0.01)
    xy = lap[["x", "y"]].to_numpy()
    c = load_circuit("mc-1929")
    # every estimated point lies on the outline
    dist = np.min(
        np.hypot(xy[:, None, 0] - c.resample(2.0)[1][None], xy[:, None, 1] - c.resample(2.0)[2][None]), axis=1
    )
    assert dist.max() < 2.0
