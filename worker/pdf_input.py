"""PDF input (`fileType: 0`): the pages of a PDF rendered to BGR images with PDFium (pypdfium2), as
PaddleX's serving layer renders them (`paddlex/inference/serving/infra/utils.py` `read_pdf`).

PaddleX's choices, kept here:
  - scale 2.0 (`PADDLE_PDX_PDF_RENDER_SCALE`, default 2.0 in `paddlex/utils/flags.py`): one PDF unit
    (1/72 inch) becomes 2 pixels, 144 dpi; a page of W x H points renders to ceil(2W) x ceil(2H) pixels
    (pypdfium2's own rounding), after the page's /Rotate;
  - `init_forms()` before any page is loaded, so form fields are drawn, and annotations drawn;
  - no extra rotation, white background, PDFium's default anti-aliasing, BGR pixels (what `to_numpy()`
    of pypdfium2's default bitmap format gives, and what the OCR pipeline takes);
  - `dataInfo` is PaddleX's `PDFInfo`: {"numPages", "pages": [{"width", "height"}], "type": "pdf"}.

What differs (PaddleX drops pages past `max_num_input_imgs`, 10, silently and lets PDFium's errors through
as 500s): a PDF with more pages than the limit, no pages, a page whose rendering would be over the pixel
limit, a password, or bytes PDFium cannot read is refused before any page is rendered, with a
`PdfRefusal` that says which.

PDFium is not thread-safe: a `PdfPages` must be opened, rendered and closed on one thread (the worker
uses its inference thread for all three), and no other thread may call PDFium meanwhile.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

# PaddleX's PDF_RENDER_SCALE (paddlex/utils/flags.py): 2.0 = 144 dpi.
PDF_RENDER_SCALE = 2.0

# PaddleX's DEFAULT_MAX_NUM_INPUT_IMGS (basic_serving/_pipeline_apps/_common/ocr.py): at most 10 pages
# per request.  Here a longer PDF is refused rather than cut (see the module's docstring).
DEFAULT_MAX_PDF_PAGES = 10

# The first bytes of the image formats a client might send as fileType 0 by mistake.
_IMAGE_MAGIC: Tuple[Tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"II\x2a\x00", "a TIFF image"),
    (b"MM\x00\x2a", "a TIFF image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"RIFF", "a WebP image"),
)


def warm_up() -> None:
    """Loads PDFium and renders one blank page (on the thread that will render), so that the first PDF
    request does not pay for it (~0.1 s here)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    try:
        page = document.new_page(72, 72)
        try:
            page.render(scale=PDF_RENDER_SCALE).close()
        finally:
            page.close()
    finally:
        document.close()


class PdfRefusal(Exception):
    """A PDF this worker will not render; `message` says why, for a 422 answer.  `page` (1-based) and
    `size` (width, height in pixels) are set when one page's rendering would be too large."""

    def __init__(self, message: str, page: Optional[int] = None, size: Optional[Tuple[int, int]] = None):
        super().__init__(message)
        self.message = message
        self.page = page
        self.size = size


def rendered_size(width_pt: float, height_pt: float) -> Tuple[int, int]:
    """The pixel size of a page of `width_pt` x `height_pt` PDF units rendered at PDF_RENDER_SCALE, rounded
    as pypdfium2's `PdfPage.render` rounds it."""
    return math.ceil(width_pt * PDF_RENDER_SCALE), math.ceil(height_pt * PDF_RENDER_SCALE)


def _not_a_pdf(data: bytes) -> str:
    for magic, name in _IMAGE_MAGIC:
        if data.startswith(magic):
            return (f"Invalid input file: fileType 0 (PDF) was given, but the file is {name}, not a PDF; "
                    "send images with fileType 1")
    if b"%PDF-" not in data[:1024]:
        return "Invalid input file: fileType 0 (PDF) was given, but the file is not a PDF (no %PDF- header)"
    return "Invalid input file: the PDF is damaged and cannot be read"


