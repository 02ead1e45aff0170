"""f1live: real-time Formula 1 telemetry streaming for Jupyter.

FastF1 session -> telemetry table (``f1live.sources``) -> export / replay cache
(``f1live.export``, ``f1live.cache``) -> Kafka (``f1live.broker``,
``f1live.producer``) -> online analysis (``f1live.consumer``, ``f1live.features``,
``f1live.anomaly``, ``f1live.models``) -> live dashboard (``f1live.widgets``).
"""

import logging

from f1live.schema import SCHEMA_VERSION

__version__ = "0.1.0"
__all__ = ["SCHEMA_VERSION", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
