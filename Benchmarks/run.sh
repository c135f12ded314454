#!/usr/bin/env bash
# Makes a ~1 MiB JPEG with Pillow (worker venv) and its lossless progressive transcode (jpegtran, from
# libjpeg-turbo-progs, if installed) and runs the benchmark in release mode.
set -euo pipefail
cd "$(dirname "$0")"
PY=${DEJA_PYTHON:-../.venv-worker/bin/python}
WORK=$(mktemp -d /tmp/deja-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
JPEG="$WORK/baseline.jpg"
"$PY" - "$JPEG" <<'PYCODE'
import random, sys
from PIL import Image
random.seed(7)
w = 1000
for h in range(400, 4000, 40):
    img = Image.effect_noise((w, h), 64).convert("RGB")
    img.save(sys.argv[1], "JPEG", quality=92)
    import os
    if os.path.getsize(sys.argv[1]) >= 1 << 20:
        break
PYCODE
JPEGS=("$JPEG")
if command -v jpegtran >/dev/null 2>&1; then
    jpegtran -copy all -progressive "$JPEG" > "$WORK/progressive.jpg"
    JPEGS+=("$WORK/progressive.jpg")
else
    echo "(jpegtran not found: apt-get install libjpeg-turbo-progs for the progressive row)"
fi
swift run -c release DejaBench "${JPEGS[@]}"
