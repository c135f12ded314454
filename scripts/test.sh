#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs the Swift suites, then the
# integration suites against the real PP-OCRv4 worker and the real `deja` binary.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DEJA_WORKER_VENV:-$REPO/.venv-worker}
export DEJA_WORKER_VENV=$VENV

step() { printf '\n==> %s\n' "$*"; }

step "installing the worker's environment (apt fonts, Python venv with paddlepaddle + rapidocr_paddle)"
bash worker/install.sh

step "building (debug, with tests)"
swift build --build-tests

step "Swift tests (unit, protocol, in-process app)"
swift test --skip-build

step "integration tests: real worker + real gateway"
DEJA_BIN="$REPO/.build/debug/deja" "$VENV/bin/python" -m pytest -q -p no:cacheprovider worker/tests tests/integration
