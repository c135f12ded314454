"""The sentiment classifier: its training data (deduplicated, split without
leaks), its reported accuracy (re-measured here), its featurisation, and the
worker's POST /sentiment route (a real server process).

    .venv-worker/bin/python -m pytest worker/tests/test_worker_sentiment.py

Needs the model worker/install.sh trains into <venv>/deja-sentiment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WORKER))

import sentiment  # noqa: E402
import sentiment_features as sf  # noqa: E402
import sentiment_train  # noqa: E402
from test_worker import UUID4, assert_error_envelope, running_worker, without_log_id  # noqa: E402

POSITIVE = ["这个东西质量很好，非常满意", "非常喜欢，下次还来买", "服务周到，物超所值"]
NEGATIVE = ["质量太差了，再也不买了", "太失望了，完全不值这个价", "快递很慢，客服态度差"]
RETURN_QUESTION = ["怎么退货？", "怎么退货?", " 怎么 退货 ？ "]  # one question, three spellings


@pytest.fixture(scope="module")
def model() -> sentiment.SentimentModel:
    return sentiment.SentimentModel()  # <venv>/deja-sentiment


@pytest.fixture(scope="module")
def corpus():
    examples, counts = sentiment_train.load_corpus(sentiment_train.corpus_paths())
    return examples, counts, sentiment_train.split(examples)


@pytest.fixture(scope="module")
def server():
    with running_worker() as client:
        yield client


# ---------------------------------------------------------------- data


def test_the_corpus_is_deduplicated_before_it_is_split(corpus, model):
    examples, counts, parts = corpus
    texts = [t for t, _ in examples]
    assert all(texts), "an empty line was kept"
    assert len(set(texts)) == len(texts), "a text is kept twice (or with both labels)"
    for label in ("negative", "positive"):
        c = counts[label]
        # The shipped files really do repeat lines: without deduplication the
        # held-out part would share about half its lines with training.
        assert c["unique"] < c["nonEmpty"] * 0.6, c
        assert c["kept"] == c["unique"] - counts["inBothLabelsDropped"]
    assert counts["inBothLabelsDropped"] > 0
    assert len(examples) == counts["kept"] == counts["negative"]["kept"] + counts["positive"]["kept"]
    # The saved model was trained on exactly these counts and this split.
    meta = model.metadata
    for key in ("negative", "positive", "inBothLabelsDropped", "kept"):
        assert meta["corpus"][key] == counts[key], key
    assert meta["split"]["heldOutSha256"] == sentiment_train.examples_digest(parts["heldOut"])
    assert meta["split"]["trainSha256"] == sentiment_train.examples_digest(parts["train"])
    for name in ("train", "validation", "heldOut"):
        assert meta["split"][name] == len(parts[name]), name


def test_no_held_out_text_is_in_training(corpus):
    _, _, parts = corpus
    held = {t for t, _ in parts["heldOut"]}
    assert held and not held & {t for t, _ in parts["train"]}
    assert not held & {t for t, _ in parts["validation"]}
    # Nor any raw line that reads the same to the model.
    seen_in_training = {t for t, _ in parts["train"]} | {t for t, _ in parts["validation"]}
    for path in sentiment_train.corpus_paths():
        for line in path.read_text(encoding="utf-8").splitlines():
            t = sf.normalize(line)
            assert not (t in held and t in seen_in_training)


def test_the_split_is_stratified_and_fixed_by_the_seed(corpus):
    examples, counts, parts = corpus
    for k, label in enumerate(("negative", "positive")):
        held = sum(1 for _, c in parts["heldOut"] if c == k)
        assert held == round(counts[label]["kept"] * sentiment_train.HELD_OUT_FRACTION)
    again = sentiment_train.split(list(reversed(examples)))
    assert again == parts
    assert sentiment_train.split(examples, seed=sentiment_train.SEED + 1)["heldOut"] != parts["heldOut"]


# ---------------------------------------------------------------- the model


def test_reported_accuracy_is_the_saved_models_accuracy_on_the_held_out_part(model, corpus):
    _, _, parts = corpus
    held = parts["heldOut"]
    features = [sf.featurize_normalized(t) for t, _ in held]
    correct, accuracy = sentiment_train.accuracy(model.model, features, [k for _, k in held])
    assert correct == model.metadata["heldOutCorrect"]
    assert accuracy == model.metadata["heldOutAccuracy"] == model.held_out_accuracy
    assert 0.8 < accuracy < 0.95, accuracy  # a real classifier, and no leak making it look perfect
    # And one text at a time (the route's path) agrees with the batches.
    for t, k in held[:200]:
        label, _ = model.predict(t)
        assert label == sf.LABELS[int(model.probabilities([sf.featurize(t)])[0].argmax())]


@pytest.mark.parametrize("text", POSITIVE)
def test_obviously_positive(model, text):
    label, score = model.predict(text)
    assert label == "positive" and score > 0.8, (text, label, score)


@pytest.mark.parametrize("text", NEGATIVE)
def test_obviously_negative(model, text):
    label, score = model.predict(text)
    assert label == "negative" and score > 0.8, (text, label, score)


def test_version_names_the_weights(model):
    meta = model.metadata
    assert meta["name"] == sf.MODEL_NAME
    assert model.version == meta["version"] == sf.model_version(sentiment.weights_digest(model.model.state_dict()))
    assert model.version.startswith("snownlp-bow-") and len(model.version) == len("snownlp-bow-") + 12
    assert meta["features"] == sf.FEATURES
    assert meta["training"]["seconds"] < 120


def test_a_missing_or_altered_model_is_refused(model, tmp_path):
    with pytest.raises(sf.ModelMissing, match="install.sh"):
        sentiment.SentimentModel(tmp_path / "nothing-here")
    altered = tmp_path / "altered"
    shutil.copytree(model.directory, altered)
    weights = altered / sf.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(sf.ModelMissing, match="does not match"):
        sentiment.SentimentModel(altered)


def test_training_is_skipped_when_the_model_is_up_to_date(model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model.directory, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    run = subprocess.run([sys.executable, str(WORKER / "sentiment_train.py"), "--out", str(copy)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "up to date" in run.stdout and "skipping training" in run.stdout, run.stdout
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


# ---------------------------------------------------------------- featurisation


def test_featurisation_is_deterministic_across_processes():
    texts = POSITIVE + NEGATIVE + RETURN_QUESTION + ["Deja 2026 ÀÉ", "😀 emoji", "a"]
    here = [sf.featurize(t) for t in texts]
    assert here == [sf.featurize(t) for t in texts]
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import sentiment_features as sf; "
            "print(json.dumps([sf.featurize(t) for t in json.loads(sys.stdin.read())]))")
    for seed in ("0", "12345"):  # str hashing is salted per process; the features must not be
        out = subprocess.run([sys.executable, "-c", code, str(WORKER)], input=json.dumps(texts),
                             capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == here
    for ids in here:
        assert ids == sorted(set(ids)) and all(1 <= i <= sf.FEATURES["buckets"] for i in ids)


def test_features_are_hashed_character_ngrams():
    import zlib

    b = sf.FEATURES["buckets"]
    expected = sorted({zlib.crc32(g.encode()) % b + 1 for g in ("1:好", "1:评", "2:好评")})
    assert sf.FEATURES["ngrams"] == [1, 2, 3]
    assert sf.featurize("好评") == expected
    assert sf.featurize("") == [] and sf.featurize("   ") == []


def test_spellings_the_gateway_merges_read_alike():
    # The gateway's text rule for `text` (nfkc, trim, collapseWhitespace, cjkSpacing) keys these
    # spellings as one request; the model must read them as one text too.
    assert {sf.normalize(t) for t in RETURN_QUESTION} == {"怎么退货?"}
    for a, b in [("  Ｄｅｊａ\u3000 很  好\n", "Deja很好"), ("a 「b」 c", "a「b」c"), ("ｶﾀｶﾅ と abc", "カタカナとabc"),
                 ("注音 ㄅㄆㄇ 𠀀 abc", "注音ㄅㄆㄇ𠀀abc"), ("中\u0301 文", "中\u0301文"), ("好\t\r\n评", "好评")]:
        assert sf.normalize(a) == sf.normalize(b), (a, b)
    assert sf.normalize("not  good") == "not good"  # a space between Latin words stays
    assert sf.featurize("怎么退货？") != sf.featurize("怎么换货？")


# ---------------------------------------------------------------- the route


def test_health_reports_the_sentiment_model(server, model):
    status, body = server.get("/health")
    assert status == 200
    assert body["sentimentModel"] == {
        "name": "deja-sentiment", "version": model.version,
        "heldOutAccuracy": model.held_out_accuracy, "heldOut": model.metadata["split"]["heldOut"],
    }
    assert body["model"]["name"] == "PP-OCRv4"


def test_sentiment_answers_in_the_paddlex_envelope(server, model):
    for text, expected in [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]:
        status, body = server.post_json("/sentiment", {"text": text})
        assert status == 200, body
        assert set(body) == {"logId", "errorCode", "errorMsg", "result"}
        assert body["errorCode"] == 0 and body["errorMsg"] == "Success" and UUID4.match(body["logId"])
        assert set(body["result"]) == {"label", "score"}
        assert body["result"]["label"] == expected, (text, body)
        assert isinstance(body["result"]["score"], float) and 0.5 <= body["result"]["score"] <= 1.0
        assert (body["result"]["label"], body["result"]["score"]) == model.predict(text)


def test_same_question_same_answer(server):
    answers = []
    for text in RETURN_QUESTION:
        status, body = server.post_json("/sentiment", {"text": text, "logId": "client-chosen"})
        assert status == 200, body
        assert body["logId"] != "client-chosen"
        answers.append(without_log_id(body))
    assert answers[0] == answers[1] == answers[2]


def test_invalid_requests_are_422_naming_text(server):
    status, body = server.request("POST", "/sentiment", b"{not json")
    assert_error_envelope(status, body, 422)
    assert "JSON" in body["errorMsg"]
    status, body = server.post_json("/sentiment", ["text"])
    assert_error_envelope(status, body, 422)
    assert "object" in body["errorMsg"]
    for bad in ({}, {"text": None}, {"txt": "很好"}, {"text": 12}, {"text": ["很好"]}, {"text": ""},
                {"text": " \n\t\u3000 "}, {"text": "好" * (sf.MAX_TEXT_CHARS + 1)}):
        status, body = server.post_json("/sentiment", bad)
        assert_error_envelope(status, body, 422)
        assert "'text'" in body["errorMsg"], (bad, body)
    status, body = server.post_json("/sentiment", {"text": "好" * sf.MAX_TEXT_CHARS})
    assert status == 200, body
    status, body = server.get("/sentiment")
    assert_error_envelope(status, body, 405)


def test_stats_count_sentiment_requests(server):
    status, body = server.request("POST", "/stats/reset")
    assert status == 200 and body["sentimentRequests"] == 0
    server.post_json("/sentiment", {"text": ""})
    server.post_json("/sentiment", {"text": "很好"})
    status, stats = server.get("/stats")
    assert status == 200
    assert stats == {"ocrRequests": 0, "ocrErrors": 0, "ocrInferences": 0,
                     "sentimentRequests": 2, "sentimentErrors": 1, "sentimentInferences": 1, "healthRequests": 0,
                     "pagePixelsRequests": 0, "pagePixelsErrors": 0}


def test_sentiment_and_ocr_run_side_by_side(server):
    import make_invoice

    results = {}

    def ocr():
        results["ocr"] = server.ocr(make_invoice.invoice_png_bytes())

    t = threading.Thread(target=ocr)
    t.start()
    answers = [server.post_json("/sentiment", {"text": text}) for text in POSITIVE * 3]
    t.join()
    assert results["ocr"][0] == 200
    assert all(status == 200 and body["result"]["label"] == "positive" for status, body in answers)


def test_the_worker_does_not_start_without_a_trained_model(tmp_path):
    run = subprocess.run([sys.executable, str(WORKER / "server.py"), "--port", "0",
                          "--sentiment-dir", str(tmp_path / "missing")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "no trained sentiment model" in run.stderr and "install.sh" in run.stderr, run.stderr
    assert "listening" not in run.stderr
