"""The images of a PaddleX OCR answer when `visualize` is true: `inputImage`
(the page as decoded) and `ocrImage` (the OCR result drawn over it), each a
base64 JPEG shrunk to fit 2000x2000, as PaddleX 3.7.2's basic serving makes
them.

Sources followed (paddlex 3.7.2 wheel):

* `ocrImage`: `OCRResult._to_img` (paddlex/inference/pipelines/ocr/result.py:
  34-116): the page on the left with every kept line (`rec_polys`) filled in a
  colour drawn from `random.seed(0)`, blended 50% with the page; on the right a
  white page with each line's text (`rec_texts`) written into its box
  (`draw_box_txt_fine`, result.py:198-245, fonts sized by
  `paddlex/utils/fonts.py` `create_font`/`create_font_vertical`) and the box
  outlined in its colour; the two side by side (2w x h).
* encoding: `postprocess_image` (basic_serving/_pipeline_apps/_common/common.py:
  45-80): an image wider or taller than `max_img_size` (2000, 2000;
  _common/ocr.py:34) is shrunk by one factor to fit, then `cv2.imencode(".jpg")`
  (OpenCV's default quality, 95) and plain base64 (infra/utils.py:240-242, 255).

The font is the worker's CJK font (fonts-wqy-microhei, see make_invoice.py)
instead of PaddleX's SimFang, which is downloaded at run time; so the picture
is PaddleX's layout, not its exact pixels.  The one other difference is speed
only: each line's text is warped into the bounding box of its quadrilateral
instead of into a whole page-sized canvas (the pixels are the same, since the
warp is white outside the quadrilateral).
"""

from __future__ import annotations

import base64
import functools
import math
import random
from typing import Any, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: PaddleX's DEFAULT_MAX_OUTPUT_IMG_SIZE (_pipeline_apps/_common/ocr.py:34): (max width, max height).
MAX_OUTPUT_IMG_SIZE: Tuple[int, int] = (2000, 2000)


@functools.lru_cache(maxsize=256)
def _truetype(font_path: Optional[str], size: int):
    if font_path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(font_path, size, encoding="utf-8")


def create_font(txt: str, sz: Tuple[int, int], font_path: Optional[str]):
    """paddlex/utils/fonts.py `create_font`: 80% of the box height, narrowed to the box width."""
    font_size = int(sz[1] * 0.8)
    font = _truetype(font_path, font_size)
    length = font.getlength(txt)
    if length > sz[0]:
        font_size = int(font_size * sz[0] / length)
        font = _truetype(font_path, font_size)
    return font


def create_font_vertical(txt: str, sz: Tuple[int, int], font_path: Optional[str], scale: float = 1.2):
    """paddlex/utils/fonts.py `create_font_vertical`."""
    n = len(txt) if len(txt) > 0 else 1
    base_font_size = max(int(sz[1] / n * 0.8 * scale), 10)
    font = _truetype(font_path, base_font_size)
    max_char_width = max(font.getlength(c) for c in txt)
    if max_char_width > sz[0]:
        new_size = max(int(base_font_size * sz[0] / max_char_width), 10)
        font = _truetype(font_path, new_size)
    return font


def _draw_vertical_text(draw, position, text, font, fill=(0, 0, 0), line_spacing=2):
    x, y = position
    for char in text:
        draw.text((x, y), char, font=font, fill=fill)
        bbox = font.getbbox(char)
        y += bbox[3] - bbox[1] + line_spacing


def _box_text(box: np.ndarray, txt: str, font_path: Optional[str]):
    """`draw_box_txt_fine` up to the warp: the line's text on a white box-sized
    image, and the perspective transform from it to the box."""
    box_height = int(math.sqrt(float(box[0][0] - box[3][0]) ** 2 + float(box[0][1] - box[3][1]) ** 2))
    box_width = int(math.sqrt(float(box[0][0] - box[1][0]) ** 2 + float(box[0][1] - box[1][1]) ** 2))
    img_text = Image.new("RGB", (box_width, box_height), (255, 255, 255))
    draw_text = ImageDraw.Draw(img_text)
    if box_height > 2 * box_width and box_height > 30:
        if txt:
            font = create_font_vertical(txt, (box_width, box_height), font_path)
            _draw_vertical_text(draw_text, (0, 0), txt, font)
    elif txt:
        font = create_font(txt, (box_width, box_height), font_path)
        draw_text.text([0, 0], txt, fill=(0, 0, 0), font=font)
    pts1 = np.float32([[0, 0], [box_width, 0], [box_width, box_height], [0, box_height]])
    pts2 = np.array(box, dtype=np.float32)
    return np.array(img_text, dtype=np.uint8), cv2.getPerspectiveTransform(pts1, pts2)


