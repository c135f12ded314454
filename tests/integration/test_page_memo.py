"""The page memo through the real gateway and the real PP-OCRv4 worker: a PDF whose every page was
answered before, in other PDFs or as images, is answered without calling the model, billed 0, with
exactly the bytes the model gives that PDF; an image of a page answered in a PDF likewise; a PDF with one
new page goes to the model; pages are kept per task options and per cache scope, and `pageMemo: false`
turns it off."""
import base64
import io
import json
import os
import re
import time

import pikepdf
import pypdf
import pytest

import pdf_files
from conftest import Gateway, http

FIRST, SECOND, THIRD = "20261204-5101", "20261204-5102", "20261204-5103"
PAGES = {
    "p1": pdf_files.invoice_page(FIRST, 1, 2),
    "p2": pdf_files.invoice_page(SECOND, 2, 2),
    "p3": pdf_files.invoice_page(THIRD, 1, 1),
}


def pdf_body(pdf: bytes, **extra) -> bytes:
    return json.dumps({"file": base64.b64encode(pdf).decode(), "fileType": 0, **extra}).encode()


def png_body(png: bytes, **extra) -> bytes:
    return json.dumps({"file": base64.b64encode(png).decode(), "fileType": 1, **extra}).encode()


def page_png(pdf: bytes, index: int) -> bytes:
    """Page `index` of `pdf` as the worker renders it (PDFium, PaddleX's scale 2), saved by Pillow as
    an 8-bit RGB PNG: what a user gets converting the PDF's pages to images with the same renderer."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[index].render(scale=2.0).to_pil()
    finally:
        document.close()
    assert image.mode == "RGB"
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def direct(worker, body: bytes) -> bytes:
    """The worker's own answer to `body` with the gateway's defaults, without its logId."""
    status, _, answer = http("POST", worker.url + "/ocr", body, {"Content-Type": "application/json"})
    assert status == 200, answer[:300]
    return without_log_id(answer)


def without_log_id(answer: bytes) -> bytes:
    """The answer's bytes after its `logId` (every answer has a fresh one)."""
    stripped, count = re.subn(rb'^\{"logId":"[^"]*",', b"{", answer)
    assert count == 1, answer[:120]
    return stripped


def pikepdf_pages(source: bytes, order: list[int]) -> bytes:
    """A new document made by qpdf from pages of `source`, in `order`: other bytes, other object
    numbers, another document id."""
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(source)) as pdf, pikepdf.new() as new:
        for index in order:
            new.pages.append(pdf.pages[index])
        new.save(out)
    return out.getvalue()


