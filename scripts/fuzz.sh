#!/usr/bin/env bash
# libFuzzer over every reader of untrusted bytes, one reader at a time, each with its own corpus:
# json (the JSON parser and the whole canonicaliser), base64, png, png-crc (CRCs repaired so mutations
# reach the inflater and the unfilter), jpeg, jpeg-dct (the DCT coefficient reader on its own), exif, pdf
# (the PDF reader and page digests, after a `%PDF-` prefix), http (the byte-level hit path's reader of
# request heads) and resp (the Redis reply reader).
#
#   scripts/fuzz.sh                          # every reader for 60 s
#   scripts/fuzz.sh --runs 10000000          # every reader for ten million executions
#   scripts/fuzz.sh --seconds 600 json resp  # some readers for ten minutes each
#
# Builds Fuzz/ (a separate package the test command does not build) in release with -sanitize=fuzzer
# and -enable-testing (the entry points are internal). Each reader runs over Fuzz/corpus/<reader>/ (its
# working corpus, not committed: long runs build on earlier ones) and the committed, minimised corpus the
# tests replay, Fuzz/seeds/<reader>.seeds (one file per reader: each input as a 4-byte big-endian length
# and its bytes), with -rss_limit_mb=2048 -timeout=5 -max_len=65536. Crashing inputs land in
# Fuzz/artifacts/. Afterwards the seeds are re-minimised (libFuzzer -merge=1 over seeds and corpus, inputs
# cut to 4 KiB: the smallest set with the same coverage) and a table of executions, rate, peak memory and
# crashes per reader is printed and written to bench-results/fuzz-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=""
SECONDS_EACH=60
READERS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) READERS+=("$1"); shift ;;
    esac
