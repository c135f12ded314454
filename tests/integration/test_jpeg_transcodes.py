"""Differential test: lossless JPEG transcodes share a key exactly where the worker's decoder agrees.

Seed JPEGs are made here with Pillow (several sizes, 4:4:4, 4:2:2, 4:2:0, greyscale, CMYK, qualities from 30
to 100) and transcoded with Debian's ``jpegtran`` (libjpeg-turbo-progs): ``-optimize``, ``-progressive``,
restart intervals in rows and in blocks, custom scan scripts (spectral selection only, deep successive
approximation, non-interleaved sequential scans, and one that never sends the last bit of some
coefficients), and the lossless ``-rotate 90`` / ``-flip horizontal`` / ``-transpose`` that move
coefficients. Every file is keyed by the real ``deja`` binary (``deja explain --jsonl``, one process) and
decoded by the worker's OpenCV (``cv2.imdecode``). For every pair of files: one key implies identical
arrays; and where both were keyed on their DCT coefficients, identical arrays imply one key.
"""
from __future__ import annotations

import collections
import io
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from test_image_differential import decode, explain_files

SIZES = [(45, 29), (64, 48), (97, 61), (8, 8), (130, 17)]
# Pillow's subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.
COLOUR_MODES = [("444", "RGB", 0), ("422", "RGB", 1), ("420", "RGB", 2), ("grey", "L", None)]
QUALITIES = [30, 90, 100]

# Scan scripts (jpegtran -scans), per component count.
SCRIPTS = {
    3: {
        "spectral": "0 1 2: 0 0 0 0; 0: 1 5 0 0; 0: 6 63 0 0; 1: 1 63 0 0; 2: 1 63 0 0;",
        "deep": "0 1 2: 0 0 0 2; 0: 1 63 0 3; 1: 1 63 0 1; 2: 1 63 0 1; 0: 1 63 3 2; 0: 1 63 2 1; "
                "0: 1 63 1 0; 1: 1 63 1 0; 2: 1 63 1 0; 0 1 2: 0 0 2 1; 0 1 2: 0 0 1 0;",
        "sequential-separate": "0: 0 63 0 0; 2: 0 63 0 0; 1: 0 63 0 0;",
        "incomplete": "0 1 2: 0 0 0 0; 0: 1 63 0 1; 1: 1 63 0 0; 2: 1 63 0 0;",
    },
    1: {
        "spectral": "0: 0 0 0 0; 0: 1 2 0 0; 0: 3 63 0 0;",
        "deep": "0: 0 0 0 1; 0: 1 63 0 2; 0: 1 63 2 1; 0: 1 63 1 0; 0: 0 0 1 0;",
        "incomplete": "0: 0 0 0 0; 0: 1 63 0 1;",
    },
}
LOSSLESS = [["-optimize"], ["-progressive"], ["-restart", "1"], ["-restart", "3B"], ["-progressive", "-restart", "2B"],
            ["-optimize", "-restart", "1B"]]
MOVING = [["-rotate", "90"], ["-flip", "horizontal"], ["-transpose"]]


@pytest.fixture(scope="module")
def jpegtran() -> str:
    found = shutil.which("jpegtran")
    if found is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "libjpeg-turbo-progs"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
        found = shutil.which("jpegtran")
    assert found, "jpegtran is missing: apt-get install libjpeg-turbo-progs (worker/install.sh does)"
    return found


