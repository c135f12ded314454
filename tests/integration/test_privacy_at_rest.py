"""Privacy of stored answers (issue 13), against the real PP-OCRv4 worker, the real `deja` binary and real Redis.

What a user relies on: a copy of the gateway's storage (the SQLite files, a Redis dump) shows nothing of
what the model read — it is sealed under a server secret and a digest of the request that is stored nowhere —
while the gateway itself, and `deja explain --stored` given the same request, still open it. Personal data
the model read (ID numbers, mobile numbers, bank cards) is stored masked or not at all, as each task says.
The store must not be able to pass these tests by storing nothing: each one also shows, through a hit or
`explain --stored`, that the answer is really there.

The invoices carry SYNTHETIC personal data (make_invoice.py --buyer-id/--phone/--bank-card): an ID whose
GB 11643 check character is right and whose birth date is valid, a card number that passes Luhn. PP-OCRv4
reads all three exactly on the 800 px invoice (checked again by every test through the miss's answer).
"""
import base64
import json
import os
import re
import socket
import sqlite3
import stat
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import Gateway, http, ocr_body

REDIS = os.environ.get("DEJA_REDIS_URL")

ID_NUMBER = "110105199003071239"   # Beijing Chaoyang, born 1990-03-07, sequence 123, check character 9
ID_MASKED = "110105********1239"   # first 6 and last 4 kept
PHONE = "13912345678"
PHONE_MASKED = "139****5678"       # first 3 and last 4 kept
BANK_CARD = "6222021234567894"     # Luhn check digit 4

NO_SECRETS = {"DEJA_SEAL_SECRETS": None, "DEJA_SEAL_SECRETS_FILE": None}
ALL_STORE = {kind: "store" for kind in ("idNumber", "creditCode", "bankCard", "mobile", "email")}

# A number unique to this run: invoices whose pictures (and so whose Redis aliases) no earlier run stored.
RUN = f"{int(time.time()) % 10000:04d}"


# --- secrets -------------------------------------------------------------------------------------------

def secret(name: str) -> str:
    """One line of a secrets file: `<id> <base64 of 32 random bytes>`."""
    return f"{name} {base64.b64encode(os.urandom(32)).decode()}"


def secrets_file(path: Path, *lines: str) -> Path:
    """Writes a secrets file (mode 0600), a comment and a blank line among the entries."""
    path.write_text("# Deja seal secrets (the first seals; the others only open)\n\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def sealed_by_file(path: Path) -> dict:
    return {"DEJA_SEAL_SECRETS_FILE": str(path), "DEJA_SEAL_SECRETS": None}


def sealed_by_env(*lines: str) -> dict:
    return {"DEJA_SEAL_SECRETS": ",".join(lines), "DEJA_SEAL_SECRETS_FILE": None}


# --- answers -------------------------------------------------------------------------------------------

def rec_texts(answer: bytes) -> list[str]:
    return [text for page in json.loads(answer)["result"]["ocrResults"] for text in page["prunedResult"]["rec_texts"]]


def personal_invoice(invoices, number: str, **personal) -> bytes:
    return ocr_body(invoices(number, buyer_id=ID_NUMBER, phone=PHONE, **personal))


def read_in_full(answer: bytes) -> list[str]:
    """The miss's texts, after checking the model read the synthetic ID and phone exactly."""
    texts = rec_texts(answer)
    joined = "\n".join(texts)
    assert ID_NUMBER in joined and PHONE in joined, f"PP-OCRv4 did not read the invoice's ID and phone: {texts}"
    return texts


def forms(text: str) -> set[bytes]:
    """`text` as it could appear in storage: UTF-8, and JSON with `\\uXXXX` escapes (lower and upper hex)."""
    escaped = json.dumps(text)[1:-1]
    upper = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), escaped)
    return {text.encode(), escaped.encode(), upper.encode()}


