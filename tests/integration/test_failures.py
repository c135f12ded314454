"""When things go wrong: a dead model server, a hot key expiring under load, hostile input."""
import json
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import DEJA_BIN, PYTHON, REPO, Gateway, Worker, free_port, http, ocr_body, text_image, wait_for


def start_worker(port: int) -> subprocess.Popen:
    log = open(Path(tempfile.gettempdir()) / f"deja-worker-{port}.log", "ab")
    proc = subprocess.Popen([PYTHON, str(REPO / "worker" / "server.py"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{port}/health", 300, proc)
    return proc


def stop_worker(proc: subprocess.Popen, kill: bool = False) -> None:
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    proc.wait(timeout=30)


def test_a_hot_key_expiring_under_200_concurrent_requests_makes_one_model_call(worker, invoices, tmp_path):
    gw = Gateway(worker.url, tmp_path, task={"ttlSeconds": 2, "ttlJitter": 0, "staleIfErrorSeconds": 0})
    gw.start()
    try:
        body = ocr_body(invoices("20261129-8080"))
        assert gw.post(body)[1]["x-deja-cache"] == "miss"
        time.sleep(2.5)  # let the entry expire
        before = worker.ocr_requests()
        with ThreadPoolExecutor(max_workers=200) as pool:
            results = list(pool.map(lambda _: gw.post(body), range(200)))
        assert all(status == 200 for status, _, _ in results)
        outcomes = [headers["x-deja-cache"] for _, headers, _ in results]
        assert outcomes.count("miss") == 1, outcomes
        assert worker.ocr_requests() == before + 1
        assert sum(int(h["x-deja-billed-tokens"]) for _, h, _ in results) == 10
    finally:
        gw.stop()


def test_killing_the_worker_under_load(invoices, tmp_path):
    port = free_port()
    proc = start_worker(port)
    own = Worker(f"http://127.0.0.1:{port}")
    gw = Gateway(own.url, tmp_path, task={"ttlSeconds": 3, "ttlJitter": 0, "staleIfErrorSeconds": 600,
                                          "breakerFailures": 3, "breakerOpenSeconds": 1})
    try:
        gw.start()
        hot = ocr_body(invoices("20261129-1111"))
        ageing = ocr_body(invoices("20261129-2222"))
        _, first_headers, first_ageing = gw.post(ageing)
        assert first_headers["x-deja-cache"] == "miss"
        time.sleep(1.5)
        assert gw.post(hot)[1]["x-deja-cache"] == "miss"
        time.sleep(1.6)  # `ageing` is now past its TTL; `hot` is still fresh
        billed_before = usage_totals(gw)["billedTokens"]

        stop_worker(proc, kill=True)

        # Cached requests keep succeeding while the model is dead, under concurrent load.
        with ThreadPoolExecutor(max_workers=16) as pool:
            hot_results = list(pool.map(lambda _: gw.post(hot), range(64)))
        assert all(s == 200 and h["x-deja-cache"] == "hit" for s, h, _ in hot_results)

        # An expired answer within the grace period is served stale, billed 0.
        status, headers, body = gw.post(ageing)
        assert status == 200 and headers["x-deja-cache"] == "stale", (status, headers)
        assert headers["x-deja-billed-tokens"] == "0"
        stale_answer, original = json.loads(body), json.loads(first_ageing)
        assert stale_answer["result"] == original["result"]
        assert stale_answer["logId"] != original["logId"]

        # Misses fail fast with 503, never hang; once the breaker is open they carry Retry-After.
        started = time.monotonic()
        statuses = []
        retry_after = None
        for number in range(5):
            status, headers, body = gw.post(ocr_body(invoices(f"20261129-66{number}")))
            statuses.append(status)
            retry_after = retry_after or headers.get("retry-after")
            assert json.loads(body)["errorCode"] == 503
        assert statuses == [503] * 5
        assert time.monotonic() - started < 10, "misses must not hang on a dead model"
        assert retry_after is not None
        status, _, ready = http("GET", gw.url + "/readyz")
        assert status == 200 and json.loads(ready)["status"] == "degraded", ready  # still answers hits
        assert json.loads(ready)["checks"]["upstream.ocr"] == "circuit open"  # the breaker says more than the health URL
        assert usage_totals(gw)["billedTokens"] == billed_before, "failures must bill nothing"

        # The worker comes back: service recovers by itself.
        proc = start_worker(port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, headers, _ = gw.post(ocr_body(invoices("20261129-6600")))
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        assert json.loads(http("GET", gw.url + "/readyz")[2])["status"] == "ready"
    finally:
        gw.stop()
        if proc.poll() is None:
            stop_worker(proc)


def usage_totals(gw: Gateway) -> dict:
    status, _, body = http("GET", gw.url + "/v1/usage", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    return json.loads(body)["totals"]


# The fast path marks a request it held whole for the router with this field, and removes any copy a
# client sends: a client claiming it cannot skip the body timeout.
@pytest.mark.parametrize("claim", ["", "X-Deja-Internal-Body-Received: 1\r\n"], ids=["plain", "claims-a-whole-body"])
def test_a_slow_body_times_out_and_the_server_keeps_serving(worker, tmp_path, claim):
    gw = Gateway(worker.url, tmp_path, server={"bodyTimeoutSeconds": 1})
    gw.start()
    try:
        key = gw.key("acme")
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            sock.sendall(f"POST /ocr HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n{claim}"
                         f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"file\":".encode())
            started = time.monotonic()
            answer = sock.recv(4096).decode(errors="replace")
            assert time.monotonic() - started < 5
        assert answer.startswith("HTTP/1.1 408"), answer[:200]
        assert "bodyTimeoutSeconds" in answer
        assert http("GET", gw.url + "/healthz")[0] == 200
    finally:
        gw.stop()


def test_a_dead_model_server_among_several_is_skipped(worker, invoices, tmp_path):
    """Two upstreams, one dead: every miss is answered (by the live one), the dead one's health check and
    breaker take it out of rotation, and /readyz names it."""
    dead = f"http://127.0.0.1:{free_port()}/ocr"  # nothing listens there: connection refused
    gw = Gateway(worker.url, tmp_path, task={"upstream": dead, "upstreams": [f"{worker.url}/ocr"], "healthCheckSeconds": 0.5})
    gw.start()
    try:
        image = invoices("20261129-8100")
        calls = worker.ocr_requests()
        answers = [gw.post(ocr_body(image, textDetLimitSideLen=800 + n)) for n in range(12)]
        assert [a[0] for a in answers] == [200] * 12, [a[2][:200] for a in answers if a[0] != 200]
        assert all(a[1]["x-deja-cache"] == "miss" for a in answers)
        assert worker.ocr_requests() == calls + 12  # each miss reached the live server exactly once
        status, _, body = http("GET", gw.url + "/readyz")
        report = json.loads(body)
        assert status == 200 and report["status"] == "degraded", report
        assert report["checks"]["upstream.ocr.1"] == "unreachable" and report["checks"]["upstream.ocr.2"] == "ok"
        # Nothing was billed for the dead server's refusals: 12 misses, 12 bills.
        time.sleep(1.2)  # two health checks: the dead server is now down and tried last
        status, headers, _ = gw.post(ocr_body(image, textDetLimitSideLen=900))
        assert status == 200 and headers["x-deja-cache"] == "miss"
        totals = json.loads(gw.cli("usage", "--json"))["totals"]
        assert totals["misses"] == 13 and totals["errors"] == 0 and totals["billedTokens"] == 13 * int(headers["x-deja-tokens"])
    finally:
        gw.stop()


def test_a_taken_port_stops_the_gateway_with_an_error_naming_the_setting(worker, tmp_path):
    """Before, the server's bind failure cancelled the other services, one of which (the usage
    recorder) then spun forever: the process neither listened nor exited, nor heeded SIGTERM."""
    gateway = Gateway(worker.url, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", gateway.port))
        taken.listen()
        result = subprocess.run([str(DEJA_BIN), "serve", "--config", str(gateway.config)], capture_output=True,
                                text=True, timeout=60, env=gateway.environment())
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"server.port: cannot listen on 127.0.0.1:{gateway.port}" in result.stderr, result.stderr[-2000:]
    # The stores were closed whole: the same storage serves at once on a free port.
    gateway.start()
    try:
        status, headers, _ = gateway.post(ocr_body(text_image("port")))
        assert status == 200 and headers["x-deja-cache"] == "miss", headers
    finally:
        assert gateway.stop() == 0
