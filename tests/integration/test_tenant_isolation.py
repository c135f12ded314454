"""Hostile tenants: what one tenant does must not cost, block or change the answers of another.

Most of these need a model server that behaves in ways the real PP-OCRv4 worker never does: fail with
a 5xx on one particular input and only on it, answer 429, give a different answer to the same input,
or take a set time. That is a protocol edge case, so a small fake PaddleX server (below) stands in;
everything else is the real `deja` binary over real sockets.
"""
import base64
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Gateway, http


class FakeModel:
    """A PaddleX-style OCR server whose behaviour is chosen by the bytes of the input file.

    `POISON…` → 500, `REJECT…` → 422, `BUSY…` → 429, `SLOW…` → 200 after `slow_seconds`, anything else
    → 200. Every answer names the call's number, so two answers to one input differ (a model that is
    not deterministic). `calls` lists the inputs in the order they arrived.
    """

    def __init__(self, slow_seconds: float = 0.3):
        self.calls: list[bytes] = []
        self.lock = threading.Lock()
        self.slow_seconds = slow_seconds
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def reply(self, status: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.reply(200, {"status": "ok"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = base64.b64decode(body["file"])
                with fake.lock:
                    fake.calls.append(data)
                    number = len(fake.calls)
                if data.startswith(b"POISON"):
                    return self.reply(500, {"logId": "x", "errorCode": 500, "errorMsg": "inference crashed"})
                if data.startswith(b"REJECT"):
                    return self.reply(422, {"logId": "x", "errorCode": 422, "errorMsg": "Invalid input file"})
                if data.startswith(b"BUSY"):
                    return self.reply(429, {"logId": "x", "errorCode": 429, "errorMsg": "Too many requests"})
                if data.startswith(b"SLOW"):
                    time.sleep(fake.slow_seconds)
                self.reply(200, {"logId": "x", "errorCode": 0, "errorMsg": "Success", "result": {
                    "ocrResults": [{"prunedResult": {"rec_texts": [f"call {number}"], "rec_scores": [0.99]}}],
                    "dataInfo": {"width": 1, "height": 1, "type": "image"}}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, data: bytes) -> int:
        with self.lock:
            return self.calls.count(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    model = FakeModel()
    yield model
    model.close()


def start(fake: FakeModel, tmp_path, **task) -> Gateway:
    gw = Gateway(fake.url, tmp_path, task={"healthCheckSeconds": 0, "breakerFailures": 3, "breakerOpenSeconds": 30, **task})
    gw.start()
    return gw


def body(data: bytes, **extra) -> bytes:
    return json.dumps({"file": base64.b64encode(data).decode(), "fileType": 1, **extra}).encode()


def text_of(answer: bytes) -> str:
    return json.loads(answer)["result"]["ocrResults"][0]["prunedResult"]["rec_texts"][0]


def readiness(gw: Gateway) -> dict:
    return json.loads(http("GET", gw.url + "/readyz")[2])


def key_id(gw: Gateway, tenant: str) -> str:
    gw.key(tenant)
    listing = gw.cli("keys", "list", "--tenant", tenant)
    return re.search(r"key_[0-9a-f]{12}", listing).group(0)


def test_one_tenants_poison_neither_opens_the_breaker_nor_reaches_the_model_twice(fake, tmp_path):
    gw = start(fake, tmp_path)
    try:
        for n in range(6):  # twice the breaker's threshold, each a different input
            poison = f"POISON-{n}".encode()
            for attempt in range(3):
                status, headers, answer = gw.post(body(poison), tenant="mallory")
                assert status == 502, (n, attempt, status, answer)
                assert headers["x-deja-billed-tokens"] == "0"
            assert fake.count(poison) == 1, "a repeat of an input the model just failed on must not reach it again"
        status, headers, answer = gw.post(body(b"an honest invoice"), tenant="alice")
        assert status == 200 and headers["x-deja-cache"] == "miss", (status, answer)
        ready = readiness(gw)
        assert ready["checks"]["upstream.ocr"] == "ok", ready
        log = gw.log_path.read_text()
        failing = [line for line in log.splitlines() if "task request failed" in line]
        assert failing and all("mallory" in line and key_id(gw, "mallory") in line for line in failing), failing[:3]
    finally:
        gw.stop()


def test_failures_spread_over_tenants_open_the_breaker_and_readyz_says_so(fake, tmp_path):
    gw = start(fake, tmp_path)
    try:
        for tenant, n in [("mallory", 1), ("mallory", 2), ("eve", 3)]:
            assert gw.post(body(f"POISON-{n}".encode()), tenant=tenant)[0] == 502
        status, headers, _ = gw.post(body(b"an honest invoice"), tenant="alice")
        assert status == 503 and "retry-after" in headers
        ready = readiness(gw)
        assert ready["status"] == "degraded" and ready["checks"]["upstream.ocr"] == "circuit open", ready
    finally:
        gw.stop()


def test_only_rejections_of_the_input_itself_are_negative_cached(fake, tmp_path):
    gw = start(fake, tmp_path)
    try:
        statuses = [gw.post(body(b"REJECT me"))[:2] for _ in range(2)]
        assert [s for s, _ in statuses] == [422, 422]
        assert statuses[1][1]["x-deja-cache"] == "negative"
        assert fake.count(b"REJECT me") == 1
        # 429 says "not now", not "never": each try reaches the model, none is remembered.
        for _ in range(2):
            status, headers, _ = gw.post(body(b"BUSY now"))
            assert status == 429 and headers.get("x-deja-cache") != "negative"
        assert fake.count(b"BUSY now") == 2
    finally:
        gw.stop()


def test_no_cache_from_one_tenant_does_not_change_what_others_are_served(fake, tmp_path):
    gw = start(fake, tmp_path, scope="shared")  # tenants share answers only where a task says so
    try:
        doc = body(b"the shared invoice")
        status, headers, first = gw.post(doc, tenant="alice")
        assert status == 200 and headers["x-deja-cache"] == "miss"
        status, headers, refreshed = gw.post(doc, tenant="mallory", headers={"Cache-Control": "no-cache"})
        assert status == 200 and headers["x-deja-cache"] == "bypass"
        assert text_of(refreshed) != text_of(first)  # mallory got the model's new answer…
        for tenant in ("alice", "bob"):
            status, headers, again = gw.post(doc, tenant=tenant)
            assert headers["x-deja-cache"] == "hit"
            assert text_of(again) == text_of(first)  # …the others still get the one they were served
        _, _, metrics = http("GET", gw.url + "/metrics")
        assert re.search(rb'deja_refresh_kept_total\{task="ocr"\} 1', metrics), metrics[-400:]
    finally:
        gw.stop()


def test_a_task_may_let_no_cache_replace_the_shared_answer(fake, tmp_path):
    gw = start(fake, tmp_path, noCacheReplacesShared=True, scope="shared")
    try:
        doc = body(b"the shared invoice")
        gw.post(doc, tenant="alice")
        _, _, refreshed = gw.post(doc, tenant="mallory", headers={"Cache-Control": "no-cache"})
        _, headers, again = gw.post(doc, tenant="alice")
        assert headers["x-deja-cache"] == "hit" and text_of(again) == text_of(refreshed)
    finally:
        gw.stop()


def test_a_flooding_tenant_does_not_make_another_wait_behind_it(fake, tmp_path):
    gw = start(fake, tmp_path, maxConcurrency=1)
    try:
        with ThreadPoolExecutor(max_workers=9) as pool:
            flood = [pool.submit(gw.post, body(f"SLOW flood {n}".encode()), "mallory") for n in range(8)]
            while len(fake.calls) < 1:
                time.sleep(0.01)
            time.sleep(0.1)  # the flood is queued behind the call in flight
            quiet = pool.submit(gw.post, body(b"SLOW quiet"), "alice")
            assert quiet.result()[0] == 200
            assert all(f.result()[0] == 200 for f in flood)
        # One call of the flood was in flight; the quiet tenant's went next, not ninth.
        order = [data for data in fake.calls]
        assert order.index(b"SLOW quiet") <= 2, [d.decode() for d in order]
    finally:
        gw.stop()


def test_bodies_in_flight_are_bounded_per_key_and_in_all(fake, tmp_path):
    gw = Gateway(fake.url, tmp_path, task={"healthCheckSeconds": 0},
                 server={"maxBodyBytes": 1 << 20, "maxInFlightBodyBytesPerKey": 1 << 20, "maxInFlightBodyBytes": 2 << 20})
    gw.start()
    stalled = []
    try:
        def stall(tenant: str) -> socket.socket:
            sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            sock.sendall(f"POST /ocr HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gw.key(tenant)}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n".encode() + b'{"file": "' + b"A" * 1000)
            stalled.append(sock)
            return sock

        stall("mallory")
        time.sleep(0.3)
        status, headers, answer = gw.post(b'{"file": "' + b"A" * 899_988 + b'"}', tenant="mallory")
        assert status == 429 and "maxInFlightBodyBytesPerKey" in json.loads(answer)["errorMsg"], (status, answer[:200])
        stall("eve")
        time.sleep(0.3)
        status, _, answer = gw.post(b'{"file": "' + b"A" * 899_988 + b'"}', tenant="alice")
        assert status == 503 and "maxInFlightBodyBytes" in json.loads(answer)["errorMsg"], (status, answer[:200])
        # Small requests still pass, and the bytes come back once the stalled bodies are gone.
        assert gw.post(body(b"a small invoice"), tenant="alice")[0] == 200
        for sock in stalled:
            sock.close()
        time.sleep(0.5)
        assert gw.post(b'{"file": "' + base64.b64encode(b"B" * 600_000) + b'"}', tenant="alice")[0] == 200
    finally:
        for sock in stalled:
            sock.close()
        gw.stop()


def test_idle_connections_and_slow_heads_are_closed(fake, tmp_path):
    gw = Gateway(fake.url, tmp_path, task={"healthCheckSeconds": 0},
                 server={"idleTimeoutSeconds": 1.5, "headerTimeoutSeconds": 1})
    gw.start()
    try:
        idle = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        started = time.monotonic()
        assert idle.recv(1) == b""  # closed by the server
        assert time.monotonic() - started < 5
        idle.close()

        slow = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"y" * 100 + b"\r\n\r\n"
        sent = 0
        try:
            for byte in head:
                slow.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.1)
        except OSError:
            pass  # the server closed the connection mid-head
        slow.close()
        assert sent < 40, f"a head trickled in for {sent / 10:.1f} s without being cut off"

        # A connection in use is not cut off: requests 1 s apart on one keep-alive connection.
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        for _ in range(3):
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() and True
            time.sleep(1)
        conn.close()
        assert gw.proc.poll() is None
    finally:
        gw.stop()


def test_an_admin_revocation_takes_effect_at_once(fake, tmp_path):
    gw = start(fake, tmp_path)
    try:
        doc = body(b"an invoice")
        assert gw.post(doc, tenant="leaky")[0] == 200
        assert gw.post(doc, tenant="leaky")[1]["x-deja-cache"] == "hit"  # the key is remembered now
        kid = key_id(gw, "leaky")
        status, _, answer = http("POST", f"{gw.url}/admin/keys/{kid}/revoke", b"",
                                 {"Authorization": "Bearer test-admin-token"})
        assert status == 200 and json.loads(answer) == {"id": kid, "revoked": True}
        assert gw.post(doc, tenant="leaky")[0] == 401
        # A wrong admin token, of any length, is refused; so is an unknown key id.
        for token in ["test-admin-tokem", "t", "test-admin-token-and-more"]:
            assert http("POST", f"{gw.url}/admin/keys/{kid}/revoke", b"", {"Authorization": f"Bearer {token}"})[0] == 401
        assert http("POST", f"{gw.url}/admin/keys/key_000000000000/revoke", b"",
                    {"Authorization": "Bearer test-admin-token"})[0] == 404
    finally:
        gw.stop()


# Idempotency-Key bound to the request, against the real worker.

def test_an_idempotency_key_reused_with_another_document_is_refused(gateway, worker):
    from conftest import ocr_body, text_image

    first = ocr_body(text_image("ORDER 4411"))
    other = ocr_body(text_image("ORDER 9999"))
    status, headers, answer = gateway.post(first, tenant="shop", headers={"Idempotency-Key": "order-4411"})
    assert status == 200 and headers["x-deja-cache"] == "miss"
    before = worker.ocr_requests()
    status, headers, refused = gateway.post(other, tenant="shop", headers={"Idempotency-Key": "order-4411"})
    assert status == 422, (status, refused[:200])
    assert "Idempotency-Key" in json.loads(refused)["errorMsg"] and headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == before
    # The same request spelled differently (a volatile id added) is the same request: replayed.
    respelled = ocr_body(text_image("ORDER 4411"), requestId="retry-2")
    status, headers, again = gateway.post(respelled, tenant="shop", headers={"Idempotency-Key": "order-4411"})
    assert status == 200 and headers.get("x-deja-idempotent-replay") == "true" and headers["x-deja-billed-tokens"] == "0"
    assert json.loads(again)["result"] == json.loads(answer)["result"]


def test_concurrent_requests_with_one_key_run_once(gateway, worker):
    from conftest import ocr_body, text_image

    docs = [ocr_body(text_image(f"PARCEL {n}")) for n in range(3)]
    before = worker.ocr_requests()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda doc: gateway.post(doc, tenant="shop", headers={"Idempotency-Key": "parcel-1"}), docs))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 422, 422], statuses
    assert worker.ocr_requests() == before + 1, "one model call for one Idempotency-Key"
    (_, headers, answer), = [r for r in results if r[0] == 200]
    winner = docs[[r[0] for r in results].index(200)]
    assert json.loads(answer)["result"] == json.loads(gateway.post(winner, tenant="other")[2])["result"]

    # The same request five times at once under one key: one runs, the others wait and get its answer.
    same = ocr_body(text_image("PARCEL 77"))
    before = worker.ocr_requests()
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: gateway.post(same, tenant="shop", headers={"Idempotency-Key": "parcel-77"}), range(5)))
    assert all(status == 200 for status, _, _ in results)
    assert worker.ocr_requests() == before + 1
    billed = sorted(int(h["x-deja-billed-tokens"]) for _, h, _ in results)
    assert billed == [0, 0, 0, 0, 10], billed
    assert len({json.dumps(json.loads(a)["result"], sort_keys=True) for _, _, a in results}) == 1