def secrets_of(texts: list[str], *extra: str) -> list[str]:
    """What a dump must not show: every text of the answer of 4 characters or more, and `extra`."""
    return sorted({t for t in texts if len(t) >= 4} | set(extra))


def inflations(blob: bytes) -> list[bytes]:
    """`blob` inflated, where some prefix of it is zlib, gzip or raw deflate (a store may compress)."""
    out = []
    for offset in range(min(len(blob), 8)):
        for wbits in (15, 31, -15):
            try:
                inflated = zlib.decompressobj(wbits).decompress(blob[offset:], 64 << 20)
            except zlib.error:
                continue
            if len(inflated) >= 16:
                out.append(inflated)
    return out


def sqlite_cells(path: Path) -> list[bytes]:
    """Every value of every table of a SQLite database (read from a copy with its -wal), inflated too."""
    cells: list[bytes] = []
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        for suffix in ("", "-wal"):
            source = Path(str(path) + suffix)
            if source.exists():
                Path(str(copy) + suffix).write_bytes(source.read_bytes())
        db = sqlite3.connect(copy)
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        if isinstance(value, str):
                            value = value.encode()
                        if isinstance(value, bytes):
                            cells.append(value)
                            cells.extend(inflations(value))
        finally:
            db.close()
    return cells


def storage_dump(folder: Path) -> dict[str, bytes]:
    """Every file under the storage folder as bytes, and every SQLite cell (inflated where it inflates)."""
    dump = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            dump[str(path.relative_to(folder))] = path.read_bytes()
    for path in sorted(folder.rglob("*.sqlite")):
        for n, cell in enumerate(sqlite_cells(path)):
            dump[f"{path.name} cell {n}"] = cell
    return dump


def assert_nothing_shown(dump: dict[str, bytes], secrets: list[str], where: str) -> None:
    assert dump, f"nothing to search in {where}"
    shown = [(text, name) for text in secrets for form in forms(text) for name, data in dump.items() if form in data]
    assert not shown, f"{where} shows the answer in clear (text, where): {shown[:8]}"


# --- the gateway ---------------------------------------------------------------------------------------

def data_folder(gw: Gateway) -> Path:
    return gw.storage / "data"


def explain_stored(gw: Gateway, body: bytes, tenant: str = "acme"):
    """`deja explain --jsonl --stored` for one request body: the `stored` member (None when nothing is stored)."""
    request = gw.storage / "explain.jsonl"
    request.write_bytes(body + b"\n")
    out = gw.cli("explain", "--route", "/ocr", "--tenant", tenant, "--jsonl", "--stored", str(request))
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0]["line"] == 1 and "error" not in lines[0], lines
    assert {"key", "canonicalForm", "notes", "stored"} <= lines[0].keys(), lines[0].keys()
    return lines[0]["stored"]


def stored_texts(stored: dict) -> str:
    assert stored is not None, "explain --stored finds nothing stored for the request"
    assert stored["status"] == 200, stored
    return "\n".join(rec_texts(stored["body"].encode()))


def metric(gw: Gateway, name: str, **labels: str) -> float:
    """The value of one labelled series in /metrics (0 when absent), whatever the order of its labels."""
    status, _, body = http("GET", gw.url + "/metrics", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    for line in body.decode().splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) == labels:
            return float(match.group(2))
    return 0.0


def start_refused(gw: Gateway) -> tuple[int | None, str]:
    """Starts `gw` expecting it to refuse: (its exit code, its log). None when it started after all."""
    try:
        gw.start()
    except RuntimeError:
        code = gw.proc.wait(timeout=30)
        gw.proc = None
        gw.log.close()
        return code, gw.log_path.read_text()
    gw.stop()
    return None, gw.log_path.read_text()


# --- (a)–(c) embedded: SQLite cache and ledger ---------------------------------------------------------

