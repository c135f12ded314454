"""The worker's answers are PaddleX 3.7.2's: its defaults, its member order and omitted nulls, its
logId echo, its visualisation images, multi-page TIFFs page by page, its request validation, and
answers that PaddleX's own response models accept (tests/conformance/paddlex_schema.py).

    .venv-worker/bin/python -m pytest worker/tests/test_worker_paddlex.py
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from test_worker import DOCUMENTED_DEFAULTS, UUID4, assert_error_envelope, running_worker

WORKER = Path(__file__).resolve().parents[1]
REPO = WORKER.parent
sys.path.insert(0, str(WORKER))
sys.path.insert(0, str(REPO / "tests" / "conformance"))

import make_invoice  # noqa: E402
import visualize  # noqa: E402

MAX_PAGES = 10  # PaddleX's DEFAULT_MAX_NUM_INPUT_IMGS (_pipeline_apps/_common/ocr.py:33)


# ---------------------------------------------------------------- helpers


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def label_image(text: str, size=(360, 100), font_size=28) -> Image.Image:
    img = Image.new("RGB", size, "white")
    font = ImageFont.truetype(make_invoice.find_cjk_font(), font_size)
    ImageDraw.Draw(img).text((16, (size[1] - font_size) // 2 - 4), text, fill="black", font=font)
    return img


def png_of(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def tiff_of(pages: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    return buf.getvalue()


def jpeg(b64_text: str) -> Image.Image:
    data = base64.b64decode(b64_text, validate=True)
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    img.load()
    return img


def texts_of(entry: dict) -> str:
    return " ".join(entry["prunedResult"]["rec_texts"])


def post(server, body: dict) -> tuple[int, bytes]:
    return server.request_raw("POST", "/ocr", json.dumps(body).encode())


def paddlex_schema_or_skip():
    paddlex_schema = pytest.importorskip("paddlex_schema")
    if not (paddlex_schema.schema_root() / f".installed-{paddlex_schema.PADDLEX_VERSION}").exists():
        pytest.skip("PaddleX's schema is not installed: run tests/conformance/install_schema.sh")
    return paddlex_schema


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server():
    with running_worker() as client:
        yield client


@pytest.fixture(scope="module")
def invoice_png() -> bytes:
    return make_invoice.invoice_png_bytes()


@pytest.fixture(scope="module")
def invoice_answers(server, invoice_png):
    """The invoice with the defaults (visualize true) and with visualize false: (bytes, bytes)."""
    on = post(server, {"file": b64(invoice_png), "fileType": 1})
    off = post(server, {"file": b64(invoice_png), "fileType": 1, "visualize": False})
    assert on[0] == 200 and off[0] == 200, (on[1][:300], off[1][:300])
    return on[1], off[1]


# ---------------------------------------------------------------- defaults


def test_health_reports_paddlex_s_defaults(server):
    status, body = server.get("/health")
    assert status == 200
    assert body["defaults"] == DOCUMENTED_DEFAULTS
    paddlex_schema = paddlex_schema_or_skip()
    paddlex = paddlex_schema.paddlex_defaults()
    # Every default is PaddleX's, except the two document-preprocessing models this worker does not
    # have (PaddleX: true; here false, and true is refused) and fileType (PaddleX has none).
    differ = {name for name in paddlex if paddlex[name] != body["defaults"][name]}
    assert differ == {"fileType", "useDocOrientationClassify", "useDocUnwarping"}, differ
    assert body["defaults"]["useDocOrientationClassify"] is False and body["defaults"]["useDocUnwarping"] is False


def test_a_request_without_options_is_run_with_the_defaults(server, invoice_answers):
    r = json.loads(invoice_answers[0])["result"]["ocrResults"][0]["prunedResult"]
    d = DOCUMENTED_DEFAULTS
    assert r["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": d["useTextlineOrientation"]}
    params = r["text_det_params"]
    assert (params["limit_side_len"], params["limit_type"], params["thresh"], params["box_thresh"], params["unclip_ratio"]) == \
        (d["textDetLimitSideLen"], d["textDetLimitType"], d["textDetThresh"], d["textDetBoxThresh"], d["textDetUnclipRatio"])
    assert r["text_rec_score_thresh"] == d["textRecScoreThresh"] and r["return_word_box"] is d["returnWordBox"]
    assert set(r["textline_orientation_angles"]) <= {0, 1}
    # PaddleX writes whole floats with their ".0" (json of a Python float)
    raw = invoice_answers[0]
    assert b'"unclip_ratio":1.5' in raw and b'"text_rec_score_thresh":0.0' in raw and b'"box_thresh":0.6' in raw


@pytest.mark.parametrize("flag,words", [("useDocOrientationClassify", "document orientation classification"),
                                        ("useDocUnwarping", "document unwarping"),
                                        ("returnWordBox", "word boxes")])
def test_what_the_worker_has_no_model_for_is_refused_clearly(server, flag, words):
    png = png_of(label_image("DOC 1"))
    for value in (True, "true", 1):  # every spelling PaddleX reads as true
        status, raw = post(server, {"file": b64(png), "fileType": 1, flag: value, "logId": "doc-flag"})
        body = json.loads(raw)
        assert status == 422 and body["errorCode"] == 422, body
        assert body["logId"] == "doc-flag"
        assert flag in body["errorMsg"] and words in body["errorMsg"] and "not supported" in body["errorMsg"], body
    status, raw = post(server, {"file": b64(png), "fileType": 1, flag: False, "visualize": False})
    assert status == 200, raw[:300]


def test_a_damaged_pdf_and_urls_are_refused_clearly(server):
    status, raw = post(server, {"file": b64(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), "fileType": 0, "logId": "pdf-1"})
    body = json.loads(raw)
    assert status == 422 and list(body) == ["logId", "errorCode", "errorMsg"] and body["errorCode"] == 422
    assert body["logId"] == "pdf-1" and body["errorMsg"] == "Invalid input file: the PDF is damaged and cannot be read"
    status, raw = post(server, {"file": "https://example.com/page.png", "fileType": 1})
    assert status == 422 and "URL" in json.loads(raw)["errorMsg"]


# ---------------------------------------------------------------- the answer's shape


def test_members_in_paddlex_s_order_and_no_nulls(invoice_answers):
    on, off = (json.loads(raw) for raw in invoice_answers)
    for body in (on, off):
        assert list(body) == ["logId", "result", "errorCode", "errorMsg"]
        assert list(body["result"]) == ["ocrResults", "dataInfo"]
        assert list(body["result"]["dataInfo"]) == ["width", "height", "type"]
    assert list(on["result"]["ocrResults"][0]) == ["prunedResult", "ocrImage", "inputImage"]
    assert list(off["result"]["ocrResults"][0]) == ["prunedResult"]
    for raw in invoice_answers:
        assert b"null" not in raw, "PaddleX leaves absent images out (response_model_exclude_none)"
        assert b": " not in raw[:200] and b", " not in raw[:200], "compact JSON, as Starlette writes it"
    # the recognition is the same whether or not the images are drawn
    assert on["result"]["ocrResults"][0]["prunedResult"] == off["result"]["ocrResults"][0]["prunedResult"]


def test_answer_sizes_with_and_without_visualisation(invoice_answers):
    """The gateway stores whole answers: the images make an invoice's answer ~100 times larger."""
    on, off = (len(raw) for raw in invoice_answers)
    print(f"\ninvoice answer: visualize true {on} bytes, visualize false {off} bytes")
    assert off < 10_000
    assert 100_000 < on < 1_000_000


