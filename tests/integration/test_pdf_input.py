"""PDF input through the real gateway and the real worker: a two-page PDF invoice is one answer of two
pages, billed as two pages by a per-page meter, and its repeat is a hit billed 0; a PDF the worker
refuses is billed nothing and is never stored as an answer (its repeat is the remembered rejection, or,
with negative caching off, the model's refusal again)."""
import base64
import json
import re

import pytest

import pdf_files
from conftest import Gateway, http

FIRST, SECOND = "20261129-7101", "20261129-7102"


def pdf_body(pdf: bytes, **extra) -> bytes:
    return json.dumps({"file": base64.b64encode(pdf).decode(), "fileType": 0, **extra}).encode()


def usage(gateway: Gateway, tenant: str) -> dict:
    status, _, body = http("GET", gateway.url + f"/v1/usage?tenant={tenant}",
                           headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200, body
    return json.loads(body)["totals"]


def squeezed(page: dict) -> str:
    return re.sub(r"\s+", "", "".join(page["prunedResult"]["rec_texts"])).lower()


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return pdf_files.make_pdf([pdf_files.invoice_page(FIRST, 1, 2), pdf_files.invoice_page(SECOND, 2, 2)])


def test_a_two_page_pdf_is_billed_as_two_pages_and_its_repeat_is_a_free_hit(gateway, worker, invoice_pdf):
    before = worker.ocr_requests()
    status, headers, answer = gateway.post(pdf_body(invoice_pdf), tenant="pdf-pages")
    assert status == 200, answer[:300]
    assert headers["x-deja-cache"] == "miss"
    assert headers["x-deja-tokens"] == headers["x-deja-billed-tokens"] == "20"  # 2 pages x perPage 10
    assert worker.ocr_requests() == before + 1
    result = json.loads(answer)["result"]
    assert result["dataInfo"] == {"numPages": 2, "pages": [{"width": 800, "height": 640}] * 2, "type": "pdf"}
    first, second = result["ocrResults"]
    assert FIRST in squeezed(first) and SECOND in squeezed(second) and SECOND not in squeezed(first)

    status, again_headers, again = gateway.post(pdf_body(invoice_pdf), tenant="pdf-pages")
    assert status == 200
    assert again_headers["x-deja-cache"] == "hit" and again_headers["x-deja-key"] == headers["x-deja-key"]
    assert again_headers["x-deja-billed-tokens"] == "0" and again_headers["x-deja-tokens"] == "20"
    assert worker.ocr_requests() == before + 1, "the hit reached the model"
    assert json.loads(again)["result"] == result

    totals = usage(gateway, "pdf-pages")
    assert totals["billedTokens"] == 20 and totals["savedTokens"] == 20
    assert totals["misses"] == 1 and totals["hits"] == 1 and totals["errors"] == 0


@pytest.mark.parametrize("name, make, words", [
    ("encrypted", lambda pdf: pdf_files.encrypted(pdf), "password"),
    ("damaged", lambda pdf: pdf_files.truncated(pdf), "damaged"),
    ("too many pages", lambda pdf: pdf_files.blank_pages(11), "11 pages"),
])
def test_a_pdf_the_worker_refuses_is_not_billed_and_not_stored(gateway, worker, invoice_pdf, name, make, words):
    tenant = "pdf-refused-" + name.replace(" ", "-")
    refused = pdf_body(make(invoice_pdf))
    before = worker.ocr_requests()
    status, headers, body = gateway.post(refused, tenant=tenant)
    assert status == 422, body[:300]
    assert words in json.loads(body)["errorMsg"], body
    assert headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == before + 1

    status, headers, again = gateway.post(refused, tenant=tenant)
    assert status == 422 and json.loads(again)["errorMsg"] == json.loads(body)["errorMsg"]
    assert headers["x-deja-cache"] == "negative", "the repeat of a refusal is the remembered rejection, no answer"
    assert headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == before + 1
    totals = usage(gateway, tenant)
    assert totals["billedTokens"] == 0 and totals["hits"] == 0 and totals["misses"] == 0


def test_without_negative_caching_a_refused_pdf_reaches_the_worker_again(worker, tmp_path, invoice_pdf):
    gw = Gateway(worker.url, tmp_path, task={"negativeTTLSeconds": 0})
    gw.start()
    try:
        refused = pdf_body(pdf_files.encrypted(invoice_pdf))
        before = worker.ocr_requests()
        for attempt in (1, 2):
            status, headers, body = gw.post(refused, tenant="pdf-no-negative")
            assert status == 422 and "password" in json.loads(body)["errorMsg"], body
            assert headers["x-deja-billed-tokens"] == "0" and headers.get("x-deja-cache") != "hit"
            assert worker.ocr_requests() == before + attempt, "a refused PDF was answered from a store"
        assert usage(gw, "pdf-no-negative")["billedTokens"] == 0
    finally:
        gw.stop()
