"""Real PDFs for tests, made here: documents drawn from page descriptions, the same document saved again by
other programs (qpdf through pikepdf, pypdf) in the ways that leave every page as it was, and variants that
change a page.

    pages = [invoice_page("20261129-0042", 1, 2), invoice_page("20261129-0043", 2, 2)]
    original = make_pdf(pages)
    same = SAME_PAGES["object streams"](original)        # other bytes, identical pages
    changed = CHANGED_PAGES["text"](pages)                # a page really differs

A page is text drawn with a real embedded TrueType font (DejaVu Sans, text operators in the content
stream) and, optionally, a picture (an image XObject). `test_pdf_files.py` checks the ground truth the
other tests rely on: every PDF here opens in PDFium, the SAME_PAGES variants render to pixels identical to
the original's and the CHANGED_PAGES variants do not.
"""
from __future__ import annotations

import dataclasses
import io
import re
import sys
import zlib
from pathlib import Path
from typing import Callable

import pikepdf
from pikepdf import Dictionary, Name

REPO = Path(__file__).resolve().parents[2]
DEJAVU_SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"


@dataclasses.dataclass(frozen=True)
class Text:
    """One line of text: `x`, `y` (PDF units from the bottom left), font `size`, printable ASCII `text`."""
    x: float
    y: float
    size: float
    text: str


@dataclasses.dataclass(frozen=True)
class Picture:
    """A picture (PNG/JPEG bytes, decoded with Pillow) drawn into the box `x`, `y`, `width`, `height`."""
    data: bytes
    x: float
    y: float
    width: float
    height: float


@dataclasses.dataclass(frozen=True)
class Page:
    """A page of `width` x `height` PDF units (1/72 in): its `texts` in the TrueType `font` file and its
    `pictures`."""
    width: float
    height: float
    texts: tuple[Text, ...] = ()
    pictures: tuple[Picture, ...] = ()
    font: str = DEJAVU_SANS


def invoice_page(number: str, page: int = 1, of: int = 1) -> Page:
    """A page holding worker/make_invoice.py's invoice `number` (800x570 px, drawn 1:1 at the worker's
    144 dpi) as a picture, and under it a footer line of real text: `Invoice <number> - page <page> of <of>`."""
    sys.path.insert(0, str(REPO / "worker"))
    import make_invoice

    picture = make_invoice.invoice_png_bytes(number)
    return Page(400, 320, texts=(Text(24, 12, 14, f"Invoice {number} - page {page} of {of}"),),
                pictures=(Picture(picture, 0, 35, 400, 285),))


def text_page(*lines: str, font: str = DEJAVU_SANS) -> Page:
    """A small page of text lines only (18 pt, one under the other)."""
    return Page(300, 40 + 28 * len(lines), font=font,
                texts=tuple(Text(20, 20 + 28 * (len(lines) - 1 - i), 18, line) for i, line in enumerate(lines)))


# ------------------------------------------------------------------------------------------ drawing

def _literal(text: str) -> bytes:
    raw = text.encode("ascii")
    return b"(" + re.sub(rb"([()\\])", rb"\\\1", raw) + b")"


def _font(pdf: pikepdf.Pdf, path: str) -> pikepdf.Object:
    """A simple TrueType font for printable ASCII, WinAnsiEncoding, the whole font file embedded
    (FontFile2); widths from FreeType (Pillow) at 1000 units per em."""
    from PIL import ImageFont

    face = ImageFont.truetype(path, 1000, layout_engine=ImageFont.Layout.BASIC)
    widths = [round(face.getlength(chr(code))) for code in range(32, 127)]
    ascent, descent = face.getmetrics()
    name = Name("/" + re.sub(r"[^A-Za-z0-9]", "", Path(path).stem))
    data = Path(path).read_bytes()
    file = pdf.make_stream(data)
    file.Length1 = len(data)
    descriptor = pdf.make_indirect(Dictionary(
        Type=Name.FontDescriptor, FontName=name, Flags=32, FontBBox=[-1000, -400, 2000, 1200], ItalicAngle=0,
        Ascent=ascent, Descent=-descent, CapHeight=730, StemV=80, FontFile2=file))
    return pdf.make_indirect(Dictionary(
        Type=Name.Font, Subtype=Name.TrueType, BaseFont=name, FirstChar=32, LastChar=126, Widths=widths,
        Encoding=Name.WinAnsiEncoding, FontDescriptor=descriptor))


