"""Papermill runs notebooks/04_kafka_topic_setup.ipynb against the real embedded Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT
from f1live.topics import describe_topic
from tests.fixtures_broker import unique_name

papermill = pytest.importorskip("papermill")
NOTEBOOK = PROJECT_ROOT / "notebooks" / "04_kafka_topic_setup.ipynb"


def _run(out: Path, **params: object) -> str:
    import nbformat

    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=params, kernel_name="python3",
                               cwd=str(PROJECT_ROOT), progress_bar=False)  # fmt: skip
    nb = nbformat.read(out, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_notebook_04_creates_and_describes_the_topics(kafka_broker, tmp_path):
    bs = kafka_broker.bootstrap_servers
    topic = unique_name("f1-speed-stream")
    text = _run(tmp_path / "04.ipynb", bootstrap_servers=bs, topic=topic, partitions=4)
    assert f"ok {topic}: 4 partitions, replication 1" in text
    assert f"ok {topic}.dlq: 1 partitions" in text
    info = describe_topic(bs, topic)
    assert info is not None and info.partitions == 4

    # Run again: idempotent. Then ask for another partition count: a clear error, topic untouched.
    assert f"ok {topic}: 4 partitions" in _run(tmp_path / "04b.ipynb", bootstrap_servers=bs, topic=topic)
    with pytest.raises(papermill.PapermillExecutionError, match="exists with 4 partitions, not 2"):
        _run(tmp_path / "04c.ipynb", bootstrap_servers=bs, topic=topic, partitions=2)
    assert describe_topic(bs, topic).partitions == 4
