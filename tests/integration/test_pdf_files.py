"""The ground truth behind the PDF key tests: every PDF that pdf_files.py makes is one PDFium opens, the
SAME_PAGES re-saves render to exactly the original's pixels (with other bytes), and the CHANGED_PAGES
variants do not. Rendered as the worker renders them (worker/pdf_input.py: PDFium at scale 2.0)."""
import io
import sys

import numpy as np
import pikepdf
import pytest

import pdf_files
from conftest import REPO

sys.path.insert(0, str(REPO / "worker"))
import pdf_input  # noqa: E402

PAGES = [pdf_files.invoice_page("20261129-0042", 1, 2), pdf_files.invoice_page("20261129-0043", 2, 2)]


def render(pdf: bytes) -> list[np.ndarray]:
    document = pdf_input.PdfPages(pdf, pdf_input.DEFAULT_MAX_PDF_PAGES, 50_000_000)
    try:
        return [document.render(index) for index in range(len(document.sizes))]
    finally:
        document.close()


@pytest.fixture(scope="module")
def original() -> bytes:
    return pdf_files.make_pdf(PAGES)


@pytest.fixture(scope="module")
def original_pixels(original) -> list[np.ndarray]:
    return render(original)


def test_the_same_pages_make_the_same_bytes(original):
    assert pdf_files.make_pdf(PAGES) == original
    assert original.startswith(b"%PDF-")
    with pikepdf.open(io.BytesIO(original)) as pdf:
        for page in pdf.pages:  # text drawn by text operators in an embedded font, and a picture
            operators = [str(operator) for _, operator in pikepdf.parse_content_stream(page)]
            assert operators.count("Tj") == 1 and "Do" in operators
            assert "/FontFile2" in page.Resources.Font.F1.FontDescriptor
            assert page.Resources.XObject.Im0.Subtype == "/Image"


@pytest.mark.parametrize("name", sorted(pdf_files.SAME_PAGES))
def test_a_re_save_changes_the_bytes_not_the_pages(name, original, original_pixels):
    again = pdf_files.SAME_PAGES[name](original)
    assert again != original
    pixels = render(again)
    assert len(pixels) == len(original_pixels)
    for page, (mine, theirs) in enumerate(zip(pixels, original_pixels), start=1):
        assert mine.shape == theirs.shape and np.array_equal(mine, theirs), f"{name}: page {page} differs"


@pytest.mark.parametrize("name", sorted(pdf_files.CHANGED_PAGES))
def test_a_changed_page_renders_differently(name, original, original_pixels):
    changed = pdf_files.CHANGED_PAGES[name](PAGES)
    pixels = render(changed)
    assert len(pixels) == len(original_pixels)
    assert not np.array_equal(pixels[0], original_pixels[0]), f"{name}: the first page renders as before"


def test_the_changes_touch_only_what_they_say(original_pixels):
    """Text, picture and font changes are on the first page only; reordering swaps the two pages."""
    for name in ("text", "image", "font", "text edited in place"):
        pixels = render(pdf_files.CHANGED_PAGES[name](PAGES))
        assert np.array_equal(pixels[1], original_pixels[1]), f"{name}: the second page changed too"
    reordered = render(pdf_files.CHANGED_PAGES["page order"](PAGES))
    assert np.array_equal(reordered[0], original_pixels[1]) and np.array_equal(reordered[1], original_pixels[0])


def test_the_files_to_refuse_are_refused(original):
    with pytest.raises(pdf_input.PdfRefusal, match="password"):
        pdf_input.PdfPages(pdf_files.encrypted(original), 10, 50_000_000)
    with pytest.raises(pdf_input.PdfRefusal, match="damaged"):
        pdf_input.PdfPages(pdf_files.truncated(original), 10, 50_000_000)
    assert len(render(pdf_files.owner_password_only(original))) == 2
    assert len(render(pdf_files.blank_pages(3))) == 3
