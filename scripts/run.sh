#!/usr/bin/env bash
# The main job: build Deja, install and start the PP-OCRv4 worker, start the gateway on the embedded
# default (memory + SQLite under ./deja-data), and print an API key and a sample request.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
export DEJA_WORKER_VENV=$VENV
CONFIG=${DEJA_CONFIG:-$REPO/deja.example.yaml}
WORKER_PORT=${DEJA_WORKER_PORT:-8866}
mkdir -p run

echo "==> installing the worker's environment"
bash worker/install.sh

echo "==> building deja (release)"
swift build -c release --product deja
DEJA="$REPO/.build/release/deja"

echo "==> starting the worker (PP-OCRv4, sentiment) on 127.0.0.1:$WORKER_PORT (log: run/worker.log)"
"$VENV/bin/python" worker/server.py --host 127.0.0.1 --port "$WORKER_PORT" > run/worker.log 2>&1 &
WORKER_PID=$!
trap 'kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$WORKER_PORT/health" > /dev/null 2>&1 && break
  kill -0 $WORKER_PID 2>/dev/null || { echo "the worker exited; see run/worker.log"; exit 1; }
  sleep 1
done

# The sentiment model is trained at install time; its version is the worker's to say.
export DEJA_TASK_SENTIMENT_MODEL_VERSION=${DEJA_TASK_SENTIMENT_MODEL_VERSION:-$(curl -fsS "http://127.0.0.1:$WORKER_PORT/health" \
  | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["sentimentModel"]["version"])')}

if [ ! -s run/api-key ]; then
  "$DEJA" keys create --config "$CONFIG" --tenant demo --name walkthrough --quiet > run/api-key
fi
KEY=$(cat run/api-key)
"$VENV/bin/python" worker/make_invoice.py --out run/invoice.png
printf '{"file":"%s","fileType":1}' "$(base64 -w0 run/invoice.png)" > run/request.json

cat <<MSG

Deja is starting on http://127.0.0.1:8080 in front of the worker.
  API key (tenant demo): $KEY   (saved in run/api-key)
  Sample request (an invoice, run/request.json) — send it twice: a miss, then a hit billed 0 tokens:

  curl -s -D - -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
       --data-binary @run/request.json http://127.0.0.1:8080/ocr

  Usage: $DEJA usage --config $CONFIG
Ctrl-C stops the gateway and the worker.

MSG
"$DEJA" serve --config "$CONFIG"