def seed_image(width: int, height: int, mode: str) -> Image.Image:
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            pixels[x, y] = ((x * 7 + y * 3) % 256, (y * 11 + x) % 256, (x * y // 3) % 256)
    draw = ImageDraw.Draw(image)
    draw.ellipse((2, 2, max(3, width - 3), max(3, height - 3)), outline=(250, 240, 20))
    draw.text((1, 1), "Deja 42", fill=(0, 0, 0))
    return image.convert(mode)


def seeds() -> list[tuple[str, bytes]]:
    out = []
    for (width, height), (name, mode, subsampling), quality in itertools.product(SIZES, COLOUR_MODES, QUALITIES):
        buffer = io.BytesIO()
        options = {"quality": quality} | ({} if subsampling is None else {"subsampling": subsampling})
        seed_image(width, height, mode).save(buffer, "JPEG", **options)
        out.append((f"{name} {width}x{height} q{quality}", buffer.getvalue()))
    for quality in (50, 95):
        buffer = io.BytesIO()
        seed_image(40, 24, "CMYK").save(buffer, "JPEG", quality=quality)
        out.append((f"cmyk 40x24 q{quality}", buffer.getvalue()))
    return out


def transcode(jpegtran: str, data: bytes, options: list[str], workdir: Path) -> bytes | None:
    source = workdir / "in.jpg"
    source.write_bytes(data)
    result = subprocess.run([jpegtran, "-copy", "all", *options, str(source)], capture_output=True)
    return result.stdout if result.returncode == 0 and result.stdout else None


def corpus(jpegtran: str) -> list[tuple[str, bytes]]:
    files = []
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        for label, data in seeds():
            files.append((f"{label} / pillow", data))
            components = 1 if label.startswith("grey") else 4 if label.startswith("cmyk") else 3
            variants = [(" ".join(o), o) for o in LOSSLESS + MOVING]
            for name, script in SCRIPTS.get(components, {}).items():
                path = workdir / f"{name}.txt"
                path.write_text(script)
                variants.append((f"scans {name}", ["-scans", str(path)]))
            for name, options in variants:
                out = transcode(jpegtran, data, options, workdir)
                if out is not None:
                    files.append((f"{label} / {name}", out))
    return files


def explain(files: list[bytes]) -> list[dict]:
    answers = explain_files(files)
    assert all("key" in a for a in answers), [a for a in answers if "key" not in a][:3]
    return answers


def test_transcodes_share_a_key_exactly_when_opencv_decodes_alike(jpegtran):
    files = corpus(jpegtran)
    answers = explain([data for _, data in files])
    decoded = [decode(data) for _, data in files]
    entries = [(label, answer["key"], answer["canonicalForm"]["file"], result)
               for (label, _), answer, result in zip(files, answers, decoded)]
    assert all(result is not None for *_, result in entries), "OpenCV failed on a transcode"

    by_key = collections.defaultdict(list)
    for entry in entries:
        by_key[entry[1]].append(entry)
    wrong = [[e[0] for e in group] for group in by_key.values() if len({e[3] for e in group}) > 1]
    assert not wrong, f"one key, different pixels: {wrong[:5]}"

    by_pixels = collections.defaultdict(list)
    for entry in entries:
        if entry[2].startswith("jpeg-dct-sha256:"):
            by_pixels[entry[3]].append(entry)
    split = [[e[0] for e in group] for group in by_pixels.values() if len({e[1] for e in group}) > 1]
    assert not split, f"same pixels, coefficients read, different keys: {split[:5]}"

    kinds = collections.Counter(e[2].split(":")[0] for e in entries)
    merged = sum(len(group) - 1 for group in by_key.values())
    print(f"\njpeg transcodes: {len(entries)} files, {len(by_key)} keys, {merged} merged into another, kinds {dict(kinds)}")
    # Every lossless transcode merges with its seed. Rotations and flips move coefficients and keep
    # their key apart, except where jpegtran leaves a partial MCU at the edge as it was (8×8 at 4:2:2 is
    # one such MCU): those decode alike, which the checks above have already proven.
    seeds_by_label = {e[0].split(" / ")[0]: e for e in entries if e[0].endswith(" / pillow")}
    lossless = {" ".join(o) for o in LOSSLESS}
    moving = {" ".join(o) for o in MOVING}
    moved, moved_apart = 0, 0
    for label, key, digest, _ in entries:
        seed = seeds_by_label[label.split(" / ")[0]]
        variant = label.split(" / ")[1]
        if variant in lossless or variant.startswith("scans") and "incomplete" not in variant:
            assert key == seed[1], f"{label} does not share its seed's key"
            assert digest.startswith("jpeg-dct-sha256:"), label
        if variant in moving:
            moved += 1
            moved_apart += key != seed[1]
        if "incomplete" in variant:
            # libjpeg smooths blocks whose coefficients are not all known: keyed on its segments.
            assert digest.startswith("jpeg-scan-sha256:"), label
    print(f"rotations and flips: {moved_apart} of {moved} keyed apart from their seed")
    assert moved_apart >= 0.9 * moved
    scripted = collections.Counter(e[0].split(" / ")[1] for e in entries if " / scans " in e[0])
    assert len(scripted) == 4 and min(scripted.values()) >= 15, scripted
    assert kinds["jpeg-dct-sha256"] > 500


def test_explain_says_what_the_key_is_over(jpegtran):
    data = dict(seeds())["420 45x29 q90"]
    with tempfile.TemporaryDirectory() as directory:
        progressive = transcode(jpegtran, data, ["-progressive"], Path(directory))
    answer = explain([progressive])[0]
    assert answer["notes"] == ["file: JPEG 45×29 3 components progressive, keyed on DCT coefficients"]
    assert answer["canonicalForm"]["file"].startswith("jpeg-dct-sha256:")