def test_the_request_s_log_id_is_echoed(server):
    png = b64(png_of(label_image("LOG 7")))
    status, raw = post(server, {"file": png, "fileType": 1, "visualize": False, "logId": "my-log-7"})
    assert status == 200 and json.loads(raw)["logId"] == "my-log-7"
    assert raw.startswith(b'{"logId":"my-log-7","result":')
    for fresh in ("", None):  # PaddleX: request.logId if request.logId else generate_log_id()
        status, raw = post(server, {"file": png, "fileType": 1, "visualize": False, "logId": fresh})
        assert status == 200 and UUID4.match(json.loads(raw)["logId"]), raw[:100]
    # refusals echo it too (PaddleX's _try_get_log_id) ...
    for body in ({"fileType": 1, "logId": "my-log-8"},                       # validation (missing file)
                 {"file": 42, "fileType": 1, "logId": "my-log-8"},
                 {"file": b64(b"not an image"), "fileType": 1, "logId": "my-log-8"},  # Invalid input file
                 {"file": png, "fileType": 1, "textDetLimitType": "mid", "logId": "my-log-8"}):
        status, raw = post(server, body)
        assert status == 422 and json.loads(raw)["logId"] == "my-log-8", raw
    status, raw = server.request_raw("POST", "/ocr", b'{"file": "aGk=", "logId": "my-log-9"} trailing')
    assert status == 422 and json.loads(raw)["logId"] != "my-log-9"  # not a JSON object: nothing to echo
    # ... but a logId that is not a string is a wrong type, answered with a new one
    status, raw = post(server, {"file": png, "fileType": 1, "logId": 5})
    body = json.loads(raw)
    assert_error_envelope(status, body, 422)
    assert json.loads(body["errorMsg"]) == [{"type": "string_type", "loc": "body.logId", "msg": "Input should be a valid string"}]


