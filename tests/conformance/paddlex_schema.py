"""PaddleX 3.7.2's own OCR serving schema, and the way PaddleX's basic-serving app applies it.

The models (``InferRequest``, ``InferResult``, ``AIStudioResultResponse``, ``AIStudioNoResultResponse``,
``DataInfo`` ...) are PaddleX's code, extracted unchanged from the paddlex 3.7.2 wheel by
``install_schema.sh`` and imported from there. What PaddleX's server does around them lives in FastAPI and
in ``paddlex/inference/serving/basic_serving/_app.py``, which need PaddleX's heavy dependencies; the few
functions below reproduce that handling, each citing the lines it follows (``reference/`` beside the
extracted schema holds those sources). ``crosscheck_fastapi.py`` checks them, byte for byte, against
PaddleX's real ``_app.py`` running under FastAPI.

Paths cited as ``_app.py:NNN`` are ``paddlex/inference/serving/basic_serving/_app.py`` of paddlex 3.7.2.
"""
from __future__ import annotations

import email.message
import importlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PADDLEX_VERSION = "3.7.2"
REPO = Path(__file__).resolve().parents[2]
INSTALLER = Path(__file__).resolve().parent / "install_schema.sh"


def schema_root() -> Path:
    """Where install_schema.sh put the schema: $DEJA_PADDLEX_SCHEMA, else <this venv>/deja-paddlex-schema."""
    configured = os.environ.get("DEJA_PADDLEX_SCHEMA")
    return Path(configured) if configured else Path(sys.prefix) / "deja-paddlex-schema"


def ensure_installed() -> Path:
    """Runs install_schema.sh for this interpreter's venv unless the schema is already there."""
    root = schema_root()
    if not (root / f".installed-{PADDLEX_VERSION}").exists():
        subprocess.run(["bash", str(INSTALLER), sys.prefix], check=True)
        importlib.invalidate_caches()
    return root


@dataclass(frozen=True)
class Schema:
    """PaddleX's published models (every one of them PaddleX's own class)."""

    InferRequest: Any
    InferResult: Any
    OCRResult: Any
    ResultResponse: Any  # AIStudioResultResponse[InferResult]: a success answer
    NoResultResponse: Any  # AIStudioNoResultResponse: an error answer (and /health)
    ImageInfo: Any
    PDFInfo: Any
    TIFFInfo: Any
    PDFPageInfo: Any
    AppConfig: Any
    ValidationError: Any
    root: Path

    @property
    def reference(self) -> Path:
        return self.root / "reference"


_loaded: Schema | None = None


def load() -> Schema:
    """Imports PaddleX's models (installing them first if needed)."""
    global _loaded
    if _loaded is None:
        root = ensure_installed()
        site = str(root / "site")
        if site not in sys.path:
            sys.path.insert(0, site)
        import pydantic

        ocr = importlib.import_module("paddlex.inference.serving.schemas.ocr")
        models = importlib.import_module("paddlex.inference.serving.infra.models")
        config = importlib.import_module("paddlex.inference.serving.infra.config")
        _loaded = Schema(
            InferRequest=ocr.InferRequest,
            InferResult=ocr.InferResult,
            OCRResult=ocr.OCRResult,
            ResultResponse=models.AIStudioResultResponse[ocr.InferResult],
            NoResultResponse=models.AIStudioNoResultResponse,
            ImageInfo=models.ImageInfo,
            PDFInfo=models.PDFInfo,
            TIFFInfo=models.TIFFInfo,
            PDFPageInfo=models.PDFPageInfo,
            AppConfig=config.AppConfig,
            ValidationError=pydantic.ValidationError,
            root=root,
        )
    return _loaded


# --------------------------------------------------------------------------------------------------
# PaddleX's answers to a request it cannot serve
# --------------------------------------------------------------------------------------------------


class PaddleXError(Exception):
    """An answer PaddleX gives instead of a result: HTTP status, and the envelope's errorMsg.

    ``echo_log_id``: whether PaddleX's handler for this error echoes the request's ``logId``
    (``_try_get_log_id``, _app.py:211-218): the RequestValidationError (_app.py:249-262) and
    HTTPException (_app.py:264-274) handlers do; the catch-all handler (_app.py:276-292) cannot read
    the body any more and always draws a new one (its own FIXME, _app.py:280).
    A ``logId`` that is not a string makes PaddleX's own error handler fail
    (``AIStudioNoResultResponse(logId=5)`` raises); the catch-all handler then answers 500
    ``Internal server error`` with a new logId (checked under FastAPI by crosscheck_fastapi.py).
    """

    def __init__(self, status: int, message: str, *, echo_log_id: bool = True):
        super().__init__(message)
        self.status = status
        self.message = message
        self.echo_log_id = echo_log_id


