#!/usr/bin/env bash
# Makes a ~1 MiB JPEG with Pillow (worker venv), its lossless progressive transcode (jpegtran, from
# libjpeg-turbo-progs, if installed) and a ~1 MiB PDF with pikepdf (pages of text and Flate-compressed noise
# images), and runs the benchmark in release mode.
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
PDF="$WORK/pages.pdf"
"$PY" - "$PDF" <<'PYCODE'
import os, random, sys, zlib
import pikepdf
random.seed(7)
pdf = pikepdf.new()
font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
while True:
    samples = bytes(random.getrandbits(6) + (x % 64) for x in range(200 * 200 * 3))
    image = pikepdf.Stream(pdf, zlib.compress(samples), Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=200,
                           Height=200, BitsPerComponent=8, ColorSpace=pikepdf.Name.DeviceRGB, Filter=pikepdf.Name.FlateDecode)
    text = b"".join(b"BT /F1 9 Tf 20 %d Td (Line %d of page %d: invoice 20261203) Tj ET\n" % (800 - 12 * i, i, len(pdf.pages)) for i in range(60))
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842],
                              Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font), XObject=pikepdf.Dictionary(Im1=image)),
                              Contents=pikepdf.Stream(pdf, text + b"q 200 0 0 200 300 50 cm /Im1 Do Q"))
    pdf.pages.append(pikepdf.Page(page))
    pdf.save(sys.argv[1], object_stream_mode=pikepdf.ObjectStreamMode.generate)
    if os.path.getsize(sys.argv[1]) >= 1 << 20:
        break
PYCODE
swift run -c release DejaBench "${JPEGS[@]}" "$PDF"
