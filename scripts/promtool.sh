#!/usr/bin/env bash
# Makes `promtool` available to the alert-rules test (tests/integration/test_alert_rules.py) and prints
# the folder holding it, for PATH. A promtool already on PATH is used as it is; otherwise the binary is
# taken out of Debian's `prometheus` package (apt-get download + dpkg-deb -x into .build/promtool):
# no root, no Prometheus server installed or started. Exits 1 when neither works — the test then skips
# its promtool check and says why; its own structural check of the rules still runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if found=$(command -v promtool 2>/dev/null); then
    dirname "$found"
    exit 0
fi
DEST=$PWD/.build/promtool
if [ ! -x "$DEST/usr/bin/promtool" ]; then
    command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || { echo "no apt-get/dpkg-deb to fetch promtool" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download prometheus >&2) || { echo "apt-get download prometheus failed" >&2; exit 1; }
    mkdir -p "$DEST"
    dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
    mkdir -p "$DEST/usr/bin"
    cp "$work/x/usr/bin/promtool" "$DEST/usr/bin/promtool"
fi
"$DEST/usr/bin/promtool" --version >/dev/null
echo "$DEST/usr/bin"
