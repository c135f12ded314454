#!/usr/bin/env bash
# Soak run (not a test): worker + gateway (release build) under mixed hits, misses and bad input from
# two normal tenants, and a hostile tenant in every other 10-second window (see scripts/soak.py).
#   scripts/soak.sh [minutes]     # default 10; writes bench-results/soak.md; exits 1 if a check fails
# Ports: DEJA_SOAK_WORKER_PORT (default 18867), DEJA_SOAK_GATEWAY_PORT (default 18081).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
MINUTES=${1:-10}
WORKER_PORT=${DEJA_SOAK_WORKER_PORT:-18867}
GATEWAY_PORT=${DEJA_SOAK_GATEWAY_PORT:-18081}
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
WORK=$(mktemp -d /tmp/deja-soak.XXXXXX)
mkdir -p bench-results
bash worker/install.sh > /dev/null
SCRATCH=${DEJA_SCRATCH_PATH:-$REPO/.build}
swift build -c release --product deja --scratch-path "$SCRATCH" > /dev/null
DEJA=$SCRATCH/release/deja

"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port $WORKER_PORT > "$WORK/worker.log" 2>&1 &
WORKER_PID=$!
GATEWAY_PID=
cleanup() {
  cp "$WORK/worker.log" bench-results/soak-worker.log 2>/dev/null || true
  cp "$WORK/gateway.log" bench-results/soak-gateway.log 2>/dev/null || true
  [ -n "$GATEWAY_PID" ] && kill "$GATEWAY_PID" 2>/dev/null && wait "$GATEWAY_PID" 2>/dev/null
  kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:$WORKER_PORT/health > /dev/null 2>&1 && break; sleep 1; done
cat > "$WORK/deja.yaml" <<YAML
server: {host: 127.0.0.1, port: $GATEWAY_PORT}
storage: {path: $WORK/data, memoryBytes: 33554432}
logLevel: warning
tasks:
  - name: ocr
    upstream: http://127.0.0.1:$WORKER_PORT/ocr
    model: {name: PP-OCRv4, version: soak}
    ttlSeconds: 120
YAML
KEY1=$("$DEJA" keys create --config "$WORK/deja.yaml" --tenant soak-normal-1 --quiet)
KEY2=$("$DEJA" keys create --config "$WORK/deja.yaml" --tenant soak-normal-2 --quiet)
HOSTILE=$("$DEJA" keys create --config "$WORK/deja.yaml" --tenant soak-hostile --quiet)
"$DEJA" serve --config "$WORK/deja.yaml" > "$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$GATEWAY_PORT/healthz > /dev/null 2>&1 && break; sleep 0.2; done
"$VENV/bin/python" scripts/soak.py http://127.0.0.1:$GATEWAY_PORT "$KEY1,$KEY2" "$HOSTILE" "$GATEWAY_PID" "$MINUTES" \
  bench-results/soak.md