def ocr_image(page_bgr: np.ndarray, polys: Sequence[Sequence[Sequence[int]]], texts: Sequence[str],
              font_path: Optional[str]) -> Image.Image:
    """PaddleX's `ocr_res_img` of a page: an RGB PIL image, twice the page's width."""
    h, w = page_bgr.shape[0:2]
    image_rgb = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2RGB)
    img_left = Image.fromarray(image_rgb)
    img_right = np.ones((h, w, 3), dtype=np.uint8) * 255
    rng = random.Random(0)  # random.seed(0) in PaddleX; a local generator is the same sequence, thread-safe
    draw_left = ImageDraw.Draw(img_left)
    for box, txt in zip(polys, texts):
        try:
            color = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
            box = np.array(box)
            draw_left.polygon([(int(x), int(y)) for x, y in box.tolist()], fill=color)
            img_text, m = _box_text(box, txt, font_path)
            pts = np.array(box, np.int32).reshape((-1, 1, 2))
            # The warp (and the outline) is white outside the box's bounding rectangle: work there only.
            x0, y0 = max(0, int(pts[:, 0, 0].min())), max(0, int(pts[:, 0, 1].min()))
            x1, y1 = min(w, int(pts[:, 0, 0].max()) + 2), min(h, int(pts[:, 0, 1].max()) + 2)
            if x1 <= x0 or y1 <= y0:
                continue
            shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
            roi = cv2.warpPerspective(img_text, shift @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
            cv2.polylines(roi, [pts - np.array([x0, y0], np.int32)], True, color, 1)
            img_right[y0:y1, x0:x1] = cv2.bitwise_and(img_right[y0:y1, x0:x1], roi)
        except Exception:  # noqa: BLE001 - PaddleX skips a line it cannot draw (result.py:99-100)
            continue
    img_left = Image.blend(Image.fromarray(image_rgb), img_left, 0.5)
    img_show = Image.new("RGB", (w * 2, h), (255, 255, 255))
    img_show.paste(img_left, (0, 0, w, h))
    img_show.paste(Image.fromarray(img_right), (w, 0, w * 2, h))
    return img_show


def fit_size(w: int, h: int, max_img_size: Tuple[int, int] = MAX_OUTPUT_IMG_SIZE) -> Tuple[int, int]:
    """The (width, height) `postprocess_image` shrinks a w x h image to (common.py:66-72)."""
    if w > max_img_size[1] or h > max_img_size[0]:
        if w / h > max_img_size[0] / max_img_size[1]:
            factor = max_img_size[0] / w
        else:
            factor = max_img_size[1] / h
        return int(factor * w), int(factor * h)
    return w, h


def jpeg_base64(image: Any, max_img_size: Tuple[int, int] = MAX_OUTPUT_IMG_SIZE) -> str:
    """`postprocess_image` without file storage: a BGR array (or an RGB PIL image, converted to BGR
    as `postprocess_images` does) shrunk to fit, JPEG-encoded by OpenCV, base64."""
    if isinstance(image, Image.Image):
        image = cv2.cvtColor(np.array(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    h, w = image.shape[0:2]
    size = fit_size(w, h, max_img_size)
    if size != (w, h):
        image = cv2.resize(image, (max(1, size[0]), max(1, size[1])))
    ok, buf = cv2.imencode(".jpg", image)
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def page_images(page_bgr: np.ndarray, pruned: dict, font_path: Optional[str]) -> dict:
    """The image members of one `ocrResults` entry, in PaddleX's model order (ocrImage before
    inputImage; no docPreprocessingImage: this worker has no document preprocessor)."""
    polys: List = pruned.get("rec_polys") or []
    texts: List = pruned.get("rec_texts") or []
    h, w = page_bgr.shape[0:2]
    small = page_bgr
    fw, fh = fit_size(2 * w, h)
    if (fw, fh) != (2 * w, h):
        # The picture will be shrunk to fit anyway: draw it at that size (memory stays near 2000x2000
        # whatever the page; the drawing is the same, at the output's resolution).
        f = fw / (2 * w) if fw != 2 * w else fh / h
        sw, sh = max(1, round(w * f)), max(1, round(h * f))
        small = cv2.resize(page_bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        polys = [[[x * sw / w, y * sh / h] for x, y in poly] for poly in polys]
    drawn = ocr_image(small, polys, texts, font_path)
    if drawn.size != (fw, fh):  # rounding: PaddleX's exact output size
        drawn = drawn.resize((max(1, fw), max(1, fh)), Image.BILINEAR)
    return {
        "ocrImage": jpeg_base64(drawn),
        "inputImage": jpeg_base64(page_bgr),
    }
