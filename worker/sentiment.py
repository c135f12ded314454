"""Chinese sentiment classification: the PaddlePaddle model and its inference.

The model is trained at install time by worker/sentiment_train.py (see
worker/README.md, "Sentiment") and saved to a folder in the worker's venv:

    <venv>/deja-sentiment/model.pdparams   the weights (paddle.save state dict)
    <venv>/deja-sentiment/metadata.json    corpus counts, split, held-out accuracy, version

A text becomes a bag of hashed character n-grams (sentiment_features); the
model is a linear layer over that bag (multinomial logistic regression),
written as a Paddle embedding summed over the text's features, so a text costs
one embedding-row lookup per distinct n-gram.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from sentiment_features import (ARTEFACT_DIR_NAME, FEATURES, LABELS, METADATA_FILE, WEIGHTS_FILE, ModelMissing,
                                featurize, file_sha256, model_version)

# Paddle warns at import about a missing ccache (only relevant to compiling
# custom C++ ops, which the worker never does).
warnings.filterwarnings("ignore", message=".*ccache.*")
import paddle  # noqa: E402


def pad(features: Sequence[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """A batch as model input: ids [batch, longest] int64 padded with 0, and
    each row's feature count [batch] float32 (at least 1)."""
    width = max([1] + [len(f) for f in features])
    ids = np.zeros((len(features), width), dtype=np.int64)
    for row, f in enumerate(features):
        ids[row, :len(f)] = f
    counts = np.array([max(1, len(f)) for f in features], dtype=np.float32)
    return ids, counts


class BagOfNgrams(paddle.nn.Layer):
    """logits = (sum of the weight rows of the text's features) / sqrt(count) + bias.

    A linear classifier over the binary feature vector; the embedding table is
    its weight matrix ([buckets + 1, classes], row 0 = padding, kept at 0)."""

    def __init__(self, buckets: int, classes: int = len(LABELS)):
        super().__init__()
        zeros = paddle.nn.initializer.Constant(0.0)
        self.weight = paddle.nn.Embedding(buckets + 1, classes, padding_idx=0,
                                          weight_attr=paddle.ParamAttr(initializer=zeros))
        self.bias = self.create_parameter([classes], default_initializer=zeros)

    def forward(self, ids, counts):
        summed = self.weight(ids).sum(axis=1)
        return summed / paddle.sqrt(counts).unsqueeze(1) + self.bias


def probabilities(layer: BagOfNgrams, features: Sequence[Sequence[int]]) -> np.ndarray:
    """Softmax class probabilities [batch, classes] of featurised texts."""
    ids, counts = pad(features)
    with paddle.no_grad():
        logits = layer(paddle.to_tensor(ids), paddle.to_tensor(counts))
        return paddle.nn.functional.softmax(logits, axis=1).numpy()


def weights_digest(state: Dict[str, Any]) -> str:
    """sha256 over the feature configuration and the weights (names, dtypes,
    shapes, little-endian bytes): identifies the function the model computes."""
    h = hashlib.sha256(json.dumps(FEATURES, sort_keys=True).encode("utf-8"))
    for name in sorted(state):
        value = state[name]
        arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
        h.update(f"\n{name} {arr.dtype.str} {list(arr.shape)}\n".encode("utf-8"))
        h.update(arr.tobytes())
    return h.hexdigest()


def default_dir() -> Path:
    """<venv>/deja-sentiment, where worker/install.sh trains the model."""
    return Path(sys.prefix) / ARTEFACT_DIR_NAME


class SentimentModel:
    """The trained classifier, loaded from its artefact folder.

    Raises ModelMissing (with what to do) when the folder has no model that
    this code can run.  Not thread-safe: call `predict` from one thread at a
    time (the worker runs it on a dedicated thread)."""

    def __init__(self, directory: Optional[Path] = None):
        self.directory = Path(directory) if directory is not None else default_dir()
        meta_path = self.directory / METADATA_FILE
        weights_path = self.directory / WEIGHTS_FILE
        hint = "run worker/install.sh, which trains it (worker/sentiment_train.py)"
        if not meta_path.is_file() or not weights_path.is_file():
            raise ModelMissing(f"no trained sentiment model in {self.directory} "
                               f"({METADATA_FILE} or {WEIGHTS_FILE} missing); {hint}")
        try:
            self.metadata: Dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelMissing(f"unreadable {meta_path}: {e}; {hint}") from None
        if self.metadata.get("features") != FEATURES:
            raise ModelMissing(f"the sentiment model in {self.directory} was trained with other features "
                               f"than this worker computes; {hint}")
        if file_sha256(weights_path) != self.metadata.get("weightsFileSha256"):
            raise ModelMissing(f"{weights_path} does not match its metadata (sha256 differs); {hint}")
        self.model = BagOfNgrams(FEATURES["buckets"])
        self.model.set_state_dict(paddle.load(str(weights_path)))
        self.model.eval()
        self.version: str = self.metadata["version"]
        if model_version(weights_digest(self.model.state_dict())) != self.version:
            raise ModelMissing(f"the weights in {self.directory} do not give version {self.version}; {hint}")
        self.held_out_accuracy: float = float(self.metadata["heldOutAccuracy"])

    def probabilities(self, features: Sequence[Sequence[int]]) -> np.ndarray:
        """Softmax class probabilities [batch, classes] of featurised texts."""
        return probabilities(self.model, features)

    def predict(self, text: str) -> Tuple[str, float]:
        """(label, probability of that label, 0.5..1) of one text; a tie is negative."""
        p = self.probabilities([featurize(text)])[0]
        k = int(np.argmax(p))
        return LABELS[k], float(p[k])