done
[[ ${#READERS[@]} -gt 0 ]] || READERS=(json base64 png png-crc jpeg jpeg-dct exif pdf http resp)
FUZZ=Fuzz
mkdir -p "$FUZZ/corpus" "$FUZZ/artifacts" "$FUZZ/seeds" bench-results

FLAGS=(--package-path "$FUZZ" -c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -enable-testing)
start=$(date +%s)
swift build "${FLAGS[@]}"
echo "fuzz build: $(( $(date +%s) - start )) s"
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)/DejaFuzz

# Tiny valid inputs to start from, per reader: made with Python's standard library, plus the JPEG test
# fixtures. Written to the working corpus only; what proves useful ends up in the seeds by the merge.
python3 - "$FUZZ/corpus" Tests/DejaCoreTests/Fixtures <<'PY'
import base64, os, struct, sys, zlib
corpus, fixtures = sys.argv[1], sys.argv[2]
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
def png(width, height, depth, colour, rows, interlace=0, extra=b"", plte=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    raw = b"".join(bytes([i % 5]) + r for i, r in enumerate(rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + (chunk(b"PLTE", plte) if plte else b"")
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
rgb = png(5, 4, 8, 2, [bytes((x * 40 + y) % 256 for x in range(15)) for y in range(4)], extra=chunk(b"tEXt", b"a\x00b"))
pal = png(9, 3, 2, 3, [bytes([0x1B, 0xE4, 0x40]) for _ in range(3)], plte=bytes(range(12)))
grey16 = png(3, 3, 16, 0, [bytes(6) for _ in range(3)], interlace=1)
jpegs = {}
for name in ["base-q90.jpg", "progressive-q90.jpg", "restart-q90.jpg", "cmyk-adobe.jpg", "pillow-exif-orientation6.jpg",
             "transcode-420-progressive-restart2b.jpg", "transcode-422-progressive.jpg", "transcode-grey-progressive.jpg"]:
    with open(os.path.join(fixtures, name), "rb") as f:
        jpegs[name] = f.read()[2:]
tiny_png = base64.b64encode(rgb).decode()
def pdf(objects, trailer=b"", xref_stream=False, packed=False):
    """A PDF without its "%PDF-" (the pdf reader adds it): objects {n: bytes}, a classic table or an
    /XRef stream (Flate, PNG Up predictor), non-stream objects optionally in one object stream."""
    out, offsets, where = bytearray(b"1.7\n%\xe2\xe3\xcf\xd3\n"), {}, {}
    size = max(objects) + 1
    if packed:
        plain = {n: o for n, o in objects.items() if b"stream" not in o}
        header = b"".join(b"%d %d " % (n, sum(len(plain[m]) + 1 for m in sorted(plain) if m < n)) for n in sorted(plain))
        body = b"".join(plain[n] + b"\n" for n in sorted(plain))
        data = zlib.compress(header + body)
        objects = {n: o for n, o in objects.items() if n not in plain}
        objects[size] = b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (len(plain), len(header), len(data)) + data + b"\nendstream"
        where = {n: (size, i) for i, n in enumerate(sorted(plain))}
        size += 1
    for n in sorted(objects):
        offsets[n] = len(out) + 5
        out += b"%d 0 obj\n" % n + objects[n] + b"\nendobj\n"
    start = len(out) + 5
    if xref_stream or packed:
        rows, previous = b"", bytes(7)
        for n in range(size + 1):
            row = (bytes([1]) + struct.pack(">IH", start if n == size else offsets[n], 0)) if n in offsets or n == size else \
                  (bytes([2]) + struct.pack(">IH", *where[n])) if n in where else bytes([0, 0, 0, 0, 0, 255, 255])
            rows += b"\x02" + bytes((a - b) % 256 for a, b in zip(row, previous))
            previous = row
        data = zlib.compress(rows)
        out += (b"%d 0 obj\n<< /Type /XRef /W [1 4 2] /Size %d /Root 1 0 R %s /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >> /Length %d >>\nstream\n"
                % (size, size + 1, trailer, len(data)) + data + b"\nendstream\nendobj\n")
    else:
        out += b"xref\n0 %d\n0000000000 65535 f\r\n" % size
        out += b"".join((b"%010d 00000 n\r\n" % offsets[n]) if n in offsets else b"0000000000 00000 f\r\n" for n in range(1, size))
        out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\n" % (size, trailer)
    return bytes(out + b"startxref\n%d\n%%%%EOF\n" % start)
content = zlib.compress(b"BT /F1 24 Tf 20 100 Td (Hello) Tj ET")
pdf_objects = {
    1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [8 0 R] >> >>",
    2: b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 200 200] /Resources << /Font << /F1 5 0 R >> >> >>",
    3: b"<< /Type /Page /Parent 2 0 R /Contents 6 0 R /Annots [8 0 R] /Rotate 90 >>",
    4: b"<< /Type /Page /Parent 2 0 R /Contents [7 0 R 6 0 R] /CropBox [0 0 10.5 +20.] >>",
    5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helve#74ica >>",
    6: b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    7: b"<< /Filter [/ASCIIHexDecode /RunLengthDecode] /Length 14 >>\nstream\n0141428041 80>\nendstream",
    8: b"<< /Type /Annot /Subtype /Text /Rect [0 0 9 9] /P 3 0 R /Popup 9 0 R /Contents (a\\(b\\)\\101) >>",
    9: b"<< /Type /Annot /Subtype /Popup /Parent 8 0 R /T <FEFF0041> /Dest [4 0 R /XYZ null null 0] >>",
}
seeds = {
    "json": {
        "object": b'{"file": "QUJD", "fileType": 1, "n": [1.5e3, -0, "\\u00e9"], "o": {"a": null}}',
        "nested": b'[[[{"a": "\\ud83d\\ude00", "b": 12345678901234567890}]]]',
        "image": ('{"file": "data:image/png;base64,%s", "logId": "x"}' % tiny_png).encode(),
    },
    "base64": {"mime": base64.encodebytes(bytes(range(200))), "url": base64.urlsafe_b64encode(bytes(range(100))).rstrip(b"=")},
    "png": {"rgb": rgb[8:], "palette": pal[8:], "grey16-adam7": grey16[8:]},
    "png-crc": {"rgb": rgb[8:], "palette": pal[8:], "grey16-adam7": grey16[8:]},
    "jpeg": jpegs,
    "jpeg-dct": jpegs,
    "pdf": {
        "table": pdf(pdf_objects, trailer=b"/Info 10 0 R /ID [<01><02>]"),
        "xref-stream": pdf(pdf_objects, xref_stream=True),
        "object-stream": pdf(pdf_objects, packed=True),
    },
    "exif": {
        "be": b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00",
        "le": b"II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00",
    },
    "http": {
        "plain": b"POST /ocr HTTP/1.1\r\nHost: deja\r\nAuthorization: Bearer dj_abc\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"file\":\"QQ\"}",
        "lower": b"POST /v1/sentiment?x=1 HTTP/1.1\r\ncontent-length:2\r\nauthorization:Bearer k\r\ncache-control: no-cache\r\n\r\n{}",
        "declined": b"POST /ocr HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n",
    },
    "resp": {
        "scalars": b"+OK\r\n-ERR no\r\n:42\r\n$5\r\nhello\r\n_\r\n#t\r\n,1.5\r\n(123\r\n!3\r\nbad\r\n=7\r\ntxt:abc\r\n",
        "aggregates": b"*2\r\n$1\r\na\r\n%1\r\n+k\r\n:1\r\n~1\r\n$-1\r\n>3\r\n+message\r\n+ch\r\n$1\r\nx\r\n|1\r\n+ttl\r\n:3\r\n:9\r\n",
        "resp2-nulls": b"*-1\r\n$-1\r\n*3\r\n:1\r\n*1\r\n$0\r\n\r\n$2\r\nok\r\n",
    },
}
for reader, inputs in seeds.items():
    os.makedirs(os.path.join(corpus, reader), exist_ok=True)
    for name, data in inputs.items():
        with open(os.path.join(corpus, reader, "seed-" + name), "wb") as f:
            f.write(data)
PY

# Fuzz/seeds/<reader>.seeds <-> a folder of files, for libFuzzer.
seeds() {
    python3 - "$@" <<'PY'
import os, struct, sys
mode, packed, folder = sys.argv[1:4]
if mode == "unpack":
    os.makedirs(folder, exist_ok=True)
    data = open(packed, "rb").read() if os.path.exists(packed) else b""
    position, index = 0, 0
    while position + 4 <= len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        with open(os.path.join(folder, "seed-%05d" % index), "wb") as f:
            f.write(data[position + 4:position + 4 + length])
        position, index = position + 4 + length, index + 1
else:
    with open(packed, "wb") as out:
        for name in sorted(os.listdir(folder)):
            body = open(os.path.join(folder, name), "rb").read()
            out.write(struct.pack(">I", len(body)) + body)
PY
}

summary="bench-results/fuzz-$(date -u +%Y%m%dT%H%M%SZ).txt"
printf '%-8s %14s %10s %9s %8s %6s\n' reader executions "exec/s" "peak MB" crashes seeds | tee "$summary"
failed=0
for reader in "${READERS[@]}"; do
    mkdir -p "$FUZZ/corpus/$reader"
    rm -rf "$FUZZ/seeds.old.$reader"
    seeds unpack "$FUZZ/seeds/$reader.seeds" "$FUZZ/seeds.old.$reader"
    log="$FUZZ/artifacts/$reader.log"
    limit=(-max_total_time="$SECONDS_EACH")
    [[ -n "$RUNS" ]] && limit=(-runs="$RUNS")
    before=$(ls "$FUZZ/artifacts" | grep -c "^$reader-" || true)
    status=0
    DEJA_FUZZ_READER=$reader "$BIN" "$FUZZ/corpus/$reader" "$FUZZ/seeds.old.$reader" "${limit[@]}" \
        -rss_limit_mb=2048 -timeout=5 -max_len=65536 -artifact_prefix="$FUZZ/artifacts/$reader-" \
        -print_final_stats=1 > "$log" 2>&1 || status=$?
    crashes=$(( $(ls "$FUZZ/artifacts" | grep -c "^$reader-" || true) - before ))
    [[ $status -ne 0 || $crashes -ne 0 ]] && failed=1
    # The smallest set of inputs with the same coverage as the seeds and the working corpus together.
    rm -rf "$FUZZ/seeds.new.$reader"
    mkdir -p "$FUZZ/seeds.new.$reader"
    DEJA_FUZZ_READER=$reader "$BIN" -merge=1 -max_len=4096 "$FUZZ/seeds.new.$reader" "$FUZZ/seeds.old.$reader" "$FUZZ/corpus/$reader" \
        > "$FUZZ/artifacts/$reader.merge.log" 2>&1
    seeds pack "$FUZZ/seeds/$reader.seeds" "$FUZZ/seeds.new.$reader"
    count=$(ls "$FUZZ/seeds.new.$reader" | wc -l)
    rm -rf "$FUZZ/seeds.new.$reader" "$FUZZ/seeds.old.$reader"
    stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
    printf '%-8s %14s %10s %9s %8s %6s\n' "$reader" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
        "$(stat peak_rss_mb)" "$crashes$([[ $status -ne 0 ]] && echo " (exit $status)")" "$count" | tee -a "$summary"
done
echo "written to $summary; logs in $FUZZ/artifacts/"
exit $failed
