#!/usr/bin/env bash
# Makes a ~1 MiB JPEG with Pillow (worker venv) and runs the benchmark in release mode.
set -euo pipefail
cd "$(dirname "$0")"
PY=${DEJA_PYTHON:-../.venv-worker/bin/python}
JPEG=$(mktemp /tmp/deja-bench-XXXXXX.jpg)
trap 'rm -f "$JPEG"' EXIT
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
swift run -c release DejaBench "$JPEG"