# ---------------------------------------------------------------- visualisation


def test_visualisation_images_are_jpegs_of_the_page_and_of_the_result(invoice_answers, invoice_png):
    page = json.loads(invoice_answers[0])["result"]["ocrResults"][0]
    w, h = Image.open(io.BytesIO(invoice_png)).size
    assert "docPreprocessingImage" not in page  # no document preprocessor ran
    source = np.asarray(Image.open(io.BytesIO(invoice_png)).convert("RGB"), dtype=np.int16)
    shown = jpeg(page["inputImage"])
    assert shown.size == (w, h) and shown.mode == "RGB"
    assert np.abs(np.asarray(shown, dtype=np.int16) - source).mean() < 3, "inputImage is not the page"
    drawn = jpeg(page["ocrImage"])
    assert drawn.size == (2 * w, h)  # the page with the boxes, and the recognised text beside it
    pixels = np.asarray(drawn, dtype=np.int16)
    left, right = pixels[:, :w], pixels[:, w:]
    boxes = page["prunedResult"]["rec_boxes"]
    # each kept line is filled with a colour (blended with the page): its box is no longer grey
    x0, y0, x1, y1 = boxes[0]
    inside = left[y0 + 2:y1 - 2, x0 + 2:x1 - 2]
    assert (inside.max(axis=2) - inside.min(axis=2)).mean() > 10, "the first line's box is not coloured"
    # the right half is a white page with the text written in the boxes
    assert right.mean() > 200 and right.min() < 60


def test_visualisation_images_fit_in_2000_by_2000(server):
    img = label_image("WIDE PAGE 2400", size=(2400, 900), font_size=60)
    status, raw = post(server, {"file": b64(png_of(img)), "fileType": 1})
    assert status == 200, raw[:300]
    page = json.loads(raw)["result"]["ocrResults"][0]
    assert "2400" in texts_of(page)
    # PaddleX's postprocess_image: one factor, so that the larger side is 2000
    assert jpeg(page["inputImage"]).size == (2000, 750) == visualize.fit_size(2400, 900)
    assert jpeg(page["ocrImage"]).size == (2000, 375) == visualize.fit_size(4800, 900)


def test_fit_size_is_paddlex_s_arithmetic():
    assert visualize.fit_size(800, 570) == (800, 570)
    assert visualize.fit_size(2000, 2000) == (2000, 2000)
    assert visualize.fit_size(1600, 4000) == (800, 2000)
    assert visualize.fit_size(4001, 10) == (2000, 4)
    assert visualize.fit_size(3000, 3000) == (2000, 2000)


# ---------------------------------------------------------------- multi-page TIFF


