"""Image files with systematic variations, for the differential test of Deja's image canonical form.

Everything is made here, deterministically, from small seed images: a PNG writer (every colour type,
bit depths 1-16, Adam7, chosen zlib streams, chunks anywhere), JPEG segment surgery on files written by
OpenCV and Pillow, and a TIFF/EXIF directory builder that can write well-formed and malformed
directories. Each variant carries a label ``<seed>/<mutation>``; the mutation's first word names the
family (exif, jfif, adobe, zlib, chunk, ...) so that a failure says which rule is wrong.
"""
from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Variant:
    label: str
    data: bytes


# --------------------------------------------------------------------------------------------------
# Seed pixels
# --------------------------------------------------------------------------------------------------


def pattern(width: int, height: int, channels: int, seed: int, maximum: int = 255) -> np.ndarray:
    """Smooth gradients plus a little deterministic noise: compressible, and not symmetric (so every
    EXIF orientation gives a different array)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = []
    for c in range(channels):
        base = (x * (3 + c) * 255 // max(1, width - 1) + y * (5 + 2 * c) * 255 // max(1, height - 1)) // (4 + c)
        noise = rng.integers(0, 24, size=(height, width))
        planes.append((base + noise) % 256 * maximum // 255)
    return np.stack(planes, axis=-1).astype(np.uint16 if maximum > 255 else np.uint8)


# --------------------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------------------


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    value = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", value)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


@dataclass
class PNGImage:
    """Samples (height × width × channels, or height × width of indices) and how to write them."""
    samples: np.ndarray
    colour_type: int
    bit_depth: int = 8
    palette: bytes | None = None
    transparency: bytes | None = None

    def pack_row(self, row: np.ndarray) -> bytes:
        flat = row.reshape(-1).astype(np.uint32)
        if self.bit_depth == 16:
            return b"".join(struct.pack(">H", int(v)) for v in flat)
        if self.bit_depth == 8:
            return bytes(flat.astype(np.uint8))
        bits = self.bit_depth
        out = bytearray((len(flat) * bits + 7) // 8)
        for i, v in enumerate(flat):
            bit = i * bits
            out[bit // 8] |= (int(v) & ((1 << bits) - 1)) << (8 - bits - bit % 8)
        return bytes(out)

    def filtered(self, interlaced: bool, filters: str) -> bytes:
        """The filtered scanlines; `filters` is 'none' or 'cycle' (filter type = row number mod 5)."""
        bpp = max(1, CHANNELS[self.colour_type] * self.bit_depth // 8)
        height, width = self.samples.shape[:2]
        passes = []
        if interlaced:
            for sx, sy, dx, dy in ADAM7:
                sub = self.samples[sy::dy, sx::dx]
                if sub.shape[0] and sub.shape[1]:
                    passes.append(sub)
        else:
            passes.append(self.samples)
        out = bytearray()
        number = 0
        for sub in passes:
            prior = None
            for row in sub:
                raw = self.pack_row(row)
                kind = 0 if filters == "none" else number % 5
                number += 1
                prior_row = prior if prior is not None else bytes(len(raw))
                line = bytearray()
                for i, value in enumerate(raw):
                    a = raw[i - bpp] if i >= bpp else 0
                    b = prior_row[i]
                    c = prior_row[i - bpp] if i >= bpp else 0
                    if kind == 0:
                        predictor = 0
                    elif kind == 1:
                        predictor = a
                    elif kind == 2:
                        predictor = b
                    elif kind == 3:
                        predictor = (a + b) // 2
                    else:
                        p = a + b - c
                        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                    line.append((value - predictor) & 0xFF)
                out.append(kind)
                out += line
                prior = raw
        return bytes(out)

    def header(self, interlaced: bool) -> bytes:
        height, width = self.samples.shape[:2]
        return struct.pack(">IIBBBBB", width, height, self.bit_depth, self.colour_type, 0, 0, 1 if interlaced else 0)

    def encode(self, *, interlaced: bool = False, filters: str = "none", level: int = 6, wbits: int = 15,
               idat_size: int | None = None, before: list | None = None, after: list | None = None,
               stream: bytes | None = None, trailer: bytes = b"") -> bytes:
        """The PNG file; `before`/`after` are (type, data) chunks placed before/after the IDAT run;
        `stream` replaces the zlib stream."""
        if stream is None:
            compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)
            stream = compressor.compress(self.filtered(interlaced, filters)) + compressor.flush()
        out = PNG_SIGNATURE + chunk(b"IHDR", self.header(interlaced))
        for kind, data in before or []:
            out += chunk(kind, data)
        if self.palette is not None:
            out += chunk(b"PLTE", self.palette)
        if self.transparency is not None:
            out += chunk(b"tRNS", self.transparency)
        size = idat_size or max(1, len(stream))
        for start in range(0, max(1, len(stream)), size):
            out += chunk(b"IDAT", stream[start:start + size])
        for kind, data in after or []:
            out += chunk(kind, data)
        return out + chunk(b"IEND", b"") + trailer


def png_seeds() -> dict[str, PNGImage]:
    rgb = pattern(37, 23, 3, 1)
    palette_indices = (pattern(29, 17, 1, 2)[..., 0] % 12).astype(np.uint8)
    palette = bytes(int(v) for v in pattern(12, 1, 3, 3).reshape(-1))
    return {
        "png-rgb8": PNGImage(rgb, 2),
        "png-rgba8": PNGImage(pattern(31, 19, 4, 4), 6),
        "png-gray8": PNGImage(pattern(33, 21, 1, 5), 0),
        "png-gray-alpha8": PNGImage(pattern(23, 15, 2, 6), 4),
        "png-gray1": PNGImage(pattern(35, 13, 1, 7, 1), 0, 1),
        "png-gray4": PNGImage(pattern(27, 11, 1, 8, 15), 0, 4),
        "png-palette": PNGImage(palette_indices, 3, 8, palette),
        "png-palette4-trns": PNGImage(palette_indices, 3, 4, palette, bytes([255, 128, 0])),
        "png-rgb16": PNGImage(pattern(21, 13, 3, 9, 65535), 2, 16),
        "png-rgb8-trns": PNGImage(rgb, 2, 8, None, struct.pack(">HHH", 10, 20, 30)),
    }


# --------------------------------------------------------------------------------------------------
# TIFF / EXIF directories
# --------------------------------------------------------------------------------------------------

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def tiff(entries: list, order: bytes = b"MM", ifd_offset: int = 8, next_ifd: int = 0, magic: int = 42,
         pad_before_ifd: bytes = b"", tail: bytes = b"") -> bytes:
    """A TIFF structure with one directory. Each entry is (tag, type, count, value): value is bytes
    (stored inline if at most 4 bytes, else in a data area after the directory) or ('offset', n) to
    write a raw offset field."""
    big = order != b"II"
    u16 = (lambda v: struct.pack(">H" if big else "<H", v & 0xFFFF))
    u32 = (lambda v: struct.pack(">I" if big else "<I", v & 0xFFFFFFFF))
    head = order + u16(magic) + u32(ifd_offset) + pad_before_ifd
    directory_size = 2 + 12 * len(entries) + 4
    data_offset = len(head) + directory_size
    directory = u16(len(entries))
    data = b""
    for tag, kind, count, value in entries:
        directory += u16(tag) + u16(kind) + u32(count)
        if isinstance(value, tuple):
            directory += u32(value[1])
        elif len(value) <= 4:
            directory += value.ljust(4, b"\0")
        else:
            directory += u32(data_offset + len(data))
            data += value + (b"\0" if len(value) % 2 else b"")
    return head + directory + u32(next_ifd) + data + tail


def short(value: int, order: bytes = b"MM") -> bytes:
    return struct.pack(">H" if order != b"II" else "<H", value)


def rational(numerator: int, denominator: int, order: bytes = b"MM") -> bytes:
    return struct.pack(">II" if order != b"II" else "<II", numerator, denominator)


def camera_entries(orientation: int | None, order: bytes = b"MM", make: bytes = b"DejaCam\0") -> list:
    """The IFD0 a camera writes: make, model, orientation, resolution, software, date."""
    entries = [
        (0x010F, 2, len(make), make),
        (0x0110, 2, 6, b"Mk 2\0\0"),
        (0x011A, 5, 1, rational(300, 1, order)),
        (0x011B, 5, 1, rational(300, 1, order)),
        (0x0128, 3, 1, short(2, order)),
        (0x0131, 2, 10, b"deja 1.0\0\0"),
        (0x0132, 2, 20, b"2026:01:02 03:04:05\0"),
    ]
    if orientation is not None:
        entries.append((0x0112, 3, 1, short(orientation, order)))
    return sorted(entries, key=lambda e: e[0])


def exif_tiffs() -> list[tuple[str, bytes]]:
    """TIFF structures: well-formed with every orientation in both byte orders, and malformed ones."""
    out = []
    for order in (b"MM", b"II"):
        name = order.decode()
        for orientation in range(0, 10):
            out.append((f"o{orientation} {name}", tiff(camera_entries(orientation, order), order)))
        out.append((f"no orientation {name}", tiff(camera_entries(None, order), order)))
        out.append((f"o6 only {name}", tiff([(0x0112, 3, 1, short(6, order))], order)))
        out.append((f"o1 only {name}", tiff([(0x0112, 3, 1, short(1, order))], order)))
    out.append(("o6 other make", tiff(camera_entries(6, make=b"OtherCam 3000\0"))))
    out.append(("o6 with exif ifd", tiff(camera_entries(6) + [(0x8769, 4, 1, ("offset", 8))])))
    o6 = (0x0112, 3, 1, short(6))
    bad = {
        "make offset out of range before o6": [(0x010F, 2, 16, ("offset", 0xFF00)), o6],
        "make offset out of range after o6": [o6, (0x013B, 2, 16, ("offset", 0xFF00)), (0x8298, 2, 16, ("offset", 0xFF00))],
        "xres SHORT before o6": [(0x011A, 3, 1, short(72)), o6],
        "xres offset out of range before o6": [(0x011A, 5, 1, ("offset", 0x7FFF0000)), o6],
        "white point short data before o6": [(0x013E, 5, 1, ("offset", 24)), o6],
        "refbw count 1 before o6": [(0x0214, 5, 1, rational(1, 1) ), o6],
        "o6 LONG": [(0x0112, 4, 1, b"\0\0\0\x06")],
        "o6 LONG high half": [(0x0112, 4, 1, b"\0\x06\0\0")],
        "o6 BYTE": [(0x0112, 1, 1, b"\x06")],
        "o6 count 2": [(0x0112, 3, 2, short(6) + short(3))],
        "o6 count 0": [(0x0112, 3, 0, short(6))],
        "o6 type 99": [(0x0112, 99, 1, short(6))],
        "o3 then o6": [(0x0112, 3, 1, short(3)), o6],
        "o6 then o3": [o6, (0x0112, 3, 1, short(3))],
        "unknown type before o6": [(0x9000, 77, 1, b"\0\0\0\0"), o6],
        "unknown tag data out of range before o6": [(0x9286, 7, 4000, ("offset", 8)), o6],
        "exif ifd pointer out of range": [o6, (0x8769, 4, 1, ("offset", 0xFFFFFF))],
        "exif ifd pointer loop": [o6, (0x8769, 4, 1, ("offset", 8))],
        "exif ifd pointer SHORT": [o6, (0x8769, 3, 1, short(8))],
    }
    for name, entries in bad.items():
        out.append((name, tiff(entries)))
    good = tiff([o6])
    out += [
        ("ifd0 next loops to itself", tiff([o6], next_ifd=8)),
        ("ifd0 next out of range", tiff([o6], next_ifd=0xFFFF)),
        ("ifd0 at odd offset 9", tiff([o6], ifd_offset=9, pad_before_ifd=b"\0")),
        ("ifd0 at offset 10", tiff([o6], ifd_offset=10, pad_before_ifd=b"\0\0")),
        ("ifd0 offset 0", good[:4] + b"\0\0\0\0" + good[8:]),
        ("ifd0 offset 4", good[:4] + b"\0\0\0\x04" + good[8:]),
        ("ifd0 offset past end", good[:4] + b"\0\0\xff\xff" + good[8:]),
        ("entry count 2 with 1 entry", good[:8] + b"\0\x02" + good[10:]),
        ("entry count 200", good[:8] + b"\0\xc8" + good[10:]),
        ("no next-ifd field", good[:-4]),
        ("truncated inside entry", good[:18]),
        ("only header", good[:8]),
        ("byte order XX", b"XX" + good[2:]),
        ("byte order IM", b"IM" + good[2:]),
        ("byte order MI", b"MI" + good[2:]),
        ("byte order ii", b"ii" + good[2:]),
        ("magic 43", good[:2] + b"\0\x2b" + good[4:]),
        ("magic 42 little-endian in MM", good[:2] + b"\x2a\0" + good[4:]),
        ("trailing garbage", good + b"garbage" * 3),
        ("empty", b""),
    ]
    return out


# --------------------------------------------------------------------------------------------------
# JPEG
# --------------------------------------------------------------------------------------------------


def split_jpeg(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(marker, payload) segments between SOI and the first SOS, and the rest (SOS to the end)."""
    position = 2
    segments = []
    while True:
        assert data[position] == 0xFF
        marker = data[position + 1]
        if marker == 0xDA:
            return segments, data[position:]
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        segments.append((marker, data[position + 4:position + 2 + length]))
        position += 2 + length


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def join_jpeg(segments: list[tuple[int, bytes]], rest: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(segment(m, p) for m, p in segments) + rest


def with_component_ids(data: bytes, ids: tuple[int, ...]) -> bytes:
    """The same JPEG with other component identifiers in the frame header and in every scan header."""
    segments, rest = split_jpeg(data)
    mapping = {}
    out = []
    for marker, payload in segments:
        if marker in (0xC0, 0xC1, 0xC2):
            p = bytearray(payload)
            for i in range(p[5]):
                mapping[p[6 + 3 * i]] = ids[i]
                p[6 + 3 * i] = ids[i]
            payload = bytes(p)
        out.append((marker, payload))
    patched = bytearray(rest)
    position = 0
    while position < len(patched) - 4:
        if patched[position] == 0xFF and patched[position + 1] == 0xDA:
            for i in range(patched[position + 4]):
                at = position + 5 + 2 * i
                patched[at] = mapping.get(patched[at], patched[at])
            position += 2 + struct.unpack(">H", bytes(patched[position + 2:position + 4]))[0]
        else:
            position += 1
    return join_jpeg(out, bytes(patched))


def opencv_jpeg(image: np.ndarray, *params: int) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, list(params))
    assert ok
    return bytes(encoded)


