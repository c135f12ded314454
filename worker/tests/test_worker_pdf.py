"""PDF input (`fileType: 0`) on the real worker: a two-page PDF invoice made here and OCR'd for real, page
by page, and the PDFs it refuses (password, damaged, not a PDF, too many pages, a page too large).

    .venv-worker/bin/python -m pytest worker/tests/test_worker_pdf.py
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from test_worker import UUID4, server  # noqa: F401 (server: a worker for this module, as test_worker's)

WORKER = Path(__file__).resolve().parents[1]
REPO = WORKER.parent
sys.path.insert(0, str(WORKER))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import pdf_files  # noqa: E402
import pdf_input  # noqa: E402

FIRST, SECOND = "20261129-0042", "20261129-0043"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def post(server, body: dict) -> tuple[int, bytes]:
    return server.request_raw("POST", "/ocr", json.dumps(body).encode())


def squeezed(entry: dict) -> str:
    """A page's recognised text, lines joined, white space removed, lower case."""
    return re.sub(r"\s+", "", "".join(entry["prunedResult"]["rec_texts"])).lower()


def rendered_pages(pdf: bytes) -> list:
    """The PDF's pages as the worker renders them (BGR arrays)."""
    document = pdf_input.PdfPages(pdf, pdf_input.DEFAULT_MAX_PDF_PAGES, 50_000_000)
    try:
        return [document.render(index) for index in range(len(document.sizes))]
    finally:
        document.close()


def png_of_bgr(page) -> bytes:
    out = io.BytesIO()
    Image.fromarray(page[:, :, ::-1]).save(out, "PNG")
    return out.getvalue()


def refused(server, pdf: bytes, log_id: str = "pdf-refused") -> str:
    """Posts `pdf` as fileType 0; asserts a 422 in PaddleX's envelope with the logId echoed, that the model
    did not run, and returns errorMsg."""
    before = server.get("/stats")[1]
    status, raw = post(server, {"file": b64(pdf), "fileType": 0, "logId": log_id})
    body = json.loads(raw)
    assert status == 422 and list(body) == ["logId", "errorCode", "errorMsg"] and body["errorCode"] == 422, body
    assert body["logId"] == log_id
    after = server.get("/stats")[1]
    assert after["ocrInferences"] == before["ocrInferences"], "a refused PDF reached the model"
    assert after["ocrErrors"] == before["ocrErrors"] + 1
    return body["errorMsg"]


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return pdf_files.make_pdf([pdf_files.invoice_page(FIRST, 1, 2), pdf_files.invoice_page(SECOND, 2, 2)])


@pytest.fixture(scope="module")
def invoice_answer(server, invoice_pdf) -> bytes:
    status, raw = post(server, {"file": b64(invoice_pdf), "fileType": 0, "visualize": False, "logId": "pdf-2"})
    assert status == 200, raw[:400]
    return raw


# ---------------------------------------------------------------- answers


def test_a_two_page_pdf_invoice_is_one_entry_per_page(invoice_answer):
    body = json.loads(invoice_answer)
    assert list(body) == ["logId", "result", "errorCode", "errorMsg"] and body["logId"] == "pdf-2"
    assert list(body["result"]) == ["ocrResults", "dataInfo"]
    # PaddleX's PDFInfo: members in its order; 400 x 320 points at scale 2.0 (144 dpi).
    info = body["result"]["dataInfo"]
    assert list(info) == ["numPages", "pages", "type"]
    assert info == {"numPages": 2, "pages": [{"width": 800, "height": 640}] * 2, "type": "pdf"}
    first, second = body["result"]["ocrResults"]
    assert list(first) == ["prunedResult"]  # visualize false: no images
    # Each page's own invoice: the number drawn in its picture, the footer drawn as PDF text.
    assert FIRST in squeezed(first) and SECOND not in squeezed(first), first["prunedResult"]["rec_texts"]
    assert SECOND in squeezed(second) and FIRST not in squeezed(second), second["prunedResult"]["rec_texts"]
    assert "page1of2" in squeezed(first) and "page2of2" in squeezed(second)
    for page in (first, second):
        assert "invoice" in squeezed(page) and "consulting" in squeezed(page)
        assert re.search(r"[\u4e00-\u9fff]", squeezed(page)), "no Chinese text read from the invoice picture"
        assert all(0 <= x <= 800 and 0 <= y <= 640 for poly in page["prunedResult"]["rec_polys"] for x, y in poly)