def test_a_multi_page_tiff_is_answered_page_by_page(server):
    pages = [label_image("PAGE ONE 111"), label_image("PAGE TWO 222", size=(420, 90)), label_image("PAGE THREE 333", size=(400, 120))]
    status, raw = post(server, {"file": b64(tiff_of(pages)), "fileType": 1, "logId": "tiff-3"})
    assert status == 200, raw[:300]
    body = json.loads(raw)
    assert body["logId"] == "tiff-3"
    assert body["result"]["dataInfo"] == {
        "numPages": 3, "pages": [{"width": p.width, "height": p.height} for p in pages], "type": "tiff"}
    assert list(body["result"]["dataInfo"]) == ["numPages", "pages", "type"]
    entries = body["result"]["ocrResults"]
    assert len(entries) == 3
    for entry, page, words in zip(entries, pages, ("111", "222", "333")):
        assert words in texts_of(entry), texts_of(entry)
        assert jpeg(entry["inputImage"]).size == page.size
        assert jpeg(entry["ocrImage"]).size == (2 * page.width, page.height)


def test_a_tiff_s_pages_after_the_tenth_are_dropped(server):
    pages = [label_image(f"P{n:02d}", size=(160, 60)) for n in range(1, 13)]
    status, raw = post(server, {"file": b64(tiff_of(pages)), "fileType": 1, "visualize": False,
                                "useTextlineOrientation": False})
    assert status == 200, raw[:300]
    result = json.loads(raw)["result"]
    assert result["dataInfo"]["numPages"] == MAX_PAGES and len(result["dataInfo"]["pages"]) == MAX_PAGES
    assert len(result["ocrResults"]) == MAX_PAGES
    assert "P10" in texts_of(result["ocrResults"][-1]).replace(" ", "")


def test_a_single_frame_tiff_is_an_image(server):
    status, raw = post(server, {"file": b64(tiff_of([label_image("ONE FRAME")])), "fileType": 1, "visualize": False})
    assert status == 200, raw[:300]
    result = json.loads(raw)["result"]
    assert result["dataInfo"] == {"width": 360, "height": 100, "type": "image"}
    assert "FRAME" in texts_of(result["ocrResults"][0])


def test_a_tiff_page_over_the_pixel_limit_is_refused_before_any_work(server):
    before = server.get("/stats")[1]["ocrInferences"]
    huge = Image.new("1", (10_000, 10_000), 1)  # 100 Mpx, a few KB compressed; the worker's limit is 50 Mpx
    status, raw = post(server, {"file": b64(tiff_of([label_image("SMALL"), huge])), "fileType": 1})
    body = json.loads(raw)
    assert_error_envelope(status, body, 422)
    assert body["errorMsg"] == "Page 2: Image pixel count 100000000 (width=10000, height=10000) exceeds maximum allowed 50000000."
    assert server.get("/stats")[1]["ocrInferences"] == before


# ---------------------------------------------------------------- PaddleX's own models and validation


def test_answers_are_what_paddlex_s_models_serialise(server, invoice_answers):
    """Each answer parses with PaddleX's response model, and its bytes are exactly what PaddleX's
    serving writes for those values (model order, nulls excluded, compact JSON)."""
    paddlex_schema = paddlex_schema_or_skip()
    schema = paddlex_schema.load()
    tiff = tiff_of([label_image("SCHEMA ONE"), label_image("SCHEMA TWO", size=(300, 80))])
    answers = [*invoice_answers, post(server, {"file": b64(tiff), "fileType": 1})[1]]
    for raw in answers:
        model = schema.ResultResponse.model_validate_json(raw)
        assert paddlex_schema.dumps(model.model_dump(mode="json", exclude_none=True)) == raw
    assert schema.ResultResponse.model_validate_json(answers[-1]).result.dataInfo.type == "tiff"
    for body in ({"fileType": 1}, {"file": b64(b"junk"), "fileType": 1, "logId": "x-1"}):
        status, raw = post(server, body)
        model = schema.NoResultResponse.model_validate_json(raw)
        assert model.errorCode == status == 422
        assert paddlex_schema.dumps(model.model_dump(mode="json")) == raw


