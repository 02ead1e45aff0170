"""Streaming fixtures: a replay cache of real data, brokers by kind, fresh topics.

* ``slice_cache``: :class:`f1live.cache.ReplayCache` of ``monaco_2023_slice`` (VER, HAM,
  LEC, laps 22-23 of the real 2023 Monaco Race).
* ``any_broker``: parametrize with ``@pytest.mark.parametrize("any_broker", ["kafka",
  "tansu"], indirect=True)`` to run a test on real Apache Kafka and on Tansu.
* ``stream_topic(broker)``: a fresh telemetry topic (4 partitions) + its own DLQ and
  analysis topics, returned as ``Settings`` pointing at them, with ``Settings.client`` set
  to the ``kafka_client`` fixture.
* ``kafka_client``: the client library, ``confluent`` by default; run a test with both by
  decorating it with :data:`CLIENTS` (``@CLIENTS``). The brokers are session fixtures,
  shared by both parametrizations: a client parameter costs the test's own time only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from f1live.clients import CLIENTS as CLIENT_NAMES
from f1live.config import Settings
from f1live.topics import ensure_topic
from tests.fixtures_broker import unique_name

#: Run a test once per client library: ``@CLIENTS`` (sets the ``kafka_client`` fixture).
CLIENTS = pytest.mark.parametrize("kafka_client", CLIENT_NAMES, indirect=True)


@pytest.fixture
def kafka_client(request: pytest.FixtureRequest) -> str:
    """The client library a streaming test uses (``confluent`` unless parametrized by :data:`CLIENTS`)."""
    return str(getattr(request, "param", "confluent"))


@pytest.fixture(scope="session")
def slice_cache(monaco_2023_slice: Any) -> Any:
    from f1live.cache import ReplayCache

    return ReplayCache.from_frame(monaco_2023_slice.telemetry, meta=dict(monaco_2023_slice.meta))


@pytest.fixture
def any_broker(request: pytest.FixtureRequest) -> Any:
    """The ``kafka_broker`` or ``tansu_broker`` session fixture, by parameter."""
    kind = getattr(request, "param", "kafka")
    return request.getfixturevalue(f"{kind}_broker")


@pytest.fixture
def stream_topic(settings: Settings, kafka_client: str) -> Callable[..., Settings]:
    """Factory: ``stream_topic(broker) -> Settings`` with fresh topic/DLQ/analysis topics."""

    def make(broker: Any, partitions: int = 4) -> Settings:
        name = unique_name("tel")
        s = settings.replace(
            bootstrap_servers=broker.bootstrap_servers,
            broker=broker.kind,
            topic=name,
            dlq_topic=f"{name}.dlq",
            analysis_topic=f"{name}.analysis",
            consumer_group=unique_name("grp"),
            partitions=partitions,
            client=kafka_client,
        )
        for t, p in ((s.topic, partitions), (s.dlq_topic, 1), (s.analysis_topic, partitions)):
            ensure_topic(broker.bootstrap_servers, t, p, client=kafka_client)
        return s

    return make
