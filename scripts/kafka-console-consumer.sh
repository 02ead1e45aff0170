#!/usr/bin/env bash
# Apache Kafka's kafka-console-consumer: from $KAFKA_HOME/bin if set, else the embedded jars.
#   scripts/kafka-console-consumer.sh --topic f1-speed-stream --from-beginning --max-messages 5
exec "$(dirname "$0")/_kafka_tool.sh" kafka-console-consumer "$@"
