#!/usr/bin/env bash
# Start the Kafka broker for f1live on localhost (seed step: scripts/start_kafka.sh).
#
#   KAFKA_HOME set:   start that Apache Kafka distribution in KRaft mode (broker+controller
#                     in one process) with its own bin/ scripts, formatting storage the first
#                     time, bound to 127.0.0.1:${KAFKA_PORT:-9092}. Data under
#                     ${F1LIVE_RUN_DIR:-runs}/kafka-home/ survives restarts (--fresh wipes it).
#   otherwise:        the embedded Apache Kafka from Maven Central jars: `f1live broker start`
#                     on port ${KAFKA_PORT:-9092} (extra arguments are passed on, e.g.
#                     --detach, --fresh, --nodes 3, --broker tansu).
#
# Runs in the foreground; Ctrl-C stops the broker.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
port="${KAFKA_PORT:-9092}"

if [ -z "${KAFKA_HOME:-}" ]; then
  py="${PYTHON:-$repo/.venv/bin/python}"
  [ -x "$py" ] || py=python3
  exec "$py" -m f1live broker start --port "$port" "$@"
fi

fresh=0
for a in "$@"; do
  case "$a" in
    --fresh) fresh=1 ;;
    *) echo "start_kafka.sh: with KAFKA_HOME only --fresh is understood (got $a)" >&2; exit 2 ;;
  esac
done
for s in kafka-storage.sh kafka-server-start.sh; do
  if [ ! -x "$KAFKA_HOME/bin/$s" ]; then
    echo "start_kafka.sh: KAFKA_HOME=$KAFKA_HOME is not an Apache Kafka distribution (no bin/$s)" >&2
    exit 1
  fi
done

controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
run_dir="${F1LIVE_RUN_DIR:-$repo/runs}/kafka-home"
[ $fresh = 1 ] && rm -rf "$run_dir"
mkdir -p "$run_dir/data" "$run_dir/logs"
props="$run_dir/server.properties"
# KRaft combined mode as in the distribution's config/server.properties, but on loopback only.
cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://localhost:$port,CONTROLLER://127.0.0.1:$controller_port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run_dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# 8 instead of 50: the first consumer group (e.g. kafka-console-consumer) joins much faster here
offsets.topic.num.partitions=8
PROPS

export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m}"
export LOG_DIR="$run_dir/logs"
if [ ! -f "$run_dir/data/meta.properties" ]; then
  cluster_id="$("$KAFKA_HOME/bin/kafka-storage.sh" random-uuid)"
  echo "[start_kafka] formatting $run_dir/data (cluster $cluster_id)"
  "$KAFKA_HOME/bin/kafka-storage.sh" format --standalone -t "$cluster_id" -c "$props"
fi
echo "[start_kafka] Apache Kafka from $KAFKA_HOME on localhost:$port (KRaft; logs in $LOG_DIR)"
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$props"
