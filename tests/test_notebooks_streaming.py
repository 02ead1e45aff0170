"""Papermill runs notebooks 03 (producer) and 05 (consumer) against the real embedded Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from f1live.config import PROJECT_ROOT

papermill = pytest.importorskip("papermill")


@pytest.fixture(scope="module")
def slice_export(monaco_2023_slice: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from f1live.export import export_session

    res = export_session(monaco_2023_slice, tmp_path_factory.mktemp("nb_export"), formats=("parquet",), progress=False)
    return Path(res.parquet)


def _run(name: str, out: Path, params: dict[str, Any]) -> dict:
    import nbformat

    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / name),
        str(out),
        parameters=params,
        kernel_name="python3",
        cwd=str(PROJECT_ROOT),
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def _text(nb: dict) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_producer_notebook(kafka_broker: Any, stream_topic: Any, slice_export: Path, tmp_path: Path) -> None:
    s = stream_topic(kafka_broker)
    nb = _run(
        "03_kafka_producer.ipynb",
        tmp_path / "03.ipynb",
        {
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "file": str(slice_export),
            "topic": s.topic,
            "replay_from": "lap 22",
            "speed": 5.0,
            "duration_s": 3.0,
        },
    )
    text = _text(nb)
    assert "failed 0" in text and "schedule lateness" in text and "(real data)" in text


def test_consumer_notebook(kafka_broker: Any, stream_topic: Any, slice_export: Path, tmp_path: Path) -> None:
    s = stream_topic(kafka_broker)
    nb = _run(
        "05_kafka_consumer.ipynb",
        tmp_path / "05.ipynb",
        {
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "file": str(slice_export),
            "topic": s.topic,
            "group": s.consumer_group,
            "replay_from": "lap 22",
            "speed": 5.0,
            "produce_s": 3.0,
            "timeout_s": 30.0,
        },
    )
    text = _text(nb)
    assert "-> OK" in text and "DLQ 0" in text
    # the analytics processor ran on every processed message
    import re

    m = re.search(r"analysed (\d+) messages", text)
    done = re.search(r"processed (\d+)", text)
    assert m and done and int(m.group(1)) == int(done.group(1)) > 0
