#!/usr/bin/env python3
"""A mock PaddleX 3.7.2 basic-serving OCR server: PaddleX's request handling, a fixed OCR answer.

    python tests/conformance/paddlex_mock.py [--host 127.0.0.1] [--port 0] [--files DIR]

It handles ``POST /ocr`` the way PaddleX's server does (see FINDINGS.md for the citations):

- the body is read as FastAPI reads it and validated with PaddleX's own ``InferRequest`` (extracted
  unchanged from the paddlex wheel by install_schema.sh); a failure is PaddleX's 422 whose errorMsg is
  the JSON list of ``{"type", "loc", "msg"}`` (paddlex_schema.validate_request);
- what PaddleX then requires: a determinable file type (``fileType``, or a URL whose file name tells
  it), a ``file`` that is base64 (decoded leniently, as ``base64.b64decode`` does) or an http(s) URL it
  fetches, bytes that decode as an image (or a PDF with fileType 0) -- 422 ``File type cannot be
  determined`` / ``Unsupported file type`` / ``Invalid input file`` otherwise; a text detection limit
  type other than min, max or resize_long fails inside the pipeline: 500 ``Internal server error``;
- the answer: one ``ocrResults`` entry per page (a multi-frame TIFF or a PDF has several, at most 10),
  ``dataInfo`` as PaddleX builds it, the ``prunedResult`` PaddleX's pipeline would return for the
  effective settings (model_settings, doc_preprocessor_res, text_det_params, text_rec_score_thresh,
  return_word_box ... resolved from the request and the wheel's OCR.yaml), and with ``visualize``
  (default true) JPEG images in base64; absent images are left out (``response_model_exclude_none``).
  The recognised lines are fixed -- ``rec_scores`` spell ``1.0``, ``0.9986572265625``,
  ``0.30000001192092896`` and ``3.0517578125e-05`` -- and one line names the first 8 hex digits of the
  image's SHA-256, so different images get different answers. Scores below ``textRecScoreThresh`` are
  dropped, as the pipeline does.
- ``logId``: the request's when it is a non-empty string, else a new ``uuid4``; error answers echo
  the request's ``logId`` as PaddleX's handlers do.

Test controls (not PaddleX's):
  GET  /received        the list of /ocr requests received, oldest first: {"contentType", "body"
                        (the exact text), "json" (parsed, or null), "status", "answer" (the exact
                        text of the mock's answer)}
  POST /received/reset  forget them
  POST /control         {"failNext": N, "status": 500, "errorMsg": "..."}: the next N /ocr requests
                        get that error (status 500 without errorMsg: PaddleX's catch-all answer)
  GET  /files/NAME      a file from --files DIR, for URL input (PaddleX fetches the URL itself)
  GET  /health          PaddleX's health answer
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http
import io
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paddlex_schema as px  # noqa: E402

# _pipeline_apps/_common/ocr.py:33-34
MAX_NUM_INPUT_IMGS = 10
MAX_OUTPUT_IMG_SIZE = (2000, 2000)
# paddlex/inference/utils/pdf_rendering.py:20 (infra/utils.py:82)
MAX_IMAGE_PIXELS = 178_956_970
# paddlex/utils/flags.py:97
PDF_RENDER_SCALE = 2.0
LIMIT_TYPES = ("min", "max", "resize_long")  # models/text_detection/processors.py:145-164

# The fixed recognition: (text, score, box as fractions of the page: x0, y0, x1, y1).
LINES = [
    ("发票号码", 1.0, (0.05, 0.08, 0.45, 0.18)),
    ("INVOICE {digest}", 0.9986572265625, (0.05, 0.25, 0.80, 0.35)),
    ("Total: 2.00", 0.30000001192092896, (0.05, 0.45, 0.50, 0.55)),
    ("~", 3.0517578125e-05, (0.85, 0.85, 0.95, 0.95)),
]


class State:
    def __init__(self, files: Path | None):
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.fail_next = 0
        self.fail_status = 500
        self.fail_message: str | None = None
        self.files = files


# --------------------------------------------------------------------------------------------------
# PaddleX's OCR endpoint (_pipeline_apps/ocr.py:43-104)
# --------------------------------------------------------------------------------------------------


def get_file_type(request) -> str:
    """_pipeline_apps/_common/ocr.py:78-93."""
    if request.fileType is None:
        if is_url(request.file):
            maybe = infer_file_type(request.file)
            if maybe is None or maybe not in ("PDF", "IMAGE"):
                raise px.PaddleXError(422, "Unsupported file type")
            return maybe
        raise px.PaddleXError(422, "File type cannot be determined")
    return "PDF" if request.fileType == 0 else "IMAGE"


def is_url(s: str) -> bool:
    """infra/utils.py:178-183."""
    if not (s.startswith("http://") or s.startswith("https://")):
        return False
    result = urllib.parse.urlparse(s)
    return all([result.scheme, result.netloc]) and result.scheme in ("http", "https")


def infer_file_type(url: str) -> str | None:
    """infra/utils.py:186-219 (without the bcebos.com special case)."""
    import mimetypes

    filename = urllib.parse.urlparse(url).path.split("/")[-1]
    file_type = mimetypes.guess_type(filename)[0]
    if file_type is None:
        return None
    if file_type.startswith("image/"):
        return "IMAGE"
    if file_type == "application/pdf":
        return "PDF"
    if file_type.startswith("video/"):
        return "VIDEO"
    if file_type.startswith("audio/"):
        return "AUDIO"
    return None


def get_raw_bytes(file: str) -> bytes:
    """infra/utils.py:438-443: a URL is fetched and its body read whatever the status; anything else
    goes through ``base64.b64decode`` (not validating: characters outside the alphabet, line breaks
    included, are skipped; a wrong length raises)."""
    if is_url(file):
        try:
            with urllib.request.urlopen(file, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            return error.read()
    return base64.b64decode(file)


class ImageTooLarge(Exception):
    pass


def check_pixels(width: int, height: int, page_index: int | None = None) -> None:
    """infra/utils.py:106-127."""
    pixels = width * height
    if pixels > MAX_IMAGE_PIXELS:
        msg = (f"Image pixel count {pixels} (width={width}, height={height}) exceeds "
               f"maximum allowed {MAX_IMAGE_PIXELS}.")
        if page_index is not None:
            msg = f"Page {page_index}: {msg}"
        raise ImageTooLarge(msg)


def file_to_pages(data: bytes, file_type: str) -> tuple[list, dict]:
    """infra/utils.py:390-419 (read_tiff 330-356, read_pdf 276-320): the pages as PIL images and dataInfo.
    Images are decoded with Pillow where PaddleX uses OpenCV (IMREAD_COLOR, which applies the EXIF
    orientation); a PDF's pages are blank pages of its MediaBox size at PaddleX's render scale."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = None  # PaddleX's own limit applies, below
    if file_type == "IMAGE":
        if data[:4] in (b"II\x2a\x00", b"MM\x00\x2a"):
            with Image.open(io.BytesIO(data)) as img:
                frames = getattr(img, "n_frames", 1)
                if frames > 1:
                    pages = []
                    for number in range(1, frames + 1):
                        if len(pages) >= MAX_NUM_INPUT_IMGS:
                            break
                        img.seek(number - 1)
                        frame = img.convert("RGB")
                        check_pixels(frame.width, frame.height, number)
                        pages.append(frame)
                    return pages, {"numPages": len(pages), "pages": [{"width": p.width, "height": p.height} for p in pages], "type": "tiff"}
        img = Image.open(io.BytesIO(data))
        check_pixels(img.width, img.height)
        img = ImageOps.exif_transpose(img.convert("RGB"))
        return [img], {"width": img.width, "height": img.height, "type": "image"}
    # PDF
    if not data.startswith(b"%PDF-"):
        raise ValueError("not a PDF")
    boxes = re.findall(rb"/Type\s*/Page\b(?!s).*?/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", data, re.S)
    if not boxes:
        raise ValueError("no pages")
    pages = []
    for number, (x0, y0, x1, y1) in enumerate(boxes[:MAX_NUM_INPUT_IMGS], start=1):
        width = round((float(x1) - float(x0)) * PDF_RENDER_SCALE)
        height = round((float(y1) - float(y0)) * PDF_RENDER_SCALE)
        check_pixels(width, height, number)
        pages.append(Image.new("RGB", (width, height), "white"))
    return pages, {"numPages": len(pages), "pages": [{"width": p.width, "height": p.height} for p in pages], "type": "pdf"}


