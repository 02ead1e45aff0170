"""Models on the first run: train them when ``models/`` has none and the training races exist.

``f1live run`` / ``f1live dashboard`` call :func:`ensure_models` before serving the page, so
a first ``make run`` on a machine with the data shows live predictions. Without the
training races, :func:`missing_reason` gives the one sentence the predictions panel shows
(what is missing and how to get it). Nothing here touches the network except through the
sources' own FastF1 attempt, and nothing is trained on SIMULATED data.

>>> from f1live.config import Settings
>>> from pathlib import Path
>>> s = Settings(models_dir=Path("/nonexistent/models"), shared_data=Path("/nonexistent"),
...              data_dir=Path("/nonexistent/data"))
>>> models_present(s)
False
>>> "f1live train" in missing_reason(s)
True
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from f1live.config import Settings

log = logging.getLogger(__name__)

#: The races the shipped models are trained on, and the one held out (same event as the stream).
TRAIN_YEARS: tuple[int, ...] = (2022, 2024)
EVAL_YEAR = 2023


@dataclass(frozen=True)
class ModelsStatus:
    """What :func:`ensure_models` found or did.

    Attributes:
        state: ``present`` (models were there), ``trained`` (trained now) or ``missing``.
        message: one line for the user (what was trained and how long it took, or why not).
        seconds: training wall time (``None`` when nothing was trained).
    """

    state: str
    message: str
    seconds: float | None = None


def models_present(settings: Settings) -> bool:
    """``models_dir`` has a manifest of the current format (loading still verifies every file
    against it; models of an older format are trained again)."""
    import json

    from f1live.models import MANIFEST, MANIFEST_FORMAT

    path = Path(settings.models_dir) / MANIFEST
    try:
        return json.loads(path.read_text()).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def training_sources(settings: Settings, years: tuple[int, ...] = TRAIN_YEARS) -> dict[int, str | None]:
    """Where each training race would come from without touching the network: an export in
    ``data_dir``, a FastF1 dump under ``shared_data``, or a FastF1 cache folder of that year
    (``None``: none found)."""
    from f1live.sources.exports import find_export
    from f1live.sources.fastf1 import cache_dir_for
    from f1live.sources.fastf1_csv import find_csv_dump

    out: dict[int, str | None] = {}
    for year in years:
        s = settings.replace(year=year)
        found = find_export(Path(s.data_dir), year, s.event, s.session)
        if found is None:
            found = find_csv_dump(s)
        if found is None and (cache_dir_for(s) / str(year)).is_dir():
            found = cache_dir_for(s) / str(year)
        out[year] = None if found is None else str(found)
    return out


def missing_reason(settings: Settings) -> str:
    """The one sentence the predictions panel shows when there are no models."""
    where = training_sources(settings)
    lacking = [str(y) for y, p in where.items() if p is None]
    races = " and ".join(f"{y} {settings.event}" for y in TRAIN_YEARS)
    if lacking:
        return (
            f"No trained models: they are trained on the {races} races, and "
            f"{' and '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} not on this machine (no export in "
            f"{settings.data_dir}, no FastF1 dump under {Path(settings.shared_data) / 'fastf1_csv_exports'}, "
            "no FastF1 cache); point F1LIVE_SHARED_DATA or --cache at them, or go online, then run `f1live train`."
        )
    return (
        f"No trained models in {settings.models_dir}: the training races are here, run `f1live train` "
        "(or restart `f1live run`, which trains them first)."
    )


def ensure_models(settings: Settings, *, train: bool = True, progress: bool = True) -> ModelsStatus:
    """Train the three models into ``settings.models_dir`` unless they are there already.

    Training needs the real training races (never SIMULATED data); when they cannot be
    loaded the status is ``missing`` with :func:`missing_reason`.
    """
    if models_present(settings):
        return ModelsStatus("present", f"models: {settings.models_dir} (already trained)")
    if not train:
        return ModelsStatus("missing", missing_reason(settings))
    from f1live.models import train_default_models
    from f1live.sources import SourceUnavailableError

    t0 = time.perf_counter()
    try:
        report = train_default_models(settings, progress=progress, train_years=TRAIN_YEARS, eval_year=EVAL_YEAR)
    except SourceUnavailableError as exc:
        log.info("no training data: %s", exc)
        return ModelsStatus("missing", missing_reason(settings))
    seconds = time.perf_counter() - t0
    return ModelsStatus("trained", _summary(report, seconds, settings), seconds)


def _summary(report: Any, seconds: float, settings: Settings) -> str:
    parts = []
    for name, by in (report.holdout or {}).items():
        auc = (by.get("model") or {}).get("roc_auc")
        parts.append(f"{name} ROC-AUC {auc:.2f}" if auc is not None else name)
    held = f"; held-out {report.eval_session}: " + ", ".join(parts) if parts else ""
    return (
        f"trained 3 models on {', '.join(report.train_sessions)} in {seconds:.0f} s into "
        f"{settings.models_dir}{held} (details: docs/analytics.md, `f1live train --json`)"
    )
