"""PDF keys by what the pages draw (canonical form §5.6), against real writers and a real renderer.

Base PDFs are made here with pikepdf (two or three pages: text in a standard font, a small Flate image,
an annotation with a popup, inherited resources and media box). Each is re-saved by pikepdf (qpdf) and
pypdf with new document ids, /Info, XMP metadata, object streams generated or disabled, recompressed or
uncompressed streams, qdf, linearised, and with incremental updates that change no page (pypdf's page-by-page
copy drops a popup's /Parent and is keyed apart, conservatively); and changed on a
page (a content byte, a font, an image pixel, the page order, the media box, the rotation, a page
removed). Every file is keyed by the real ``deja`` binary (``deja explain --jsonl``). The re-saves must
share the base's key, the changes must not; and as the ground truth, every group of files sharing a key
renders to identical pixels on every page with pypdfium2 (the worker's renderer).
"""
from __future__ import annotations

import base64
import collections
import hashlib
import io
import json
import re

import pikepdf
import pypdf
import pypdfium2
import pytest

from conftest import Gateway
from test_image_differential import explain_files

CONTENT = b"BT /F1 18 Tf 20 150 Td (Invoice 20261203-%d) Tj ET q 40 0 0 30 20 40 cm /Im1 Do Q"


def base_pdf(pages: int = 2, text_offset: int = 0, font: str = "/Helvetica", pixel: int = 200,
             media_box: tuple = (0, 0, 300, 200), rotate: int | None = None, order: list[int] | None = None) -> bytes:
    pdf = pikepdf.new()
    font_object = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                       BaseFont=pikepdf.Name(font)))
    samples = bytes((x * 40 + y * 7 + (pixel if (x, y) == (1, 1) else 0)) % 256 for y in range(4) for x in range(4) for _ in range(3))
    image = pikepdf.Stream(pdf, samples)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = 4, 4, 8
    image.ColorSpace = pikepdf.Name.DeviceRGB
    resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font_object), XObject=pikepdf.Dictionary(Im1=image))
    for number in order or list(range(pages)):
        page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=pikepdf.Array(media_box), Resources=resources,
                                  Contents=pikepdf.Stream(pdf, CONTENT % (number + text_offset)))
        if rotate is not None:
            page.Rotate = rotate
        pdf.pages.append(pikepdf.Page(page))
    first = pdf.pages[0].obj
    note = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text,
                                                Rect=[10, 10, 30, 30], Contents=pikepdf.String("seen"), P=first))
    popup = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Popup,
                                                 Rect=[30, 30, 120, 90], Parent=note, P=first))
    note.Popup = popup
    first.Annots = pikepdf.Array([note, popup])
    pdf.docinfo["/Producer"] = "deja tests"
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.disable, deterministic_id=True)
    return out.getvalue()


def pikepdf_save(data: bytes, change=None, **options) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        if change:
            change(pdf)
        out = io.BytesIO()
        pdf.save(out, **options)
        return out.getvalue()


def set_info(pdf):
    pdf.docinfo["/Title"] = "Another title"
    pdf.docinfo["/Producer"] = "Another producer"
    pdf.docinfo["/ModDate"] = "D:20261203120000Z"


def set_xmp(pdf):
    with pdf.open_metadata(set_pikepdf_as_editor=True) as meta:
        meta["dc:title"] = "XMP title"


def set_page_metadata(pdf):
    pdf.pages[0].obj.PieceInfo = pikepdf.Dictionary(App=pikepdf.Dictionary(Private=1))
    pdf.pages[0].obj.LastModified = pikepdf.String("D:20261203")
    pdf.Root.PageLabels = pikepdf.Dictionary(Nums=[0, pikepdf.Dictionary(S=pikepdf.Name.r)])
    pdf.Root.Outlines = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Outlines, Count=0))