def loc_to_dot_sep(loc: tuple) -> str:
    """Verbatim logic of ``_loc_to_dot_sep`` (_app.py:223-234): ("body", "file") -> "body.file",
    ("body", 12) -> "body[12]"."""
    path = ""
    for i, x in enumerate(loc):
        if isinstance(x, str):
            if i > 0:
                path += "."
            path += x
        elif isinstance(x, int):
            path += f"[{x}]"
        else:
            raise TypeError("Unexpected type")
    return path


def convert_validation_errors(errors: list[dict]) -> list[dict]:
    """Verbatim logic of ``_convert_validation_errors`` (_app.py:236-247): only type, loc, msg survive."""
    return [{"type": e["type"], "loc": loc_to_dot_sep(tuple(e["loc"])), "msg": e["msg"]} for e in errors]


def validation_error_message(errors: list[dict]) -> str:
    """The errorMsg of PaddleX's 422: ``json.dumps`` of the converted list with json's default
    separators and ensure_ascii (_app.py:253-262)."""
    return json.dumps(convert_validation_errors(errors))


_UNDEFINED = object()


def parse_body(raw: bytes, content_type: str | None) -> Any:
    """FastAPI's reading of a JSON body parameter (fastapi/routing.py, ``get_request_handler``):

    - an empty body is *undefined* (validation then reports the body ``missing``);
    - with a Content-Type of ``application/json`` or ``application/*+json`` the bytes go through
      ``json.loads`` (Starlette's ``Request.json``): a ``JSONDecodeError`` becomes a validation error
      ``json_invalid`` at ``("body", e.pos)`` with msg ``JSON decode error``; any other failure (bytes
      that are not UTF-8 inside a string, say) becomes HTTP 400 ``There was an error parsing the body``;
    - with another Content-Type, or none (the default ``strict_content_type`` of FastAPI 0.165.0;
      FastAPI 0.115.12 still parsed a body without Content-Type as JSON), the raw bytes are validated, and fail as
      ``model_attributes_type`` at ``body``.
    """
    if not raw:
        return _UNDEFINED
    is_json = False
    if content_type:
        message = email.message.Message()
        message["content-type"] = content_type
        if message.get_content_maintype() == "application":
            subtype = message.get_content_subtype()
            is_json = subtype == "json" or subtype.endswith("+json")
    if not is_json:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise PaddleXError(422, validation_error_message(
            [{"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error"}]
        )) from None
    except Exception:  # noqa: BLE001 - FastAPI turns every other failure into this 400
        raise PaddleXError(400, "There was an error parsing the body") from None


def validate_request(raw: bytes, content_type: str | None = "application/json"):
    """The request as PaddleX's ``/ocr`` endpoint sees it: the validated ``InferRequest``, or the
    ``PaddleXError`` PaddleX answers (FastAPI validates the body with ``from_attributes=True`` and
    prefixes every error location with ``body``)."""
    schema = load()
    value = parse_body(raw, content_type)
    if value is _UNDEFINED:
        raise PaddleXError(422, validation_error_message([{"type": "missing", "loc": ("body",), "msg": "Field required"}]))
    try:
        return schema.InferRequest.model_validate(value, from_attributes=True)
    except schema.ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        raise PaddleXError(422, validation_error_message(errors)) from None


def request_log_id(raw: bytes) -> Any:
    """``_try_get_log_id`` (_app.py:211-218): the body's ``logId`` member, whatever its type, if the
    body is a JSON object that has one (Starlette's ``request.json()`` ignores the Content-Type);
    otherwise None."""
    try:
        body = json.loads(raw)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(body, dict) and "logId" in body:
        return body["logId"]
    return None


def generate_log_id() -> str:
    """``generate_log_id`` (infra/utils.py:167-168): ``str(uuid.uuid4())``."""
    return str(uuid.uuid4())


def error_log_id(raw: bytes, error: PaddleXError) -> Any:
    """The logId of PaddleX's error answer: ``await _try_get_log_id(request) or generate_log_id()``
    (_app.py:253, 268); the catch-all 500 handler never sees the body (_app.py:280)."""
    echoed = request_log_id(raw) if error.echo_log_id else None
    return echoed or generate_log_id()


def error_body(status: int, message: str, log_id: str) -> bytes:
    """An error answer as PaddleX writes it: ``jsonable_encoder(AIStudioNoResultResponse(...))`` in
    a JSONResponse (_app.py:255-262): members in the model's order, compact, UTF-8 as is."""
    return dumps({"logId": log_id, "errorCode": status, "errorMsg": message})


