"""Soak run: the gateway under mixed hits, misses and bad input for a fixed time, with a hostile tenant.

Not a test: it reports resident memory at the start and the end, the p99 latency per minute, status
counts per tenant class, and checks what normal tenants must be able to rely on whatever another tenant
does. Started by scripts/soak.sh, which brings up the worker and the gateway.

  python scripts/soak.py GATEWAY_URL NORMAL_KEYS HOSTILE_KEY GATEWAY_PID MINUTES OUT.md

NORMAL_KEYS is a comma-separated list of API keys, one per normal tenant (8 client threads are shared
out among them); HOSTILE_KEY is the hostile tenant's. The hostile tenant (9 client threads) is active in
every other 10-second window (off, on, off, ...), so the normal tenants' latency with and without it can
be compared within one run. It sends:

  poison       PNGs of shapes that used to crash the model server (1x3000, 3000x1, 3000x24, 10000x8, ...)
  rejected     bodies the model server rejects with a 4xx (useDocUnwarping: true, fileType 0, ...)
  unicode      200 KB of U+0958 (which NFC expands to two code points) in an option member
  no-cache     `Cache-Control: no-cache` repeats of bodies the normal tenants use
  idempotency  an Idempotency-Key reused with different bodies; the key strings are the ones the
               normal tenants are about to use for their own misses
  bogus-key    made-up, malformed or missing API keys

Exits non-zero when a check fails: a normal tenant saw a 5xx or a wrong answer (an answer or a key that
differs from the first one for the same body), the hostile tenant got a 500/502/504, an answer replayed
for a different body, or past authentication with a bogus key, or the normal tenants' hit latency was
not comparable with and without the hostile tenant.
"""
import base64
import hashlib
import io
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request

from PIL import Image, ImageDraw

url, normal_keys, hostile_key = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
pid, minutes, out = int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]

WINDOW_SECONDS = 10       # the hostile tenant is on in odd windows
NORMAL_THREADS = 8
# The hostile tenant's clients: what each sends, and its pause between requests (seconds). Requests that
# reach the model wait for it, so cheap and expensive attacks get clients of their own.
HOSTILE_CLIENTS = [
    (("bogus-key",), 0.02),
    *[(("poison",), 0.0)] * 5,  # five at once used to open the shared breaker
    (("rejected", "unicode"), 0.0),
    (("no-cache",), 0.0),
    (("idempotency",), 0.0),
]
# Normal tenants' hit latency with the hostile tenant on may be at most this much worse than without it.
P50_FACTOR, P50_SLACK_MS = 2.0, 1.0
P99_FACTOR, P99_SLACK_MS = 3.0, 10.0
MIN_SAMPLES = 50