def _image(pdf: pikepdf.Pdf, data: bytes) -> pikepdf.Object:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        gray = picture.mode in ("1", "L")
        pixels = picture.convert("L" if gray else "RGB")
        stream = pdf.make_stream(zlib.compress(pixels.tobytes()))
        stream.Type, stream.Subtype = Name.XObject, Name.Image
        stream.Width, stream.Height = pixels.width, pixels.height
        stream.ColorSpace = Name.DeviceGray if gray else Name.DeviceRGB
        stream.BitsPerComponent = 8
        stream.Filter = Name.FlateDecode
    return stream


def make_pdf(pages: list[Page], **save: object) -> bytes:
    """A PDF of `pages` (qpdf through pikepdf: classic cross-reference table, no object streams, a document
    id derived from the content, so the same pages give the same bytes); `save` adds pikepdf save options."""
    pdf = pikepdf.new()
    fonts: dict[str, pikepdf.Object] = {}
    for page in pages:
        content = []
        resources = Dictionary()
        if page.pictures:
            resources.XObject = Dictionary()
        for number, picture in enumerate(page.pictures):
            resources.XObject[f"/Im{number}"] = _image(pdf, picture.data)
            content.append(f"q {picture.width:g} 0 0 {picture.height:g} {picture.x:g} {picture.y:g} cm "
                           f"/Im{number} Do Q".encode())
        if page.texts:
            if page.font not in fonts:
                fonts[page.font] = _font(pdf, page.font)
            resources.Font = Dictionary(F1=fonts[page.font])
        for text in page.texts:
            content.append(b"BT /F1 %g Tf %g %g Td " % (text.size, text.x, text.y) + _literal(text.text) + b" Tj ET")
        added = pdf.add_blank_page(page_size=(page.width, page.height))
        added.obj.Resources = resources
        added.obj.Contents = pdf.make_stream(b"\n".join(content))
    return _save(pdf, **save)


def _save(pdf: pikepdf.Pdf, **options: object) -> bytes:
    out = io.BytesIO()
    settings: dict[str, object] = {"deterministic_id": True, "object_stream_mode": pikepdf.ObjectStreamMode.disable}
    settings.update(options)
    pdf.save(out, **settings)
    return out.getvalue()


def _with(data: bytes, change: Callable[[pikepdf.Pdf], None], **save: object) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        change(pdf)
        return _save(pdf, **save)


# ------------------------------------------------------------------ saved again, the pages untouched

def resave_new_id(data: bytes) -> bytes:
    """Saved again by qpdf with a new random document /ID in the trailer."""
    return _with(data, lambda pdf: None, deterministic_id=False, static_id=False)


def resave_new_info(data: bytes) -> bytes:
    """Saved again with a new document information dictionary: title, author, creator, producer, dates."""
    def change(pdf: pikepdf.Pdf) -> None:
        pdf.docinfo[Name.Title] = "Re-saved invoice"
        pdf.docinfo[Name.Author] = "Someone Else"
        pdf.docinfo[Name.Creator] = "Another Editor 9.1"
        pdf.docinfo[Name.Producer] = "Another PDF Library 2.0"
        pdf.docinfo[Name.CreationDate] = "D:20261201093000+08'00'"
        pdf.docinfo[Name.ModDate] = "D:20261203120000Z"
    return _with(data, change)


