#!/usr/bin/env bash
# Installs what the deployment checks need into the test venv: Helm as a library (helm-python-sdk,
# which renders charts offline) and kubernetes-validate (Kubernetes' OpenAPI schemas, bundled).
#
#   tests/deploy/install.sh [VENV]      # default: $DEJA_WORKER_VENV or $REPO/.venv-worker
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${1:-${DEJA_WORKER_VENV:-$REPO/.venv-worker}}
source "$REPO/scripts/lib/pip-requirements.sh"
install_requirements deploy "$REPO/tests/deploy/requirements.txt" "$VENV"