def image(text: str, size: tuple[int, int] = (360, 60)) -> bytes:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((10, 20), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def plain_png(width: int, height: int, colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def body(data: bytes, **options) -> bytes:
    return json.dumps({"file": base64.b64encode(data).decode(), "fileType": 1, **options}).encode()


HOT = [body(image(f"INVOICE 2026-{n:04d}")) for n in range(20)]
BAD = [b"{", b'{"file": 1}', b'{"file": "!!!"}', b"[]", b'{"file": "aGk=", "file": "aGk="}']
# Shapes that made the model server answer 500 (a side rounded to 0 px in its resize) or build a
# 16-Mpx detector input (1x32); none is larger than a few hundred bytes.
POISON = [body(plain_png(w, h, colour))
          for w, h in ((1, 3000), (3000, 1), (2, 3000), (3000, 24), (10000, 8), (8, 10000))
          for colour in ("white", "black", (128, 128, 128))] + [body(plain_png(1, 32, "white"))]
SMALL = image("HOSTILE")
REJECTED = [body(SMALL, useDocUnwarping=True), body(SMALL, fileType=0), body(SMALL, returnWordBox=True),
            body(SMALL, textDetLimitSideLen=5000)]
QA = "\u0958" * (200_000 // 3)  # 200 KB of UTF-8; NFC decomposes each into U+0915 U+093C
UNICODE = [body(SMALL, textDetLimitType=QA), body(SMALL, comment=QA), body(image("UNICODE"), note=QA + "x")]


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def post(payload: bytes, key: str | None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url + "/ocr", data=payload, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    if key is not None:
        request.add_header("Authorization", key if " " in key else f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 599, {"x-soak-error": type(error).__name__}, b""


def answer_of(raw: bytes) -> str:
    """The answer without its volatile logId, for comparisons."""
    try:
        value = json.loads(raw)
    except ValueError:
        return "<not json>"
    if isinstance(value, dict):
        value.pop("logId", None)
    return json.dumps(value, sort_keys=True)


def rss_kib() -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


lock = threading.Lock()
# (started, seconds, tenant class, tenant or action, status, x-deja-cache, hostile window on?)
samples: list[tuple[float, float, str, str, int, str, bool]] = []
reference: dict[str, tuple[str, str]] = {}   # body digest -> (x-deja-key, answer) of its first 200
problems: dict[str, list[str]] = {}          # check name -> what went wrong
miss_counter = [0]
hostile_counter = [0]
hostile_idem_sent: dict[str, set[str]] = {}  # Idempotency-Key -> digests of the bodies the hostile sent with it


def problem(check: str, what: str) -> None:
    with lock:
        problems.setdefault(check, []).append(what)


def hostile_on(now: float) -> bool:
    return int((now - t0) // WINDOW_SECONDS) % 2 == 1


def check_answer(check: str, payload: bytes, status: int, headers: dict, raw: bytes, who: str,
                 size: tuple[int, int] | None = None) -> None:
    """A 200 for the same body always carries the same key and the same answer (and, with `size`, is
    the answer for an image of that size)."""
    if status != 200:
        return
    if size is not None:
        try:
            info = json.loads(raw)["result"]["dataInfo"]
            got = (info["width"], info["height"])
        except (ValueError, KeyError, TypeError):
            got = None
        if got != size:
            problem(check, f"{who}: the answer for a {size[0]}x{size[1]} image describes {got} "
                           f"({headers.get('x-deja-cache')}, replay={headers.get('x-deja-idempotent-replay')})")
    seen = (headers.get("x-deja-key", ""), answer_of(raw))
    with lock:
        first = reference.setdefault(digest(payload), seen)
    if seen[0] != first[0]:
        problem(check, f"{who}: key {seen[0][:12]}… for a body first answered under {first[0][:12]}… "
                       f"({headers.get('x-deja-cache')})")
    elif seen[1] != first[1]:
        problem(check, f"{who}: a different answer for the same body ({headers.get('x-deja-cache')})")


def record(started: float, klass: str, who: str, status: int, headers: dict) -> None:
    with lock:
        samples.append((started, time.monotonic() - started, klass, who, status,
                        headers.get("x-deja-cache", "") or "error", hostile_on(started)))


def normal_loop(index: int) -> None:
    key = normal_keys[index % len(normal_keys)]
    tenant = f"normal-{index % len(normal_keys) + 1}"
    rnd = random.Random(index)
    while time.monotonic() < deadline:
        roll = rnd.random()
        headers = {}
        retry = False
        size = None
        if roll < 0.85:
            payload = rnd.choice(HOT)
        elif roll < 0.90:
            with lock:
                miss_counter[0] += 1
                n = miss_counter[0]
            payload, size = body(image(f"SOAK MISS {n}")), (360, 60)
            if n % 2 == 0:  # half the misses carry an Idempotency-Key; some are retried with it
                headers["Idempotency-Key"] = f"idem-{n}"
                retry = rnd.random() < 0.3
        else:
            payload = rnd.choice(BAD)
        for attempt in range(2 if retry else 1):
            started = time.monotonic()
            status, response_headers, raw = post(payload, key, headers)
            record(started, "normal", tenant, status, response_headers)
            if status >= 500:
                problem("normal tenants: no 5xx", f"{tenant}: {status} {raw[:120]!r}")
            if attempt == 0 and response_headers.get("x-deja-idempotent-replay") == "true":
                # normal tenants never reuse a key: a replay on the first send is someone else's answer
                problem("normal tenants: same body, same key and answer",
                        f"{tenant}: a replay on the first use of {headers.get('Idempotency-Key')}")
            check_answer("normal tenants: same body, same key and answer", payload, status, response_headers,
                         raw, tenant, size)


def bogus_key(rnd: random.Random) -> str | None:
    return rnd.choice([
        f"deja_{rnd.getrandbits(128):032x}",
        "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(200)),
        "Basic " + base64.b64encode(b"tenant:secret").decode(),
        "Bearer ",
        hostile_key[:-1] + ("0" if hostile_key[-1] != "0" else "1"),
        None,
    ])


IDEM_CHECK = "Idempotency-Key: never an answer stored for another body or another tenant"


def hostile_loop(index: int, actions: tuple[str, ...], pause: float) -> None:
    """One hostile client: picks among `actions` at random, at most one request per `pause` seconds."""
    rnd = random.Random(1000 + index)
    while time.monotonic() < deadline:
        if not hostile_on(time.monotonic()):
            time.sleep(0.1)
            continue
        time.sleep(pause)
        action = rnd.choice(actions)
        key, headers, earlier, idem = hostile_key, {}, set(), ""
        if action == "bogus-key":
            payload, key = rnd.choice(HOT), bogus_key(rnd)
        elif action == "poison":
            payload = rnd.choice(POISON)
        elif action == "rejected":
            payload = rnd.choice(REJECTED)
        elif action == "unicode":
            payload = rnd.choice(UNICODE)
        elif action == "no-cache":
            payload = rnd.choice(HOT)
            headers["Cache-Control"] = "no-cache"
        else:  # idempotency
            with lock:
                hostile_counter[0] += 1
                n = hostile_counter[0]
                used = list(hostile_idem_sent)
                ahead = (miss_counter[0] // 2 + rnd.randint(1, 20)) * 2
            fresh = body(image(f"HOSTILE {n}", (300, 50)))  # not the normal tenants' size
            if used and rnd.random() < 0.6:  # reuse one of its keys with another body
                idem = rnd.choice(used)
                payload = rnd.choice([fresh, rnd.choice(HOT), rnd.choice(POISON)])
            else:  # take a key string a normal tenant is about to use for one of its misses
                idem, payload = f"idem-{ahead}", fresh
            with lock:
                earlier = set(hostile_idem_sent.get(idem, ()))
                hostile_idem_sent.setdefault(idem, set()).add(digest(payload))
            headers["Idempotency-Key"] = idem
        started = time.monotonic()
        status, response_headers, raw = post(payload, key, headers)
        record(started, "hostile", action, status, response_headers)
        if status in (500, 502, 504, 599):
            problem("hostile tenant: no 500/502/504", f"{action}: {status} {raw[:120]!r}")
        if action == "bogus-key" and status < 400:
            problem("bogus keys: never past authentication", f"{status} with key {str(key)[:16]!r}…")
        if action == "rejected" and 200 <= status < 300:
            problem("rejected bodies: 4xx", f"{status} for a body the model server rejects")
        if action == "no-cache":
            check_answer("no-cache repeats: the same answer", payload, status, response_headers, raw, "hostile")
        if action == "poison":
            check_answer("hostile answers: same body, same key and answer", payload, status, response_headers,
                         raw, "hostile")
        if action == "idempotency":
            if response_headers.get("x-deja-idempotent-replay") == "true":
                # A replay must be the answer to this very body, stored by an earlier send of it.
                with lock:
                    expected = reference.get(digest(payload))
                if not earlier:
                    problem(IDEM_CHECK, f"{idem}: a replay on the hostile's first use of the key: another "
                                        f"tenant's answer ({status})")
                elif expected is None or expected[0] != response_headers.get("x-deja-key"):
                    problem(IDEM_CHECK, f"{idem}: the answer stored for another body was replayed ({status})")
            else:
                check_answer("hostile answers: same body, same key and answer", payload, status,
                             response_headers, raw, "hostile")

for payload in HOT:  # prime: the first of each is a miss
    status, headers, raw = post(payload, normal_keys[0])
    check_answer("normal tenants: same body, same key and answer", payload, status, headers, raw, "prime")

t0 = time.monotonic()
deadline = t0 + minutes * 60
rss_start = rss_kib()
threads = [threading.Thread(target=normal_loop, args=(i,)) for i in range(NORMAL_THREADS)]
threads += [threading.Thread(target=hostile_loop, args=(i, actions, pause))
            for i, (actions, pause) in enumerate(HOSTILE_CLIENTS)]
for thread in threads:
    thread.start()
rss_samples = []
while any(thread.is_alive() for thread in threads):
    time.sleep(5)
    rss_samples.append(rss_kib())
for thread in threads:
    thread.join()
rss_end = rss_kib()


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def counts(rows) -> str:
    tally: dict[int, int] = {}
    for row in rows:
        tally[row[4]] = tally.get(row[4], 0) + 1
    return ", ".join(f"{status}: {n}" for status, n in sorted(tally.items())) or "—"


normal = [s for s in samples if s[2] == "normal"]
hostile = [s for s in samples if s[2] == "hostile"]
lines = ["# Deja soak run", "",
         f"{minutes:g} minutes on loopback. Normal tenants ({len(normal_keys)}, {NORMAL_THREADS} client threads): "
         "85 % repeats of 20 images, 5 % new images (misses through the real PP-OCRv4 worker, half with an "
         "Idempotency-Key, some retried), 10 % malformed requests. A hostile tenant "
         f"({len(HOSTILE_CLIENTS)} threads) in every other {WINDOW_SECONDS}-second window: poison shapes, bodies the "
         "worker rejects, 200 KB Unicode option values, no-cache repeats, a reused Idempotency-Key with "
         "other bodies, bogus API keys.", "",
         f"Resident memory: {rss_start / 1024:.1f} MiB at the start, {rss_end / 1024:.1f} MiB at the end "
         f"(peak sampled {max(rss_samples or [rss_end]) / 1024:.1f} MiB).", "",
         "## Normal tenants per minute", "",
         "| minute | requests | hits | misses+coalesced | 4xx | 5xx | p50 ms (hits) | p99 ms (hits) | p99 ms (all) "
         "| hostile requests |",
         "|---|---|---|---|---|---|---|---|---|---|"]
buckets: dict[int, list] = {}
for row in samples:
    buckets.setdefault(int((row[0] - t0) // 60), []).append(row)
for minute in sorted(buckets):
    rows = [r for r in buckets[minute] if r[2] == "normal"]
    hits = [r[1] for r in rows if r[5] == "hit"]
    lines.append(f"| {minute + 1} | {len(rows)} | {len(hits)} | {sum(1 for r in rows if r[5] in ('miss', 'coalesced'))} "
                 f"| {sum(1 for r in rows if 400 <= r[4] < 500)} | {sum(1 for r in rows if r[4] >= 500)} "
                 f"| {p(hits, 0.5):.2f} | {p(hits, 0.99):.2f} | {p([r[1] for r in rows], 0.99):.1f} "
                 f"| {sum(1 for r in buckets[minute] if r[2] == 'hostile')} |")

lines += ["", "## Status counts per tenant class", "",
          "| class | requests | statuses | x-deja-cache | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]


def cache_counts(rows) -> str:
    tally: dict[str, int] = {}
    for row in rows:
        tally[row[5]] = tally.get(row[5], 0) + 1
    return ", ".join(f"{k}: {n}" for k, n in sorted(tally.items())) or "—"


for name in sorted({s[3] for s in normal}):
    rows = [s for s in normal if s[3] == name]
    lines.append(f"| {name} | {len(rows)} | {counts(rows)} | {cache_counts(rows)} | {p([r[1] for r in rows], 0.5):.1f} "
                 f"| {p([r[1] for r in rows], 0.99):.1f} |")
for action in ("poison", "rejected", "unicode", "no-cache", "idempotency", "bogus-key"):
    rows = [s for s in hostile if s[3] == action]
    lines.append(f"| hostile {action} | {len(rows)} | {counts(rows)} | {cache_counts(rows)} "
                 f"| {p([r[1] for r in rows], 0.5):.1f} | {p([r[1] for r in rows], 0.99):.1f} |")

lines += ["", "## Normal tenants with the hostile tenant off and on", "",
          "| hostile | hits | p50 ms | p99 ms | misses | p50 ms | p99 ms | 5xx |", "|---|---|---|---|---|---|---|---|"]
latency = {}
for on in (False, True):
    rows = [s for s in normal if s[6] == on]
    hits = [r[1] for r in rows if r[5] == "hit"]
    misses = [r[1] for r in rows if r[5] in ("miss", "coalesced")]
    latency[on] = (hits, p(hits, 0.5), p(hits, 0.99))
    lines.append(f"| {'on' if on else 'off'} | {len(hits)} | {p(hits, 0.5):.2f} | {p(hits, 0.99):.2f} | {len(misses)} "
                 f"| {p(misses, 0.5):.0f} | {p(misses, 0.99):.0f} | {sum(1 for r in rows if r[4] >= 500)} |")
(off_hits, off50, off99), (on_hits, on50, on99) = latency[False], latency[True]
if len(off_hits) < MIN_SAMPLES or len(on_hits) < MIN_SAMPLES:
    problem("normal tenants: hit latency comparable with the hostile tenant on",
            f"too few hits to compare ({len(off_hits)} off, {len(on_hits)} on)")
elif on50 > P50_FACTOR * off50 + P50_SLACK_MS or on99 > P99_FACTOR * off99 + P99_SLACK_MS:
    problem("normal tenants: hit latency comparable with the hostile tenant on",
            f"p50 {off50:.2f} → {on50:.2f} ms, p99 {off99:.2f} → {on99:.2f} ms "
            f"(allowed: p50 ≤ {P50_FACTOR:g}× + {P50_SLACK_MS:g} ms, p99 ≤ {P99_FACTOR:g}× + {P99_SLACK_MS:g} ms)")

checks = ["normal tenants: no 5xx", "normal tenants: same body, same key and answer",
          "normal tenants: hit latency comparable with the hostile tenant on", "hostile tenant: no 500/502/504",
          "rejected bodies: 4xx", "bogus keys: never past authentication", "no-cache repeats: the same answer",
          IDEM_CHECK,
          "hostile answers: same body, same key and answer"]
lines += ["", "## Checks", ""]
for check in checks + sorted(set(problems) - set(checks)):
    found = problems.get(check, [])
    lines.append(f"- {'FAIL' if found else 'pass'}: {check}" + (f" — {len(found)}×, e.g. {found[0]}" if found else ""))
five = sum(1 for s in normal if s[4] >= 500)
lines += ["", f"Total: {len(samples)} requests ({len(normal)} normal, {len(hostile)} hostile), "
              f"{five} server errors seen by normal tenants."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if problems else 0)