def test_a_dump_of_the_storage_folder_shows_nothing_of_a_stored_answer(worker, invoices, tmp_path):
    key_file = secrets_file(tmp_path / "seal.secrets", secret("a"))
    gw = Gateway(worker.url, tmp_path / "g", task={"sensitive": ALL_STORE}, env=sealed_by_file(key_file))
    gw.start()
    try:
        body = personal_invoice(invoices, "20261129-8810")
        status, headers, answer = gw.post(body, headers={"Idempotency-Key": "privacy-at-rest-a"})
        assert status == 200 and headers["x-deja-cache"] == "miss", (status, answer[:300])
        texts = read_in_full(answer)
        status, headers, again = gw.post(body)
        assert status == 200 and headers["x-deja-cache"] == "hit", "the answer was not stored"
        assert rec_texts(again) == texts
        # With the request, the stored answer opens, in full (every kind is `store` here)…
        stored = explain_stored(gw, body)
        assert ID_NUMBER in stored_texts(stored) and PHONE in stored_texts(stored), stored
        assert stored["redacted"] == 0
        # …without it, the cache, the ledger's idempotency record and their -wal/-shm show nothing.
        assert_nothing_shown(storage_dump(data_folder(gw)), secrets_of(texts, ID_NUMBER, PHONE), "the storage folder")
        assert_nothing_shown({"gateway.log": gw.log_path.read_bytes()}, [ID_NUMBER, PHONE], "the gateway log")
    finally:
        gw.stop()


def test_redacted_kinds_are_served_in_full_to_the_miss_and_stored_and_served_masked(worker, invoices, tmp_path):
    key_file = secrets_file(tmp_path / "seal.secrets", secret("a"))
    policy = {**ALL_STORE, "idNumber": "redact", "mobile": "redact"}
    gw = Gateway(worker.url, tmp_path / "g", task={"sensitive": policy}, env=sealed_by_file(key_file))
    gw.start()
    try:
        body = personal_invoice(invoices, "20261129-8820")
        status, headers, answer = gw.post(body)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        texts = read_in_full(answer)  # the caller who paid for the model's answer gets all of it

        status, headers, hit = gw.post(body)
        assert status == 200 and headers["x-deja-cache"] == "hit", headers
        assert int(headers.get("x-deja-redacted", "0")) >= 2, headers
        served = "\n".join(rec_texts(hit))
        assert ID_MASKED in served and PHONE_MASKED in served, served
        assert ID_NUMBER.encode() not in hit and PHONE.encode() not in hit

        stored = explain_stored(gw, body)
        assert stored is not None and stored["redacted"] >= 2, stored
        shown = stored_texts(stored)
        assert ID_MASKED in shown and PHONE_MASKED in shown and ID_NUMBER not in shown and PHONE not in shown, shown
        assert_nothing_shown(storage_dump(data_folder(gw)),
                             secrets_of(texts + rec_texts(hit), ID_NUMBER, PHONE, ID_MASKED, PHONE_MASKED), "the storage folder")
        assert metric(gw, "deja_sensitive_matches_total", task="ocr", kind="idNumber", action="redact") >= 1
        assert metric(gw, "deja_sensitive_matches_total", task="ocr", kind="mobile", action="redact") >= 1

        # Requests that share one model call: only the one that was the miss sees the full answer.
        fresh = personal_invoice(invoices, "20261129-8821")
        calls = worker.ocr_requests()
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(lambda _: gw.post(fresh), range(3)))
        assert worker.ocr_requests() == calls + 1
        assert [s for s, _, _ in results] == [200] * 3
        outcomes = sorted(h["x-deja-cache"] for _, h, _ in results)
        assert outcomes.count("miss") == 1 and set(outcomes) <= {"miss", "coalesced", "hit"}, outcomes
        for _, headers, answer in results:
            if headers["x-deja-cache"] == "miss":
                read_in_full(answer)
            else:
                assert ID_NUMBER.encode() not in answer and PHONE.encode() not in answer, headers["x-deja-cache"]
                assert ID_MASKED in "\n".join(rec_texts(answer)) and int(headers.get("x-deja-redacted", "0")) >= 2
    finally:
        gw.stop()


