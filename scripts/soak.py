"""Soak run: the gateway under mixed hits, misses and bad input for a fixed time.

Not a test: it reports resident memory at the start and the end and the p99 latency per minute.
Started by scripts/soak.sh, which brings up the worker and the gateway.

  python scripts/soak.py GATEWAY_URL API_KEY GATEWAY_PID MINUTES OUT.md
"""
import base64
import io
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request

from PIL import Image, ImageDraw

url, key, pid, minutes, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
random.seed(42)


def image(text: str) -> bytes:
    img = Image.new("RGB", (360, 60), "white")
    ImageDraw.Draw(img).text((10, 20), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def body(data: bytes) -> bytes:
    return json.dumps({"file": base64.b64encode(data).decode(), "fileType": 1}).encode()


HOT = [body(image(f"INVOICE 2026-{n:04d}")) for n in range(20)]
BAD = [b"{", b'{"file": 1}', b'{"file": "!!!"}', b"[]", b'{"file": "aGk=", "file": "aGk="}']


def post(payload: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url + "/ocr", data=payload, method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return response.status, response.headers.get("x-deja-cache", "")
    except urllib.error.HTTPError as error:
        error.read()
        return error.code, error.headers.get("x-deja-cache", "") or "error"


def rss_kib() -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


for payload in HOT:  # prime: the first of each is a miss
    post(payload)

lock = threading.Lock()
samples: list[tuple[float, float, int, str]] = []  # (time, seconds, status, outcome)
deadline = time.monotonic() + minutes * 60
miss_counter = [0]


def worker_loop() -> None:
    while time.monotonic() < deadline:
        roll = random.random()
        if roll < 0.85:
            payload = random.choice(HOT)
        elif roll < 0.90:
            with lock:
                miss_counter[0] += 1
                n = miss_counter[0]
            payload = body(image(f"SOAK MISS {n}"))
        else:
            payload = random.choice(BAD)
        started = time.monotonic()
        status, outcome = post(payload)
        with lock:
            samples.append((started, time.monotonic() - started, status, outcome))


rss_start = rss_kib()
t0 = time.monotonic()
threads = [threading.Thread(target=worker_loop) for _ in range(8)]
for thread in threads:
    thread.start()
rss_by_minute = []
while any(thread.is_alive() for thread in threads):
    time.sleep(5)
    rss_by_minute.append((time.monotonic() - t0, rss_kib()))
for thread in threads:
    thread.join()
rss_end = rss_kib()


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


lines = ["# Deja soak run", "",
         f"{minutes:g} minutes, 8 client threads on loopback, 85 % repeats of 20 images, 5 % new images (misses "
         "through the real PP-OCRv4 worker), 10 % malformed requests.", "",
         f"Resident memory: {rss_start / 1024:.1f} MiB at the start, {rss_end / 1024:.1f} MiB at the end "
         f"(peak sampled {max(r for _, r in rss_by_minute) / 1024:.1f} MiB).", "",
         "| minute | requests | hits | misses+coalesced | 4xx | 5xx | p50 ms (hits) | p99 ms (hits) | p99 ms (all) |",
         "|---|---|---|---|---|---|---|---|---|"]
buckets: dict[int, list] = {}
for started, seconds, status, outcome in samples:
    buckets.setdefault(int((started - t0) // 60), []).append((seconds, status, outcome))
for minute in sorted(buckets):
    rows = buckets[minute]
    hits = [s for s, st, o in rows if o == "hit"]
    lines.append(f"| {minute + 1} | {len(rows)} | {len(hits)} | {sum(1 for _, _, o in rows if o in ('miss', 'coalesced'))} "
                 f"| {sum(1 for _, st, _ in rows if 400 <= st < 500)} | {sum(1 for _, st, _ in rows if st >= 500)} "
                 f"| {p(hits, 0.5):.2f} | {p(hits, 0.99):.2f} | {p([s for s, _, _ in rows], 0.99):.1f} |")
five = sum(1 for _, _, st, _ in samples if st >= 500)
lines += ["", f"Total: {len(samples)} requests, {five} server errors."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
