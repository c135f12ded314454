#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, starts real Redis (standalone and a
# 6-node cluster) and PostgreSQL on loopback, runs the Swift suites, then the integration suites
# against the real PP-OCRv4 worker and the real `deja` binary, and stops every server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
export DEJA_WORKER_VENV=$VENV

step() { printf '\n==> %s\n' "$*"; }
cleanup() {
  bash scripts/redis.sh stop > /dev/null 2>&1 || true
  bash scripts/postgres.sh stop > /dev/null 2>&1 || true
}
trap cleanup EXIT

step "installing the worker's environment (apt fonts, Python venv with paddlepaddle + rapidocr_paddle, the sentiment model)"
bash worker/install.sh
step "installing PaddleX 3.7.2's serving schema for the conformance tests (pydantic only)"
bash tests/conformance/install_schema.sh "$VENV"
step "installing the deployment checks (Helm as a library, Kubernetes schemas) into the test venv"
bash tests/deploy/install.sh "$VENV"
step "installing the dashboard's browser test (Debian's headless Chromium, Playwright from PyPI)"
bash tests/browser/install.sh "$VENV"

step "making promtool available for the alert rules check (Debian's prometheus package, binary only)"
if PROMTOOL_DIR=$(bash scripts/promtool.sh); then
  export PATH="$PROMTOOL_DIR:$PATH"
else
  echo "promtool unavailable: test_alert_rules.py checks the rules' structure and metric names only"
fi

step "starting Redis (standalone, TLS, 6-node cluster) and PostgreSQL on 127.0.0.1"
bash scripts/redis.sh start
bash scripts/postgres.sh start
export DEJA_REDIS_URL=redis://127.0.0.1:16379
export DEJA_REDIS_TLS_URL="rediss://localhost:16390?ca=${DEJA_REDIS_DIR:-/tmp/deja-redis}/tls/ca.crt"
export DEJA_REDIS_CLUSTER=127.0.0.1:17000,127.0.0.1:17001,127.0.0.1:17002
export DEJA_POSTGRES_URL=postgres://deja:deja@127.0.0.1:15432/deja

step "building (debug, with tests)"
swift build --build-tests

step "Swift tests (unit, protocol, in-process app, Redis and PostgreSQL integration)"
swift test --skip-build

step "integration tests: real worker + real gateway (dashboard screenshots under .build/test-output/dashboard)"
DEJA_BIN="$REPO/.build/debug/deja" "$VENV/bin/python" -m pytest -q -p no:cacheprovider worker/tests tests/integration tests/deploy

step "a real container: the gateway in an image FROM scratch, built and run by rootful podman"
bash scripts/container-check.sh "$REPO/.build/debug/deja"