def effective_settings(request) -> dict:
    """What the pipeline runs with: each None resolved as pipelines/ocr/pipeline.py:214-290, 343-346."""
    defaults = px.paddlex_defaults()
    config = px.pipeline_config()

    def pick(member):
        value = getattr(request, member)
        return defaults[member] if value is None else value

    doc = px.doc_preprocessing(request.useDocOrientationClassify, request.useDocUnwarping)
    return {
        "doc": doc,
        "use_textline_orientation": pick("useTextlineOrientation"),
        "text_det_params": {
            "limit_side_len": pick("textDetLimitSideLen"),
            "limit_type": pick("textDetLimitType"),
            "thresh": pick("textDetThresh"),
            "max_side_limit": config["SubModules"]["TextDetection"].get("max_side_limit", 4000),
            "box_thresh": pick("textDetBoxThresh"),
            "unclip_ratio": pick("textDetUnclipRatio"),
        },
        "text_rec_score_thresh": pick("textRecScoreThresh"),
        "return_word_box": pick("returnWordBox"),
    }


def pruned_result(page, settings: dict, digest: str) -> dict:
    """The OCR result's JSON (pipelines/ocr/result.py:161-192) without input_path and page_index
    (_pipeline_apps/_common/common.py:29-42), in PaddleX's member order."""
    w, h = page.width, page.height
    doc = settings["doc"]
    polys = []
    for _, _, (x0, y0, x1, y1) in LINES:
        a, b, c, d = int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)
        polys.append([[a, b], [c, b], [c, d], [a, d]])
    result: dict[str, Any] = {
        "model_settings": {
            "use_doc_preprocessor": doc["use_doc_preprocessor"],
            "use_textline_orientation": settings["use_textline_orientation"],
        },
    }
    if doc["use_doc_preprocessor"]:
        result["doc_preprocessor_res"] = {  # doc_preprocessor/result.py:82-98
            "model_settings": {
                "use_doc_orientation_classify": doc["use_doc_orientation_classify"],
                "use_doc_unwarping": doc["use_doc_unwarping"],
            },
            "angle": 0 if doc["use_doc_orientation_classify"] else -1,
        }
    result["dt_polys"] = polys
    result["text_det_params"] = settings["text_det_params"]
    result["text_type"] = "general"
    result["textline_orientation_angles"] = [0 if settings["use_textline_orientation"] else -1] * len(LINES)
    result["text_rec_score_thresh"] = settings["text_rec_score_thresh"]
    result["return_word_box"] = settings["return_word_box"]
    kept = [(text.format(digest=digest), score, poly) for (text, score, _), poly in zip(LINES, polys)
            if score >= settings["text_rec_score_thresh"]]
    result["rec_texts"] = [text for text, _, _ in kept]
    result["rec_scores"] = [score for _, score, _ in kept]
    result["rec_polys"] = [poly for _, _, poly in kept]
    result["rec_boxes"] = [[p[0][0], p[0][1], p[2][0], p[2][1]] for _, _, p in kept]
    if settings["return_word_box"]:
        result["text_word_boxes"] = [[[p[0][0], p[0][1], p[2][0], p[2][1]]] for _, _, p in kept]
        result["text_word"] = [[text] for text, _, _ in kept]
    return result


