"""Evidence the executed notebooks record: probe cells appended to the executed copies."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from f1live.validate.base import PROBE_TAG, _jsonable

log = logging.getLogger(__name__)


def record_evidence(path: str | Path, values: Mapping[str, Any]) -> Path:
    """Write what a notebook measured as JSON (the probe cell calls this).

    >>> import tempfile
    >>> p = record_evidence(Path(tempfile.mkdtemp()) / "x.json", {"rows": 3, "t": float("nan")})
    >>> json.loads(p.read_text())
    {'rows': 3, 't': None}
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_jsonable(dict(values)), indent=1))
    return p


# What each notebook measured, as a Python expression over the notebook's own variables.
PROBES: dict[str, str] = {
    "01_data_preparation": """{
        "rows": len(tel), "drivers": int(tel["driver"].nunique()), "simulated": bool(data.simulated),
        "source": data.meta.get("source"), "files": {k: str(v) for k, v in res.files.items()},
        "file_bytes": {k: Path(v).stat().st_size for k, v in res.files.items()}, "sidecar": str(res.sidecar)}""",
    "02_cache_setup": """(lambda: (lambda st: {
        "rows": len(cache), "export_path": str(export_path), "iterated": st[0], "out_of_order": st[1],
        "negative_delays": st[2], "rows_per_s": st[0] / max(st[3], 1e-9)})(__f1_order(cache)))()""",
    "03_kafka_producer": """{
        "run_id": summary.run_id, "topic": summary.topic, "servers": servers, "sent": summary.sent,
        "acked": summary.acked, "failed": summary.failed, "per_driver": summary.per_driver,
        "rate_error_pct": summary.rate_error_pct, "lateness_ms": summary.lateness_ms, "speed": summary.speed}""",
    "04_kafka_topic_setup": """{"topics": [{"name": i.name, "partitions": i.partitions,
        "replication": i.replication, "leaders": i.leaders} for i in infos]}""",
    "05_kafka_consumer": """{
        "consumed": result.consumed, "processed": result.processed, "dlq": result.dlq,
        "duplicates": result.duplicates, "gaps": result.gaps, "e2e_ms": result.e2e_ms,
        "run_id": produced.run_id if producer is not None else None,
        "produced_acked": produced.acked if producer is not None else None,
        "produced_per_driver": produced.per_driver if producer is not None else None,
        "consumed_per_driver": consumer.tracker.per_driver(produced.run_id) if producer is not None else None,
        "report_ok": report.ok if producer is not None else None}""",
    "06_ml_model_training": """{"models_dir": str(models_dir), "seconds": report.seconds,
        "train_sessions": report.train_sessions, "eval_session": report.eval_session,
        "holdout": {n: {k: report.holdout[n]["model"].get(k) for k in ("f1", "roc_auc", "pr_auc")}
                    for n in report.holdout}}""",
    "07_weak_scaling_demo": """{"path": str(result.path), "rows": result.table.drop(
        columns=[c for c in ("analysis", "data") if c in result.table.columns]).to_dict("records")}""",
    "08_live_dashboard": """{
        "processed": snap["counters"]["processed"], "phase": str(dash.pipeline.phase),
        "drivers": sorted(snap.get("latest", {})), "refresher": dash.refresher.stats()}""",
}

_ORDER_HELPER = """
def __f1_order(cache):
    import time as _t
    t0 = _t.perf_counter(); n = bad = neg = 0; prev = None
    for d, r in cache.iter_rows():
        st = r["session_time"]
        if prev is not None and st < prev:
            bad += 1
        if d < 0:
            neg += 1
        prev = st; n += 1
    return n, bad, neg, _t.perf_counter() - t0
"""


def probe_cell_source(name: str, evidence_path: Path) -> str:
    """The code appended to notebook ``name`` in the executed copy."""
    expr = PROBES[name]
    helper = _ORDER_HELPER if name == "02_cache_setup" else ""
    return (
        f"# {PROBE_TAG}: added by `f1live validate` (not part of the committed notebook)\n{helper}"
        f"from f1live.validate.evidence import record_evidence\n"
        f"try:\n    __f1_values = {expr}\n"
        f"except Exception as __f1_exc:  # a renamed variable must show up as a failed line, not pass\n"
        f"    __f1_values = {{'probe_error': repr(__f1_exc)}}\n"
        f"record_evidence({str(evidence_path)!r}, __f1_values)\n"
    )