def test_the_pdf_answer_is_what_paddlex_s_models_serialise(invoice_answer):
    from test_worker_paddlex import paddlex_schema_or_skip

    paddlex_schema = paddlex_schema_or_skip()
    model = paddlex_schema.load().ResultResponse.model_validate_json(invoice_answer)
    assert model.result.dataInfo.type == "pdf" and model.result.dataInfo.numPages == 2
    assert paddlex_schema.dumps(model.model_dump(mode="json", exclude_none=True)) == invoice_answer


def test_each_pdf_page_is_read_as_the_image_of_its_rendering(server, invoice_pdf, invoice_answer):
    """A page's answer is exactly the answer for its rendering sent as a lossless image: the PDF path adds
    nothing but the renderer."""
    pages = json.loads(invoice_answer)["result"]["ocrResults"]
    renders = rendered_pages(invoice_pdf)
    assert [r.shape for r in renders] == [(640, 800, 3)] * 2
    for page, render in zip(pages, renders):
        status, raw = post(server, {"file": b64(png_of_bgr(render)), "fileType": 1, "visualize": False})
        assert status == 200, raw[:300]
        assert json.loads(raw)["result"]["ocrResults"][0]["prunedResult"] == page["prunedResult"]


def test_pdf_pages_are_visualised_page_by_page(server):
    pdf = pdf_files.make_pdf([pdf_files.text_page("ALPHA 111"), pdf_files.text_page("BETA 222", "GAMMA 333")])
    status, raw = post(server, {"file": b64(pdf), "fileType": 0})
    assert status == 200, raw[:300]
    result = json.loads(raw)["result"]
    assert result["dataInfo"]["pages"] == [{"width": 600, "height": 136}, {"width": 600, "height": 192}]
    for entry, size in zip(result["ocrResults"], result["dataInfo"]["pages"]):
        assert list(entry) == ["prunedResult", "ocrImage", "inputImage"]
        with Image.open(io.BytesIO(base64.b64decode(entry["inputImage"]))) as image:
            assert image.format == "JPEG" and image.size == (size["width"], size["height"])
        with Image.open(io.BytesIO(base64.b64decode(entry["ocrImage"]))) as image:
            assert image.size == (2 * size["width"], size["height"])
    assert "alpha111" in squeezed(result["ocrResults"][0])
    assert "beta222" in squeezed(result["ocrResults"][1]) and "gamma333" in squeezed(result["ocrResults"][1])


def test_a_rotated_page_is_rendered_upright_and_sized_after_rotation(server):
    with pikepdf.open(io.BytesIO(pdf_files.make_pdf([pdf_files.text_page("TURNED 90")]))) as pdf:
        pdf.pages[0].obj.Rotate = 90
        out = io.BytesIO()
        pdf.save(out)
    status, raw = post(server, {"file": b64(out.getvalue()), "fileType": 0, "visualize": False})
    assert status == 200, raw[:300]
    result = json.loads(raw)["result"]
    assert result["dataInfo"]["pages"] == [{"width": 136, "height": 600}]
    assert rendered_pages(out.getvalue())[0].shape == (600, 136, 3)


def test_a_pdf_of_exactly_the_page_limit_is_read(server):
    pdf = pdf_files.blank_pages(pdf_input.DEFAULT_MAX_PDF_PAGES, 100, 50)
    status, raw = post(server, {"file": b64(pdf), "fileType": 0, "visualize": False})
    assert status == 200, raw[:300]
    result = json.loads(raw)["result"]
    assert result["dataInfo"]["numPages"] == len(result["ocrResults"]) == pdf_input.DEFAULT_MAX_PDF_PAGES
    assert all(entry["prunedResult"]["rec_texts"] == [] for entry in result["ocrResults"])


def test_a_pdf_protected_by_an_owner_password_only_is_read(server):
    pdf = pdf_files.owner_password_only(pdf_files.make_pdf([pdf_files.text_page("OPEN 42")]))
    status, raw = post(server, {"file": b64(pdf), "fileType": 0, "visualize": False})
    assert status == 200, raw[:300]
    assert "open42" in squeezed(json.loads(raw)["result"]["ocrResults"][0])


# ---------------------------------------------------------------- refusals


def test_an_encrypted_pdf_is_refused_for_its_password(server):
    message = refused(server, pdf_files.encrypted(pdf_files.make_pdf([pdf_files.text_page("SECRET 1")])))
    assert message.startswith("Encrypted PDF: a password is needed"), message