def resave_with_xmp(data: bytes) -> bytes:
    """Saved again with XMP metadata added (a /Metadata stream in the catalog)."""
    def change(pdf: pikepdf.Pdf) -> None:
        with pdf.open_metadata(set_pikepdf_as_editor=True) as meta:
            meta["dc:title"] = "Invoice with XMP"
            meta["xmp:CreatorTool"] = "XMP Writer 3"
    return _with(data, change)


def resave_object_streams(data: bytes) -> bytes:
    """Saved again with object streams and a cross-reference stream (objects renumbered and packed)."""
    return _with(data, lambda pdf: None, object_stream_mode=pikepdf.ObjectStreamMode.generate)


def resave_linearized(data: bytes) -> bytes:
    """Saved again linearized ("fast web view": objects reordered and renumbered, hint stream added)."""
    return _with(data, lambda pdf: None, linearize=True)


def resave_uncompressed(data: bytes) -> bytes:
    """Saved again with every stream stored decoded (no /Filter), content streams included."""
    return _with(data, lambda pdf: None, compress_streams=False,
                 stream_decode_level=pikepdf.StreamDecodeLevel.generalized)


def resave_recompressed(data: bytes) -> bytes:
    """Saved again with every Flate stream decoded and compressed anew at zlib level 1 (other compressed
    bytes)."""
    pikepdf.settings.set_flate_compression_level(1)
    try:
        return _with(data, lambda pdf: None, recompress_flate=True,
                     stream_decode_level=pikepdf.StreamDecodeLevel.generalized)
    finally:
        pikepdf.settings.set_flate_compression_level(-1)


def resave_pypdf(data: bytes) -> bytes:
    """Saved again by pypdf (its own writer: other object numbers, cross-reference and /Producer)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.add_metadata({"/Producer": "pypdf", "/Title": "Re-saved by pypdf"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def incremental_update(data: bytes) -> bytes:
    """The same bytes with an incremental update appended that changes no page: a new /Info object, and the
    first page's dictionary written again as it was (a new revision of the same object)."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        root = pdf.trailer.Root.objgen[0]
        size = int(pdf.trailer.Size)
        page = pdf.pages[0].obj
        number, generation = page.objgen
        page_text = page.unparse(resolved=True)
        document_id = pdf.trailer.ID.unparse() if Name.ID in pdf.trailer else b"[]"
    start = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    info = size
    body = data if data.endswith(b"\n") else data + b"\n"
    offsets = {}
    offsets[number] = len(body)
    body += b"%d %d obj\n" % (number, generation) + page_text + b"\nendobj\n"
    offsets[info] = len(body)
    body += b"%d 0 obj\n<< /Producer (Incremental Editor) /ModDate (D:20261203150000Z) >>\nendobj\n" % info
    xref = len(body)
    body += b"xref\n"
    for obj in sorted(offsets):
        gen = generation if obj == number else 0
        body += b"%d 1\n%010d %05d n \n" % (obj, offsets[obj], gen)
    body += (b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
             % (info + 1, root, info, document_id, start, xref))
    return body


def incremental_update_pypdf(data: bytes) -> bytes:
    """pypdf's incremental writer: the original bytes kept, an update appended with new metadata only."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(PdfReader(io.BytesIO(data)), incremental=True)
    writer.add_metadata({"/Producer": "pypdf incremental", "/ModDate": "D:20261203160000Z"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# Every way of saving a PDF again that leaves its pages as they were: name -> function(pdf bytes) -> bytes.
SAME_PAGES: dict[str, Callable[[bytes], bytes]] = {
    "new /ID": resave_new_id,
    "new /Info": resave_new_info,
    "XMP metadata": resave_with_xmp,
    "object streams": resave_object_streams,
    "linearized": resave_linearized,
    "streams uncompressed": resave_uncompressed,
    "streams recompressed": resave_recompressed,
    "pypdf": resave_pypdf,
    "incremental update": incremental_update,
    "pypdf incremental update": incremental_update_pypdf,
}


# --------------------------------------------------------------------------- a page really changed

def change_text(pages: list[Page]) -> bytes:
    """The first page's first text line with one character changed (last digit +1)."""
    first = pages[0]
    line = first.texts[0]
    digits = [i for i, c in enumerate(line.text) if c.isdigit()]
    at = digits[-1] if digits else 0
    new = line.text[:at] + str((int(line.text[at]) + 1) % 10 if digits else "X") + line.text[at + 1:]
    texts = (dataclasses.replace(line, text=new), *first.texts[1:])
    return make_pdf([dataclasses.replace(first, texts=texts), *pages[1:]])