def pypdf_save(data: bytes, by_page: bool = False) -> bytes:
    reader = pypdf.PdfReader(io.BytesIO(data))
    if by_page:
        writer = pypdf.PdfWriter()
        for page in reader.pages:
            writer.add_page(page)
    else:
        writer = pypdf.PdfWriter(clone_from=reader)
    writer.add_metadata({"/Producer": "pypdf", "/Title": "pypdf title"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def incremental_update(data: bytes, objects: dict[int, bytes], trailer: bytes = b"") -> bytes:
    """`data` (with a classic cross-reference table) and an appended update (re)defining `objects`."""
    previous = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", data)[-1]
    size = int(re.findall(rb"/Size (\d+)", data)[-1])
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n"
    for number, offset in sorted(offsets.items()):
        out += b"%d 1\n%010d 00000 n\r\n" % (number, offset)
    out += b"trailer\n<< /Size %d /Root %s /Prev %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        max(size, max(objects) + 1), root, previous, trailer, start)
    return bytes(out)


def renders(data: bytes) -> list[str]:
    """SHA-256 of every page's pixels as pypdfium2 renders it at 72 dpi, annotations included."""
    document = pypdfium2.PdfDocument(data)
    try:
        return [hashlib.sha256(document[index].render(scale=1, draw_annots=True).to_pil().tobytes()).hexdigest()
                for index in range(len(document))]
    finally:
        document.close()


def keyed(files: dict[str, bytes]) -> dict[str, dict]:
    answers = explain_files(list(files.values()))
    return dict(zip(files, answers))


def recompressed(data: bytes) -> bytes:
    pikepdf.settings.set_flate_compression_level(9)
    try:
        return pikepdf_save(data, recompress_flate=True)
    finally:
        pikepdf.settings.set_flate_compression_level(-1)


@pytest.fixture(scope="module")
def variants() -> dict[str, bytes]:
    return make_variants()


def make_variants() -> dict[str, bytes]:
    base = base_pdf()
    same = resaves(base)
    # Renders alike but is keyed apart, conservatively: pypdf's add_page drops the popup annotation's
    # /Parent (its link to the note it belongs to), an entry the key keeps.
    apart = {"pypdf by page": pypdf_save(base, by_page=True)}
    changed = {
        "content byte": base_pdf(text_offset=1),
        "font": base_pdf(font="/Courier"),
        "image pixel": base_pdf(pixel=201),
        "page order": base_pdf(order=[1, 0]),
        "media box": base_pdf(media_box=(0, 0, 300, 201)),
        "rotate": base_pdf(rotate=90),
        "three pages": base_pdf(pages=3),
        "page removed": pikepdf_save(base, lambda pdf: pdf.pages.remove(p=2)),
        "annotation moved": pikepdf_save(base, lambda pdf: setattr(pdf.pages[0].obj.Annots[1], "Rect", pikepdf.Array([30, 30, 120, 91]))),
    }
    return {**{"same: " + k: v for k, v in same.items()}, **{"changed: " + k: v for k, v in changed.items()},
            **{"apart: " + k: v for k, v in apart.items()}}


def resaves(base: bytes) -> dict[str, bytes]:
    """`base` and its re-saves that change no page."""
    size = int(re.findall(rb"/Size (\d+)", base)[-1])
    return {
        "base": base,
        "qpdf default": pikepdf_save(base),
        "qpdf new id and info": pikepdf_save(base, set_info, deterministic_id=False),
        "qpdf xmp": pikepdf_save(base, set_xmp),
        "qpdf page metadata, outlines, labels": pikepdf_save(base, set_page_metadata),
        "qpdf object streams": pikepdf_save(base, object_stream_mode=pikepdf.ObjectStreamMode.generate),
        "qpdf object streams disabled": pikepdf_save(pikepdf_save(base, object_stream_mode=pikepdf.ObjectStreamMode.generate),
                                                     object_stream_mode=pikepdf.ObjectStreamMode.disable),
        "qpdf recompress flate 9": recompressed(base),
        "qpdf uncompressed": pikepdf_save(base, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.generalized),
        "qpdf qdf": pikepdf_save(base, qdf=True),
        "qpdf linearised": pikepdf_save(base, linearize=True),
        "incremental info": incremental_update(base, {size: b"<< /Producer (editor) /Title (t) >>"},
                                               trailer=b"/Info %d 0 R /ID [<aa> <bb>]" % size),
        "incremental unused object": incremental_update(base, {size: b"<< /Whatever [1 2 3] >>"}),
        "pypdf clone": pypdf_save(base),
    }


def test_resaves_share_the_key_and_page_changes_do_not(variants):
    answers = keyed(variants)
    for name, answer in answers.items():
        assert "key" in answer, (name, answer)
        assert answer["canonicalForm"]["file"].startswith("pdf-pages-sha256:"), (name, answer.get("notes"))
    base = answers["same: base"]["key"]
    for name, answer in answers.items():
        if name.startswith("same: "):
            assert answer["key"] == base, (name, answer["notes"], answers["same: base"]["notes"])
    changed = [name for name in answers if name.startswith("changed: ")]
    keys = [answers[name]["key"] for name in changed]
    assert base not in keys
    assert answers["apart: pypdf by page"]["key"] != base
    assert len(set(keys)) == len(changed), [(n, k[:12]) for n, k in zip(changed, keys)]


def test_explain_lists_every_page(variants):
    answer = keyed({"x": variants["same: qpdf page metadata, outlines, labels"]})["x"]
    notes = answer["notes"]
    assert any(n.startswith("file: PDF, 2 pages") for n in notes), notes
    assert any(re.match(r"file: page 1: [0-9a-f]{16} without /LastModified, /Parent, /PieceInfo", n) for n in notes), notes
    assert any(re.match(r"file: page 2: [0-9a-f]{16} without /Parent", n) for n in notes), notes
    assert any("catalog /Outlines, /PageLabels" in n for n in notes), notes


def test_one_key_means_one_rendering(variants):
    """The differential ground truth: files that share a key render to identical pixels, page by page,
    over the variants above and the re-saves of every changed file."""
    corpus = dict(variants)
    for name, data in variants.items():
        if name.startswith("changed: "):
            corpus.update({f"{name} / {resave}": saved for resave, saved in resaves(data).items()})
    answers = keyed(corpus)
    groups = collections.defaultdict(list)
    for name, data in corpus.items():
        groups[answers[name]["key"]].append((name, renders(data)))
    merged = 0
    for members in groups.values():
        first_name, first = members[0]
        for name, pixels in members[1:]:
            assert pixels == first, f"{name} and {first_name} share a key but render differently"
            merged += 1
    # Every re-save merged with its original: one key per original (the base and 9 changes), and one for
    # pypdf's page-by-page copy.
    assert len(groups) == 10 + 1, [members[0][0] for members in groups.values()]
    assert merged == len(corpus) - 11 == 139


def test_a_pdf_the_reader_is_not_sure_of_is_keyed_on_its_bytes(variants):
    base = variants["same: base"]
    broken = {
        "truncated": base[: len(base) * 2 // 3],
        "encrypted": pikepdf_save(base, encryption=pikepdf.Encryption(owner="o", user="", R=4)),
    }
    answers = keyed(broken)
    for name, answer in answers.items():
        assert answer["canonicalForm"]["file"] == "sha256:" + hashlib.sha256(broken[name]).hexdigest(), name
        assert any("looks like a PDF but" in note for note in answer["notes"]), answer["notes"]


def test_a_pdf_over_the_remaining_budget_is_refused_before_the_model_is_called(worker, tmp_path):
    """A five-page PDF is held at five pages (50 tokens at 10 a page) before the call: over a budget of
    20 it is refused with 429 and the worker never sees it, though one page would have fitted."""
    five = base_pdf(pages=5)
    gateway = Gateway(worker.url, tmp_path)
    gateway.start()
    try:
        gateway.key("pdfbudget")
        gateway.cli("quota", "set", "--tenant", "pdfbudget", "--period", "day", "--limit", "20")
        calls = worker.ocr_requests()
        body = json.dumps({"file": base64.b64encode(five).decode(), "fileType": 0}).encode()
        status, headers, answer = gateway.post(body, tenant="pdfbudget")
        assert status == 429, answer
        assert "budget" in json.loads(answer)["errorMsg"]
        assert headers["x-deja-billed-tokens"] == "0"
        assert worker.ocr_requests() == calls, "a PDF over budget must never reach the model"
    finally:
        gateway.stop()
