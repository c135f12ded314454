#!/usr/bin/env bash
# libFuzzer run over DejaCore's readers of untrusted bytes: JSON parser, base64 decoder, PNG reader (with
# and without CRC repair), JPEG reader and EXIF reader. The first byte of an input selects the reader.
#
#   scripts/fuzz.sh            # 60 s
#   scripts/fuzz.sh 3600       # an hour; crashes are written to Fuzz/artifacts/
#
# Builds Fuzz/ (a separate package, so CI does not build it) with -sanitize=fuzzer, writes a seed corpus
# of tiny valid inputs to Fuzz/corpus/ (kept between runs, so long runs build on earlier ones) and runs
# with -max_total_time, -rss_limit_mb=2048 and -timeout=5.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
FUZZ=Fuzz
CORPUS=$FUZZ/corpus
ARTIFACTS=$FUZZ/artifacts
mkdir -p "$CORPUS" "$ARTIFACTS"

start=$(date +%s)
swift build --package-path "$FUZZ" -c debug -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library
echo "fuzz build: $(( $(date +%s) - start )) s"
BIN=$(swift build --package-path "$FUZZ" -c debug -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library --show-bin-path)/DejaFuzz

# Seeds: selector byte + input. Generated with Python's standard library (zlib) and the JPEG test fixtures.
python3 - "$CORPUS" Tests/DejaCoreTests/Fixtures <<'PY'
import base64, os, struct, sys, zlib
corpus, fixtures = sys.argv[1], sys.argv[2]
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
def png(width, height, depth, colour, rows, interlace=0, extra=b"", plte=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    raw = b"".join(bytes([i % 5]) + r for i, r in enumerate(rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + (chunk(b"PLTE", plte) if plte else b"")
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
seeds = {
    "json-object": b"\x00" + b'{"file": "QUJD", "fileType": 1, "n": [1.5e3, -0, "\\u00e9"], "o": {"a": null}}',
    "json-nested": b"\x00" + b'[[[{"a": "\\ud83d\\ude00", "b": 12345678901234567890}]]]',
    "base64-mime": b"\x01" + base64.encodebytes(bytes(range(200))),
    "base64-url": b"\x01" + base64.urlsafe_b64encode(bytes(range(100))).rstrip(b"="),
    "exif-be": b"\x05" + b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00",
}
rgb = png(5, 4, 8, 2, [bytes((x * 40 + y) % 256 for x in range(15)) for y in range(4)], extra=chunk(b"tEXt", b"a\x00b"))
pal = png(9, 3, 2, 3, [bytes([0x1B, 0xE4, 0x40]) for _ in range(3)], plte=bytes(range(12)))
grey16 = png(3, 3, 16, 0, [bytes(6) for _ in range(3)], interlace=1)
for name, data in [("png-rgb", rgb), ("png-palette", pal), ("png-grey16-adam7", grey16)]:
    seeds[name] = b"\x02" + data[8:]
    seeds[name + "-crc"] = b"\x03" + data[8:]
for name in ["base-q90.jpg", "progressive-q90.jpg", "restart-q90.jpg"]:
    with open(os.path.join(fixtures, name), "rb") as f:
        seeds["jpeg-" + name] = b"\x04" + f.read()[2:]
for name, data in seeds.items():
    with open(os.path.join(corpus, "seed-" + name), "wb") as f:
        f.write(data)
PY

"$BIN" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -timeout=5 -max_len=65536 \
  -artifact_prefix="$ARTIFACTS/" -print_final_stats=1
