"""Chinese sentiment classification: what the model sees of a text.

Pure Python (no Paddle import), shared by the trainer (sentiment_train.py), the
model (sentiment.py) and the tests.  A text is normalised (`normalize`) and
becomes a bag of hashed character n-grams (`featurize`): the same text always
gives the same features, in any process.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from pathlib import Path
from typing import Any, Dict, List

MODEL_NAME = "deja-sentiment"
LABELS = ("negative", "positive")  # index = class id; neg.txt is class 0, pos.txt class 1
MAX_TEXT_CHARS = 10_000
ARTEFACT_DIR_NAME = "deja-sentiment"
WEIGHTS_FILE = "model.pdparams"
METADATA_FILE = "metadata.json"

# The featurisation, recorded in the metadata; a model trained with another
# configuration is refused at load time.
FEATURES: Dict[str, Any] = {
    "normalisation": "nfkc, casefold, trim, collapse whitespace, drop whitespace next to CJK",
    "ngrams": [1, 2, 3],
    "hash": "crc32 of '<n>:<n-gram>' (UTF-8) mod buckets, +1",
    "buckets": 1 << 18,
    "weighting": "binary presence, sum scaled by 1/sqrt(distinct features)",
}

_WHITESPACE = re.compile(r"\s+")


# Scalars counted as CJK text when deciding whether a space separates anything.
# The union of the gateway's `cjkSpacing` set (Han, kana, Bopomofo, CJK
# punctuation and symbols, vertical, small and full/half-width forms except
# full-width letters and digits) and Hangul syllables and full-width letters,
# which the gateway leaves alone: the model may merge more spellings than the
# gateway, never fewer.
CJK_RANGES = (
    (0x2E80, 0x9FFF),     # radicals, CJK symbols/punctuation, kana, Bopomofo, Kanbun, strokes, ext. A, unified
    (0xAC00, 0xD7AF),     # Hangul syllables
    (0xF900, 0xFAFF),     # compatibility ideographs
    (0xFE10, 0xFE1F),     # vertical forms
    (0xFE30, 0xFE6F),     # CJK compatibility forms, small form variants
    (0xFF00, 0xFFEF),     # half-width and full-width forms
    (0x1AFF0, 0x1B16F),   # kana supplements and extensions
    (0x20000, 0x3FFFF),   # Han extensions B and later
)


def is_cjk(ch: str) -> bool:
    """Whether one character is in CJK_RANGES."""
    o = ord(ch)
    return o >= 0x2E80 and any(lo <= o <= hi for lo, hi in CJK_RANGES)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M") or unicodedata.combining(ch) != 0


def _ends_cjk(t: str, end: int) -> bool:
    """Whether the character that t[:end] ends with is CJK, a mark counting as
    the character it is attached to."""
    i = end - 1
    while i >= 0 and _is_mark(t[i]):
        i -= 1
    return i >= 0 and is_cjk(t[i])


def normalize(text: str) -> str:
    """The text the model sees: NFKC, case-folded, trimmed, white-space runs
    collapsed to one space, and a space next to a CJK character dropped
    (Chinese does not separate words with spaces: ` 怎么 退货 ？ ` reads as
    `怎么退货?`).  At least as coarse as the gateway's text rule for the
    sentiment task (nfkc, trim, collapseWhitespace, cjkSpacing), so spellings
    the gateway treats as one request get one answer."""
    t = unicodedata.normalize("NFKC", text).casefold()
    t = _WHITESPACE.sub(" ", t).strip()
    if " " not in t:
        return t
    out = []
    for i, ch in enumerate(t):
        # After strip() a space is never first or last, so both neighbours exist.
        if ch == " " and (_ends_cjk(t, i) or is_cjk(t[i + 1])):
            continue
        out.append(ch)
    return "".join(out)


def featurize_normalized(t: str) -> List[int]:
    """Sorted distinct feature ids (1..buckets; 0 is padding) of a normalised text."""
    buckets = FEATURES["buckets"]
    ids = set()
    for n in FEATURES["ngrams"]:
        for i in range(len(t) - n + 1):
            ids.add(zlib.crc32(f"{n}:{t[i:i + n]}".encode("utf-8")) % buckets + 1)
    return sorted(ids)


def featurize(text: str) -> List[int]:
    """Sorted distinct feature ids of a raw text (see `normalize`)."""
    return featurize_normalized(normalize(text))


class ModelMissing(Exception):
    """The trained sentiment artefacts are absent, unreadable or do not match this code."""


def model_version(digest: str) -> str:
    """The version the worker reports (and the gateway keys on) for a weights digest."""
    return f"snownlp-bow-{digest[:12]}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