def pillow_jpeg(image: np.ndarray, mode: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).convert(mode).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def jpeg_seeds() -> dict[str, bytes]:
    colour = pattern(40, 24, 3, 11)
    gray = pattern(36, 20, 1, 12)[..., 0]
    baseline = opencv_jpeg(colour, cv2.IMWRITE_JPEG_QUALITY, 90)
    segments, rest = split_jpeg(baseline)
    no_jfif = join_jpeg([s for s in segments if s[0] != 0xE0], rest)
    return {
        "jpeg-baseline": baseline,
        "jpeg-progressive": opencv_jpeg(colour, cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "jpeg-restart": opencv_jpeg(colour, cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
        "jpeg-gray": opencv_jpeg(gray, cv2.IMWRITE_JPEG_QUALITY, 90),
        "jpeg-pillow-444": pillow_jpeg(colour, "RGB", quality=88, subsampling=0),
        "jpeg-no-jfif": no_jfif,
        "jpeg-no-jfif-rgb-ids": with_component_ids(no_jfif, (82, 71, 66)),
        "jpeg-rgb-ids": with_component_ids(baseline, (82, 71, 66)),
        "jpeg-cmyk-adobe": pillow_jpeg(colour, "CMYK", quality=90),
    }


# --------------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------------

IGNORED_PNG_CHUNKS = [
    (b"tEXt", b"Comment\0scanned at the front desk"),
    (b"zTXt", b"Comment\0\0" + zlib.compress(b"scanned at the front desk")),
    (b"iTXt", b"Comment\0\0\0en\0\0scanned"),
    (b"tIME", struct.pack(">HBBBBB", 2026, 1, 2, 3, 4, 5)),
    (b"pHYs", struct.pack(">IIB", 11811, 11811, 1)),
    (b"oFFs", struct.pack(">iiB", 3, 4, 0)),
    (b"iDOT", b"\0" * 28),
]
MALFORMED_IGNORED_PNG_CHUNKS = [
    (b"tEXt", b"no separator"),
    (b"tIME", b"\0\0"),
    (b"pHYs", b"\0" * 3),
    (b"zTXt", b"Comment\0\0not zlib"),
    (b"sPLT", b"x"),
    (b"hIST", b"\0\1"),
]
COUNTED_PNG_CHUNKS = [
    (b"gAMA", struct.pack(">I", 45455)),
    (b"sRGB", b"\0"),
    (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
    (b"sBIT", b"\x05"),
    (b"prVt", b"private data"),
]


def raw_profile(tiff_bytes: bytes) -> bytes:
    hexed = (b"Exif\0\0" + tiff_bytes).hex()
    lines = "\n".join(hexed[i:i + 72] for i in range(0, len(hexed), 72))
    return f"\nexif\n{len(hexed) // 2:8d}\n{lines}\n".encode()


def zlib_header(stream: bytes, cinfo: int) -> bytes:
    cmf = (cinfo << 4) | 8
    flg = stream[1] & 0xE0
    flg |= (31 - ((cmf * 256 + flg) % 31)) % 31
    return bytes([cmf, flg]) + stream[2:]


def png_variants(big_chunks: bool = True) -> list[Variant]:
    out = []
    tiffs = exif_tiffs()
    o6 = tiff(camera_entries(6))
    o3 = tiff(camera_entries(3))
    o1 = tiff(camera_entries(1))
    for name, image in png_seeds().items():
        add = lambda label, data: out.append(Variant(f"{name}/{label}", data))  # noqa: E731
        add("base", image.encode())
        add("encode level 0", image.encode(level=0))
        add("encode level 9 cycle filters", image.encode(level=9, filters="cycle"))
        add("encode idat split 7", image.encode(idat_size=7))
        add("encode idat split 1", image.encode(idat_size=1))
        add("encode window 9 bits", image.encode(wbits=9))
        add("interlace", image.encode(interlaced=True))
        add("interlace cycle filters split 5", image.encode(interlaced=True, filters="cycle", idat_size=5))
        add("trailer after IEND", image.encode(trailer=b"junk after the end"))
        filtered = image.filtered(False, "none")
        stream = zlib.compress(filtered, 9)
        add("zlib trailing junk in IDAT", image.encode(stream=stream + b"junk"))
        add("zlib second stream", image.encode(stream=stream + zlib.compress(b"x")))
        add("zlib bad adler", image.encode(stream=stream[:-1] + bytes([stream[-1] ^ 1])))
        add("zlib no adler", image.encode(stream=stream[:-4]))
        add("zlib extra image data", image.encode(stream=zlib.compress(filtered + b"\0" * 9)))
        add("zlib short image data", image.encode(stream=zlib.compress(filtered[:-3])))
        add("zlib preset dictionary flag", image.encode(stream=bytes([0x78, 0xBB]) + stream[2:]))
        for cinfo in (0, 1, 3, 5, 6, 7):
            add(f"zlib header window cinfo {cinfo}", image.encode(stream=zlib_header(stream, cinfo)))
        for kind, data in IGNORED_PNG_CHUNKS:
            add(f"chunk {kind.decode()} before IDAT", image.encode(before=[(kind, data)]))
            add(f"chunk {kind.decode()} after IDAT", image.encode(after=[(kind, data)]))
        add("chunk all ignored before and after", image.encode(before=IGNORED_PNG_CHUNKS, after=IGNORED_PNG_CHUNKS[::-1]))
        for kind, data in MALFORMED_IGNORED_PNG_CHUNKS:
            add(f"chunk malformed {kind.decode()}", image.encode(before=[(kind, data)]))
        for kind, data in COUNTED_PNG_CHUNKS:
            add(f"chunk {kind.decode()}", image.encode(before=[(kind, data)]))
        add("chunk tEXt bad crc", image.encode()[:33] + chunk(b"tEXt", b"a\0b", crc=1) + image.encode()[33:])
        add("chunk suggested PLTE", image.encode(before=[(b"PLTE", b"\1\2\3" * 4)]) if image.colour_type in (2, 6) else image.encode())
        for key in (b"Raw profile type exif", b"Raw profile type APP1"):
            add(f"chunk text {key.decode()} o6", image.encode(before=[(b"tEXt", key + b"\0" + raw_profile(o6))]))
            add(f"chunk zTXt {key.decode()} o6", image.encode(after=[(b"zTXt", key + b"\0\0" + zlib.compress(raw_profile(o6)))]))
        if name in ("png-rgb8", "png-palette"):
            for label, t in tiffs:
                add(f"exif eXIf {label}", image.encode(before=[(b"eXIf", t)]))
            add("exif eXIf o6 after IDAT", image.encode(after=[(b"eXIf", o6)]))
            add("exif eXIf o6 o3", image.encode(before=[(b"eXIf", o6), (b"eXIf", o3)]))
            add("exif eXIf o3 o6", image.encode(before=[(b"eXIf", o3), (b"eXIf", o6)]))
            add("exif eXIf o1 o6", image.encode(before=[(b"eXIf", o1), (b"eXIf", o6)]))
            add("exif eXIf o6 o1", image.encode(before=[(b"eXIf", o6), (b"eXIf", o1)]))
            add("exif eXIf o1 before, o6 after IDAT", image.encode(before=[(b"eXIf", o1)], after=[(b"eXIf", o6)]))
            add("exif eXIf o6 before, o3 after IDAT", image.encode(before=[(b"eXIf", o6)], after=[(b"eXIf", o3)]))
            add("exif eXIf junk then o6", image.encode(before=[(b"eXIf", b"junkjunk"), (b"eXIf", o6)]))
            add("exif eXIf Exif-prefixed o6", image.encode(before=[(b"eXIf", b"Exif\0\0" + o6)]))
            add("exif eXIf XX then o6", image.encode(before=[(b"eXIf", b"XX" + o6[2:]), (b"eXIf", o6)]))
            add("exif eXIf bad make then o6", image.encode(before=[(b"eXIf", tiff([(0x010F, 2, 16, ("offset", 0xFF00)), (0x0112, 3, 1, short(6))])), (b"eXIf", o3)]))
            add("exif eXIf short", image.encode(before=[(b"eXIf", b"MM")]))
            for label, t in fuzzed_tiffs(60, seed=len(name) + 7):
                add(f"exif eXIf {label}", image.encode(before=[(b"eXIf", t)]))
                add(f"exif eXIf {label} then o6", image.encode(before=[(b"eXIf", t)], after=[(b"eXIf", o6)]))
        if big_chunks and name == "png-rgb8":
            big = b"x" * 8_000_000
            add("chunk big zTXt before IDAT", image.encode(before=[(b"zTXt", b"Comment\0\0" + big)]))
            add("chunk big zTXt after IDAT", image.encode(after=[(b"zTXt", b"Comment\0\0" + big)]))
            add("chunk big tEXt before IDAT", image.encode(before=[(b"tEXt", b"Comment\0" + big)]))
            add("exif eXIf big o6", image.encode(before=[(b"eXIf", o6 + big)]))
    # A stream whose deflate distances exceed the window its zlib header declares.
    rng = np.random.default_rng(21)
    block = rng.integers(0, 256, size=(12, 160, 3), dtype=np.uint8)
    repeated = PNGImage(np.concatenate([block] * 10, axis=0), 2)
    data = repeated.filtered(False, "none")
    compressor = zlib.compressobj(9, zlib.DEFLATED, 15)
    stream = compressor.compress(data) + compressor.flush()
    out.append(Variant("png-repeated/base", repeated.encode(stream=stream)))
    out.append(Variant("png-repeated/encode idat split 100", repeated.encode(stream=stream, idat_size=100)))
    for cinfo in range(0, 7):
        out.append(Variant(f"png-repeated/zlib header window cinfo {cinfo}", repeated.encode(stream=zlib_header(stream, cinfo))))
    return out


def app1_exif(t: bytes, header: bytes = b"Exif\0\0") -> tuple[int, bytes]:
    return (0xE1, header + t)


def insert_before_sos(data: bytes, extra: list[tuple[int, bytes]], at: int = 1) -> bytes:
    segments, rest = split_jpeg(data)
    return join_jpeg(segments[:at] + extra + segments[at:], rest)


def insert_after_sos(data: bytes, extra: list[tuple[int, bytes]]) -> bytes:
    """Segments just before EOI (after the last scan) — or, in a progressive file, between scans."""
    scans = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    position = scans[1] if len(scans) > 1 else len(data) - 2
    return data[:position] + b"".join(segment(m, p) for m, p in extra) + data[position:]


def jpeg_variants() -> list[Variant]:
    out = []
    tiffs = exif_tiffs()
    by_label = dict(tiffs)
    o6 = tiff(camera_entries(6))
    o3 = tiff(camera_entries(3))
    o1 = tiff(camera_entries(1))
    none = tiff(camera_entries(None))
    xmp = (0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><rdf:Description tiff:Orientation='6'/></rdf:RDF></x:xmpmeta>")
    for name, base in jpeg_seeds().items():
        add = lambda label, data: out.append(Variant(f"{name}/{label}", data))  # noqa: E731
        segments, rest = split_jpeg(base)
        add("base", base)
        add("meta comment", insert_before_sos(base, [(0xFE, b"scanned at the front desk")]))
        add("meta comment at end", insert_before_sos(base, [(0xFE, b"x")], at=len(segments)))
        add("meta two comments", insert_before_sos(base, [(0xFE, b"a"), (0xFE, b"b")], at=len(segments) - 1))
        add("meta xmp", insert_before_sos(base, [xmp]))
        add("meta iptc", insert_before_sos(base, [(0xED, b"Photoshop 3.0\x008BIM\x04\x04\0\0\0\0\0\0")]))
        add("meta app3 app15", insert_before_sos(base, [(0xE3, b"\1\2"), (0xEF, b"vendor")]))
        add("meta mpf", insert_before_sos(base, [(0xE2, b"MPF\0\0\0")]))
        add("meta jfxx", insert_before_sos(base, [(0xE0, b"JFXX\0\x10")]))
        add("meta comment after sos", insert_after_sos(base, [(0xFE, b"late comment")]))
        add("meta fill bytes", base[:2] + b"\xff\xff\xff" + base[2:])
        add("meta trailer junk", base + b"trailing bytes")
        add("meta trailer jpeg with exif o6", base + insert_before_sos(base, [app1_exif(o6)]))
        add("meta icc", insert_before_sos(base, [(0xE2, b"ICC_PROFILE\0\1\1" + b"\7" * 60)]))
        if name in ("jpeg-baseline", "jpeg-progressive", "jpeg-no-jfif-rgb-ids", "jpeg-gray"):
            for label, t in tiffs:
                add(f"exif app1 {label}", insert_before_sos(base, [app1_exif(t)]))
            for header in (b"ExifXX", b"exif\0\0", b"Exif\0\1", b"EXIF\0\0", b"Exif\0", b"Exif\0\0\0", b"Exif  "):
                add(f"exif header {header!r} o6", insert_before_sos(base, [app1_exif(o6, header)]))
            for first_label, first in (("none", none), ("o1", o1), ("o3", o3), ("junk", b"junk"), ("empty", b""),
                                        ("bad make", by_label["make offset out of range before o6"]),
                                        ("XX order", b"XX" + o3[2:]), ("ExifXX header", None)):
                first_segment = app1_exif(o3, b"ExifXX") if first is None else app1_exif(first)
                add(f"exif two app1 {first_label} then o6", insert_before_sos(base, [first_segment, app1_exif(o6)]))
            add("exif two app1 o6 then o3", insert_before_sos(base, [app1_exif(o6), app1_exif(o3)]))
            add("exif two app1 o6 then junk", insert_before_sos(base, [app1_exif(o6), app1_exif(b"junk")]))
            add("exif two app1 o6 then o6", insert_before_sos(base, [app1_exif(o6), app1_exif(o6)]))
            add("exif xmp then o6", insert_before_sos(base, [xmp, app1_exif(o6)]))
            add("exif o6 then xmp", insert_before_sos(base, [app1_exif(o6), xmp]))
            add("exif o6 late before sos", insert_before_sos(base, [app1_exif(o6)], at=len(segments)))
            add("exif o6 after sos", insert_after_sos(base, [app1_exif(o6)]))
            add("exif o1 before, o6 after sos", insert_after_sos(insert_before_sos(base, [app1_exif(o1)]), [app1_exif(o6)]))
            for label, t in fuzzed_tiffs(60, seed=len(name)):
                add(f"exif app1 {label}", insert_before_sos(base, [app1_exif(t)]))
                add(f"exif two app1 {label} then o6", insert_before_sos(base, [app1_exif(t), app1_exif(o6)]))
            for index, extra in enumerate(shuffled_metadata(seed=len(name) + 1, count=25)):
                add(f"meta shuffled {index}", insert_before_sos(base, extra, at=index % (len(segments) + 1)))
                add(f"meta shuffled {index} with o6", insert_before_sos(base, extra + [app1_exif(o6)], at=index % (len(segments) + 1)))
        jfif = next((p for m, p in segments if m == 0xE0), b"JFIF\0\1\1\0\0\1\0\1\0\0")
        without = [s for s in segments if s[0] != 0xE0]
        add("jfif removed", join_jpeg(without, rest))
        add("jfif short 5", join_jpeg([(0xE0, b"JFIF\0")] + without, rest))
        add("jfif short 13", join_jpeg([(0xE0, jfif[:13])] + without, rest))
        add("jfif exactly 14", join_jpeg([(0xE0, jfif[:14])] + without, rest))
        add("jfif with thumbnail bytes", join_jpeg([(0xE0, jfif[:12] + b"\1\1\0\0\0")] + without, rest))
        add("jfif late before sos", join_jpeg(without + [(0xE0, jfif)], rest))
        add("jfif twice", join_jpeg([(0xE0, jfif), (0xE0, jfif)] + without, rest))
        add("jfif after sos", insert_after_sos(join_jpeg(without, rest), [(0xE0, jfif)]))
        for transform in (0, 1, 2):
            add(f"adobe transform {transform}", join_jpeg([(0xEE, b"Adobe\0\x64\0\0\0\0" + bytes([transform]))] + without, rest))
        add("adobe short", join_jpeg([(0xEE, b"Adobe\0\x64\0\0\0\0")] + without, rest))
        add("adobe 0 then 1", join_jpeg([(0xEE, b"Adobe\0\x64\0\0\0\0\0"), (0xEE, b"Adobe\0\x64\0\0\0\0\1")] + without, rest))
        add("adobe 1 then 0", join_jpeg([(0xEE, b"Adobe\0\x64\0\0\0\0\1"), (0xEE, b"Adobe\0\x64\0\0\0\0\0")] + without, rest))
        add("adobe other version bytes", join_jpeg([(0xEE, b"Adobe\0\x65\0\1\0\2\0")] + without, rest))
    return out


def fuzzed_tiffs(count: int, seed: int) -> list[tuple[str, bytes]]:
    """Well-formed camera directories (orientation 6 or 3, both byte orders) with one to three bytes of
    the header or the directory replaced at random: offsets, counts, types and tags go wrong in every way."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        order = b"MM" if index % 2 else b"II"
        good = tiff(camera_entries(6 if index % 3 else 3, order), order)
        data = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(0, min(len(data), 8 + 2 + 12 * 8))
            data[at] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x12, 0x2A, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        out.append((f"fuzz {index}", bytes(data)))
    return out


def shuffled_metadata(seed: int, count: int) -> list[list[tuple[int, bytes]]]:
    """Random selections of JPEG segments the decoder ignores (or reads as no change), in random order."""
    rng = random.Random(seed)
    pool = [
        (0xFE, b"comment one"), (0xFE, b"another comment"),
        (0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"),
        (0xED, b"Photoshop 3.0\x008BIM"), (0xE3, b"\1\2\3"), (0xEC, b"Ducky\0\1"),
        (0xE1, b"Exif\0\0" + tiff(camera_entries(None))), (0xE1, b"Exif\0\0" + tiff(camera_entries(1, b"II"), b"II")),
        (0xE1, b"ExifXX" + tiff(camera_entries(6))), (0xE0, b"JFXX\0\x10"), (0xE2, b"MPF\0"),
    ]
    return [rng.sample(pool, rng.randint(1, 5)) for _ in range(count)]


def all_variants(big_chunks: bool = True) -> list[Variant]:
    """Every variant, deduplicated by bytes (the first label wins), in a deterministic order."""
    seen = set()
    out = []
    for variant in png_variants(big_chunks) + jpeg_variants():
        if variant.data not in seen:
            seen.add(variant.data)
            out.append(variant)
    return out
