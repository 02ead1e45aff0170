#!/usr/bin/env bash
# Shared by scripts/kafka-*.sh: run Kafka tool $1 with the remaining arguments.
set -euo pipefail
tool="$1"; shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${KAFKA_HOME:-}" ]; then
  has_bootstrap=0
  for a in "$@"; do case "$a" in --bootstrap-server*|-h|--help|--version) has_bootstrap=1 ;; esac; done
  if [ $has_bootstrap = 0 ]; then
    set -- --bootstrap-server "${F1LIVE_BOOTSTRAP_SERVERS:-localhost:${KAFKA_PORT:-9092}}" "$@"
  fi
  exec "$KAFKA_HOME/bin/$tool.sh" "$@"
fi
py="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$py" ] || py=python3
exec "$py" -m f1live kafka-tool "$tool" "$@"
