#!/usr/bin/env bash
# Apache Kafka's kafka-topics: from $KAFKA_HOME/bin if set, else from f1live's embedded jars.
# --bootstrap-server defaults to the running broker (see docs/broker.md).
#   scripts/kafka-topics.sh --describe --topic f1-speed-stream
exec "$(dirname "$0")/_kafka_tool.sh" kafka-topics "$@"