def pypdf_pages(source: bytes, order: list[int]) -> bytes:
    """The same with pypdf, another writer (object streams off, its own numbering and trailer)."""
    reader = pypdf.PdfReader(io.BytesIO(source))
    writer = pypdf.PdfWriter()
    for index in order:
        writer.add_page(reader.pages[index])
    writer.add_metadata({"/Producer": "another program", "/Title": "copied pages"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def documents() -> dict[str, bytes]:
    a = pdf_files.make_pdf([PAGES["p1"], PAGES["p2"]])
    return {
        "a": a,  # p1 p2
        "b": pikepdf_pages(a, [1, 0]),  # p2 p1, another document
        "c": pypdf_pages(a, [1]),  # p2 alone, by pypdf
        "d": pdf_files.make_pdf([PAGES["p1"], PAGES["p3"]]),  # p1 and a new page
        "e": pypdf_pages(pdf_files.make_pdf([PAGES["p1"], PAGES["p3"]]), [1]),  # p3 alone
    }


def usage(gateway: Gateway, tenant: str) -> dict:
    status, _, body = http("GET", gateway.url + f"/v1/usage?tenant={tenant}",
                           headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200, body
    return json.loads(body)["totals"]


def test_a_pdf_of_pages_seen_in_other_pdfs_is_answered_without_the_model(gateway, worker, documents):
    calls = worker.ocr_requests()
    status, headers, _ = gateway.post(pdf_body(documents["a"]), tenant="memo")
    assert status == 200 and headers["x-deja-cache"] == "miss" and headers["x-deja-billed-tokens"] == "20"
    assert "x-deja-page-memo" not in headers
    assert worker.ocr_requests() == calls + 1

    # Another document of the same two pages in the other order: both pages are known.
    status, headers, answer = gateway.post(pdf_body(documents["b"]), tenant="memo")
    assert status == 200, answer[:300]
    assert headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "2"
    assert headers["x-deja-tokens"] == "20" and headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == calls + 1, "a document of known pages reached the model"
    # Exactly what the model answers for that document.
    status, _, direct = http("POST", worker.url + "/ocr", pdf_body(documents["b"], useTextlineOrientation=False, visualize=False),
                             {"Content-Type": "application/json"})
    assert status == 200
    assert without_log_id(answer) == without_log_id(direct)
    calls += 1  # the direct call

    # Its repeat is an ordinary hit on the document's own key.
    status, again, repeat = gateway.post(pdf_body(documents["b"]), tenant="memo")
    assert again["x-deja-cache"] == "hit" and again["x-deja-key"] == headers["x-deja-key"]
    assert "x-deja-page-memo" not in again and without_log_id(repeat) == without_log_id(answer)

    # One page of it, copied by another program.
    status, headers, answer = gateway.post(pdf_body(documents["c"]), tenant="memo")
    assert status == 200 and headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "1"
    assert headers["x-deja-tokens"] == "10" and headers["x-deja-billed-tokens"] == "0"
    assert json.loads(answer)["result"]["ocrResults"][0] == json.loads(direct)["result"]["ocrResults"][0]

    # A document with a page never seen goes to the model, and teaches the memo that page.
    status, headers, _ = gateway.post(pdf_body(documents["d"]), tenant="memo")
    assert status == 200 and headers["x-deja-cache"] == "miss" and headers["x-deja-billed-tokens"] == "20"
    status, headers, answer = gateway.post(pdf_body(documents["e"]), tenant="memo")
    assert status == 200 and headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "1"
    assert THIRD in re.sub(r"\s+", "", "".join(json.loads(answer)["result"]["ocrResults"][0]["prunedResult"]["rec_texts"]))
    assert worker.ocr_requests() == calls + 2

    totals = usage(gateway, "memo")
    assert totals["misses"] == 2 and totals["hits"] == 4 and totals["errors"] == 0
    assert totals["billedTokens"] == 40 and totals["savedTokens"] == 20 + 20 + 10 + 10


@pytest.fixture
def images_gateway(worker, tmp_path):
    """A gateway that also matches pages with images (`pageMemoImages: true`)."""
    gateway = Gateway(worker.url, tmp_path, task={"pageMemoImages": True})
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def test_an_image_of_a_page_answered_in_a_pdf_is_answered_from_that_page(images_gateway, worker, documents):
    gateway = images_gateway
    status, headers, _ = gateway.post(pdf_body(documents["a"]), tenant="images")
    assert status == 200 and headers["x-deja-cache"] == "miss"
    calls = worker.ocr_requests()
    second = page_png(documents["a"], 1)
    status, headers, answer = gateway.post(png_body(second), tenant="images")
    assert status == 200, answer[:300]
    assert headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "1", headers
    assert headers["x-deja-tokens"] == "10" and headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == calls, "an image of a known page reached the model"
    # The model's own decoder merges them: its answer to the image is the page's, byte for byte.
    assert without_log_id(answer) == direct(worker, png_body(second, useTextlineOrientation=False, visualize=False))
    # One pixel changed is another image.
    from PIL import Image

    image = Image.open(io.BytesIO(second))
    pixel = image.getpixel((5, 5))
    image.putpixel((5, 5), tuple(255 - value for value in pixel))
    changed = io.BytesIO()
    image.save(changed, "PNG")
    status, headers, _ = gateway.post(png_body(changed.getvalue()), tenant="images")
    assert status == 200 and headers["x-deja-cache"] == "miss" and "x-deja-page-memo" not in headers


def test_a_pdf_of_pages_seen_as_images_is_answered_without_the_model(images_gateway, worker, documents):
    """The worker is asked what the PDF's pages render as (one render, no OCR) and the images' answers
    are put together into the PDF's."""
    gateway = images_gateway
    for index in (0, 1):
        status, headers, _ = gateway.post(png_body(page_png(documents["d"], index)), tenant="scans")
        assert status == 200 and headers["x-deja-cache"] == "miss"
    calls, renders = worker.ocr_requests(), worker.stats()["pagePixelsRequests"]
    status, headers, answer = gateway.post(pdf_body(documents["d"]), tenant="scans")
    assert status == 200, answer[:300]
    assert headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "2", headers
    assert headers["x-deja-tokens"] == "20" and headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == calls and worker.stats()["pagePixelsRequests"] == renders + 1
    assert without_log_id(answer) == direct(worker, pdf_body(documents["d"], useTextlineOrientation=False, visualize=False))
    # A PDF with a page never seen in any form still goes to the model.
    status, headers, _ = gateway.post(pdf_body(documents["a"]), tenant="scans")
    assert status == 200 and headers["x-deja-cache"] == "miss"


def test_images_are_not_matched_unless_asked(gateway, worker, documents):
    """The default keeps the memo to PDFs: no render-only call, no second piece per page."""
    renders = worker.stats()["pagePixelsRequests"]
    status, headers, _ = gateway.post(pdf_body(documents["a"]), tenant="no-images")
    assert status == 200 and headers["x-deja-cache"] == "miss"
    status, headers, _ = gateway.post(png_body(page_png(documents["a"], 1)), tenant="no-images")
    assert status == 200 and headers["x-deja-cache"] == "miss" and "x-deja-page-memo" not in headers
    assert worker.stats()["pagePixelsRequests"] == renders


def test_pages_are_kept_per_options(gateway, worker, documents):
    """A page answered with one option set is not another option set's answer."""
    status, headers, _ = gateway.post(pdf_body(documents["a"], textRecScoreThresh=0.5), tenant="options")
    assert status == 200 and headers["x-deja-cache"] == "miss"
    calls = worker.ocr_requests()
    status, headers, _ = gateway.post(pdf_body(documents["b"]), tenant="options")
    assert status == 200 and headers["x-deja-cache"] == "miss" and "x-deja-page-memo" not in headers
    assert worker.ocr_requests() == calls + 1
    status, headers, _ = gateway.post(pdf_body(documents["c"], textRecScoreThresh=0.5), tenant="options")
    assert headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "1"


def test_pages_are_kept_per_tenant_in_a_tenant_scope(worker, tmp_path, documents):
    gateway = Gateway(worker.url, tmp_path, task={"scope": "tenant"})
    gateway.start()
    try:
        status, headers, _ = gateway.post(pdf_body(documents["a"]), tenant="one")
        assert status == 200 and headers["x-deja-cache"] == "miss"
        status, headers, _ = gateway.post(pdf_body(documents["b"]), tenant="two")
        assert status == 200 and headers["x-deja-cache"] == "miss", "one tenant's pages answered another's document"
        status, headers, _ = gateway.post(pdf_body(documents["c"]), tenant="one")
        assert headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "1"
    finally:
        gateway.stop()


def test_page_memo_off(worker, tmp_path, documents):
    gateway = Gateway(worker.url, tmp_path, task={"pageMemo": False})
    gateway.start()
    try:
        gateway.post(pdf_body(documents["a"]), tenant="off")
        calls = worker.ocr_requests()
        status, headers, _ = gateway.post(pdf_body(documents["b"]), tenant="off")
        assert status == 200 and headers["x-deja-cache"] == "miss" and "x-deja-page-memo" not in headers
        assert worker.ocr_requests() == calls + 1
    finally:
        gateway.stop()


@pytest.mark.skipif(not os.environ.get("DEJA_REDIS_URL"), reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")
def test_pages_answered_on_one_instance_answer_a_document_on_another(worker, tmp_path, documents):
    """Page pieces live in the shared cache: an instance with no memory tier answers a document from
    pages another instance stored in Redis."""
    redis = os.environ["DEJA_REDIS_URL"]
    task = {"model": {"name": "PP-OCRv4", "version": f"pages-{int(time.time() * 1000)}"}}
    one = Gateway(worker.url, tmp_path / "one", task=task, stores={"cache": redis})
    two = Gateway(worker.url, tmp_path / "two", task=task, stores={"cache": redis, "memoryBytes": 0})
    one.start()
    two.start()
    try:
        status, headers, _ = one.post(pdf_body(documents["a"]), tenant="shared-pages")
        assert status == 200 and headers["x-deja-cache"] == "miss"
        calls = worker.ocr_requests()
        status, headers, answer = two.post(pdf_body(documents["b"]), tenant="shared-pages")
        assert status == 200, answer[:300]
        assert headers["x-deja-cache"] == "hit" and headers["x-deja-page-memo"] == "2", headers
        assert headers["x-deja-billed-tokens"] == "0" and worker.ocr_requests() == calls
    finally:
        one.stop()
        two.stop()