class PdfPages:
    """An open PDF whose pages are rendered one at a time (only one page's pixels are alive at once).
    Opening checks everything that can be checked without rendering: readable, not password-protected,
    1 to `max_pages` pages, every page's rendering within `max_pixels`.  Use on one thread only."""

    def __init__(self, data: bytes, max_pages: int, max_pixels: int):
        import pypdfium2 as pdfium

        self._pdfium = pdfium
        try:
            self._doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            raise PdfRefusal(self._open_failure(error, data)) from None
        try:
            self.sizes = self._check(max_pages, max_pixels)
            self._doc.init_forms()  # PaddleX: form fields are drawn (before any page is loaded)
        except BaseException:
            self._doc.close()
            raise

    def _open_failure(self, error: Any, data: bytes) -> str:
        raw = self._pdfium.raw
        code = getattr(error, "err_code", None)
        if code == raw.FPDF_ERR_PASSWORD:
            return ("Encrypted PDF: a password is needed to open it, and this worker takes none; "
                    "send the PDF without its password")
        if code == raw.FPDF_ERR_SECURITY:
            return "Encrypted PDF: its security handler is not supported; send the PDF without encryption"
        return _not_a_pdf(data)

    def _check(self, max_pages: int, max_pixels: int) -> List[Tuple[int, int]]:
        count = len(self._doc)
        if count == 0:
            raise PdfRefusal("Invalid input file: the PDF has no pages")
        if count > max_pages:
            raise PdfRefusal(f"PDF has {count} pages, over this worker's limit of {max_pages} pages per request; "
                             "split it into several requests")
        sizes: List[Tuple[int, int]] = []
        for index in range(count):
            try:
                width_pt, height_pt = self._doc.get_page_size(index)
            except self._pdfium.PdfiumError:
                raise PdfRefusal(f"Invalid input file: page {index + 1} of the PDF cannot be read") from None
            if not (math.isfinite(width_pt) and math.isfinite(height_pt)):
                raise PdfRefusal(f"Invalid input file: page {index + 1} of the PDF has no valid size")
            width, height = rendered_size(width_pt, height_pt)
            if width < 1 or height < 1:
                raise PdfRefusal(f"Invalid input file: page {index + 1} of the PDF is empty "
                                 f"({width_pt:g} x {height_pt:g} points)")
            if width * height > max_pixels:
                raise PdfRefusal("page too large", page=index + 1, size=(width, height))
            sizes.append((width, height))
        return sizes

    def data_info(self) -> Dict[str, Any]:
        """PaddleX's `PDFInfo` for this document (every page is rendered, so numPages is the PDF's)."""
        return {
            "numPages": len(self.sizes),
            "pages": [{"width": w, "height": h} for w, h in self.sizes],
            "type": "pdf",
        }

    def render(self, index: int):
        """Page `index` (0-based) as a contiguous BGR uint8 array of `sizes[index]`; PDFium's bitmap is
        freed before this returns."""
        import numpy as np

        try:
            page = self._doc[index]
        except self._pdfium.PdfiumError:
            raise PdfRefusal(f"Invalid input file: page {index + 1} of the PDF cannot be read") from None
        try:
            bitmap = page.render(scale=PDF_RENDER_SCALE, rotation=0)
            try:
                image = np.array(bitmap.to_numpy(), copy=True)  # the view would outlive the bitmap's buffer
            finally:
                bitmap.close()
        finally:
            page.close()
        return image

    def close(self) -> None:
        self._doc.close()


def pixel_identity(image) -> str:
    """What Deja keys a page's pixels on (DejaCore `PagePixels`): the SHA-256 of `deja-rgb8`, a zero
    byte, width and height as big-endian 32-bit numbers, then the rows top to bottom, each pixel R, G,
    B — the bytes of an 8-bit RGB PNG's unfiltered rows. `image` is the BGR uint8 array the OCR reads
    (a rendered page, or an image OpenCV decoded), so two inputs share an identity exactly when the
    OCR reads the same array from them."""
    import hashlib
    import struct

    import numpy as np

    height, width = image.shape[:2]
    digest = hashlib.sha256(b"deja-rgb8\x00" + struct.pack(">II", width, height))
    digest.update(np.ascontiguousarray(image[:, :, ::-1]).tobytes())
    return digest.hexdigest()