REFUSED = [
    b"{not json",
    b'{"file": "aGk=", "fileType": 1} x',
    b"",
    b"[1, 2, 3]",
    b"null",
    b'"file"',
    b'{"fileType": 1}',
    b'{"file": null, "fileType": 1}',
    b'{"file": 42, "fileType": 1}',
    b'{"file": "aGk=", "fileType": 2}',
    b'{"file": "aGk=", "fileType": "1"}',
    b'{"file": "aGk=", "fileType": 1, "visualize": "maybe", "textDetThresh": "abc", "textDetLimitSideLen": 736.5}',
    b'{"file": "aGk=", "fileType": 1, "useTextlineOrientation": 2, "textDetLimitType": 5}',
    b'{"file": "aGk=", "fileType": 1, "textRecScoreThresh": [0.5], "returnWordBox": {}}',
    b'{"file": "aGk=", "fileType": 1, "logId": 5}',
    b'{"file": "\xff", "fileType": 1}',
]


@pytest.mark.parametrize("raw", REFUSED, ids=lambda raw: raw.decode("utf-8", "replace")[:40] or "empty")
def test_a_request_paddlex_refuses_gets_paddlex_s_answer(server, raw):
    paddlex_schema = paddlex_schema_or_skip()
    with pytest.raises(paddlex_schema.PaddleXError) as refusal:
        paddlex_schema.validate_request(raw)
    status, answer = server.request_raw("POST", "/ocr", raw)
    body = json.loads(answer)
    assert (status, body["errorCode"], body["errorMsg"]) == (refusal.value.status,) * 2 + (refusal.value.message,)


# PaddleX's lax spellings: each must reach the model with the meaning pydantic gives it.
LAX = [
    {"fileType": True},
    {"fileType": 1.0},
    {"visualize": "false"},
    {"visualize": "no", "useTextlineOrientation": "off"},
    {"visualize": 0, "useTextlineOrientation": "YES"},
    {"visualize": 0.0, "textDetLimitSideLen": "736", "textDetThresh": "0.25"},
    {"visualize": "0", "textDetLimitSideLen": 736.0, "textDetBoxThresh": 1, "textDetUnclipRatio": "2"},
    {"visualize": "f", "textRecScoreThresh": "0.5", "textDetLimitType": "max", "textDetLimitSideLen": True},
    {"visualize": False, "someUnknownMember": {"x": [1, 2]}, "logId": None},
]


@pytest.mark.parametrize("extra", LAX, ids=lambda e: json.dumps(e)[:60])
def test_paddlex_s_lax_spellings_are_accepted_with_the_same_meaning(server, extra):
    paddlex_schema = paddlex_schema_or_skip()
    png = b64(png_of(label_image("LAX 42", size=(200, 60))))
    raw = json.dumps({"file": png, **extra}).encode()
    request = paddlex_schema.validate_request(raw)
    status, answer = server.request_raw("POST", "/ocr", raw)
    assert status == 200, answer[:300]
    entry = json.loads(answer)["result"]["ocrResults"][0]
    r = entry["prunedResult"]
    d = DOCUMENTED_DEFAULTS

    def want(name):
        value = getattr(request, name)
        return d[name] if value is None else value

    assert ("ocrImage" in entry) is want("visualize")
    assert r["model_settings"]["use_textline_orientation"] is want("useTextlineOrientation")
    params = r["text_det_params"]
    assert params["limit_side_len"] == want("textDetLimitSideLen") and params["limit_type"] == want("textDetLimitType")
    assert (params["thresh"], params["box_thresh"], params["unclip_ratio"]) == \
        (want("textDetThresh"), want("textDetBoxThresh"), want("textDetUnclipRatio"))
    assert r["text_rec_score_thresh"] == want("textRecScoreThresh")
    assert type(r["text_rec_score_thresh"]) is float and type(params["limit_side_len"]) is int


def test_still_healthy_after_all_this(server):
    assert server.proc.poll() is None
    status, body = server.get("/health")
    assert status == 200 and body["errorMsg"] == "Healthy"
    assert "Traceback" not in server.log_path.read_text()
