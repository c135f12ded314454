#!/usr/bin/env bash
# Run the Deja OCR worker from its virtualenv (created by worker/install.sh).
#   worker/run.sh --host 127.0.0.1 --port 8866
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="${DEJA_WORKER_VENV:-$REPO/.venv-worker}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "worker/run.sh: no virtualenv at $VENV; run worker/install.sh first" >&2
    exit 1
fi
exec "$VENV/bin/python" "$HERE/server.py" "$@"
