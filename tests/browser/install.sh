#!/usr/bin/env bash
# Installs what the dashboard's browser test needs: Debian's Chromium (Playwright's own browser download
# is not reachable from here, so Playwright drives this one through `executable_path`) and Playwright
# from PyPI into the test venv. The CJK font the pages' Chinese labels need comes with worker/install.sh.
#
#   tests/browser/install.sh [VENV]      # default: $DEJA_WORKER_VENV or $REPO/.venv-worker
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${1:-${DEJA_WORKER_VENV:-$REPO/.venv-worker}}
if ! command -v chromium > /dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium > /dev/null 2>&1 \
        || { apt-get update -qq > /dev/null && apt-get install -y -qq --no-install-recommends chromium > /dev/null; }
fi
echo "[browser/install] $(chromium --version 2>/dev/null | head -1)"
source "$REPO/scripts/lib/pip-requirements.sh"
install_requirements browser "$REPO/tests/browser/requirements.txt" "$VENV"