def change_image(pages: list[Page]) -> bytes:
    """The first picture on the first page with one pixel block inverted (a 4x4 block at its centre)."""
    from PIL import Image

    first = pages[0]
    picture = first.pictures[0]
    with Image.open(io.BytesIO(picture.data)) as opened:
        image = opened.convert("L")
    cx, cy = image.width // 2, image.height // 2
    for x in range(cx - 2, cx + 2):
        for y in range(cy - 2, cy + 2):
            image.putpixel((x, y), 255 - image.getpixel((x, y)))
    out = io.BytesIO()
    image.save(out, "PNG")
    pictures = (dataclasses.replace(picture, data=out.getvalue()), *first.pictures[1:])
    return make_pdf([dataclasses.replace(first, pictures=pictures), *pages[1:]])


def change_font(pages: list[Page]) -> bytes:
    """The first page's text drawn in DejaVu Serif instead of its font."""
    first = pages[0]
    return make_pdf([dataclasses.replace(first, font=DEJAVU_SERIF), *pages[1:]])


def reorder_pages(pages: list[Page]) -> bytes:
    """The same pages in the reverse order (needs two different pages)."""
    return make_pdf(list(reversed(pages)))


def edit_text_in_place(data: bytes) -> bytes:
    """The existing file edited by qpdf: in the first page's content stream the first digit of a text
    operand is changed (+1), everything else (objects, metadata, other pages) left as it was."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        page = pdf.pages[0]
        content = page.obj.Contents.read_bytes()
        match = re.search(rb"\(([^)]*?)(\d)", content)
        assert match is not None, "no digit in a text operand of the first page"
        at = match.start(2)
        content = content[:at] + str((int(content[at:at + 1]) + 1) % 10).encode() + content[at + 1:]
        page.obj.Contents = pdf.make_stream(content)
        return _save(pdf)


# Every change that alters what a page shows: name -> function(pages) -> PDF bytes.
CHANGED_PAGES: dict[str, Callable[[list[Page]], bytes]] = {
    "text": change_text,
    "image": change_image,
    "font": change_font,
    "page order": reorder_pages,
    "text edited in place": lambda pages: edit_text_in_place(make_pdf(pages)),
}


# ------------------------------------------------------------------------------- files to refuse

def encrypted(data: bytes, user_password: str = "secret") -> bytes:
    """The PDF encrypted (AES-256) with a user password: it cannot be opened without it."""
    return _with(data, lambda pdf: None, deterministic_id=False,
                 encryption=pikepdf.Encryption(owner="owner-" + user_password, user=user_password, aes=True, R=6))


def owner_password_only(data: bytes) -> bytes:
    """The PDF encrypted with an owner password only (permissions): anyone can open and render it."""
    return _with(data, lambda pdf: None, deterministic_id=False,
                 encryption=pikepdf.Encryption(owner="owner-only", user="", aes=True, R=6))


def truncated(data: bytes) -> bytes:
    """The PDF cut after its header and first object: a damaged PDF no reader can recover pages from."""
    return data[: min(len(data), 200)]


def blank_pages(count: int, width: float = 200, height: float = 100) -> bytes:
    """`count` empty pages of `width` x `height` PDF units (cheap: for page-count and size limits)."""
    pdf = pikepdf.new()
    for _ in range(count):
        pdf.add_blank_page(page_size=(width, height))
    return _save(pdf)