def dumps(value: Any) -> bytes:
    """Starlette's JSONResponse.render: ``json.dumps(..., ensure_ascii=False, allow_nan=False,
    indent=None, separators=(",", ":"))``, UTF-8. Floats are Python's shortest round-trip spelling
    (``2.0``, ``0.30000001192092896``, ``3.0517578125e-05``) -- what FastAPI up to 0.115 sends;
    FastAPI 0.165 serialises responses through pydantic-core instead and spells the last one
    ``0.000030517578125``. A gateway must pass either through unchanged."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# PaddleX's defaults: what each None in InferRequest resolves to
# --------------------------------------------------------------------------------------------------


def pipeline_config() -> dict:
    """The OCR pipeline's configuration shipped in the wheel (paddlex/configs/pipelines/OCR.yaml)."""
    import yaml

    return yaml.safe_load((load().reference / "paddlex/configs/pipelines/OCR.yaml").read_text())


def paddlex_defaults() -> dict:
    """Request member -> the value PaddleX 3.7.2 uses when the member is absent or null, with the
    stock OCR.yaml and no ``Serving`` section. The code that resolves each (all paddlex 3.7.2):

    - visualize: ``ctx.config.visualize`` (_pipeline_apps/ocr.py:47-49), AppConfig.visualize = True
      (infra/config.py:29);
    - useDocOrientationClassify / useDocUnwarping: *coupled*, see ``doc_preprocessing`` (OCR.yaml:6,
      12-13; pipelines/ocr/pipeline.py:231-237; pipelines/doc_preprocessor/pipeline.py:132-135);
    - useTextlineOrientation: OCR.yaml:7 (pipeline.py:89, 239-240);
    - textDet*: OCR.yaml:29-34, the SubModules.TextDetection values (pipeline.py:104-110, 271-282);
    - textRecScoreThresh: OCR.yaml:45 ``score_thresh: 0.0`` (pipeline.py:141, 343-344);
    - returnWordBox: not in OCR.yaml; pipeline.py:142 ``text_rec_config.get("return_word_box", False)``;
    - fileType: no default: base64 input without it is refused with 422 ``File type cannot be
      determined``; a URL's type is guessed from its file name (_pipeline_apps/_common/ocr.py:78-93).
    """
    config = pipeline_config()
    det = config["SubModules"]["TextDetection"]
    rec = config["SubModules"]["TextRecognition"]
    doc = config["SubPipelines"]["DocPreprocessor"]
    return {
        "fileType": None,
        "useDocOrientationClassify": bool(config.get("use_doc_preprocessor", True)) and bool(doc.get("use_doc_orientation_classify", True)),
        "useDocUnwarping": bool(config.get("use_doc_preprocessor", True)) and bool(doc.get("use_doc_unwarping", True)),
        "useTextlineOrientation": bool(config.get("use_textline_orientation", True)),
        "textDetLimitSideLen": det.get("limit_side_len", 960),
        "textDetLimitType": det.get("limit_type", "max"),
        "textDetThresh": det.get("thresh", 0.3),
        "textDetBoxThresh": det.get("box_thresh", 0.6),
        "textDetUnclipRatio": det.get("unclip_ratio", 2.0),
        "textRecScoreThresh": rec.get("score_thresh", 0),
        "returnWordBox": rec.get("return_word_box", False),
        "visualize": load().AppConfig().visualize,
    }


def doc_preprocessing(use_doc_orientation_classify: bool | None, use_doc_unwarping: bool | None) -> dict:
    """The OCR pipeline's document preprocessing for the two request members (each True, False or
    None = absent), as pipelines/ocr/pipeline.py:231-237 and doc_preprocessor/pipeline.py:132-135
    decide it. Both None: the pipeline's ``use_doc_preprocessor`` (OCR.yaml:6, True) and then the
    sub-pipeline's own defaults (OCR.yaml:12-13, both True). Otherwise the preprocessor runs only if
    one of them is True, and a None one then takes the sub-pipeline's default (True): so
    ``{"useDocOrientationClassify": false}`` alone runs *no* unwarping, while ``true`` alone runs both.
    Returns {"use_doc_preprocessor": bool, "use_doc_orientation_classify": bool|None,
    "use_doc_unwarping": bool|None} (the last two None when the preprocessor does not run)."""
    config = pipeline_config()
    doc = config["SubPipelines"]["DocPreprocessor"]
    if use_doc_orientation_classify is None and use_doc_unwarping is None:
        use = bool(config.get("use_doc_preprocessor", True))
    else:
        use = use_doc_orientation_classify is True or use_doc_unwarping is True
    if not use:
        return {"use_doc_preprocessor": False, "use_doc_orientation_classify": None, "use_doc_unwarping": None}
    return {
        "use_doc_preprocessor": True,
        "use_doc_orientation_classify": bool(doc.get("use_doc_orientation_classify", True)
                                             if use_doc_orientation_classify is None else use_doc_orientation_classify),
        "use_doc_unwarping": bool(doc.get("use_doc_unwarping", True) if use_doc_unwarping is None else use_doc_unwarping),
    }
