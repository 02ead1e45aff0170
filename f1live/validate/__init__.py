"""End-to-end validation (``f1live validate``): notebooks 01-08 under papermill, then the
checklist with measured evidence. A QA harness above the library: it drives papermill,
the broker and Chromium; nothing in the pipeline imports it.

* :mod:`f1live.validate.base` -- notebooks, targets, the plan and the report;
* :mod:`f1live.validate.evidence` -- the probe cells that record what each notebook measured;
* :mod:`f1live.validate.execute` -- papermill, topic read-back, inference timing, the page in Chromium;
* :mod:`f1live.validate.checklist` -- each checklist line's pass rule;
* :mod:`f1live.validate.run` -- :func:`run_validation`, all of it in order.
"""

from f1live.validate.base import (
    CHROME_FLAGS,
    NOTEBOOKS,
    OBSERVER_JS,
    PROBE_TAG,
    Check,
    StepResult,
    ValidationPlan,
    ValidationReport,
)
from f1live.validate.evidence import probe_cell_source, record_evidence
from f1live.validate.execute import count_run_messages, end_offsets, execute_notebook
from f1live.validate.run import run_validation

__all__ = [
    "CHROME_FLAGS",
    "NOTEBOOKS",
    "OBSERVER_JS",
    "PROBE_TAG",
    "Check",
    "StepResult",
    "ValidationPlan",
    "ValidationReport",
    "count_run_messages",
    "end_offsets",
    "execute_notebook",
    "probe_cell_source",
    "record_evidence",
    "run_validation",
]