@pytest.mark.parametrize("name, data", [
    ("truncated", pdf_files.truncated(pdf_files.blank_pages(1) + b"%" * 400)),
    ("header then garbage", b"%PDF-1.7\n" + bytes(range(256)) * 4),
])
def test_a_damaged_pdf_is_refused(server, name, data):
    assert refused(server, data) == "Invalid input file: the PDF is damaged and cannot be read", name


def test_an_image_sent_as_a_pdf_is_refused_by_name(server):
    png = png_of_bgr(rendered_pages(pdf_files.make_pdf([pdf_files.text_page("PNG")]))[0])
    assert refused(server, png) == ("Invalid input file: fileType 0 (PDF) was given, but the file is a PNG image, "
                                    "not a PDF; send images with fileType 1")
    message = refused(server, b"hello, this is text")
    assert message == "Invalid input file: fileType 0 (PDF) was given, but the file is not a PDF (no %PDF- header)"


def test_too_many_pages_are_refused_before_any_page_is_rendered(server):
    pages = pdf_input.DEFAULT_MAX_PDF_PAGES + 1
    message = refused(server, pdf_files.blank_pages(pages))
    assert message == (f"PDF has {pages} pages, over this worker's limit of {pdf_input.DEFAULT_MAX_PDF_PAGES} "
                       "pages per request; split it into several requests")


def test_a_page_too_large_once_rendered_is_refused_by_its_number(server):
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf_files.blank_pages(1))) as pdf, \
            pikepdf.open(io.BytesIO(pdf_files.blank_pages(1, 6000, 5000))) as huge:
        pdf.pages.extend(huge.pages)
        pdf.save(out)
    message = refused(server, out.getvalue())
    assert message == "Page 2: Image pixel count 120000000 (width=12000, height=10000) exceeds maximum allowed 50000000."


def test_a_pdf_without_pages_is_refused(server):
    out = io.BytesIO()
    pikepdf.new().save(out)
    # PDFium itself will not open a document without pages (the worker's own check is a second guard).
    assert refused(server, out.getvalue()) in ("Invalid input file: the PDF has no pages",
                                               "Invalid input file: the PDF is damaged and cannot be read")


def test_the_page_limit_must_be_positive():
    run = subprocess.run([sys.executable, str(WORKER / "server.py"), "--port", "0", "--max-pdf-pages", "0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--max-pdf-pages must be at least 1" in run.stderr


def test_the_worker_still_answers_after_refusals(server):
    status, raw = post(server, {"file": b64(pdf_files.make_pdf([pdf_files.text_page("AFTER 7")])), "fileType": 0,
                                "visualize": False})
    assert status == 200 and "after7" in squeezed(json.loads(raw)["result"]["ocrResults"][0])
    assert UUID4.match(json.loads(raw)["logId"])


def test_page_pixels_names_what_each_page_renders_as_without_the_ocr(server, invoice_pdf):
    """Deja's render-only route (not PaddleX's): each page's identity is the SHA-256 of `deja-rgb8`, 0,
    width and height big-endian, and the RGB rows of the page as /ocr renders it."""
    import hashlib
    import struct

    status, raw = server.request_raw("POST", "/deja/page-pixels", json.dumps({"file": b64(invoice_pdf)}).encode())
    assert status == 200, raw[:300]
    answer = json.loads(raw)
    expected = []
    for render in rendered_pages(invoice_pdf):
        height, width = render.shape[:2]
        expected.append(hashlib.sha256(b"deja-rgb8\x00" + struct.pack(">II", width, height) + render[:, :, ::-1].tobytes()).hexdigest())
    assert answer["errorCode"] == 0 and answer["result"]["pages"] == expected
    assert answer["result"]["dataInfo"]["numPages"] == 2 and expected[0] != expected[1]
    # The same as an image decoded by OpenCV: the PNG of a rendering has the rendering's identity.
    decoded = server_decoded(png_of_bgr(rendered_pages(invoice_pdf)[1]))
    assert pdf_input.pixel_identity(decoded) == expected[1]
    for body, message in [({"file": b64(b"not a pdf")}, "not a PDF"), ({}, "'file'")]:
        status, raw = server.request_raw("POST", "/deja/page-pixels", json.dumps(body).encode())
        assert status == 422 and message in json.loads(raw)["errorMsg"], raw[:300]


def server_decoded(png: bytes):
    """`png` as the worker's image path decodes it (OpenCV, IMREAD_COLOR: BGR)."""
    import cv2
    import numpy as np

    return cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
