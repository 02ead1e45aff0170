#!/usr/bin/env bash
# Create/refresh the project's .venv and everything the pipeline and its tests need.
#   scripts/bootstrap.sh          python deps (pip, editable install)
#   scripts/bootstrap.sh --test   + dev deps, Debian chromium/chromedriver (when root), Kafka jars
# Idempotent: pip only runs when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"f1live needs Python >= 3.11 (found {sys.version.split()[0]})")
PYCHECK

if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
extras="tansu"
[ $want_test = 1 ] && extras="dev,tansu"
stamp=".venv/.f1live-installed-$extras"
hash=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  echo "[bootstrap] installing f1live[$extras] into .venv (first time takes ~1 min)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  echo "$hash" > "$stamp"
fi

if [ $want_test = 1 ]; then
  # Headless browser for the dashboard tests: Debian's chromium + chromedriver (apt only here, guarded).
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "[bootstrap] installing Debian chromium + chromium-driver"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
      echo "[bootstrap] WARNING: chromium/chromedriver missing and not root: browser tests will be skipped" >&2
    fi
  fi
fi

# Apache Kafka jars from Maven Central (cached outside the repo); skipped without Java/Maven.
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  .venv/bin/python -m f1live broker fetch >/dev/null 2>&1 || .venv/bin/python -m f1live broker fetch || true
fi
