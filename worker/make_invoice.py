#!/usr/bin/env python3
"""Render a synthetic bilingual (Chinese/English) invoice as a PNG.

The output is deterministic for the same arguments (and the same Pillow /
FreeType / font versions): no timestamps or random values are embedded.

    python worker/make_invoice.py --out /tmp/invoice.png
    python worker/make_invoice.py --out /tmp/other.png --number 20261129-0043
    python worker/make_invoice.py --out /tmp/personal.png --buyer-id 110105199003071239 \
        --phone 13912345678 --bank-card 6222021234567894

The personal-data options (for the privacy tests) each add one line under the buyer; without
them the output is byte-identical to an invoice made before they existed. Use synthetic numbers
(an ID with a valid GB 11643 check character, a card number that passes Luhn).

The CJK font comes from the Debian package installed by worker/install.sh
(fonts-wqy-microhei); override with --font or DEJA_CJK_FONT.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

KNOWN_FONTS = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
]

DEFAULT_NUMBER = "20261129-0042"

# (Chinese + English description, quantity, amount)
LINE_ITEMS = [
    ("技术服务费 Consulting", "1", "¥800.00"),
    ("软件许可 Software license", "1", "¥300.00"),
    ("云存储 Cloud storage", "1", "¥134.50"),
]
TOTAL = "合计 ¥1,234.50"


def find_cjk_font(explicit: str | None = None) -> str:
    """Return the path of a font file that can render Chinese."""
    candidates = []
    if explicit:
        candidates.append(explicit)
    env = os.environ.get("DEJA_CJK_FONT")
    if env:
        candidates.append(env)
    candidates.extend(KNOWN_FONTS)
    for path in candidates:
        if path and Path(path).is_file():
            return path
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"],
                capture_output=True, text=True, check=False, timeout=20,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        files = sorted(
            line.split(":", 1)[0].strip() for line in out.splitlines() if line.strip()
        )
        for path in files:
            if Path(path).is_file():
                return path
    raise SystemExit(
        "no CJK font found: run worker/install.sh (installs fonts-wqy-microhei) "
        "or pass --font / set DEJA_CJK_FONT"
    )


def personal_lines(buyer_id: str | None = None, phone: str | None = None,
                   bank_card: str | None = None) -> list[str]:
    """The lines of personal data printed under the buyer, in this order, only those given."""
    lines = []
    if buyer_id:
        lines.append(f"购买方身份证号：{buyer_id}")
    if phone:
        lines.append(f"联系电话：{phone}")
    if bank_card:
        lines.append(f"开户行账号：{bank_card}")
    return lines


def render_invoice(number: str = DEFAULT_NUMBER, width: int = 800,
                   font_path: str | None = None, personal: list[str] | None = None) -> Image.Image:
    """The invoice; `personal` lines (see `personal_lines`) go under the buyer, each 42 px taller."""
    personal = personal or []
    font_file = find_cjk_font(font_path)
    scale = width / 800.0

    def font(size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(font_file, max(8, round(size * scale)), index=0)

    def px(v: float) -> int:
        return round(v * scale)

    title_f, head_f, body_f = font(40), font(24), font(24)
    height = px(570 + 42 * len(personal))
    img = Image.new("L", (width, height), 255)
    d = ImageDraw.Draw(img)

    # Title, centred.
    title = "增值税发票 / INVOICE"
    tw = d.textlength(title, font=title_f)
    d.text(((width - tw) / 2, px(30)), title, fill=0, font=title_f)
    d.line([(px(40), px(95)), (width - px(40), px(95))], fill=0, width=max(1, px(2)))

    y = px(115)
    for line in (
        f"Invoice No. {number}",
        "开票日期 Date: 2026-11-29",
        "销售方: 上海明德科技有限公司",
        "Buyer: Deja Test Client Ltd.",
        *personal,
    ):
        d.text((px(50), y), line, fill=0, font=body_f)
        y += px(42)

    # Line items table.
    y += px(15)
    cols = (px(50), px(480), px(600))
    d.line([(px(40), y - px(8)), (width - px(40), y - px(8))], fill=0, width=1)
    for x, text in zip(cols, ("项目 Item", "数量 Qty", "金额 Amount")):
        d.text((x, y), text, fill=0, font=head_f)
    y += px(44)
    d.line([(px(40), y - px(8)), (width - px(40), y - px(8))], fill=0, width=1)
    for desc, qty, amount in LINE_ITEMS:
        for x, text in zip(cols, (desc, qty, amount)):
            d.text((x, y), text, fill=0, font=body_f)
        y += px(42)
    d.line([(px(40), y), (width - px(40), y)], fill=0, width=max(1, px(2)))
    y += px(20)
    tw = d.textlength(TOTAL, font=head_f)
    d.text((width - px(60) - tw, y), TOTAL, fill=0, font=head_f)
    return img


def invoice_png_bytes(number: str = DEFAULT_NUMBER, width: int = 800,
                      font_path: str | None = None, personal: list[str] | None = None) -> bytes:
    buf = io.BytesIO()
    render_invoice(number, width, font_path, personal).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output PNG path ('-' for stdout)")
    p.add_argument("--number", default=DEFAULT_NUMBER,
                   help=f"invoice number (default {DEFAULT_NUMBER})")
    p.add_argument("--width", type=int, default=800, help="image width in pixels (default 800)")
    p.add_argument("--font", default=None, help="CJK font file (default: auto-detect)")
    p.add_argument("--buyer-id", default=None, help="print a line 购买方身份证号：<id> (18 characters)")
    p.add_argument("--phone", default=None, help="print a line 联系电话：<phone> (11 digits)")
    p.add_argument("--bank-card", default=None, help="print a line 开户行账号：<card> (digits)")
    args = p.parse_args(argv)
    if not 200 <= args.width <= 4000:
        p.error("--width must be between 200 and 4000")
    if args.buyer_id is not None and (len(args.buyer_id) != 18 or not args.buyer_id[:17].isdigit()):
        p.error("--buyer-id must be 17 digits and a check character")
    if args.phone is not None and (len(args.phone) != 11 or not args.phone.isdigit()):
        p.error("--phone must be 11 digits")
    if args.bank_card is not None and not args.bank_card.isdigit():
        p.error("--bank-card must be digits")
    personal = personal_lines(args.buyer_id, args.phone, args.bank_card)
    data = invoice_png_bytes(args.number, args.width, args.font, personal)
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.out).write_bytes(data)
        print(f"wrote {args.out} ({len(data)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
