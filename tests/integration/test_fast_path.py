"""The event-loop hit path (`server.fastPath`, on by default): memory hits are answered before the router.

It is only a shortcut: every answer must be the one the router gives (same status, headers and body,
billed and recorded alike), requests it declines must reach the router unchanged, and HTTP/1.1
pipelining must keep answering in order when the router and the fast path share a connection.
"""
import json
import os
import signal
import re
import socket
import time

import pytest

from conftest import Gateway, http, ocr_body, text_image


def metric(gw: Gateway, name: str, task: str = "ocr") -> float | None:
    status, _, body = http("GET", gw.url + "/metrics", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    match = re.search(rf'^{name}\{{task="{task}"\}} (\S+)$', body.decode(), re.MULTILINE)
    return float(match.group(1)) if match else None


def fast_hits(gw: Gateway) -> float:
    return metric(gw, "deja_fast_path_hits_total") or 0


def request_bytes(gw: Gateway, body: bytes, headers: dict | None = None, tenant: str = "acme") -> bytes:
    lines = [f"POST /ocr HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {gw.key(tenant)}",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_responses(sock: socket.socket, count: int, timeout: float = 120) -> list[tuple[int, dict, bytes]]:
    """Reads `count` HTTP/1.1 responses (Content-Length framed) from one connection, in order."""
    sock.settimeout(timeout)
    data = b""
    answers = []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(answers)} responses"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            data += chunk
        answers.append((status, headers, data[:length]))
        data = data[length:]
    return answers


def without_log_id(body: bytes) -> dict:
    value = json.loads(body)
    value.pop("logId")
    return value


# Headers whose value differs per response by design.
PER_RESPONSE = {"date", "age"}


def assert_same_hits(fast: list, slow: list) -> None:
    """The fast path's hits and the router's, pairwise: the same status, headers and body (but for what differs
    per response by design)."""
    for (f_status, f_headers, f_body), (s_status, s_headers, s_body) in zip(fast, slow, strict=True):
        assert f_status == s_status == 200
        assert f_headers["x-deja-cache"] == "hit" and f_headers["x-deja-billed-tokens"] == "0"
        assert set(f_headers) == set(s_headers), (f_headers, s_headers)
        for name in set(f_headers) - PER_RESPONSE:
            assert f_headers[name] == s_headers[name], name
        assert without_log_id(f_body) == without_log_id(s_body)


def test_fast_path_hits_are_the_routers_answers(worker, invoices, tmp_path):
    body = ocr_body(invoices("20261129-7001"))
    fast = Gateway(worker.url, tmp_path / "fast")
    slow = Gateway(worker.url, tmp_path / "slow", server={"fastPath": False})
    fast.start()
    slow.start()
    try:
        answers = {}
        before = {}
        for gw in (fast, slow):
            status, headers, _ = gw.post(body)
            assert status == 200 and headers["x-deja-cache"] == "miss"
            # A key is remembered as valid for 5 s from its last check, which was the miss's start: a loaded
            # machine's OCR may take longer, and then the first repeat checks it again, through the router.
            assert gw.post(body)[1]["x-deja-cache"] == "hit"
            before[gw] = fast_hits(gw)
            answers[gw] = [gw.post(body) for _ in range(3)]
        # The fast gateway answered its three hits on the event loop; the other one never does.
        assert fast_hits(fast) == before[fast] + 3
        assert fast_hits(slow) == 0
        assert_same_hits(answers[fast], answers[slow])
        for (_, _, f_body), (_, _, s_body) in zip(answers[fast], answers[slow]):
            assert json.loads(f_body)["logId"] != json.loads(s_body)["logId"]
        # Recorded alike: one miss billed, four hits billed 0, on both.
        time.sleep(0.5)  # hit records are written in batches every 200 ms
        for gw in (fast, slow):
            totals = json.loads(gw.cli("usage", "--json"))["totals"]
            assert (totals["requests"], totals["hits"], totals["misses"]) == (5, 4, 1), totals
            assert totals["billedTokens"] == int(answers[gw][0][1]["x-deja-tokens"]), totals
    finally:
        fast.stop()
        slow.stop()


def test_requests_the_fast_path_declines_reach_the_router(gateway, invoices):
    body = ocr_body(invoices("20261129-7002"))
    assert gateway.post(body)[1]["x-deja-cache"] == "miss"
    before = fast_hits(gateway)
    # An Idempotency-Key, a max-age the entry passes, a chunked body: all answered by the router.
    status, headers, _ = gateway.post(body, headers={"Idempotency-Key": "fast-path-declines-1"})
    assert status == 200 and headers["x-deja-cache"] == "hit"
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        head = (f"POST /ocr HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.key('acme')}\r\n"
                f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        sock.sendall(head + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        [(status, headers, _)] = read_responses(sock, 1)
        assert status == 200 and headers["x-deja-cache"] == "hit"
    assert fast_hits(gateway) == before
    # A plain repeat is a fast hit; an unknown key never is (401 from the router).
    assert gateway.post(body)[1]["x-deja-cache"] == "hit"
    assert fast_hits(gateway) == before + 1
    status, _, _ = http("POST", gateway.url + "/ocr", body, {"Authorization": "Bearer not-a-key"})
    assert status == 401


def test_pipelined_requests_are_answered_in_order(gateway, invoices):
    hit_body = ocr_body(invoices("20261129-7003"))
    miss_body = ocr_body(invoices("20261129-7004"))
    assert gateway.post(hit_body)[1]["x-deja-cache"] == "miss"
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        # The router takes the miss (the model takes a while); the hits behind it must wait their turn.
        sock.sendall(request_bytes(gateway, miss_body) + request_bytes(gateway, hit_body)
                     + request_bytes(gateway, hit_body) + request_bytes(gateway, miss_body))
        answers = read_responses(sock, 4)
    assert [a[1]["x-deja-cache"] for a in answers] == ["miss", "hit", "hit", "hit"]
    assert answers[0][1]["x-deja-key"] == answers[3][1]["x-deja-key"] != answers[1][1]["x-deja-key"]
    assert "20261129-7004" in json.dumps(json.loads(answers[0][2]), ensure_ascii=False)
    assert "20261129-7003" in json.dumps(json.loads(answers[1][2]), ensure_ascii=False)


def test_a_slow_body_held_by_the_fast_path_times_out(worker, tmp_path, invoices):
    gw = Gateway(worker.url, tmp_path, server={"bodyTimeoutSeconds": 1})
    gw.start()
    try:
        body = ocr_body(invoices("20261129-7001"))
        assert gw.post(body)[0] == 200
        assert gw.post(body)[1]["x-deja-cache"] == "hit"  # the key is remembered (again): the next request is held
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            sock.sendall(request_bytes(gw, body)[: -len(body) + 10])
            started = time.monotonic()
            [(status, headers, answer)] = read_responses(sock, 1, timeout=10)
            assert time.monotonic() - started < 5
            assert status == 408 and "bodyTimeoutSeconds" in answer.decode()
            assert headers.get("connection") == "close"
            assert sock.recv(1) == b""  # closed
        assert gw.post(body)[1]["x-deja-cache"] == "hit"
    finally:
        gw.stop()


def test_a_request_held_at_shutdown_is_answered_before_the_connection_closes(worker, tmp_path, invoices):
    gw = Gateway(worker.url, tmp_path)
    gw.start()
    try:
        body = ocr_body(invoices("20261129-7001"))
        assert gw.post(body)[1]["x-deja-cache"] == "miss"
        assert gw.post(body)[1]["x-deja-cache"] == "hit"  # the key is remembered (again) from here on
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
            request = request_bytes(gw, body)
            before = fast_hits(gw)
            sock.sendall(request)
            assert read_responses(sock, 1)[0][1]["x-deja-cache"] == "hit"
            assert fast_hits(gw) == before + 1  # this connection's requests are held by the fast path
            sock.sendall(request[:-100])  # held: the body is not complete
            time.sleep(0.3)
            gw.proc.send_signal(signal.SIGTERM)  # graceful shutdown asks every connection to quiesce
            time.sleep(0.5)
            sock.sendall(request[-100:])
            [(status, headers, answer)] = read_responses(sock, 1)
            assert status == 200 and headers["x-deja-cache"] == "hit"
            assert json.loads(answer)["errorCode"] == 0
        assert gw.proc.wait(timeout=30) == 0
        gw.proc = None
        gw.log.close()
    finally:
        gw.stop()


REDIS_BACKENDS = [pytest.param(os.environ["DEJA_REDIS_URL"], id="redis")] if os.environ.get("DEJA_REDIS_URL") else []
REDIS_BACKENDS += [pytest.param(f"redis-cluster://{os.environ['DEJA_REDIS_CLUSTER']}", id="redis-cluster")] \
    if os.environ.get("DEJA_REDIS_CLUSTER") else []


@pytest.mark.skipif(not REDIS_BACKENDS, reason="needs DEJA_REDIS_URL / DEJA_REDIS_CLUSTER (scripts/test.sh starts them)")
@pytest.mark.parametrize("cache", REDIS_BACKENDS)
def test_hits_read_from_redis_are_answered_on_the_event_loop_as_the_router_answers(worker, invoices, tmp_path, cache):
    """With no memory tier, a repeat whose body the instance has seen is read from Redis by the fast path
    (one GET, no router); the answer is the router's, a purged entry falls back to the router (a miss)."""
    body = ocr_body(invoices("20261203-7101"))
    stores = {"cache": cache, "memoryBytes": 0}
    version = f"fast-redis-{int(time.time() * 1000)}"  # a fresh model version: a fresh key space in Redis
    task = {"model": {"name": "PP-OCRv4", "version": version}}
    fast = Gateway(worker.url, tmp_path / "fast", task=task, stores=stores)
    slow = Gateway(worker.url, tmp_path / "slow", task=task, stores=stores, server={"fastPath": False})
    fast.start()
    slow.start()
    try:
        status, headers, _ = fast.post(body)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        # One repeat first: a key is remembered as valid for 5 s from its last check (the miss's start).
        assert fast.post(body)[1]["x-deja-cache"] == "hit"
        before = fast_hits(fast)
        calls = worker.ocr_requests()
        answers = {gw: [gw.post(body) for _ in range(3)] for gw in (fast, slow)}
        assert worker.ocr_requests() == calls, "every repeat was read from Redis"
        # The fast instance remembers the body from its miss: all three hits came from Redis on the event
        # loop; the instance without a fast path answered its three through the router.
        assert fast_hits(fast) == before + 3
        assert fast_hits(slow) == 0
        assert_same_hits(answers[fast], answers[slow])
        # A small body written plainly on a kept-alive connection (urllib's requests ask to close theirs, and a
        # request that does not come in one read goes to HTTP/1 parsing): three pipelined repeats are looked up
        # in Redis in turn, from the connection's bytes, and answered as the router answers.
        # (A fixed label: the fresh model version already makes its key new; a label of random digits made
        # the PNG, and so the request, larger than one read now and then.)
        small = ocr_body(text_image("plain repeat"))
        assert len(small) < 1200
        assert fast.post(small)[1]["x-deja-cache"] == "miss"
        calls += 1
        with socket.create_connection(("127.0.0.1", fast.port), timeout=20) as sock:
            sock.sendall(request_bytes(fast, small) * 3)
            plain = read_responses(sock, 3)
        assert metric(fast, "deja_plain_answers_total") == 3
        assert fast_hits(fast) == before + 6
        assert_same_hits(plain, [slow.post(small) for _ in range(3)])
        assert worker.ocr_requests() == calls
        # Purged from Redis: the remembered body finds nothing there and goes to the router, which asks
        # the model once more.
        status, _, _ = http("POST", fast.url + "/admin/purge", body=json.dumps({"modelVersion": version}).encode(),
                            headers={"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"})
        assert status == 200
        status, headers, _ = fast.post(body)
        assert status == 200 and headers["x-deja-cache"] == "miss", headers
        assert worker.ocr_requests() == calls + 1
        assert fast_hits(fast) == before + 6
        time.sleep(0.5)  # hit records are written in batches every 200 ms
        totals = json.loads(fast.cli("usage", "--json"))["totals"]
        assert (totals["hits"], totals["misses"]) == (7, 3), totals
    finally:
        fast.stop()
        slow.stop()
