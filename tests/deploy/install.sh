#!/usr/bin/env bash
# Installs what the deployment checks need into the test venv: Helm as a library (helm-python-sdk,
# which renders charts offline) and kubernetes-validate (Kubernetes' OpenAPI schemas, bundled).
#
#   tests/deploy/install.sh [VENV]      # default: $DEJA_WORKER_VENV or $REPO/.venv-worker
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${1:-${DEJA_WORKER_VENV:-$REPO/.venv-worker}}
REQ="$REPO/tests/deploy/requirements.txt"
STAMP="$VENV/.deja-deploy-requirements.sha256"
WANT=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "[deploy/install] requirements already installed"
    exit 0
fi
"$VENV/bin/python" -m pip install -q -r "$REQ"
echo "$WANT" > "$STAMP"
echo "[deploy/install] installed $(tr '\n' ' ' < "$REQ")"
