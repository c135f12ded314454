"""Differential test: Deja's image canonical form against the model server's own decoder.

The worker decodes every image with ``cv2.imdecode(buf, cv2.IMREAD_COLOR)`` (worker/server.py
``_decode_image``). Deja may give two files one content key only if that decoder turns them into the same
array. About 2,200 distinct variants of small seed images (PNG and JPEG: metadata added, moved, duplicated and
malformed; EXIF headers and directories mutated; colour-space signalling; zlib streams varied) are keyed
by the real ``deja`` binary in one process (``deja explain --jsonl``) and decoded by the worker's OpenCV.
Every group of variants sharing a key must decode to identical arrays (same shape, same bytes) or all fail
to decode; and the legitimate merges (metadata the decoder never reads, zlib and IDAT choices, EXIF
fields other than the orientation) must still happen, so the test cannot pass by never merging.
"""
from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import subprocess
import time

import cv2
import numpy as np
import pytest

from conftest import DEJA_BIN
from image_variants import all_variants

# Scheme 3 merges 991 of the 2,190 variants into another (docs/canonical-form.md §5.5); a change that
# merges far fewer is a loss of hit rate even if it is safe, and a form that never merges cannot pass.
MINIMUM_MERGED_VARIANTS = 900

# Pairs that must share a key: the decoder provably ignores the difference.
MUST_MERGE = [
    ("png-rgb8/base", "png-rgb8/encode level 9 cycle filters"),
    ("png-rgb8/base", "png-rgb8/encode idat split 1"),
    ("png-rgb8/base", "png-rgb8/chunk all ignored before and after"),
    ("png-rgb8/base", "png-rgb8/trailer after IEND"),
    ("png-rgb8/base", "png-rgb8/exif eXIf o1 MM"),
    ("png-rgb8/exif eXIf o6 MM", "png-rgb8/exif eXIf o6 II"),
    ("png-rgb8/exif eXIf o6 MM", "png-rgb8/exif eXIf o6 other make"),
    ("png-rgb8/interlace", "png-rgb8/interlace cycle filters split 5"),
    ("png-palette/base", "png-palette/chunk tIME before IDAT"),
    ("png-gray1/base", "png-gray1/encode window 9 bits"),
    ("jpeg-baseline/base", "jpeg-baseline/meta comment"),
    ("jpeg-baseline/base", "jpeg-baseline/meta xmp"),
    ("jpeg-baseline/base", "jpeg-baseline/meta trailer junk"),
    ("jpeg-baseline/base", "jpeg-baseline/exif app1 no orientation MM"),
    ("jpeg-baseline/base", "jpeg-baseline/exif app1 o1 II"),
    ("jpeg-baseline/exif app1 o6 MM", "jpeg-baseline/exif app1 o6 II"),
    ("jpeg-baseline/exif app1 o6 MM", "jpeg-baseline/exif app1 o6 other make"),
    ("jpeg-baseline/exif app1 o6 MM", "jpeg-baseline/exif two app1 none then o6"),
    ("jpeg-progressive/base", "jpeg-progressive/meta comment after sos"),
]


def decode(data: bytes):
    """What the worker's decoder makes of the file: None, or (shape, SHA-256 of the pixels)."""
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if image is None:
        return None
    return image.shape, hashlib.sha256(image.tobytes()).hexdigest()


def explain_files(files: list[bytes]) -> list[dict]:
    """`deja explain --jsonl` of `{"file": <base64>}` for every file, in one run: key, canonical form, notes."""
    lines = b"".join(json.dumps({"file": base64.b64encode(f).decode()}).encode() + b"\n" for f in files)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DEJA_")}
    result = subprocess.run([str(DEJA_BIN), "explain", "--jsonl"], input=lines, capture_output=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["line"] for a in answers] == list(range(1, len(files) + 1))
    return answers


def deja_keys(files: list[bytes]) -> list[str]:
    """The content key of `{"file": <base64>}` for every file, from one `deja explain --jsonl` run."""
    answers = explain_files(files)
    missing = [a for a in answers if "key" not in a]
    assert not missing, f"rejected: {missing[:3]}"
    return [a["key"] for a in answers]


def differing_pairs(group) -> int:
    """Pairs of variants in one key group that decode differently."""
    counts = collections.Counter(result for _, result in group).values()
    return (sum(counts) ** 2 - sum(c * c for c in counts)) // 2


@pytest.fixture(scope="module")
def corpus():
    started = time.monotonic()
    variants = all_variants()
    decoded = [decode(v.data) for v in variants]
    keys = deja_keys([v.data for v in variants])
    groups = collections.defaultdict(list)
    for variant, key, result in zip(variants, keys, decoded):
        groups[key].append((variant.label, result))
    return variants, groups, dict(zip((v.label for v in variants), keys)), time.monotonic() - started


def test_variants_sharing_a_key_decode_identically(corpus):
    variants, groups, _, seconds = corpus
    merged = [g for g in groups.values() if len(g) > 1]
    merged_variants = sum(len(g) - 1 for g in merged)
    wrong = [g for g in merged if len({result for _, result in g}) > 1]
    wrong_pairs = sum(differing_pairs(g) for g in wrong)
    print(f"\nimage differential: {len(variants)} distinct variants, {len(groups)} keys, "
          f"{len(merged)} merged groups ({merged_variants} variants merged into another), "
          f"{len(wrong)} groups merging different decodes ({wrong_pairs} pairs), {seconds:.1f} s")
    report = []
    for group in wrong:
        by_result = collections.defaultdict(list)
        for label, result in group:
            by_result[result].append(label)
        report.append(" | ".join(f"{'fails' if r is None else r[0]}: {', '.join(labels[:4])}"
                                 + (f" (+{len(labels) - 4})" if len(labels) > 4 else "")
                                 for r, labels in by_result.items()))
    for line in report:
        print("  WRONG MERGE:", line)
    assert not wrong, f"{len(wrong)} keys merge files OpenCV decodes differently ({wrong_pairs} pairs):\n" + "\n".join(report[:40])


def test_legitimate_variants_still_merge(corpus):
    variants, groups, key_of, _ = corpus
    merged_variants = sum(len(g) - 1 for g in groups.values() if len(g) > 1)
    assert merged_variants >= MINIMUM_MERGED_VARIANTS, f"only {merged_variants} variants merged"
    apart = [(a, b) for a, b in MUST_MERGE if key_of[a] != key_of[b]]
    assert not apart, f"these should share a key: {apart}"
