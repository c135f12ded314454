#!/usr/bin/env bash
# Soak run (not a test): worker + gateway (release build) under mixed hits, misses and bad input.
#   scripts/soak.sh [minutes]     # default 10; writes bench-results/soak.md
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
MINUTES=${1:-10}
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
WORK=$(mktemp -d /tmp/deja-soak.XXXXXX)
mkdir -p bench-results
bash worker/install.sh > /dev/null
SCRATCH=${DEJA_SCRATCH_PATH:-$REPO/.build}
swift build -c release --product deja --scratch-path "$SCRATCH" > /dev/null
DEJA=$SCRATCH/release/deja

"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port 18867 > "$WORK/worker.log" 2>&1 &
WORKER_PID=$!
GATEWAY_PID=
cleanup() {
  [ -n "$GATEWAY_PID" ] && kill "$GATEWAY_PID" 2>/dev/null && wait "$GATEWAY_PID" 2>/dev/null
  kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:18867/health > /dev/null 2>&1 && break; sleep 1; done
cat > "$WORK/deja.yaml" <<YAML
server: {host: 127.0.0.1, port: 18081}
storage: {path: $WORK/data, memoryBytes: 33554432}
logLevel: warning
tasks:
  - name: ocr
    upstream: http://127.0.0.1:18867/ocr
    model: {name: PP-OCRv4, version: soak}
    ttlSeconds: 120
YAML
KEY=$("$DEJA" keys create --config "$WORK/deja.yaml" --tenant soak --quiet)
"$DEJA" serve --config "$WORK/deja.yaml" > "$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18081/healthz > /dev/null 2>&1 && break; sleep 0.2; done
"$VENV/bin/python" scripts/soak.py http://127.0.0.1:18081 "$KEY" "$GATEWAY_PID" "$MINUTES" bench-results/soak.md
