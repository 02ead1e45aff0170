"""``f1live score``: run the serving path over a prepared session, offline, and write the predictions.

The exact path the live consumer runs -- :class:`f1live.analysis.AnalyticsProcessor`
(features, the three models, River and the rules) -- over every message of an export in
replay order (time order over all drivers). One row per message: ``driver``,
``session_time`` (s), ``lap_number``, ``pit_stop_probability``, ``crash_risk``,
``tire_failure``, the three ``*_alert`` flags at the saved thresholds, ``anomaly``,
``anomaly_reason`` (plus ``anomaly_source`` and ``quality``).

Model files whose sha256 does not match ``manifest.json`` are refused before any of them
is unpickled: exit status 2 and a message naming the file.

Examples::

    f1live prepare --year 2023                              # writes data/2023_Monaco_R_<time>.parquet
    f1live score --file data/2023_Monaco_R_<time>.parquet --out runs/predictions_2023.parquet
    f1live score --file data/2023_Monaco_R_<time>.parquet --out runs/p.parquet --json   # + event summary
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from f1live.commands._json import to_json

NAME = "score"
HELP = "run the live analytics (models + River + rules) over an export offline and write one row per message"

#: Exit status when the models fail verification (tampered, wrong versions, wrong features).
EXIT_MODELS_REFUSED = 2

#: The columns of the predictions file, in order.
COLUMNS: tuple[str, ...] = (
    "driver",
    "session_time",
    "lap_number",
    "pit_stop_probability",
    "crash_risk",
    "tire_failure",
    "pit_stop_probability_alert",
    "crash_risk_alert",
    "tire_failure_alert",
    "anomaly",
    "anomaly_reason",
    "anomaly_source",
    "quality",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--file", type=Path, required=True, help="an f1live export (.parquet or .csv, from `f1live prepare`)"
    )
    p.add_argument("--models", type=Path, default=None, help="models directory (default: settings models_dir, models/)")
    p.add_argument("--out", type=Path, required=True, help="predictions file to write (.parquet)")
    p.add_argument("--batch", type=int, default=500, help="messages per processor call (a consumer poll; default 500)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary (event-level when the session has laps and track status)",
    )
    p.set_defaults(func=run)
    return p


def score_session(data: Any, models_dir: Path, *, batch: int = 500) -> Any:
    """The predictions table of a :class:`~f1live.sources.SessionData` (models already verified or not).

    Raises :class:`f1live.models.ModelIntegrityError` / ``ModelsMissingError`` from the
    processor's start, before any message is processed.
    """
    import pandas as pd

    from f1live.analysis import AnalyticsProcessor, analyse_table
    from f1live.config import Settings

    proc = AnalyticsProcessor(Settings.from_env(), models_dir=models_dir)
    proc.start()
    tel = data.telemetry
    res = analyse_table(tel, proc, batch_size=batch)
    out = pd.DataFrame(
        {
            "driver": tel["driver"].astype(str).to_numpy(),
            "session_time": tel["session_time"].to_numpy(float),
            "lap_number": tel["lap_number"].astype("Int16").to_numpy(),
        },
        index=tel.index,
    )
    for c in COLUMNS[3:]:
        out[c] = res[c].to_numpy() if c in res.columns else None
    order = out.sort_values("session_time", kind="stable").index
    return out.loc[order].reset_index(drop=True), proc


def summary(data: Any, pred: Any, proc: Any) -> dict[str, Any]:
    """Event-level summary of scored predictions (when the session has laps and track status)."""
    import pandas as pd

    from f1live.evaluation import AlertRules, event_metrics, incident_events, incident_hits
    from f1live.faults import alarm_episodes, driver_hours
    from f1live.labels import make_labels, strategic_stops

    thresholds = proc.thresholds
    out: dict[str, Any] = {
        "rows": int(len(pred)),
        "drivers": sorted(pred["driver"].unique().tolist()),
        "thresholds": thresholds,
        "models": str(proc.models_dir),
    }
    racing = pred["lap_number"].notna().to_numpy()
    race = data.telemetry[data.telemetry["lap_number"].notna()]
    hours = driver_hours(race) if len(race) else 0.0
    flagged = pred["anomaly"].to_numpy(bool) & racing
    src = pred.loc[flagged, "anomaly_source"].value_counts().to_dict()
    out["anomalies"] = {
        "racing_driver_hours": hours,
        "alarms": int(flagged.sum()),
        "alarms_per_driver_hour": float(flagged.sum() / hours) if hours else None,
        "episodes_per_driver_hour": (
            alarm_episodes(pred["session_time"].to_numpy(float)[flagged], pred["driver"].to_numpy()[flagged]) / hours
        )
        if hours
        else None,
        "by_source": {str(k): int(v) for k, v in src.items()},
        "quality_notes": {str(k): int(v) for k, v in pred["quality"].value_counts().items()},
    }
    laps, ts = data.laps, data.track_status
    if laps is None or not len(laps) or ts is None or not len(ts):
        out["events"] = None
        return out
    tel = data.telemetry.sort_values("session_time", kind="stable").reset_index(drop=True)
    labels = make_labels(tel, laps, ts)
    rules = AlertRules()
    stops = strategic_stops(laps, ts)
    stops = stops[stops["driver"].isin(out["drivers"])]
    pm = labels["pit_stop_probability"].notna().to_numpy()
    rows = pd.DataFrame(
        {
            "driver": pred["driver"][pm],
            "session_time": pred["session_time"][pm],
            "score": pred["pit_stop_probability"][pm],
        }
    )
    ev = pd.DataFrame({"driver": stops["driver"], "time": stops["pit_in"]})
    pit = event_metrics(rows, ev, thresholds.get("pit_stop_probability", 0.5), rules=rules, n_boot=1000)
    cm = labels["crash_risk"].notna().to_numpy()
    crash_rows = pd.DataFrame(
        {"driver": pred["driver"][cm], "session_time": pred["session_time"][cm], "score": pred["crash_risk"][cm]}
    )
    crash = incident_hits(
        crash_rows, incident_events(ts, laps[laps["Driver"].isin(out["drivers"])]), thresholds.get("crash_risk", 0.5)
    )
    tm = labels["tire_failure"].notna().to_numpy()
    yt = labels["tire_failure"].to_numpy()[tm].astype(int)
    at = pred["tire_failure_alert"].to_numpy(bool)[tm]
    out["events"] = {
        "pit_stop_probability": pit,
        "crash_risk": crash,
        "tire_failure": {
            "rows": int(tm.sum()),
            "base_rate": float(yt.mean()) if len(yt) else None,
            "alert_precision": float((at & (yt == 1)).sum() / max(at.sum(), 1)),
            "alert_recall": float((at & (yt == 1)).sum() / max((yt == 1).sum(), 1)),
        },
        "label_rows": {k: int(v) for k, v in labels.notna().sum().items()},
    }
    return out


def run(args: argparse.Namespace) -> int:
    from f1live.config import Settings
    from f1live.models import ModelIntegrityError, ModelsMissingError, verify_models
    from f1live.sources.exports import load_export

    settings = Settings.from_env()
    models_dir = Path(args.models or settings.models_dir)
    try:
        verify_models(models_dir)  # every file's sha256 first: nothing is unpickled before this passes
    except ModelIntegrityError as exc:
        print(f"f1live score: refused: {exc}", file=sys.stderr)
        return EXIT_MODELS_REFUSED
    except ModelsMissingError as exc:
        print(f"f1live score: error: {exc}", file=sys.stderr)
        return 1
    data = load_export(args.file)
    pred, proc = score_session(data, models_dir, batch=args.batch)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pred.to_parquet(out, index=False)
    if args.json:
        print(to_json(summary(data, pred, proc), indent=2))
    else:
        alerts = {c: int(pred[c].sum()) for c in COLUMNS if c.endswith("_alert")}
        print(
            f"scored {len(pred):,} messages of {args.file} with the models in {models_dir}: "
            f"{int(pred['anomaly'].sum())} anomalies, alerts {alerts}; wrote {out}"
        )
    return 0