def test_a_skipped_kind_is_answered_in_full_and_never_stored(worker, invoices, tmp_path):
    key_file = secrets_file(tmp_path / "seal.secrets", secret("a"))
    gw = Gateway(worker.url, tmp_path / "g", task={"sensitive": {**ALL_STORE, "idNumber": "skip"}},
                 env=sealed_by_file(key_file))
    gw.start()
    try:
        body = personal_invoice(invoices, "20261129-8830")
        status, headers, answer = gw.post(body)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        texts = read_in_full(answer)
        calls = worker.ocr_requests()
        status, headers, again = gw.post(body)
        assert status == 200 and headers["x-deja-cache"] == "miss", "an answer holding an ID number was stored"
        assert int(headers["x-deja-billed-tokens"]) > 0 and worker.ocr_requests() == calls + 1
        read_in_full(again)
        assert explain_stored(gw, body) is None
        assert_nothing_shown(storage_dump(data_folder(gw)), secrets_of(texts, ID_NUMBER, PHONE), "the storage folder")
        assert metric(gw, "deja_sensitive_matches_total", task="ocr", kind="idNumber", action="skip") >= 2
    finally:
        gw.stop()


def test_by_default_mobiles_are_stored_masked_and_bank_cards_not_at_all(worker, invoices, tmp_path):
    """No `sensitive` setting: mobile is `redact`, bankCard is `skip` (idNumber `skip`, email `redact`)."""
    gw = Gateway(worker.url, tmp_path / "g", env=sealed_by_file(secrets_file(tmp_path / "seal.secrets", secret("a"))))
    gw.start()
    try:
        phone = ocr_body(invoices("20261129-8840", phone=PHONE))
        status, headers, answer = gw.post(phone)
        assert status == 200 and headers["x-deja-cache"] == "miss" and PHONE in "\n".join(rec_texts(answer)), answer[:300]
        status, headers, hit = gw.post(phone)
        assert status == 200 and headers["x-deja-cache"] == "hit", headers
        assert int(headers.get("x-deja-redacted", "0")) >= 1 and PHONE_MASKED in "\n".join(rec_texts(hit))
        assert PHONE.encode() not in hit

        card = ocr_body(invoices("20261129-8841", bank_card=BANK_CARD))
        status, headers, answer = gw.post(card)
        assert status == 200 and headers["x-deja-cache"] == "miss" and BANK_CARD in "\n".join(rec_texts(answer)), answer[:300]
        status, headers, again = gw.post(card)
        assert status == 200 and headers["x-deja-cache"] == "miss", "an answer holding a bank card number was stored"
        assert int(headers["x-deja-billed-tokens"]) > 0 and BANK_CARD in "\n".join(rec_texts(again))
        assert explain_stored(gw, card) is None
        assert metric(gw, "deja_sensitive_matches_total", task="ocr", kind="bankCard", action="skip") >= 2
        assert metric(gw, "deja_sensitive_matches_total", task="ocr", kind="mobile", action="redact") >= 1
    finally:
        gw.stop()


# --- (d) Redis -----------------------------------------------------------------------------------------

