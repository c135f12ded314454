"""How an input image is resized and padded before PP-OCRv4 text detection.

Pure arithmetic, no image and no model: `plan` decides, from the decoded image
size and the request's detector options, which sizes the pipeline will work at,
before any pixel is touched.

rapidocr_paddle's own chain (`RapidOCR.preprocess`, `maybe_add_letterbox`,
`DetPreProcess.resize`) is used unchanged whenever it is well defined and
bounded; `plan` mirrors its arithmetic exactly (the worker tests compare the two
on a grid of shapes).  That chain has two failure modes on extreme shapes:

* it raises: when the long side is over `max_side_len` (2000) the image is
  scaled down and each side rounded to a multiple of 32, so a short side that
  lands under 16 px rounds to 0 and `reduce_max_side` raises `ResizeImgError`
  (1x3000, 3000x24, 10000x8, ...);
* it explodes: a short side under `min_side_len` (30) is scaled *up* to 30,
  stretching the long side by the same factor with no upper bound, and only
  wide images are letterboxed before detection, whose `limit_type=min` then
  scales the short side to 736 -- a 1x100 PNG becomes a 736x69184 detector
  input (51 Mpx, ~9 GB of RAM, over a minute of CPU); 1x2000 would need a
  terabyte-sized tensor.

For those shapes (and only those) `plan` returns the *safe* chain, which
follows PaddleX's own detector resize (sides clamped to >= 32 px, input
capped): scale so the long side is <= `max_side_len` and, if possible, the short
side >= `min_side_len`; round each side to a multiple of 32 but never below 32
(a sliver is stretched, not dropped); letterbox the short dimension with black
when the aspect ratio is over `width_height_ratio` (8), for tall images too; and
scale the detector input down to at most `max_det_pixels`.  Every image the
worker accepts therefore gets a normal answer, at a bounded cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

#: PaddleX's `max_side_limit` (OCR.yaml:31; text_detection/processors.py:
#: 168-177): a detector input whose long side would exceed it is scaled down to
#: it, and each side is then at least 32 px.  Applied on both chains.
MAX_SIDE_LIMIT = 4000

#: Largest detector input, in pixels, the worker will build: 4000 x 4000, the
#: largest input PaddleX's own detector resize can produce (max_side_limit 4000)
#: and what `textDetLimitSideLen=4000` asks for on a square image.
MAX_DET_PIXELS = 4000 * 4000

Size = Tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class Geometry:
    """rapidocr_paddle's resize configuration (read from the loaded engine)."""

    max_side_len: int = 2000      # Global.max_side_len
    min_side_len: int = 30        # Global.min_side_len
    min_height: int = 30          # Global.min_height
    width_height_ratio: float = 8  # Global.width_height_ratio
    max_det_pixels: int = MAX_DET_PIXELS
    max_side_limit: int = MAX_SIDE_LIMIT  # PaddleX's detector cap (not rapidocr's)


@dataclass(frozen=True)
class Plan:
    """The sizes one request is processed at.

    `safe` is False when rapidocr_paddle's own chain runs unchanged; then the
    other fields are what that chain will produce.  When True, the worker
    resizes the image to `fit` (non-uniformly if a side had to be clamped to
    32 px), pads it by `pad` (top, bottom, left, right; black) and gives the
    detector an input of `det`.  `det` is (0, 0) when rapidocr's detector resize
    rounds a side to 0 (a tiny `textDetLimitSideLen` with `limitType=max`); the
    detector is then skipped and the answer has no text, as in rapidocr.
    `reason` says why the safe chain was chosen (for logs and tests)."""

    safe: bool
    fit: Size
    pad: Tuple[int, int, int, int]
    det: Size
    reason: Optional[str] = None

    @property
    def padded(self) -> Size:
        top, bottom, left, right = self.pad
        return self.fit[0] + top + bottom, self.fit[1] + left + right


def round32(x: float) -> int:
    """rapidocr's rounding to a multiple of 32 (Python's round: half to even)."""
    return int(round(x / 32) * 32)