def jpeg_base64(img) -> str:
    """_common/common.py:46-80: fit into max_output_img_size (PaddleX's own arithmetic), JPEG, base64."""
    w, h = img.size
    if w > MAX_OUTPUT_IMG_SIZE[1] or h > MAX_OUTPUT_IMG_SIZE[0]:
        factor = MAX_OUTPUT_IMG_SIZE[0] / w if w / h > MAX_OUTPUT_IMG_SIZE[0] / MAX_OUTPUT_IMG_SIZE[1] else MAX_OUTPUT_IMG_SIZE[1] / h
        img = img.resize((int(factor * w), int(factor * h)))
    out = io.BytesIO()
    img.save(out, "JPEG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def visualisation(page, use_doc_preprocessor: bool) -> dict:
    """_pipeline_apps/ocr.py:69-86: input_img, ocr_img (PaddleX draws input and text side by side,
    result.py:100-116) and, with the doc preprocessor, doc_preprocessing_img."""
    from PIL import Image

    side = Image.new("RGB", (page.width * 2, page.height), "white")
    side.paste(page, (0, 0))
    images = {"inputImage": jpeg_base64(page), "ocrImage": jpeg_base64(side)}
    if use_doc_preprocessor:
        images["docPreprocessingImage"] = jpeg_base64(page)
    return images


def infer(request) -> dict:
    """_pipeline_apps/ocr.py:43-104."""
    schema = px.load()
    log_id = request.logId if request.logId else px.generate_log_id()
    visualize = request.visualize if request.visualize is not None else schema.AppConfig().visualize
    file_type = get_file_type(request)
    try:
        data = get_raw_bytes(request.file)
        pages, data_info = file_to_pages(data, file_type)
    except ImageTooLarge as error:
        raise px.PaddleXError(422, str(error)) from None
    except Exception:  # noqa: BLE001 - _common/ocr.py:112-117
        raise px.PaddleXError(422, "Invalid input file") from None
    settings = effective_settings(request)
    if settings["text_det_params"]["limit_type"] not in LIMIT_TYPES:
        # processors.py:164 raises inside the pipeline; the catch-all handler answers (_app.py:276-292).
        raise px.PaddleXError(500, "Internal server error", echo_log_id=False)
    digest = hashlib.sha256(data).hexdigest()[:8]
    results = []
    for page in pages:
        entry: dict[str, Any] = {"prunedResult": pruned_result(page, settings, digest)}
        if visualize:
            images = visualisation(page, settings["doc"]["use_doc_preprocessor"])
            entry.update({k: images[k] for k in ("ocrImage", "docPreprocessingImage", "inputImage") if k in images})
        results.append(entry)
    answer = {"logId": log_id, "result": {"ocrResults": results, "dataInfo": data_info}, "errorCode": 0, "errorMsg": "Success"}
    schema.ResultResponse.model_validate(answer)  # the mock's own answers conform to PaddleX's model
    return answer


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _error_envelope(raw: bytes, error: px.PaddleXError) -> tuple[int, bytes]:
        log_id = px.error_log_id(raw, error)
        if not isinstance(log_id, str):
            # AIStudioNoResultResponse(logId=<not a string>) raises inside PaddleX's handler, and the
            # catch-all handler answers instead (_app.py:276-292), without the body's logId.
            return 500, px.error_body(500, "Internal server error", px.generate_log_id())
        return error.status, px.error_body(error.status, error.message, log_id)

    def _send_error_envelope(self, raw: bytes, error: px.PaddleXError) -> None:
        self._send(*self._error_envelope(raw, error))

    @property
    def state(self) -> State:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self):  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":  # _app.py:205-209
            self._send(200, px.dumps({"logId": px.generate_log_id(), "errorCode": 0, "errorMsg": "Healthy"}))
        elif path == "/received":
            with self.state.lock:
                self._send(200, json.dumps(self.state.received, ensure_ascii=False).encode())
        elif path.startswith("/files/") and self.state.files is not None:
            target = (self.state.files / path[len("/files/"):]).resolve()
            if target.parent == self.state.files.resolve() and target.is_file():
                self._send(200, target.read_bytes(), "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")
        elif path == "/ocr":
            self._send_error_envelope(b"", px.PaddleXError(405, "Method Not Allowed"))
        else:
            self._send_error_envelope(b"", px.PaddleXError(404, "Not Found"))

    def do_POST(self):  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        raw = self._read_body()
        if path == "/received/reset":
            with self.state.lock:
                self.state.received.clear()
            self._send(200, b"[]")
            return
        if path == "/control":
            control = json.loads(raw or b"{}")
            with self.state.lock:
                self.state.fail_next = int(control.get("failNext", 0))
                self.state.fail_status = int(control.get("status", 500))
                self.state.fail_message = control.get("errorMsg")
            self._send(200, b"{}")
            return
        if path != "/ocr":
            self._send_error_envelope(raw, px.PaddleXError(404, "Not Found"))
            return
        content_type = self.headers.get("Content-Type")
        try:
            parsed = json.loads(raw)
        except Exception:  # noqa: BLE001
            parsed = None
        with self.state.lock:
            failing = self.state.fail_next > 0
            if failing:
                self.state.fail_next -= 1
                status, message = self.state.fail_status, self.state.fail_message
        try:
            if failing:
                if message is None:
                    if status == 500:  # the catch-all handler (_app.py:276-292)
                        raise px.PaddleXError(500, "Internal server error", echo_log_id=False)
                    message = http.HTTPStatus(status).phrase  # Starlette's HTTPException default detail
                raise px.PaddleXError(status, message)
            request = px.validate_request(raw, content_type)
            status, payload = 200, px.dumps(infer(request))
        except px.PaddleXError as error:
            status, payload = self._error_envelope(raw, error)
        with self.state.lock:
            self.state.received.append({
                "contentType": content_type, "body": raw.decode("utf-8", "replace"), "json": parsed,
                "status": status, "answer": payload.decode("utf-8"),
            })
        self._send(status, payload)


class MockServer:
    """The mock on a background thread: ``url`` (http://host:port), ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, files: Path | None = None):
        px.load()
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = State(files)  # type: ignore[attr-defined]
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--files", type=Path, help="folder served at /files/ (URL input)")
    args = parser.parse_args(argv)
    server = MockServer(args.host, args.port, args.files)
    print(f"paddlex mock listening on {server.url}", file=sys.stderr, flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
