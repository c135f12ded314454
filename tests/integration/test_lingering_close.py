"""Lingering close: a client that writes its whole body before reading (as Python's http.client and
urllib do) gets the gateway's early answer — 413, 401 — instead of blocking on a full socket or a reset.

No model is called: every answer here comes before the body is read, so the gateway's upstream is an
address nothing listens on.
"""
import http.client
import socket
import time

import pytest

from conftest import Gateway

BODY_BYTES = 32 << 20  # far over the socket buffers on both sides
MAX_BODY_BYTES = 1 << 20
TIMEOUT = 20  # a regression fails by this timeout instead of hanging


@pytest.fixture
def gateway(tmp_path):
    gw = Gateway("http://127.0.0.1:9", tmp_path, server={"maxBodyBytes": MAX_BODY_BYTES})
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def post_whole_body(gw: Gateway, headers: dict, size: int = BODY_BYTES) -> tuple[int, bytes, str | None]:
    """Writes `size` body bytes with http.client (all of them before reading), then reads the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/ocr", body=b"x" * size, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Connection")
    finally:
        conn.close()


def assert_healthy(gw: Gateway) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_an_oversized_body_with_connection_close_gets_its_413(gateway):
    status, body, _ = post_whole_body(gateway, {"Authorization": f"Bearer {gateway.key('acme')}", "Connection": "close"})
    assert status == 413
    assert b"server.maxBodyBytes" in body
    assert_healthy(gateway)


def test_a_body_without_a_key_with_connection_close_gets_its_401(gateway):
    status, body, _ = post_whole_body(gateway, {"Connection": "close"})
    assert status == 401
    assert b"missing API key" in body
    assert_healthy(gateway)


def test_an_oversized_body_on_a_kept_alive_connection_gets_its_413_and_the_connection_serves_on(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/ocr", body=b"x" * BODY_BYTES,
                     headers={"Authorization": f"Bearer {gateway.key('acme')}", "Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 413
        response.read()
        # The rest of the body was read through: the same connection takes the next request.
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_many_early_answers_in_a_row_leave_the_gateway_healthy(gateway):
    key = gateway.key("acme")
    for headers in ({"Authorization": f"Bearer {key}", "Connection": "close"}, {"Connection": "close"}) * 3:
        status, _, _ = post_whole_body(gateway, headers, size=8 << 20)
        assert status in (401, 413)
    assert_healthy(gateway)


@pytest.fixture
def bounded_gateway(tmp_path):
    """A gateway that lingers at most 2 s and 4 MiB."""
    gw = Gateway("http://127.0.0.1:9", tmp_path, server={"maxBodyBytes": MAX_BODY_BYTES},
                 env={"DEJA_LINGER_SECONDS": "2", "DEJA_LINGER_BYTES": str(4 << 20)})
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def send_forever(gw: Gateway, pause: float, chunk: int) -> str:
    """Declares an endless body and sends it without reading, `chunk` bytes every `pause` seconds, until
    the gateway cuts the connection off; returns how the sending ended."""
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=TIMEOUT)
    try:
        sock.sendall(f"POST /ocr HTTP/1.1\r\nHost: deja\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {1 << 40}\r\nConnection: close\r\n\r\n".encode())
        data = b"x" * chunk
        started = time.monotonic()
        while time.monotonic() - started < TIMEOUT:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError) as error:
                return type(error).__name__
            time.sleep(pause)
        return "never cut off"
    finally:
        sock.close()


def test_a_client_that_sends_forever_is_cut_off_past_the_bytes(bounded_gateway):
    assert send_forever(bounded_gateway, pause=0, chunk=64 << 10) in ("BrokenPipeError", "ConnectionResetError")
    assert_healthy(bounded_gateway)


def test_a_client_that_trickles_forever_is_cut_off_past_the_time(bounded_gateway):
    # 20 KB/s: within the byte bound for much longer than the time bound.
    assert send_forever(bounded_gateway, pause=0.05, chunk=1024) in ("BrokenPipeError", "ConnectionResetError")
    assert_healthy(bounded_gateway)


def test_a_slow_body_the_fast_path_holds_gets_its_408_and_the_rest_is_read(tmp_path):
    gw = Gateway("http://127.0.0.1:9", tmp_path, server={"maxBodyBytes": 16 << 20, "bodyTimeoutSeconds": 1})
    gw.start()
    try:
        key = gw.key("acme")
        # An empty body (refused, no model call) makes the gateway remember the key: the fast path
        # holds this key's next request.
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=TIMEOUT)
        conn.request("POST", "/ocr", body=b"", headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        assert response.status not in (401, 503), response.read()
        conn.close()

        size = 12 << 20
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=TIMEOUT)
        try:
            sock.sendall(f"POST /ocr HTTP/1.1\r\nHost: deja\r\nAuthorization: Bearer {key}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode()
                         + b"x" * 1024)
            time.sleep(2)  # past the body timeout: the 408 is written while the body is still coming
            sock.sendall(b"x" * (size - 1024))  # the rest, before reading, as http.client would
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        finally:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"server.bodyTimeoutSeconds" in answer
        assert_healthy(gw)
    finally:
        gw.stop()