def det_input_size(h: int, w: int, limit: int, kind: str, max_pixels: Optional[int] = None,
                   max_side_limit: Optional[int] = None) -> Size:
    """`DetPreProcess.resize`'s target size for an h x w image; a side may be 0
    (rapidocr then skips detection).  With `max_side_limit`, PaddleX's cap: a
    long side over it is scaled down to it before rounding, and each side is
    then at least 32 (PaddleX's `resize_image_type0`).  With `max_pixels`, a
    larger result is scaled down to fit, each side a multiple of 32 and at
    least 32."""
    if kind == "max":
        ratio = (limit / h if h > w else limit / w) if max(h, w) > limit else 1.0
    elif kind == "resize_long":  # PaddleX's third limit type (text_detection/processors.py:161-162)
        ratio = limit / max(h, w)
    else:
        ratio = (limit / h if h < w else limit / w) if min(h, w) < limit else 1.0
    rh, rw = int(h * ratio), int(w * ratio)
    if max_side_limit is not None and max(rh, rw) > max_side_limit:
        cap = max_side_limit / max(rh, rw)
        rh, rw = int(rh * cap), int(rw * cap)
        dh, dw = max(32, round32(rh)), max(32, round32(rw))
    else:
        dh, dw = round32(rh), round32(rw)
    if max_pixels is not None and dh * dw > max_pixels:
        scale = math.sqrt(max_pixels / (dh * dw))
        dh = max(32, int(dh * scale) // 32 * 32)
        dw = max(32, int(dw * scale) // 32 * 32)
    return dh, dw


def _library_sizes(h: int, w: int, g: Geometry) -> Optional[Tuple[Size, int]]:
    """rapidocr's `preprocess` + `maybe_add_letterbox` sizes: (preprocessed size,
    vertical padding per side), or None where `preprocess` would raise."""
    if max(h, w) > g.max_side_len:  # reduce_max_side
        ratio = g.max_side_len / h if h > w else g.max_side_len / w
        h, w = round32(int(h * ratio)), round32(int(w * ratio))
        if h <= 0 or w <= 0:
            return None
    if min(h, w) < g.min_side_len:  # increase_min_side
        ratio = g.min_side_len / h if h < w else g.min_side_len / w
        h, w = round32(int(h * ratio)), round32(int(w * ratio))
        if h <= 0 or w <= 0:
            return None
    pad = 0
    if h <= g.min_height or (g.width_height_ratio != -1 and w / h > g.width_height_ratio):
        new_h = max(int(w / g.width_height_ratio), g.min_height) * 2
        pad = int(abs(new_h - h) / 2)
    return (h, w), pad


def plan(h: int, w: int, limit: int, kind: str, g: Geometry = Geometry()) -> Plan:
    """The resize plan for a decoded h x w image (h, w >= 1) under the request's
    `textDetLimitSideLen` (`limit`) and `textDetLimitType` (`kind`)."""
    lib = _library_sizes(h, w, g)
    if lib is None:
        reason = f"{w}x{h}: a side rounds to 0 px when the long side is scaled to {g.max_side_len}"
    else:
        (ph, pw), pad = lib
        padded = (ph + 2 * pad, pw)
        det = det_input_size(padded[0], padded[1], limit, kind, max_side_limit=g.max_side_limit)
        biggest = max(ph * pw, padded[0] * padded[1], det[0] * det[1])
        if biggest <= g.max_det_pixels:
            return Plan(False, (ph, pw), (pad, pad, 0, 0), det if min(det) > 0 else (0, 0))
        reason = (f"{w}x{h}: the detector input would be {det[1]}x{det[0]} "
                  f"({biggest / 1e6:.1f} Mpx, limit {g.max_det_pixels / 1e6:.1f})")
    return _safe_plan(h, w, limit, kind, g, reason)


def _safe_plan(h: int, w: int, limit: int, kind: str, g: Geometry, reason: str) -> Plan:
    long_side, short_side = max(h, w), min(h, w)
    scale = min(1.0, g.max_side_len / long_side)
    if short_side * scale < g.min_side_len:
        scale = min(g.min_side_len / short_side, g.max_side_len / long_side)
    fh = max(32, round32(int(h * scale)))
    fw = max(32, round32(int(w * scale)))
    top = bottom = left = right = 0
    long_side, short_side = max(fh, fw), min(fh, fw)
    if short_side <= g.min_height or (g.width_height_ratio != -1 and long_side / short_side > g.width_height_ratio):
        pad = int(abs(max(int(long_side / g.width_height_ratio), g.min_height) * 2 - short_side) / 2)
        if fh <= fw:
            top = bottom = pad
        else:
            left = right = pad
    det = det_input_size(fh + top + bottom, fw + left + right, limit, kind, g.max_det_pixels, g.max_side_limit)
    return Plan(True, (fh, fw), (top, bottom, left, right), det if min(det) > 0 else (0, 0), reason)