class Redis:
    """A minimal RESP2 client: binary-safe values, no dependency."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=30)
        self.file = self.sock.makefile("rb")
        if parts.password:
            self.call("AUTH", *([parts.username] if parts.username else []), parts.password)
        if parts.path.strip("/"):
            self.call("SELECT", parts.path.strip("/"))

    def call(self, *args):
        encoded = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in encoded))
        return self.read()

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.file.read(int(rest) + 2)[:-2]
        if kind == b"*":
            return None if int(rest) < 0 else [self.read() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")

    def keys(self, pattern: str) -> set[bytes]:
        found, cursor = set(), b"0"
        while True:
            cursor, page = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found.update(page)
            if cursor == b"0":
                return found

    def values(self, key: bytes) -> list[bytes]:
        kind = self.call("TYPE", key)
        reply = {
            b"string": lambda: [self.call("GET", key)],
            b"hash": lambda: self.call("HGETALL", key),
            b"list": lambda: self.call("LRANGE", key, 0, -1),
            b"set": lambda: self.call("SMEMBERS", key),
            b"zset": lambda: self.call("ZRANGE", key, 0, -1, "WITHSCORES"),
            b"stream": lambda: [json.dumps(self.call("XRANGE", key, "-", "+"), default=lambda b: b.hex()).encode()],
        }.get(kind, lambda: [])()
        flat = []
        for value in reply:
            if isinstance(value, bytes):
                flat.append(value)
                flat.extend(inflations(value))
        return flat

    def close(self) -> None:
        self.file.close()
        self.sock.close()


PREFIX = "deja:"  # the gateway's Redis key prefix (RedisStore.Configuration.keyPrefix)


def redis_dump(redis: Redis, keys: set[bytes]) -> dict[str, bytes]:
    return {f"{key.decode(errors='replace')} #{n}": value for key in sorted(keys)
            for n, value in enumerate(redis.values(key))}


def redis_gateway(worker, folder: Path, version: str, env: dict, **task) -> Gateway:
    return Gateway(worker.url, folder, stores={"cache": REDIS},
                   task={"model": {"name": "PP-OCRv4", "version": version}, **task}, env=env)


@pytest.mark.skipif(not REDIS, reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")
def test_a_dump_of_redis_shows_nothing_of_a_stored_answer(worker, invoices, tmp_path):
    version = f"privacy-{RUN}-{int(time.time() * 1000)}"  # a fresh model version: a fresh key space
    redis = Redis(REDIS)
    gw = redis_gateway(worker, tmp_path / "g", version, sealed_by_env(secret("a")), sensitive=ALL_STORE)
    before = redis.keys(PREFIX + "*")
    gw.start()
    try:
        body = personal_invoice(invoices, f"20261129-{RUN}1")
        status, headers, answer = gw.post(body, headers={"Idempotency-Key": "privacy-at-rest-redis"})
        assert status == 200 and headers["x-deja-cache"] == "miss", (status, answer[:300])
        texts = read_in_full(answer)
        assert gw.post(body)[1]["x-deja-cache"] == "hit"
        stored = explain_stored(gw, body)  # read from Redis, opened with the configured secret
        assert ID_NUMBER in stored_texts(stored) and PHONE in stored_texts(stored), stored

        # Only keys this run made are searched: others' entries (and earlier runs') are not this test's.
        new = redis.keys(PREFIX + "*") - before
        entry = headers.get("x-deja-key")
        if entry:
            assert (PREFIX + "e:" + entry).encode() in new, "the entry is not under the gateway's prefix"
        assert new, "nothing was stored in Redis"
        dump = redis_dump(redis, new)
        assert_nothing_shown(dump, secrets_of(texts, ID_NUMBER, PHONE), "Redis")
        if entry:  # a body alias names its entry only sealed
            # The purge index and the list of recently used keys name content keys by design, as the
            # entries' own names do (docs/operations.md, "Security model"); nothing else may.
            by_design = (PREFIX + "i:", PREFIX + "recent")
            assert_nothing_shown({where: value for where, value in dump.items() if not where.startswith(by_design)},
                                 [entry], "Redis (an alias's content key)")
        assert_nothing_shown(storage_dump(data_folder(gw)), secrets_of(texts, ID_NUMBER, PHONE), "the storage folder")
    finally:
        gw.stop()
        redis.close()


@pytest.mark.skipif(not REDIS, reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")
def test_a_gateway_with_redis_and_no_secret_refuses_to_start(worker, tmp_path):
    gw = redis_gateway(worker, tmp_path / "g", "privacy-no-secret", NO_SECRETS)
    code, log = start_refused(gw)
    assert code is not None and code != 0, "a gateway sharing Redis started without a seal secret"
    assert "DEJA_SEAL_SECRETS_FILE" in log, log[-1500:]


# --- (e), (f) secret rotation --------------------------------------------------------------------------

def test_secret_rotation_across_restarts_on_sqlite(worker, invoices, tmp_path):
    a, b = secret("a"), secret("b")
    key_file = tmp_path / "seal.secrets"
    secrets_file(key_file, a)
    gw = Gateway(worker.url, tmp_path / "g", env=sealed_by_file(key_file))
    first, second = ocr_body(invoices("20261129-8850")), ocr_body(invoices("20261129-8851"))
    gw.start()
    try:
        status, headers, _ = gw.post(first)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        gw.stop()

        secrets_file(key_file, b, a)  # B seals from now on; A still opens
        gw.start()
        status, headers, _ = gw.post(first)
        assert status == 200 and headers["x-deja-cache"] == "hit", (status, headers)
        status, headers, _ = gw.post(second)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        gw.stop()

        secrets_file(key_file, b)  # A retired: what it sealed is gone, not an error
        gw.start()
        calls = worker.ocr_requests()
        status, headers, answer = gw.post(first)
        assert status == 200 and headers["x-deja-cache"] == "miss", (status, answer[:300])
        assert int(headers["x-deja-billed-tokens"]) > 0 and worker.ocr_requests() == calls + 1
        status, headers, _ = gw.post(second)
        assert status == 200 and headers["x-deja-cache"] == "hit", (status, headers)
        assert gw.post(first)[1]["x-deja-cache"] == "hit"  # recomputed, and stored again under B
    finally:
        gw.stop()


@pytest.mark.skipif(not REDIS, reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")
def test_secret_rotation_over_two_instances_sharing_redis(worker, invoices, tmp_path):
    a, b, c = secret("a"), secret("b"), secret("c")
    version = f"rotation-{RUN}-{int(time.time() * 1000)}"
    one = redis_gateway(worker, tmp_path / "one", version, sealed_by_env(a))
    two = redis_gateway(worker, tmp_path / "two", version, sealed_by_env(b, a))
    docs = [ocr_body(invoices(f"20261129-{RUN}{n}")) for n in (5, 6, 7)]
    gateways = [one, two]
    for gw in gateways:
        gw.start()
    try:
        def ask(gw: Gateway, body: bytes) -> str:
            status, headers, answer = gw.post(body)
            assert status == 200, (status, answer[:300])  # never an error, whatever the secrets
            return headers["x-deja-cache"]

        assert ask(one, docs[0]) == "miss"  # sealed with A
        assert ask(two, docs[0]) == "hit"   # two opens A's entries
        assert ask(two, docs[1]) == "miss"  # sealed with B
        assert ask(one, docs[1]) == "miss"  # one does not know B: a miss, not an error
        assert ask(two, docs[2]) == "miss"  # sealed with B, never read by one
        one.stop()
        one.env = sealed_by_file(secrets_file(tmp_path / "one.secrets", b, a))
        one.start()
        assert ask(one, docs[2]) == "hit"   # one opens B's entries now
        assert ask(one, docs[0]) == "hit"   # and still A's

        three = redis_gateway(worker, tmp_path / "three", version, sealed_by_env(c))
        gateways.append(three)
        three.start()
        calls = worker.ocr_requests()
        assert ask(three, docs[0]) == "miss" and ask(three, docs[2]) == "miss"
        assert worker.ocr_requests() == calls + 2
    finally:
        for gw in gateways:
            gw.stop()


# --- (g) files -----------------------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_storage_is_private_to_its_user_and_a_readable_config_holding_a_secret_is_warned_about(worker, invoices, tmp_path):
    gw = Gateway(worker.url, tmp_path / "g", env=NO_SECRETS)  # embedded, no secret: it makes its own
    gw.config.chmod(0o644)  # holds adminToken
    gw.start()
    try:
        folder = data_folder(gw)
        generated = folder / "seal.secrets"
        assert generated.is_file(), sorted(p.name for p in folder.iterdir())
        entries = [line.split() for line in generated.read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert entries and len(entries[0]) == 2 and len(base64.b64decode(entries[0][1])) >= 32
        body = ocr_body(invoices("20261129-8870"))
        assert gw.post(body)[1]["x-deja-cache"] == "miss"
        assert mode(folder) == 0o700, oct(mode(folder))
        files = {p.name: mode(p) for p in folder.rglob("*") if p.is_file()}
        assert {"cache.sqlite", "ledger.sqlite", "seal.secrets"} <= files.keys(), files
        assert all(m == 0o600 for m in files.values()), {name: oct(m) for name, m in files.items()}
        assert "readable by other users" in gw.log_path.read_text()
        gw.stop()

        gw.config.chmod(0o600)
        secret_text = generated.read_text()
        seen = gw.log_path.stat().st_size
        gw.start()
        with open(gw.log_path, "rb") as log:
            log.seek(seen)
            assert b"readable by other users" not in log.read()
        assert generated.read_text() == secret_text, "the generated secret changed across a restart"
        assert gw.post(body)[1]["x-deja-cache"] == "hit"  # sealed before the restart, opened after it
    finally:
        gw.stop()


# --- (h) probing ---------------------------------------------------------------------------------------

def test_by_default_one_tenants_answer_is_not_another_tenants_hit(worker, invoices, tmp_path):
    gw = Gateway(worker.url, tmp_path / "g")
    gw.start()
    try:
        body = ocr_body(invoices("20261129-8880"))
        assert gw.post(body, tenant="alice")[1]["x-deja-cache"] == "miss"
        status, headers, _ = gw.post(body, tenant="bob")
        assert status == 200 and headers["x-deja-cache"] == "miss", "the default scope shares answers between tenants"
        assert gw.post(body, tenant="alice")[1]["x-deja-cache"] == "hit"
    finally:
        gw.stop()


def without_log_id(answer: bytes):
    envelope = json.loads(answer)
    envelope.pop("logId", None)
    return envelope


def test_a_shared_hit_tells_another_tenant_neither_age_nor_past_its_budget_that_it_was_cached(worker, invoices, tmp_path):
    gw = Gateway(worker.url, tmp_path / "g", task={"scope": "shared"})
    gw.start()
    try:
        cached = ocr_body(invoices("20261129-8890"))
        assert gw.post(cached, tenant="alice")[1]["x-deja-cache"] == "miss"
        status, headers, _ = gw.post(cached, tenant="bob")
        assert status == 200 and headers["x-deja-cache"] == "hit"
        assert "age" not in headers, "a hit on another tenant's entry tells its age"
        status, headers, _ = gw.post(cached, tenant="alice")
        assert status == 200 and headers["x-deja-cache"] == "hit" and "age" in headers, headers

        gw.key("broke")
        gw.cli("quota", "set", "--tenant", "broke", "--period", "prepaid", "--limit", "0")
        calls = worker.ocr_requests()
        on_cached = gw.post(cached, tenant="broke")
        on_uncached = gw.post(ocr_body(invoices("20261129-8891")), tenant="broke")
        assert worker.ocr_requests() == calls
        assert on_cached[0] == on_uncached[0] == 429, (on_cached[0], on_cached[2][:300], on_uncached[0])
        assert without_log_id(on_cached[2]) == without_log_id(on_uncached[2])
        ignored = {"date", "content-length", "x-deja-key"}
        same = lambda headers: {k: v for k, v in headers.items() if k not in ignored and "log" not in k}  # noqa: E731
        assert same(on_cached[1]) == same(on_uncached[1])
    finally:
        gw.stop()
