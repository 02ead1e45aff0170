"""Weak-scaling experiment: consumers x partitions x streams grown together (seed step 7).

For ``N`` consumers the experiment creates a fresh topic with ``N`` partitions, replays
``N`` streams in parallel -- ``N`` copies of the same real driver group, each copy with
its own keys (``VER-s0``, ``VER-s1``, ...) and pinned to its own partition -- and runs ``N``
real :class:`f1live.consumer.RealTimeConsumer` s with the full analysis, so the work per
consumer is constant as ``N`` grows: ideal weak scaling keeps per-event latency flat and
grows throughput ``N``-fold. Modes (``thread`` / ``process`` / ``group``), rates
(``max`` / ``fixed``) and the delivery check are described in ``docs/scaling.md``.

The package, by job:

* :mod:`~f1live.scaling.config`: :class:`ScaleConfig` (what to run), its validation;
* :mod:`~f1live.scaling.streams`: the replayed streams and their producers;
* :mod:`~f1live.scaling.workers`: one point's consumers (threads, processes or group
  members), on :class:`f1live.background.BackgroundLoop`;
* :mod:`~f1live.scaling.runner`: a point (topic, streams, workers, row) and :func:`run_experiment`;
* :mod:`~f1live.scaling.results`: the results table, the delivery check, storage and
  :func:`latest_results` (the one rule for "the latest results", also the dashboard's);
* :mod:`~f1live.scaling.capacity`: :func:`capacity_plan`.

The charts are widgets: :func:`f1live.widgets.scaling.scaling_figures` /
:func:`~f1live.widgets.scaling.scaling_view`.

Run it::

    from f1live.scaling import ScaleConfig, run_experiment
    result = run_experiment(settings, ScaleConfig(consumers=(1, 2, 4), modes=("process",)))
    result.table            # DataFrame, one row per (mode, rate, N)
    result.path             # runs/scaling/<timestamp>/scaling_results.{parquet,json}; latest.json points at it

>>> efficiency([1, 2, 4], [1000.0, 1900.0, 2000.0])
[1.0, 0.95, 0.5]
>>> parse_consumers("1,2,4"), stream_key("VER", 2)
((1, 2, 4), 'VER-s2')
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from f1live.config import Settings
from f1live.scaling.capacity import capacity_plan
from f1live.scaling.config import MODES, RATES, ScaleConfig, parse_consumers
from f1live.scaling.results import (
    COLUMNS,
    RESULTS_STEM,
    LatestResults,
    ScaleResult,
    delivery_check,
    efficiency,
    finish_table,
    latest_results,
    latest_results_path,
)
from f1live.scaling.runner import machine_info, run_experiment, run_point, run_small
from f1live.scaling.streams import build_streams, pick_drivers, stream_key, stream_of_key

__all__ = [
    "COLUMNS",
    "MODES",
    "RATES",
    "RESULTS_STEM",
    "LatestResults",
    "ScaleConfig",
    "ScaleResult",
    "build_streams",
    "capacity_plan",
    "delivery_check",
    "efficiency",
    "finish_table",
    "latest_results",
    "latest_results_path",
    "load_latest_results",
    "machine_info",
    "parse_consumers",
    "pick_drivers",
    "run_experiment",
    "run_point",
    "run_small",
    "stream_key",
    "stream_of_key",
]


def load_latest_results(settings: Settings | Path | str) -> pd.DataFrame | None:
    """The latest results table under ``settings.run_dir`` (or a run directory), or None.

    >>> import tempfile
    >>> load_latest_results(Settings(run_dir=Path(tempfile.mkdtemp()))) is None
    True
    """
    found = latest_results(settings.run_dir if isinstance(settings, Settings) else settings)
    return None if found is None else found.table
